"""Conversation pages: search and filter, a citizen's whole thread, QA flags, a random sample, unmasking.

Threads are scoped as cases are (cases/threads.py): a user limited to departments reads only the threads of
citizens with a case of theirs, without the messages of the citizen's other cases.

Every text is masked on the server before it is rendered (mobile numbers, ID numbers, bank cards,
OpenIDs). A supervisor may see one thread unmasked for one page view, after giving a reason that
goes to the audit log; nothing unmasked is kept in the session.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import Select, and_, exists, func, select
from werkzeug.wrappers import Response

from bot.console.audit import record
from bot.console.auth import permission
from bot.console.blueprint import bp
from bot.console.common import STATUS_NAMES, local_tz
from bot.console.pages_cases import worker
from bot.extensions import console_session
from cases.threads import readable_messages, thread_cases, thread_readable
from models import Case, CaseStatus, Citizen, Direction, Message, QaFlag
from replies.variables import DEPARTMENT_NAMES
from text.pii import mask_openid, mask_text

# Department names for display; "none" is what triage says about chit-chat.
DEPARTMENTS = {**DEPARTMENT_NAMES, "none": "无"}
PAGE_SIZE = 50
SAMPLE_SIZE = 20
INTENT_NAMES = {
    "complaint": "投诉/求助",
    "inquiry": "咨询",
    "suggestion": "建议",
    "praise": "表扬",
    "emergency": "紧急",
    "chitchat": "闲聊",
}
FLAG_KINDS = {
    "wrong_reply": "答复错误",
    "slow_reply": "答复不及时",
    "no_reply": "未答复",
    "misrouted": "分派错误",
    "tone": "语气不当",
    "good_example": "优秀范例",
    "reviewed_ok": "抽查无问题",
}


@dataclasses.dataclass(frozen=True)
class Line:
    """One message of a thread as the page shows it (already masked unless unmasked on purpose)."""

    id: int
    direction: str
    at: dt.datetime
    kind: str
    text: str
    intent: str | None
    department: str | None
    confidence: tuple[float | None, float | None]
    emergency_kind: str | None
    reasons: list[str]
    template: str | None
    responder: str | None
    case_number: str | None


def _day(value: str, end: bool) -> dt.datetime | None:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return None
    start = dt.datetime.combine(day, dt.time.min, tzinfo=local_tz())
    return start + dt.timedelta(days=1) if end else start


def _filtered(args: Any) -> Select[*tuple[Any, ...]]:
    """Inbound messages matching the page's filters (each filter optional)."""
    query = select(Message, Citizen.openid, Case.number, Case.status).join(Citizen, Citizen.id == Message.citizen_id)
    query = query.outerjoin(Case, Case.opening_message_id == Message.id).where(Message.direction == Direction.IN)
    query = readable_messages(query, worker())
    if args.get("intent") in INTENT_NAMES:
        query = query.where(Message.intent == args["intent"])
    if args.get("department") in DEPARTMENT_NAMES:
        query = query.where(Message.department == args["department"])
    if args.get("status") in STATUS_NAMES:
        query = query.where(Case.status == CaseStatus(args["status"]))
    if args.get("emergency") == "1":
        query = query.where(Message.emergency_kind.is_not(None))
    if args.get("flagged") == "1":
        query = query.where(exists().where(QaFlag.citizen_id == Message.citizen_id))
    start, end = _day(args.get("from", ""), False), _day(args.get("to", ""), True)
    if start:
        query = query.where(Message.received_at >= start)
    if end:
        query = query.where(Message.received_at < end)
    text = (args.get("q") or "").strip()[:100]
    if text:
        query = query.where(Message.content.contains(text))
    return query


@bp.get("/conversations")
@permission("conversations.read")
def conversations() -> str:
    """Inbound messages, newest first, filtered by intent, department, case status, dates, flags, emergency."""
    db = console_session()
    page = max(1, request.args.get("page", 1, type=int) or 1)
    rows = db.execute(
        _filtered(request.args).order_by(Message.id.desc()).limit(PAGE_SIZE + 1).offset((page - 1) * PAGE_SIZE)
    ).all()
    items = [
        {
            "msg": m,
            "citizen": mask_openid(openid),
            "text": mask_text(m.content or _event_label(m))[:120],
            "case_number": number,
            "case_status": STATUS_NAMES.get(status.value) if status else None,
        }
        for m, openid, number, status in rows[:PAGE_SIZE]
    ]
    return render_template(
        "console/conversations.html",
        items=items,
        args=request.args,
        page=page,
        more=len(rows) > PAGE_SIZE,
        intents=INTENT_NAMES,
        departments=DEPARTMENTS,
        statuses=STATUS_NAMES,
        tz=local_tz(),
    )


def _event_label(m: Message) -> str:
    return f"[{m.msg_type}{'/' + m.event if m.event else ''}]"


def _readable_citizen(citizen_id: int) -> Citizen:
    """The citizen whose thread the user may read, or 404 (outside their departments: no hint it exists)."""
    db = console_session()
    citizen = db.get(Citizen, citizen_id)
    if citizen is None or not thread_readable(db, worker(), citizen_id):
        abort(404)
    return citizen


def _thread(citizen_id: int, unmasked: bool) -> tuple[Citizen, list[Line], list[Case], list[QaFlag], int]:
    db = console_session()
    citizen = _readable_citizen(citizen_id)
    cases = thread_cases(db, worker(), citizen_id)
    numbers = {c.id: c.number for c in cases}
    everything = select(Message).where(Message.citizen_id == citizen_id)
    readable = readable_messages(everything, worker())
    withheld = 0
    if readable is not everything:
        total = db.scalar(select(func.count()).select_from(everything.subquery())) or 0
        withheld = total - (db.scalar(select(func.count()).select_from(readable.subquery())) or 0)
    show = (lambda s: s) if unmasked else mask_text
    lines = [
        Line(
            id=m.id,
            direction=m.direction.value,
            at=m.received_at,
            kind=m.msg_type,
            text=show(m.content) if m.content else _event_label(m),
            intent=m.intent,
            department=m.department,
            confidence=(m.confidence_intent, m.confidence_department),
            emergency_kind=m.emergency_kind,
            reasons=[show(r) for r in json.loads(m.reasons or "[]")],
            template=f"{m.template_key}@{m.template_version}" if m.template_key else None,
            responder=m.responder,
            case_number=numbers.get(m.case_id) if m.case_id else None,
        )
        for m in db.scalars(readable.order_by(Message.id).limit(1000))
    ]
    flags = db.scalars(select(QaFlag).where(QaFlag.citizen_id == citizen_id).order_by(QaFlag.id)).all()
    return citizen, lines, cases, list(flags), withheld


def _render_thread(citizen_id: int, unmasked: bool) -> str:
    citizen, lines, cases, flags, withheld = _thread(citizen_id, unmasked)
    return render_template(
        "console/thread.html",
        citizen=citizen,
        openid=citizen.openid if unmasked else mask_openid(citizen.openid),
        lines=lines,
        withheld=withheld,
        cases=cases,
        flags=flags,
        intents=INTENT_NAMES,
        departments=DEPARTMENTS,
        statuses=STATUS_NAMES,
        flag_kinds=FLAG_KINDS,
        unmasked=unmasked,
        tz=local_tz(),
        summary=(lambda s: s) if unmasked else mask_text,
    )


@bp.get("/conversations/<int:citizen_id>")
@permission("conversations.read")
def thread(citizen_id: int) -> str:
    """A citizen's whole thread, with each reply's template version and each message's classification."""
    return _render_thread(citizen_id, unmasked=False)


@bp.post("/conversations/<int:citizen_id>/unmask")
@permission("conversations.unmask")
def thread_unmask(citizen_id: int) -> Response | str:
    """The thread with personal data shown, once, for a supervisor who states why (audited)."""
    reason = request.form.get("reason", "").strip()
    if len(reason) < 4:
        flash("查看完整个人信息须填写理由（至少4个字）。", "error")
        return redirect(url_for("console.thread", citizen_id=citizen_id))
    db = console_session()
    _readable_citizen(citizen_id)
    record(db, g.user.username, "unmask", f"citizen:{citizen_id}", reason, (request.remote_addr or "")[:64])
    db.commit()
    return _render_thread(citizen_id, unmasked=True)


@bp.post("/conversations/<int:citizen_id>/flag")
@permission("conversations.qa")
def thread_flag(citizen_id: int) -> Response:
    """A QA flag and note on a conversation (or one message of it)."""
    db = console_session()
    _readable_citizen(citizen_id)
    kind = request.form.get("kind", "")
    if kind not in FLAG_KINDS:
        flash("请选择问题类型。", "error")
        return redirect(url_for("console.thread", citizen_id=citizen_id))
    message_id = request.form.get("message_id", type=int)
    if (
        message_id is not None
        and db.scalar(select(Message.id).where(and_(Message.id == message_id, Message.citizen_id == citizen_id)))
        is None
    ):
        abort(404)
    note = mask_text(request.form.get("note", "").strip()[:2000])
    db.add(QaFlag(citizen_id=citizen_id, message_id=message_id, kind=kind, note=note, author=g.user.username))
    record(
        db,
        g.user.username,
        "qa.flag",
        f"citizen:{citizen_id}",
        f"{kind}: {note[:200]}",
        (request.remote_addr or "")[:64],
    )
    db.commit()
    flash("质检标记已保存。")
    return redirect(url_for("console.thread", citizen_id=citizen_id))


@bp.get("/qa/sample")
@permission("conversations.qa")
def qa_sample() -> str:
    """A random sample of recent conversations not yet checked, the same all day for one supervisor."""
    db = console_session()
    days = min(max(request.args.get("days", 7, type=int) or 7, 1), 90)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    candidates = db.scalars(
        readable_messages(select(Message.citizen_id), worker())
        .where(Message.direction == Direction.IN, Message.received_at >= since)
        .where(~exists().where(and_(QaFlag.citizen_id == Message.citizen_id, QaFlag.created_at >= since)))
        .group_by(Message.citizen_id)
        .order_by(func.max(Message.id).desc())
        .limit(10000)
    ).all()
    # Seeded by day and supervisor: reloading the page does not reshuffle what one is working through.
    rng = random.Random(f"{dt.date.today().isoformat()}:{g.user.username}")
    picked = rng.sample(list(candidates), min(SAMPLE_SIZE, len(candidates)))
    citizens = db.scalars(select(Citizen).where(Citizen.id.in_(picked))).all() if picked else []
    return render_template(
        "console/qa_sample.html",
        citizens=[(c.id, mask_openid(c.openid), c.last_seen_at) for c in citizens],
        days=days,
        total=len(candidates),
        tz=local_tz(),
    )
