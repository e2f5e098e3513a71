"""Server-side console sessions in Redis: the cookie holds a random id, never the session's content.

Logging out or deactivating a user ends a session at once (the data is deleted, not merely
forgotten by one browser); the id is replaced at sign-in (no session fixation); the Redis key is
a hash of the id, so a copy of Redis holds no usable cookie. Requests without the cookie — every
WeChat push — cost no Redis round trip.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

from bot.extensions import services

COOKIE = "minsheng_console"
IDLE_SECONDS = 30 * 60  # signed-in console idle this long → sign in again
_ID_BYTES = 32


class ServerSession(CallbackDict[str, Any], SessionMixin):
    """Session data plus the random id it is stored under."""

    def __init__(self, initial: dict[str, Any] | None = None, sid: str | None = None) -> None:
        def on_update(_: Any) -> None:
            self.modified = True

        super().__init__(initial or {}, on_update)
        self.sid = sid
        self.modified = False
        self.rotate = False

    def regenerate(self) -> None:
        """Give the session a new id when its privilege changes (sign-in): an old id stops working."""
        self.rotate = True
        self.modified = True


class RedisSessionInterface(SessionInterface):
    """Console sessions stored in the app's Redis under ``<namespace>:console:session:<sha256(id)>``."""

    def _key(self, app: Flask, sid: str) -> str:
        digest = hashlib.sha256(sid.encode()).hexdigest()
        return f"{app.config['REDIS_NAMESPACE']}:console:session:{digest}"

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        sid = request.cookies.get(COOKIE)
        if not sid or len(sid) > 100 or not sid.replace("-", "").replace("_", "").isalnum():
            return ServerSession()
        raw = services(app).redis.get(self._key(app, sid))
        if raw is None:
            return ServerSession()
        try:
            data = json.loads(raw)
        except ValueError:
            return ServerSession()
        return ServerSession(data if isinstance(data, dict) else {}, sid)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        assert isinstance(session, ServerSession)
        redis = None
        secure = app.config["CONSOLE_COOKIE_SECURE"]
        if not session:
            if session.sid is not None:
                services(app).redis.delete(self._key(app, session.sid))
                response.delete_cookie(COOKIE, path="/console", secure=secure, httponly=True, samesite="Lax")
            return
        if not session.modified and session.sid is not None:
            # Touch: an active console stays signed in, an idle one expires.
            services(app).redis.expire(self._key(app, session.sid), IDLE_SECONDS)
            return
        redis = services(app).redis
        if session.rotate and session.sid is not None:
            redis.delete(self._key(app, session.sid))
            session.sid = None
        if session.sid is None:
            session.sid = secrets.token_urlsafe(_ID_BYTES)
        redis.set(self._key(app, session.sid), json.dumps(dict(session)), ex=IDLE_SECONDS)
        response.set_cookie(
            COOKIE, session.sid, path="/console", secure=secure, httponly=True, samesite="Lax", max_age=None
        )


def end_sessions_of(app: Flask, username: str) -> int:
    """Delete every console session of ``username`` (deactivation, password change); returns how many."""
    redis = services(app).redis
    ended = 0
    for key in redis.scan_iter(f"{app.config['REDIS_NAMESPACE']}:console:session:*", count=500):
        raw = redis.get(key)
        if raw and json.loads(raw).get("user") == username:
            redis.delete(key)
            ended += 1
    return ended
