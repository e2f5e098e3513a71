"""People who work in the console, with their roles, and the quality flags supervisors put on conversations."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow

ROLES = ("operator", "reviewer", "supervisor", "admin")


class User(Base):
    """A console account. ``roles`` is a comma-separated subset of :data:`ROLES` (a small unit doubles up)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(80), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    roles: Mapped[str] = mapped_column(String(80))
    # Departments whose cases the user may see (comma-separated; empty = all). Used by the case pages.
    departments: Mapped[str] = mapped_column(String(400), default="")
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(80), default="")
    last_login_at: Mapped[dt.datetime | None] = mapped_column()
    password_changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @property
    def role_set(self) -> frozenset[str]:
        """The user's roles."""
        return frozenset(r for r in self.roles.split(",") if r)


class QaFlag(Base):
    """A supervisor's quality note on a conversation or on one message in it."""

    __tablename__ = "qa_flags"

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    # e.g. wrong_reply, slow_reply, no_reply, misrouted, good_example
    kind: Mapped[str] = mapped_column(String(24))
    note: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    is_resolved: Mapped[bool] = mapped_column(default=False)
