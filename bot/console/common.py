"""What several console pages share: the unit's time zone, the one way times are shown, Chinese case states."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import current_app

# Case states as staff see them (citizens see replies.variables.CASE_STATUS_NAMES).
STATUS_NAMES = {
    "accepted": "已受理",
    "assigned": "已派单",
    "in_progress": "办理中",
    "answered": "已答复",
    "closed": "已办结",
    "merged": "已合并",
    "handed_over": "已移交",
}


def local_tz() -> ZoneInfo:
    """The unit's time zone (dates on pages are local)."""
    return ZoneInfo(current_app.config["TIMEZONE"])


def local_time(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored time (UTC) as the unit reads it, in TIMEZONE: the one formatter every page uses (``|local``)."""
    if value is None:
        return ""
    if value.tzinfo is None:  # SQLite hands back naive values for some expressions: they are UTC
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(local_tz()).strftime(fmt)
