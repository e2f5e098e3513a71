"""Deadlines on China's official calendar, with make-up working days, and the fallback beyond it."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from cases.sla import add_working_days, deadline_for, is_workday, parse_working_days
from models import CaseType

TZ = ZoneInfo("Asia/Shanghai")


def _local(y: int, m: int, d: int, h: int = 10) -> dt.datetime:
    return dt.datetime(y, m, d, h, tzinfo=TZ).astimezone(dt.UTC)


def test_national_day_holidays_are_skipped():
    # Opened on 30 September 2026: 1–7 October are holidays, so two working days end on 9 October.
    due = deadline_for(CaseType.INQUIRY, _local(2026, 9, 30), TZ).due_at.astimezone(TZ)
    assert due.date() == dt.date(2026, 10, 9)
    assert (due.hour, due.minute) == (23, 59)


def test_make_up_saturday_counts_as_a_working_day():
    # Saturday 10 October 2026 is a 调休 working day.
    assert is_workday(dt.date(2026, 10, 10))
    assert add_working_days(dt.date(2026, 10, 8), 2) == dt.date(2026, 10, 10)


def test_complaint_gets_fifteen_working_days():
    due = deadline_for(CaseType.COMPLAINT, _local(2026, 11, 27), TZ)
    assert due.amount == 15 and due.unit == "working_days"
    assert due.due_at.astimezone(TZ).date() == dt.date(2026, 12, 18)


def test_acceptance_day_in_local_time_decides_the_count():
    # 23:30 UTC on Friday 27 Nov is already Saturday 28 Nov in Beijing: counting starts from Monday.
    late = dt.datetime(2026, 11, 27, 23, 30, tzinfo=dt.UTC)
    due = deadline_for(CaseType.INQUIRY, late, TZ).due_at.astimezone(TZ)
    assert due.date() == dt.date(2026, 12, 1)


def test_years_without_an_official_calendar_fall_back_to_weekdays_and_fixed_holidays():
    assert not is_workday(dt.date(2027, 1, 1))  # New Year's Day, a Friday
    assert add_working_days(dt.date(2026, 12, 31), 2) == dt.date(2027, 1, 5)


def test_emergencies_run_on_a_five_hour_clock():
    now = _local(2026, 10, 1, 3)
    deadline = deadline_for(CaseType.EMERGENCY, now, TZ)
    assert deadline.due_at - now == dt.timedelta(hours=5) and deadline.unit == "hours"


def test_a_unit_sets_its_own_working_days_per_request_type():
    days = parse_working_days("inquiry=5, complaint=20")
    assert days[CaseType.INQUIRY] == 5 and days[CaseType.COMPLAINT] == 20 and days[CaseType.HELP] == 10
    # Friday 2026-02-06 + 5 working days: 02-09 … 02-13 (the make-up Saturday 02-14 is not needed).
    due = deadline_for(CaseType.INQUIRY, _local(2026, 2, 6), TZ, working_days=days)
    assert due.due_at.astimezone(TZ).date() == dt.date(2026, 2, 13) and due.amount == 5
