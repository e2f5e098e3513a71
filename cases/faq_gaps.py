"""The questions the library cannot answer: inquiries that got an acknowledgement instead of an answer, grouped.

An inquiry the bot could not answer from a vetted FAQ was filed as a case (咨询) for a person to answer within two
working days. Grouped by theme (text/cluster.py), the questions asked again and again show which FAQ to write next:
the console offers each group as the start of a new FAQ template — its example questions become the triggers —
which then goes through review like any other text. Framework-free.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.loop import Worker, scoped
from models import TRY_OPENID_PREFIX, Case, CaseType, Citizen, Message
from text.cluster import OTHER, Theme, cluster

MAX_QUESTIONS = 5000


def unanswered(session: Session, worker: Worker, since: dt.datetime) -> list[str]:
    """The opening questions of the inquiry cases opened since ``since`` in ``worker``'s scope, newest first."""
    query = scoped(
        select(Message.content)
        .join(Case, Case.opening_message_id == Message.id)
        .join(Citizen, Citizen.id == Message.citizen_id)
        .where(
            Case.case_type == CaseType.INQUIRY,
            Case.opened_at >= since,
            Message.content.is_not(None),
            ~Citizen.openid.startswith(TRY_OPENID_PREFIX),
        )
        .order_by(Case.opened_at.desc())
        .limit(MAX_QUESTIONS),
        worker,
    )
    return [text for text in session.scalars(query) if text]


def gaps(
    session: Session, worker: Worker, since: dt.datetime, words: Callable[[str], list[str]], *, min_size: int = 2
) -> tuple[list[Theme], int]:
    """Groups of unanswered questions asked at least ``min_size`` times, largest first; and how many were read."""
    questions = unanswered(session, worker, since)
    found = cluster(questions, words)
    return [t for t in found if t.size >= min_size and t.label != OTHER], len(questions)
