"""Every export of citizens' data: messages and cases as CSV, JSONL or XLSX, masked, audited.

Two sources of rows. The command line (``python -m bot export``) writes every message or case in id
order with English field names (:func:`export_to`; :func:`export_rows` gives the rows alone). The
console exports the case list as staff filter it, in their department scope, with Chinese headers and
local times (:func:`case_export`); a supervisor may ask for the unmasked file, with a reason.

Personal data (OpenIDs, mobile and ID numbers in text) is masked on the server unless the unmasked
file was asked for. Every export is audited: the console's before the first row leaves, the command
line's with the number of rows written.

Citizens' photos, voice and video are listed by kind and SHA-256 (``image:<hash>``; ``voice:failed`` when the file
could not be fetched): the hash identifies the file in the unit's storage without the file leaving with the export.

A spreadsheet runs a cell that starts like a formula (``=HYPERLINK(...)`` in a citizen's message):
every CSV cell goes through :func:`csv_cell`, the one guard. XLSX cells need no quote because every
one is written as typed text, which a spreadsheet never evaluates; JSONL is not opened by spreadsheets.
"""

from __future__ import annotations

import csv
import datetime as dt
import getpass
import io
import json
from collections.abc import Iterator, Mapping
from typing import IO, Any
from zoneinfo import ZoneInfo

from flask import Flask, current_app, flash, g, redirect, request, url_for
from sqlalchemy import ColumnElement, func, select
from werkzeug.wrappers import Response

from bot.console.audit import record
from bot.console.common import STATUS_NAMES, local_tz
from bot.console.pages_cases import TYPE_NAMES
from bot.console.pages_conversations import DEPARTMENTS
from bot.extensions import console_session, services
from cases import loop
from cases.loop import Worker
from models import Attachment, AuditEntry, Case, Citizen, Message, utcnow
from replies.variables import CHANNEL_NAMES
from text.pii import mask_openid, mask_text

# -- the one guard ------------------------------------------------------------------------------------


def csv_cell(value: Any) -> Any:
    """One CSV cell: ``None`` as empty, and text a spreadsheet would run as a formula quoted with ``'``."""
    # A citizen's "=HYPERLINK(...)" must stay text when staff open the export in a spreadsheet.
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


# -- the command line: every message or case ----------------------------------------------------------

MESSAGE_FIELDS = [
    "id",
    "direction",
    "msg_id",
    "openid",
    "msg_type",
    "event",
    "content",
    "created_at",
    "template_id",
    "template_version",
    "responder",
    "in_reply_to",
    "case_number",
    "channel",
    "attachments",
]
CASE_FIELDS = [
    "number",
    "case_type",
    "status",
    "department",
    "is_urgent",
    "emergency_kind",
    "needs_triage",
    "openid",
    "summary",
    "opened_at",
    "due_at",
    "sla",
    "owner_department",
    "owner_user",
    "closed_at",
    "channel",
    "attachments",
]


def export_rows(app: Flask, kind: str) -> tuple[Iterator[dict[str, Any]], list[str]]:
    """Rows of ``kind`` ("messages" or "cases") in id order, and their field names."""
    session = services(app).sessions()
    if kind == "messages":
        return _messages(session), MESSAGE_FIELDS
    return _cases(session), CASE_FIELDS


def attachment_lists(session: Any, by: Any, where: Any = None) -> dict[int, str]:
    """``kind:sha256`` of every attachment, space-separated, by message or case id (``by`` is the column)."""
    stmt = select(by, Attachment.kind, Attachment.content_hash, Attachment.status).where(by.is_not(None))
    if where is not None:
        stmt = stmt.where(where)
    lists: dict[int, list[str]] = {}
    for owner, kind, digest, status in session.execute(stmt.order_by(Attachment.id)):
        lists.setdefault(owner, []).append(f"{kind}:{digest or status}")
    return {owner: " ".join(items) for owner, items in lists.items()}


def _messages(session: Any) -> Iterator[dict[str, Any]]:
    with session:
        files = attachment_lists(session, Attachment.message_id)
        stmt = (
            select(Message, Citizen.openid, Case.number)
            .join(Citizen, Citizen.id == Message.citizen_id)
            .outerjoin(Case, Case.id == Message.case_id)
            .order_by(Message.id)
            .execution_options(yield_per=500)
        )
        for msg, openid, case_number in session.execute(stmt):
            yield {
                "id": msg.id,
                "direction": msg.direction.value,
                "msg_id": msg.wechat_msg_id,
                "openid": mask_openid(openid),
                "msg_type": msg.msg_type,
                "event": msg.event,
                "content": mask_text(msg.content),
                "created_at": _iso(msg.created_at),
                "template_id": msg.template_key,
                "template_version": msg.template_version,
                "responder": msg.responder,
                "in_reply_to": msg.in_reply_to_id,
                "case_number": case_number,
                "channel": msg.channel,
                "attachments": files.get(msg.id, ""),
            }


def _cases(session: Any) -> Iterator[dict[str, Any]]:
    with session:
        files = attachment_lists(session, Attachment.case_id)
        stmt = (
            select(Case, Citizen.openid)
            .join(Citizen, Citizen.id == Case.citizen_id)
            .order_by(Case.id)
            .execution_options(yield_per=500)
        )
        for case, openid in session.execute(stmt):
            yield {
                "number": case.number,
                "case_type": case.case_type.value,
                "status": case.status.value,
                "department": case.department,
                "is_urgent": case.is_urgent,
                "emergency_kind": case.emergency_kind,
                "needs_triage": case.needs_triage,
                "openid": mask_openid(openid),
                "summary": mask_text(case.summary),
                "opened_at": _iso(case.opened_at),
                "due_at": _iso(case.due_at),
                "sla": f"{case.sla_amount} {case.sla_unit}",
                "owner_department": case.owner_department,
                "owner_user": case.owner_user,
                "closed_at": _iso(case.closed_at),
                "channel": case.channel,
                "attachments": files.get(case.id, ""),
            }


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _write_records(stream: IO[str], rows: Iterator[dict[str, Any]], fields: list[str], fmt: str) -> int:
    """Write ``rows`` to ``stream`` as CSV (a header, then guarded cells) or JSONL; the number written."""
    count = 0
    if fmt == "csv":
        writer = csv.DictWriter(stream, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: csv_cell(v) for k, v in row.items()})
            count += 1
    else:
        for row in rows:
            stream.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def export_to(app: Flask, kind: str, fmt: str, stream: IO[str], *, destination: str) -> int:
    """Write every ``kind`` record, masked, to ``stream``, then audit it (the shell user, rows, ``destination``)."""
    rows, fields = export_rows(app, kind)
    count = _write_records(stream, rows, fields, fmt)
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    with services(app).sessions() as session:
        session.add(
            AuditEntry(
                actor=f"shell:{who}"[:80],
                action="export",
                target=kind,
                source="cli",
                detail=f"{count}行，{fmt.upper()}，已脱敏，写入{destination}",
            )
        )
        session.commit()
    return count


# -- the console: the case list as staff filter it ----------------------------------------------------

XLSX_MAX_ROWS = 100_000
CSV_FLUSH_ROWS = 500
RATING_NAMES = loop.RATINGS
CASE_SHEET_FIELDS = (
    "受理编号", "类型", "状态", "承办部门", "承办人", "群众OpenID", "诉求摘要", "受理时间", "答复期限",
    "答复送达时间", "办结时间", "是否超期", "评价", "渠道", "附件（SHA-256）",
)  # fmt: skip
FILTER_KEYS = ("status", "view", "type", "department", "overdue", "due_soon", "triage", "revisit", "transfer", "q")


def case_list_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """The case list's filters in ``args``, as ``url_for`` keywords (for links and redirects that keep them)."""
    getlist = getattr(args, "getlist", lambda k: [args[k]] if k in args else [])
    return {k: getlist(k) for k in FILTER_KEYS if args.get(k)}


def _filter_text(args: Mapping[str, Any]) -> str:
    getlist = getattr(args, "getlist", lambda k: [args[k]] if k in args else [])
    shown = {k: getlist(k) if k == "status" else args.get(k) for k in FILTER_KEYS if args.get(k)}
    return json.dumps(shown, ensure_ascii=False, sort_keys=True) if shown else "{}（默认：办理中）"


def _local(value: dt.datetime | None, tz: ZoneInfo) -> str:
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value else ""


def _case_sheet_rows(
    who: Worker, where: list[ColumnElement[bool]], unmasked: bool, tz: ZoneInfo, now: dt.datetime
) -> Iterator[list[str]]:
    """The export's rows, read in batches from a session of their own (a CSV is streamed after the view returns)."""
    stmt = (
        loop.scoped(select(Case, Citizen.openid).join(Citizen, Citizen.id == Case.citizen_id), who)
        .where(*where)
        .order_by(Case.due_at, Case.id)
        .execution_options(yield_per=1000)
    )
    show_text = (lambda s: s) if unmasked else mask_text
    show_openid = (lambda s: s) if unmasked else mask_openid
    with services().sessions() as session:
        scoped_ids = loop.scoped(select(Case.id), who).where(*where)
        files = attachment_lists(session, Attachment.case_id, Attachment.case_id.in_(scoped_ids))
        for item, openid in session.execute(stmt):
            yield [
                item.number,
                TYPE_NAMES.get(item.case_type.value, item.case_type.value),
                STATUS_NAMES.get(item.status.value, item.status.value),
                DEPARTMENTS.get(item.owner_department, item.owner_department),
                item.owner_user or "",
                show_openid(openid or ""),
                show_text(item.summary or ""),
                _local(item.opened_at, tz),
                _local(item.due_at, tz),
                _local(item.answered_at, tz),
                _local(item.closed_at, tz),
                "是" if loop.is_overdue(item, now) else "",
                RATING_NAMES.get(item.rating, "") if item.rating else "",
                CHANNEL_NAMES.get(item.channel, item.channel),
                files.get(item.id, ""),
            ]


def case_export(who: Worker, args: Mapping[str, Any], fmt: str, *, unmasked: bool, reason: str = "") -> Response:
    """The case list (filters ``args``, scope ``who``) as a CSV or XLSX download, audited before it leaves.

    An XLSX of more than :data:`XLSX_MAX_ROWS` rows is refused (a flash and a redirect to the list).
    """
    if fmt not in ("csv", "xlsx"):
        fmt = "csv"
    now = utcnow()
    tz = local_tz()
    where = loop.list_filters(args, now)
    db = console_session()
    rows = db.scalar(loop.scoped(select(func.count()).select_from(Case), who).where(*where)) or 0
    if fmt == "xlsx" and rows > XLSX_MAX_ROWS:
        flash(f"Excel导出最多{XLSX_MAX_ROWS}行（当前{rows}行）：请缩小筛选范围，或导出CSV。", "error")
        return redirect(url_for("console.cases", **case_list_args(args)))
    # In Chinese: the audit log is read by supervisors (the filters stay as the page's parameters).
    detail = f"{fmt.upper()}，{rows}行，{'含个人信息' if unmasked else '已脱敏'}，筛选条件：{_filter_text(args)}"
    if unmasked:
        detail += f"，理由：{reason}"
    # Audited, and committed, before the first row leaves.
    record(db, g.user.username, "cases.export_unmasked" if unmasked else "cases.export", "cases", detail,
           (request.remote_addr or "")[:64])  # fmt: skip
    db.commit()
    stamp = now.astimezone(tz).strftime("%Y%m%d-%H%M")
    name = f"cases-{stamp}{'-unmasked' if unmasked else ''}.{fmt}"
    sheet_rows = _case_sheet_rows(who, where, unmasked, tz, now)
    if fmt == "xlsx":
        resp = Response(_xlsx(CASE_SHEET_FIELDS, sheet_rows),
                        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")  # fmt: skip
    else:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        resp = Response(_csv_stream(app, CASE_SHEET_FIELDS, sheet_rows), mimetype="text/csv")
        resp.headers["X-Accel-Buffering"] = "no"
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return resp


def _csv_stream(app: Flask, header: tuple[str, ...], rows: Iterator[list[str]]) -> Iterator[bytes]:
    """A CSV with a BOM, guarded cells, sent every :data:`CSV_FLUSH_ROWS` rows (read after the view returns)."""
    with app.app_context():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        buffer.write("\ufeff")  # Excel needs the BOM to read UTF-8 Chinese
        writer.writerow(header)
        for i, row in enumerate(rows, 1):
            writer.writerow([csv_cell(v) for v in row])
            if i % CSV_FLUSH_ROWS == 0:
                yield buffer.getvalue().encode("utf-8")
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue().encode("utf-8")


def _xlsx(header: tuple[str, ...], rows: Iterator[list[str]]) -> bytes:
    """A workbook whose every cell is text (a leading "=" is never read as a formula)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    sheet = book.create_sheet("诉求")

    def cells(values: list[str]) -> list[WriteOnlyCell]:
        out = []
        for value in values:
            cell = WriteOnlyCell(sheet)
            cell.number_format = "@"
            cell.value = value
            cell.data_type = "s"  # after the value: openpyxl would type "=…" as a formula
            out.append(cell)
        return out

    sheet.append(cells(list(header)))
    for row in rows:
        sheet.append(cells(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
