"""Deadlines: working days on China's official calendar (with 调休 make-up days), or hours for urgent cases.

The calendar comes from the ``chinese_calendar`` package, which covers the years the State Council
has announced. Beyond them (the next year's notice is published in late autumn) the count falls
back to Monday–Friday minus the fixed-date statutory holidays, and says so in the log: a deadline
is then at worst a day or two later than the official one, never silently wrong by weeks.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
from collections.abc import Mapping
from zoneinfo import ZoneInfo

import chinese_calendar

from models import CaseType

log = logging.getLogger(__name__)

# Working days to answer, by request type (Guangdong 12345 rules, POLICY.md).
WORKING_DAYS = {
    CaseType.INQUIRY: 2,
    CaseType.HELP: 10,
    CaseType.SUGGESTION: 10,
    CaseType.COMPLAINT: 15,
    CaseType.REPORT: 15,
    CaseType.PRAISE: 10,
}
EMERGENCY_HOURS = 5

# Statutory holidays on fixed solar dates; lunar ones cannot be known before the official notice.
_FIXED_HOLIDAYS = {(1, 1), (5, 1), (10, 1), (10, 2), (10, 3)}


@dataclasses.dataclass(frozen=True)
class Deadline:
    """When an answer is due, and the rule it came from."""

    due_at: dt.datetime
    amount: int
    unit: str  # "working_days" or "hours"


@functools.lru_cache(maxsize=4096)
def is_workday(day: dt.date) -> bool:
    """True if ``day`` is a working day on the official calendar (make-up weekend days included)."""
    # Cached: the calendar scans its whole holiday table on every call.
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        log.warning("no official calendar for %s; counting Monday–Friday minus fixed holidays", day.year)
        return day.weekday() < 5 and (day.month, day.day) not in _FIXED_HOLIDAYS


def add_working_days(start: dt.date, days: int) -> dt.date:
    """The ``days``-th working day after ``start`` (the day of acceptance itself does not count)."""
    day = start
    counted = 0
    while counted < days:
        day += dt.timedelta(days=1)
        if is_workday(day):
            counted += 1
    return day


def parse_working_days(spec: str) -> dict[CaseType, int]:
    """``"inquiry=2,complaint=15"`` → working days by request type, over the defaults; ``ValueError`` if bad."""
    days = dict(WORKING_DAYS)
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, value = item.partition("=")
        try:
            case_type = CaseType(name.strip())
        except ValueError:
            raise ValueError(f"unknown request type {name.strip()!r}") from None
        if case_type is CaseType.EMERGENCY or not value.strip().isdigit() or not 1 <= int(value) <= 60:
            raise ValueError(f"{item!r}: working days must be 1–60 for a non-emergency type")
        days[case_type] = int(value)
    return days


def deadline_for(
    case_type: CaseType,
    now: dt.datetime,
    tz: ZoneInfo,
    *,
    urgent: bool = False,
    working_days: Mapping[CaseType, int] | None = None,
) -> Deadline:
    """The answer deadline of a case of ``case_type`` opened at ``now`` (aware); ``working_days`` overrides."""
    if urgent or case_type is CaseType.EMERGENCY:
        return Deadline(now + dt.timedelta(hours=EMERGENCY_HOURS), EMERGENCY_HOURS, "hours")
    days = (working_days or WORKING_DAYS)[case_type]
    local = now.astimezone(tz)
    last_day = add_working_days(local.date(), days)
    # Due at the end of that working day, local time, stored in UTC.
    due_local = dt.datetime.combine(last_day, dt.time(23, 59, 59), tzinfo=tz)
    return Deadline(due_local.astimezone(dt.UTC), days, "working_days")
