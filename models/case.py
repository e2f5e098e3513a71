"""A case: a citizen's complaint, request or question that a person must answer by a deadline."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Enum, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


def _enum(cls: type[enum.Enum]) -> Enum:
    # VARCHAR + CHECK rather than a native PostgreSQL enum: adding a value later is a plain migration.
    return Enum(cls, native_enum=False, length=24, values_callable=lambda e: [m.value for m in e])


class CaseType(enum.Enum):
    """12345 request types (GB/T 33358), plus emergencies handed to 110/119/120/122."""

    INQUIRY = "inquiry"  # 咨询
    HELP = "help"  # 求助
    COMPLAINT = "complaint"  # 投诉
    REPORT = "report"  # 举报
    SUGGESTION = "suggestion"  # 建议
    PRAISE = "praise"  # 表扬
    EMERGENCY = "emergency"


class CaseStatus(enum.Enum):
    """Where a case is in the loop 受理 → 派单 → 办理 → 答复 → 办结."""

    ACCEPTED = "accepted"  # 受理
    ASSIGNED = "assigned"  # 派单
    IN_PROGRESS = "in_progress"  # 办理
    ANSWERED = "answered"  # 答复
    CLOSED = "closed"  # 办结
    MERGED = "merged"  # 并入另一件重复诉求
    HANDED_OVER = "handed_over"  # 移交110/119/120/122


class Case(Base):
    """One case, numbered for the citizen, owned by a department queue until a person takes it."""

    __tablename__ = "cases"
    __table_args__ = (
        # The dashboard's KPIs over the cases opened in a period, read from the index alone on PostgreSQL.
        Index(
            "ix_cases_opened_at",
            "opened_at",
            postgresql_include=[
                "status",
                "case_type",
                "owner_department",
                "transfer_to",
                "due_at",
                "answered_at",
                "closed_at",
                "rating",
                "citizen_id",
                "channel",
            ],
        ),
        # The case queue filtered by status and department, in deadline order (e.g. one department's overdue).
        Index("ix_cases_status_owner_due", "status", "owner_department", "due_at"),
        # A citizen's cases newest first (the inbox names the latest three of each thread); serves every lookup
        # by citizen alone too.
        Index("ix_cases_citizen_id_id", "citizen_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Human-readable number the citizen quotes: the local date of acceptance + the zero-padded id of
    # the opening message (unique, and known before the row is written).
    number: Mapped[str] = mapped_column(String(32), unique=True)
    # The door the case came through, as its opening message's (wechat; later web, open311, hotline).
    channel: Mapped[str] = mapped_column(String(16), default="wechat", server_default="wechat")
    case_type: Mapped[CaseType] = mapped_column(_enum(CaseType))
    status: Mapped[CaseStatus] = mapped_column(_enum(CaseStatus), default=CaseStatus.ACCEPTED, index=True)
    department: Mapped[str] = mapped_column(String(40), index=True)
    is_urgent: Mapped[bool] = mapped_column(default=False)
    emergency_kind: Mapped[str | None] = mapped_column(String(16))
    needs_triage: Mapped[bool] = mapped_column(default=False)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"))
    # A message opens at most one case.
    opening_message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", use_alter=True), unique=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    opened_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # The answer deadline promised to the citizen in the acknowledgement.
    due_at: Mapped[dt.datetime] = mapped_column(index=True)
    # Working days (or hours, for urgent cases) the deadline was computed from, for audit.
    sla_amount: Mapped[int] = mapped_column(Integer)
    sla_unit: Mapped[str] = mapped_column(String(12))
    closed_at: Mapped[dt.datetime | None] = mapped_column()
    # First-receiver ownership (首接负责制): the department queue owns the case; a named person
    # once the console assigns it.
    owner_department: Mapped[str] = mapped_column(String(40))
    owner_user: Mapped[str | None] = mapped_column(String(80))
    # A transfer proposed to another department; the owner keeps the case until it is accepted.
    transfer_to: Mapped[str | None] = mapped_column(String(40))
    # An extension asked for (working days) and waiting for a supervisor's approval.
    extension_days: Mapped[int | None] = mapped_column(Integer)
    extension_reason: Mapped[str | None] = mapped_column(Text)
    # Server defaults too: the PostgreSQL message path inserts cases with one raw statement.
    extended: Mapped[bool] = mapped_column(default=False, server_default=false())
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    handed_to: Mapped[str | None] = mapped_column(String(8))  # 110 / 119 / 120 / 122
    # A public-opinion flag puts the case on an hour clock (24 h / 48 h).
    public_opinion: Mapped[bool] = mapped_column(default=False, server_default=false())
    # When a person's answer reached the citizen (bot replies never count).
    answered_at: Mapped[dt.datetime | None] = mapped_column()
    reopened_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # 1 非常不满意 … 5 非常满意; a rating of 1 or 2 opens a revisit task.
    rating: Mapped[int | None] = mapped_column(Integer)
    rated_at: Mapped[dt.datetime | None] = mapped_column()
    revisit_due: Mapped[bool] = mapped_column(default=False, server_default=false())
    updated_at: Mapped[dt.datetime | None] = mapped_column()


class CaseEvent(Base):
    """One step of a case through the loop: who did what, when, and why (never edited)."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(80))
    # accept, assign, start, transfer, transfer_accept, transfer_decline, return, extend_request,
    # extend_approve, extend_reject, answer, close, reopen, merge, hand_over, rate, revisit, note
    action: Mapped[str] = mapped_column(String(24))
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str | None] = mapped_column(String(24))
    detail: Mapped[str] = mapped_column(Text, default="")
