"""Record stage: the citizen and the inbound message, stored exactly once."""

from __future__ import annotations

import logging

from handlers.store import sql
from handlers.turn import Turn
from handlers.types import OutboundReply
from replies.pii import mask_openid

log = logging.getLogger(__name__)


class Duplicate(Exception):
    """The message was stored before: carry the reply it got, if any."""

    def __init__(self, reply: OutboundReply | None) -> None:
        super().__init__("duplicate delivery")
        self.reply = reply


def record(turn: Turn) -> OutboundReply | None:
    """Upsert the citizen and insert the message; a duplicate stops the pipeline with its first reply."""
    msg, session = turn.msg, turn.session
    stmts = sql(session)
    conn = session.connection()
    turn.citizen_id = conn.execute(stmts.upsert_citizen, {"openid": msg.openid, "now": turn.now}).scalar_one()
    inserted = conn.execute(
        stmts.insert_inbound,
        {
            "citizen_id": turn.citizen_id,
            "dedup_key": msg.dedup_key,
            "msg_id": msg.msg_id,
            "msg_type": msg.kind,
            "event": msg.event,
            "event_key": msg.event_key,
            "content": msg.text,
            "raw_xml": msg.raw_xml,
            "created_at": msg.create_time,
            "now": turn.now,
        },
    ).scalar_one_or_none()
    if inserted is not None:
        turn.inbound_id = inserted
        return None
    # Redis lost (or never had) the claim and the database caught the repeat.
    log.info("duplicate delivery of %s from %s; repeating the stored reply", msg.dedup_key, mask_openid(msg.openid))
    raise Duplicate(stored_reply(turn))


def stored_reply(turn: Turn) -> OutboundReply | None:
    """The reply recorded for an earlier delivery of the same message (None if it got none)."""
    stmts = sql(turn.session)
    conn = turn.session.connection()
    first_id = conn.execute(stmts.first_by_dedup, {"dedup_key": turn.msg.dedup_key}).scalar_one()
    row = conn.execute(stmts.reply_to, {"inbound_id": first_id}).first()
    if row is None:
        return None
    return OutboundReply(row.content, row.template_key or "", row.template_version or 0, row.msg_type)
