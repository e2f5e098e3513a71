"""Rising-issue incidents (舆情预警): what the detector grouped, when, and the public-opinion clock it opened."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class OpinionIncident(Base):
    """One alert of cases/opinion.py: a theme and/or place rising, its messages, and the 5/24/48-hour clock.

    The clock's three steps (权威信息 within 5 hours, 情况说明 within 24, 回应关切 within 48) are marked done by a
    supervisor; the deadlines are ``raised_at`` plus those hours.
    """

    __tablename__ = "opinion_incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    theme: Mapped[str | None] = mapped_column(String(20))
    place: Mapped[str | None] = mapped_column(String(40))
    raised_at: Mapped[dt.datetime] = mapped_column(index=True)
    first_at: Mapped[dt.datetime] = mapped_column()
    last_at: Mapped[dt.datetime] = mapped_column()
    # Distinct citizens when raised, and what the baseline expected in the window.
    citizens: Mapped[int] = mapped_column(Integer)
    expected: Mapped[float] = mapped_column(Float)
    # Inbound message ids grouped and linked (JSON list, in order).
    message_ids: Mapped[str] = mapped_column(Text, default="[]")
    status: Mapped[str] = mapped_column(String(12), default="open", index=True)  # open / closed
    info_at: Mapped[dt.datetime | None] = mapped_column()
    briefing_at: Mapped[dt.datetime | None] = mapped_column()
    response_at: Mapped[dt.datetime | None] = mapped_column()
    closed_at: Mapped[dt.datetime | None] = mapped_column()
    # Who was told (masked openids) and what could not be sent.
    notified: Mapped[str] = mapped_column(Text, default="")
    updated_by: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
