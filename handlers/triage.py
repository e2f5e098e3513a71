"""What triage decides about a citizen's words, and the interface of anything that decides it.

The shipped decider is :class:`handlers.classify.ModelClassifier`; tests may pass their own.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

INTENTS = ("complaint", "inquiry", "suggestion", "praise", "emergency", "chitchat")
# Below this confidence (intent or department) a person reads the message before it is routed.
MIN_CONFIDENCE = 0.5


@dataclasses.dataclass(frozen=True)
class Triage:
    """What a message is about, how sure we are, and why."""

    intent: str
    department: str
    emergency: bool = False  # a *certain* emergency: the emergency reply replaces the conversation
    emergency_kind: str | None = None  # police, fire, medical or traffic, for either tier
    emergency_tier: str | None = None  # "certain", "possible" or None (handlers/urgency.py)
    confidence_intent: float = 0.0
    confidence_department: float = 0.0
    reasons: tuple[str, ...] = ()

    @property
    def needs_human(self) -> bool:
        """Low confidence: a person must read the message before it is routed."""
        return self.intent != "chitchat" and min(self.confidence_intent, self.confidence_department) < MIN_CONFIDENCE


class Classifier(Protocol):
    """Anything that turns a citizen's text into a :class:`Triage`."""

    def classify(self, text: str) -> Triage: ...
