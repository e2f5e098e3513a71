"""The head of each hash-chained table: the last sealed row, so deleting rows at the end is caught."""

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
