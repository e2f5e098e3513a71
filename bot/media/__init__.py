"""Citizens' photos, voice and video: checked, kept in object storage under their hash, recorded as attachments.

:func:`keep` takes bytes a citizen sent — a web-form upload, or a WeChat medium the background job fetched — and
stores the original, the staff's copy without metadata and a thumbnail (images) under content-addressed keys
(``original/ab/<sha256>``, ``view/ab/<sha256>``, ``thumb/ab/<sha256>``), then adds the :class:`models.Attachment`
row. It only flushes: the caller commits once, as everywhere.

An accepted upload is never lost. If the object store is unavailable the objects are written to a pending
directory on this host (``<var>/media-pending``, beside the spool) and the row stays ``pending`` with its hash and
keys set; the upkeep thread (:func:`upload_pending`, through ``bot.maintenance``) uploads them when the store
answers and marks the row stored. So a ``pending`` row means one of two things, told apart by ``content_hash``:
set — the bytes are on a host's disk waiting for the store; empty — the medium is still to be fetched from WeChat
(``bot.media.fetch``).

Identical bytes share one set of objects: retention deletes them only when no other kept attachment uses the hash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from pathlib import Path

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.media import recode
from bot.media.images import MediaRejected, PreparedImage, encoded_type, prepare_image, size_text
from bot.media.storage import DirectoryStorage, Storage, StorageUnavailable, storage_for
from models import Attachment, utcnow

__all__ = [
    "KINDS",
    "MediaRejected",
    "PreparedImage",
    "Storage",
    "StorageUnavailable",
    "delete_purged",
    "derived_type",
    "keep",
    "pending_storage",
    "prepare_image",
    "storage_for",
    "store_into",
    "upload_pending",
]

log = logging.getLogger(__name__)

KINDS = ("image", "voice", "video", "shortvideo")
# WeChat's own limits are 10 MB for images and video and 2 MB for voice; a little room for other doors.
MAX_BYTES = {"image": 10 * 1024 * 1024, "voice": 5 * 1024 * 1024, "video": 25 * 1024 * 1024}
# Seconds before the upkeep tries again to upload bytes held locally while the store was away.
PENDING_RETRY = dt.timedelta(seconds=30)
PENDING_REASON = "对象存储暂时不可用，文件已在本机暂存，恢复后自动上传"
PENDING_KEY = "minsheng.media_pending"

# The first bytes of the formats WeChat sends for voice and video (its media/get answers with a generic type).
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"#!AMR-WB\n", "audio/amr-wb"),
    (0, b"#!AMR\n", "audio/amr"),
    (0, b"OggS", "audio/ogg"),  # speex (and opus) in an Ogg container
    (0, b"ID3", "audio/mpeg"),
    (0, b"\xff\xfb", "audio/mpeg"),
    (4, b"ftyp", "video/mp4"),
    (0, b"RIFF", "audio/wav"),
)


def sniff(data: bytes, declared: str | None, kind: str) -> str:
    """The content type of voice or video bytes: by their signature, else the declared type, else a generic one."""
    for offset, magic, content_type in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            if content_type == "video/mp4" and kind == "voice":
                return "audio/mp4"
            return content_type
    declared = (declared or "").split(";", 1)[0].strip().lower()
    if declared and declared not in ("application/octet-stream", "text/plain"):
        return declared[:64]
    return "video/mp4" if kind in ("video", "shortvideo") else "application/octet-stream"


def object_keys(content_hash: str) -> dict[str, str]:
    """The keys of a hash's objects (original, view, thumb, poster): the same bytes always land in the same place."""
    shard = content_hash[:2]
    return {part: f"{part}/{shard}/{content_hash}" for part in ("original", "view", "thumb", "poster")}


def derived_type(data: bytes) -> str:
    """The type of a copy made here (a view, thumbnail, poster or playable voice), told by its first bytes."""
    if data[:3] == b"ID3" or data[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "audio/mpeg"
    return encoded_type(data)


def pending_storage(app: Flask) -> DirectoryStorage:
    """This host's directory for objects waiting for the store (beside the spool, under var/)."""
    store: DirectoryStorage | None = app.extensions.get(PENDING_KEY)
    if store is None:
        root = app.config.get("MEDIA_PENDING_DIR") or Path(app.config["SPOOL_PATH"]).parent / "media-pending"
        store = app.extensions.setdefault(PENDING_KEY, DirectoryStorage(root))
    return store


def _copies(kind: str, data: bytes, image: PreparedImage | None) -> dict[str, bytes]:
    """The copies made for staff, by part: an image's view and thumbnail, a voice's MP3, a video's poster."""
    if image is not None:
        return {"view": image.view, "thumb": image.thumb}
    if kind == "voice":
        playable = recode.voice_copy(data)
        return {"view": playable} if playable else {}
    if kind in ("video", "shortvideo"):
        poster = recode.video_poster(data)
        return {"poster": poster} if poster else {}
    return {}


def store_into(app: Flask, row: Attachment, data: bytes, content_type: str | None = None) -> Attachment:
    """Check ``data``, store its objects and fill ``row`` (stored, or pending with the bytes held locally).

    Raises MediaRejected before anything is written; OSError only if neither the store nor the local disk
    could take the bytes (then nothing was accepted).
    """
    kind = row.kind
    limit = MAX_BYTES.get("video" if kind == "shortvideo" else kind, MAX_BYTES["video"])
    image: PreparedImage | None = None
    if kind == "image":
        image = prepare_image(data, max_bytes=limit)
        row.content_type = image.content_type
        row.width, row.height = image.width, image.height
        row.exif_location = json.dumps(image.exif_location) if image.exif_location else None
    else:
        if not data:
            raise MediaRejected("文件为空")
        if len(data) > limit:
            raise MediaRejected(f"文件超过{size_text(limit)}")
        row.content_type = sniff(data, content_type, kind)
    digest = hashlib.sha256(data).hexdigest()
    keys = object_keys(digest)
    copies = _copies(kind, data, image)
    row.content_hash = digest
    row.size_bytes = len(data)
    row.storage_key = keys["original"]
    row.view_key = keys["view"] if "view" in copies else None
    row.thumb_key = keys["thumb"] if "thumb" in copies else None
    row.poster_key = keys["poster"] if "poster" in copies else None
    objects = [(keys["original"], data, row.content_type or "application/octet-stream")]
    objects += [(keys[part], body, derived_type(body)) for part, body in copies.items()]
    try:
        store = storage_for(app)
        for key, body, ctype in objects:
            store.put(key, body, ctype)
    except StorageUnavailable as exc:
        local = pending_storage(app)
        for key, body, ctype in objects:
            local.put(key, body, ctype)  # StorageUnavailable here (disk full) goes to the caller: not accepted
        row.status = "pending"
        row.last_error = PENDING_REASON
        row.next_attempt_at = utcnow() + PENDING_RETRY
        log.warning("media store unavailable (%s): %s held locally until it returns", exc, digest[:12])
        return row
    row.status = "stored"
    row.stored_at = utcnow()
    row.last_error = None
    row.next_attempt_at = None
    return row


def keep(
    app: Flask,
    session: Session,
    *,
    message_id: int,
    case_id: int | None,
    channel: str,
    kind: str,
    data: bytes,
    content_type: str | None = None,
) -> Attachment:
    """Keep bytes a citizen sent as an attachment of ``message_id`` (and ``case_id``); flushes, never commits.

    Raises MediaRejected (a Chinese reason) before writing anything when the bytes are not taken.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown attachment kind {kind!r}")
    row = Attachment(message_id=message_id, case_id=case_id, kind=kind, channel=channel, status="pending", attempts=0)
    store_into(app, row, data, content_type)
    row.attempts = 1
    session.add(row)
    session.flush()
    return row


def upload_pending(app: Flask, session: Session, now: dt.datetime | None = None, limit: int = 50) -> int:
    """Upload the objects this host holds for pending rows whose time has come; returns rows now stored.

    Rows whose bytes are on another host are left to that host's upkeep. Commits per row (an upload done is
    recorded at once, so a crash repeats at most one idempotent put).
    """
    now = now or utcnow()
    rows = session.scalars(
        select(Attachment)
        .where(
            Attachment.status == "pending",
            Attachment.content_hash.is_not(None),
            Attachment.purged_at.is_(None),
            (Attachment.next_attempt_at <= now) | Attachment.next_attempt_at.is_(None),
        )
        .order_by(Attachment.id)
        .limit(limit)
    ).all()
    local = pending_storage(app)
    store = storage_for(app)
    stored = 0
    for row in rows:
        keys = [key for key in (row.storage_key, row.view_key, row.thumb_key, row.poster_key) if key]
        try:
            bodies = [(key, local.get(key)) for key in keys]
        except KeyError:
            continue  # held by another host (or uploaded by a row with the same hash: see below)
        try:
            for key, body in bodies:
                store.put(key, body, _type_of(row, key, body))
        except StorageUnavailable as exc:
            row.next_attempt_at = now + PENDING_RETRY
            session.commit()
            log.info("media store still unavailable (%s)", exc)
            break  # the store is away: the next rows would wait just the same
        _mark_stored(session, row.content_hash or "", now)
        session.commit()
        for key in keys:
            local.delete(key)
        stored += 1
    return stored


def _type_of(row: Attachment, key: str, body: bytes) -> str:
    if key == row.storage_key:
        return row.content_type or "application/octet-stream"
    return derived_type(body)  # a copy made here


def _mark_stored(session: Session, content_hash: str, now: dt.datetime) -> None:
    # Every pending row of the same bytes is stored by the same objects.
    for row in session.scalars(
        select(Attachment).where(Attachment.status == "pending", Attachment.content_hash == content_hash)
    ):
        row.status = "stored"
        row.stored_at = now
        row.last_error = None
        row.next_attempt_at = None


def delete_purged(app: Flask, session: Session, limit: int = 200) -> int:
    """Delete the files of attachments retention has purged (cases/retention.py); rows whose files went.

    The row keeps its hash and loses its keys. Objects shared with a kept attachment (the same bytes sent by
    someone else) stay. Commits; stops at the first storage failure (the next sweep goes on).
    """
    rows = session.scalars(
        select(Attachment)
        .where(Attachment.purged_at.is_not(None), Attachment.storage_key.is_not(None))
        .order_by(Attachment.id)
        .limit(limit)
    ).all()
    store, local = storage_for(app), pending_storage(app)
    deleted = 0
    for row in rows:
        keys = [key for key in (row.storage_key, row.view_key, row.thumb_key, row.poster_key) if key]
        shared = session.scalar(
            select(Attachment.id)
            .where(
                Attachment.content_hash == row.content_hash,
                Attachment.purged_at.is_(None),
                Attachment.id != row.id,
            )
            .limit(1)
        )
        try:
            if shared is None:
                for key in keys:
                    store.delete(key)
                    local.delete(key)
        except StorageUnavailable as exc:
            log.info("purged files not deleted yet (%s)", exc)
            break
        row.storage_key = row.view_key = row.thumb_key = row.poster_key = None
        deleted += 1
    session.commit()
    return deleted

