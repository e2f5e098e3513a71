"""The head of each hash-chained table: the last sealed row (deleting rows at the end is caught) and the horizon."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class ChainHead(Base):
    """The last sealed row of one hash-chained table."""

    __tablename__ = "chain_heads"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))
    sealed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # The highest id visible when the horizon was taken: rows up to it are sealed SETTLE later
    # (cases/chain.py), whatever order their transactions committed in.
    horizon_id: Mapped[int | None] = mapped_column(Integer)
    horizon_at: Mapped[dt.datetime | None]
