"""The console's blueprint and what runs around every console view: authentication, permission, headers, errors.

The page modules add their routes to ``bp``; ``bot.console.init_console`` imports them and registers it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, current_app, g, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError
from sqlalchemy import select
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from bot.console.auth import PERMISSIONS, ROLE_NAMES, allowed, check_view
from bot.console.common import local_time
from bot.console.names import zh
from bot.extensions import console_session
from models import User

bp = Blueprint("console", "bot.console", url_prefix="/console")
PUBLIC = frozenset({"console.login"})


@bp.before_request
def _authenticate() -> BaseResponse | None:
    g.user = None
    name = session.get("user")
    if name:
        user = console_session().scalar(select(User).where(User.username == name))
        # A deactivated account or a changed password ends every session at its next request.
        if user is None or not user.is_active or session.get("stamp") != user.password_changed_at.isoformat():
            session.clear()
        else:
            g.user = user
    if request.endpoint in PUBLIC:
        return None
    if g.user is None:
        if request.method == "GET":
            return redirect(url_for("console.login", next=request.full_path if request.args else request.path))
        return Response("请先登录\n", status=401, mimetype="text/plain")
    check_view(current_app.view_functions.get(request.endpoint or ""))
    return None


@bp.after_request
def _headers(response: Response) -> Response:
    # Pages carry citizens' personal data: never cached, never framed, no third-party anything.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    )
    return response


@bp.app_template_filter("local")
def _local(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return local_time(value, fmt)


@bp.app_template_filter("zh")
def _zh(code: object, vocabulary: str) -> str:
    return zh(code, vocabulary)


@bp.app_context_processor
def _template_globals() -> dict[str, Any]:
    return {
        "can": lambda name: allowed(g.get("user"), name),
        "has_endpoint": lambda name: name in current_app.view_functions,
        "ROLE_NAMES": ROLE_NAMES,
        "PERMISSIONS": PERMISSIONS,
    }


@bp.errorhandler(CSRFError)
def _csrf_error(exc: CSRFError) -> tuple[str, int]:
    return render_template(
        "console/error.html", code=400, message="表单已失效（缺少或错误的安全令牌），请刷新页面后重试。"
    ), 400


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> tuple[str, int]:
    messages = {403: "您没有权限访问此页面或执行此操作。", 404: "页面或记录不存在。", 405: "不支持的请求方式。"}
    code = exc.code or 500
    return render_template("console/error.html", code=code, message=messages.get(code, exc.description)), code
