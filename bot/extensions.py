"""Wiring of the shared clients: attach them to the app (``app.extensions``), and each request's sessions.

The clients themselves and their getter are in ``bot/services.py``, the background upkeep in
``bot/maintenance.py``: this module knows them, they do not import it back.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, g
from sqlalchemy.orm import Session

from bot.maintenance import UPKEEP_KEY, Upkeep
from bot.services import KEY, Services, services

__all__ = ["KEY", "Services", "console_session", "init_app", "message_session", "services"]


def init_app(app: Flask, config: dict[str, Any]) -> Services:
    """Attach the services and the upkeep to ``app`` and close each request's session when it ends."""
    svc = Services(config)
    app.extensions[KEY] = svc
    app.extensions[UPKEEP_KEY] = Upkeep(app)

    @app.teardown_appcontext
    def _close_session(exc: BaseException | None) -> None:
        for slot in ("message_session", "console_session"):
            session = g.pop(slot, None)
            if session is not None:
                session.close()

    return svc


def message_session() -> Session:
    """The session of the WeChat message path (autocommit on PostgreSQL: see ``Services``)."""
    # One per request, closed at teardown. The console's transactional sessions (``Services.sessions``)
    # must use another slot: this one is autocommit on PostgreSQL.
    if "message_session" not in g:
        g.message_session = services().message_sessions()
    return g.message_session  # type: ignore[no-any-return]


def console_session() -> Session:
    """The transactional session of a console request (closed at teardown; the view commits)."""
    if "console_session" not in g:
        g.console_session = services().sessions()
    return g.console_session  # type: ignore[no-any-return]
