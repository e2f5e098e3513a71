"""Every message that crossed the account, inbound and outbound, with its raw form and its provenance."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import BigInteger, Enum, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class Direction(enum.Enum):
    """Which way a message went."""

    IN = "in"
    OUT = "out"


class Message(Base):
    """An inbound message or event from a citizen, or an outbound reply to one.

    Inbound rows carry ``dedup_key`` (unique): the database's guarantee that a message WeChat
    delivered three times is stored once even if Redis lost the claim. Outbound rows carry the
    template key and version that produced the text, and who chose it.
    """

    __tablename__ = "messages"
    __table_args__ = (
        # The dashboard counts inbound messages of a period by day, intent and department: an index-only scan.
        # citizen_id and channel ride along (PostgreSQL INCLUDE): leaving out the try-it chat and counting by
        # channel stay index-only too.
        Index(
            "ix_messages_direction_received",
            "direction",
            "received_at",
            "intent",
            "department",
            postgresql_include=["citizen_id", "channel"],
        ),
        # A citizen's thread in order, and its latest messages (the inbox reads the newest per citizen); it also
        # serves every lookup by citizen alone, so it replaces the single-column index at no extra write cost.
        Index("ix_messages_citizen_id_id", "citizen_id", "id"),
        # The inbox's 紧急 mark: the few messages with an emergency, by thread (partial: nothing for the rest).
        Index(
            "ix_messages_emergency_citizen",
            "citizen_id",
            postgresql_where=text("emergency_kind IS NOT NULL"),
            sqlite_where=text("emergency_kind IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    direction: Mapped[Direction] = mapped_column(
        Enum(Direction, native_enum=False, length=8, values_callable=lambda e: [m.value for m in e])
    )
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"))
    # Unique among inbound messages; NULL on outbound rows (NULLs never collide).
    dedup_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    wechat_msg_id: Mapped[int | None] = mapped_column(BigInteger)
    msg_type: Mapped[str] = mapped_column(String(40))
    # The door the message came through (wechat; later web, open311, hotline): one loop, counted by channel.
    channel: Mapped[str] = mapped_column(String(16), default="wechat", server_default="wechat")
    event: Mapped[str | None] = mapped_column(String(64))
    event_key: Mapped[str | None] = mapped_column(String(512))
    content: Mapped[str] = mapped_column(Text, default="")
    raw_xml: Mapped[str | None] = mapped_column(Text)
    # CreateTime as WeChat stamped it (inbound) or when we rendered the reply (outbound).
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    in_reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    template_key: Mapped[str | None] = mapped_column(String(80))
    template_version: Mapped[int | None] = mapped_column(Integer)
    # "bot" for automatic replies; a console user's name once people answer (console issue).
    responder: Mapped[str | None] = mapped_column(String(80))
    # What triage decided about an inbound text, kept so a supervisor can see why it was routed so.
    intent: Mapped[str | None] = mapped_column(String(16), index=True)
    department: Mapped[str | None] = mapped_column(String(40))
    confidence_intent: Mapped[float | None] = mapped_column(Float)
    confidence_department: Mapped[float | None] = mapped_column(Float)
    emergency_kind: Mapped[str | None] = mapped_column(String(16))
    reasons: Mapped[str | None] = mapped_column(Text)  # JSON list
    # Customer-service messages (sent later through WeChat's API by a job): queued → sending → sent |
    # failed, with WeChat's error code and what to do instead. NULL for passive replies.
    delivery_status: Mapped[str | None] = mapped_column(String(12), index=True)
    delivery_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[dt.datetime | None] = mapped_column()
    # When the send began ("sending"): a send that never finished (its worker killed) is found by it.
    delivery_started_at: Mapped[dt.datetime | None] = mapped_column()
    # How a sent message reached the citizen: kf (customer-service message) or subscribe (订阅通知, after the
    # 48-hour window); NULL for passive replies and anything not sent.
    delivered_via: Mapped[str | None] = mapped_column(String(12))
    # Tamper evidence (cases/chain.py): a digest of the text as received, and the row's link in
    # the keyed hash chain, both set by the sealer shortly after the row is written.
    content_hash: Mapped[str | None] = mapped_column(String(64))
    chain_hash: Mapped[str | None] = mapped_column(String(64))
    # The campaign (征集) an inbound opinion belongs to, or an outcome notice was sent for (models/campaign.py).
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"), index=True)
