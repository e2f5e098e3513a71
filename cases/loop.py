"""The 12345 loop for one case: 受理 → 派单 → 办理 → 答复 → 办结 → 回访/评价, with who did what and why.

Rules that hold whatever page or job calls them:

* the first receiver owns a case until a transfer is accepted (首接负责制): proposing a transfer
  changes nothing about ownership, and only someone in the receiving department can accept it;
* a deadline is extended only by a supervisor's approval of a recorded request;
* answering the citizen means choosing a published template and filling whitelisted fields
  (a fixed list of progress phrases, a date) — nothing can be typed into a message; the answer is
  queued for WeChat's customer-service API, inside the 48-hour / 5-message window, and only a
  delivered answer counts (bot replies never do);
* a case is closed only after a person's answer reached the citizen (or it was handed to 110/119/
  120/122, or merged into another); it may be reopened within a configurable window;
* a rating of 1 or 2 (不满意, 非常不满意) opens a revisit task.

Every step adds a :class:`models.CaseEvent`. Functions take a ``Session`` and flush; the caller commits
and, for a returned outbound message, enqueues its delivery after the commit.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.orm import Session

from cases.outbound import queued_message
from cases.reach import service_window
from cases.sla import add_working_days
from models import (
    Case,
    CaseEvent,
    CaseStatus,
    CaseType,
    Message,
    utcnow,
)
from replies.library import Library, NotSendable, Rendered, render_chosen
from replies.variables import DEPARTMENT_NAMES

# Any select statement; the scoping helpers return the same type they are given.
AnySelect = TypeVar("AnySelect", bound=Select[*tuple[Any, ...]])

MIN_PHONE_NOTE = 10
DEFAULT_REOPEN_DAYS = 15
MAX_EXTENSION_DAYS = 30
EMERGENCY_NUMBERS = ("110", "119", "120", "122")
PUBLIC_OPINION_HOURS = (24, 48)
# "Due soon" on the case list and the home page.
DUE_SOON = dt.timedelta(hours=24)
# Templates a person may send as an answer.
ANSWER_PURPOSES = frozenset({"answer", "status", "closing", "survey", "faq", "notice"})
# The only progress a person may report: vetted phrases, not free text.
PROGRESS_CHOICES = (
    "已派单至承办部门",
    "承办部门正在现场核查",
    "承办部门已安排整改",
    "整改已完成",
    "已转交有管辖权的部门办理",
    "经核查，该事项不属于本单位职责范围，已告知受理渠道",
)
# The general acceptance desk (综合受理): its staff dispatch cases to every department.
DISPATCH = "other"
OPEN = frozenset({CaseStatus.ACCEPTED, CaseStatus.ASSIGNED, CaseStatus.IN_PROGRESS, CaseStatus.ANSWERED})
# The same in a fixed order, for ``IN (…)``: the same SQL every time (a set's order varies between processes).
OPEN_ORDERED = tuple(sorted(OPEN, key=lambda s: s.value))
RATINGS = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}


class CaseError(Exception):
    """A step that is not allowed now; ``str()`` is a Chinese message for the person who tried."""


@dataclasses.dataclass(frozen=True)
class Worker:
    """Who acts on a case: name, and the departments they work for (empty = every department)."""

    name: str
    departments: frozenset[str] = frozenset()
    is_supervisor: bool = False

    def covers(self, department: str | None) -> bool:
        """True if this person works for ``department``."""
        return not self.departments or department in self.departments


# -- reading --------------------------------------------------------------------------------------


def in_departments(case: Any, departments: Iterable[str]) -> ColumnElement[bool]:
    """SQL: ``case`` (the model or an alias of it) is owned by, or offered to, one of ``departments``.

    NULL rather than false for a case with no owner and no transfer: negate it with ``.is_not(true())``.
    """
    depts = sorted(departments)
    return or_(case.owner_department.in_(depts), case.transfer_to.in_(depts))


def scoped(query: AnySelect, worker: Worker) -> AnySelect:
    """``query`` over cases restricted to what ``worker`` may see (owned by, or offered to, their departments)."""
    if not worker.departments:
        return query
    return query.where(in_departments(Case, worker.departments))


def visible(session: Session, worker: Worker, case_id: int) -> Case | None:
    """The case if ``worker`` may see it, else None (callers answer 404: no hint it exists)."""
    found: Case | None = session.scalar(scoped(select(Case).where(Case.id == case_id), worker))
    return found


def list_filters(args: Mapping[str, Any], now: dt.datetime) -> list[ColumnElement[bool]]:
    """The case list's filters as SQL conditions (the console's list and its exports share them).

    ``args``: status (several), view=all, type, department, overdue=1, due_soon=1, triage=1,
    revisit=1, transfer=1, q (a case number or words of the summary). Without a status or
    view=all, only open cases.
    """
    getlist = getattr(args, "getlist", lambda k: [args[k]] if k in args else [])
    where: list[ColumnElement[bool]] = []
    chosen = statuses(getlist("status"))
    if chosen:
        where.append(Case.status.in_(chosen))
    elif args.get("view") != "all":
        where.append(Case.status.in_(OPEN_ORDERED))
    if args.get("type") in {t.value for t in CaseType}:
        where.append(Case.case_type == CaseType(args["type"]))
    if args.get("department") in DEPARTMENT_NAMES:
        where.append(Case.owner_department == args["department"])
    if args.get("overdue") == "1":
        where += overdue_where(now)
    if args.get("due_soon") == "1":
        where += [Case.due_at >= now, Case.due_at < now + DUE_SOON, Case.answered_at.is_(None)]
    if args.get("triage") == "1":
        where.append(Case.needs_triage.is_(True))
    if args.get("revisit") == "1":
        where.append(Case.revisit_due.is_(True))
    if args.get("transfer") == "1":
        where.append(Case.transfer_to.is_not(None))
    text = (args.get("q") or "").strip()[:60]
    if text:
        where.append(or_(Case.number == text, Case.summary.contains(text)))
    return where


def is_overdue(case: Case, now: dt.datetime) -> bool:
    """Open past its deadline."""
    return case.status in OPEN and case.answered_at is None and case.due_at < now


def overdue_where(now: dt.datetime) -> list[ColumnElement[bool]]:
    """:func:`is_overdue` as SQL conditions on ``Case`` (the case list, the inbox, reports and figures)."""
    return [Case.status.in_(OPEN_ORDERED), Case.answered_at.is_(None), Case.due_at < now]


# -- the loop --------------------------------------------------------------------------------------


def assign(
    session: Session, case: Case, worker: Worker, department: str, *, user: str | None = None, reason: str = ""
) -> None:
    """派单: send an accepted case to a department (and optionally a person in it).

    Dispatchers (no department scope, or the general acceptance desk, ``other``) send cases
    anywhere; a department's own staff only assign within their departments — moving a case
    elsewhere is a transfer the receiver must accept (首接负责制).
    """
    _owner(case, worker)
    _open(case)
    if department not in DEPARTMENT_NAMES:
        raise CaseError("请选择承办部门")
    if worker.departments and DISPATCH not in worker.departments and department not in worker.departments:
        raise CaseError("转至其他部门请使用“申请转办”，须由对方部门接收")
    if case.transfer_to:
        raise CaseError("该诉求有待接收的转办，请先处理转办")
    before = case.status
    case.owner_department = department
    case.owner_user = user or None
    case.department = department
    case.needs_triage = False
    if case.status is CaseStatus.ACCEPTED:
        case.status = CaseStatus.ASSIGNED
    _event(
        session, case, worker, "assign", before, f"{DEPARTMENT_NAMES[department]}{'/' + user if user else ''} {reason}"
    )


def start(session: Session, case: Case, worker: Worker) -> None:
    """办理: a person in the owning department takes the case."""
    _owner(case, worker)
    if case.status not in (CaseStatus.ACCEPTED, CaseStatus.ASSIGNED):
        raise CaseError("只有已受理或已派单的诉求可以开始办理")
    before = case.status
    case.status = CaseStatus.IN_PROGRESS
    case.owner_user = worker.name
    _event(session, case, worker, "start", before)


def transfer(session: Session, case: Case, worker: Worker, to_department: str, reason: str) -> None:
    """转办: offer the case to another department; the current owner keeps it until they accept."""
    _owner(case, worker)
    _open(case)
    if to_department not in DEPARTMENT_NAMES or to_department == case.owner_department:
        raise CaseError("请选择另一个承办部门")
    _reason(reason, "转办")
    case.transfer_to = to_department
    _event(session, case, worker, "transfer", case.status, f"转至{DEPARTMENT_NAMES[to_department]}：{reason}")


def accept_transfer(session: Session, case: Case, worker: Worker) -> None:
    """The receiving department accepts a transfer and becomes the owner."""
    if not case.transfer_to:
        raise CaseError("该诉求没有待接收的转办")
    if not worker.covers(case.transfer_to):
        raise CaseError("只有接收部门的工作人员可以接收转办")
    before = case.status
    case.owner_department = case.department = case.transfer_to
    case.owner_user = None
    case.transfer_to = None
    if case.status is CaseStatus.IN_PROGRESS:
        case.status = CaseStatus.ASSIGNED
    _event(session, case, worker, "transfer_accept", before, DEPARTMENT_NAMES[case.owner_department])


def decline_transfer(session: Session, case: Case, worker: Worker, reason: str) -> None:
    """退回转办: the receiving department declines; the first receiver still owns the case."""
    if not case.transfer_to:
        raise CaseError("该诉求没有待接收的转办")
    if not worker.covers(case.transfer_to):
        raise CaseError("只有接收部门的工作人员可以退回转办")
    _reason(reason, "退回")
    declined = case.transfer_to
    case.transfer_to = None
    _event(session, case, worker, "transfer_decline", case.status, f"{DEPARTMENT_NAMES[declined]}退回：{reason}")


def request_extension(session: Session, case: Case, worker: Worker, days: int, reason: str) -> None:
    """申请延期: ask a supervisor for more working days, with a reason."""
    _owner(case, worker)
    _open(case)
    if case.sla_unit != "working_days":
        raise CaseError("紧急和舆情诉求按小时计时，不能延期")
    if not 1 <= days <= MAX_EXTENSION_DAYS:
        raise CaseError(f"延期天数须在1至{MAX_EXTENSION_DAYS}个工作日之间")
    if case.extension_days:
        raise CaseError("已有待审批的延期申请")
    _reason(reason, "延期")
    case.extension_days, case.extension_reason = days, reason.strip()
    _event(session, case, worker, "extend_request", case.status, f"{days}个工作日：{reason}")


def decide_extension(
    session: Session, case: Case, worker: Worker, approve: bool, tz: ZoneInfo, comment: str = ""
) -> None:
    """A supervisor approves (the deadline moves by working days) or rejects an extension request."""
    if not worker.is_supervisor:
        raise CaseError("延期须由督查员审批")
    if not case.extension_days:
        raise CaseError("没有待审批的延期申请")
    if approve:
        local_due = case.due_at.astimezone(tz)
        new_day = add_working_days(local_due.date(), case.extension_days)
        case.due_at = dt.datetime.combine(new_day, local_due.timetz()).astimezone(dt.UTC)
        case.sla_amount += case.extension_days
        case.extended = True
    new_due = "，新期限" + case.due_at.astimezone(tz).strftime("%Y-%m-%d") if approve else ""
    detail = f"{case.extension_days}个工作日{new_due}"
    case.extension_days = case.extension_reason = None
    _event(
        session,
        case,
        worker,
        "extend_approve" if approve else "extend_reject",
        case.status,
        f"{detail} {comment}".strip(),
    )


def answer(
    session: Session,
    case: Case,
    worker: Worker,
    library: Library,
    key: str,
    fields: dict[str, str],
    *,
    seen: str | None = None,
    now: dt.datetime | None = None,
    traditional: bool = False,
    notice_template: str = "",
) -> Message:
    """答复: render a published template with whitelisted fields; a queued customer-service message.

    ``seen`` is the digest of the text the person previewed (``preview_answer``): nothing is sent that they did
    not see, word for word. The caller commits and then enqueues the message's delivery. Only a delivered
    message sets ``answered_at`` (the delivery job does).
    """
    now = now or utcnow()
    rendered = preview_answer(
        session, case, worker, library, key, fields, now=now, traditional=traditional, notice_template=notice_template
    )
    if seen is None or not hmac.compare_digest(seen, answer_digest(rendered.text)):
        raise CaseError("请先预览将发送给群众的答复；预览之后内容有变化，须重新预览")
    return _queue(session, case, worker, rendered.text, rendered.template_key, rendered.template_version, now, "answer")


def answer_by_phone(
    session: Session, case: Case, worker: Worker, note: str, *, now: dt.datetime | None = None
) -> None:
    """电话答复: a person answered the citizen on the phone; what they said is recorded, and the case is answered.

    For citizens no written answer can reach (hotline callers, web letters, WeChat past 48 hours): 12345 practice
    answers by phone and keeps a record of it. Nothing is sent, so no template is involved; the note is staff's.
    """
    _owner(case, worker)
    if case.status not in OPEN:
        raise CaseError("诉求已办结或已移交，不能再答复；如需继续办理请先重新打开")
    note = note.strip()
    if len(note) < MIN_PHONE_NOTE:
        raise CaseError(f"请记录电话答复的内容（至少{MIN_PHONE_NOTE}个字）：答复了什么、群众的意见")
    now = now or utcnow()
    before = case.status
    if case.answered_at is None:
        case.answered_at = now
    if case.status in (CaseStatus.ACCEPTED, CaseStatus.ASSIGNED, CaseStatus.IN_PROGRESS):
        case.status = CaseStatus.ANSWERED
    _event(session, case, worker, "answer_phone", before, note)


def answer_digest(text: str) -> str:
    """A short fingerprint of an answer's exact text, carried from its preview to its sending."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def preview_answer(
    session: Session,
    case: Case,
    worker: Worker,
    library: Library,
    key: str,
    fields: dict[str, str],
    *,
    now: dt.datetime | None = None,
    traditional: bool = False,
    notice_template: str = "",
) -> Rendered:
    """The exact text 答复 would send, in the citizen's script, after every check; nothing is written.

    ``notice_template`` (SUBSCRIBE_TEMPLATE_ID): past the 48-hour window, a consent to it lets the answer through.
    """
    now = now or utcnow()
    _owner(case, worker)
    if case.status not in OPEN:
        raise CaseError("诉求已办结或已移交，不能再答复；如需继续办理请先重新打开")
    ok, why = service_window(session, case, now, notice_template=notice_template)
    if not ok:
        raise CaseError(why)
    variables = _answer_variables(case, fields)
    try:
        return render_chosen(library, session, key, variables, purposes=ANSWER_PURPOSES, traditional=traditional)
    except NotSendable as exc:
        raise CaseError(str(exc)) from None


def close(session: Session, case: Case, worker: Worker, reason: str, *, now: dt.datetime | None = None) -> None:
    """办结: only after a person's answer reached the citizen."""
    _owner(case, worker)
    if case.status not in OPEN:
        raise CaseError("该诉求不在办理中")
    if case.answered_at is None:
        raise CaseError("群众尚未收到工作人员的答复，不能办结（自动回复不算答复）")
    before = case.status
    case.status = CaseStatus.CLOSED
    case.closed_at = now or utcnow()
    _event(session, case, worker, "close", before, reason.strip())


def reopen(
    session: Session,
    case: Case,
    worker: Worker,
    reason: str,
    *,
    window_days: int = DEFAULT_REOPEN_DAYS,
    now: dt.datetime | None = None,
) -> None:
    """重新打开 a closed case within the window (e.g. the citizen says the problem is back)."""
    now = now or utcnow()
    if case.status is not CaseStatus.CLOSED or case.closed_at is None:
        raise CaseError("只有已办结的诉求可以重新打开")
    if now - case.closed_at > dt.timedelta(days=window_days):
        raise CaseError(f"办结已超过{window_days}天，请作为新诉求受理")
    _reason(reason, "重新打开")
    case.status = CaseStatus.IN_PROGRESS
    case.closed_at = None
    case.answered_at = None  # a new answer is owed
    case.reopened_count += 1
    _event(session, case, worker, "reopen", CaseStatus.CLOSED, reason.strip())


def merge(session: Session, case: Case, into: Case, worker: Worker, reason: str) -> None:
    """合并: a duplicate is closed into another open case (its citizen keeps their own number)."""
    _owner(case, worker)
    if case.id == into.id or into.status not in OPEN or case.status not in OPEN:
        raise CaseError("只能把办理中的诉求并入另一件办理中的诉求")
    if into.merged_into_id is not None:
        raise CaseError("目标诉求本身已被合并")
    _reason(reason, "合并")
    before = case.status
    case.status = CaseStatus.MERGED
    case.merged_into_id = into.id
    case.closed_at = utcnow()
    _event(session, case, worker, "merge", before, f"并入{into.number}：{reason}")
    _event(session, into, worker, "merged_from", into.status, f"{case.number}并入本件")


def hand_over(session: Session, case: Case, worker: Worker, number: str, note: str = "") -> None:
    """移交: an emergency goes to 110/119/120/122, not to a case queue."""
    if number not in EMERGENCY_NUMBERS:
        raise CaseError("请选择110、119、120或122")
    if case.status not in OPEN:
        raise CaseError("该诉求不在办理中")
    before = case.status
    case.status = CaseStatus.HANDED_OVER
    case.handed_to = number
    case.closed_at = utcnow()
    _event(session, case, worker, "hand_over", before, f"已移交{number} {note}".strip())


def flag_public_opinion(
    session: Session, case: Case, worker: Worker, hours: int, reason: str, *, now: dt.datetime | None = None
) -> None:
    """舆情: put the case on a 24- or 48-hour clock (never later than its current deadline)."""
    if hours not in PUBLIC_OPINION_HOURS:
        raise CaseError("舆情时限只能是24或48小时")
    _open(case)
    _reason(reason, "舆情标记")
    now = now or utcnow()
    case.public_opinion = True
    case.due_at = min(case.due_at, now + dt.timedelta(hours=hours))
    case.sla_amount, case.sla_unit = hours, "hours"
    _event(session, case, worker, "public_opinion", case.status, f"{hours}小时：{reason}")


def rate(session: Session, case: Case, rating: int, *, by: str = "citizen") -> None:
    """评价: five levels; a bad rating (不满意, 非常不满意) opens a revisit task."""
    if rating not in RATINGS:
        raise CaseError("评价须为1至5")
    if case.status not in (CaseStatus.CLOSED, CaseStatus.ANSWERED):
        raise CaseError("诉求答复后才能评价")
    case.rating, case.rated_at = rating, utcnow()
    case.revisit_due = rating <= 2
    session.add(
        CaseEvent(
            case_id=case.id,
            actor=by,
            action="rate",
            from_status=case.status.value,
            to_status=case.status.value,
            detail=RATINGS[rating],
        )
    )
    session.flush()


def revisit(session: Session, case: Case, worker: Worker, note: str) -> None:
    """回访: record the follow-up call after a bad rating."""
    if not case.revisit_due:
        raise CaseError("该诉求没有待回访任务")
    _reason(note, "回访")
    case.revisit_due = False
    _event(session, case, worker, "revisit", case.status, note.strip())


def satisfaction_prompt(
    session: Session,
    case: Case,
    worker: Worker,
    library: Library,
    *,
    now: dt.datetime | None = None,
    traditional: bool = False,
) -> Message | None:
    """After closing: the five-level satisfaction prompt, if the window still allows a message."""
    now = now or utcnow()
    ok, _ = service_window(session, case, now)
    if not ok:
        return None
    try:
        rendered = render_chosen(
            library, session, "satisfaction_prompt", {"case_number": case.number}, traditional=traditional
        )
    except NotSendable:
        return None
    return _queue(session, case, worker, rendered.text, rendered.template_key, rendered.template_version, now, "survey")


# -- helpers -----------------------------------------------------------------------------------


def _answer_variables(case: Case, fields: dict[str, str]) -> dict[str, Any]:
    variables: dict[str, Any] = {
        "case_number": case.number,
        "department": case.owner_department,
        "deadline": case.due_at,
    }
    progress = fields.get("progress")
    if progress:
        if progress not in PROGRESS_CHOICES:
            raise CaseError("办理进度只能从列表中选择")
        variables["progress"] = progress
    if fields.get("date"):
        try:
            variables["date"] = dt.date.fromisoformat(fields["date"])
        except ValueError:
            raise CaseError("日期格式应为YYYY-MM-DD") from None
    return variables


def _queue(
    session: Session, case: Case, worker: Worker, text: str, key: str, version: int, now: dt.datetime, action: str
) -> Message:
    message = queued_message(case.citizen_id, text, key, version, worker.name, now, case_id=case.id)
    session.add(message)
    session.flush()
    _event(session, case, worker, action, case.status, f"{key}@{version}（待发送）")
    return message


def _owner(case: Case, worker: Worker) -> None:
    if not worker.covers(case.owner_department):
        raise CaseError("该诉求不归您所在的部门办理")


def _open(case: Case) -> None:
    if case.status not in OPEN:
        raise CaseError("该诉求已办结、合并或移交")


def _reason(text: str, what: str) -> None:
    if len(text.strip()) < 2:
        raise CaseError(f"{what}须填写理由")


def _event(
    session: Session, case: Case, worker: Worker, action: str, before: CaseStatus | None, detail: str = ""
) -> None:
    case.updated_at = utcnow()
    session.add(
        CaseEvent(
            case_id=case.id,
            actor=worker.name,
            action=action,
            from_status=before.value if before else None,
            to_status=case.status.value,
            detail=detail[:2000],
        )
    )
    session.flush()


def statuses(values: Iterable[str]) -> list[CaseStatus]:
    """CaseStatus members for the given values, ignoring unknown ones (for filters)."""
    known = {s.value: s for s in CaseStatus}
    return [known[v] for v in values if v in known]


@dataclasses.dataclass(frozen=True)
class DigestLine:
    """One open case in the daily digest."""

    number: str
    department: str
    due_at: dt.datetime
    overdue: bool


def digest(session: Session, now: dt.datetime, tz: ZoneInfo) -> list[DigestLine]:
    """Open cases without a person's answer that are overdue or due by the end of the next working day."""
    from cases.sla import is_workday

    day = now.astimezone(tz).date() + dt.timedelta(days=1)
    while not is_workday(day):
        day += dt.timedelta(days=1)
    horizon = dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=tz).astimezone(dt.UTC)
    rows = session.execute(
        select(Case.number, Case.owner_department, Case.due_at)
        .where(Case.status.in_(list(OPEN)), Case.answered_at.is_(None), Case.due_at <= horizon)
        .order_by(Case.owner_department, Case.due_at)
    ).all()
    return [DigestLine(r.number, r.owner_department, r.due_at, r.due_at < now) for r in rows]
