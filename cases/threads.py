"""Citizen threads: who may read which, the inbox over them, and what staff did with each (status, assignee, read).

Scope. A worker with no departments (or a unit-wide role) reads every thread. A worker limited to departments
reads a citizen's thread only when that citizen has a case owned by, or offered to, one of them; in it,
the messages of the citizen's other cases (their opening message and every message filed under them)
are withheld, and the rest of the thread — greetings, questions answered from the library, the intake
dialogue — is shown, since it is the conversation around their own case. A thread with no case at all
belongs to no department yet: it is read by unit-wide staff, who triage it, and not by scoped workers.

Inbox. One row per citizen, newest activity first (``citizens.last_seen_at``, indexed). Status, assignee and
read mark live in ``thread_states`` (models/thread.py), written only here and only from the console. The
status a page shows is the *effective* one: an inbound message newer than ``status_message_id`` reopens a
waiting or closed thread. That is computed when the thread is read, never written on the message path, so
the pipeline stays one insert a message. Every filter is an EXISTS over the thread's messages or cases, so
the database walks the last-seen index and stops after a page; the per-row figures of the page shown are
then read in a handful of batched queries (:func:`inbox_rows`), never one query a row.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, not_, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from cases.loop import OPEN_ORDERED, AnySelect, Worker, in_departments, overdue_where, scoped
from models import (
    TRY_OPENID_PREFIX,
    Case,
    CaseStatus,
    CaseType,
    Citizen,
    Direction,
    Message,
    QaFlag,
    ThreadState,
    utcnow,
)

STATUSES = ("open", "waiting", "closed")
# How many of a thread's cases a row of the inbox names.
CASES_PER_ROW = 3
# Unread messages are counted up to this many (the page shows 99+): a count never scans a long history.
UNREAD_CAP = 100


# -- scope ------------------------------------------------------------------------------------------


def readable_messages(query: AnySelect, worker: Worker) -> AnySelect:
    """``query`` over messages restricted to what ``worker`` may read (unchanged for unit-wide staff)."""
    if not worker.departments:
        return query
    ours, theirs = aliased(Case), aliased(Case)
    has_our_case = exists().where(ours.citizen_id == Message.citizen_id, in_departments(ours, worker.departments))
    of_their_case = exists().where(
        or_(theirs.id == Message.case_id, theirs.opening_message_id == Message.id),
        in_departments(theirs, worker.departments).is_not(true()),
    )
    return query.where(and_(has_our_case, not_(of_their_case)))


def readable_citizens(query: AnySelect, worker: Worker) -> AnySelect:
    """``query`` over citizens restricted to those whose thread ``worker`` may open."""
    if not worker.departments:
        return query
    return query.where(exists().where(Case.citizen_id == Citizen.id, in_departments(Case, worker.departments)))


def thread_readable(session: Session, worker: Worker, citizen_id: int) -> bool:
    """True if ``worker`` may open the citizen's thread (callers answer 404 otherwise: no hint it exists)."""
    if not worker.departments:
        return True
    return bool(session.scalar(select(scoped(select(Case.id).where(Case.citizen_id == citizen_id), worker).exists())))


def thread_cases(session: Session, worker: Worker, citizen_id: int) -> list[Case]:
    """The citizen's cases that ``worker`` may see, oldest first."""
    return list(session.scalars(scoped(select(Case).where(Case.citizen_id == citizen_id).order_by(Case.id), worker)))


def readers(session: Session, citizen_id: int, workers: Sequence[Worker]) -> list[Worker]:
    """Those of ``workers`` who may open the citizen's thread (the same rule as :func:`thread_readable`)."""
    rows = session.execute(select(Case.owner_department, Case.transfer_to).where(Case.citizen_id == citizen_id))
    covered = {d for row in rows for d in row if d}
    return [w for w in workers if not w.departments or w.departments & covered]


# -- status ----------------------------------------------------------------------------------------


def effective_status(state: ThreadState | None, last_inbound_id: int) -> str:
    """open / waiting / closed as staff see it: a newer inbound message reopens a waiting or closed thread."""
    if state is None or state.status not in ("waiting", "closed"):
        return "open"
    return "open" if last_inbound_id > state.status_message_id else state.status


def _newer_inbound() -> Any:
    # Correlated with the outer query's thread_states row: the citizen wrote after the status was set.
    return exists().where(
        Message.citizen_id == ThreadState.citizen_id,
        Message.direction == Direction.IN,
        Message.id > ThreadState.status_message_id,
    )


def status_is(status: str) -> ColumnElement[bool]:
    """SQL (over citizens outer-joined to thread_states): the thread's effective status is ``status``."""
    if status == "open":
        return or_(ThreadState.status.is_(None), ThreadState.status.not_in(("waiting", "closed")), _newer_inbound())
    return and_(ThreadState.status == status, not_(_newer_inbound()))


# -- the inbox ---------------------------------------------------------------------------------------


def inbox_query(
    args: Mapping[str, Any],
    worker: Worker,
    now: dt.datetime,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> Select[*tuple[Any, ...]]:
    """Threads ``worker`` may read that match ``args``, newest activity first (page it with limit/offset).

    ``args`` (each optional): status (open, the default / waiting / closed / any); assignee (me / none /
    a username); unread, emergency, overdue, flagged, try (=1: include try-it citizens, left out otherwise);
    intent, department, q (words of a message) and ``start`` ≤ received < ``end``: the thread has one message
    matching all of these; case_status: the thread has a case in that status.
    """
    query = (
        select(Citizen, ThreadState)
        .outerjoin(ThreadState, ThreadState.citizen_id == Citizen.id)
        .order_by(Citizen.last_seen_at.desc(), Citizen.id.desc())
    )
    query = readable_citizens(query, worker)
    if args.get("try") != "1":
        query = query.where(not_(Citizen.openid.startswith(TRY_OPENID_PREFIX)))
    status = args.get("status") or "open"
    if status in STATUSES:
        query = query.where(status_is(status))
    assignee = args.get("assignee") or ""
    if assignee == "me":
        query = query.where(ThreadState.assignee == worker.name)
    elif assignee == "none":
        query = query.where(ThreadState.assignee.is_(None))
    elif assignee:
        query = query.where(ThreadState.assignee == assignee)
    # One EXISTS over the thread's own (readable) messages carrying every message-level filter, so a thread
    # matches when one message matches them all — what the per-message list used to find.
    of_thread = and_(Message.citizen_id == Citizen.id)
    message_filters: list[ColumnElement[bool]] = []
    if args.get("intent"):
        message_filters.append(Message.intent == args["intent"])
    if args.get("department"):
        message_filters.append(Message.department == args["department"])
    if start:
        message_filters.append(Message.received_at >= start)
    if end:
        message_filters.append(Message.received_at < end)
    text = (args.get("q") or "").strip()[:100]
    if text:
        message_filters.append(Message.content.contains(text))
    if message_filters:
        query = query.where(_messages_exist(worker, of_thread, *message_filters))
    if args.get("unread") == "1":
        query = query.where(
            _messages_exist(
                worker,
                of_thread,
                Message.direction == Direction.IN,
                Message.id > func.coalesce(ThreadState.seen_message_id, 0),
            )
        )
    if args.get("emergency") == "1":
        query = query.where(
            or_(
                _messages_exist(
                    worker, of_thread, Message.direction == Direction.IN, Message.emergency_kind.is_not(None)
                ),
                _cases_exist(worker, *_emergency_case()),
            )
        )
    if args.get("overdue") == "1":
        # The case list's own definition (cases.loop.list_filters / is_overdue): open, unanswered, past due.
        query = query.where(_cases_exist(worker, *overdue_where(now)))
    if args.get("case_status") in {s.value for s in CaseStatus}:
        query = query.where(_cases_exist(worker, Case.status == CaseStatus(args["case_status"])))
    if args.get("flagged") == "1":
        query = query.where(exists().where(QaFlag.citizen_id == Citizen.id))
    return query


def _messages_exist(worker: Worker, *where: ColumnElement[bool]) -> ColumnElement[bool]:
    return readable_messages(select(Message.id).where(*where), worker).exists()


def _cases_exist(worker: Worker, *where: ColumnElement[bool]) -> ColumnElement[bool]:
    return scoped(select(Case.id).where(Case.citizen_id == Citizen.id, *where), worker).exists()


def _emergency_case() -> list[ColumnElement[bool]]:
    return [
        Case.status.in_(OPEN_ORDERED),
        or_(Case.case_type == CaseType.EMERGENCY, Case.emergency_kind.is_not(None)),
    ]


@dataclasses.dataclass(frozen=True)
class Preview:
    """The message a row of the inbox shows (unmasked: the page masks it)."""

    id: int
    direction: str
    msg_type: str
    event: str | None
    content: str
    at: dt.datetime


@dataclasses.dataclass(frozen=True)
class CaseMark:
    """A case named on a row: its number, status and whether it is overdue."""

    number: str
    status: CaseStatus
    overdue: bool


@dataclasses.dataclass(frozen=True)
class ThreadRow:
    """One row of the inbox."""

    citizen_id: int
    openid: str
    is_try: bool
    last_seen_at: dt.datetime
    last: Preview | None
    unread: int
    status: str
    assignee: str | None
    emergency: bool
    overdue: bool
    cases: list[CaseMark]
    more_cases: int


def inbox_rows(
    session: Session, worker: Worker, page: Sequence[tuple[Citizen, ThreadState | None]], now: dt.datetime, q: str = ""
) -> list[ThreadRow]:
    """The figures of one page of threads, read in three queries whatever the page size.

    The preview is the latest message ``worker`` may read (the latest containing ``q`` when searching). Each
    figure is a subquery correlated to its thread on the (citizen_id, id) index — newest first, stopping early —
    so a citizen with tens of thousands of messages costs what one with ten does; case figures are aggregated
    in SQL, and only the few cases a row names are read.
    """
    ids = [citizen.id for citizen, _ in page]
    if not ids:
        return []
    of_thread = Message.citizen_id == Citizen.id
    inbound = Message.direction == Direction.IN
    latest = readable_messages(select(func.max(Message.id)).where(of_thread), worker)
    text = q.strip()[:100]
    if text:
        latest = latest.where(Message.content.contains(text))
    unseen = readable_messages(
        select(Message.id)
        .where(of_thread, inbound, Message.id > func.coalesce(ThreadState.seen_message_id, 0))
        .order_by(Message.id.desc())
        .limit(UNREAD_CAP),
        worker,
    ).correlate(Citizen, ThreadState)
    figures = session.execute(
        select(
            Citizen.id,
            latest.scalar_subquery(),
            # Whether a status was overtaken is a fact of the whole thread, the same for every reader: not scoped.
            select(func.max(Message.id)).where(of_thread, inbound).scalar_subquery(),
            select(func.count()).select_from(unseen.subquery()).scalar_subquery(),
            readable_messages(
                select(Message.id).where(of_thread, inbound, Message.emergency_kind.is_not(None)), worker
            ).exists(),
            scoped(select(func.count(Case.id)).where(Case.citizen_id == Citizen.id), worker).scalar_subquery(),
            scoped(select(Case.id).where(Case.citizen_id == Citizen.id, *overdue_where(now)), worker).exists(),
            scoped(select(Case.id).where(Case.citizen_id == Citizen.id, *_emergency_case()), worker).exists(),
        )
        .outerjoin(ThreadState, ThreadState.citizen_id == Citizen.id)
        .where(Citizen.id.in_(ids))
    ).all()
    latest_ids = {row[0]: row[1] for row in figures}
    previews = {
        row.citizen_id: Preview(
            row.id, row.direction.value, row.msg_type, row.event, row.content or "", row.received_at
        )
        for row in session.execute(
            select(
                Message.id,
                Message.citizen_id,
                Message.direction,
                Message.msg_type,
                Message.event,
                Message.content,
                Message.received_at,
            ).where(Message.id.in_([i for i in latest_ids.values() if i is not None]))
        )
    }
    cases: dict[int, list[CaseMark]] = {}
    for row in session.execute(_latest_cases(session, worker, ids, now)):
        cases.setdefault(row.citizen_id, []).append(CaseMark(row.number, row.status, bool(row.late)))
    by_id = {row[0]: row for row in figures}
    rows = []
    for citizen, state in page:
        _, _, last_inbound, unread, urgent_message, total, any_late, any_urgent = by_id[citizen.id]
        rows.append(
            ThreadRow(
                citizen_id=citizen.id,
                openid=citizen.openid,
                is_try=citizen.openid.startswith(TRY_OPENID_PREFIX),
                last_seen_at=citizen.last_seen_at,
                last=previews.get(citizen.id),
                unread=int(unread or 0),
                status=effective_status(state, last_inbound or 0),
                assignee=state.assignee if state else None,
                emergency=bool(urgent_message) or bool(any_urgent),
                overdue=bool(any_late),
                cases=cases.get(citizen.id, []),
                more_cases=max(0, int(total or 0) - CASES_PER_ROW),
            )
        )
    return rows


def _latest_cases(session: Session, worker: Worker, ids: list[int], now: dt.datetime) -> Select[*tuple[Any, ...]]:
    """The newest CASES_PER_ROW cases of each thread in ``ids``, newest first, each with whether it is late."""
    columns = (Case.citizen_id, Case.id, Case.number, Case.status, and_(*overdue_where(now)).label("late"))
    if session.get_bind().dialect.name == "postgresql":
        # A LATERAL join per thread on the (citizen_id, id) index: three rows read, however many cases.
        latest = (
            scoped(select(*columns[1:]), worker)
            .where(Case.citizen_id == Citizen.id)
            .order_by(Case.id.desc())
            .limit(CASES_PER_ROW)
            .lateral()
        )
        return (
            select(Citizen.id.label("citizen_id"), latest)
            .join(latest, true())
            .where(Citizen.id.in_(ids))
            .order_by(Citizen.id, latest.c.id.desc())
        )
    # SQLite has no LATERAL: rank each thread's cases (its volumes are a single office's).
    ranked = scoped(
        select(*columns, func.row_number().over(partition_by=Case.citizen_id, order_by=Case.id.desc()).label("rank"))
        .where(Case.citizen_id.in_(ids)),
        worker,
    ).subquery()
    return select(ranked).where(ranked.c.rank <= CASES_PER_ROW).order_by(ranked.c.citizen_id, ranked.c.rank)


def assigned_count(session: Session, worker: Worker) -> int:
    """How many open threads are assigned to ``worker`` (the 我的 tab's figure; reads the assignee index)."""
    query = (
        select(func.count())
        .select_from(ThreadState)
        .join(Citizen, Citizen.id == ThreadState.citizen_id)
        .where(ThreadState.assignee == worker.name, status_is("open"))
    )
    return session.scalar(readable_citizens(query, worker)) or 0


# -- what staff do with a thread -----------------------------------------------------------------------


def last_inbound_id(session: Session, citizen_id: int) -> int:
    """The id of the citizen's latest inbound message (0 if none)."""
    return (
        session.scalar(
            select(func.max(Message.id)).where(Message.citizen_id == citizen_id, Message.direction == Direction.IN)
        )
        or 0
    )


def state_of(session: Session, citizen_id: int) -> ThreadState | None:
    """The thread's state row, if staff ever touched it."""
    return session.get(ThreadState, citizen_id)


def _state_for_update(session: Session, citizen_id: int) -> ThreadState:
    state = session.get(ThreadState, citizen_id)
    if state is not None:
        return state
    try:
        # Two people may open the same untouched thread at once: the second insert loses and reads the first.
        with session.begin_nested():
            state = ThreadState(
                citizen_id=citizen_id,
                status="open",
                status_message_id=0,
                seen_message_id=0,
                updated_at=utcnow(),
                updated_by="",
            )
            session.add(state)
        return state
    except IntegrityError:
        found = session.get(ThreadState, citizen_id, populate_existing=True)
        assert found is not None
        return found


def mark_seen(session: Session, citizen_id: int, message_id: int) -> None:
    """Move the thread's shared read mark forward to ``message_id`` (never back); flushes."""
    if message_id <= 0:
        return
    moved = session.execute(
        update(ThreadState)
        .where(ThreadState.citizen_id == citizen_id, ThreadState.seen_message_id < message_id)
        .values(seen_message_id=message_id)
        .execution_options(synchronize_session=False)
    )
    if getattr(moved, "rowcount", 0):
        return
    state = _state_for_update(session, citizen_id)
    state.seen_message_id = max(state.seen_message_id or 0, message_id)
    session.flush()


def assign(session: Session, citizen_id: int, assignee: str | None, by: str) -> str | None:
    """Give the thread to ``assignee`` (None: nobody); returns who held it before. Flushes."""
    state = _state_for_update(session, citizen_id)
    before = state.assignee
    state.assignee = assignee
    state.updated_at, state.updated_by = utcnow(), by
    session.flush()
    return before


def set_status(session: Session, citizen_id: int, status: str, by: str) -> str:
    """Set the thread open / waiting / closed as of its latest message; returns the effective status before."""
    if status not in STATUSES:
        raise ValueError(status)
    state = _state_for_update(session, citizen_id)
    before = effective_status(state, last_inbound_id(session, citizen_id))
    state.status = status
    state.status_message_id = session.scalar(select(func.max(Message.id)).where(Message.citizen_id == citizen_id)) or 0
    state.updated_at, state.updated_by = utcnow(), by
    session.flush()
    return before


def unseen_inbound(session: Session, worker: Worker, citizen_id: int, after: int) -> int:
    """How many inbound messages ``worker`` may read arrived after message ``after`` (what they have not seen)."""
    query = select(func.count()).where(
        Message.citizen_id == citizen_id, Message.direction == Direction.IN, Message.id > after
    )
    return session.scalar(readable_messages(query, worker)) or 0
