"""Alerts for supervisors: things that went wrong and that a person must look at."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class Alert(Base):
    """One alert (e.g. a template failed its final check and the safe fallback went out)."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    detail: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    is_resolved: Mapped[bool] = mapped_column(default=False)
