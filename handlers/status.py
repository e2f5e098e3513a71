"""Status answers: "查询 <受理编号>" and "我的诉求" show a citizen their own cases, and only theirs.

A case is looked up by number *and* by the OpenID of the citizen asking, so a number that belongs to
someone else gets the very same answer as a number that does not exist: the account never confirms
that another person's case exists.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from handlers.autoreply import bare
from handlers.turn import Turn
from models import Case, Citizen

# On bare text (normalised, so 查詢 reads 查询): "查询 2026…", "查询受理编号：2026…", "查进度2026…".
_BY_NUMBER = re.compile(r"(?:查询|查看|查)(?:受理)?(?:编号|单号|进度|诉求|案件)?(\d{8,20})")
_LIST = frozenset(
    {"我的诉求", "我的留言", "我的投诉", "我的咨询", "我的工单", "进度查询", "查询进度", "诉求进度", "办理进度",
     "查进度", "查询诉求", "查询我的诉求", "查看我的诉求"}
)  # fmt: skip
LIST_LIMIT = 5


def answer(turn: Turn) -> bool:
    """Answer a status request (True), or leave the message to the other stages (False)."""
    word = bare(turn.msg.text)
    m = _BY_NUMBER.fullmatch(word)
    if not m and word not in _LIST:
        return False  # most messages: no query built
    own = select(Case.number, Case.status, Case.due_at, Case.sla_unit).join(Citizen, Citizen.id == Case.citizen_id)
    own = own.where(Citizen.openid == turn.msg.openid)
    if m:
        row = turn.session.execute(own.where(Case.number == m.group(1))).first()
        if row is None:
            turn.reply_key = "status_not_found"
            return True
        turn.reply_key = "status_found"
        turn.variables.update(case_number=row.number, case_status=row.status, deadline=row.due_at)
        turn.deadline_with_time = row.sla_unit == "hours"
        return True
    if word in _LIST:
        rows = turn.session.execute(own.order_by(Case.opened_at.desc(), Case.id.desc()).limit(LIST_LIMIT)).all()
        if not rows:
            turn.reply_key = "status_none"
            return True
        turn.reply_key = "status_list"
        turn.variables["case_list"] = tuple((r.number, r.status, r.due_at) for r in rows)
        return True
    return False
