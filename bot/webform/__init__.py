"""The mobile web form (H5) under ``/h5``: long letters with photos, from the account's menu or a QR code.

Citizens file a letter of one of the request types with the chat form's fields and up to six photos; it enters
the same loop as a WeChat message (``Pipeline.file``), and the page shows the case number, the department and
the deadline. Opened inside WeChat through ``/h5/wechat`` (网页授权), the letter joins the citizen's chat thread
and the acknowledgement follows in WeChat. ``bot.channels`` registers :data:`bp`.
"""

from __future__ import annotations

from bot.webform import views  # noqa: F401 (registers the routes)
from bot.webform.blueprint import bp

__all__ = ["bp"]
