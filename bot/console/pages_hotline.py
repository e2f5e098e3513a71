"""12345 hotline import in the console: upload a CSV or XLSX of tickets and read which rows were rejected.

Operators and supervisors upload the hotline's export; every good row becomes a case of channel "hotline" through
the same pipeline as a WeChat message (cases/hotline.py reads and checks the file), and the page shows the counts,
the rejected rows with their reasons (phones masked) and links to the cases. Importing the same file again files
nothing twice. The import and each check are written to the audit log.

:func:`import_file` is also what ``python -m bot hotline import`` runs: the pipeline lives above cases/, so the
step from a checked ticket to an ``InboundMessage`` is taken here, in the wiring, once for both.
"""

from __future__ import annotations

import logging
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, current_app, g, render_template, request
from werkzeug.exceptions import RequestEntityTooLarge

from bot.console.audit import record
from bot.console.auth import permission
from bot.console.blueprint import bp
from bot.extensions import console_session
from bot.services import services
from cases import hotline
from handlers.store import StoreError, is_transient
from handlers.types import Filed, InboundMessage
from models import utcnow

log = logging.getLogger(__name__)

ENDPOINT = "console.hotline_import"
# The multipart envelope around the file (boundaries, the CSRF token, the check box) needs a little room.
UPLOAD_LIMIT = hotline.MAX_FILE_BYTES + 64 * 1024
# Rows of each table shown on the page (an import from the console holds up to a thousand tickets).
SHOWN = 500


def import_file(
    app: Flask, data: bytes, filename: str, *, dry_run: bool = False, large: bool = False
) -> hotline.Report:
    """Read, check and file a hotline export (``dry_run``: check it and say what would happen, file nothing).

    Raises :class:`cases.hotline.HotlineFileError` when the file as a whole cannot be imported (nothing was).
    Each ticket is committed on its own (see cases/hotline.py). ``large``: the command line's caps, not the page's.
    """
    svc = services(app)
    tz = ZoneInfo(app.config["TIMEZONE"])
    caps = (hotline.CLI_MAX_FILE_BYTES, hotline.CLI_MAX_ROWS) if large else (hotline.MAX_FILE_BYTES, hotline.MAX_ROWS)
    sheet = hotline.read_tickets(
        data, filename, timezone=app.config["TIMEZONE"], now=utcnow(), max_bytes=caps[0], max_rows=caps[1]
    )
    with svc.sessions() as session:
        known = hotline.filed_before(session, sheet.tickets)
    if dry_run:
        return hotline.import_tickets(sheet, None, known=known)
    key = hotline.caller_key(app.config["SECRET_KEY"])
    with svc.message_sessions() as session:

        def file(ticket: hotline.Ticket) -> hotline.Outcome:
            msg = InboundMessage(
                kind="form",
                openid=hotline.caller_openid(ticket.phone, key),
                account=hotline.CHANNEL,
                create_time=ticket.called_at,
                dedup_key=hotline.dedup_key(ticket.ticket),
                text=ticket.text,
                channel=hotline.CHANNEL,
                # The caller was answered on the phone: no acknowledgement is recorded.
                filed=Filed(ticket.case_type, ticket.department, hotline.summary(ticket, tz), acknowledge=False),
            )
            try:
                filing = svc.pipeline.file(msg, session, accepted_at=ticket.called_at)
                case = filing.case
                outcome = hotline.Outcome(case.id if case else None, case.number if case else None, filing.duplicate)
                # A repeat changes nothing (on SQLite its turn has already set the caller's last call time back).
                if filing.duplicate:
                    session.rollback()
                else:
                    session.commit()
            except Exception as exc:
                session.rollback()
                if is_transient(exc):
                    log.warning("hotline import stopped at row %s: %s", ticket.row, type(exc).__name__)
                    raise hotline.ImportInterrupted("数据库暂时不可用，导入已中断：请稍后重新导入同一文件") from None
                if isinstance(exc, StoreError):
                    log.warning("hotline ticket at row %s refused by the database: %s", ticket.row, exc)
                    raise hotline.RowRefused("数据库拒绝写入此行，请联系管理员") from None
                raise
            return outcome

        return hotline.import_tickets(sheet, file, known=known)


def summary_line(report: hotline.Report) -> str:
    """The counts in one Chinese line, as the page and the audit log (console or command line) give them."""
    done = "可导入" if report.dry_run else "导入"
    line = f"{done}{len(report.imported)}条；此前已导入{len(report.already)}条；未导入{len(report.rejected)}条"
    if report.interrupted:
        line += f"；中断，未处理{report.not_tried}条"
    return line


@bp.url_value_preprocessor
def _upload_limit(endpoint: str | None, values: dict[str, Any] | None) -> None:
    # Runs before every before_request hook, the CSRF check included, which reads the form and so the upload:
    # only this route takes files over the app's 1 MiB.
    if endpoint == ENDPOINT:
        request.max_content_length = UPLOAD_LIMIT


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(exc: RequestEntityTooLarge) -> tuple[str, int]:
    limit = (request.max_content_length or current_app.config["MAX_CONTENT_LENGTH"]) // (1024 * 1024)
    message = f"提交的内容过大（上限约 {limit} MB）。"
    if request.endpoint == ENDPOINT:
        message += "热线工单请分批导出后导入。"
    return render_template("console/error.html", code=413, message=message), 413


@bp.route("/hotline/import", methods=["GET", "POST"])
@permission("cases.import")
def hotline_import() -> str | tuple[str, int]:
    """The upload form; on POST, import (or only check) the file and show what happened to every row."""
    if request.method == "GET":
        return _page()
    upload = request.files.get("file")
    dry_run = request.form.get("dry_run") == "1"
    if upload is None or not upload.filename:
        return _page(error="请选择要导入的 CSV 或 XLSX 文件"), 400
    filename = upload.filename
    data = upload.read(hotline.MAX_FILE_BYTES + 1)
    db = console_session()
    action = "hotline.check" if dry_run else "hotline.import"
    source = (request.remote_addr or "")[:64]
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        report = import_file(app, data, filename, dry_run=dry_run)
    except hotline.HotlineFileError as exc:
        record(db, g.user.username, action, filename, f"文件未导入：{exc}", source)
        db.commit()
        return _page(error=f"文件未导入：{exc}", filename=filename), 400
    record(db, g.user.username, action, filename, summary_line(report), source)
    db.commit()
    return _page(report=report, filename=filename)


def _page(*, report: hotline.Report | None = None, filename: str = "", error: str = "") -> str:
    return render_template(
        "console/hotline_import.html",
        report=report,
        filename=filename,
        error=error,
        summary=summary_line(report) if report else "",
        shown=SHOWN,
        max_mb=hotline.MAX_FILE_BYTES // (1024 * 1024),
        max_rows=hotline.MAX_ROWS,
        columns=hotline.FIELD_NAMES,
        aliases=hotline.COLUMNS,
        required=hotline.REQUIRED,
        categories=hotline.CATEGORY_CHOICES,
    )
