"""Fetching what citizens send through WeChat — photos, voice, video — after the reply, before WeChat forgets it.

WeChat keeps a message's temporary media for three days (``media/get``; 40007 afterwards). The message path never
waits for it: after the commit, :func:`enqueue_fetch` puts one job per media message on the ``media`` queue, and
an RQ worker (``python -m bot worker``) runs :func:`fetch_media`: it makes sure the message has its attachment
row, claims it (one UPDATE: a job that runs twice, or beside the sweep, fetches once), downloads the bytes with
the shared access token and keeps them (``bot.media.store_into``; a store outage leaves them on this host's disk).

Retries follow the row, not the queue: a failed try sets ``next_attempt_at`` (1 min, 5 min, 30 min, 2 h, 6 h,
12 h, 24 h), and :func:`sweep` — in every worker's upkeep thread and at the RQ worker's start — queues every
media message that has no attachment row yet and every pending fetch that is due, so a lost enqueue or a Redis
outage delays a fetch but loses none. After the last try, or at once for 40007 (the medium expired or its id is
invalid), the row is ``failed`` with a Chinese reason, which the case page shows.

Which case an attachment belongs to: the message's own case; else the first case the same citizen opened within
:data:`LINK_WINDOW` after the message (a photo sent while the intake form was being filled belongs to the case the
form opened when it ended); else the citizen's still-open case opened within the window before it (a photo sent
right after the case number arrived). The form lives 30 idle minutes (handlers/converse.py ``IDLE_TTL``); the
window is twice that, so a slow form still links, while a citizen's next, unrelated complaint an afternoon later
does not take the morning's photos. The sweep links attachments whose case opened after their fetch.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import uuid
import zlib
from typing import Any
from urllib.parse import urlsplit

import redis
import requests
from flask import Flask
from rq import Queue
from sqlalchemy import exists, select, text, update
from sqlalchemy.orm import Session
from wechatpy.exceptions import WeChatClientException

from bot.jobs import job_app
from bot.media import KINDS, MAX_BYTES, delete_purged, store_into, upload_pending
from bot.media.images import MediaRejected, size_text
from bot.services import services
from bot.wechat.api import TOKEN_ERRORS, MissingSecret, SharedTokenClient, TokenUnavailable, client_for
from handlers.converse import IDLE_TTL
from models import Attachment, Case, CaseStatus, Direction, Message, utcnow

log = logging.getLogger(__name__)

QUEUE = "media"
# Seconds to wait after each failed try; len + 1 tries in all, the last about two days after the message.
RETRY_DELAYS: tuple[int, ...] = (60, 300, 1800, 7200, 21600, 43200, 86400)
# WeChat deletes temporary media after three days: a message older than that is not fetched any more.
MEDIA_LIFETIME = dt.timedelta(days=3)
# A claimed fetch not finished after this long (its worker died) is tried again by the sweep.
LEASE = dt.timedelta(minutes=10)
# The sweep leaves a message this long to its own job (queued after the commit) before queueing it again.
GRACE = dt.timedelta(seconds=60)
LINK_WINDOW = dt.timedelta(seconds=2 * IDLE_TTL)
# How far back an ordinary (every minute) sweep looks for messages without an attachment row; the hourly
# thorough one looks over the whole MEDIA_LIFETIME.
RECENT = dt.timedelta(hours=6)
JOB_TIMEOUT = 180
# WeChat's "系统繁忙".
BUSY = -1
EXPIRED = 40007
REASONS = {
    EXPIRED: "微信临时素材已失效（超过3天，或媒体ID无效，40007）",
    40008: "微信认为消息类型无效（40008）",
}
OPEN = (CaseStatus.ACCEPTED, CaseStatus.ASSIGNED, CaseStatus.IN_PROGRESS, CaseStatus.ANSWERED)


class FetchFailed(Exception):
    """A try that did not bring the bytes; ``final`` when trying again cannot help (40007, a refused file)."""

    def __init__(self, reason: str, *, final: bool = False, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.final = final
        self.code = code  # WeChat's errcode, when it gave one


# -- the queue ----------------------------------------------------------------------------------------


def queue_name(namespace: str) -> str:
    """The RQ queue of a namespace's media fetches."""
    return f"{namespace}:{QUEUE}"


def media_queue(app: Flask, connection: redis.Redis | None = None) -> Queue:
    """The media queue of ``app`` on its Redis (or on ``connection``)."""
    conn = connection if connection is not None else services(app).redis
    return Queue(queue_name(app.config["REDIS_NAMESPACE"]), connection=conn)


def enqueue_fetch(app: Flask, message_id: int, connection: redis.Redis | None = None) -> str | None:
    """Queue the fetch of one media message's file; call it after the commit. None when Redis is away (the sweep
    queues it later)."""
    try:
        job = media_queue(app, connection).enqueue(
            fetch_media,
            int(message_id),
            job_id=f"media-{int(message_id)}-{uuid.uuid4().hex[:12]}",
            description=f"fetch media of message {int(message_id)}",
            job_timeout=JOB_TIMEOUT,
            result_ttl=3600,
            failure_ttl=7 * 24 * 3600,
        )
    except redis.RedisError as exc:
        log.warning("cannot queue the media fetch of message %s (%s): the sweep will", message_id, exc)
        return None
    return str(job.id)


def fetch_media(message_id: int) -> str:
    """RQ job: fetch and keep one message's medium; returns stored / pending / failed / waiting / skipped."""
    return fetch_one(job_app(), message_id)


# -- one fetch ----------------------------------------------------------------------------------------


def _field(raw_xml: str, name: str) -> str | None:
    match = re.search(rf"<{name}>\s*(?:<!\[CDATA\[)?(.*?)(?:\]\]>)?\s*</{name}>", raw_xml or "", re.S)
    return match.group(1).strip() if match and match.group(1).strip() else None


def _ensure_row(session: Session, message: Message, now: dt.datetime) -> Attachment:
    """The message's attachment row, created pending (with WeChat's MediaId) if it has none; committed."""
    if session.get_bind().dialect.name == "postgresql":
        # Two jobs (or a job and the sweep) creating the same row: the second waits, then finds it.
        key = zlib.crc32(f"minsheng-media:{message.id}".encode()) - 2**31
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
    row = session.scalar(select(Attachment).where(Attachment.message_id == message.id).order_by(Attachment.id))
    if row is None:
        media_id = _field(message.raw_xml or "", "MediaId")
        row = Attachment(
            message_id=message.id,
            case_id=case_for(session, message),
            kind=message.msg_type,
            channel=message.channel or "wechat",
            media_id=media_id[:128] if media_id else None,
            source_url=_field(message.raw_xml or "", "PicUrl"),
            status="pending" if media_id else "failed",
            attempts=0,
            last_error=None if media_id else "消息中没有媒体ID（MediaId），无法取回",
            created_at=now,
        )
        session.add(row)
    session.commit()
    return row


def _claim(session: Session, row_id: int, now: dt.datetime) -> bool:
    # One statement, committed before the download: whoever changes the row first fetches, the others skip.
    result: Any = session.execute(
        update(Attachment)
        .where(
            Attachment.id == row_id,
            Attachment.status == "pending",
            Attachment.content_hash.is_(None),
            (Attachment.next_attempt_at <= now) | Attachment.next_attempt_at.is_(None),
        )
        .values(attempts=Attachment.attempts + 1, next_attempt_at=now + LEASE)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return bool(result.rowcount)


def fetch_one(app: Flask, message_id: int, now: dt.datetime | None = None) -> str:
    """Fetch and keep one message's medium if it is due; the outcome, for logs and tests."""
    now = now or utcnow()
    with services(app).sessions() as session:
        message = session.get(Message, message_id)
        if message is None or message.direction != Direction.IN or message.msg_type not in KINDS:
            return "skipped"
        row = _ensure_row(session, message, now)
        if row.status != "pending" or row.content_hash is not None:
            return "skipped"  # stored, failed, or its bytes wait on a host for the store
        if not _claim(session, row.id, now):
            return "skipped"  # not due yet, or another job has it
        session.refresh(row)
        received = message.received_at
        try:
            data, content_type = download_or_picture(app, row)
            if row.case_id is None:
                row.case_id = case_for(session, message)
            store_into(app, row, data, content_type or _voice_type(message))
        except FetchFailed as exc:
            outcome = _failed(row, exc, received, now)
        except MediaRejected as exc:
            outcome = _failed(row, FetchFailed(str(exc), final=True), received, now)
        else:
            outcome = row.status  # stored, or pending with the bytes on this host
            log.info("media of message %s %s (%s, %s bytes)", message_id, outcome, row.content_type, row.size_bytes)
        session.commit()
        return outcome


def _voice_type(message: Message) -> str | None:
    fmt = (_field(message.raw_xml or "", "Format") or "").lower()
    return {"amr": "audio/amr", "speex": "audio/speex", "mp3": "audio/mpeg"}.get(fmt)


def _failed(row: Attachment, exc: FetchFailed, received: dt.datetime, now: dt.datetime) -> str:
    tried = row.attempts
    received = received if received.tzinfo else received.replace(tzinfo=dt.UTC)
    later = now + dt.timedelta(seconds=RETRY_DELAYS[tried - 1]) if tried <= len(RETRY_DELAYS) else None
    if exc.final or later is None or later > received + MEDIA_LIFETIME:
        row.status = "failed"
        row.next_attempt_at = None
        row.last_error = exc.reason if exc.final else f"{exc.reason}；已尝试{tried}次仍未取回"
        log.warning("media of message %s failed: %s", row.message_id, row.last_error)
        return "failed"
    row.next_attempt_at = later
    row.last_error = exc.reason
    log.info("media of message %s not fetched (%s): try %s again at %s", row.message_id, exc.reason, tried, later)
    return "waiting"


def download_or_picture(app: Flask, row: Attachment) -> tuple[bytes, str]:
    """The medium through ``media/get``; for a photo whose media id has expired (40007), from its ``PicUrl``.

    WeChat's image links outlive the three days of a media id, so a fetch that came late (the store or WeChat
    was away for days, a sweep found it late) still keeps the photo. Only links on WeChat's image hosts
    (``MEDIA_PICTURE_HOSTS``) are followed, over HTTP(S), size-limited like any download."""
    limit = MAX_BYTES.get(row.kind, MAX_BYTES["video"])
    try:
        return download(app, row.media_id or "", limit)
    except FetchFailed as exc:
        if not (exc.code == EXPIRED and row.kind == "image" and row.source_url):
            raise
        try:
            return picture(app, row.source_url, limit)
        except FetchFailed as fallback:
            raise FetchFailed(f"{exc.reason}；图片链接也未能取回（{fallback.reason}）", final=True) from None


def picture(app: Flask, url: str, limit: int) -> tuple[bytes, str]:
    """The bytes behind a photo's ``PicUrl`` (a WeChat image host only)."""
    parts = urlsplit(url)
    hosts = {h.strip().lower() for h in str(app.config.get("MEDIA_PICTURE_HOSTS", "")).split(",") if h.strip()}
    if parts.scheme not in ("http", "https") or (parts.hostname or "").lower() not in hosts:
        raise FetchFailed("图片链接不在微信图片域名内，未访问", final=True)
    try:
        resp = requests.get(url, timeout=(3, 30), stream=True, allow_redirects=False)
        with resp:
            if resp.status_code != 200:
                raise FetchFailed(f"HTTP {resp.status_code}", final=True)
            content_type = resp.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
            return _read(resp, limit), content_type
    except requests.RequestException as exc:
        raise FetchFailed(f"网络错误（{type(exc).__name__}）", final=True) from None


def download(app: Flask, media_id: str, limit: int) -> tuple[bytes, str]:
    """The bytes and declared type of a temporary medium, through ``media/get`` with the shared token."""
    if not media_id:
        raise FetchFailed("消息中没有媒体ID（MediaId），无法取回", final=True)
    try:
        client = client_for(app.config, services(app).redis)
        token = client.access_token
        try:
            return _get(client, token, media_id, limit)
        except _TokenRefused:
            client.invalidate_token(token)
            return _get(client, client.refresh_token(stale=token), media_id, limit)
    except _TokenRefused as exc:
        raise FetchFailed(f"access_token被拒绝（{exc}）") from None
    except MissingSecret:
        raise FetchFailed("未配置WECHAT_APP_SECRET，无法获取access_token") from None
    except TokenUnavailable as exc:
        raise FetchFailed(f"未能取得access_token（{exc}）") from None
    except redis.RedisError as exc:
        raise FetchFailed(f"Redis不可用，无法取得access_token（{type(exc).__name__}）") from None
    except requests.RequestException as exc:
        raise FetchFailed(f"网络错误，无法连接微信接口（{type(exc).__name__}）") from None
    except WeChatClientException as exc:  # the token fetch refused (a wrong secret, WeChat busy): tried again
        raise FetchFailed(f"获取access_token失败（{exc.errcode}）") from None


class _TokenRefused(Exception):
    pass


def _get(client: SharedTokenClient, token: str, media_id: str, limit: int) -> tuple[bytes, str]:
    resp = requests.get(
        f"{client.api_base}/cgi-bin/media/get",
        params={"access_token": token, "media_id": media_id},
        timeout=client.timeout,
        stream=True,
    )
    with resp:
        if resp.status_code >= 500:
            raise FetchFailed(f"微信接口暂时不可用（HTTP {resp.status_code}）")
        if resp.status_code != 200:
            raise FetchFailed(f"微信接口返回HTTP {resp.status_code}")
        content_type = resp.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        body = _read(resp, limit)
    if content_type in ("application/json", "text/plain") or body[:1] == b"{":
        answer = _json(body)
        if answer is not None:
            if answer.get("video_url"):
                # A video's media/get answers with a download address instead of the bytes.
                return _video(str(answer["video_url"]), client.timeout, limit)
            code = int(answer.get("errcode") or 0)
            if code in TOKEN_ERRORS:
                raise _TokenRefused(str(code))
            if code == BUSY:
                raise FetchFailed("微信系统繁忙（-1）")
            if code:
                reason = REASONS.get(code, f"{code} 微信接口返回错误：{answer.get('errmsg', '')}"[:200])
                raise FetchFailed(reason, final=code in REASONS, code=code)
    return body, content_type


def _read(resp: requests.Response, limit: int) -> bytes:
    body = bytearray()
    for chunk in resp.iter_content(64 * 1024):
        body += chunk
        if len(body) > limit:
            raise FetchFailed(f"文件超过{size_text(limit)}，未保存", final=True)
    return bytes(body)


def _json(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _video(url: str, timeout: float, limit: int) -> tuple[bytes, str]:
    if not url.startswith(("http://", "https://")):
        raise FetchFailed("微信返回的视频地址无效", final=True)
    resp = requests.get(url, timeout=timeout, stream=True)
    with resp:
        if resp.status_code != 200:
            raise FetchFailed(f"视频下载失败（HTTP {resp.status_code}）")
        return _read(resp, limit), resp.headers.get("Content-Type", "video/mp4").split(";", 1)[0]


# -- linking ------------------------------------------------------------------------------------------


def case_for(session: Session, message: Message) -> int | None:
    """The case a media message belongs to (see the module's docstring for the rule)."""
    if message.case_id is not None:
        return message.case_id
    at = message.received_at
    after = session.scalar(
        select(Case.id)
        .where(Case.citizen_id == message.citizen_id, Case.opened_at >= at, Case.opened_at <= at + LINK_WINDOW)
        .order_by(Case.opened_at, Case.id)
        .limit(1)
    )
    if after is not None:
        return after
    return session.scalar(
        select(Case.id)
        .where(
            Case.citizen_id == message.citizen_id,
            Case.opened_at < at,
            Case.opened_at >= at - LINK_WINDOW,
            Case.status.in_(OPEN),
        )
        .order_by(Case.opened_at.desc(), Case.id.desc())
        .limit(1)
    )


def link_orphans(session: Session, now: dt.datetime) -> int:
    """Give recent attachments without a case the case their citizen opened since; how many were linked."""
    rows = session.execute(
        select(Attachment, Message)
        .join(Message, Message.id == Attachment.message_id)
        .where(
            Attachment.case_id.is_(None),
            Attachment.purged_at.is_(None),
            Message.received_at >= now - LINK_WINDOW - GRACE,
        )
        .limit(500)
    ).all()
    linked = 0
    for attachment, message in rows:
        case_id = case_for(session, message)
        if case_id is not None:
            attachment.case_id = case_id
            linked += 1
    session.commit()
    return linked


# -- the sweep ----------------------------------------------------------------------------------------


def due_messages(
    session: Session, now: dt.datetime, limit: int = 200, *, since: dt.timedelta = MEDIA_LIFETIME
) -> list[int]:
    """Media messages to fetch now: those without an attachment row (received within ``since``), and pending
    fetches that are due."""
    unseen = session.scalars(
        select(Message.id)
        .where(
            Message.direction == Direction.IN,
            Message.msg_type.in_(KINDS),
            Message.received_at >= now - min(since, MEDIA_LIFETIME),
            Message.received_at <= now - GRACE,
            ~exists().where(Attachment.message_id == Message.id),
        )
        .order_by(Message.id)
        .limit(limit)
    ).all()
    waiting = session.scalars(
        select(Attachment.message_id)
        .where(
            Attachment.status == "pending",
            Attachment.content_hash.is_(None),
            Attachment.purged_at.is_(None),
            (Attachment.next_attempt_at <= now)
            | (Attachment.next_attempt_at.is_(None) & (Attachment.created_at <= now - GRACE)),
        )
        .order_by(Attachment.id)
        .limit(limit)
    ).all()
    return list(dict.fromkeys([*unseen, *waiting]))


def sweep(app: Flask, now: dt.datetime | None = None, *, inline: int = 5, thorough: bool = True) -> dict[str, int]:
    """Queue the fetches that are due, upload what this host holds, link new cases; counts by what was done.

    ``thorough`` (the upkeep asks for it once an hour) also looks for messages without an attachment row over
    the media's whole three days, not only the last hours, and deletes the files retention purged: the two
    scans that grow with the tables. With Redis away, up to ``inline`` fetches run here instead (the rest wait
    for the next sweep).
    """
    now = now or utcnow()
    done = {"queued": 0, "fetched": 0, "uploaded": 0, "linked": 0, "deleted": 0}
    with services(app).sessions() as session:
        done["uploaded"] = upload_pending(app, session, now)
        if thorough:
            done["deleted"] = delete_purged(app, session)
        due = due_messages(session, now, since=MEDIA_LIFETIME if thorough else RECENT)
    for message_id in due:
        if enqueue_fetch(app, message_id):
            done["queued"] += 1
        elif done["fetched"] < inline:
            fetch_one(app, message_id, now)
            done["fetched"] += 1
    with services(app).sessions() as session:
        done["linked"] = link_orphans(session, now)
    return done
