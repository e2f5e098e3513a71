"""Every time on every console page in the unit's local time (TIMEZONE), through one formatter."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select

from bot.extensions import services
from models import Alert, AuditEntry, User
from tests.test_console import ROLE_USERS, accounts, as_role  # noqa: F401 (fixtures)

# 16:30 UTC on New Year's Eve is half past midnight on New Year's Day in Beijing.
INSTANT = dt.datetime(2025, 12, 31, 16, 30, tzinfo=dt.UTC)
TEMPLATES = Path(__file__).resolve().parent.parent / "bot" / "templates"


def test_one_event_shows_the_same_local_time_on_the_home_page_the_audit_log_and_the_accounts_page(
    clean_app: Flask, as_role: Any  # noqa: F811 (the fixture)
) -> None:
    with services(clean_app).sessions() as session:
        session.add(Alert(kind="template_failed", detail="本地时间探针", created_at=INSTANT))
        session.add(AuditEntry(at=INSTANT, actor="probe", action="template.publish", target="x@1", detail="",
                               source=""))
        admin = session.scalars(select(User).where(User.username == ROLE_USERS["admin"])).one()
        admin.last_login_at = INSTANT
        session.commit()
    supervisor = as_role("supervisor")
    for page in (supervisor.get("/console/").get_data(as_text=True),
                 supervisor.get("/console/audit").get_data(as_text=True)):
        assert "2026-01-01 00:30" in page and "2025-12-31 16:30" not in page
    users = as_role("admin").get("/console/users").get_data(as_text=True)
    assert "2025-12-31 16:30" not in users


def test_no_template_formats_a_time_itself() -> None:
    offenders = [p.name for p in TEMPLATES.rglob("*.html") if "strftime" in p.read_text(encoding="utf-8")]
    assert offenders == []
