"""Reports for leaders (周报、月报): what a period's figures, themes, places and late cases say, as plain values.

Framework-free: the dashboard's counting (cases/stats.py) for the period and the period before it, the themes
and places of the period's case summaries with a few examples each, and the cases still open and overdue now.
Everything a citizen wrote is masked here (text/pii.py), before any renderer (PDF, DOCX, the wall screen) sees
it, so no output path can leak a phone number. Rendering lives in bot/reports/.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cases import stats
from cases.campaigns import themes as campaign_themes
from cases.loop import OPEN, Worker, overdue_where, scoped
from models import Campaign, Case, Direction, Message
from text.pii import mask_text

TOP = 10
EXAMPLES = 2
EXAMPLE_CHARS = 60
LATE_CASES = 20


@dataclasses.dataclass(frozen=True)
class Theme:
    """A theme or a place: cases mentioning it in the period and in the period before, with masked examples."""

    label: str
    count: int
    previous: int
    examples: tuple[str, ...]

    @property
    def change(self) -> int:
        """Cases this period minus the period before."""
        return self.count - self.previous


@dataclasses.dataclass(frozen=True)
class LateCase:
    """An open case past its deadline, as a report lists it (summary masked and shortened)."""

    number: str
    department: str
    case_type: str
    due_at: dt.datetime
    summary: str


@dataclasses.dataclass(frozen=True)
class CampaignLine:
    """A campaign that ran during the period: opinions received in it, its main themes, marks and outcome."""

    title: str
    opinions: int
    themes: tuple[str, ...]
    adopted: int
    not_adopted: int
    outcome_sent: bool


@dataclasses.dataclass
class Report:
    """One report: the period's dashboard, the period before for comparison, themes, places and late cases."""

    title: str
    scope: str
    tz: ZoneInfo
    generated_at: dt.datetime
    board: stats.Dashboard
    previous: stats.CaseCounts
    previous_messages: int
    themes: list[Theme]
    rising: list[Theme]
    places: list[Theme]
    open_cases: int
    overdue_cases: int
    late: list[LateCase]
    campaigns: list[CampaignLine] = dataclasses.field(default_factory=list)

    @property
    def messages(self) -> int:
        """Inbound messages in the period."""
        return sum(self.board.messages_by("intent").values())


def kind_of(first: dt.date, last: dt.date) -> str:
    """周报 for seven days from a Monday, 月报 for a calendar month, else 统计报告."""
    if first.weekday() == 0 and (last - first).days == 6:
        return "周报"
    next_month = (last + dt.timedelta(days=1)).day == 1
    if first.day == 1 and next_month and (first.year, first.month) == (last.year, last.month):
        return "月报"
    return "统计报告"


def _day(value: dt.date) -> str:
    return f"{value.year}年{value.month}月{value.day}日"


def _excerpt(text: str) -> str:
    text = " ".join(mask_text(text).split())
    return text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1] + "…"


def build(
    session: Session,
    worker: Worker,
    first: dt.date,
    last: dt.date,
    tz: ZoneInfo,
    *,
    now: dt.datetime,
    unit: str,
    department_names: dict[str, str],
) -> Report:
    """The report of the local days ``first``..``last`` (inclusive) in ``worker``'s scope, as of ``now``."""
    if last < first:
        raise ValueError("结束日期早于开始日期")
    if (last - first).days + 1 > stats.MAX_DAYS:
        raise ValueError(f"报告期不能超过{stats.MAX_DAYS}天")
    period = stats.Period.of_days(first, last, tz)
    length = last - first + dt.timedelta(days=1)
    before = stats.Period.of_days(first - length, first - dt.timedelta(days=1), tz)
    board = stats.dashboard(session, worker, period, now=now, department_names=department_names, hot=False)
    previous = stats.CaseCounts()
    for row in stats.case_counts(session, worker, before, now):
        previous.add(stats.CaseCounts(**row[3]))
    previous_messages = sum(row[3] for row in stats.message_counts(session, worker, before))

    scan = stats.scan_themes(session, worker, period.start, min(period.end, now), examples=EXAMPLES)

    def themes_of(counts: dict[str, list[int]], label: bool) -> list[Theme]:
        return [
            Theme(
                stats.theme_label(key, department_names) if label else key,
                count,
                prior,
                tuple(_excerpt(t) for t in scan.examples.get(key, ())),
            )
            for key, (count, prior) in counts.items()
            if count
        ]

    themes = themes_of(scan.themes, True)
    overdue_filter = overdue_where(now)
    count = scoped(select(func.count()).select_from(Case), worker)
    open_cases = session.scalar(count.where(Case.status.in_(list(OPEN)))) or 0
    overdue = session.scalar(count.where(*overdue_filter)) or 0
    late = [
        LateCase(
            c.number,
            department_names.get(c.owner_department, c.owner_department),
            c.case_type.value,
            c.due_at,
            _excerpt(c.summary or ""),
        )
        for c in session.scalars(
            scoped(select(Case), worker).where(*overdue_filter).order_by(Case.due_at).limit(LATE_CASES)
        )
    ]
    scope = "、".join(department_names.get(d, d) for d in sorted(worker.departments)) or "全部部门"
    # Campaigns are the unit's, not a department's: reported in unit-wide reports only.
    campaigns = [] if worker.departments else campaigns_in(session, period)
    return Report(
        title=f"{unit}{kind_of(first, last)}（{_day(first)}至{_day(last)}）",
        scope=scope,
        tz=tz,
        generated_at=now,
        board=board,
        previous=previous,
        previous_messages=previous_messages,
        themes=sorted(themes, key=lambda t: (-t.count, t.label))[:TOP],
        rising=sorted((t for t in themes if t.count >= 2 and t.change > 0), key=lambda t: (-t.change, t.label))[:TOP],
        places=sorted(themes_of(scan.places, False), key=lambda t: (-t.count, t.label))[:TOP],
        open_cases=open_cases,
        overdue_cases=overdue,
        late=late,
        campaigns=campaigns,
    )


def campaigns_in(session: Session, period: stats.Period) -> list[CampaignLine]:
    """The campaigns open at any time during ``period``, with the opinions received in it."""
    rows = session.scalars(
        select(Campaign)
        .where(Campaign.starts_at < period.end, Campaign.ends_at >= period.start, Campaign.opened_at.is_not(None))
        .order_by(Campaign.starts_at)
    ).all()
    out = []
    for campaign in rows:
        opinions = session.scalar(
            select(func.count())
            .select_from(Message)
            .where(
                Message.campaign_id == campaign.id,
                Message.direction == Direction.IN,
                Message.received_at >= period.start,
                Message.received_at < period.end,
            )
        )
        themes = campaign_themes(session, campaign.id)
        out.append(
            CampaignLine(
                campaign.title,
                opinions or 0,
                tuple(f"{t.label}（{t.share * 100:.0f}%）" for t in themes[:3]),
                sum(1 for t in themes if t.adopted is True),
                sum(1 for t in themes if t.adopted is False),
                campaign.outcome_sent_at is not None,
            )
        )
    return out


def last_week(today: dt.date) -> tuple[dt.date, dt.date]:
    """Monday..Sunday of the week before ``today``'s."""
    monday = today - dt.timedelta(days=today.weekday() + 7)
    return monday, monday + dt.timedelta(days=6)


def last_month(today: dt.date) -> tuple[dt.date, dt.date]:
    """The calendar month before ``today``'s."""
    last = today.replace(day=1) - dt.timedelta(days=1)
    return last.replace(day=1), last
