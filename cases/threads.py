"""Which conversations a worker may read: threads are scoped as cases are.

A worker with no departments (or a unit-wide role) reads every thread. A worker limited to departments
reads a citizen's thread only when that citizen has a case owned by, or offered to, one of them; in it,
the messages of the citizen's other cases (their opening message and every message filed under them)
are withheld, and the rest of the thread — greetings, questions answered from the library, the intake
dialogue — is shown, since it is the conversation around their own case. A thread with no case at all
belongs to no department yet: it is read by unit-wide staff, who triage it, and not by scoped workers.
"""

from __future__ import annotations

from sqlalchemy import and_, exists, not_, or_, select, true
from sqlalchemy.orm import Session, aliased

from cases.loop import AnySelect, Worker, in_departments, scoped
from models import Case, Message


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


def thread_readable(session: Session, worker: Worker, citizen_id: int) -> bool:
    """True if ``worker`` may open the citizen's thread (callers answer 404 otherwise: no hint it exists)."""
    if not worker.departments:
        return True
    return bool(session.scalar(select(scoped(select(Case.id).where(Case.citizen_id == citizen_id), worker).exists())))


def thread_cases(session: Session, worker: Worker, citizen_id: int) -> list[Case]:
    """The citizen's cases that ``worker`` may see, oldest first."""
    return list(session.scalars(scoped(select(Case).where(Case.citizen_id == citizen_id).order_by(Case.id), worker)))
