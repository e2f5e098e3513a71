"""Reports for leaders (周报、月报 as PDF or DOCX) and the wall screen (政务大屏) that refreshes itself.

Both are in the signed-in user's scope, as the dashboard is: a department's staff get their department's
report. Every download is in the audit log (a report carries masked quotes of citizens). The screen reuses
the dashboard's cached figures, so a room of screens costs one computation a minute.
"""

from __future__ import annotations

import datetime as dt

from flask import abort, current_app, render_template, request
from werkzeug.wrappers import Response

from bot.console.audit import record
from bot.console.auth import permission
from bot.console.blueprint import bp
from bot.console.charts import line_chart
from bot.console.common import local_tz
from bot.console.pages_cases import worker
from bot.console.pages_reports import _cached_dashboard
from bot.extensions import console_session
from cases import report, stats
from models import utcnow
from replies.variables import DEPARTMENT_NAMES

SCREEN_REFRESH_SECONDS = 60
SCREEN_DAYS = 30


@bp.get("/reports")
@permission("dashboard.read")
def reports() -> str:
    """Last week's and last month's reports, and any period's, to download."""
    today = utcnow().astimezone(local_tz()).date()
    return render_template(
        "console/reports.html", week=report.last_week(today), month=report.last_month(today), today=today
    )


@bp.get("/reports/file")
@permission("dashboard.read")
def report_file() -> Response:
    """The report of ``from``..``to`` as ``format`` (pdf or docx), in the user's scope; audited."""
    from bot.reports import FORMATS, render
    from bot.reports.fonts import FontMissing

    fmt = request.args.get("format", "pdf")
    try:
        first = dt.date.fromisoformat(request.args.get("from", ""))
        last = dt.date.fromisoformat(request.args.get("to", ""))
    except ValueError:
        abort(400, "日期格式应为YYYY-MM-DD")
    if fmt not in FORMATS:
        abort(400, "格式只能是 PDF 或 Word")
    db = console_session()
    try:
        built = report.build(
            db,
            worker(),
            first,
            last,
            local_tz(),
            now=utcnow(),
            unit=current_app.config["UNIT_NAME"],
            department_names=DEPARTMENT_NAMES,
        )
        data = render(built, fmt)
    except ValueError as exc:
        abort(400, str(exc))
    except FontMissing as exc:
        abort(503, str(exc))
    record(
        db,
        worker().name,
        "report.download",
        f"{first}..{last}",
        f"{built.title}，{fmt.upper()}",
        request.remote_addr or "",
    )
    db.commit()
    name = f"report-{first}-{last}.{fmt}"
    return Response(
        data,
        mimetype=FORMATS[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.get("/screen")
@permission("dashboard.read")
def screen() -> str:
    """The wall screen: today's and the month's figures, the daily curve, rising themes; reloads every minute."""
    tz = local_tz()
    now = utcnow()
    who = worker()
    month, _ = _cached_dashboard(who, stats.Period.last_days(SCREEN_DAYS, now, tz), now)
    today, _ = _cached_dashboard(who, stats.Period.last_days(1, now, tz), now)
    by_day = month.case_counts("day")
    return render_template(
        "console/screen.html",
        unit=current_app.config["UNIT_NAME"],
        now=now,
        today=today,
        today_messages=sum(today.messages_by("intent").values()),
        month=month,
        totals=month.totals,
        pct=stats.percent,
        chart=line_chart(
            month.days,
            {"群众留言": month.messages_by("day"), "受理诉求": {d: c.total for d, c in by_day.items()}},
            title=f"近{SCREEN_DAYS}天每日留言与受理诉求",
        ),
        departments=list(month.case_counts("department").items())[:8],
        department_names=DEPARTMENT_NAMES,
        refresh=SCREEN_REFRESH_SECONDS,
        scope="、".join(DEPARTMENT_NAMES.get(d, d) for d in sorted(who.departments)) or "全部部门",
    )
