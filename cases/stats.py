"""Statistics for the console's dashboard: volumes by intent, department and day; the KPIs; this week's hot spots.

Framework-free (SQLAlchemy only). Counting happens in SQL, in one grouped scan per table: the messages of
the period grouped by (local day, intent, department), and the cases of the period grouped by (local day,
type, owning department) with every KPI's numerator and denominator as conditional sums. Python only folds
those few hundred rows, and reads the summaries of the last two weeks' cases to find themes and places.

Definitions (shown on the page as well):

* **cases of the period** are the cases *opened* (受理) in it; messages are inbound messages received in it;
* **响应率** (response): cases whose citizen received a person's answer (``answered_at`` set; bot replies never
  count) ÷ cases, leaving out merged duplicates and emergencies handed to 110/119/120/122;
* **解决率** (solve): closed (办结) ÷ the same cases; hand-overs are reported on their own line;
* **满意率** (satisfaction): ratings 3–5 (基本满意 and better) ÷ rated cases;
* **按时办结率** (on time): cases closed on time ÷ (closed cases + open cases past their deadline without an
  answer). Closed on time means the citizen had a person's answer by the deadline (``answered_at ≤ due_at``)
  or the case was closed by it (``closed_at ≤ due_at``). Open overdue cases are in the denominator on purpose:
  leaving them out would make the rate lie.

Scope: a worker with departments sees the cases their departments own or are offered
(:func:`cases.loop.scoped`), and the messages triage routed to those departments.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, func, or_, select, text
from sqlalchemy.orm import Session

from cases.loop import OPEN_ORDERED, Worker, scoped
from models import TRY_OPENID_PREFIX, Case, CaseStatus, Citizen, Direction, Message

DEFAULT_DAYS = 30
MAX_DAYS = 366
WEEK = dt.timedelta(days=7)
HOT_LIMIT = 10
# Cases read for hot spots: two weeks at a busy city's volume; beyond this the newest are used (and said).
HOT_MAX_CASES = 60_000

# Issue words citizens use; a theme is a department + one of these. Longer words first (路灯 before 灯).
TERMS = (
    "路灯", "井盖", "积水", "坑", "路面", "占道", "违章建筑", "私搭乱建", "电梯", "停车", "消防通道", "物业",
    "施工", "噪音", "扰民", "油烟", "垃圾", "臭味", "污水", "排放", "粉尘", "焚烧", "河道", "异味",
    "公交", "红绿灯", "拥堵", "出租车", "共享单车", "驾驶证", "减速带",
    "乱收费", "培训机构", "学位", "食堂", "托管", "招生", "入学",
    "拖欠", "工资", "社保", "劳动合同", "失业", "养老保险", "公积金", "医保",
    "缺斤短两", "过期食品", "门票", "价格欺诈", "网吧",
    "挂号", "诊所", "药店", "门诊", "疫苗",
    "飙车", "犬", "流浪狗", "赌博", "偷", "监控",
    "养老", "低保", "补贴", "婚姻登记", "残疾人",
    "推诿", "排队", "充电桩", "路修好", "着火", "车祸", "晕倒", "摔倒", "打架",
)  # fmt: skip
_TERMS = re.compile("|".join(sorted(map(re.escape, TERMS), key=len, reverse=True)))
# A place: what kind of place it is (路、街、小区、村、镇、广场、学校、医院 …), preceded by 2–6 characters naming
# it. The name stops at words that usually come just before a place in a sentence (我家、在、门口、哪些 …),
# so "我家门口人民路" yields 人民路 and "锦绣家园小区" stays whole.
_PLACE_KINDS = (
    "大道", "路", "街", "巷", "小区", "花园", "家园", "苑", "村", "镇", "乡", "广场", "小学", "中学", "学校", "幼儿园",
    "医院", "卫生院", "公园", "菜市场", "市场", "车站",
)  # fmt: skip
_PLACE_KIND = re.compile(
    "(?:家园|花园)?(?:" + "|".join(map(re.escape, sorted(_PLACE_KINDS, key=len, reverse=True))) + ")"
)
_NOT_IN_NAME = frozenset(
    "的了在是我你他她它们到从向往去和与及就都也还把被给让对于附近旁边口前后里内外上下这那个有没不很请问哪些什么怎"
    "，。！？、；：,.!?;: \t\n\"'“”‘’（）()【】[]0123456789０１２３４５６７８９"
)
_PLACE_NAME = (2, 6)
_STANDALONE_PLACES = frozenset({"火车站", "汽车站"})


@dataclasses.dataclass(frozen=True)
class Period:
    """A half-open range of time [start, end), and the zone whose calendar days it is counted in."""

    start: dt.datetime
    end: dt.datetime
    tz: ZoneInfo

    @classmethod
    def of_days(cls, first: dt.date, last: dt.date, tz: ZoneInfo) -> Period:
        """From the start of local day ``first`` to the end of local day ``last``."""
        start = dt.datetime.combine(first, dt.time.min, tzinfo=tz).astimezone(dt.UTC)
        end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time.min, tzinfo=tz).astimezone(dt.UTC)
        return cls(start, end, tz)

    @classmethod
    def last_days(cls, days: int, now: dt.datetime, tz: ZoneInfo) -> Period:
        """The last ``days`` local days, today included."""
        today = now.astimezone(tz).date()
        return cls.of_days(today - dt.timedelta(days=days - 1), today, tz)

    def days(self) -> list[str]:
        """The local days of the period, as ISO dates."""
        first = self.start.astimezone(self.tz).date()
        last = (self.end - dt.timedelta(microseconds=1)).astimezone(self.tz).date()
        return [(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


@dataclasses.dataclass(frozen=True)
class Ratio:
    """A KPI: numerator ÷ denominator (``rate`` is None when there is nothing to divide)."""

    numerator: int
    denominator: int

    @property
    def rate(self) -> float | None:
        """The ratio, or None for 0 ÷ 0."""
        return self.numerator / self.denominator if self.denominator else None


def percent(ratio: Ratio) -> str:
    """A rate as pages and reports show it (one decimal), or — when there is nothing to divide."""
    return "—" if ratio.rate is None else f"{ratio.rate * 100:.1f}%"


@dataclasses.dataclass
class CaseCounts:
    """Counts over a set of cases, from which every KPI is derived (additive: sums of groups are valid)."""

    total: int = 0
    merged: int = 0
    handed_over: int = 0
    answered: int = 0
    closed: int = 0
    closed_on_time: int = 0
    open_overdue: int = 0
    rated: int = 0
    satisfied: int = 0

    def add(self, other: CaseCounts) -> None:
        """Add ``other``'s counts to these."""
        for field in dataclasses.fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))

    @property
    def counted(self) -> int:
        """Cases the response and solve rates are over: all but merged duplicates and hand-overs."""
        return self.total - self.merged - self.handed_over

    @property
    def response(self) -> Ratio:
        """响应率: a person's answer reached the citizen."""
        return Ratio(self.answered, self.counted)

    @property
    def solve(self) -> Ratio:
        """解决率: closed."""
        return Ratio(self.closed, self.counted)

    @property
    def satisfaction(self) -> Ratio:
        """满意率: rated 3–5 among rated."""
        return Ratio(self.satisfied, self.rated)

    @property
    def on_time(self) -> Ratio:
        """按时办结率: closed on time ÷ (closed + open and overdue)."""
        return Ratio(self.closed_on_time, self.closed + self.open_overdue)


@dataclasses.dataclass(frozen=True)
class Trend:
    """A theme or place with its count this week and last week."""

    key: str
    label: str
    this_week: int
    last_week: int

    @property
    def change(self) -> int:
        """This week minus last week."""
        return self.this_week - self.last_week


@dataclasses.dataclass
class Dashboard:
    """Everything the dashboard shows, as plain values (JSON-serialisable through :meth:`to_json`)."""

    start: str
    end: str
    days: list[str]
    # (day, intent, department) → inbound messages
    messages: list[tuple[str, str, str, int]]
    # (day, case type, department) → counts
    cases: list[tuple[str, str, str, dict[str, int]]]
    themes: list[Trend]
    places: list[Trend]
    week_start: str
    hot_cases_read: int
    hot_truncated: bool
    generated_at: str

    # -- folding -------------------------------------------------------------------------------

    def messages_by(self, what: str) -> dict[str, int]:
        """Inbound messages per ``day``, ``intent``, ``department`` or ``channel``."""
        index = {"day": 0, "intent": 1, "department": 2, "channel": 4}[what]
        out: collections.Counter[str] = collections.Counter()
        for row in self.messages:
            out[str(row[index])] += row[3]
        if what == "day":
            return {d: out.get(d, 0) for d in self.days}
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def messages_by_day_and(self, what: str) -> dict[str, dict[str, int]]:
        """Inbound messages per ``intent`` or ``department``, then per day (every day present)."""
        index = {"intent": 1, "department": 2}[what]
        out: dict[str, dict[str, int]] = {}
        for row in self.messages:
            per_day = out.setdefault(str(row[index]), dict.fromkeys(self.days, 0))
            if row[0] in per_day:
                per_day[row[0]] += row[3]
        return dict(sorted(out.items(), key=lambda kv: -sum(kv[1].values())))

    def case_counts(self, what: str | None = None) -> dict[str, CaseCounts]:
        """Case counts in total (key ""), or per ``day``, ``type``, ``department`` or ``channel``."""
        index = {None: None, "day": 0, "type": 1, "department": 2, "channel": 4}[what]
        out: dict[str, CaseCounts] = {}
        if what == "day":
            out = {d: CaseCounts() for d in self.days}
        for row in self.cases:
            key = "" if index is None else str(row[index])
            out.setdefault(key, CaseCounts()).add(CaseCounts(**row[3]))
        if what in ("type", "department", "channel"):
            return dict(sorted(out.items(), key=lambda kv: -kv[1].total))
        return out

    @property
    def channels(self) -> dict[str, list[int]]:
        """channel → [inbound messages, cases opened] in the period, busiest first."""
        messages, cases = self.messages_by("channel"), self.case_counts("channel")
        both = {k: [messages.get(k, 0), cases[k].total if k in cases else 0] for k in {*messages, *cases}}
        return dict(sorted(both.items(), key=lambda kv: (-kv[1][0] - kv[1][1], kv[0])))

    @property
    def totals(self) -> CaseCounts:
        """Counts over every case of the period."""
        return self.case_counts().get("", CaseCounts())

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (for a cache); built by hand, ``dataclasses.asdict`` deep-copies every row."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["themes"] = [dataclasses.astuple(t) for t in self.themes]
        data["places"] = [dataclasses.astuple(t) for t in self.places]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Dashboard:
        """The inverse of :meth:`to_json`."""
        values = dict(data)
        values["messages"] = [tuple(r) for r in data["messages"]]
        values["cases"] = [tuple(r) for r in data["cases"]]
        values["themes"] = [Trend(*t) for t in data["themes"]]
        values["places"] = [Trend(*t) for t in data["places"]]
        return cls(**values)


# -- queries -------------------------------------------------------------------------------------------


def _real(citizen_id: ColumnElement[int] | Any) -> ColumnElement[bool]:
    """Rows of real citizens: the console's try-it conversations are not the unit's work and are not counted."""
    column: ColumnElement[int] = citizen_id
    return column.not_in(select(Citizen.id).where(Citizen.openid.startswith(TRY_OPENID_PREFIX)))


def local_day(session: Session, column: Any, tz: ZoneInfo, at: dt.datetime) -> ColumnElement[Any]:
    """SQL for the local calendar day of a UTC timestamp column."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone(tz.key, column))
    # SQLite keeps naive UTC text; a fixed offset is exact for zones without daylight saving (Asia/Shanghai),
    # and right within the period otherwise except around a change.
    offset = at.astimezone(tz).utcoffset() or dt.timedelta(0)
    return func.date(column, f"{int(offset.total_seconds() // 60):+d} minutes")


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)[:10]


def message_counts(session: Session, worker: Worker, period: Period) -> list[tuple[str, str, str, int, str]]:
    """Inbound messages of the period grouped by (local day, intent, department, channel) in ``worker``'s scope.

    Rows are (day, intent, department, count, channel): the channel rides last, so the grouping that existed
    before it keeps its positions.
    """
    day = local_day(session, Message.received_at, period.tz, period.start).label("day")
    intent = func.coalesce(Message.intent, "event").label("intent")
    department = func.coalesce(Message.department, "none").label("department")
    query = (
        select(day, intent, department, func.count().label("n"), Message.channel)
        .where(
            Message.received_at >= period.start,
            Message.received_at < period.end,
            Message.direction == Direction.IN,
            _real(Message.citizen_id),
        )
        .group_by(day, intent, department, Message.channel)
    )
    if worker.departments:
        query = query.where(Message.department.in_(sorted(worker.departments)))
    return [(_iso(d), i, dep, int(n), ch) for d, i, dep, n, ch in session.execute(query)]


def _sum(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def case_counts(
    session: Session, worker: Worker, period: Period, now: dt.datetime
) -> list[tuple[str, str, str, dict[str, int], str]]:
    """Cases opened in the period grouped by (local day, type, owning department, channel), with every KPI's
    counts: rows (day, type, department, counts, channel)."""
    day = local_day(session, Case.opened_at, period.tz, period.start).label("day")
    counted = Case.status.not_in([CaseStatus.MERGED, CaseStatus.HANDED_OVER])
    closed = Case.status == CaseStatus.CLOSED
    columns = {
        "total": func.count(),
        "merged": _sum(Case.status == CaseStatus.MERGED),
        "handed_over": _sum(Case.status == CaseStatus.HANDED_OVER),
        "answered": _sum(and_(counted, Case.answered_at.is_not(None))),
        "closed": _sum(closed),
        "closed_on_time": _sum(
            and_(
                closed,
                or_(
                    Case.closed_at <= Case.due_at,
                    and_(Case.answered_at.is_not(None), Case.answered_at <= Case.due_at),
                ),
            )
        ),
        # cases.loop.is_overdue: open, no answer yet, past the deadline.
        "open_overdue": _sum(and_(Case.status.in_(OPEN_ORDERED), Case.answered_at.is_(None), Case.due_at < now)),
        "rated": _sum(and_(counted, Case.rating.is_not(None))),
        "satisfied": _sum(and_(counted, Case.rating >= 3)),
    }
    query = scoped(
        select(day, Case.case_type, Case.owner_department, Case.channel, *(c.label(k) for k, c in columns.items()))
        .where(Case.opened_at >= period.start, Case.opened_at < period.end, _real(Case.citizen_id))
        .group_by(day, Case.case_type, Case.owner_department, Case.channel),
        worker,
    )
    out = []
    for row in session.execute(query):
        values = row._mapping
        out.append(
            (
                _iso(values["day"]),
                values["case_type"].value,
                values["owner_department"],
                {k: int(values[k]) for k in columns},
                values["channel"],
            )
        )
    return out


def extract_places(text: str) -> set[str]:
    """Place names in a case summary (…路/街/小区/村/镇/广场/学校/医院 …), each once."""
    found: set[str] = set()
    previous_end = 0
    shortest, longest = _PLACE_NAME
    for m in _PLACE_KIND.finditer(text):
        start = m.start()
        i = start
        # Walk back over the name (never into the place just found: "解放路路口" is 解放路).
        while i > previous_end and start - i < longest and text[i - 1] not in _NOT_IN_NAME:
            i -= 1
        if start - i >= shortest:
            found.add(text[i : m.end()])
            previous_end = m.end()
        elif text[max(0, start - 1) : m.end()] in _STANDALONE_PLACES:
            found.add(text[start - 1 : m.end()])
            previous_end = m.end()
    return found


def extract_terms(text: str) -> set[str]:
    """Issue words (from :data:`TERMS`) in a case summary, each once."""
    return set(_TERMS.findall(text))


@dataclasses.dataclass
class ThemeScan:
    """Themes (department|term) and places counted over two spans of cases: [0] the span, [1] the one before."""

    themes: dict[str, list[int]]
    places: dict[str, list[int]]
    # Up to ``examples`` summaries per theme and place key, newest first, as written (mask before showing).
    examples: dict[str, list[str]]
    read: int
    truncated: bool


def scan_themes(
    session: Session, worker: Worker, start: dt.datetime, end: dt.datetime, *, examples: int = 0
) -> ThemeScan:
    """Issue words and places in the summaries of the cases opened in [start, end) and in the span before it."""
    before = start - (end - start)
    slot = case((Case.opened_at >= start, 0), else_=1)
    query = scoped(
        select(slot, Case.owner_department, Case.summary)
        .where(Case.opened_at >= before, Case.opened_at < end, _real(Case.citizen_id))
        .order_by(Case.opened_at.desc())
        .limit(HOT_MAX_CASES + 1),
        worker,
    )
    themes: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    places: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    kept: dict[str, list[str]] = collections.defaultdict(list)
    read = 0
    for which, department, summary in session.execute(query):
        read += 1
        if read > HOT_MAX_CASES:
            break
        keys = [f"{department}|{term}" for term in extract_terms(summary or "")]
        for key in keys:
            themes[key][which] += 1
        for place in extract_places(summary or ""):
            places[place][which] += 1
            keys.append(place)
        if examples and which == 0:
            for key in keys:
                if len(kept[key]) < examples:
                    kept[key].append(summary or "")
    return ThemeScan(dict(themes), dict(places), dict(kept), min(read, HOT_MAX_CASES), read > HOT_MAX_CASES)


def theme_label(key: str, names: dict[str, str]) -> str:
    """A theme key (department|term) as people read it: 城市建设管理部门 · 路灯."""
    department, _, term = key.partition("|")
    return f"{names.get(department, department)} · {term}" if term else key


def hot_spots(
    session: Session,
    worker: Worker,
    end: dt.datetime,
    *,
    department_names: dict[str, str] | None = None,
    limit: int = HOT_LIMIT,
    min_count: int = 2,
) -> tuple[list[Trend], list[Trend], int, bool]:
    """Themes (department + issue word) and places rising in the week before ``end`` against the week before.

    Returns (themes, places, cases read, truncated). A theme or place is listed when it was seen in at
    least ``min_count`` cases this week and more than last week, largest rise first.
    """
    names = department_names or {}
    scan = scan_themes(session, worker, end - WEEK, end)

    def rising(counts: dict[str, list[int]], label: Callable[[str], str]) -> list[Trend]:
        found = [Trend(k, label(k), a, b) for k, (a, b) in counts.items() if a >= min_count and a > b]
        found.sort(key=lambda t: (-t.change, -t.this_week, t.key))
        return found[:limit]

    return (
        rising(scan.themes, lambda k: theme_label(k, names)),
        rising(scan.places, lambda k: k),
        scan.read,
        scan.truncated,
    )


def dashboard(
    session: Session | Callable[[], Session],
    worker: Worker,
    period: Period,
    *,
    now: dt.datetime,
    department_names: dict[str, str] | None = None,
    hot: bool = True,
) -> Dashboard:
    """Every figure of the dashboard for ``worker``'s scope over ``period`` (hot spots: the week before its end).

    Given a session factory instead of a session, the three independent parts (message counts,
    case figures, hot spots) run at once on their own connections: the dashboard then takes about as
    long as its slowest part rather than their sum. ``hot=False`` leaves the hot spots out (a report reads
    the themes of its own period instead).
    """
    hot_end = min(period.end, now)
    parts: dict[str, Callable[[Session], Any]] = {
        "messages": lambda s: message_counts(s, worker, period),
        "cases": lambda s: case_counts(s, worker, period, now),
    }
    if hot:
        parts["hot"] = lambda s: hot_spots(s, worker, hot_end, department_names=department_names)
    if isinstance(session, Session):
        results = {name: part(_tuned(session)) for name, part in parts.items()}
    else:
        factory = session

        def run(part: Callable[[Session], Any]) -> Any:
            with factory() as own:
                return part(_tuned(own))

        with ThreadPoolExecutor(max_workers=len(parts)) as pool:
            futures = {name: pool.submit(run, part) for name, part in parts.items()}
            results = {name: future.result() for name, future in futures.items()}
    themes, places, read, truncated = results.get("hot", ([], [], 0, False))
    return Dashboard(
        start=period.start.isoformat(),
        end=period.end.isoformat(),
        days=period.days(),
        messages=results["messages"],
        cases=results["cases"],
        themes=themes,
        places=places,
        week_start=(hot_end - WEEK).isoformat(),
        hot_cases_read=read,
        hot_truncated=truncated,
        generated_at=now.isoformat(),
    )


def _tuned(session: Session) -> Session:
    if session.get_bind().dialect.name == "postgresql":
        # Grouping by a computed day leaves the planner unable to estimate the groups; with enough memory
        # it aggregates in a hash table instead of sorting on disk. For this transaction only.
        session.execute(text("SET LOCAL work_mem = '32MB'"))
    return session


def cache_key(worker: Worker, period: Period) -> str:
    """What a cached dashboard depends on: the scope and the period."""
    scope = ",".join(sorted(worker.departments)) or "*"
    # v2: rows carry their channel; a figure cached by the previous shape is never read back.
    return f"v2|{scope}|{period.start.isoformat()}|{period.end.isoformat()}|{period.tz.key}"


def departments_of(rows: Iterable[tuple[Any, ...]]) -> list[str]:
    """The departments appearing in grouped rows, sorted."""
    return sorted({r[2] for r in rows})
