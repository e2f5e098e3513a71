"""A customer-service message (客服消息) waiting to be sent: the one row shape every sender writes.

Answers from a case page, owed acknowledgements after an outage, campaign outcomes and duty notices are all an
outbound message with the vetted text, the template version that produced it and who chose it, in delivery
status ``queued``; bot/jobs.py claims and sends it. The caller adds the row, commits, then enqueues its delivery.
"""

from __future__ import annotations

import datetime as dt

from models import Direction, Message

# Responders that are not a person: their messages never answer a case (models.case.Case.answered_at).
NOT_A_PERSON = ("", "bot")


def queued_message(
    citizen_id: int,
    text: str,
    template_key: str,
    template_version: int,
    responder: str,
    now: dt.datetime,
    *,
    case_id: int | None = None,
    in_reply_to_id: int | None = None,
    campaign_id: int | None = None,
    refused: str | None = None,
) -> Message:
    """The row of a message to send; with ``refused`` (why it cannot be sent) it is recorded as failed at once."""
    return Message(
        direction=Direction.OUT,
        citizen_id=citizen_id,
        msg_type="text",
        content=text,
        created_at=now,
        received_at=now,
        in_reply_to_id=in_reply_to_id,
        case_id=case_id,
        campaign_id=campaign_id,
        template_key=template_key,
        template_version=template_version,
        responder=responder,
        delivery_status="failed" if refused else "queued",
        delivery_error=refused,
    )
