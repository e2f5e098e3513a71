"""``report``: a weekly, monthly or any-period report for leaders, as PDF or DOCX (cases/report.py, bot/reports/)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import click
from flask import current_app
from flask.cli import with_appcontext

from bot.services import services


def _date(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


@click.command("report")
@click.option("--from", "first", callback=_date, help="First day (YYYY-MM-DD, local).")
@click.option("--to", "last", callback=_date, help="Last day, inclusive (YYYY-MM-DD, local).")
@click.option("--period", type=click.Choice(["week", "month"]), help="Instead of dates: last week or last month.")
@click.option("--format", "fmt", type=click.Choice(["pdf", "docx"]), default="pdf", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True, help="File to write.")
@click.option("--department", "departments", multiple=True, help="Limit to a department code (repeatable).")
@with_appcontext
def report_cmd(
    first: dt.date | None,
    last: dt.date | None,
    period: str | None,
    fmt: str,
    output: Path,
    departments: tuple[str, ...],
) -> None:
    """Write the report of a period (both dates, or --period) to OUTPUT; citizens' personal data is masked."""
    from bot.reports import render
    from bot.reports.fonts import FontMissing
    from cases import report
    from cases.loop import Worker
    from replies.variables import DEPARTMENT_NAMES

    tz = ZoneInfo(current_app.config["TIMEZONE"])
    today = dt.datetime.now(tz).date()
    if period:
        first, last = report.last_week(today) if period == "week" else report.last_month(today)
    if first is None or last is None:
        raise click.UsageError("give --from and --to, or --period week|month")
    unknown = [d for d in departments if d not in DEPARTMENT_NAMES]
    if unknown:
        raise click.BadParameter(f"unknown department(s): {', '.join(unknown)}", param_hint="--department")
    with services().sessions() as session:
        try:
            built = report.build(
                session,
                Worker("report", frozenset(departments)),
                first,
                last,
                tz,
                now=dt.datetime.now(dt.UTC),
                unit=current_app.config["UNIT_NAME"],
                department_names=DEPARTMENT_NAMES,
            )
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    try:
        data = render(built, fmt)
    except FontMissing as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    output.write_bytes(data)
    click.echo(f"{built.title}: {output} ({len(data):,} bytes)")


COMMANDS = (report_cmd,)
