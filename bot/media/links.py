"""Short-lived signed links to attachments for the console, and what a page shows of each attachment.

A page that may show a case or a thread lists its attachments with links signed (itsdangerous, ``SECRET_KEY``)
for the signed-in user, one attachment and one part (``thumb``, ``view``, ``poster``, ``original``), valid for
``MEDIA_URL_SECONDS``. The route that serves them (``console.media`` in ``bot/console/pages_cases.py``) checks the
signature, the user, and again whether that user may see the case or the message: a link copied out of a page
is useless to anyone else and soon to its owner too.

Staff see an image's ``view`` (no EXIF location) and thumbnail; a voice's playable MP3 beside its transcription;
a video's poster and the video itself. The original of an image (with its location) is for supervisors only;
every original served is written to the audit log.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from models import Attachment, Message

SALT = "minsheng.media-link"
PARTS = ("thumb", "view", "poster", "original")
STATUS_NAMES = {"pending": "正在取回", "stored": "已保存", "failed": "未能取回"}
KIND_NAMES = {"image": "图片", "voice": "语音", "video": "视频", "shortvideo": "小视频"}


class LinkRefused(Exception):
    """A link that is forged, expired, or for another user."""


@dataclasses.dataclass(frozen=True)
class Target:
    """What a valid link names."""

    attachment_id: int
    part: str
    user: str


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=SALT)


def sign(secret_key: str, attachment_id: int, part: str, user: str) -> str:
    """A token for one part of one attachment, for one user."""
    if part not in PARTS:
        raise ValueError(part)
    return str(_serializer(secret_key).dumps([int(attachment_id), part, user]))


def verify(secret_key: str, token: str, max_age: int) -> Target:
    """What ``token`` names, if it is genuine and younger than ``max_age`` seconds; else LinkRefused."""
    try:
        value = _serializer(secret_key).loads(token, max_age=max_age)
    except SignatureExpired:
        raise LinkRefused("expired") from None
    except BadSignature:
        raise LinkRefused("forged") from None
    if (
        not isinstance(value, list)
        or len(value) != 3
        or not isinstance(value[0], int)
        or value[1] not in PARTS
        or not isinstance(value[2], str)
    ):
        raise LinkRefused("malformed")
    return Target(value[0], value[1], value[2])


@dataclasses.dataclass(frozen=True)
class Shown:
    """One attachment as a console page shows it; URLs are None for parts that do not exist or may not be seen."""

    id: int
    message_id: int
    case_id: int | None
    kind: str
    kind_name: str
    status: str
    status_name: str
    at: dt.datetime
    content_type: str | None
    size_bytes: int | None
    sha256: str | None
    width: int | None
    height: int | None
    has_location: bool
    reason: str | None  # why it is not (yet) there, in Chinese
    transcript: str  # a voice message's recognised text (masked by the caller)
    purged: bool
    thumb_url: str | None = None
    view_url: str | None = None
    poster_url: str | None = None
    original_url: str | None = None

    @property
    def size_text(self) -> str:
        """The size as people read it (KB, MB)."""
        size = self.size_bytes or 0
        return f"{size / 1024 / 1024:.1f} MB" if size >= 1024 * 1024 else f"{max(size, 1) / 1024:.0f} KB"


def shown(
    rows: Iterable[tuple[Attachment, Message]],
    url: Callable[[int, str], str],
    *,
    originals: bool,
    mask: Callable[[str], str],
) -> list[Shown]:
    """The attachments for a page; ``url(id, part)`` makes a signed link, ``originals`` allows image originals."""
    out = []
    for row, message in rows:
        ready = row.status == "stored" and row.purged_at is None
        reason = None
        if row.purged_at is not None:
            reason = "已按保存期限删除文件（仅保留哈希值）"
        elif row.status == "failed":
            reason = row.last_error or "原因未知"
        elif row.status == "pending":
            reason = row.last_error or "微信素材正在取回，请稍后刷新"

        def link(part: str, key: str | None, row: Attachment = row, ready: bool = ready) -> str | None:
            return url(row.id, part) if ready and key else None

        image = row.kind == "image"
        out.append(
            Shown(
                id=row.id,
                message_id=row.message_id,
                case_id=row.case_id,
                kind=row.kind,
                kind_name=KIND_NAMES.get(row.kind, "附件"),
                status=row.status,
                status_name="已删除" if row.purged_at is not None else STATUS_NAMES.get(row.status, "未知"),
                at=message.received_at,
                content_type=row.content_type,
                size_bytes=row.size_bytes,
                sha256=row.content_hash,
                width=row.width,
                height=row.height,
                has_location=bool(row.exif_location),
                reason=reason,
                transcript=mask(message.content) if row.kind == "voice" and message.content else "",
                purged=row.purged_at is not None,
                thumb_url=link("thumb", row.thumb_key),
                view_url=link("view", row.view_key),
                poster_url=link("poster", row.poster_key),
                original_url=link("original", row.storage_key) if (originals or not image) else None,
            )
        )
    return out


def storage_key(row: Attachment, part: str) -> str | None:
    """The object key of one part of a row."""
    return {"thumb": row.thumb_key, "view": row.view_key, "poster": row.poster_key, "original": row.storage_key}.get(
        part
    )
