"""Vetted answers chosen by their triggers: keyword rules, FAQ retrieval, and the hourly default reply.

These give the platform's built-in auto-reply back to an account in developer mode (WECHAT.md):

* **keyword rules** — published templates of purpose ``keyword`` whose ``triggers`` are keywords,
  matched ``equal`` (the whole message) or ``contain`` (anywhere in it) on normalised text;
* **FAQ** — published templates of purpose ``faq`` whose ``triggers`` are example questions; a
  question is answered by the template with the most similar example question (TF-IDF cosine over
  character 1–2-grams of normalised text, so both scripts match and no word segmenter is needed),
  when the similarity reaches :data:`FAQ_THRESHOLD`;
* **the default reply** at most once per hour per citizen (Redis ``SET NX EX``).

The trigger index is rebuilt only when the library generation changes, as the library's own cache is.
"""

from __future__ import annotations

import dataclasses
import math
import re
import threading
from collections import Counter
from collections.abc import Iterable, Sequence

import redis
from sqlalchemy.orm import Session

from replies.library import Library, Published
from text.normalize import normalize

# Chosen on bot/training/data/faq_eval.csv (tests/test_conversation.py measures it) for precision
# first: below it a person answers, which costs a deadline; above it a wrong answer costs trust.
FAQ_THRESHOLD = 0.40
DEFAULT_INTERVAL = 3600
_PUNCT = re.compile(r"[\W_]+")
_NGRAMS = (1, 2)


def bare(text: str) -> str:
    """Normalised (Simplified, half-width), without punctuation or spaces, lower-case."""
    return _PUNCT.sub("", normalize(text).text).lower()


def _grams(text: str) -> Counter[str]:
    s = bare(text)
    counts: Counter[str] = Counter()
    for n in _NGRAMS:
        counts.update(s[i : i + n] for i in range(len(s) - n + 1))
    return counts


@dataclasses.dataclass(frozen=True)
class FaqMatch:
    """The FAQ template closest to a question, the example question that matched, and how closely."""

    key: str
    score: float
    question: str


class FaqIndex:
    """TF-IDF over the example questions of FAQ templates; each question is matched on its own."""

    def __init__(self, entries: Iterable[tuple[str, Sequence[str]]]) -> None:
        docs = [(key, q, _grams(q)) for key, questions in entries for q in questions if q.strip()]
        # Document frequency counts templates, not questions: "需要什么材料" in every FAQ's examples
        # says nothing about which FAQ is meant, however often one FAQ repeats it.
        seen: dict[str, set[str]] = {}
        for key, _, grams in docs:
            seen.setdefault(key, set()).update(grams)
        df: Counter[str] = Counter()
        for grams_of_template in seen.values():
            df.update(grams_of_template)
        n = len(seen)
        self._idf = {g: math.log((n + 1) / (c + 1)) + 1.0 for g, c in df.items()}
        # A query's n-grams no example question has weigh as much as the rarest known ones: a long
        # message that merely mentions a FAQ's words must not look like that FAQ's question.
        self._unseen = math.log(n + 1) + 1.0
        self._docs = [(key, q, self._unit(grams)) for key, q, grams in docs]
        # Postings (n-gram → questions that have it): a query touches only the questions it shares words with.
        self._postings: dict[str, list[tuple[int, float]]] = {}
        for i, (_, _, unit) in enumerate(self._docs):
            for g, w in unit.items():
                self._postings.setdefault(g, []).append((i, w))

    def _weights(self, grams: Counter[str]) -> dict[str, float]:
        return {g: (1.0 + math.log(c)) * self._idf.get(g, self._unseen) for g, c in grams.items()}

    def _unit(self, grams: Counter[str]) -> dict[str, float]:
        weights = self._weights(grams)
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        return {g: w / norm for g, w in weights.items()}

    def best(self, text: str) -> FaqMatch | None:
        """The closest template (None if there is no FAQ or nothing in common)."""
        query = self._unit(_grams(text))
        if not query:
            return None
        if not self._docs:
            return None
        scores = [0.0] * len(self._docs)
        for g, w in query.items():
            for i, dw in self._postings.get(g, ()):
                scores[i] += w * dw
        best = max(range(len(scores)), key=scores.__getitem__)  # the first of equals, as before
        if scores[best] <= 0:
            return None
        key, question, _ = self._docs[best]
        return FaqMatch(key, scores[best], question)


@dataclasses.dataclass(frozen=True)
class _Rules:
    faq: FaqIndex
    equal: dict[str, str]  # bare keyword → template key
    contain: tuple[tuple[str, str], ...]  # (bare keyword, template key), longest first


def _rules(published: dict[str, Published]) -> _Rules:
    faq = FaqIndex((t.key, t.triggers) for t in published.values() if t.purpose == "faq")
    equal: dict[str, str] = {}
    contain: list[tuple[str, str]] = []
    for t in sorted(published.values(), key=lambda t: t.key):
        if t.purpose != "keyword":
            continue
        for word in filter(None, (bare(k) for k in t.triggers)):
            if t.match_mode == "equal":
                equal.setdefault(word, t.key)
            elif t.match_mode == "contain":
                contain.append((word, t.key))
    contain.sort(key=lambda kv: -len(kv[0]))
    return _Rules(faq, equal, tuple(contain))


class AutoReplies:
    """Keyword rules and FAQ retrieval over the published library, cached per library generation."""

    def __init__(self, library: Library, faq_threshold: float = FAQ_THRESHOLD) -> None:
        self.library = library
        self.faq_threshold = faq_threshold
        self._lock = threading.Lock()
        self._generation: str | None = None
        self._rules: _Rules | None = None

    def rules(self, session: Session, generation: str | None) -> _Rules:
        """The trigger index of the published library as of ``generation`` (None: built afresh)."""
        with self._lock:
            if generation is not None and self._generation == generation and self._rules is not None:
                return self._rules
        fresh = _rules(self.library.published(session, generation))
        if generation is not None:
            with self._lock:
                self._generation, self._rules = generation, fresh
        return fresh

    def keyword(self, session: Session, generation: str | None, text: str) -> str | None:
        """The template of the keyword rule ``text`` triggers: equal rules first, then the longest contained keyword."""
        rules = self.rules(session, generation)
        word = bare(text)
        if not word:
            return None
        if word in rules.equal:
            return rules.equal[word]
        return next((key for keyword, key in rules.contain if keyword in word), None)

    def faq(self, session: Session, generation: str | None, text: str) -> FaqMatch | None:
        """The FAQ answer for a question, if one is close enough."""
        match = self.rules(session, generation).faq.best(text)
        return match if match is not None and match.score >= self.faq_threshold else None


def default_allowed(client: redis.Redis | None, namespace: str, openid: str, interval: int = DEFAULT_INTERVAL) -> bool:
    """True at most once per ``interval`` per citizen, as the platform's default reply (True without Redis)."""
    if client is None:
        return True
    try:
        return bool(client.set(f"{namespace}:default-reply:{openid}", "1", nx=True, ex=interval))
    except redis.RedisError:
        # Answering twice in an hour is better than leaving a citizen without any answer.
        return True
