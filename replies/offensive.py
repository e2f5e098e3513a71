"""The statistical half of the tone check: P(offensive) of each sentence of a reply.

A character n-gram logistic regression (``replies/model/offensive.*``, trained by ``python -m bot
train-guard`` on COLDataset with real government replies as in-domain clean text) scores every
sentence; a sentence at or above the shipped threshold is a violation. Sentences, not the whole
reply, because TF-IDF normalisation would dilute one insult in a long polite answer. Reported
quotations (``replies.quotes``) are blanked first: the citizen's words are not the account's.

The model loads lazily, once per process (``shipped()``); scoring a reply takes well under a
millisecond.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from text.linear import LinearTextModel
from text.script import fold

MODEL_DIR = Path(__file__).with_name("model")
OFFENSIVE = "offensive"
CLEAN = "clean"
# Sentence ends after folding (full-width ！？； are half-width by then).
_SENTENCE = re.compile(r"[^。!?;\n…]+")
_CJK_OR_WORD = re.compile(r"\w")


def model_input(text: str) -> str:
    """What the model reads, in training and at run time alike."""
    return fold(text)


@dataclasses.dataclass(frozen=True)
class Flagged:
    """A sentence the model finds offensive: its span in the reply and its probability."""

    start: int
    end: int
    probability: float


class OffensiveModel:
    """Binary logistic regression over TF-IDF character n-grams, with its decision threshold."""

    def __init__(self, linear: LinearTextModel, threshold: float, positive: str = OFFENSIVE) -> None:
        self.linear = linear
        self.threshold = threshold
        hit = linear.classes.index(positive)
        other = 1 - hit
        # Two softmax rows collapse to one logistic: P = sigmoid(b + w·x).
        self._w = (linear.coef[hit] - linear.coef[other]).astype(np.float32)
        self._b = float(linear.intercept[hit] - linear.intercept[other])

    @classmethod
    def load(cls, directory: Path = MODEL_DIR) -> OffensiveModel:
        """Load ``offensive.json`` + ``offensive.npz`` and the threshold in ``settings.json``."""
        settings = json.loads((directory / "settings.json").read_text(encoding="utf-8"))
        return cls(LinearTextModel.load(directory / "offensive"), float(settings["threshold"]))

    def probabilities(self, folded: Sequence[str]) -> np.ndarray:
        """P(offensive) of each of several already folded texts, in one pass of numpy."""
        vocabulary = self.linear.vocabulary
        n = len(folded)
        grams: list[str] = []
        lengths: list[int] = []
        for text in folded:
            some = self.linear.ngrams(text)
            grams.extend(some)
            lengths.append(len(some))
        # map() keeps the vocabulary look-ups in C: this loop is most of the cost of a check.
        ids = np.fromiter(map(vocabulary.get, grams, itertools.repeat(-1)), dtype=np.int64, count=len(grams))
        rows = np.repeat(np.arange(n, dtype=np.int64), lengths)
        known = ids >= 0
        if not known.any():
            return np.full(n, 1.0 / (1.0 + math.exp(-self._b)))
        # Count each (text, n-gram) pair, then TF-IDF (sublinear tf, l2 norm per text) and the dot product.
        size = len(vocabulary)
        keys, counts = np.unique(rows[known] * size + ids[known], return_counts=True)
        row, col = keys // size, keys % size
        weights = (1.0 + np.log(counts)) * self.linear.idf[col]
        norms = np.sqrt(np.bincount(row, weights=weights * weights, minlength=n))
        dots = np.bincount(row, weights=weights * self._w[col], minlength=n)
        scores = self._b + np.divide(dots, norms, out=np.zeros(n), where=norms > 0)
        return np.asarray(1.0 / (1.0 + np.exp(-scores)))

    def probability(self, folded: str) -> float:
        """P(offensive) of one already folded text."""
        return float(self.probabilities([folded])[0])

    def flag(self, folded: str, exempt: Sequence[tuple[int, int]] = ()) -> list[Flagged]:
        """The sentences of ``folded`` at or above the threshold, ``exempt`` spans blanked."""
        spans: list[tuple[int, int]] = []
        texts: list[str] = []
        for m in _SENTENCE.finditer(folded):
            start, end = m.span()
            text = _blank(folded, start, end, exempt)
            if len(_CJK_OR_WORD.findall(text)) >= 2:
                spans.append((start, end))
                texts.append(text)
        if not texts:
            return []
        return [
            Flagged(start, end, float(p))
            for (start, end), p in zip(spans, self.probabilities(texts), strict=True)
            if p >= self.threshold
        ]


def _blank(folded: str, start: int, end: int, exempt: Sequence[tuple[int, int]]) -> str:
    # The quotation's marks stay (“”一事 still reads as a topic); its words go.
    pieces: list[str] = []
    pos = start
    for s, e in exempt:
        if e <= start or s >= end:
            continue
        s, e = max(s, start), min(e, end)
        pieces.append(folded[pos : s + 1])
        pos = max(pos, e - 1)
    pieces.append(folded[pos:end])
    return "".join(pieces)


def sentences(folded: str) -> list[tuple[int, int]]:
    """Sentence spans of a folded text, as the model scores them."""
    return [m.span() for m in _SENTENCE.finditer(folded)]


@functools.cache
def shipped() -> OffensiveModel:
    """The shipped model, loaded on first use and kept for the life of the process."""
    return OffensiveModel.load(MODEL_DIR)
