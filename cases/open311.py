"""Open311 GeoReport v2 in domain terms: the service catalogue, API keys, and requests as the public may see them.

**One service per department.** A city app shows its users a short list of problem areas and lets them pick one;
ten services (城乡建设与市政设施, 生态环境, 交通出行 …, and 其他事项) are a list a person can scan, where one per
(request type × department) would be sixty near-duplicates ("投诉·交通", "建议·交通" …) that FixMyStreet-style apps
would have to group back together. The department is what routes a case, so it is what the client chooses; the
request type (咨询/求助/投诉/举报/建议/表扬) is the optional attribute ``request_type`` of every service, and when
it is absent the classifier reads it from the description, as it does for a WeChat message. ``other`` (其他事项)
leaves the department to the classifier too: an unsure reading goes to the general acceptance desk for triage.
``group`` gathers the services in three broad areas (城市管理, 公共服务, 市场与治安).

**Keys.** A key is shown once and only its hex SHA-256 is stored (a random 256-bit key needs no slow hash, and the
lookup is an exact match on a unique column); ``prefix`` lets a person recognise it in the console.

**What a request shows.** Only requests filed through Open311 are listed: a WeChat, web-form or hotline case is
written by a citizen who never agreed to publication, and its text carries personal data. For Open311 requests
the description and address are masked (mobiles, ID and card numbers, e-mail addresses, building and room
numbers), the contact details the client sent are cut out of them wherever they were repeated, coordinates are
rounded to three decimals (about 100 m), and nothing else of the citizen (name, phone, e-mail, account, device,
photos) is returned. ``status_notes`` is the latest answer a person sent (vetted library text); ``service_notice``
the acknowledgement the bot rendered. Functions take a ``Session`` and only flush; the caller commits.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
import secrets
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.loop import OPEN, OPEN_ORDERED
from cases.outbound import NOT_A_PERSON
from models import ApiKey, Case, Direction, Message, utcnow
from replies.variables import CASE_TYPE_NAMES, DEPARTMENT_NAMES
from text.pii import mask_text

CHANNEL = "open311"
# Answers that are not a person's, and the satisfaction prompt, never count as status notes.
_NOT_AN_ANSWER = "satisfaction_prompt"
KEY_PREFIX = "o311_"
# What an issued key can look like (token_urlsafe's alphabet): anything else is refused before any lookup.
_KEY_SHAPE = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
# The request types a client may name (GB/T 33358), in the order a form lists them; emergencies are not chosen.
REQUEST_TYPES = ("inquiry", "help", "complaint", "report", "suggestion", "praise")


@dataclasses.dataclass(frozen=True)
class Service:
    """One GeoReport service: a problem area routed to one department (``department`` None: the classifier's)."""

    code: str
    name: str
    description: str
    group: str
    keywords: tuple[str, ...]
    department: str | None


def _service(code: str, name: str, group: str, about: str, keywords: str) -> Service:
    department = None if code == "other" else code
    handled = DEPARTMENT_NAMES[code]
    description = f"{about}由{handled}办理。" if department else f"{about}由{handled}分派至承办部门。"
    return Service(code, name, description, group, tuple(keywords.split("、")), department)


SERVICES: tuple[Service, ...] = (
    _service("urban_construction", "城乡建设与市政设施", "城市管理",
             "道路、路灯、井盖、供水供气、小区物业、违章建筑、房屋征收、工程质量等问题，",
             "路灯、道路、井盖、供水、燃气、物业、违章建筑、房屋、施工、绿化、环卫"),
    _service("environment", "生态环境", "城市管理",
             "噪声、油烟、污水、废气、扬尘、垃圾堆放等环境污染问题，",
             "噪音、油烟、污水、废气、扬尘、垃圾、异味、污染"),
    _service("transport", "交通出行", "城市管理",
             "公交、出租车、道路运输、停车设施、交通设施等问题，",
             "公交、出租车、网约车、停车、客运、货运、交通设施"),
    _service("education", "教育文体", "公共服务",
             "入学、学校管理、教育收费、文化体育设施等问题，",
             "入学、学校、幼儿园、教育收费、培训机构、体育、文化"),
    _service("labor_social_security", "就业与社会保障", "公共服务",
             "欠薪、劳动合同、社会保险、养老待遇、就业培训等问题，",
             "欠薪、工资、劳动合同、社保、养老保险、医保、就业、退休"),
    _service("health", "卫生健康", "公共服务",
             "医疗服务、医患纠纷、公共卫生、食品药品安全等问题，",
             "医院、看病、医患纠纷、疫苗、食品安全、药品、卫生"),
    _service("civil_affairs", "民政服务", "公共服务",
             "低保、社会救助、养老服务、社区建设、婚姻殡葬等问题，",
             "低保、救助、养老院、社区、残疾人、婚姻登记、殡葬"),
    _service("commerce_tourism", "商贸旅游与市场监管", "市场与治安",
             "消费维权、价格、市场秩序、旅游服务等问题，",
             "消费、退款、价格、商家、市场监管、旅游、景区"),
    _service("public_security", "社会治安", "市场与治安",
             "治安秩序、户籍证件、交通违法、诈骗等问题（正在发生的警情请立即拨打110），",
             "治安、户籍、身份证、诈骗、交通违法、扰民"),
    _service("other", "其他事项", "其他",
             "不属于以上类别或不确定类别的诉求，",
             "其他、咨询、建议"),
)  # fmt: skip
SERVICES_BY_CODE = {s.code: s for s in SERVICES}


def service_name(code: str) -> str:
    """The service name of a department code (a case's current department), else 其他事项's."""
    found = SERVICES_BY_CODE.get(code) or SERVICES_BY_CODE["other"]
    return found.name


def request_type_values() -> list[tuple[str, str]]:
    """The ``request_type`` attribute's (key, name) pairs: 咨询、求助、投诉、举报、建议、表扬."""
    return [(code, CASE_TYPE_NAMES[code]) for code in REQUEST_TYPES]


def request_type(value: str) -> str | None:
    """The CaseType value a client named, by key (``complaint``) or by name (``投诉``); None if it names none."""
    value = value.strip()
    if value in REQUEST_TYPES:
        return value
    return next((code for code in REQUEST_TYPES if CASE_TYPE_NAMES[code] == value), None)


# -- API keys ------------------------------------------------------------------------------------


class ApiKeyError(Exception):
    """A key step that is not possible; ``str()`` says why, in Chinese."""


def hash_key(key: str) -> str:
    """The stored form of a key: hex SHA-256 (keys are 256 random bits: a fast hash is enough)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(session: Session, name: str, by: str) -> tuple[ApiKey, str]:
    """A new key for the client ``name``: its row (hash and prefix only) and the key itself, to show once."""
    name = name.strip()
    if not name or len(name) > 80:
        raise ApiKeyError("请填写密钥名称（1至80个字符），例如使用该密钥的应用名称")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(name=name, key_hash=hash_key(key), prefix=key[:12], created_by=by[:80], created_at=utcnow())
    session.add(row)
    session.flush()
    return row, key


def find_key(session: Session, key: str) -> ApiKey | None:
    """The row of ``key`` (revoked or not), or None for a key never issued (or not shaped like one)."""
    if not _KEY_SHAPE.match(key):
        return None
    return session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))


def revoke_key(session: Session, key_id: int, by: str, *, now: dt.datetime | None = None) -> ApiKey:
    """Revoke a key at once (its next request is refused); revoking twice is refused."""
    row = session.get(ApiKey, key_id)
    if row is None:
        raise ApiKeyError(f"没有编号为{key_id}的接口密钥")
    if row.revoked_at is not None:
        raise ApiKeyError(f"接口密钥“{row.name}”已于之前吊销")
    row.revoked_at = now or utcnow()
    row.revoked_by = by[:80]
    session.flush()
    return row


def list_keys(session: Session) -> Sequence[ApiKey]:
    """Every key, active ones first, newest first."""
    return session.scalars(select(ApiKey).order_by(ApiKey.revoked_at.is_not(None), ApiKey.id.desc())).all()


# -- requests as the public sees them ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Filters:
    """What ``GET requests`` asks for: case numbers (then nothing else counts), or a period and its filters."""

    numbers: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    statuses: frozenset[str] = frozenset()  # "open" / "closed"; empty: both
    limit: int = 200


@dataclasses.dataclass(frozen=True)
class PublicRequest:
    """One Open311 request with nothing personal: what every GET answer carries."""

    service_request_id: str
    status: str  # open | closed
    status_notes: str
    service_name: str
    service_code: str
    description: str
    agency_responsible: str
    service_notice: str
    requested_datetime: dt.datetime
    updated_datetime: dt.datetime
    expected_datetime: dt.datetime
    address: str
    lat: float | None
    long: float | None


def find_requests(session: Session, filters: Filters) -> list[PublicRequest]:
    """Open311 requests matching ``filters``, newest first, at most ``filters.limit``."""
    query = (
        select(Case, Message.content, Message.raw_xml)
        .join(Message, Message.id == Case.opening_message_id)
        .where(Case.channel == CHANNEL)
    )
    if filters.numbers:
        query = query.where(Case.number.in_(filters.numbers))
    else:
        if filters.service_codes:
            query = query.where(Case.department.in_(filters.service_codes))
        if filters.start is not None:
            query = query.where(Case.opened_at >= filters.start)
        if filters.end is not None:
            query = query.where(Case.opened_at <= filters.end)
        if filters.statuses == {"open"}:
            query = query.where(Case.status.in_(OPEN_ORDERED))
        elif filters.statuses == {"closed"}:
            query = query.where(Case.status.not_in(OPEN_ORDERED))
    rows = session.execute(query.order_by(Case.opened_at.desc(), Case.id.desc()).limit(filters.limit)).all()
    notes = _status_notes(session, [case.id for case, _, _ in rows])
    notices = _notices(session, [case.opening_message_id for case, _, _ in rows])
    return [
        _public(case, content or "", raw, notes.get(case.id, ""), notices.get(case.opening_message_id, ""))
        for case, content, raw in rows
    ]


def _status_notes(session: Session, case_ids: list[int]) -> dict[int, str]:
    """The latest answer a person sent, per case (the delivery job marks Open311 answers sent on publication)."""
    if not case_ids:
        return {}
    rows = session.execute(
        select(Message.case_id, Message.content)
        .where(
            Message.case_id.in_(case_ids),
            Message.direction == Direction.OUT,
            Message.delivery_status == "sent",
            Message.responder.is_not(None),
            Message.responder.not_in(NOT_A_PERSON),
            (Message.template_key.is_(None)) | (Message.template_key != _NOT_AN_ANSWER),
        )
        .order_by(Message.id)
    ).all()
    # Vetted library text, masked when it was rendered: masking again could take a long case number for an ID.
    return {case_id: text or "" for case_id, text in rows if case_id is not None}


def _notices(session: Session, opening_ids: list[int]) -> dict[int, str]:
    """The acknowledgement the bot rendered for each opening message (vetted text)."""
    if not opening_ids:
        return {}
    rows = session.execute(
        select(Message.in_reply_to_id, Message.content)
        .where(Message.in_reply_to_id.in_(opening_ids), Message.direction == Direction.OUT, Message.responder == "bot")
        .order_by(Message.id)
    ).all()
    return {reply_to: text or "" for reply_to, text in rows if reply_to is not None}


def _public(case: Case, content: str, raw: str | None, notes: str, notice: str) -> PublicRequest:
    record = raw_record(raw)
    contact = contact_values(record)
    lat, long = _coordinate(record.get("lat"), 90), _coordinate(record.get("long"), 180)
    return PublicRequest(
        service_request_id=case.number,
        status="open" if case.status in OPEN else "closed",
        status_notes=notes,
        service_name=service_name(case.department),
        service_code=case.department if case.department in SERVICES_BY_CODE else "other",
        description=public_text(content, contact),
        agency_responsible=DEPARTMENT_NAMES.get(case.owner_department, DEPARTMENT_NAMES["other"]),
        service_notice=notice,
        requested_datetime=case.opened_at,
        updated_datetime=max(case.updated_at or case.opened_at, case.opened_at),
        expected_datetime=case.due_at,
        address=mask_address(public_text(str(record.get("address_string", "")), contact)),
        lat=None if lat is None or long is None else round(lat, 3),
        long=None if lat is None or long is None else round(long, 3),
    )


# -- the raw record and masking ----------------------------------------------------------------------

# Fields of a submission that identify the citizen: kept in the case summary and the raw record for staff,
# never returned by a GET, and cut out of the description and address wherever a client repeated them.
CONTACT_FIELDS = ("first_name", "last_name", "email", "phone", "account_id", "device_id")
# Building, unit, floor and room numbers of an address (幸福小区3栋2单元201室): the street and estate stay.
_DWELLING = re.compile(r"[0-9０-９A-Za-z]+(?:-[0-9]+)?(?=\s*(?:号楼|栋|幢|座|单元|层|楼|室|户))")


def raw_record(raw: str | None) -> dict[str, Any]:
    """The submission as stored in the opening message's raw record (a JSON object), or {} once anonymised."""
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def contact_values(record: dict[str, Any]) -> list[str]:
    """The contact details of a submission, with the name as Chinese and Western order write it."""
    values = [str(record.get(f) or "") for f in CONTACT_FIELDS]
    first, last = str(record.get("first_name") or ""), str(record.get("last_name") or "")
    if first and last:
        values += [last + first, f"{first} {last}", f"{last} {first}"]
    return values


def public_text(text: str, contact: Iterable[str] = ()) -> str:
    """``text`` fit for anyone: contact details cut out, then mobiles, ID and card numbers, e-mail addresses masked."""
    for value in sorted({c.strip() for c in contact if len(c.strip()) >= 2}, key=len, reverse=True):
        text = text.replace(value, "***")
    return mask_text(text)


def mask_address(address: str) -> str:
    """An address without building, unit and room numbers (the place of a problem, not a home)."""
    return _DWELLING.sub("*", address)


def _coordinate(value: Any, bound: float) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if -bound <= number <= bound else None
