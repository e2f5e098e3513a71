"""Respond stage: render the chosen template through the reply library (the store records it)."""

from __future__ import annotations

from handlers.turn import Turn
from handlers.types import OutboundReply
from replies.library import Library


class Responder:
    """Renders ``turn.reply_key`` (published versions only) into ``turn.reply``."""

    def __init__(self, library: Library) -> None:
        self.library = library

    def __call__(self, turn: Turn) -> OutboundReply | None:
        """Sets ``turn.reply``; returns None so the store still runs."""
        if turn.reply_key is None:
            return None
        variables = dict(turn.variables)
        fallback_key = variables.pop("__fallback_key", None)
        key = turn.reply_key
        if fallback_key and key not in self.library.published(turn.session, turn.generation):
            key = fallback_key
        rendered = self.library.render(
            turn.session,
            key,
            variables,
            generation=turn.generation,
            deadline_with_time=turn.deadline_with_time,
        )
        turn.reply = OutboundReply(rendered.text, rendered.template_key, rendered.template_version)
        return None
