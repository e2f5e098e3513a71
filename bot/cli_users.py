"""``python -m bot create-user``, ``ensure-admin`` and ``digest``: accounts and the deadline digest from a shell.

Passwords come from stdin (never from the command line, where ``ps`` and shell history see them).
"""

from __future__ import annotations

import secrets
import sys

import click
from sqlalchemy import func, select

from models import ROLES, User


@click.command("create-user")
@click.option("--username", required=True)
@click.option("--role", "roles", multiple=True, required=True, type=click.Choice(ROLES), help="Repeat for several.")
@click.option("--display-name", default="")
def create_user_cmd(username: str, roles: tuple[str, ...], display_name: str) -> None:
    """Create a console account; the password is read from stdin (one line)."""
    from bot.cli import _app
    from bot.console.auth import AccountError, create_user
    from bot.extensions import services

    password = sys.stdin.readline().rstrip("\r\n")
    app = _app()
    with services(app).sessions() as session:
        try:
            create_user(session, username, password, list(roles), by="cli", display_name=display_name)
        except AccountError as exc:
            click.echo(f"create-user: {exc}", err=True)
            sys.exit(1)
        session.commit()
    click.echo(f"user {username} created with role(s) {', '.join(roles)}")


@click.command("ensure-admin")
def ensure_admin_cmd() -> None:
    """Create a first admin account with a random password if there are no accounts yet (make run)."""
    from bot.cli import _app
    from bot.console.auth import create_user
    from bot.extensions import services

    app = _app()
    with services(app).sessions() as session:
        if session.scalar(select(func.count()).select_from(User)):
            return
        password = secrets.token_urlsafe(12)
        create_user(session, "admin", password, ["admin"], by="make run", display_name="管理员")
        session.commit()
    click.echo(
        "\n  A first console account was created (shown once; change it after signing in):\n"
        f"    用户名 admin    密码 {password}\n"
        "  Add colleagues on the 账号 page or with: python -m bot create-user --username NAME --role operator\n"
    )


@click.command("digest")
@click.option("--quiet", is_flag=True, help="Only record the alert; print nothing (for cron).")
def digest_cmd(quiet: bool) -> None:
    """The daily deadline digest: overdue cases and those due by the end of the next working day.

    Printed by department and recorded as an alert on the console's home page. Run it from cron on
    working days, e.g. ``0 8 * * 1-6 cd /srv/minsheng && .venv/bin/python -m bot digest --quiet``.
    """
    import datetime as dt
    from zoneinfo import ZoneInfo

    from bot.cli import _app
    from bot.extensions import services
    from cases.loop import digest
    from models import Alert
    from replies.variables import DEPARTMENT_NAMES

    app = _app()
    tz = ZoneInfo(app.config["TIMEZONE"])
    now = dt.datetime.now(dt.UTC)
    with services(app).sessions() as session:
        lines = digest(session, now, tz)
        overdue = sum(1 for line in lines if line.overdue)
        summary = f"到期提醒：{overdue}件已超期，{len(lines) - overdue}件将于下一个工作日结束前到期"
        by_department: dict[str, int] = {}
        for line in lines:
            by_department[line.department] = by_department.get(line.department, 0) + 1
        detail = (
            summary + "；" + "，".join(f"{DEPARTMENT_NAMES.get(d, d)}{n}件" for d, n in sorted(by_department.items()))
            if lines
            else "到期提醒：没有即将超期的诉求"
        )
        session.add(Alert(kind="deadline_digest", detail=detail))
        session.commit()
    if quiet:
        return
    click.echo(detail)
    for line in lines:
        state = "已超期" if line.overdue else "即将到期"
        due = line.due_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
        click.echo(f"  {line.number}\t{DEPARTMENT_NAMES.get(line.department, line.department)}\t{due}\t{state}")


@click.command("drain-spool")
def drain_spool_cmd() -> None:
    """Store the pushes spooled while the database was down (workers also do this on their own)."""
    from bot.cli import _app
    from bot.extensions import services
    from bot.maintenance import drain_into

    app = _app()
    spool = services(app).spool
    before = spool.pending()
    stored = drain_into(app)
    left = spool.pending()
    click.echo(f"{stored} spooled message(s) stored, {left} waiting" + (" (database still away?)" if left else ""))
    if before and not stored and left:
        sys.exit(1)


@click.command("seal")
def seal_cmd() -> None:
    """Link new rows into the tamper-evident hash chains now (workers do it every CHAIN_SEAL_SECONDS)."""
    from bot.cli import _app
    from bot.maintenance import seal_all

    sealed = seal_all(_app())
    click.echo(", ".join(f"{name}: {count} sealed" for name, count in sealed.items()))


@click.command("verify-log")
def verify_log_cmd() -> None:
    """Check the hash chains of messages, template versions, reviews and the audit log; exit 1 on a break."""
    from bot.cli import _app
    from bot.maintenance import verify_all

    broken = False
    for report in verify_all(_app()):
        if report.ok:
            click.echo(f"{report.name}: ok, {report.checked} rows checked, {report.unsealed} not sealed yet")
        else:
            broken = True
            click.echo(
                f"{report.name}: BROKEN at row {report.broken_id}: {report.problem} "
                f"({report.checked} rows checked before it)"
            )
    sys.exit(1 if broken else 0)


@click.command("retention")
@click.option("--days", type=click.IntRange(30, 36500), default=None, help="Override RETENTION_DAYS for this run.")
@click.option("--dry-run", is_flag=True, help="Only count what would be anonymised.")
def retention_cmd(days: int | None, dry_run: bool) -> None:
    """Anonymise messages, closed cases and citizens older than the retention period (schedule it daily)."""
    import datetime as dt

    from bot.cli import _app
    from bot.extensions import services
    from cases.retention import anonymise

    app = _app()
    period = days or app.config["RETENTION_DAYS"]
    with services(app).sessions() as session:
        report = anonymise(session, dt.datetime.now(dt.UTC), period, dry_run=dry_run)
        if not dry_run:
            session.commit()
    verb = "would anonymise" if dry_run else "anonymised"
    click.echo(
        f"{verb}: {report.messages} messages, {report.cases} cases, {report.citizens} citizens "
        f"(older than {period} days)"
    )
