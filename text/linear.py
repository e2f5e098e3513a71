"""A linear text classifier over character n-grams (and optionally word n-grams), from plain weights.

The model is trained with scikit-learn (``bot/training``) and shipped as two files: a JSON header
(classes, n-gram range, vocabulary) and an ``.npz`` of arrays (idf, coefficients, intercepts),
loaded with ``allow_pickle=False`` — nothing executable is ever unpickled. Inference reproduces
``TfidfVectorizer(analyzer="char", sublinear_tf=True, norm="l2")`` followed by a linear model's
scores turned into probabilities by a softmax, in numpy, in well under a millisecond.

A model with a word block (the department model) also reads the message's words: a second
``TfidfVectorizer(analyzer="word")`` block over word n-grams ("a b" for a bigram), normalised on its
own and placed after the character block, as ``scipy.sparse.hstack`` of the two blocks. It may also
have a head block: character n-grams of its first ``head_words`` words only (where a message's title
is), normalised on its own and placed last; the block's weight in training is folded into its
coefficients.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

_WHITESPACE = re.compile(r"\s\s+")


@dataclasses.dataclass(frozen=True)
class Prediction:
    """The best class, its probability, every class's probability, and the features behind it."""

    label: str
    confidence: float
    probabilities: dict[str, float]
    evidence: tuple[str, ...]


class LinearTextModel:
    """Character n-gram TF-IDF + multinomial logistic regression, from plain weights."""

    def __init__(
        self,
        classes: list[str],
        vocabulary: dict[str, int],
        idf: np.ndarray,
        coef: np.ndarray,
        intercept: np.ndarray,
        ngram_range: tuple[int, int],
        word_vocabulary: dict[str, int] | None = None,
        word_ngram_range: tuple[int, int] | None = None,
        head_vocabulary: dict[str, int] | None = None,
        head_ngram_range: tuple[int, int] | None = None,
        head_words: int = 0,
    ) -> None:
        """``idf`` and ``coef`` hold the character block's columns first, then the word block's, then the
        head block's (``word_vocabulary`` and ``head_vocabulary`` indices count from 0 within their block).
        The head block (``head_ngram_range`` character n-grams of the first ``head_words`` words) needs a
        word block."""
        self.classes = classes
        self.vocabulary = vocabulary
        self.idf = idf.astype(np.float32)
        self.coef = coef.astype(np.float32)
        self.intercept = intercept.astype(np.float32)
        self.ngram_range = ngram_range
        self.word_vocabulary = word_vocabulary or {}
        self.word_ngram_range = word_ngram_range
        self._word_offset = len(vocabulary)
        self.head_vocabulary = head_vocabulary or {}
        self.head_ngram_range = head_ngram_range
        self.head_words = int(head_words)
        self._head_offset = len(vocabulary) + len(self.word_vocabulary)
        assert head_ngram_range is None or (word_ngram_range is not None and self.head_words > 0)

    @property
    def reads_words(self) -> bool:
        """True when the model has a word block (its ``predict`` then wants the message's words)."""
        return self.word_ngram_range is not None

    # -- persistence --------------------------------------------------------------------------

    @classmethod
    def load(cls, stem: Path) -> LinearTextModel:
        """Load ``stem.json`` + ``stem.npz`` (no pickles)."""
        header = json.loads(stem.with_suffix(".json").read_text(encoding="utf-8"))
        with np.load(stem.with_suffix(".npz"), allow_pickle=False) as arrays:
            idf, coef, intercept = arrays["idf"], arrays["coef"], arrays["intercept"]
        vocabulary = {gram: i for i, gram in enumerate(header["vocabulary"])}
        lo, hi = header["ngram_range"]
        words, word_range = _optional_block(header, "word")
        head, head_range = _optional_block(header, "head")
        return cls(header["classes"], vocabulary, idf, coef, intercept, (int(lo), int(hi)), words, word_range,
                   head, head_range, int(header.get("head_words", 0)))  # fmt: skip

    def save(self, stem: Path, extra: dict[str, object] | None = None) -> None:
        """Write ``stem.json`` + ``stem.npz``; weights as float16 to keep the artifact small."""
        header: dict[str, object] = {
            "classes": self.classes,
            "ngram_range": list(self.ngram_range),
            "vocabulary": _in_index_order(self.vocabulary),
        }
        if self.word_ngram_range is not None:
            header.update(
                word_ngram_range=list(self.word_ngram_range), word_vocabulary=_in_index_order(self.word_vocabulary)
            )
        if self.head_ngram_range is not None:
            header.update(
                head_words=self.head_words, head_ngram_range=list(self.head_ngram_range),
                head_vocabulary=_in_index_order(self.head_vocabulary),
            )  # fmt: skip
        header.update(extra or {})
        stem.parent.mkdir(parents=True, exist_ok=True)
        stem.with_suffix(".json").write_text(json.dumps(header, ensure_ascii=False), encoding="utf-8")
        np.savez_compressed(
            stem.with_suffix(".npz"),
            idf=self.idf.astype(np.float32),
            coef=self.coef.astype(np.float16),
            intercept=self.intercept.astype(np.float32),
        )

    # -- inference ----------------------------------------------------------------------------

    def ngrams(self, text: str, ngram_range: tuple[int, int] | None = None) -> list[str]:
        """Character n-grams exactly as scikit-learn's ``analyzer="char"`` makes them (lower-cased)."""
        doc = _WHITESPACE.sub(" ", text.lower())
        lo, hi = ngram_range or self.ngram_range
        grams: list[str] = []
        for n in range(lo, hi + 1):
            grams.extend(doc[i : i + n] for i in range(len(doc) - n + 1))
        return grams

    def word_ngrams(self, words: list[str]) -> list[str]:
        """Word n-grams as scikit-learn's ``analyzer="word"`` makes them from space-joined words."""
        assert self.word_ngram_range is not None
        lo, hi = self.word_ngram_range
        grams: list[str] = []
        for n in range(lo, hi + 1):
            grams.extend(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
        return grams

    def _block(
        self, grams: list[str], vocabulary: dict[str, int], offset: int
    ) -> tuple[list[str], np.ndarray, np.ndarray]:
        # Counted in C first, then filtered: fewer dictionary lookups than filtering every n-gram.
        counts = Counter(grams)
        keys = [g for g in counts if g in vocabulary]
        idx = np.array([vocabulary[g] for g in keys], dtype=np.int64) + offset
        tf = np.log(np.array([counts[g] for g in keys], dtype=np.float32)) + np.float32(1.0)
        weights = tf * self.idf[idx]
        norm = math.sqrt(float(weights @ weights))
        if norm:
            weights /= np.float32(norm)
        return keys, idx, weights

    def predict(self, text: str, evidence: int = 3, words: list[str] | None = None) -> Prediction:
        """Class probabilities of ``text`` and its strongest features for the winning class.

        ``words``: the message's words, for a model with a word block (ignored by one without).
        """
        blocks = [self._block(self.ngrams(text), self.vocabulary, 0)]
        if self.word_ngram_range is not None and words:
            blocks.append(self._block(self.word_ngrams(words), self.word_vocabulary, self._word_offset))
            if self.head_ngram_range is not None:
                head = self.ngrams("".join(words[: self.head_words]), self.head_ngram_range)
                blocks.append(self._block(head, self.head_vocabulary, self._head_offset))
        if len(blocks) == 1:
            grams, idx, weights = blocks[0]
        else:  # the blocks side by side, in column order
            grams = [g for block in blocks for g in block[0]]
            idx = np.concatenate([block[1] for block in blocks])
            weights = np.concatenate([block[2] for block in blocks])
        scores = self.intercept.copy()
        top: tuple[str, ...] = ()
        if grams:
            contributions = self.coef[:, idx] * weights
            scores = scores + contributions.sum(axis=1)
        shifted = np.exp(scores - scores.max())
        probs = shifted / shifted.sum()
        best = int(probs.argmax())
        if grams:
            order = np.argsort(-contributions[best])[: 2 * evidence]  # a head n-gram may repeat a body one
            top = tuple(dict.fromkeys(grams[i] for i in order if contributions[best][i] > 0))[:evidence]
        return Prediction(
            self.classes[best],
            float(probs[best]),
            {c: float(p) for c, p in zip(self.classes, probs, strict=True)},
            top,
        )


def _optional_block(header: dict[str, Any], name: str) -> tuple[dict[str, int] | None, tuple[int, int] | None]:
    """The vocabulary and n-gram range of the header's ``name`` block (word, head), or (None, None)."""
    ngram_range = header.get(f"{name}_ngram_range")
    if not ngram_range:
        return None, None
    lo, hi = ngram_range
    return {gram: i for i, gram in enumerate(header[f"{name}_vocabulary"])}, (int(lo), int(hi))


def _in_index_order(vocabulary: dict[str, int]) -> list[str]:
    """The n-grams of a vocabulary as a list, each at its index (how the header stores them)."""
    grams = [""] * len(vocabulary)
    for gram, i in vocabulary.items():
        grams[i] = gram
    return grams
