"""What other doors need stored: Open311 API keys, citizens' attachments, and consent to 订阅通知.

Every channel (the web form, Open311, the 12345 hotline import) writes its messages and cases through the same
pipeline as WeChat; these tables hold only what a channel adds: who may call the API, the photos, voice and video
citizens sent, and the one-time consents that let an answer reach a citizen after the 48-hour window.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class ApiKey(Base):
    """A key an Open311 client (a city app, FixMyStreet) posts requests with; only its SHA-256 is kept."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    # Hex SHA-256 of the whole key (keys are long random strings: a fast hash is enough, and lookups are exact).
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters, shown in the console so a key can be recognised without being disclosed.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(80), default="")
    revoked_at: Mapped[dt.datetime | None] = mapped_column()
    revoked_by: Mapped[str | None] = mapped_column(String(80))
    last_used_at: Mapped[dt.datetime | None] = mapped_column()


class Attachment(Base):
    """A photo, voice message or video a citizen sent (WeChat media or a web-form upload) and where it is kept.

    WeChat's temporary media are deleted after three days: a background job fetches them after the reply
    (``status`` pending → stored | failed, retried at ``next_attempt_at``). The original goes to object storage
    under ``storage_key``; staff see a copy without EXIF location (``view_key``) and a thumbnail.
    """

    __tablename__ = "attachments"
    __table_args__ = (Index("ix_attachments_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # image / voice / video / shortvideo
    channel: Mapped[str] = mapped_column(String(16), default="wechat", server_default="wechat")
    # Where it came from: WeChat's MediaId (and PicUrl for images); NULL for uploads.
    media_id: Mapped[str | None] = mapped_column(String(128))
    source_url: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending / stored / failed
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    content_hash: Mapped[str | None] = mapped_column(String(64), index=True)  # hex SHA-256 of the original
    content_type: Mapped[str | None] = mapped_column(String(64))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    storage_key: Mapped[str | None] = mapped_column(String(200))
    view_key: Mapped[str | None] = mapped_column(String(200))
    thumb_key: Mapped[str | None] = mapped_column(String(200))
    poster_key: Mapped[str | None] = mapped_column(String(200))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    # EXIF GPS position of the original (kept in the record, never shown to staff with the picture), as JSON.
    exif_location: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    stored_at: Mapped[dt.datetime | None] = mapped_column()
    # Set by retention with the rest of the citizen's personal data (the files are deleted, the hash stays).
    purged_at: Mapped[dt.datetime | None] = mapped_column()


class NoticeConsent(Base):
    """A citizen's consent to one 订阅通知 (subscribe message) of a template, and its use.

    One-time consents are used once: ``used_at`` and the message sent with it. ``status`` granted / used /
    rejected (the citizen declined) / refused (WeChat refused the send, e.g. 43101: no consent left).
    """

    __tablename__ = "notice_consents"
    __table_args__ = (Index("ix_notice_consents_citizen_status", "citizen_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    template_id: Mapped[str] = mapped_column(String(64))
    scene: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    source: Mapped[str] = mapped_column(String(16))  # one_time / popup / long_term
    status: Mapped[str] = mapped_column(String(12), default="granted")
    granted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    used_at: Mapped[dt.datetime | None] = mapped_column()
    used_message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    detail: Mapped[str] = mapped_column(Text, default="")
