"""A linear text classifier over character n-grams, loaded from plain weights.

The model is trained with scikit-learn (``bot/training``) and shipped as two files: a JSON header
(classes, n-gram range, vocabulary) and an ``.npz`` of arrays (idf, coefficients, intercepts),
loaded with ``allow_pickle=False`` — nothing executable is ever unpickled. Inference reproduces
``TfidfVectorizer(analyzer="char", sublinear_tf=True, norm="l2")`` followed by a multinomial
logistic regression, in numpy, in well under a millisecond.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections import Counter
from pathlib import Path

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
    ) -> None:
        self.classes = classes
        self.vocabulary = vocabulary
        self.idf = idf.astype(np.float32)
        self.coef = coef.astype(np.float32)
        self.intercept = intercept.astype(np.float32)
        self.ngram_range = ngram_range

    # -- persistence --------------------------------------------------------------------------

    @classmethod
    def load(cls, stem: Path) -> LinearTextModel:
        """Load ``stem.json`` + ``stem.npz`` (no pickles)."""
        header = json.loads(stem.with_suffix(".json").read_text(encoding="utf-8"))
        with np.load(stem.with_suffix(".npz"), allow_pickle=False) as arrays:
            idf, coef, intercept = arrays["idf"], arrays["coef"], arrays["intercept"]
        vocabulary = {gram: i for i, gram in enumerate(header["vocabulary"])}
        lo, hi = header["ngram_range"]
        return cls(header["classes"], vocabulary, idf, coef, intercept, (int(lo), int(hi)))

    def save(self, stem: Path, extra: dict[str, object] | None = None) -> None:
        """Write ``stem.json`` + ``stem.npz``; weights as float16 to keep the artifact small."""
        grams = [""] * len(self.vocabulary)
        for gram, i in self.vocabulary.items():
            grams[i] = gram
        header = {"classes": self.classes, "ngram_range": list(self.ngram_range), "vocabulary": grams, **(extra or {})}
        stem.parent.mkdir(parents=True, exist_ok=True)
        stem.with_suffix(".json").write_text(json.dumps(header, ensure_ascii=False), encoding="utf-8")
        np.savez_compressed(
            stem.with_suffix(".npz"),
            idf=self.idf.astype(np.float32),
            coef=self.coef.astype(np.float16),
            intercept=self.intercept.astype(np.float32),
        )

    # -- inference ----------------------------------------------------------------------------

    def ngrams(self, text: str) -> list[str]:
        """Character n-grams exactly as scikit-learn's ``analyzer="char"`` makes them (lower-cased)."""
        doc = _WHITESPACE.sub(" ", text.lower())
        lo, hi = self.ngram_range
        grams: list[str] = []
        for n in range(lo, hi + 1):
            grams.extend(doc[i : i + n] for i in range(len(doc) - n + 1))
        return grams

    def predict(self, text: str, evidence: int = 3) -> Prediction:
        """Class probabilities of ``text`` and its strongest features for the winning class."""
        counts = Counter(g for g in self.ngrams(text) if g in self.vocabulary)
        scores = self.intercept.copy()
        top: tuple[str, ...] = ()
        if counts:
            grams = list(counts)
            idx = np.fromiter((self.vocabulary[g] for g in grams), dtype=np.int64, count=len(grams))
            tf = np.fromiter((1.0 + math.log(c) for c in counts.values()), dtype=np.float32, count=len(grams))
            weights = tf * self.idf[idx]
            norm = float(np.linalg.norm(weights))
            if norm:
                weights /= norm
            contributions = self.coef[:, idx] * weights
            scores = scores + contributions.sum(axis=1)
        shifted = np.exp(scores - scores.max())
        probs = shifted / shifted.sum()
        best = int(probs.argmax())
        if counts:
            order = np.argsort(-contributions[best])[:evidence]
            top = tuple(grams[i] for i in order if contributions[best][i] > 0)
        return Prediction(
            self.classes[best],
            float(probs[best]),
            {c: float(p) for c, p in zip(self.classes, probs, strict=True)},
            top,
        )
