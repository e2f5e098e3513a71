"""The demo-data generator behind ``python -m bot seed-demo``: a realistic, entirely fictional volume of traffic.

Citizens, inbound messages with their triage (intent, department, confidences, emergency kind), the bot's
reply to each, and for everything but chit-chat and follow events a case with a plausible life: deadlines on
the official working-day calendar, a person's answer (on time or late), closure, ratings, merges, emergencies
handed to 110/119/120/122, a backlog of open and overdue cases. Times are spread over the last ``--days``
days (daytime-heavy), and a few themes and places rise in the last week so the dashboard's hot spots have
something to show.

**Additive**: every run adds new citizens (OpenIDs tagged with the run), messages, cases and case events
beside whatever is there; it never updates or deletes a row. Run it on a scratch database. It refuses to
run with ``MINSHENG_ENV=production``.

PostgreSQL is loaded with ``COPY … FROM STDIN`` (psycopg's ``cursor.copy``), ids reserved from the tables'
sequences; SQLite with ``executemany`` in large batches. One transaction per batch.
"""

from __future__ import annotations

import array
import bisect
import dataclasses
import datetime as dt
import json
import random
import uuid
from collections.abc import Iterator, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from bot.dev.demo_text import EMERGENCY_NUMBERS, citizen_text
from cases.loop import PROGRESS_CHOICES
from cases.sla import deadline_for
from models import CaseType
from replies.variables import DEPARTMENT_NAMES

BATCH = 20_000  # interactions per transaction

DEPT_NAMES = DEPARTMENT_NAMES

OPERATORS = {d: f"demo_{d}" for d in DEPT_NAMES}

# Interaction kinds: what one citizen turn becomes (weights sum to 1).
KINDS = (
    ("complaint", 0.35),
    ("inquiry", 0.22),
    ("chitchat", 0.21),
    ("suggestion", 0.08),
    ("praise", 0.04),
    ("emergency", 0.02),
    ("follow", 0.08),
)
CASE_TYPES = {
    "complaint": CaseType.COMPLAINT,
    "inquiry": CaseType.INQUIRY,
    "suggestion": CaseType.SUGGESTION,
    "praise": CaseType.PRAISE,
    "emergency": CaseType.EMERGENCY,
}
ACK = {
    "complaint": "complaint_ack",
    "inquiry": "inquiry_ack",
    "suggestion": "suggestion_ack",
    "praise": "praise_thanks",
}

# Outcome of a case (decided up front: it fixes how many messages the interaction writes).
ANSWERED, UNANSWERED, MERGED, HANDED = 1, 2, 3, 4
OUTCOMES = ((ANSWERED, 0.925), (UNANSWERED, 0.055), (MERGED, 0.02))


def _cum(weights: Sequence[tuple[Any, float]]) -> tuple[list[Any], list[float]]:
    values, cum, total = [], [], 0.0
    for value, weight in weights:
        total += weight
        values.append(value)
        cum.append(total)
    return values, cum


def _pick(rng: random.Random, table: tuple[list[Any], list[float]]) -> Any:
    values, cum = table
    return values[bisect.bisect_left(cum, rng.random() * cum[-1])]


_KIND_TABLE = _cum(KINDS)
_OUTCOME_TABLE = _cum(OUTCOMES)
# Hours of the day when citizens write (local time).
_HOUR_TABLE = _cum(
    [(h, w) for h, w in enumerate([1, 1, 1, 1, 1, 2, 4, 8, 12, 14, 14, 12, 9, 10, 12, 12, 11, 10, 10, 11, 11, 9, 6, 3])]
)
_RATING_TABLE = _cum([(5, 0.46), (4, 0.29), (3, 0.12), (2, 0.08), (1, 0.05)])


@dataclasses.dataclass
class Plan:
    """Sizes of one run, decided before anything is written."""

    kinds: bytearray  # index into KINDS per interaction
    outcomes: bytearray  # 0 = no case, else ANSWERED/UNANSWERED/MERGED/HANDED
    times: array.array[float]  # POSIX seconds, ascending
    citizens: array.array[int]  # citizen index per interaction
    n_citizens: int
    messages: int


def plan(rng: random.Random, messages: int, days: int, now: float) -> Plan:
    """Interaction kinds and case outcomes adding up to exactly ``messages`` message rows."""
    kinds, outcomes = bytearray(), bytearray()
    kind_index = {k: i for i, (k, _) in enumerate(KINDS)}
    total = 0
    while total < messages:
        left = messages - total
        kind = _pick(rng, _KIND_TABLE)
        if left == 1:
            kind = "unfollow"  # an event with no reply: one row
        if kind == "unfollow":
            kinds.append(len(KINDS))
            outcomes.append(0)
            total += 1
            continue
        if kind in ("chitchat", "follow"):
            outcome = 0
        elif kind == "emergency":
            outcome = HANDED if rng.random() < 0.95 else UNANSWERED
        else:
            outcome = _pick(rng, _OUTCOME_TABLE)
            if outcome == ANSWERED and left < 3:
                outcome = UNANSWERED
        kinds.append(kind_index[kind])
        outcomes.append(outcome)
        total += 3 if outcome == ANSWERED else 2
    count = len(kinds)
    span = days * 86400.0
    start_day = now - span
    times = []
    for _ in range(count):
        day = start_day + rng.randrange(days) * 86400.0
        # A mild growth over the period, daytime-heavy; nothing in the future.
        at = day + _pick(rng, _HOUR_TABLE) * 3600.0 + rng.random() * 3600.0
        times.append(min(at, now - rng.random() * 600.0))
    times.sort()
    n_citizens = max(1, count // 3)
    citizens = array.array(
        "l",
        (
            min(int(rng.paretovariate(1.2)) - 1, n_citizens - 1) if rng.random() < 0.3 else rng.randrange(n_citizens)
            for _ in range(count)
        ),
    )
    return Plan(kinds, outcomes, array.array("d", times), citizens, n_citizens, total)


# -- rows ------------------------------------------------------------------------------------------

MESSAGE_COLUMNS = (
    "id", "direction", "citizen_id", "dedup_key", "wechat_msg_id", "msg_type", "event", "event_key", "content",
    "created_at", "received_at", "in_reply_to_id", "case_id", "template_key", "template_version", "responder",
    "intent", "department", "confidence_intent", "confidence_department", "emergency_kind", "reasons",
    "delivery_status", "sent_at",
)  # fmt: skip
CASE_COLUMNS = (
    "id", "number", "case_type", "status", "department", "is_urgent", "emergency_kind", "needs_triage",
    "citizen_id", "opening_message_id", "summary", "opened_at", "due_at", "sla_amount", "sla_unit", "closed_at",
    "owner_department", "owner_user", "transfer_to", "extended", "merged_into_id", "handed_to", "public_opinion",
    "answered_at", "reopened_count", "rating", "rated_at", "revisit_due", "updated_at",
)  # fmt: skip
EVENT_COLUMNS = ("id", "case_id", "at", "actor", "action", "from_status", "to_status", "detail")
CITIZEN_COLUMNS = ("id", "openid", "first_seen_at", "last_seen_at", "is_subscribed")


class Rows:
    """Builds the rows of one interaction; ids come from the caller's counters."""

    def __init__(self, rng: random.Random, tz: ZoneInfo, now: dt.datetime, run: str) -> None:
        self.rng = rng
        self.tz = tz
        self.now = now
        self.run = run
        self.recent = now - dt.timedelta(days=7)
        self._due: dict[tuple[CaseType, dt.date], tuple[dt.datetime, int, str]] = {}
        self.last_case_by_dept: dict[str, int] = {}

    def deadline(self, case_type: CaseType, at: dt.datetime) -> tuple[dt.datetime, int, str]:
        """Due date of a case opened at ``at`` (cached per type and local day)."""
        if case_type is CaseType.EMERGENCY:
            d = deadline_for(case_type, at, self.tz, urgent=True)
            return d.due_at, d.amount, d.unit
        key = (case_type, at.astimezone(self.tz).date())
        found = self._due.get(key)
        if found is None:
            d = deadline_for(case_type, at, self.tz)
            found = self._due[key] = (d.due_at, d.amount, d.unit)
        return found

    def text(self, kind: str, at: dt.datetime) -> tuple[str, str, str | None]:
        """(text, department, emergency kind) of a citizen's message."""
        return citizen_text(self.rng, kind, at >= self.recent)


@dataclasses.dataclass
class Batch:
    """Rows of one transaction, in insertion order (FKs: citizens → inbound → cases → outbound → events)."""

    inbound: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)
    cases: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)
    outbound: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)
    events: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)


def _message(**values: Any) -> tuple[Any, ...]:
    return tuple(values.get(c) for c in MESSAGE_COLUMNS)


def build(
    rows: Rows,
    kind_index: int,
    outcome: int,
    at_ts: float,
    citizen_id: int,
    ids: Iterator[int],
    case_ids: Iterator[int],
    event_ids: Iterator[int],
    batch: Batch,
) -> None:
    """Append the rows of one interaction to ``batch``."""
    rng = rows.rng
    at = dt.datetime.fromtimestamp(at_ts, dt.UTC)
    kind = KINDS[kind_index][0] if kind_index < len(KINDS) else "unfollow"
    in_id = next(ids)
    dedup = f"demo:{rows.run}:{in_id}"
    msg_id = rng.randrange(10**15, 10**16)
    if kind in ("follow", "unfollow"):
        event = "subscribe" if kind == "follow" else "unsubscribe"
        batch.inbound.append(
            _message(id=in_id, direction="in", citizen_id=citizen_id, dedup_key=dedup, msg_type="event",
                     event=event, event_key="", content="", created_at=at, received_at=at)
        )  # fmt: skip
        if kind == "follow":
            batch.outbound.append(
                _message(id=next(ids), direction="out", citizen_id=citizen_id, msg_type="text",
                         content="感谢关注！您可以直接留言反映问题、咨询政策或提出建议，我们会按时答复。",
                         created_at=at, received_at=at, in_reply_to_id=in_id, template_key="follow",
                         template_version=1, responder="bot")
            )  # fmt: skip
        return
    content, dept, emergency = rows.text(kind, at)
    intent = kind
    conf_i = round(rng.uniform(0.55, 0.99), 4)
    conf_d = round(rng.uniform(0.45, 0.98), 4) if dept != "none" else round(rng.uniform(0.3, 0.9), 4)
    needs_human = conf_i < 0.6 or conf_d < 0.5
    reasons = json.dumps([f"意图:{intent}", f"部门:{dept}"] + (["紧急关键词"] if emergency else []), ensure_ascii=False)
    batch.inbound.append(
        _message(id=in_id, direction="in", citizen_id=citizen_id, dedup_key=dedup, wechat_msg_id=msg_id,
                 msg_type="text", content=content, created_at=at, received_at=at, intent=intent, department=dept,
                 confidence_intent=conf_i, confidence_department=conf_d, emergency_kind=emergency, reasons=reasons)
    )  # fmt: skip
    reply_at = at + dt.timedelta(milliseconds=rng.randrange(80, 900))
    if outcome == 0:
        batch.outbound.append(
            _message(id=next(ids), direction="out", citizen_id=citizen_id, msg_type="text",
                     content="您好！请直接描述您要反映的事项和地点，或回复“进度”查询已受理的诉求。",
                     created_at=reply_at, received_at=reply_at, in_reply_to_id=in_id, template_key="default",
                     template_version=1, responder="bot")
        )  # fmt: skip
        return
    case_type = CASE_TYPES[kind]
    case_id = next(case_ids)
    number = f"{at.astimezone(rows.tz):%Y%m%d}{in_id:05d}"
    due, amount, unit = rows.deadline(case_type, at)
    department = "other" if dept == "none" else dept
    now = rows.now
    status, owner_user, transfer_to = "accepted", None, None
    answered_at = closed_at = rated_at = None
    rating, merged_into, handed_to = None, None, None
    revisit = extended = public_opinion = False
    needs_triage = needs_human and outcome == UNANSWERED
    events: list[tuple[dt.datetime, str, str, str | None, str, str]] = []
    operator = OPERATORS[department]
    window = max((due - at).total_seconds(), 3600.0)
    age = (now - at).total_seconds()
    if outcome == HANDED:
        status = "handed_over"
        handed_to = EMERGENCY_NUMBERS[emergency or "police"]
        closed_at = at + dt.timedelta(seconds=rng.randrange(60, 900))
        closed_at = min(closed_at, now)
        events.append((closed_at, operator, "hand_over", "accepted", "handed_over", f"已移交{handed_to}"))
    elif outcome == MERGED:
        into = rows.last_case_by_dept.get(department)
        if into is None:
            outcome = UNANSWERED
        else:
            status, merged_into = "merged", into
            closed_at = min(at + dt.timedelta(hours=rng.uniform(1, 48)), now)
            events.append((closed_at, operator, "merge", "accepted", "merged", "重复诉求，并入同类诉求"))
    if outcome == ANSWERED:
        late = rng.random() < 0.11
        delay = window * rng.uniform(0.05, 0.95) if not late else window + rng.uniform(0.3, 6) * 86400
        if delay > age * 0.9:
            delay = age * rng.uniform(0.2, 0.9)
        answered_at = at + dt.timedelta(seconds=delay)
        owner_user = operator
        events.append((at + dt.timedelta(seconds=delay * 0.2), "demo_intake", "assign", "accepted", "assigned",
                       DEPT_NAMES[department]))  # fmt: skip
        events.append((answered_at, operator, "answer_sent", "in_progress", "answered", "answer_progress@1"))
        close_after = rng.uniform(0.5, 96) * 3600
        if (answered_at - at).total_seconds() + close_after < age:
            status = "closed"
            closed_at = answered_at + dt.timedelta(seconds=close_after)
            events.append((closed_at, operator, "close", "answered", "closed", "已答复并办结"))
            if rng.random() < 0.55:
                rated_at = closed_at + dt.timedelta(hours=rng.uniform(0.2, 48))
                if rated_at < now:
                    rating = _pick(rng, _RATING_TABLE)
                    revisit = rating <= 2 and rng.random() < 0.3
                    events.append((rated_at, "citizen", "rate", "closed", "closed", str(rating)))
                else:
                    rated_at = None
        else:
            status = "answered"
        extended = late and rng.random() < 0.3
    elif outcome == UNANSWERED:
        status = rng.choice(("accepted", "assigned", "assigned", "in_progress", "in_progress"))
        if status != "accepted":
            owner_user = operator if status == "in_progress" else None
            events.append((at + dt.timedelta(seconds=min(window, age) * 0.1), "demo_intake", "assign", "accepted",
                           "assigned", DEPT_NAMES[department]))  # fmt: skip
        if rng.random() < 0.05:
            transfer_to = rng.choice([d for d in DEPT_NAMES if d != department])
        public_opinion = rng.random() < 0.01
    if status in ("accepted", "assigned", "in_progress", "answered"):
        rows.last_case_by_dept[department] = case_id
    last = max([at] + [e[0] for e in events])
    batch.cases.append(
        (case_id, number, case_type.value, status, department, kind == "emergency", emergency, needs_triage,
         citizen_id, in_id, content[:2000], at, due, amount, unit, closed_at, department, owner_user, transfer_to,
         extended, merged_into, handed_to, public_opinion, answered_at, 0, rating, rated_at, revisit, last)
    )  # fmt: skip
    if kind == "emergency":
        ack_key = {"police": "emergency_police", "fire": "emergency_fire", "medical": "emergency_medical",
                   "traffic": "emergency_traffic"}.get(emergency or "", "emergency")  # fmt: skip
        ack = f"情况紧急请立即拨打{EMERGENCY_NUMBERS.get(emergency or '', '110')}。您的留言已记录，受理编号：{number}。"
    else:
        ack_key = ACK[kind]
        ack = (f"您反映的事项已受理，受理编号：{number}，承办部门：{DEPT_NAMES[department]}，"
               f"答复期限：{due.astimezone(rows.tz):%Y年%m月%d日}。")  # fmt: skip
    batch.outbound.append(
        _message(id=next(ids), direction="out", citizen_id=citizen_id, msg_type="text", content=ack,
                 created_at=reply_at, received_at=reply_at, in_reply_to_id=in_id, case_id=case_id,
                 template_key=ack_key, template_version=1, responder="bot")
    )  # fmt: skip
    if answered_at is not None:
        progress = rng.choice(PROGRESS_CHOICES)
        batch.outbound.append(
            _message(id=next(ids), direction="out", citizen_id=citizen_id, msg_type="text",
                     content=f"您反映的问题（受理编号：{number}）{progress}。如有疑问，请回复本账号。",
                     created_at=answered_at, received_at=answered_at, case_id=case_id, template_key="answer_progress",
                     template_version=1, responder=operator, delivery_status="sent", sent_at=answered_at)
        )  # fmt: skip
    batch.events.append((next(event_ids), case_id, at, "bot", "accept", None, "accepted", ""))
    for when, actor, action, before, after, detail in events:
        batch.events.append((next(event_ids), case_id, when, actor, action, before, after, detail))


# -- writing ---------------------------------------------------------------------------------------


class Writer:
    """Reserves ids and writes batches: COPY on PostgreSQL, executemany on SQLite."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.pg = engine.dialect.name == "postgresql"
        self.raw: Any = engine.raw_connection()
        self.conn: Any = self.raw.driver_connection if self.pg else self.raw

    def reserve(self, table: str, count: int) -> Iterator[int]:
        """``count`` fresh ids of ``table`` (from its sequence on PostgreSQL)."""
        if count == 0:
            return iter(())
        cur = self.conn.cursor()
        if self.pg:
            cur.execute(f"SELECT nextval('{table}_id_seq') FROM generate_series(1, %s)", (count,))  # noqa: S608
            ids = [r[0] for r in cur.fetchall()]
            return iter(ids)
        cur.execute(f"SELECT coalesce(max(id), 0) FROM {table}")  # noqa: S608
        first = int(cur.fetchone()[0]) + 1
        self._sqlite_next = first + count
        return iter(range(first, first + count))

    def write(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        """Insert ``rows`` (tuples in ``columns`` order) into ``table``, inside the open transaction."""
        if not rows:
            return
        cur = self.conn.cursor()
        cols = ", ".join(columns)
        if self.pg:
            with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        marks = ", ".join("?" for _ in columns)
        cur.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", [_sqlite_row(r) for r in rows])  # noqa: S608

    def commit(self) -> None:
        """Commit the batch."""
        self.conn.commit()

    def close(self) -> None:
        """Return the connection to the pool."""
        self.raw.close()

    def analyze(self) -> None:
        """Refresh planner statistics (and, on PostgreSQL, the visibility map for index-only scans)."""
        if self.pg:
            autocommit = self.conn.autocommit
            self.conn.autocommit = True
            try:
                self.conn.execute("VACUUM (ANALYZE) citizens, messages, cases, case_events")
            finally:
                self.conn.autocommit = autocommit
        else:
            self.conn.execute("ANALYZE")
            self.conn.commit()


def _sqlite_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    # The sqlite3 module stores datetimes as SQLAlchemy does: naive UTC "YYYY-MM-DD HH:MM:SS.ffffff".
    return tuple(
        v.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds") if isinstance(v, dt.datetime) else v
        for v in row
    )


def seed(
    engine: Engine,
    messages: int,
    *,
    days: int = 90,
    tz: ZoneInfo,
    seed_value: int | None = None,
    progress: Any = None,
    now: dt.datetime | None = None,
) -> dict[str, int]:
    """Load ``messages`` message rows and everything that goes with them; returns the counts written."""
    now = now or dt.datetime.now(dt.UTC)
    rng = random.Random(seed_value)
    run = uuid.UUID(int=rng.getrandbits(128)).hex[:8] if seed_value is not None else uuid.uuid4().hex[:8]
    # Outside the seeded stream: two runs with the same --seed still need distinct OpenIDs and keys.
    run = f"{run}{uuid.uuid4().hex[:4]}"
    p = plan(rng, messages, days, now.timestamp())
    writer = Writer(engine)
    counts = {"citizens": 0, "messages": 0, "cases": 0, "case_events": 0}
    try:
        citizen_ids = list(writer.reserve("citizens", p.n_citizens))
        first_seen = [now] * p.n_citizens
        last_seen = [now - dt.timedelta(days=days + 1)] * p.n_citizens
        for ts, c in zip(p.times, p.citizens, strict=True):
            at = dt.datetime.fromtimestamp(ts, dt.UTC)
            if at < first_seen[c]:
                first_seen[c] = at
            if at > last_seen[c]:
                last_seen[c] = at
        used = sorted(set(p.citizens))
        citizen_rows = [
            (citizen_ids[c], f"oDemo{run}{c:011d}"[:28], first_seen[c], last_seen[c], rng.random() > 0.03) for c in used
        ]
        for start in range(0, len(citizen_rows), 50_000):
            writer.write("citizens", CITIZEN_COLUMNS, citizen_rows[start : start + 50_000])
        writer.commit()
        counts["citizens"] = len(citizen_rows)
        rows = Rows(rng, tz, now, run)
        total = len(p.kinds)
        for start in range(0, total, BATCH):
            end = min(total, start + BATCH)
            n_msgs = sum(1 if k == len(KINDS) else (3 if o == ANSWERED else 2)
                         for k, o in zip(p.kinds[start:end], p.outcomes[start:end], strict=True))  # fmt: skip
            n_cases = sum(1 for o in p.outcomes[start:end] if o)
            ids = writer.reserve("messages", n_msgs)
            case_ids = writer.reserve("cases", n_cases)
            event_ids = writer.reserve("case_events", n_cases * 6)
            batch = Batch()
            for i in range(start, end):
                build(rows, p.kinds[i], p.outcomes[i], p.times[i], citizen_ids[p.citizens[i]], ids, case_ids,
                      event_ids, batch)  # fmt: skip
            writer.write("messages", MESSAGE_COLUMNS, batch.inbound)
            writer.write("cases", CASE_COLUMNS, batch.cases)
            writer.write("messages", MESSAGE_COLUMNS, batch.outbound)
            writer.write("case_events", EVENT_COLUMNS, batch.events)
            writer.commit()
            written = len(batch.inbound) + len(batch.outbound)
            counts["messages"] += written
            counts["cases"] += len(batch.cases)
            counts["case_events"] += len(batch.events)
            if progress is not None:
                progress.update(written)
        writer.analyze()
    finally:
        writer.close()
    return counts
