"""Reports: the statistics dashboard, and the case export views (CSV, XLSX; masked and audited).

The dashboard's figures come from cases/stats.py (one grouped SQL scan per table). They are cached in
Redis for :data:`CACHE_SECONDS`, keyed by the user's department scope and the period, and the page says
when they were computed. Charts are inline SVG drawn on the server (geometry in ``charts.py``).

Exports follow the case list's filters and scope; what they hold, their masking, their audit and their
formats are in ``bot/exporting.py``. The unmasked file is for supervisors, with a reason.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, flash, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from bot.console.auth import permission, require
from bot.console.blueprint import bp
from bot.console.charts import hbars, line_chart, stacked_bars
from bot.console.common import local_tz
from bot.console.pages_cases import TYPE_NAMES, worker
from bot.console.pages_conversations import DEPARTMENTS, INTENT_NAMES
from bot.exporting import FILTER_KEYS, case_export, case_list_args
from bot.extensions import services
from cases import stats
from cases.loop import Worker
from models import utcnow

CACHE_SECONDS = 60
MIN_REASON = 4
INTENT_LABELS = {**INTENT_NAMES, "event": "事件（关注等）"}


# -- the dashboard ------------------------------------------------------------------------------------


def _period(args: Mapping[str, str], now: dt.datetime, tz: ZoneInfo) -> tuple[stats.Period, str | None]:
    """The period from ``from``/``to`` (YYYY-MM-DD, local days), default the last 30 days; and any complaint."""
    today = now.astimezone(tz).date()
    default_first = today - dt.timedelta(days=stats.DEFAULT_DAYS - 1)
    problem = None
    try:
        first = dt.date.fromisoformat(args.get("from") or default_first.isoformat())
        last = dt.date.fromisoformat(args.get("to") or today.isoformat())
    except ValueError:
        first, last, problem = default_first, today, "日期格式应为YYYY-MM-DD，已显示最近30天"
    if first > last:
        first, last = last, first
    if (last - first).days + 1 > stats.MAX_DAYS:
        first, problem = last - dt.timedelta(days=stats.MAX_DAYS - 1), f"范围最长{stats.MAX_DAYS}天，已截取"
    return stats.Period.of_days(first, last, tz), problem


def _cached_dashboard(who: Worker, period: stats.Period, now: dt.datetime) -> tuple[stats.Dashboard, bool]:
    svc = services()
    digest = hashlib.sha256(stats.cache_key(who, period).encode()).hexdigest()[:32]
    key = f"{current_app.config['REDIS_NAMESPACE']}:console:dashboard:{digest}"
    raw = svc.redis.get(key)
    if raw is not None:
        return stats.Dashboard.from_json(json.loads(raw)), True
    data = stats.dashboard(svc.sessions, who, period, now=now, department_names=DEPARTMENTS)
    svc.redis.set(key, json.dumps(data.to_json(), ensure_ascii=False), ex=CACHE_SECONDS)
    return data, False


@bp.get("/dashboard")
@permission("dashboard.read")
def dashboard() -> str:
    """Messages and cases by intent, department and day; the four KPIs; this week's hot spots (cached 60 s)."""
    tz = local_tz()
    now = utcnow()
    period, problem = _period(request.args, now, tz)
    if problem:
        flash(problem, "error")
    who = worker()
    data, cached = _cached_dashboard(who, period, now)
    days = data.days
    by_intent = data.messages_by_day_and("intent")
    by_day_cases = data.case_counts("day")
    totals = data.totals
    by_department = data.case_counts("department")
    message_departments = data.messages_by("department")
    return render_template(
        "console/dashboard.html",
        data=data,
        period_first=days[0],
        period_last=days[-1],
        totals=totals,
        pct=stats.percent,
        by_department=by_department,
        by_type=data.case_counts("type"),
        messages_by_intent=data.messages_by("intent"),
        message_departments=message_departments,
        daily_chart=stacked_bars(
            days, {INTENT_LABELS.get(k, k): v for k, v in by_intent.items()}, title="每日留言（按意图）"
        ),
        cases_chart=line_chart(
            days,
            {
                "受理诉求": {d: c.total for d, c in by_day_cases.items()},
                "已答复": {d: c.answered for d, c in by_day_cases.items()},
                "已办结": {d: c.closed for d, c in by_day_cases.items()},
            },
            title="每日受理诉求（按受理日）",
        ),
        department_chart=hbars(
            [(DEPARTMENTS.get(k, k), v.total) for k, v in by_department.items()], title="诉求按承办部门"
        ),
        message_department_chart=hbars(
            [(DEPARTMENTS.get(k, k), v) for k, v in message_departments.items()], title="留言按分拣部门"
        ),
        intent_chart=hbars(
            [(INTENT_LABELS.get(k, k), v) for k, v in data.messages_by("intent").items()], title="留言按意图"
        ),
        departments=DEPARTMENTS,
        types=TYPE_NAMES,
        intents=INTENT_LABELS,
        scope=sorted(who.departments),
        cached=cached,
        cache_seconds=CACHE_SECONDS,
        generated=dt.datetime.fromisoformat(data.generated_at).astimezone(tz),
        week_start=dt.datetime.fromisoformat(data.week_start).astimezone(tz),
        hot_end=min(period.end, now).astimezone(tz),
        tz=tz,
    )


# -- exports ------------------------------------------------------------------------------------------


@bp.app_template_filter("case_filters")
def case_filters(args: Mapping[str, Any]) -> dict[str, Any]:
    """The case list's filters in ``args`` (for export links that keep them)."""
    return case_list_args(args)


@bp.get("/cases/export")
@permission("cases.export")
def cases_export() -> Response:
    """The case list (its filters, the user's scope) as CSV or XLSX, personal data masked; audited."""
    return case_export(worker(), request.args, request.args.get("format", "csv"), unmasked=False)


@bp.post("/cases/export/unmasked")
@permission("conversations.unmask")
def cases_export_unmasked() -> Response:
    """The same export with personal data shown: supervisors only, with a reason (audited)."""
    require("cases.export")
    form = request.form
    reason = form.get("reason", "").strip()
    args = MultiDict([(k, v) for k, v in form.items(multi=True) if k in FILTER_KEYS])
    if len(reason) < MIN_REASON:
        flash(f"导出完整个人信息须填写理由（至少{MIN_REASON}个字）。", "error")
        return redirect(url_for("console.cases", **case_list_args(args)))
    return case_export(worker(), args, form.get("format", "csv"), unmasked=True, reason=reason[:500])
