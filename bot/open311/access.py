"""Who may call the Open311 API and how often: API keys, a per-key rate limit in Redis, and the audit of each use.

* A POST needs a key; a GET may carry one. A missing, unknown or revoked key where one is needed — or any key
  presented that is not valid — is refused with 403 (the spec's error body). A revoked key's attempts are audited.
* Each key may make ``OPEN311_RATE_PER_MINUTE`` requests a minute: a fixed-window counter in Redis (one INCR and
  an EXPIRE per request), then 429 with Retry-After until the minute ends. Requests without a key share a
  counter per client address (behind a proxy, the proxy must pass the client's address on). If Redis is
  unreachable the limit is not enforced: filing a citizen's request matters more than counting it.
* Every use of a key — each POST, and each GET made with one — adds an audit entry (actor ``接口密钥#id（name）``)
  and stamps the key's ``last_used_at``; the first refusal of a throttled key in each window is audited too.
  The view commits.
"""

from __future__ import annotations

import logging
import re
import time

import redis as redis_lib
from flask import current_app, request
from sqlalchemy.orm import Session

from bot.console.audit import record
from bot.open311.blueprint import ApiError
from bot.redis_store import count_in_window, first_in_window
from bot.services import services
from cases.open311 import find_key
from models import ApiKey, utcnow

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60
REFUSED = "接口密钥（api_key）无效或已被吊销，无法提交或查询诉求"
MISSING = "缺少接口密钥（api_key）：提交诉求须提供接口密钥"


# What a request asked for, as the audit log names it: in Chinese, never a path with a field or service code.
_WHAT = {
    "open311.service_list": "服务列表",
    "open311.service_definition": "服务定义",
    "open311.service_requests": "诉求",
    "open311.service_request": "诉求",
}
# A field's spec name in brackets after its Chinese name (诉求内容（description）): left out of audit details.
_CODE = re.compile(r"（[^（）]*[A-Za-z][^（）]*）")


def target() -> str:
    """The audit target of this request: what it asked for, and the case number when it named one."""
    what = _WHAT.get(request.endpoint or "", "其他地址")
    if request.method == "POST":
        what = "提交诉求"
    number = (request.view_args or {}).get("number")
    return f"{what} {number}" if number else what


def reason(description: str) -> str:
    """An error description as the audit log keeps it: the Chinese words, without the spec's field names."""
    return _CODE.sub("", description)


def actor(key: ApiKey) -> str:
    """How the audit log names a key's use."""
    return f"接口密钥#{key.id}（{key.name}）"[:80]


def source() -> str:
    """The client's address, as the audit log records it."""
    return (request.remote_addr or "")[:64]


def authenticate(db: Session, presented: str, *, required: bool) -> ApiKey | None:
    """The key presented, or None when none was and none is required; :class:`ApiError` 403 otherwise."""
    presented = presented.strip()
    if not presented:
        if required:
            raise ApiError(403, MISSING)
        return None
    key = find_key(db, presented)
    if key is None or key.revoked_at is not None:
        # A refused key counts against its address's minute: guessing keys, or a client left running with a
        # revoked one, meets the rate limit (429) instead of costing a lookup and a log line (or an audit
        # entry) per request without end.
        throttle(db, None)
    if key is None:
        # Never the text itself: it may be someone's real key mistyped, or crafted to forge log lines.
        log.warning("Open311: an api_key never issued (%d characters) from %s", len(presented), source())
        raise ApiError(403, REFUSED)
    if key.revoked_at is not None:
        if _first_in_window(f"revoked:{key.id}"):
            record(db, actor(key), "open311.revoked", target(), "使用已吊销的接口密钥，已拒绝", source())
            db.commit()
        raise ApiError(403, REFUSED)
    return key


def _first_in_window(what: str) -> bool:
    """True the first time ``what`` happens in this minute (then it is audited); True if Redis is away."""
    name = f"{current_app.config['REDIS_NAMESPACE']}:open311:seen:{what}:{int(time.time() // WINDOW_SECONDS)}"
    try:
        return first_in_window(services().redis, name, 2 * WINDOW_SECONDS)
    except redis_lib.RedisError:
        return True


def throttle(db: Session, key: ApiKey | None) -> None:
    """Count this request against its key's (or address's) minute; :class:`ApiError` 429 past the limit."""
    limit = int(current_app.config["OPEN311_RATE_PER_MINUTE"])
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    bucket = f"key:{key.id}" if key is not None else f"addr:{source()}"
    name = f"{current_app.config['REDIS_NAMESPACE']}:open311:rate:{bucket}:{window}"
    try:
        count = count_in_window(services().redis, name, 2 * WINDOW_SECONDS)
    except redis_lib.RedisError as exc:
        log.warning("Open311 rate limit not checked (Redis unavailable): %s", exc)
        return
    if count <= limit:
        return
    retry = max(1, int((window + 1) * WINDOW_SECONDS - now))
    if count == limit + 1:
        if key is not None:
            record(db, actor(key), "open311.throttled", target(), f"超过每分钟{limit}次的调用限制", source())
            db.commit()
        log.warning("Open311 %s over %s requests a minute", bucket if key else "an address", limit)
    raise ApiError(429, f"调用过于频繁：每分钟最多{limit}次，请{retry}秒后重试", {"Retry-After": str(retry)})


def used(db: Session, key: ApiKey | None, action: str, target: str, detail: str) -> None:
    """Audit one use of ``key`` and stamp it (nothing for a keyless GET); the view commits."""
    if key is None:
        return
    key.last_used_at = utcnow()
    record(db, actor(key), action, target, detail, source())
