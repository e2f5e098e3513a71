"""The Open311 blueprint and how it answers failures: the spec's ``[{"code", "description"}]``, in JSON or XML.

Every error under ``/open311/v2`` — a refused key, a missing field, an unknown service or request, a throttled
client, a body too large, even a bug — is answered in the format the path asked for (``.xml``, else JSON) with
the matching HTTP status; never an HTML page, never a stack trace. Descriptions are Chinese: client apps may
show them to the citizen.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request
from werkzeug.exceptions import HTTPException

from bot.open311.formats import error_response, format_of

log = logging.getLogger(__name__)

bp = Blueprint("open311", "bot.open311", url_prefix="/open311/v2")
# Every route takes every method and answers one it does not serve with the spec's 405 body (a method the
# router refused would get the app's plain-text page instead).
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]

_HTTP_DESCRIPTIONS = {
    400: "请求格式不正确",
    404: "请求的资源不存在",
    405: "不支持该请求方式",
    413: "请求内容过大",
    415: "不支持的内容类型",
}


class ApiError(Exception):
    """A request the API refuses: the HTTP status, a Chinese description, and headers (Retry-After)."""

    def __init__(self, code: int, description: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.headers = headers or {}


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> Response:
    response = error_response(format_of(request.path), exc.code, exc.description)
    response.headers.update(exc.headers)
    return response


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    code = exc.code or 400
    return error_response(format_of(request.path), code, _HTTP_DESCRIPTIONS.get(code, "请求无法处理"))


@bp.errorhandler(Exception)
def _unexpected(exc: Exception) -> Response:
    log.exception("Open311 request %s %s failed", request.method, request.path)
    return error_response(format_of(request.path), 500, "服务器内部错误，请稍后重试")
