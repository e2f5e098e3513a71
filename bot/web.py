"""App-wide HTTP error answers: plain text, never an HTML error page or a stack trace."""

from __future__ import annotations

import logging

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


def register_error_pages(app: Flask) -> None:
    """Plain-text answers for HTTP errors outside the blueprints' own handlers."""

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        return Response(f"{exc.code} {exc.name}\n", status=exc.code or 500, mimetype="text/plain")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error")
        return Response("internal error\n", status=500, mimetype="text/plain")
