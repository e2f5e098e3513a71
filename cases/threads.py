"""Which conversations a worker may read: threads are scoped as cases are.

A worker with no departments (or a unit-wide role) reads every thread. A worker limited to departments
reads a citizen's thread only when that citizen has a case owned by, or offered to, one of them; in it,
the messages of the citizen's other cases (their opening message and every message filed under them)
are withheld, and the rest of the thread — greetings, questions answered from the library, the intake
dialogue — is shown, since it is the conversation around their own case. A thread with no case at all
belongs to no department yet: it is read by unit-wide staff, who triage it, and not by scoped workers.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, not_, or_, select
from sqlalchemy.orm import Session, aliased

from cases.loop import AnySelect, Worker
from models import Case, Message


def _in_scope(case: Any, departments: list[str]) -> ColumnElement[bool]:
    # NULL-safe: a case in triage has no owner yet, and most have no transfer pending.
    return or_(
        func.coalesce(case.owner_department, "").in_(departments),
        func.coalesce(case.transfer_to, "").in_(departments),
    )


def readable_messages(query: AnySelect, worker: Worker) -> AnySelect:
    """``query`` over messages restricted to what ``worker`` may read (unchanged for unit-wide staff)."""
    if not worker.departments:
        return query
    departments = sorted(worker.departments)
    ours, theirs = aliased(Case), aliased(Case)
    has_our_case = exists().where(ours.citizen_id == Message.citizen_id, _in_scope(ours, departments))
    of_their_case = exists().where(
        or_(theirs.id == Message.case_id, theirs.opening_message_id == Message.id),
        not_(_in_scope(theirs, departments)),
    )
    return query.where(and_(has_our_case, not_(of_their_case)))


def thread_readable(session: Session, worker: Worker, citizen_id: int) -> bool:
    """True if ``worker`` may open the citizen's thread (callers answer 404 otherwise: no hint it exists)."""
    if not worker.departments:
        return True
    departments = sorted(worker.departments)
    return bool(
        session.scalar(
            select(exists().where(Case.citizen_id == citizen_id, _in_scope(Case, departments)))
        )
    )


def thread_cases(session: Session, worker: Worker, citizen_id: int) -> list[Case]:
    """The citizen's cases that ``worker`` may see, oldest first."""
    query = select(Case).where(Case.citizen_id == citizen_id).order_by(Case.id)
    if worker.departments:
        query = query.where(_in_scope(Case, sorted(worker.departments)))
    return list(session.scalars(query))
