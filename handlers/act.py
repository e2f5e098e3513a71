"""Triage and act: decide what a message means, open a case when someone must answer, pick the reply.

Message kinds and events map to actions in registries with a named fallback (store and stay silent),
so a new kind of message is one entry, not another branch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from zoneinfo import ZoneInfo

from handlers.classify import shipped
from handlers.sla import deadline_for
from handlers.store import Store
from handlers.triage import Classifier
from handlers.turn import Turn
from models import CaseStatus, CaseType

log = logging.getLogger(__name__)

Action = Callable[[Turn], None]

# Intent → (case type, acknowledgement template). Chitchat opens no case.
_INTENT_CASES = {
    "complaint": (CaseType.COMPLAINT, "complaint_ack"),
    "inquiry": (CaseType.INQUIRY, "inquiry_ack"),
    "suggestion": (CaseType.SUGGESTION, "suggestion_ack"),
    "praise": (CaseType.PRAISE, "praise_thanks"),
}
_EMERGENCY_TEMPLATES = {
    "police": "emergency_police",
    "fire": "emergency_fire",
    "medical": "emergency_medical",
    "traffic": "emergency_traffic",
}


class Actor:
    """Runs the action registered for a message's kind or event."""

    def __init__(self, classifier: Classifier | None, store: Store, timezone: str = "Asia/Shanghai") -> None:
        # None: the shipped models, loaded on the first message rather than at start-up.
        self._classifier = classifier
        self.store = store
        self.tz = ZoneInfo(timezone)
        self.message_actions: dict[str, Action] = {
            "text": self.on_text,
            "voice": self.on_voice,
            "image": self.on_media,
            "video": self.on_media,
            "shortvideo": self.on_media,
            "location": self.on_media,
            "link": self.on_media,
        }
        self.event_actions: dict[str, Action] = {
            "subscribe": self.on_follow,
            "subscribe_scan": self.on_follow,
            "scan": self.on_scan,
            "unsubscribe": self.on_unfollow,
            "click": self.on_click,
        }

    def __call__(self, turn: Turn) -> None:
        """Act on one recorded message (sets ``turn.reply_key`` when something must be said)."""
        msg = turn.msg
        if msg.is_event:
            action = self.event_actions.get(msg.event or "", self.store_only)
        else:
            action = self.message_actions.get(msg.kind, self.store_only)
        action(turn)

    # -- fallbacks and events ------------------------------------------------------------------

    def store_only(self, turn: Turn) -> None:
        """Unknown kinds and silent events (VIEW, LOCATION, 订阅通知 …): stored, answered ``success``."""
        log.debug("stored %s/%s without reply", turn.msg.kind, turn.msg.event)

    def on_follow(self, turn: Turn) -> None:
        """A follow (or a follow through a QR code): welcome with the personal-information notice."""
        self._set_subscribed(turn, True)
        turn.reply_key = "welcome"

    def on_scan(self, turn: Turn) -> None:
        """A follower scanned a QR code: tell them what the account does."""
        turn.reply_key = "default"

    def on_unfollow(self, turn: Turn) -> None:
        """An unfollow: remember it (no message can reach them now), say nothing."""
        self._set_subscribed(turn, False)

    def on_click(self, turn: Turn) -> None:
        """A menu click: the template named after the menu key if published (``menu_<key>``), else default."""
        turn.reply_key = f"menu_{turn.msg.event_key}" if turn.msg.event_key else "default"
        turn.unpublished_key = "default"

    # -- messages ------------------------------------------------------------------------------

    def on_voice(self, turn: Turn) -> None:
        """Voice: act on WeChat's transcription; without one, ask for text."""
        if turn.msg.text.strip():
            self.on_text(turn)
        else:
            turn.reply_key = "voice_unrecognized"

    def on_media(self, turn: Turn) -> None:
        """A picture, video, location or link on its own: ask for the words that go with it."""
        turn.reply_key = "media_received"

    def on_text(self, turn: Turn) -> None:
        """Words: triage, open a case when a person must answer, choose the reply."""
        triage = (self._classifier or shipped()).classify(turn.msg.text)
        turn.triage = triage
        if triage.emergency:
            self._open_case(turn, CaseType.EMERGENCY, urgent=True)
            turn.reply_key = _EMERGENCY_TEMPLATES.get(triage.emergency_kind or "", "emergency")
            return
        spec = _INTENT_CASES.get(triage.intent)
        if spec is None:
            turn.reply_key = "default"
            return
        case_type, template = spec
        self._open_case(turn, case_type)
        # Unsure what it is or who should handle it: a person reads it first, and the citizen is told so.
        turn.reply_key = "review_ack" if triage.needs_human else template

    # -- helpers -------------------------------------------------------------------------------

    def _set_subscribed(self, turn: Turn, value: bool) -> None:
        turn.subscribed = value

    def _open_case(self, turn: Turn, case_type: CaseType, *, urgent: bool = False) -> None:
        triage = turn.triage
        assert triage is not None
        department = triage.department if triage.department != "none" else "other"
        deadline = deadline_for(case_type, turn.now, self.tz, urgent=urgent)
        # The number is the local date of acceptance + the opening message's id: unique (a message
        # opens at most one case) and known before anything is written.
        message_id = self.store.message_id(turn)
        number = f"{turn.now.astimezone(self.tz):%Y%m%d}{message_id:05d}"
        turn.case = {
            "number": number,
            "case_type": case_type,
            "status": CaseStatus.ACCEPTED,
            "department": department,
            "is_urgent": urgent,
            "emergency_kind": triage.emergency_kind,
            "needs_triage": triage.needs_human,
            "citizen_id": turn.citizen_id,
            "opening_message_id": message_id,
            "summary": turn.msg.text[:2000],
            "opened_at": turn.now,
            "due_at": deadline.due_at,
            "sla_amount": deadline.amount,
            "sla_unit": deadline.unit,
            "owner_department": department,
        }
        turn.variables.update(case_number=number, deadline=deadline.due_at, department=department)
        turn.deadline_with_time = deadline.unit == "hours"
