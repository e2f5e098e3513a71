"""Case pages: the queue with overdue and due-soon views, one case through the loop, answers via WeChat.

Users see the cases of their departments (all, when they have none set). The rules live in
cases/loop.py; a view loads the case (404 outside the user's scope), runs one step, commits,
and only then queues any customer-service message for delivery.

Citizens' photos, voice and video (``bot/media``) show on the case and in the thread through short-lived links
signed for the signed-in user; ``console.media`` serves them after checking again that the user may see the
case or the message, and writes every original it serves to the audit log.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import redis
from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from sqlalchemy import func, or_, select
from werkzeug.wrappers import Response

from bot.console.audit import record
from bot.console.auth import allowed, permission
from bot.console.blueprint import bp
from bot.console.common import STATUS_NAMES, local_tz
from bot.console.names import CASE_EVENTS, event_detail, message_label, template_titles
from bot.extensions import console_session, services
from bot.media import derived_type, pending_storage
from bot.media.links import KIND_NAMES, LinkRefused, Shown, shown, sign, storage_key, verify
from bot.media.storage import StorageUnavailable, storage_for
from bot.redis_store import first_in_window
from cases import loop, reach
from cases.loop import ANSWER_PURPOSES, PROGRESS_CHOICES, CaseError, Worker
from cases.threads import readable_messages
from models import Attachment, Case, CaseEvent, Message, User
from replies.variables import CASE_TYPE_NAMES, DEPARTMENT_NAMES
from text.normalize import normalize
from text.pii import mask_openid, mask_text

log = logging.getLogger(__name__)

PAGE_SIZE = 50
# Requests for one original by one user within this many seconds are one viewing in the audit log.
ORIGINAL_VIEW_SECONDS = 300
# The first bytes of a derived copy tell its type (bot.media.derived_type).
SNIFF_BYTES = 64
TYPE_NAMES = CASE_TYPE_NAMES  # what a case is (the names citizens see too)
EVENT_NAMES = {
    "assign": "派单",
    "start": "开始办理",
    "transfer": "申请转办",
    "transfer_accept": "接收转办",
    "transfer_decline": "退回转办",
    "extend_request": "申请延期",
    "extend_approve": "批准延期",
    "extend_reject": "驳回延期",
    "answer": "答复（待发送）",
    "answer_sent": "答复已送达",
    "answer_failed": "答复发送失败",
    "survey_sent": "评价邀请已送达",
    "survey_failed": "评价邀请发送失败",
    "accept": "受理",
    "survey": "满意度评价邀请",
    "close": "办结",
    "reopen": "重新打开",
    "merge": "合并",
    "merged_from": "并入重复诉求",
    "hand_over": "移交",
    "public_opinion": "舆情标记",
    "rate": "群众评价",
    "revisit": "回访",
    "answer_phone": "电话答复",
    **CASE_EVENTS,  # 订阅通知: consent given, declined, revoked, used (bot/console/names.py)
}

# Page actions whose names differ from the events they record.
ACTION_NAMES = {
    **EVENT_NAMES,
    "accept_transfer": "接收转办",
    "decline_transfer": "退回转办",
    "extend": "申请延期",
    "extension_approve": "批准延期",
    "extension_reject": "驳回延期",
}


def as_worker(user: User) -> Worker:
    """Any console user as cases/loop.py sees them."""
    return Worker(user.username, frozenset(d for d in user.departments.split(",") if d), "supervisor" in user.role_set)


def worker() -> Worker:
    """The signed-in user as cases/loop.py sees them."""
    return as_worker(g.user)


def _case_or_404(case_id: int) -> Case:
    case = loop.visible(console_session(), worker(), case_id)
    if case is None:
        abort(404)
    return case


@bp.get("/cases")
@permission("cases.read")
def cases() -> str:
    """Cases in the user's scope: overdue, due soon, waiting for triage or revisit; by status, type, department."""
    args = request.args
    now = dt.datetime.now(dt.UTC)
    query = loop.scoped(select(Case), worker()).where(*loop.list_filters(args, now))
    page = max(1, args.get("page", 1, type=int) or 1)
    rows = (
        console_session()
        .scalars(query.order_by(Case.due_at, Case.id).limit(PAGE_SIZE + 1).offset((page - 1) * PAGE_SIZE))
        .all()
    )
    return render_template(
        "console/cases.html",
        rows=rows[:PAGE_SIZE],
        more=len(rows) > PAGE_SIZE,
        page=page,
        args=args,
        now=now,
        statuses=STATUS_NAMES,
        types=TYPE_NAMES,
        departments=DEPARTMENT_NAMES,
        tz=local_tz(),
        mask=mask_text,
        overdue=lambda c: loop.is_overdue(c, now),
    )


@bp.get("/cases/<int:case_id>")
@permission("cases.read")
def case(case_id: int) -> str:
    """One case: summary, deadline, owner, pending transfer or extension, history, messages, next steps."""
    return _render_case(_case_or_404(case_id))


@bp.post("/cases/<int:case_id>/preview-answer")
@permission("cases.handle")
def case_preview_answer(case_id: int) -> Response | str:
    """The exact text an answer would send, as the citizen's phone will show it, with the button that sends it."""
    db = console_session()
    item = _case_or_404(case_id)
    form = request.form
    fields = {"progress": form.get("progress", ""), "date": form.get("date", "")}
    try:
        rendered = loop.preview_answer(
            db,
            item,
            worker(),
            services().library,
            form.get("template", ""),
            fields,
            traditional=_traditional(item),
            notice_template=current_app.config["SUBSCRIBE_TEMPLATE_ID"],
        )
    except CaseError as exc:
        flash(str(exc), "error")
        return redirect(url_for("console.case", case_id=case_id))
    preview = {"text": rendered.text, "template": rendered.template_key, "seen": loop.answer_digest(rendered.text)}
    return _render_case(item, preview={**preview, **fields})


def _traditional(item: Case) -> bool:
    """True when the citizen wrote the opening message in Traditional characters: answers go out in kind."""
    opening = console_session().get(Message, item.opening_message_id) if item.opening_message_id else None
    return bool(opening and opening.content and normalize(opening.content).traditional)


def _render_case(item: Case, preview: dict[str, str] | None = None) -> str:
    db = console_session()
    now = dt.datetime.now(dt.UTC)
    history = db.scalars(select(CaseEvent).where(CaseEvent.case_id == item.id).order_by(CaseEvent.id)).all()
    messages = db.scalars(
        select(Message).where(Message.citizen_id == item.citizen_id).order_by(Message.id.desc()).limit(30)
    ).all()
    window_ok, window_why = reach.service_window(
        db, item, now, notice_template=current_app.config["SUBSCRIBE_TEMPLATE_ID"]
    )
    answer_templates = sorted(
        (p for p in services().library.published(db, None).values() if p.purpose in ANSWER_PURPOSES),
        key=lambda p: (p.purpose, p.key),
    )
    citizen = db.get(Message, item.opening_message_id) if item.opening_message_id else None
    duplicates = db.scalars(
        loop.scoped(select(Case), worker())
        .where(Case.id != item.id, Case.status.in_(list(loop.OPEN)), Case.department == item.department)
        .order_by(Case.id.desc())
        .limit(20)
    ).all()
    return render_template(
        "console/case.html",
        case=item,
        media=case_media(item),
        history=history,
        messages=list(reversed(messages)),
        now=now,
        statuses=STATUS_NAMES,
        types=TYPE_NAMES,
        departments=DEPARTMENT_NAMES,
        events=EVENT_NAMES,
        tz=local_tz(),
        mask=mask_text,
        window_ok=window_ok,
        window_why=window_why,
        answer_templates=answer_templates,
        progress_choices=PROGRESS_CHOICES,
        overdue=loop.is_overdue(item, now),
        worker=worker(),
        opening=citizen,
        citizen_openid=mask_openid(_openid(item)),
        duplicates=duplicates,
        ratings=loop.RATINGS,
        emergency_numbers=loop.EMERGENCY_NUMBERS,
        preview=preview,
        titles=template_titles(db),
        event_detail=event_detail,
        message_label=message_label,
    )


def _openid(item: Case) -> str:
    from models import Citizen

    return console_session().scalar(select(Citizen.openid).where(Citizen.id == item.citizen_id)) or ""


# -- citizens' photos, voice and video --------------------------------------------------------------


def _media_url(attachment_id: int, part: str) -> str:
    token = sign(current_app.config["SECRET_KEY"], attachment_id, part, g.user.username)
    return url_for("console.media", t=token)


def media_shown(rows: list[tuple[Attachment, Message]]) -> list[Shown]:
    """Attachments as a page shows them, with links signed for the signed-in user (image originals: supervisors)."""
    return shown(rows, _media_url, originals=allowed(g.user, "conversations.unmask"), mask=mask_text)


def case_media(item: Case) -> list[Shown]:
    """The attachments of a case: linked to it, or sent with one of its messages."""
    rows = console_session().execute(
        select(Attachment, Message)
        .join(Message, Message.id == Attachment.message_id)
        .where(or_(Attachment.case_id == item.id, Message.case_id == item.id))
        .order_by(Message.received_at, Attachment.id)
    )
    return media_shown([(a, m) for a, m in rows])


def _may_see(row: Attachment) -> bool:
    db, w = console_session(), worker()
    if row.case_id is not None and loop.visible(db, w, row.case_id) is not None:
        return True
    # The message's own rule (its thread is ours, and it opened no other department's case) covers the thread's.
    return db.scalar(readable_messages(select(Message.id).where(Message.id == row.message_id), w)) is not None


@bp.get("/media")
@permission("cases.read")
def media() -> Response:
    """One part of an attachment, for a signed link of this user that has not expired (404 otherwise)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        target = verify(app.config["SECRET_KEY"], request.args.get("t", ""), app.config["MEDIA_URL_SECONDS"])
    except LinkRefused:
        abort(404)
    db = console_session()
    row = db.get(Attachment, target.attachment_id)
    if target.user != g.user.username or row is None or row.purged_at is not None or not _may_see(row):
        abort(404)
    original = target.part == "original"
    if original and row.kind == "image" and not allowed(g.user, "conversations.unmask"):
        abort(403)  # the original photo carries where it was taken
    key = storage_key(row, target.part)
    if key is None:
        abort(404)
    head, size = _read(app, key, 0, SNIFF_BYTES)
    if original and _first_view(app, row.id):
        # One entry per viewing (every request counts, whatever its Range), not per range request while seeking.
        number = db.scalar(select(Case.number).where(Case.id == row.case_id)) if row.case_id else None
        detail = f"{KIND_NAMES.get(row.kind, '附件')}原件 SHA-256 {(row.content_hash or '')[:16]}"
        detail += f"，诉求 {number}" if number else f"，消息 {row.message_id}"
        record(db, g.user.username, "media.original", f"attachment:{row.id}", detail, (request.remote_addr or "")[:64])
        db.commit()
    content_type = (row.content_type if original else derived_type(head)) or "application/octet-stream"
    # One byte range of a non-empty object is served as asked; several ranges, or any range of an empty object,
    # get the whole object (a 200 is always a valid answer to a Range request).
    asked = request.range if request.range is not None and len(request.range.ranges) == 1 and size else None
    wanted = asked.range_for_length(size) if asked is not None else None
    if asked is not None and wanted is None:
        response = Response(status=416)
        response.headers["Content-Range"] = f"bytes */{size}"
        return response
    # Only the bytes asked for are read from the store: a player seeking in a long recording asks many times.
    start, stop = wanted or (0, size)
    data = head[start:stop] if stop <= len(head) else _read(app, key, start, stop - start)[0]
    response = Response(data, status=206 if wanted else 200, mimetype=content_type)
    if wanted:
        response.headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    response.headers["Accept-Ranges"] = "bytes"
    playable = content_type.startswith(("image/", "audio/", "video/"))
    response.headers["Content-Disposition"] = "inline" if playable else f'attachment; filename="attachment-{row.id}"'
    return response


def _first_view(app: Any, attachment_id: int) -> bool:
    """True unless this user was served this original in the last few minutes (then the entry exists already)."""
    key = f"{app.config['REDIS_NAMESPACE']}:media-viewed:{g.user.username}:{attachment_id}"
    try:
        return first_in_window(services(app).redis, key, ORIGINAL_VIEW_SECONDS)
    except redis.RedisError:
        return True  # Redis away: an entry per request rather than none


def _read(app: Any, key: str, start: int, length: int) -> tuple[bytes, int]:
    """Part of the object and its size, from the store or from this host's held files while the store is away."""
    try:
        return storage_for(app).get_range(key, start, length)
    except (KeyError, StorageUnavailable) as exc:
        try:
            return pending_storage(app).get_range(key, start, length)
        except KeyError:
            if isinstance(exc, KeyError):
                abort(404)
            log.warning("attachment %s unreadable: %s", key, exc)
            abort(503, "附件暂时无法读取（对象存储不可用），请稍后再试")


# -- steps ----------------------------------------------------------------------------------------


def _handle_actions() -> dict[str, Callable[[Any, Case, Worker], Message | None]]:
    form = request.form
    lib = services().library

    def merge(db: Any, item: Case, w: Worker) -> None:
        target = loop.visible(db, w, form.get("into", type=int) or 0)
        if target is None:
            raise CaseError("请选择要并入的诉求")
        loop.merge(db, item, target, w, form.get("reason", ""))

    return {
        "assign": lambda db, c, w: loop.assign(db, c, w, form.get("department", ""), reason=form.get("reason", "")),
        "start": lambda db, c, w: loop.start(db, c, w),
        "transfer": lambda db, c, w: loop.transfer(db, c, w, form.get("department", ""), form.get("reason", "")),
        "accept_transfer": lambda db, c, w: loop.accept_transfer(db, c, w),
        "decline_transfer": lambda db, c, w: loop.decline_transfer(db, c, w, form.get("reason", "")),
        "extend": lambda db, c, w: loop.request_extension(
            db, c, w, form.get("days", 0, type=int) or 0, form.get("reason", "")
        ),
        "answer": lambda db, c, w: loop.answer(
            db,
            c,
            w,
            lib,
            form.get("template", ""),
            {"progress": form.get("progress", ""), "date": form.get("date", "")},
            seen=form.get("seen") or None,
            traditional=_traditional(c),
            notice_template=current_app.config["SUBSCRIBE_TEMPLATE_ID"],
        ),
        "answer_phone": lambda db, c, w: loop.answer_by_phone(db, c, w, form.get("note", "")),
        "close": _close,
        "merge": merge,
        "hand_over": lambda db, c, w: loop.hand_over(db, c, w, form.get("number", ""), form.get("note", "")),
    }


def _close(db: Any, item: Case, w: Worker) -> Message | None:
    loop.close(db, item, w, request.form.get("reason", ""))
    return loop.satisfaction_prompt(db, item, w, services().library)


def _supervise_actions() -> dict[str, Callable[[Any, Case, Worker], Message | None]]:
    form = request.form
    tz = local_tz()
    return {
        "extension_approve": lambda db, c, w: loop.decide_extension(db, c, w, True, tz, form.get("comment", "")),
        "extension_reject": lambda db, c, w: loop.decide_extension(db, c, w, False, tz, form.get("comment", "")),
        "public_opinion": lambda db, c, w: loop.flag_public_opinion(
            db, c, w, form.get("hours", 0, type=int) or 0, form.get("reason", "")
        ),
        "revisit": lambda db, c, w: loop.revisit(db, c, w, form.get("note", "")),
        "reopen": lambda db, c, w: loop.reopen(
            db, c, w, form.get("reason", ""), window_days=current_app.config["CASE_REOPEN_DAYS"]
        ),
    }


def _step(case_id: int, actions: dict[str, Callable[[Any, Case, Worker], Message | None]], action: str) -> Response:
    do = actions.get(action)
    if do is None:
        abort(404)
    db = console_session()
    item = _case_or_404(case_id)
    try:
        message = do(db, item, worker())
    except CaseError as exc:
        db.rollback()
        flash(str(exc), "error")
        return redirect(url_for("console.case", case_id=case_id))
    db.commit()
    if message is not None:
        _deliver(message.id)
    flash("已完成：" + ACTION_NAMES.get(action, action))
    return redirect(url_for("console.case", case_id=case_id))


def _deliver(message_id: int) -> None:
    # After the commit: the job reads the row the commit made visible.
    try:
        from bot.jobs import enqueue_delivery
    except ImportError:  # pragma: no cover (the delivery module ships with the console)
        log.error("delivery jobs unavailable; message %s stays queued", message_id)
        return
    enqueue_delivery(current_app._get_current_object(), message_id)  # type: ignore[attr-defined]


@bp.post("/cases/<int:case_id>/act/<action>")
@permission("cases.handle")
def case_act(case_id: int, action: str) -> Response:
    """A step of the person handling the case (assign, start, transfer, answer, close …)."""
    return _step(case_id, _handle_actions(), action)


@bp.post("/cases/<int:case_id>/supervise/<action>")
@permission("cases.supervise")
def case_supervise(case_id: int, action: str) -> Response:
    """A supervisor's step (approve an extension, flag public opinion, revisit, reopen)."""
    return _step(case_id, _supervise_actions(), action)


def counts(now: dt.datetime) -> dict[str, int]:
    """How many cases in the user's scope the list's overdue and due-soon views hold (for the home page)."""
    db = console_session()

    def count(view: str) -> int:
        query = loop.scoped(select(func.count()).select_from(Case), worker())
        return db.scalar(query.where(*loop.list_filters({view: "1"}, now))) or 0

    return {"overdue": count("overdue"), "due_soon": count("due_soon")}
