"""The whole-reply check: P(improper) of a reply as a reviewer would judge it, not sentence by sentence.

Insults sit in one sentence; a brush-off, a retort, a cute persona or a dismissal of harm is the reply as a
whole, often in polite words. A character n-gram logistic regression (``replies/model/improper.*``, trained by
``python -m bot train-guard`` on replies written for the purpose — improper ones across every category of
improper reply, proper ones that use the same words — and real government replies as proper) scores the folded
reply with the citizen's quoted words blanked. At or above the shipped threshold the reply is refused; a
reviewer may accept the finding with a reason, like any other tone finding.

Loaded lazily, once per process (``shipped()``); a reply is scored in well under a millisecond.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from pathlib import Path

from replies.offensive import OffensiveModel
from text.linear import LinearTextModel

MODEL_DIR = Path(__file__).with_name("model")
IMPROPER = "improper"
PROPER = "proper"


def load(directory: Path = MODEL_DIR) -> OffensiveModel:
    """The binary scorer over ``improper.json`` + ``improper.npz`` with the threshold of ``improper_settings.json``."""
    settings = json.loads((directory / "improper_settings.json").read_text(encoding="utf-8"))
    return OffensiveModel(LinearTextModel.load(directory / "improper"), float(settings["threshold"]), IMPROPER)


def blanked(folded: str, exempt: Sequence[tuple[int, int]]) -> str:
    """``folded`` with the exempt spans (the citizen's quoted words) replaced by spaces."""
    chars = list(folded)
    for start, end in exempt:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def probability(folded: str, exempt: Sequence[tuple[int, int]] = ()) -> float:
    """P(improper) of a folded reply, quoted words blanked."""
    text = blanked(folded, exempt)
    return shipped().probability(text) if text.strip() else 0.0


@functools.cache
def shipped() -> OffensiveModel:
    """The shipped model, loaded once per process on first use."""
    return load()
