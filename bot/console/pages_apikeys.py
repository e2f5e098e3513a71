"""Open311 API keys in the console: list them, and revoke one (admins)."""

from __future__ import annotations
