"""Wiring of the doors other than WeChat: Open311 GeoReport v2 and the mobile web form, one blueprint each;
and the 订阅通知 pages (consent, and the answer a notice opens), which reach citizens beyond the 48-hour window.

Open311 and the web form hand their requests to the same pipeline as WeChat (``Pipeline.file``). Open311 is an API
authenticated by its keys, not by a console session: it is exempt from the console's CSRF check. The web form is a
page with a form, so it keeps CSRF.
"""

from __future__ import annotations

from flask import Flask


def init_channels(app: Flask) -> None:
    """Register the Open311 API, the web form and the 订阅通知 pages (after the console, whose CSRF they share)."""
    from bot.console import csrf
    from bot.notice import bp as notice
    from bot.open311 import bp as open311
    from bot.webform import bp as webform

    csrf.exempt(open311)
    app.register_blueprint(open311)
    app.register_blueprint(webform)
    app.register_blueprint(notice)
