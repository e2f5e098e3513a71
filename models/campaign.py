"""Opinion-solicitation campaigns (征集): what is asked, how citizens join, and the themes their opinions form.

A campaign's texts (introduction, thanks, outcome) are reply templates referenced by key: they are reviewed and
published like every other reply (先审后发); the campaign row only says which ones it uses. Opinions are the
inbound messages whose ``campaign_id`` is set (models/message.py), so a campaign needs no copy of citizen text.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Enum, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class CampaignStatus(enum.Enum):
    """draft → open → closed; a closed campaign may be opened again (a period extended)."""

    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"


class Campaign(Base):
    """One campaign: its question(s), period, ways to join and the template keys of its texts."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(120))
    questions: Mapped[str] = mapped_column(Text, default="")
    # Ways to join; each optional, at least one set. The keyword is matched as handlers.autoreply.bare folds it.
    join_keyword: Mapped[str | None] = mapped_column(String(40))
    join_click_key: Mapped[str | None] = mapped_column(String(64))
    join_scene: Mapped[str | None] = mapped_column(String(64))
    starts_at: Mapped[dt.datetime] = mapped_column()
    ends_at: Mapped[dt.datetime] = mapped_column()
    intro_key: Mapped[str] = mapped_column(String(80))
    thanks_key: Mapped[str] = mapped_column(String(80))
    outcome_key: Mapped[str | None] = mapped_column(String(80))
    status: Mapped[CampaignStatus] = mapped_column(
        Enum(CampaignStatus, native_enum=False, length=12, values_callable=lambda e: [m.value for m in e]),
        default=CampaignStatus.DRAFT,
    )
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    opened_at: Mapped[dt.datetime | None] = mapped_column()
    closed_at: Mapped[dt.datetime | None] = mapped_column()
    themes_at: Mapped[dt.datetime | None] = mapped_column()
    outcome_sent_at: Mapped[dt.datetime | None] = mapped_column()
    outcome_sent_by: Mapped[str | None] = mapped_column(String(80))


class CampaignTheme(Base):
    """A theme found among a campaign's opinions, with masked quotes and staff's adopted / not adopted mark."""

    __tablename__ = "campaign_themes"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    label: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(Integer)
    share: Mapped[float] = mapped_column(Float)
    keywords: Mapped[str] = mapped_column(Text, default="[]")  # JSON list
    quotes: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of masked texts
    # None: not decided yet; True adopted (采纳); False not adopted.
    adopted: Mapped[bool | None] = mapped_column()
    note: Mapped[str] = mapped_column(Text, default="")
    marked_by: Mapped[str | None] = mapped_column(String(80))
    marked_at: Mapped[dt.datetime | None] = mapped_column()
    computed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
