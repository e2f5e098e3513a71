"""The web console (``/console``): sign-in, the reply library under review, conversations, cases, audit, try-it.

Server-rendered, Chinese, assets served locally. Every request is authenticated and checked
against the permission its view declares before the view runs (``blueprint.py``); personal data is
masked on the server before anything is rendered.
"""

from __future__ import annotations

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from bot.console.blueprint import bp
from bot.console.server_session import RedisSessionInterface

csrf = CSRFProtect()


def init_console(app: Flask) -> None:
    """Register the console on ``app``: sessions in Redis, CSRF on every console form."""
    from bot.console import (  # noqa: F401 (the modules register their routes)
        pages_admin,
        pages_apikeys,
        pages_auth,
        pages_briefing,
        pages_campaigns,
        pages_cases,
        pages_conversations,
        pages_gaps,
        pages_hotline,
        pages_inbox,
        pages_library,
        pages_opinion,
        pages_reports,
        pages_review,
    )

    app.session_interface = RedisSessionInterface()
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", 8 * 3600)
    app.config["WTF_CSRF_SSL_STRICT"] = app.config["CONSOLE_COOKIE_SECURE"]
    csrf.init_app(app)
    app.register_blueprint(bp)
