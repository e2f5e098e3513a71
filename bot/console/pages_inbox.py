"""The inbox: one row per citizen thread, as help-desk users expect (Chatwoot, Zammad); assigning and handling threads.

A row shows the masked citizen, the latest message, its local time, how many inbound messages nobody has opened
yet, the thread's status (open / waiting / closed, reopened by a newer message), who holds it, emergency and
overdue marks, and the cases. Tabs 我的 / 未分配 / 全部 pick the assignee; the form filters by status, marks,
classification, dates and words. Threads are scoped as cases are (cases/threads.py); try-it conversations are
left out unless asked for, and marked 试用 then.

Assigning and setting a status are POSTs with a CSRF token, need ``conversations.handle``, reach only threads the
user may read (404 otherwise, as for reading) and go to the audit log in Chinese.
"""

from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from bot.console.audit import record
from bot.console.auth import permission
from bot.console.blueprint import bp
from bot.console.common import STATUS_NAMES
from bot.console.names import THREAD_STATUSES
from bot.console.pages_cases import worker
from bot.console.pages_conversations import (
    DEPARTMENTS,
    INTENT_NAMES,
    _day,
    _readable_citizen,
    colleagues,
    handlers,
    message_text,
)
from bot.extensions import console_session
from cases import threads
from models import utcnow
from replies.variables import DEPARTMENT_NAMES
from text.pii import mask_openid, mask_text

PAGE_SIZE = 50
PREVIEW_CHARS = 80
TABS = (("me", "我的"), ("none", "未分配"), ("", "全部"))


def _clean(args: Any, usernames: set[str]) -> dict[str, str]:
    """The filters the page understands, each checked against its choices (anything else is dropped)."""
    out: dict[str, str] = {}
    choices = {
        "status": {*THREAD_STATUSES, "any"},
        "intent": set(INTENT_NAMES),
        "department": set(DEPARTMENT_NAMES),
        "case_status": set(STATUS_NAMES),
        "assignee": {"me", "none", *usernames},
    }
    for key, allowed_values in choices.items():
        if args.get(key) in allowed_values:
            out[key] = args[key]
    for key in ("unread", "emergency", "overdue", "flagged", "try"):
        if args.get(key) == "1":
            out[key] = "1"
    for key in ("from", "to"):
        if _day(args.get(key, ""), False):
            out[key] = args[key]
    text = (args.get("q") or "").strip()[:100]
    if text:
        out["q"] = text
    return out


@bp.get("/conversations")
@permission("conversations.read")
def conversations() -> str:
    """The inbox: threads the user may read, newest activity first, filtered; 50 a page."""
    db = console_session()
    me = worker()
    people = handlers()
    names = {u.username: u.display_name or u.username for u in people}
    args = _clean(request.args, set(names))
    page = max(1, request.args.get("page", 1, type=int) or 1)
    now = utcnow()
    query = threads.inbox_query(
        args, me, now, start=_day(args.get("from", ""), False), end=_day(args.get("to", ""), True)
    )
    found = db.execute(query.limit(PAGE_SIZE + 1).offset((page - 1) * PAGE_SIZE)).all()
    rows = threads.inbox_rows(db, me, found[:PAGE_SIZE], now, q=args.get("q", ""))
    return render_template(
        "console/conversations.html",
        rows=rows,
        preview=_preview,
        mask_openid=mask_openid,
        args=args,
        page=page,
        more=len(found) > PAGE_SIZE,
        tabs=_tabs(args, threads.assigned_count(db, me)),
        names=names,
        intents=INTENT_NAMES,
        departments=DEPARTMENTS,
        case_statuses=STATUS_NAMES,
        thread_statuses=THREAD_STATUSES,
    )


def _tabs(args: dict[str, str], mine: int) -> list[tuple[str, str, bool]]:
    """(label, link, current) of 我的 / 未分配 / 全部: the other filters are kept, the page starts again."""
    rest: dict[str, Any] = {k: v for k, v in args.items() if k != "assignee"}
    chosen = args.get("assignee", "")
    return [
        (
            f"{label}（{mine}）" if key == "me" else label,
            url_for("console.conversations", **({**rest, "assignee": key} if key else rest)),
            chosen == key,
        )
        for key, label in TABS
    ]


def _preview(row: threads.ThreadRow) -> str:
    if row.last is None:
        return ""
    text = mask_text(message_text(row.last.content, row.last.msg_type, row.last.event))
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def _back(citizen_id: int) -> Response:
    return redirect(url_for("console.thread", citizen_id=citizen_id))


@bp.post("/conversations/<int:citizen_id>/assign")
@permission("conversations.handle")
def thread_assign(citizen_id: int) -> Response:
    """Take a thread, give it to a colleague who may read it, or leave it unassigned (audited)."""
    db = console_session()
    _readable_citizen(citizen_id)
    wanted = request.form.get("assignee", "").strip()
    if "assignee" not in request.form:
        flash("请选择负责人。", "error")
        return _back(citizen_id)
    people = {u.username: u for u in colleagues(citizen_id)}
    if wanted and wanted not in people:
        # Someone outside the thread's departments (or without the role) could not even open it.
        flash("该同事无权查看此会话，不能分配给他。", "error")
        return _back(citizen_id)
    state = threads.state_of(db, citizen_id)
    if (state.assignee if state else None) == (wanted or None):
        flash("负责人未变。")
        return _back(citizen_id)
    before = threads.assign(db, citizen_id, wanted or None, g.user.username)

    def who(name: str | None) -> str:
        if not name:
            return "未分配"
        user = people.get(name)
        return f"{user.display_name}（{name}）" if user and user.display_name not in ("", name) else name

    if wanted == g.user.username:
        detail, message = f"认领会话（原负责人：{who(before)}）", "已分配给我。"
    elif wanted:
        detail, message = f"分配给 {who(wanted)}（原负责人：{who(before)}）", f"已分配给 {who(wanted)}。"
    else:
        detail, message = f"取消分配（原负责人：{who(before)}）", "已取消分配。"
    record(db, g.user.username, "thread.assign", f"citizen:{citizen_id}", detail, (request.remote_addr or "")[:64])
    db.commit()
    flash(message)
    return _back(citizen_id)


@bp.post("/conversations/<int:citizen_id>/status")
@permission("conversations.handle")
def thread_status(citizen_id: int) -> Response:
    """Mark a thread handled (closed), waiting for the citizen, or open again (audited).

    The page sends the last message it showed: if the citizen wrote since, waiting or handled is refused, so a
    message that arrived while someone was reading is never buried under a status set without seeing it.
    """
    db = console_session()
    _readable_citizen(citizen_id)
    status = request.form.get("status", "")
    if status not in THREAD_STATUSES:
        flash("请选择会话状态。", "error")
        return _back(citizen_id)
    if status != "open":
        state = threads.state_of(db, citizen_id)
        seen = request.form.get("seen", type=int)
        if seen is None:
            seen = state.seen_message_id if state else 0
        if threads.unseen_inbound(db, worker(), citizen_id, seen):
            flash("群众刚发来新消息，请先查看后再标记。", "error")
            return _back(citizen_id)
    before = threads.set_status(db, citizen_id, status, g.user.username)
    detail = f"{THREAD_STATUSES[before]} → {THREAD_STATUSES[status]}"
    record(db, g.user.username, "thread.status", f"citizen:{citizen_id}", detail, (request.remote_addr or "")[:64])
    db.commit()
    flash(f"会话已标记为“{THREAD_STATUSES[status]}”。")
    return _back(citizen_id)
