"""A citizen as the account knows them: a WeChat OpenID and when they were seen."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow

# The console's try-it chat talks to the bot as pretend citizens with this OpenID prefix (no real OpenID has it:
# WeChat's start with "o" followed by the account's own letters, never "TRY"); statistics and QA samples skip them.
TRY_OPENID_PREFIX = "oTRY"

# Citizens who came through another door have no OpenID: their key is the channel and an identity within it,
# "web:…", "open311:…", "hotline:…" (WeChat's OpenIDs are letters, digits, "-" and "_": never a colon). Nothing can
# be sent to them through WeChat's API; the channel's own way answers them (the Open311 status, a phone call).
CHANNELS = ("wechat", "web", "open311", "hotline")


def channel_identity(channel: str, ident: str) -> str:
    """The ``openid`` key of a citizen known only to ``channel`` by ``ident`` (a token, or a keyed hash)."""
    if channel not in CHANNELS or channel == "wechat":
        raise ValueError(f"not another channel: {channel!r}")
    return f"{channel}:{ident}"[:64]


def channel_of(openid: str) -> str:
    """The door a citizen came through, read from their key ("wechat" for a WeChat OpenID)."""
    return openid.split(":", 1)[0] if ":" in openid else "wechat"


def reachable_by_wechat(openid: str) -> bool:
    """True if ``openid`` is WeChat's (messages can be sent to it), false for another channel's citizen."""
    return ":" not in openid


class Citizen(Base):
    """One follower (or past follower) of the account, keyed by OpenID."""

    __tablename__ = "citizens"

    id: Mapped[int] = mapped_column(primary_key=True)
    openid: Mapped[str] = mapped_column(String(64), unique=True)
    first_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Indexed: the inbox lists threads by their latest message.
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    is_subscribed: Mapped[bool] = mapped_column(default=True)
