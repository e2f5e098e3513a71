"""12345 hotline import in the console: upload a CSV or XLSX of tickets and read which rows were rejected.

Operators and supervisors upload the hotline's export; every good row becomes a case of channel "hotline" through
the same pipeline as a WeChat message (cases/hotline.py reads and checks the file), and the page shows the counts,
the rejected rows with their reasons (phones masked) and links to the cases. Importing the same file again files
nothing twice. The import and each check are written to the audit log.

The import itself is bot/hotline.py, shared with ``python -m bot hotline import``.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, g, render_template, request
from werkzeug.exceptions import RequestEntityTooLarge

from bot.console.audit import record
from bot.console.auth import permission
from bot.console.blueprint import bp
from bot.extensions import console_session
from bot.hotline import import_file, summary_line
from cases import hotline

log = logging.getLogger(__name__)

ENDPOINT = "console.hotline_import"
# The multipart envelope around the file (boundaries, the CSRF token, the check box) needs a little room.
UPLOAD_LIMIT = hotline.MAX_FILE_BYTES + 64 * 1024
# Rows of each table shown on the page (an import from the console holds up to a thousand tickets).
SHOWN = 500


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
