"""The state of one inbound message as it moves through the stages."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from handlers.triage import Triage
from handlers.types import InboundMessage, OutboundReply


@dataclasses.dataclass
class Turn:
    """One message's trip through the pipeline: what stages learned and decided so far.

    Stages decide; the store writes what they decided (citizen, message, case, reply) in one go.
    """

    msg: InboundMessage
    session: Session
    now: dt.datetime
    generation: str | None = None
    citizen_id: int | None = None
    inbound_id: int | None = None
    # True/False when the message changes the follow state (subscribe/unsubscribe).
    subscribed: bool | None = None
    triage: Triage | None = None
    # Column values of the case the act stage decided to open (the store writes it with the message).
    case: dict[str, Any] | None = None
    # What to answer: a template key and its variables (respond renders it into ``reply``).
    reply_key: str | None = None
    # Said instead of ``reply_key`` when that template is not published (a menu without its own reply).
    unpublished_key: str | None = None
    variables: dict[str, Any] = dataclasses.field(default_factory=dict)
    deadline_with_time: bool = False
    # The citizen writes in Traditional characters (None: not known yet; respond reads the text).
    traditional: bool | None = None
    reply: OutboundReply | None = None
    # Redis for conversation state and reply limits; None (not given, or failed) means single-turn replies.
    redis: Any = None
    # Redis values read ahead with the claim (key → value or None), so loading them costs no round trip.
    prefetched: dict[str, Any] | None = None
    # The citizen's open intake form (JSON state, see handlers/converse.py), as loaded and then as decided;
    # written back after the message is stored, and only if ``conversation_changed``.
    conversation: dict[str, Any] | None = None
    conversation_changed: bool = False
    # No form open, but this one lapsed (idle past its TTL) not long ago.
    conversation_lapsed: str | None = None
    # The campaign (征集) this message is an opinion of (stored on the message), and the campaign the citizen
    # joined or stays in (its id), written to Redis after the message is stored, like the form.
    campaign_id: int | None = None
    campaign_joined: int | None = None
    campaign_ttl: int = 0
    # The campaign the citizen is inside (loaded with the conversation state; None: none, or not loaded).
    in_campaign: int | None = None
    # A pooled DB-API connection a store may hold for the turn (returned by ``Store.release``).
    raw_connection: Any = None
