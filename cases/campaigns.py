"""Opinion-solicitation campaigns (征集): opening and closing them, their themes, staff's marks, the outcome.

A supervisor writes a campaign — title, question(s), period, how citizens join (keyword, menu key, QR scene)
— and picks its texts from the reply library: introduction, thanks and outcome are templates reviewed and
published like every reply (先审后发). A campaign opens only when its introduction and thanks are published;
the message path (handlers/campaign.py) stores opinions on the inbound messages (``campaign_id``).

Themes are computed on demand (text/cluster.py) and replace the previous ones; a mark staff gave a theme
(adopted / not adopted, with a note) stays with a new theme of the same label. The outcome (公开反馈) is the
campaign's outcome template, queued as a customer-service message to every participant still inside WeChat's
48-hour window; the others are recorded as not reachable, with the reason (a later issue brings 订阅通知).

Functions take a ``Session`` and only flush; the caller commits (and, for the outcome, queues the delivery
jobs after the commit). Messages shown to staff are in Chinese (``CampaignError``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Container
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from cases.outbound import queued_message
from cases.reach import SERVICE_WINDOW
from cases.stats import local_day
from models import Campaign, CampaignStatus, CampaignTheme, Citizen, Direction, Message, ReplyTemplate, utcnow
from replies.library import Library, NotSendable, render_chosen
from text.cluster import cluster
from text.normalize import normalize

# WeChat accepts customer-service messages only this long after the citizen's last message (45015 beyond).
UNREACHABLE = (
    "45015 超出48小时客服消息时限：该群众48小时内未与本账号互动（或已取消关注），未发送。"
    "可待其再次留言后补发，或电话联系；订阅通知上线后可经订阅通知发送"
)
MAX_TITLE = 120
MAX_KEY = 64


class CampaignError(Exception):
    """A campaign action that cannot be done; ``str()`` is a Chinese message for the person who tried."""


@dataclasses.dataclass(frozen=True)
class Fields:
    """What a supervisor fills in for a campaign (times are aware datetimes)."""

    title: str
    questions: str
    join_keyword: str
    join_click_key: str
    join_scene: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    intro_key: str
    thanks_key: str
    outcome_key: str


@dataclasses.dataclass(frozen=True)
class OutcomeResult:
    """What publishing the outcome did: messages queued (ids, to enqueue after the commit) and not reachable."""

    queued: tuple[int, ...]
    unreachable: int


def save(session: Session, actor: str, fields: Fields, campaign: Campaign | None = None) -> Campaign:
    """Create a campaign (draft) or change one."""
    title = fields.title.strip()
    if not title or len(title) > MAX_TITLE:
        raise CampaignError(f"请填写标题（不超过{MAX_TITLE}字）")
    keyword = " ".join(fields.join_keyword.split())
    click, scene = fields.join_click_key.strip(), fields.join_scene.strip().removeprefix("qrscene_")
    if not (keyword or click or scene):
        raise CampaignError("请至少设置一种参与方式：关键词、菜单键或二维码场景值")
    if len(keyword) > 40 or len(click) > MAX_KEY or len(scene) > MAX_KEY:
        raise CampaignError("关键词不超过40字，菜单键和场景值不超过64个字符")
    if fields.ends_at <= fields.starts_at:
        raise CampaignError("结束时间须晚于开始时间")
    if not fields.intro_key or not fields.thanks_key:
        raise CampaignError("请选择介绍语和致谢语模板")
    keys = [k for k in (fields.intro_key, fields.thanks_key, fields.outcome_key) if k]
    known = set(session.scalars(select(ReplyTemplate.key).where(ReplyTemplate.key.in_(keys))))
    if set(keys) - known:
        raise CampaignError("所选模板不存在：" + "、".join(sorted(set(keys) - known)))
    _no_clash(session, campaign, keyword, click, scene)
    if campaign is None:
        campaign = Campaign(created_by=actor, status=CampaignStatus.DRAFT)
        session.add(campaign)
    elif campaign.outcome_sent_at is not None:
        raise CampaignError("结果已公开反馈，征集不能再修改")
    campaign.title = title
    campaign.questions = fields.questions.replace("\r\n", "\n").strip()
    campaign.join_keyword = keyword or None
    campaign.join_click_key = click or None
    campaign.join_scene = scene or None
    campaign.starts_at, campaign.ends_at = fields.starts_at, fields.ends_at
    campaign.intro_key, campaign.thanks_key = fields.intro_key, fields.thanks_key
    campaign.outcome_key = fields.outcome_key or None
    campaign.updated_at = utcnow()
    session.flush()
    return campaign


def _no_clash(session: Session, campaign: Campaign | None, keyword: str, click: str, scene: str) -> None:
    """A way of joining belongs to one campaign that is not a draft (else a citizen would join the wrong one)."""
    others = select(Campaign).where(Campaign.status != CampaignStatus.DRAFT)
    if campaign is not None and campaign.id is not None:
        others = others.where(Campaign.id != campaign.id)
    for other in session.scalars(others):
        if other.status is CampaignStatus.CLOSED and other.outcome_sent_at is not None:
            continue
        for mine, theirs, name in ((keyword, other.join_keyword, "关键词"), (click, other.join_click_key, "菜单键"),
                                   (scene, other.join_scene, "二维码场景值")):  # fmt: skip
            if mine and theirs and normalize(mine).text.lower() == normalize(theirs).text.lower():
                raise CampaignError(f"{name}“{mine}”已用于征集“{other.title}”")


def open_campaign(session: Session, campaign: Campaign, published: Container[str], now: dt.datetime) -> None:
    """Open for opinions: its introduction and thanks must be published, its end still ahead."""
    if campaign.status is CampaignStatus.OPEN:
        raise CampaignError("征集已在进行中")
    if campaign.outcome_sent_at is not None:
        raise CampaignError("结果已公开反馈，征集不能再开启")
    missing = [k for k in (campaign.intro_key, campaign.thanks_key) if k not in published]
    if missing:
        raise CampaignError("以下模板尚未发布（须先审核并发布）：" + "、".join(missing))
    if campaign.ends_at <= now:
        raise CampaignError("征集期已过，请先修改结束时间")
    _no_clash(session, campaign, campaign.join_keyword or "", campaign.join_click_key or "", campaign.join_scene or "")
    campaign.status = CampaignStatus.OPEN
    campaign.opened_at = now
    campaign.closed_at = None
    session.flush()


def close_campaign(session: Session, campaign: Campaign, now: dt.datetime) -> None:
    """Stop taking opinions (joins are answered "closed" from now on)."""
    if campaign.status is not CampaignStatus.OPEN:
        raise CampaignError("只有进行中的征集可以结束")
    campaign.status = CampaignStatus.CLOSED
    campaign.closed_at = now
    if campaign.ends_at > now:
        campaign.ends_at = now
    session.flush()


# -- reading ---------------------------------------------------------------------------------------


def opinion_count(session: Session, campaign_id: int) -> tuple[int, int]:
    """(opinions, participants) of a campaign."""
    return opinion_counts(session, [campaign_id]).get(campaign_id, (0, 0))


def opinion_counts(session: Session, campaign_ids: list[int]) -> dict[int, tuple[int, int]]:
    """(opinions, participants) of each campaign that has any, in one query (the list page shows them all)."""
    if not campaign_ids:
        return {}
    rows = session.execute(
        select(Message.campaign_id, func.count(), func.count(func.distinct(Message.citizen_id)))
        .where(Message.campaign_id.in_(campaign_ids), Message.direction == Direction.IN)
        .group_by(Message.campaign_id)
    ).all()
    return {int(cid): (int(n), int(people)) for cid, n, people in rows if cid is not None}


def per_day(session: Session, campaign: Campaign, tz: ZoneInfo) -> dict[str, int]:
    """Opinions per local day, every day of the period so far (zeros included)."""
    day = local_day(session, Message.received_at, tz, campaign.starts_at).label("day")
    rows = session.execute(
        select(day, func.count())
        .where(Message.campaign_id == campaign.id, Message.direction == Direction.IN)
        .group_by(day)
    ).all()
    counts = {str(d)[:10]: int(n) for d, n in rows}
    first = campaign.starts_at.astimezone(tz).date()
    last = min(campaign.ends_at, utcnow()).astimezone(tz).date()
    if counts:
        first = min(first, dt.date.fromisoformat(min(counts)))
        last = max(last, dt.date.fromisoformat(max(counts)))
    days = [(first + dt.timedelta(days=i)).isoformat() for i in range(min((last - first).days + 1, 366))]
    return {d: counts.get(d, 0) for d in days}


def themes(session: Session, campaign_id: int) -> list[CampaignTheme]:
    """The campaign's themes as last computed, largest first."""
    return list(
        session.scalars(
            select(CampaignTheme).where(CampaignTheme.campaign_id == campaign_id).order_by(CampaignTheme.position)
        )
    )


def theme_quotes(theme: CampaignTheme) -> list[str]:
    """A theme's representative quotes (masked when computed)."""
    return list(json.loads(theme.quotes or "[]"))


def theme_keywords(theme: CampaignTheme) -> list[str]:
    """A theme's keywords, most telling first."""
    return list(json.loads(theme.keywords or "[]"))


# -- themes ----------------------------------------------------------------------------------------


def compute_themes(
    session: Session, campaign: Campaign, words: Callable[[str], list[str]], *, now: dt.datetime | None = None,
    jobs: int = 1,
) -> list[CampaignTheme]:  # fmt: skip
    """Group the campaign's opinions into themes (replacing the previous ones; marks follow their label)."""
    now = now or utcnow()
    texts = list(
        session.scalars(
            select(Message.content)
            .where(Message.campaign_id == campaign.id, Message.direction == Direction.IN)
            .order_by(Message.id)
        )
    )
    found = cluster(texts, words, jobs=jobs)
    marks = {t.label: t for t in themes(session, campaign.id) if t.adopted is not None or t.note}
    session.execute(delete(CampaignTheme).where(CampaignTheme.campaign_id == campaign.id))
    rows = []
    for position, theme in enumerate(found):
        kept = marks.get(theme.label)
        row = CampaignTheme(
            campaign_id=campaign.id,
            position=position,
            label=theme.label[:200],
            size=theme.size,
            share=round(theme.share, 4),
            keywords=json.dumps(list(theme.keywords), ensure_ascii=False),
            quotes=json.dumps(list(theme.quotes), ensure_ascii=False),
            adopted=kept.adopted if kept else None,
            note=kept.note if kept else "",
            marked_by=kept.marked_by if kept else None,
            marked_at=kept.marked_at if kept else None,
            computed_at=now,
        )
        session.add(row)
        rows.append(row)
    campaign.themes_at = now
    session.flush()
    return rows


def mark(session: Session, actor: str, theme: CampaignTheme, adopted: bool | None, note: str) -> None:
    """Staff's decision on a theme: adopted (采纳), not adopted, or undecided, with a note."""
    theme.adopted = adopted
    theme.note = note.strip()[:2000]
    theme.marked_by = actor
    theme.marked_at = utcnow()
    session.flush()


# -- outcome (公开反馈) --------------------------------------------------------------------------------


def publish_outcome(
    session: Session, library: Library, actor: str, campaign: Campaign, *, now: dt.datetime | None = None
) -> OutcomeResult:
    """Queue the outcome template to every participant inside the 48-hour window; record the others as not reached.

    Each participant gets the text in the script they wrote in. The caller commits, then enqueues
    ``OutcomeResult.queued`` with the delivery queue (bot/jobs.py).
    """
    now = now or utcnow()
    if campaign.outcome_sent_at is not None:
        raise CampaignError("结果已公开反馈过，不能重复发送")
    if campaign.status is CampaignStatus.OPEN:
        raise CampaignError("请先结束征集，再公开反馈结果")
    if not campaign.outcome_key:
        raise CampaignError("请先为征集选择结果反馈模板")
    rendered: dict[bool, Any] = {}
    try:
        for traditional in (False, True):
            rendered[traditional] = render_chosen(library, session, campaign.outcome_key, {}, traditional=traditional)
    except NotSendable as exc:
        raise CampaignError(f"结果反馈模板不能发送：{exc}") from None
    participants = _participants(session, campaign.id)
    queued: list[int] = []
    unreachable = 0
    for citizen, traditional in participants:
        text = rendered[traditional]
        # The 48-hour window runs from the citizen's last message of any kind (loop.service_window reads the
        # last inbound message of one case's citizen; here last_seen_at answers it for every participant at once).
        reachable = citizen.is_subscribed and citizen.last_seen_at >= now - SERVICE_WINDOW
        message = queued_message(
            citizen.id,
            text.text,
            text.template_key,
            text.template_version,
            actor,
            now,
            campaign_id=campaign.id,
            refused=None if reachable else UNREACHABLE,
        )
        session.add(message)
        session.flush()
        if reachable:
            queued.append(message.id)
        else:
            unreachable += 1
    campaign.outcome_sent_at = now
    campaign.outcome_sent_by = actor
    session.flush()
    return OutcomeResult(tuple(queued), unreachable)


def _participants(session: Session, campaign_id: int) -> list[tuple[Citizen, bool]]:
    """Each citizen who sent an opinion, and whether they wrote in Traditional characters."""
    rows = session.execute(
        select(Message.citizen_id, Message.content).where(
            Message.campaign_id == campaign_id, Message.direction == Direction.IN
        )
    ).all()
    traditional: dict[int, bool] = {}
    for citizen_id, content in rows:
        traditional[citizen_id] = traditional.get(citizen_id, False) or normalize(content or "").traditional
    citizens = session.scalars(select(Citizen).where(Citizen.id.in_(traditional))).all() if traditional else []
    return [(c, traditional[c.id]) for c in sorted(citizens, key=lambda c: c.id)]


def deliveries(session: Session, campaign_id: int) -> list[tuple[Message, str]]:
    """The outcome messages of a campaign with their citizen's OpenID (unmasked: the page masks it)."""
    rows = session.execute(
        select(Message, Citizen.openid)
        .join(Citizen, Citizen.id == Message.citizen_id)
        .where(Message.campaign_id == campaign_id, Message.direction == Direction.OUT)
        .order_by(Message.id)
    ).all()
    return [(m, openid) for m, openid in rows]
