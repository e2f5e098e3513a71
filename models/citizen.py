"""A citizen as the account knows them: a WeChat OpenID and when they were seen."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow

# The console's try-it chat talks to the bot as pretend citizens with this OpenID prefix (no real OpenID has it:
# WeChat's start with "o" followed by the account's own letters, never "TRY"); statistics and QA samples skip them.
TRY_OPENID_PREFIX = "oTRY"


class Citizen(Base):
    """One follower (or past follower) of the account, keyed by OpenID."""

    __tablename__ = "citizens"

    id: Mapped[int] = mapped_column(primary_key=True)
    openid: Mapped[str] = mapped_column(String(64), unique=True)
    first_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Indexed: the inbox lists threads by their latest message.
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    is_subscribed: Mapped[bool] = mapped_column(default=True)
