"""minsheng's Flask application: the WeChat edge, the console, the CLI, configuration and wiring."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from bot.config import load_config

MAX_BODY_BYTES = 1024 * 1024


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then the environment, then ``config``; no I/O happens here."""
    settings = load_config(overrides=config)
    app = Flask(__name__)
    app.config.update(settings)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    logging.getLogger("minsheng").setLevel(settings["LOG_LEVEL"].upper())

    from bot import extensions
    from bot.channels import init_channels
    from bot.console import init_console
    from bot.web import register_error_pages
    from bot.wechat.endpoint import mount

    extensions.init_app(app, settings)
    init_console(app)
    init_channels(app)
    register_error_pages(app)
    hops = settings["TRUSTED_PROXY_HOPS"]
    if hops:
        # The client's address and scheme as the trusted proxies saw them (rate limits, sign-in throttling,
        # audit addresses, https links); X-Forwarded-* from anyone else is ignored by the hop count.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    # /wechat is answered in front of Flask (bot/wechat/endpoint.py): pushes are authenticated by their
    # signature, not a session or a form token, and they are the hot path.
    mount(app)
    return app
