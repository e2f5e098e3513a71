"""Respond stage: render the chosen template through the reply library and record what went out."""

from __future__ import annotations

from handlers.store import sql
from handlers.turn import Turn
from handlers.types import OutboundReply
from replies.library import Library


class Responder:
    """Renders ``turn.reply_key`` (published versions only) and stores the outbound message."""

    def __init__(self, library: Library) -> None:
        self.library = library

    def __call__(self, turn: Turn) -> OutboundReply | None:
        """The reply to send, recorded with its template and version; None when nothing is said."""
        if turn.reply_key is None:
            return None
        variables = dict(turn.variables)
        fallback_key = variables.pop("__fallback_key", None)
        published = self.library.published(turn.session, turn.generation) if fallback_key else {}
        key = turn.reply_key if not fallback_key or turn.reply_key in published else fallback_key
        rendered = self.library.render(
            turn.session,
            key,
            variables,
            generation=turn.generation,
            deadline_with_time=turn.deadline_with_time,
        )
        turn.session.connection().execute(
            sql(turn.session).insert_outbound,
            {
                "citizen_id": turn.citizen_id,
                "msg_type": "text",
                "content": rendered.text,
                "now": turn.now,
                "in_reply_to_id": turn.inbound_id,
                "case_id": turn.case_id,
                "template_key": rendered.template_key,
                "template_version": rendered.template_version,
                "responder": "bot",
            },
        )
        return OutboundReply(rendered.text, rendered.template_key, rendered.template_version)
