"""The citizen's satisfaction rating (好差评), given by answering the prompt sent after a case closed.

The prompt (template ``satisfaction_prompt``) numbers the five levels from 1 非常满意 to 5 非常不满意;
a reply of that number or of the words rates the citizen's most recently closed, unrated case whose
prompt went out in the last week. Cases store 5 = 非常满意 … 1 = 非常不满意 (cases.loop.RATINGS),
so the prompt's number is turned around here, in one place.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from cases import loop
from handlers.autoreply import bare
from handlers.turn import Turn
from models import Case, CaseStatus, Citizen, Direction, Message

PROMPT_KEY = "satisfaction_prompt"
ANSWER_WINDOW = dt.timedelta(days=7)
# What the citizen may reply → the case's rating.
_REPLIES = {
    "1": 5, "非常满意": 5,
    "2": 4, "满意": 4,
    "3": 3, "基本满意": 3,
    "4": 2, "不满意": 2,
    "5": 1, "非常不满意": 1,
}  # fmt: skip


def answer(turn: Turn) -> bool:
    """Record a rating and thank the citizen (True), or leave the message to the other stages (False)."""
    rating = _REPLIES.get(bare(turn.msg.text))
    if rating is None:
        return False
    prompted = (
        select(Message.case_id)
        .join(Citizen, Citizen.id == Message.citizen_id)
        .where(
            Citizen.openid == turn.msg.openid,
            Message.direction == Direction.OUT,
            Message.template_key == PROMPT_KEY,
            Message.delivery_status == "sent",
            Message.received_at >= turn.now - ANSWER_WINDOW,
        )
    )
    case = turn.session.scalar(
        select(Case)
        .where(Case.id.in_(prompted), Case.rating.is_(None), Case.status == CaseStatus.CLOSED)
        .order_by(Case.closed_at.desc())
        .limit(1)
    )
    if case is None:
        return False
    loop.rate(turn.session, case, rating)
    turn.reply_key = "rating_revisit" if case.revisit_due else "rating_thanks"
    turn.variables["case_number"] = case.number
    return True
