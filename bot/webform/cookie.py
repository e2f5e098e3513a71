"""The web form's own session: a signed cookie scoped to ``/h5``, beside the console's server-side sessions.

The console keeps its sessions in Redis under a cookie scoped to ``/console`` (``bot/console/server_session.py``).
A citizen's browser never sends that cookie to ``/h5``, so the CSRF token Flask-WTF keeps in the session would be
lost between showing the form and posting it — and every passer-by would create a console session in Redis. The
form needs only a few small values (the CSRF token, the browser's random identity, the OpenID from 网页授权 and
the OAuth ``state``), so it gets a signed cookie of its own: nothing stored on the server, never sent to the
console, and the console's cookie never sent here. :class:`PathSessions` picks one interface per request path.
"""

from __future__ import annotations

from flask import Flask, Request, Response
from flask.sessions import (
    NullSession,
    SecureCookieSession,
    SecureCookieSessionInterface,
    SessionInterface,
    SessionMixin,
)

COOKIE = "minsheng_h5"


class FormSession(SecureCookieSession):
    """The web form's session (a distinct class, so saving goes back to the interface that opened it)."""


class FormCookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions under a name, path and salt of the web form's own."""

    # A salt of its own: no other signed value of this app can be replayed as a form session.
    salt = "minsheng-webform-session"
    session_class = FormSession

    def __init__(self, path: str) -> None:
        self.path = path

    def get_cookie_name(self, app: Flask) -> str:
        return COOKIE

    def get_cookie_path(self, app: Flask) -> str:
        return self.path

    def get_cookie_domain(self, app: Flask) -> str | None:
        return None

    def get_cookie_httponly(self, app: Flask) -> bool:
        return True

    def get_cookie_secure(self, app: Flask) -> bool:
        # The console's setting: on in production (HTTPS), off for the plain-HTTP demo.
        return bool(app.config["CONSOLE_COOKIE_SECURE"])

    def get_cookie_samesite(self, app: Flask) -> str:
        # Lax: the 网页授权 redirect back from open.weixin.qq.com is a top-level GET and still carries it.
        return "Lax"


class PathSessions(SessionInterface):
    """Requests under ``prefix`` use the form's cookie sessions, every other request the app's own interface."""

    def __init__(self, default: SessionInterface, prefix: str) -> None:
        self.default = default
        self.prefix = prefix.rstrip("/")
        self.form = FormCookieSessions(self.prefix)

    def _ours(self, request: Request) -> bool:
        return request.path == self.prefix or request.path.startswith(self.prefix + "/")

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        if self._ours(request):
            return self.form.open_session(app, request)
        return self.default.open_session(app, request)

    def make_null_session(self, app: Flask) -> NullSession:
        return self.default.make_null_session(app)

    def is_null_session(self, obj: object) -> bool:
        return self.default.is_null_session(obj)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if isinstance(session, FormSession):
            self.form.save_session(app, session, response)
        else:
            self.default.save_session(app, session, response)
