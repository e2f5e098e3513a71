"""The 12345 hotline import, as the console page and ``python -m bot hotline import`` both run it.

cases/hotline.py reads and checks the file; the pipeline lives above cases/, so the step from a checked ticket to
an ``InboundMessage`` filed through ``Pipeline.file`` is taken here, in the wiring, once for both.
"""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from flask import Flask

from bot.services import services
from cases import hotline
from handlers.store import StoreError, is_transient
from handlers.types import Filed, InboundMessage
from models import utcnow

log = logging.getLogger(__name__)


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
