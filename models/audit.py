"""The audit log: who did what to the library, the settings and (later) cases, when and from where."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class AuditEntry(Base):
    """One recorded action; rows are only ever added."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(80), index=True)
    # e.g. template.draft, template.submit, template.approve, template.publish, library.kill_switch
    action: Mapped[str] = mapped_column(String(40), index=True)
    target: Mapped[str] = mapped_column(String(120), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(64), default="")  # IP address, or "cli"
    # Link in the keyed hash chain (cases/chain.py), set by the sealer.
    chain_hash: Mapped[str | None] = mapped_column(String(64))
