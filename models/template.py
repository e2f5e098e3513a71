"""Reply templates, their immutable versions and the reviews that approved them: the only source of outbound text."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Enum, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, utcnow


class TemplateStatus(enum.Enum):
    """Lifecycle of one version: draft → in review → approved → published → retired (or rejected)."""

    DRAFT = "draft"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    PUBLISHED = "published"
    RETIRED = "retired"
    REJECTED = "rejected"


def _enum(cls: type[enum.Enum]) -> Enum:
    return Enum(cls, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])


class ReplyTemplate(Base):
    """A named reply (``key``) with what triggers it and where it applies; its text lives in versions."""

    __tablename__ = "reply_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)
    # follow, default, intake, acknowledgement, faq, keyword, status, closing, survey, emergency, fallback …
    purpose: Mapped[str] = mapped_column(String(40))
    # The Chinese name staff know the template by, shown before the key (not citizen-facing, so not reviewed).
    title: Mapped[str | None] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(Text, default="")
    # Scope: which messages the template may answer (None = any).
    scope_intent: Mapped[str | None] = mapped_column(String(20))
    scope_department: Mapped[str | None] = mapped_column(String(40))
    scope_case_state: Mapped[str | None] = mapped_column(String(24))
    # Kill switch per template: when false the bot sends the safe fallback instead.
    is_enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(80), default="seed")

    versions: Mapped[list[TemplateVersion]] = relationship(
        back_populates="template", order_by="TemplateVersion.version"
    )


class TemplateVersion(Base):
    """One immutable text of a template (body and triggers), with who wrote, reviewed and published it."""

    __tablename__ = "template_versions"
    __table_args__ = (UniqueConstraint("template_id", "version", name="template_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("reply_templates.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    # What makes the bot send it: FAQ questions, or keywords matched as ``match_mode`` (contain / equal).
    # A JSON list; reviewed with the body, because when a text is sent matters as much as what it says.
    triggers: Mapped[str] = mapped_column(Text, default="[]")
    match_mode: Mapped[str | None] = mapped_column(String(10))
    status: Mapped[TemplateStatus] = mapped_column(_enum(TemplateStatus))
    author: Mapped[str] = mapped_column(String(80))
    # The checks' findings when submitted (JSON list of {rule, span, text, message}).
    findings: Mapped[str] = mapped_column(Text, default="[]")
    # Findings a reviewer accepted, with the reason (JSON list of {rule, text, reason, by}).
    overrides: Mapped[str] = mapped_column(Text, default="[]")
    review_levels: Mapped[int] = mapped_column(Integer, default=1)
    approved_by: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[dt.datetime | None] = mapped_column()
    approved_at: Mapped[dt.datetime | None] = mapped_column()
    published_at: Mapped[dt.datetime | None] = mapped_column()
    published_by: Mapped[str | None] = mapped_column(String(80))
    retired_at: Mapped[dt.datetime | None] = mapped_column()
    # Link in the keyed hash chain over the immutable part of versions (cases/chain.py).
    chain_hash: Mapped[str | None] = mapped_column(String(64))

    template: Mapped[ReplyTemplate] = relationship(back_populates="versions")
    reviews: Mapped[list[TemplateReview]] = relationship(back_populates="version", order_by="TemplateReview.id")


class ReviewDecision(enum.Enum):
    """What a reviewer decided about a version at one review level."""

    APPROVE = "approve"
    REJECT = "reject"


class TemplateReview(Base):
    """One reviewer's decision on one version at one level (三审: first, second, final review)."""

    __tablename__ = "template_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("template_versions.id"), index=True)
    level: Mapped[int] = mapped_column(Integer)
    reviewer: Mapped[str] = mapped_column(String(80))
    decision: Mapped[ReviewDecision] = mapped_column(_enum(ReviewDecision))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Link in the keyed hash chain (cases/chain.py).
    chain_hash: Mapped[str | None] = mapped_column(String(64))

    version: Mapped[TemplateVersion] = relationship(back_populates="reviews")


class Setting(Base):
    """A unit-wide setting changed at run time (the automatic-reply kill switch, review levels per purpose)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[str] = mapped_column(Text)  # JSON
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(80))
