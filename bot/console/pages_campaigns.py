"""Campaign pages (征集): the list, the form, and one campaign with its opinions per day, themes and outcome.

Supervisors create, open and close campaigns and publish the outcome; operators read them, regroup the
themes and mark each adopted or not. The rules live in cases/campaigns.py; a view loads, checks, runs one
step, records it in the audit log and commits — then, for opening and closing, tells every worker to re-read
the campaigns (the library generation), and for the outcome queues the delivery jobs.
"""

from __future__ import annotations

import datetime as dt
import logging

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from bot.console.audit import record
from bot.console.auth import permission
from bot.console.blueprint import bp
from bot.console.charts import stacked_bars
from bot.console.common import local_tz
from bot.console.names import template_titles
from bot.extensions import console_session, services
from cases import campaigns as domain
from cases.campaigns import CampaignError, Fields
from models import Campaign, CampaignStatus, CampaignTheme, utcnow
from text.pii import mask_openid

log = logging.getLogger(__name__)

STATUS_NAMES = {"draft": "草稿", "open": "进行中", "closed": "已结束"}
ADOPTION = {"yes": True, "no": False, "": None}


def _source() -> str:
    return (request.remote_addr or "")[:64]


def _campaign(campaign_id: int) -> Campaign:
    found = console_session().get(Campaign, campaign_id)
    if found is None:
        abort(404)
    return found


def _bump() -> None:
    from bot.bootstrap import bump_generation

    bump_generation(current_app._get_current_object())  # type: ignore[attr-defined]


def _local_input(value: dt.datetime | None) -> str:
    return value.astimezone(local_tz()).strftime("%Y-%m-%dT%H:%M") if value else ""


def _parse_local(value: str, what: str) -> dt.datetime:
    try:
        naive = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise CampaignError(f"请填写{what}（年-月-日 时:分）") from None
    return naive.replace(tzinfo=local_tz()).astimezone(dt.UTC)


def _published_titles() -> dict[str, str]:
    """Published templates by key, shown by their Chinese title (the form's pickers)."""
    db = console_session()
    titles = template_titles(db)
    published = services().library.published(db, None)
    return {key: titles.get(key, key) for key in sorted(published, key=lambda k: titles.get(k, k)) if key in titles}


@bp.get("/campaigns")
@permission("campaigns.read")
def campaigns() -> str:
    """Every campaign, newest first, with its opinions and participants."""
    db = console_session()
    rows = db.scalars(select(Campaign).order_by(Campaign.id.desc())).all()
    found = domain.opinion_counts(db, [c.id for c in rows])
    counts = {c.id: found.get(c.id, (0, 0)) for c in rows}
    return render_template("console/campaigns.html", campaigns=rows, counts=counts, status_names=STATUS_NAMES)


@bp.route("/campaigns/new", methods=["GET", "POST"], defaults={"campaign_id": None})
@bp.route("/campaigns/<int:campaign_id>/edit", methods=["GET", "POST"])
@permission("campaigns.manage")
def campaign_edit(campaign_id: int | None) -> Response | str:
    """Create or change a campaign (its texts are picked among published templates)."""
    db = console_session()
    campaign = _campaign(campaign_id) if campaign_id is not None else None
    form = request.form
    if request.method == "POST":
        try:
            fields = Fields(
                title=form.get("title", ""),
                questions=form.get("questions", ""),
                join_keyword=form.get("join_keyword", ""),
                join_click_key=form.get("join_click_key", ""),
                join_scene=form.get("join_scene", ""),
                starts_at=_parse_local(form.get("starts_at", ""), "开始时间"),
                ends_at=_parse_local(form.get("ends_at", ""), "结束时间"),
                intro_key=form.get("intro_key", ""),
                thanks_key=form.get("thanks_key", ""),
                outcome_key=form.get("outcome_key", ""),
            )
            created = campaign is None
            saved = domain.save(db, g.user.username, fields, campaign)
            record(db, g.user.username, "campaign.create" if created else "campaign.edit", f"征集#{saved.id}",
                   saved.title, _source())  # fmt: skip
            db.commit()
        except CampaignError as exc:
            db.rollback()
            flash(str(exc), "error")
        else:
            if saved.status is CampaignStatus.OPEN:
                _bump()  # a changed keyword or period of an open campaign applies at once
            draft = saved.status is CampaignStatus.DRAFT
            flash("征集已保存" + ("；开启前请确认所选模板均已发布" if draft else ""), "ok")
            return redirect(url_for("console.campaign", campaign_id=saved.id))
    now = utcnow()
    values = {
        "title": form.get("title", campaign.title if campaign else ""),
        "questions": form.get("questions", campaign.questions if campaign else ""),
        "join_keyword": form.get("join_keyword", (campaign.join_keyword or "") if campaign else ""),
        "join_click_key": form.get("join_click_key", (campaign.join_click_key or "") if campaign else ""),
        "join_scene": form.get("join_scene", (campaign.join_scene or "") if campaign else ""),
        "starts_at": form.get("starts_at", _local_input(campaign.starts_at if campaign else now)),
        "ends_at": form.get("ends_at", _local_input(campaign.ends_at if campaign else now + dt.timedelta(days=14))),
        "intro_key": form.get("intro_key", campaign.intro_key if campaign else ""),
        "thanks_key": form.get("thanks_key", campaign.thanks_key if campaign else ""),
        "outcome_key": form.get("outcome_key", (campaign.outcome_key or "") if campaign else ""),
    }
    return render_template("console/campaign_form.html", campaign=campaign, values=values,
                           templates=_published_titles())  # fmt: skip


@bp.get("/campaigns/<int:campaign_id>")
@permission("campaigns.read")
def campaign(campaign_id: int) -> str:
    """One campaign: opinions per day, themes with share, quotes and marks, and the outcome's deliveries."""
    db = console_session()
    item = _campaign(campaign_id)
    tz = local_tz()
    days = domain.per_day(db, item, tz)
    opinions, participants = domain.opinion_count(db, item.id)
    themes = domain.themes(db, item.id)
    sent = [
        {
            "openid": mask_openid(openid),
            "status": m.delivery_status or "",
            "error": m.delivery_error or "",
            "at": m.sent_at,
        }
        for m, openid in domain.deliveries(db, item.id)
    ]
    published = services().library.published(db, None)
    titles = template_titles(db)
    return render_template(
        "console/campaign.html",
        c=item,
        status_names=STATUS_NAMES,
        opinions=opinions,
        participants=participants,
        chart=stacked_bars(list(days), {"意见": days}, title="每日收到的意见"),
        themes=themes,
        quotes=domain.theme_quotes,
        keywords=domain.theme_keywords,
        deliveries=sent,
        delivery_counts={s: sum(1 for d in sent if d["status"] == s) for s in ("queued", "sending", "sent", "failed")},
        texts=[(role, key, titles.get(key or "", key), bool(key) and key in published) for role, key in (
            ("介绍语", item.intro_key), ("致谢语", item.thanks_key), ("结果反馈", item.outcome_key))],
    )  # fmt: skip


@bp.post("/campaigns/<int:campaign_id>/open")
@permission("campaigns.manage")
def campaign_open(campaign_id: int) -> Response:
    """Open the campaign for opinions."""
    return _step(campaign_id, "campaign.open", "征集已开启，群众可通过所设方式参与")


@bp.post("/campaigns/<int:campaign_id>/close")
@permission("campaigns.manage")
def campaign_close(campaign_id: int) -> Response:
    """Stop taking opinions."""
    return _step(campaign_id, "campaign.close", "征集已结束，此后参与将收到“征集已结束”的回复")


def _step(campaign_id: int, action: str, done: str) -> Response:
    db = console_session()
    item = _campaign(campaign_id)
    now = utcnow()
    try:
        if action == "campaign.open":
            domain.open_campaign(db, item, services().library.published(db, None), now)
        else:
            domain.close_campaign(db, item, now)
        record(db, g.user.username, action, f"征集#{item.id}", item.title, _source())
        db.commit()
    except CampaignError as exc:
        db.rollback()
        flash(str(exc), "error")
    else:
        _bump()
        flash(done, "ok")
    return redirect(url_for("console.campaign", campaign_id=campaign_id))


@bp.post("/campaigns/<int:campaign_id>/cluster")
@permission("campaigns.mark")
def campaign_cluster(campaign_id: int) -> Response:
    """Regroup the opinions into themes (marks stay with a theme of the same name)."""
    from handlers.classify import cluster_words

    db = console_session()
    item = _campaign(campaign_id)
    rows = domain.compute_themes(db, item, cluster_words)
    record(db, g.user.username, "campaign.cluster", f"征集#{item.id}", f"主题{len(rows)}个", _source())
    db.commit()
    flash(f"已归纳为{len(rows)}个主题", "ok")
    return redirect(url_for("console.campaign", campaign_id=campaign_id) + "#themes")


@bp.post("/campaigns/<int:campaign_id>/themes/<int:theme_id>")
@permission("campaigns.mark")
def campaign_theme(campaign_id: int, theme_id: int) -> Response:
    """Mark a theme adopted (采纳), not adopted, or undecided, with a note."""
    db = console_session()
    theme = db.get(CampaignTheme, theme_id)
    if theme is None or theme.campaign_id != campaign_id:
        abort(404)
    choice = request.form.get("adopted", "")
    if choice not in ADOPTION:
        abort(400)
    domain.mark(db, g.user.username, theme, ADOPTION[choice], request.form.get("note", ""))
    verdict = {"yes": "采纳", "no": "不采纳", "": "待定"}[choice]
    record(db, g.user.username, "campaign.theme", f"征集#{campaign_id}",
           f"{theme.label}：{verdict}" + (f"；{theme.note}" if theme.note else ""), _source())  # fmt: skip
    db.commit()
    flash(f"主题“{theme.label}”已标记为{verdict}", "ok")
    return redirect(url_for("console.campaign", campaign_id=campaign_id) + f"#theme-{theme_id}")


@bp.post("/campaigns/<int:campaign_id>/outcome")
@permission("campaigns.manage")
def campaign_outcome(campaign_id: int) -> Response:
    """Publish the outcome (公开反馈) to every participant through the delivery queue."""
    db = console_session()
    item = _campaign(campaign_id)
    try:
        result = domain.publish_outcome(db, services().library, g.user.username, item)
        record(db, g.user.username, "campaign.outcome", f"征集#{item.id}",
               f"排队发送{len(result.queued)}人；超出48小时无法发送{result.unreachable}人", _source())  # fmt: skip
        db.commit()
    except CampaignError as exc:
        db.rollback()
        flash(str(exc), "error")
        return redirect(url_for("console.campaign", campaign_id=campaign_id))
    from bot.jobs import enqueue_delivery

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    for message_id in result.queued:
        enqueue_delivery(app, message_id)
    flash(f"结果反馈已排队发送给{len(result.queued)}位参与群众；{result.unreachable}位超出48小时时限无法发送", "ok")
    return redirect(url_for("console.campaign", campaign_id=campaign_id) + "#outcome")
