"""Conversation pages: a citizen's whole thread (read mark, status, assignee), QA flags, a random sample, unmasking.

The inbox that lists the threads, and the forms that assign them or set their status, are in pages_inbox.py.
Threads are scoped as cases are (cases/threads.py): a user limited to departments reads only the threads of
citizens with a case of theirs, without the messages of the citizen's other cases.

Photos, voice and video show under their message through signed links (``console.media``, pages_cases.py).

Every text is masked on the server before it is rendered (mobile numbers, ID numbers, bank cards,
OpenIDs). A supervisor may see one thread unmasked for one page view, after giving a reason that
goes to the audit log; nothing unmasked is kept in the session.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random

from flask import abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import and_, exists, func, select
from werkzeug.wrappers import Response

from bot.console.audit import record
from bot.console.auth import allowed, permission
from bot.console.blueprint import bp
from bot.console.common import local_tz
from bot.console.names import INTENTS, message_label, reason_text
from bot.console.pages_cases import as_worker, media_shown, worker
from bot.extensions import console_session
from bot.media import KINDS as MEDIA_KINDS
from bot.media.links import Shown
from cases.loop import is_overdue
from cases.threads import (
    effective_status,
    last_inbound_id,
    mark_seen,
    readable_messages,
    readers,
    state_of,
    thread_cases,
    thread_readable,
)
from models import (
    TRY_OPENID_PREFIX,
    Attachment,
    Case,
    Citizen,
    Direction,
    Message,
    QaFlag,
    ReplyTemplate,
    User,
    utcnow,
)
from replies.variables import DEPARTMENT_NAMES
from text.pii import mask_openid, mask_text

# Department names for display; "none" is what triage says about chit-chat.
DEPARTMENTS = {**DEPARTMENT_NAMES, "none": "无"}
SAMPLE_SIZE = 20
# A thread page shows at most this many messages, the newest.
THREAD_LIMIT = 1000
INTENT_NAMES = INTENTS
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
    template_title: str | None
    responder: str | None
    case_number: str | None
    channel: str = "wechat"


def _day(value: str, end: bool) -> dt.datetime | None:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return None
    start = dt.datetime.combine(day, dt.time.min, tzinfo=local_tz())
    return start + dt.timedelta(days=1) if end else start


def message_text(content: str | None, msg_type: str, event: str | None) -> str:
    """What a message says, or what kind it is when it has no text (〔图片〕, 〔事件：关注〕): never a code."""
    return content or message_label(msg_type, event)


def _readable_citizen(citizen_id: int) -> Citizen:
    """The citizen whose thread the user may read, or 404 (outside their departments: no hint it exists)."""
    db = console_session()
    citizen = db.get(Citizen, citizen_id)
    if citizen is None or not thread_readable(db, worker(), citizen_id):
        abort(404)
    return citizen


def handlers() -> list[User]:
    """Active users who may take threads, by name (the assignee filter and the hand-over list)."""
    users = console_session().scalars(select(User).where(User.is_active.is_(True)).order_by(User.username))
    return [u for u in users if allowed(u, "conversations.handle")]


def colleagues(citizen_id: int) -> list[User]:
    """Who a thread may be given to: active users who take threads and may read this one (its scope)."""
    people = handlers()
    may_read = {w.name for w in readers(console_session(), citizen_id, [as_worker(u) for u in people])}
    return [u for u in people if u.username in may_read]


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
    # The newest messages when a thread is very long: they are the ones being read (and marked read).
    shown = list(db.scalars(readable.order_by(Message.id.desc()).limit(THREAD_LIMIT)))[::-1]
    keys = {m.template_key for m in shown if m.template_key}
    titles = dict(db.execute(select(ReplyTemplate.key, ReplyTemplate.title).where(ReplyTemplate.key.in_(keys))).all())
    lines = [
        Line(
            id=m.id,
            direction=m.direction.value,
            at=m.received_at,
            kind=m.msg_type,
            text=show(m.content) if m.content else message_label(m.msg_type, m.event),
            intent=m.intent,
            department=m.department,
            confidence=(m.confidence_intent, m.confidence_department),
            emergency_kind=m.emergency_kind,
            reasons=[show(reason_text(r)) for r in json.loads(m.reasons or "[]")],
            template=f"{m.template_key}@{m.template_version}" if m.template_key else None,
            template_title=titles.get(m.template_key) if m.template_key else None,
            responder=m.responder,
            case_number=numbers.get(m.case_id) if m.case_id else None,
            channel=m.channel,
        )
        for m in shown
    ]
    flags = db.scalars(select(QaFlag).where(QaFlag.citizen_id == citizen_id).order_by(QaFlag.id)).all()
    return citizen, lines, cases, list(flags), withheld


def _thread_media(lines: list[Line]) -> dict[int, list[Shown]]:
    """The photos, voice and video of the shown messages, by message (the lines are already scoped)."""
    ids = [line.id for line in lines if line.direction == "in" and line.kind in MEDIA_KINDS]
    if not ids:
        return {}
    rows = console_session().execute(
        select(Attachment, Message)
        .join(Message, Message.id == Attachment.message_id)
        .where(Attachment.message_id.in_(ids))
        .order_by(Attachment.id)
    )
    by_message: dict[int, list[Shown]] = {}
    for item in media_shown([(a, m) for a, m in rows]):
        by_message.setdefault(item.message_id, []).append(item)
    return by_message


def _render_thread(citizen_id: int, unmasked: bool) -> str:
    db = console_session()
    citizen, lines, cases, flags, withheld = _thread(citizen_id, unmasked)
    state = state_of(db, citizen_id)
    status = effective_status(state, last_inbound_id(db, citizen_id))
    people = colleagues(citizen_id)
    names = {u.username: u.display_name or u.username for u in people}
    assignee = state.assignee if state else None
    if assignee and assignee not in names:
        holder = db.scalar(select(User.display_name).where(User.username == assignee))
        names[assignee] = holder or assignee
    seen_before = state.seen_message_id if state else 0
    last_shown = max((line.id for line in lines), default=0)
    # Opening the thread is reading it: the team's read mark moves up to what this page shows.
    mark_seen(db, citizen_id, last_shown)
    db.commit()
    return render_template(
        "console/thread.html",
        citizen=citizen,
        openid=citizen.openid if unmasked else mask_openid(citizen.openid),
        is_try=citizen.openid.startswith(TRY_OPENID_PREFIX),
        lines=lines,
        media=_thread_media(lines),
        withheld=withheld,
        cases=cases,
        flags=flags,
        flag_kinds=FLAG_KINDS,
        unmasked=unmasked,
        summary=(lambda s: s) if unmasked else mask_text,
        overdue=lambda c: is_overdue(c, utcnow()),
        status=status,
        assignee=assignee,
        names=names,
        colleagues=people,
        me=g.user.username,
        last_shown=last_shown,
        new_since=seen_before,
        can_handle=allowed(g.user, "conversations.handle"),
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
        f"{FLAG_KINDS[kind]}：{note[:200]}" if note else FLAG_KINDS[kind],
        (request.remote_addr or "")[:64],
    )
    db.commit()
    flash("质检标记已保存。")
    return redirect(url_for("console.thread", citizen_id=citizen_id))


@bp.get("/qa/sample")
@permission("conversations.qa")
def qa_sample() -> str:
    """A random sample of recent conversations not yet checked, the same all day for one supervisor.

    Try-it conversations (staff talking to the bot as a pretend citizen) are not the public's: never sampled.
    """
    db = console_session()
    days = min(max(request.args.get("days", 7, type=int) or 7, 1), 90)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    candidates = db.scalars(
        readable_messages(select(Message.citizen_id), worker())
        .join(Citizen, Citizen.id == Message.citizen_id)
        .where(Message.direction == Direction.IN, Message.received_at >= since)
        .where(~Citizen.openid.startswith(TRY_OPENID_PREFIX))
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
