"""The GeoReport v2 endpoints: services, a service's definition, posting a request, reading requests.

Thin views: check the key and the rate → read the input → one domain call (``Pipeline.file`` or
``cases.open311.find_requests``) → audit the key's use → commit → answer in the format of the path. What is
public and what is masked is decided in ``cases/open311.py``; how a submission is read, in ``intake.py``.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, current_app, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.extensions import console_session, message_session, services
from bot.open311 import access, intake
from bot.open311.blueprint import METHODS, ApiError, bp
from bot.open311.formats import iso, render, render_one
from cases.open311 import SERVICES, SERVICES_BY_CODE, Filters, PublicRequest, find_requests, request_type_values
from handlers.store import StoreError
from models import ApiKey, Message, utcnow

log = logging.getLogger(__name__)

FORMAT = "<any(json, xml):fmt>"
DEFAULT_DAYS = 90
MAX_SPAN = dt.timedelta(days=90)
# A request without an idempotency key repeated within this long is a retry (intake.dedup_key).
RETRY_WINDOW = dt.timedelta(hours=24)
MAX_RESULTS = 200
MAX_IDS = 100
MIN_YEAR, MAX_YEAR = 2000, 2999
_NUMBER = re.compile(r"^[0-9A-Za-z-]{1,32}$")


def _only(*allowed: str) -> None:
    if request.method not in allowed and not (request.method == "HEAD" and "GET" in allowed):
        raise ApiError(405, f"该地址只支持{'、'.join(allowed)}请求")


def _tz() -> ZoneInfo:
    return ZoneInfo(current_app.config["TIMEZONE"])


# -- services ------------------------------------------------------------------------------------


@bp.route(f"/services.{FORMAT}", methods=METHODS)
def service_list(fmt: str) -> Response:
    """GET services: one service per department, each with the optional ``request_type`` attribute."""
    _only("GET")
    key = _reader()
    rows = [
        {
            "service_code": s.code,
            "service_name": s.name,
            "description": s.description,
            "metadata": True,
            "type": "realtime",
            "keywords": ", ".join(s.keywords),
            "group": s.group,
        }
        for s in SERVICES
    ]
    _read(key, f"{len(rows)}个服务类别")
    return render(fmt, "services", "service", rows)


@bp.route(f"/services/<code>.{FORMAT}", methods=METHODS)
def service_definition(code: str, fmt: str) -> Response:
    """GET services/{code}: the service's attributes (the optional request type, a single-value list)."""
    _only("GET")
    key = _reader()
    if code not in SERVICES_BY_CODE:
        raise ApiError(404, "服务类别代码不存在，请先查询服务列表（services）")
    attribute = {
        "variable": True,
        "code": "request_type",
        "datatype": "singlevaluelist",
        "required": False,
        "datatype_description": "诉求类型；不填写时按诉求内容自动判断",
        "order": 1,
        "description": "诉求类型",
        "values": [{"key": k, "name": name} for k, name in request_type_values()],
    }
    _read(key, f"服务类别：{SERVICES_BY_CODE[code].name}")
    return render_one(fmt, "service_definition", {"service_code": code, "attributes": [attribute]})


# -- requests ------------------------------------------------------------------------------------


@bp.route(f"/requests.{FORMAT}", methods=METHODS)
def service_requests(fmt: str) -> Response:
    """POST requests: file a request; GET requests: the Open311 requests of a period (or of given numbers)."""
    _only("GET", "POST")
    if request.method == "POST":
        return _create(fmt)
    key = _reader()
    found = find_requests(console_session(), _filters(request.args))
    _read(key, f"返回{len(found)}件")
    return render(fmt, "service_requests", "request", [_public(r) for r in found])


@bp.route(f"/requests/<number>.{FORMAT}", methods=METHODS)
def service_request(number: str, fmt: str) -> Response:
    """GET requests/{id}: one request (as a list of one, as the spec has it)."""
    _only("GET")
    key = _reader()
    found = find_requests(console_session(), Filters(numbers=(number,), limit=1)) if _NUMBER.match(number) else []
    if not found:
        raise ApiError(404, "未找到该受理编号的诉求（仅可查询通过开放接口提交的诉求）")
    _read(key, "返回1件")
    return render(fmt, "service_requests", "request", [_public(found[0])])


@bp.route("/", methods=METHODS, defaults={"rest": ""})
@bp.route("/<path:rest>", methods=METHODS)
def unknown(rest: str) -> Response:
    """Anything else under /open311/v2 (an unknown format included): the spec's 404."""
    raise ApiError(404, "请求的地址不存在（支持services与requests，格式为.json或.xml）")


def _create(fmt: str) -> Response:
    db = message_session()
    body = request.get_json(silent=True) if request.is_json else None
    fields = intake.submitted_fields(request.form, body, request.is_json)
    # The spec puts api_key in the body; some clients put it in the query string.
    key = access.authenticate(db, fields.get("api_key") or request.args.get("api_key", ""), required=True)
    assert key is not None  # required
    access.throttle(db, key)
    try:
        sub = intake.parse(fields, request.headers.get("Idempotency-Key", ""))
    except ApiError as exc:
        why = f"退回（{exc.code}）：{access.reason(exc.description)}"
        access.used(db, key, "open311.invalid", access.target(), why)
        db.commit()
        raise
    now = utcnow()
    msg = intake.inbound(
        sub, key, current_app.config["SECRET_KEY"], now, lambda k: _filed_since(db, k, now - RETRY_WINDOW)
    )
    try:
        filing = services().pipeline.file(msg, db)
    except StoreError:
        db.rollback()
        log.warning("Open311 request from key #%s not stored: database unavailable", key.id)
        raise ApiError(503, "系统暂时无法登记诉求，请稍后重试") from None
    number = filing.case.number if filing.case is not None else None
    detail = f"服务类别：{sub.service.name}" + ("；重复提交，返回首次受理结果" if filing.duplicate else "")
    access.used(db, key, "open311.create", number or f"消息#{filing.message_id}", detail)
    db.commit()
    log.info("Open311 request %s filed by key #%s%s", number, key.id, " (repeat)" if filing.duplicate else "")
    answer = {
        "service_request_id": number,
        "service_notice": filing.reply.text if filing.reply is not None else "",
        "account_id": sub.contact.get("account_id"),
    }
    return render(fmt, "service_requests", "request", [answer])


# -- helpers -------------------------------------------------------------------------------------


def _filed_since(db: Session, dedup_key: str, since: dt.datetime) -> bool:
    """Whether a request with this dedup key was received since ``since`` (a retry across midnight UTC)."""
    found = db.execute(select(Message.id).where(Message.dedup_key == dedup_key, Message.received_at >= since))
    return found.first() is not None


def _reader() -> ApiKey | None:
    """The key of a GET (optional), counted against the rate limit."""
    db = console_session()
    key = access.authenticate(db, request.args.get("api_key", ""), required=False)
    access.throttle(db, key)
    return key


def _read(key: ApiKey | None, detail: str) -> None:
    if key is None:
        return
    db = console_session()
    access.used(db, key, "open311.read", access.target(), detail)
    db.commit()


def _filters(args: Any) -> Filters:
    """GET requests' parameters: ``service_request_id`` (then nothing else counts), else the period and filters."""
    ids = [i.strip() for i in args.get("service_request_id", "").split(",") if i.strip()]
    if ids:
        if len(ids) > MAX_IDS or not all(_NUMBER.match(i) for i in ids):
            raise ApiError(400, f"受理编号（service_request_id）应以逗号分隔，最多{MAX_IDS}个")
        return Filters(numbers=tuple(ids), limit=MAX_IDS)
    tz = _tz()
    end = _when(args.get("end_date", ""), "end_date", tz) or utcnow()
    start = _when(args.get("start_date", ""), "start_date", tz) or end - dt.timedelta(days=DEFAULT_DAYS)
    if start > end:
        raise ApiError(400, "开始时间（start_date）不能晚于结束时间（end_date）")
    if end - start > MAX_SPAN:
        raise ApiError(400, "查询时段不能超过90天")
    statuses = {s.strip() for s in args.get("status", "").split(",") if s.strip()}
    if statuses - {"open", "closed"}:
        raise ApiError(400, "办理状态（status）应为open或closed")
    codes = tuple(c.strip() for c in args.get("service_code", "").split(",") if c.strip())
    if any(c not in SERVICES_BY_CODE for c in codes):
        raise ApiError(404, "服务类别代码（service_code）不存在，请先查询服务列表（services）")
    return Filters(service_codes=codes, start=start, end=end, statuses=frozenset(statuses), limit=MAX_RESULTS)


def _when(value: str, name: str, tz: ZoneInfo) -> dt.datetime | None:
    """An ISO 8601 time (with an offset, or local), or a date (its local midnight)."""
    value = value.strip()
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
        if not MIN_YEAR <= parsed.year <= MAX_YEAR:  # far dates overflow when the offset and the span apply
            raise ValueError(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=tz)
        return parsed.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise ApiError(400, f"时间（{name}）应为ISO 8601格式，例如2026-12-01T00:00:00+08:00") from None


def _public(found: PublicRequest) -> dict[str, Any]:
    tz = _tz()
    return {
        "service_request_id": found.service_request_id,
        "status": found.status,
        "status_notes": found.status_notes,
        "service_name": found.service_name,
        "service_code": found.service_code,
        "description": found.description,
        "agency_responsible": found.agency_responsible,
        "service_notice": found.service_notice,
        "requested_datetime": iso(found.requested_datetime, tz),
        "updated_datetime": iso(found.updated_datetime, tz),
        "expected_datetime": iso(found.expected_datetime, tz),
        "address": found.address,
        "lat": found.lat,
        "long": found.long,
    }
