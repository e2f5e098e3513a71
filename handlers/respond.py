"""Respond stage: render the chosen template through the reply library (the store records it).

Citizens who write in Traditional characters get the approved text in Traditional characters.
"""

from __future__ import annotations

from handlers.turn import Turn
from handlers.types import OutboundReply
from replies.library import Library
from text.normalize import normalize


class Responder:
    """Renders ``turn.reply_key`` (published versions only) into ``turn.reply``."""

    def __init__(self, library: Library) -> None:
        self.library = library

    def __call__(self, turn: Turn) -> None:
        """Sets ``turn.reply`` (left None when nothing is to be said)."""
        if turn.reply_key is None:
            return
        key = turn.reply_key
        if turn.unpublished_key and key not in self.library.published(turn.session, turn.generation):
            key = turn.unpublished_key
        rendered = self.library.render(
            turn.session,
            key,
            turn.variables,
            generation=turn.generation,
            deadline_with_time=turn.deadline_with_time,
            traditional=self._traditional(turn),
        )
        turn.reply = OutboundReply(rendered.text, rendered.template_key, rendered.template_version)

    @staticmethod
    def _traditional(turn: Turn) -> bool:
        if turn.traditional is None:
            turn.traditional = bool(turn.msg.text) and normalize(turn.msg.text).traditional
        return turn.traditional
