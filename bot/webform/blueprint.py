"""The web form's blueprint and what runs around its views: its cookie, body limits, headers and error pages.

``views.py`` adds the routes; ``bot.webform`` imports it and ``bot.channels`` registers the blueprint. The app's
CSRF check (the console's CSRFProtect, app-wide) covers the form's post.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, current_app, render_template, request
from flask.blueprints import BlueprintSetupState
from werkzeug.exceptions import HTTPException

from bot.webform.cookie import PathSessions
from bot.webform.letter import MAX_PHOTO_BYTES, MAX_PHOTOS, MAX_REQUEST_BYTES
from bot.webform.submit import RateLimit

PREFIX = "/h5"
bp = Blueprint("webform", __name__, url_prefix=PREFIX)

# What a citizen reads when a page cannot be shown, by HTTP status.
ERRORS = {
    405: ("无法处理", "不支持的访问方式，请从公众号菜单重新打开留言页面。"),
    413: (
        "照片太大，未能提交",
        f"这次提交的内容超过了上限（最多{MAX_PHOTOS}张照片，每张不超过{MAX_PHOTO_BYTES // (1024 * 1024)}MB）。"
        "留言没有提交成功：请返回上一页（已填写的文字通常仍在），去掉部分照片或换用较小的照片后再提交。",
    ),
    429: (
        "提交过于频繁",
        "您所在网络提交留言过于频繁，请一小时后再试，或拨打12345政务服务便民热线反映。",
    ),
}


def client_address() -> str:
    """The address the rate limit counts: the one Flask sees.

    Behind a reverse proxy (nginx, a load balancer) that is the proxy's address for every citizen unless
    TRUSTED_PROXY_HOPS is set: create_app then wraps the app in werkzeug's ProxyFix with that many hops. Never read
    X-Forwarded-For here directly: without ProxyFix's hop count anyone can write that header.
    """
    return request.remote_addr or "unknown"


@bp.record_once
def _own_sessions(state: BlueprintSetupState) -> None:
    # The form's signed cookie under /h5, the app's sessions (the console's, in Redis) everywhere else:
    # see bot/webform/cookie.py for why the console's cannot serve a citizen's form.
    app = state.app
    assert isinstance(app, Flask)
    app.session_interface = PathSessions(app.session_interface, PREFIX)


@bp.url_value_preprocessor
def _limits(endpoint: str | None, values: dict[str, Any] | None) -> None:
    # URL value preprocessors run before every before_request function, the app's CSRF check included, and
    # that check reads the body: the photos' limit (instead of the app's 1 MiB) and the count of posts per
    # address must be in place before it.
    if request.method != "POST":
        return
    request.max_content_length = MAX_REQUEST_BYTES
    if not RateLimit(current_app, client_address()).post_allowed():
        raise _TooManyPosts()


class _TooManyPosts(HTTPException):
    code = 429
    description = "too many posts from one address"


@bp.after_request
def _headers(response: Response) -> Response:
    # Every page carries a one-time form token (a cached copy would file a second letter as a repeat of the
    # first) or a citizen's case: never cached. No third-party anything, no inline script, never framed.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
        "connect-src 'none'; object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    )
    return response


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> tuple[str, int]:
    code = exc.code or 500
    title, message = ERRORS.get(code, ("无法处理", "页面暂时无法显示，请稍后再试，或拨打12345政务服务便民热线。"))
    return render_template("webform/error.html", title=title, message=message), code
