"""What staff have done with a citizen's thread: its status, who holds it, how far it has been read.

One row per citizen thread, written only by the console (never on the message path, which stays one insert a
message). A thread with no row is open, unassigned and unread. A message newer than ``status_message_id``
reopens a waiting or closed thread when it is read (cases/threads.py), as help-desk inboxes do.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class ThreadState(Base):
    """Status (open / waiting / closed), assignee and read mark of one citizen's thread."""

    __tablename__ = "thread_states"

    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(12), default="open")
    # The highest message id when the status was set: a later inbound message reopens the thread.
    status_message_id: Mapped[int] = mapped_column(Integer, default=0)
    assignee: Mapped[str | None] = mapped_column(String(80), index=True)
    # The highest message id staff have seen in this thread (shared by the team, as in Chatwoot).
    seen_message_id: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(80), default="")
