"""Reports: the statistics dashboard, and case exports (CSV, XLSX) that are masked and audited.

The dashboard's figures come from cases/stats.py (one grouped SQL scan per table). They are cached in
Redis for :data:`CACHE_SECONDS`, keyed by the user's department scope and the period, and the page says
when they were computed. Charts are inline SVG drawn on the server (geometry in ``charts.py``).

Exports follow the case list's filters and scope. Summaries and OpenIDs are masked unless a supervisor
asks for the unmasked file with a reason; every export is audited (who, filters, format, rows) before the
first row leaves, and a CSV is streamed.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from collections.abc import Iterator, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, flash, g, redirect, render_template, request, url_for
from sqlalchemy import ColumnElement, func, select
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from bot.console.audit import record
from bot.console.auth import permission, require
from bot.console.blueprint import bp
from bot.console.charts import hbars, line_chart, stacked_bars
from bot.console.common import STATUS_NAMES, local_tz
from bot.console.pages_cases import TYPE_NAMES, worker
from bot.console.pages_conversations import DEPARTMENTS, INTENT_NAMES
from bot.extensions import console_session, services
from cases import loop, stats
from cases.loop import Worker
from models import Case, Citizen, utcnow
from text.pii import mask_openid, mask_text

CACHE_SECONDS = 60
XLSX_MAX_ROWS = 100_000
CSV_FLUSH_ROWS = 500
MIN_REASON = 4
INTENT_LABELS = {**INTENT_NAMES, "event": "事件（关注等）"}
RATING_NAMES = loop.RATINGS
EXPORT_FIELDS = (
    "受理编号", "类型", "状态", "承办部门", "承办人", "群众OpenID", "诉求摘要", "受理时间", "答复期限",
    "答复送达时间", "办结时间", "是否超期", "评价",
)  # fmt: skip
FILTER_KEYS = ("status", "view", "type", "department", "overdue", "due_soon", "triage", "revisit", "transfer", "q")


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


def _pct(ratio: stats.Ratio) -> str:
    rate = ratio.rate
    return "—" if rate is None else f"{rate * 100:.1f}%"


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
        pct=_pct,
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


def _filter_text(args: Mapping[str, Any]) -> str:
    getlist = getattr(args, "getlist", lambda k: [args[k]] if k in args else [])
    shown = {k: getlist(k) if k == "status" else args.get(k) for k in FILTER_KEYS if args.get(k)}
    return json.dumps(shown, ensure_ascii=False, sort_keys=True) if shown else "{}（默认：办理中）"


def _local(value: dt.datetime | None, tz: ZoneInfo) -> str:
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value else ""


def _csv_cell(value: str) -> str:
    # A citizen's "=HYPERLINK(...)" must stay text when staff open the export in a spreadsheet.
    if value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _rows(
    who: Worker, where: list[ColumnElement[bool]], unmasked: bool, tz: ZoneInfo, now: dt.datetime
) -> Iterator[list[str]]:
    """The export's rows, read in batches from a session of their own (a CSV is streamed after the view returns)."""
    stmt = (
        loop.scoped(select(Case, Citizen.openid).join(Citizen, Citizen.id == Case.citizen_id), who)
        .where(*where)
        .order_by(Case.due_at, Case.id)
        .execution_options(yield_per=1000)
    )
    show_text = (lambda s: s) if unmasked else mask_text
    show_openid = (lambda s: s) if unmasked else mask_openid
    with services().sessions() as session:
        for item, openid in session.execute(stmt):
            yield [
                item.number,
                TYPE_NAMES.get(item.case_type.value, item.case_type.value),
                STATUS_NAMES.get(item.status.value, item.status.value),
                DEPARTMENTS.get(item.owner_department, item.owner_department),
                item.owner_user or "",
                show_openid(openid or ""),
                show_text(item.summary or ""),
                _local(item.opened_at, tz),
                _local(item.due_at, tz),
                _local(item.answered_at, tz),
                _local(item.closed_at, tz),
                "是" if loop.is_overdue(item, now) else "",
                RATING_NAMES.get(item.rating, "") if item.rating else "",
            ]


def _export(args: Mapping[str, Any], fmt: str, *, unmasked: bool, reason: str = "") -> Response:
    if fmt not in ("csv", "xlsx"):
        fmt = "csv"
    now = utcnow()
    tz = local_tz()
    who = worker()
    where = loop.list_filters(args, now)
    db = console_session()
    rows = db.scalar(loop.scoped(select(func.count()).select_from(Case), who).where(*where)) or 0
    if fmt == "xlsx" and rows > XLSX_MAX_ROWS:
        flash(f"Excel导出最多{XLSX_MAX_ROWS}行（当前{rows}行）：请缩小筛选范围，或导出CSV。", "error")
        return redirect(url_for("console.cases", **_list_args(args)))
    detail = f"{fmt}, {rows} rows, {'UNMASKED' if unmasked else 'masked'}, filters={_filter_text(args)}"
    if unmasked:
        detail += f", reason={reason}"
    # Audited, and committed, before the first row leaves.
    record(db, g.user.username, "cases.export_unmasked" if unmasked else "cases.export", "cases", detail,
           (request.remote_addr or "")[:64])  # fmt: skip
    db.commit()
    stamp = now.astimezone(tz).strftime("%Y%m%d-%H%M")
    name = f"cases-{stamp}{'-unmasked' if unmasked else ''}.{fmt}"
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if fmt == "xlsx":
        body = _xlsx(_rows(who, where, unmasked, tz, now))
        resp = Response(body, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    else:

        def stream() -> Iterator[bytes]:
            with app.app_context():
                buffer = io.StringIO()
                writer = csv.writer(buffer)
                buffer.write("\ufeff")  # Excel needs the BOM to read UTF-8 Chinese
                writer.writerow(EXPORT_FIELDS)
                for i, row in enumerate(_rows(who, where, unmasked, tz, now), 1):
                    writer.writerow([_csv_cell(v) for v in row])
                    if i % CSV_FLUSH_ROWS == 0:
                        yield buffer.getvalue().encode("utf-8")
                        buffer.seek(0)
                        buffer.truncate()
                yield buffer.getvalue().encode("utf-8")

        resp = Response(stream(), mimetype="text/csv")
        resp.headers["X-Accel-Buffering"] = "no"
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return resp


def _xlsx(rows: Iterator[list[str]]) -> bytes:
    """A workbook whose every cell is text (a leading "=" is never read as a formula)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    sheet = book.create_sheet("诉求")

    def cells(values: list[str]) -> list[WriteOnlyCell]:
        out = []
        for value in values:
            cell = WriteOnlyCell(sheet)
            cell.number_format = "@"
            cell.value = value
            cell.data_type = "s"  # after the value: openpyxl would type "=…" as a formula
            out.append(cell)
        return out

    sheet.append(cells(list(EXPORT_FIELDS)))
    for row in rows:
        sheet.append(cells(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _list_args(args: Mapping[str, Any]) -> dict[str, Any]:
    getlist = getattr(args, "getlist", lambda k: [args[k]] if k in args else [])
    return {k: getlist(k) for k in FILTER_KEYS if args.get(k)}


@bp.app_template_filter("case_filters")
def case_filters(args: Mapping[str, Any]) -> dict[str, Any]:
    """The case list's filters in ``args`` (for export links that keep them)."""
    return _list_args(args)


@bp.get("/cases/export")
@permission("cases.export")
def cases_export() -> Response:
    """The case list (its filters, the user's scope) as CSV or XLSX, personal data masked; audited."""
    return _export(request.args, request.args.get("format", "csv"), unmasked=False)


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
        return redirect(url_for("console.cases", **_list_args(args)))
    return _export(args, form.get("format", "csv"), unmasked=True, reason=reason[:500])
