"""Record stage: the citizen and the inbound message, stored exactly once."""
from __future__ import annotations

import logging

from sqlalchemy import select

from handlers.store import insert_for
from handlers.turn import Turn
from handlers.types import OutboundReply
from models import Citizen, Direction, Message
from replies.pii import mask_openid

log = logging.getLogger(__name__)


def record(turn: Turn) -> OutboundReply | None:
    """Upsert the citizen and insert the message; a duplicate stops the pipeline with its first reply."""
    msg, session = turn.msg, turn.session
    citizen_insert = insert_for(session, Citizen).values(
        openid=msg.openid, first_seen_at=turn.now, last_seen_at=turn.now, is_subscribed=True
    )
    turn.citizen_id = session.execute(
        citizen_insert.on_conflict_do_update(
            index_elements=[Citizen.openid], set_={"last_seen_at": citizen_insert.excluded.last_seen_at}
        ).returning(Citizen.id)
    ).scalar_one()

    inserted = session.execute(
        insert_for(session, Message)
        .values(
            direction=Direction.IN,
            citizen_id=turn.citizen_id,
            dedup_key=msg.dedup_key,
            wechat_msg_id=msg.msg_id,
            msg_type=msg.kind,
            event=msg.event,
            event_key=msg.event_key,
            content=msg.text,
            raw_xml=msg.raw_xml,
            created_at=msg.create_time,
            received_at=turn.now,
        )
        .on_conflict_do_nothing(index_elements=[Message.dedup_key])
        .returning(Message.id)
    ).scalar_one_or_none()
    if inserted is not None:
        turn.inbound_id = inserted
        return None
    log.info("duplicate delivery of %s from %s; repeating the stored reply", msg.dedup_key, mask_openid(msg.openid))
    raise Duplicate(stored_reply(turn))


class Duplicate(Exception):
    """The message was stored before: carry the reply it got, if any."""

    def __init__(self, reply: OutboundReply | None) -> None:
        super().__init__("duplicate delivery")
        self.reply = reply


def stored_reply(turn: Turn) -> OutboundReply | None:
    """The reply recorded for an earlier delivery of the same message (None if it got none)."""
    session = turn.session
    first_id = session.execute(select(Message.id).where(Message.dedup_key == turn.msg.dedup_key)).scalar_one()
    row = session.execute(
        select(Message.content, Message.template_key, Message.template_version, Message.msg_type)
        .where(Message.in_reply_to_id == first_id, Message.direction == Direction.OUT)
        .order_by(Message.id)
        .limit(1)
    ).first()
    if row is None:
        return None
    return OutboundReply(row.content, row.template_key or "", row.template_version or 0, row.msg_type)
