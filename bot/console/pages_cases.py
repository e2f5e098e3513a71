"""Case pages: the queue with overdue and due-soon views, one case through the loop, answers via WeChat.

Users see the cases of their departments (all, when they have none set). The rules live in
cases/loop.py; a view loads the case (404 outside the user's scope), runs one step, commits,
and only then queues any customer-service message for delivery.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from bot.console.auth import permission
from bot.console.blueprint import bp
from bot.console.common import STATUS_NAMES, local_tz
from bot.console.names import event_detail, message_label, template_titles
from bot.extensions import console_session, services
from cases import loop
from cases.loop import ANSWER_PURPOSES, PROGRESS_CHOICES, CaseError, Worker
from models import Case, CaseEvent, Message, User
from replies.variables import CASE_TYPE_NAMES, DEPARTMENT_NAMES
from text.normalize import normalize
from text.pii import mask_openid, mask_text

log = logging.getLogger(__name__)

PAGE_SIZE = 50
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
            db, item, worker(), services().library, form.get("template", ""), fields, traditional=_traditional(item)
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
    window_ok, window_why = loop.service_window(db, item, now)
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
        ),
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
