"""The mobile web form (H5) under ``/h5``: long letters with photos, from the account's menu or a QR code."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("webform", __name__, url_prefix="/h5")
