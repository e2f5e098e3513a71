"""A posted GeoReport request, read and checked, and turned into the filed message the pipeline takes.

Fields come form-encoded as the spec says (``attribute[request_type]=complaint``), or as a JSON object (with
``attribute`` an object or the same bracketed names). Every failure is an :class:`ApiError` with the spec's code:
404 for an unknown ``service_code``, 400 for anything else missing or malformed.

**Personal data.** Name, phone, e-mail, account and device go into the case summary as labelled lines (as the
chat form writes ``回访电话：…``) and into the opening message's raw record (a JSON object, anonymised by
retention with the message), never into a log line or a GET answer.

**Retries.** Clients retry a POST whose answer they did not get. A client that sends an ``Idempotency-Key``
header (or an ``idempotency_key`` field) gets, for the same key, the first filing back — the same case number and
notice, whatever the body of the retry. Without one, the dedup key is a keyed hash of the client's key, the
service, what was written, where, who filed it and the request type, and the UTC day; a request whose key of the
day before was filed in the last 24 hours takes that key, so a retry is answered with the first filing across
midnight UTC (08:00 in Beijing) too. The same words filed again a day later are a new case.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from bot.open311.blueprint import ApiError
from cases.open311 import CONTACT_FIELDS, SERVICES_BY_CODE, Service, request_type
from handlers.types import Filed, InboundMessage
from models import ApiKey, channel_identity
from text.controls import without_controls

CHANNEL = "open311"
MAX_DESCRIPTION = 4000
# The description's share of the case summary (capped at 2,000 characters): the labelled contact lines must fit.
SUMMARY_DESCRIPTION = 1200
# Field names as the error descriptions give them: the Chinese name, then the spec's field in brackets.
LABELS = {
    "address_string": "地址",
    "first_name": "名",
    "last_name": "姓",
    "email": "电子邮箱",
    "phone": "联系电话",
    "account_id": "账户标识",
    "device_id": "设备标识",
    "media_url": "图片链接",
    "idempotency_key": "幂等键",
}
_LIMITS = {
    "address_string": 500,
    "first_name": 50,
    "last_name": 50,
    "email": 200,
    "phone": 40,
    "account_id": 100,
    "device_id": 100,
    "media_url": 1000,
    "idempotency_key": 200,
}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^[0-9+\-() ]{3,40}$")
_URL = re.compile(r"^https?://[^\s]+$", re.IGNORECASE)
_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclasses.dataclass(frozen=True)
class Submission:
    """A checked request: the service, the words, where, the optional type, and the citizen's contact details."""

    service: Service
    description: str
    address: str
    lat: float | None
    long: float | None
    request_type: str | None
    contact: dict[str, str]
    media_url: str
    idempotency_key: str

    @property
    def name(self) -> str:
        """The citizen's name as staff read it: 张三 (family name first in Chinese), else "First Last"."""
        first, last = self.contact.get("first_name", ""), self.contact.get("last_name", "")
        if _CJK.search(first + last):
            return last + first
        return f"{first} {last}".strip()


def submitted_fields(form: Mapping[str, str], body: Any, is_json: bool) -> dict[str, str]:
    """The posted fields as strings: the form's, or a JSON object's (``attribute`` flattened to brackets)."""
    if not is_json:
        return {k: str(v) for k, v in form.items()}
    if not isinstance(body, dict):
        raise ApiError(400, "请求内容应为JSON对象或表单")
    fields: dict[str, str] = {}
    for name, value in body.items():
        if name == "attribute" and isinstance(value, dict):
            fields.update({f"attribute[{k}]": _scalar(v) for k, v in value.items()})
        else:
            fields[str(name)] = _scalar(value)
    return fields


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    raise ApiError(400, "字段值应为文字或数字")


def parse(fields: Mapping[str, str], idempotency_header: str = "") -> Submission:
    """Check a posted request; :class:`ApiError` 400/404 naming the field that is wrong."""
    code = _clean(fields.get("service_code", ""))
    if not code:
        raise ApiError(400, "缺少服务类别代码（service_code）")
    service = SERVICES_BY_CODE.get(code)
    if service is None:
        raise ApiError(404, "服务类别代码（service_code）不存在，请先查询服务列表（services）")
    description = _clean(fields.get("description", ""))
    if not description:
        raise ApiError(400, "缺少诉求内容（description）")
    if len(description) > MAX_DESCRIPTION:
        raise ApiError(400, f"诉求内容（description）不能超过{MAX_DESCRIPTION}字")
    values = {name: _clean(fields.get(name, "")) for name in _LIMITS}
    values["idempotency_key"] = values["idempotency_key"] or _clean(idempotency_header)
    for name, limit in _LIMITS.items():
        if len(values[name]) > limit:
            raise ApiError(400, f"{LABELS[name]}（{name}）不能超过{limit}个字符")
    lat, long = _position(fields.get("lat", ""), fields.get("long", ""))
    if not values["address_string"] and lat is None:
        raise ApiError(400, "地址（address_string）与经纬度（lat/long）至少填写一项")
    if values["email"] and not _EMAIL.match(values["email"]):
        raise ApiError(400, "电子邮箱（email）格式不正确")
    if values["phone"] and not _PHONE.match(values["phone"]):
        raise ApiError(400, "联系电话（phone）格式不正确")
    if values["media_url"] and not _URL.match(values["media_url"]):
        raise ApiError(400, "图片链接（media_url）应为http或https链接")
    chosen = _clean(fields.get("attribute[request_type]", ""))
    kind = request_type(chosen) if chosen else None
    if chosen and kind is None:
        raise ApiError(400, "诉求类型（attribute[request_type]）应为咨询、求助、投诉、举报、建议或表扬之一")
    return Submission(
        service=service,
        description=description,
        address=values["address_string"],
        lat=lat,
        long=long,
        request_type=kind,
        contact={name: values[name] for name in CONTACT_FIELDS if values[name]},
        media_url=values["media_url"],
        idempotency_key=values["idempotency_key"],
    )


def _clean(value: str) -> str:
    return without_controls(value).strip()


def _position(lat_text: str, long_text: str) -> tuple[float | None, float | None]:
    lat_text, long_text = _clean(lat_text), _clean(long_text)
    if not lat_text and not long_text:
        return None, None
    if not lat_text or not long_text:
        raise ApiError(400, "纬度与经度（lat/long）须同时填写")
    try:
        lat, long = float(lat_text), float(long_text)
    except ValueError:
        raise ApiError(400, "经纬度（lat/long）应为十进制数字") from None
    if not (math.isfinite(lat) and math.isfinite(long) and -90 <= lat <= 90 and -180 <= long <= 180):
        raise ApiError(400, "经纬度（lat/long）超出范围")
    return lat, long


# -- the filed message ---------------------------------------------------------------------------


def summary(sub: Submission, client: str) -> str:
    """The case summary: labelled lines as the chat form writes them, for staff."""
    text = sub.description
    if len(text) > SUMMARY_DESCRIPTION:
        text = text[:SUMMARY_DESCRIPTION] + "…（全文见会话记录）"
    lines = [f"问题描述：{text}"]
    if sub.address:
        lines.append(f"发生地点：{sub.address}")
    if sub.lat is not None:
        lines.append(f"位置坐标：{sub.lat},{sub.long}")
    if sub.name:
        lines.append(f"联系人：{sub.name}")
    if sub.contact.get("phone"):
        lines.append(f"回访电话：{sub.contact['phone']}")
    if sub.contact.get("email"):
        lines.append(f"电子邮箱：{sub.contact['email']}")
    if sub.media_url:
        lines.append(f"图片链接：{sub.media_url}")
    lines.append(f"来源应用：{client}")
    return "\n".join(lines)


def raw_record(sub: Submission, key: ApiKey) -> str:
    """The submission as received (never the API key), kept on the opening message."""
    record: dict[str, Any] = {
        "client": key.name,
        "api_key_id": key.id,
        "service_code": sub.service.code,
        "description": sub.description,
        "address_string": sub.address,
        "lat": sub.lat,
        "long": sub.long,
        "request_type": sub.request_type,
        "media_url": sub.media_url,
        **sub.contact,
    }
    return json.dumps({k: v for k, v in record.items() if v not in (None, "")}, ensure_ascii=False)


def _digest(secret: str, *parts: object) -> str:
    message = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def identity(sub: Submission, key: ApiKey, secret: str) -> str:
    """The citizen's key within Open311: the client's account or device, else the e-mail or phone, keyed-hashed.

    The same person filing twice through the same app is one thread in the inbox; nothing readable is stored.
    A request with no contact at all is a citizen of its own.
    """
    contact = sub.contact
    who: tuple[object, ...]
    if contact.get("account_id"):
        who = ("account", key.id, contact["account_id"])
    elif contact.get("device_id"):
        who = ("device", key.id, contact["device_id"])
    elif contact.get("email"):
        who = ("email", key.id, contact["email"].lower())
    elif contact.get("phone"):
        who = ("phone", key.id, re.sub(r"\D", "", contact["phone"]))
    else:
        who = ("request", key.id, sub.description, sub.address, sub.lat, sub.long)
    return channel_identity(CHANNEL, _digest(secret, "who", *who)[:32])


def dedup_key(
    sub: Submission, key: ApiKey, secret: str, now: dt.datetime, filed_lately: Callable[[str], bool] = lambda k: False
) -> str:
    """The message's dedup key: the client's idempotency key, else the request's content on the day, or on the day
    before when ``filed_lately`` says that key was filed in the last 24 hours (see above)."""
    if sub.idempotency_key:
        return f"{CHANNEL}:{key.id}:i:{_digest(secret, 'idem', sub.idempotency_key)[:40]}"
    today = now.astimezone(dt.UTC).date()
    yesterday = _content_key(sub, key, secret, today - dt.timedelta(days=1))
    return yesterday if filed_lately(yesterday) else _content_key(sub, key, secret, today)


def _content_key(sub: Submission, key: ApiKey, secret: str, day: dt.date) -> str:
    content = (sub.service.code, sub.description, sub.address, sub.lat, sub.long, sub.request_type,
               *(f"{k}={v}" for k, v in sorted(sub.contact.items())), day.isoformat())  # fmt: skip
    return f"{CHANNEL}:{key.id}:c:{_digest(secret, 'content', *content)[:40]}"


def inbound(
    sub: Submission, key: ApiKey, secret: str, now: dt.datetime, filed_lately: Callable[[str], bool] = lambda k: False
) -> InboundMessage:
    """The filed message (kind ``form``, channel ``open311``) the pipeline turns into a case."""
    return InboundMessage(
        kind="form",
        openid=identity(sub, key, secret),
        account=CHANNEL,
        create_time=now,
        dedup_key=dedup_key(sub, key, secret, now, filed_lately),
        text=sub.description,
        raw_xml=raw_record(sub, key),
        parsed_as="Open311Request",
        channel=CHANNEL,
        filed=Filed(case_type=sub.request_type, department=sub.service.department, summary=summary(sub, key.name)),
    )
