"""Grouping short Chinese texts into themes: TF-IDF over segmented words, k-means on unit vectors.

Used for a campaign's opinions (征集). Each theme is labelled by the words that weigh most in its centre,
and carries a few representative quotes — the texts nearest its centre, masked for personal data before they
leave this module — and its share of all the texts. The words come from a caller-given function (the product
passes jieba over the shipped dictionary, text/segment.py), so this module imports nothing of ours but
text.pii.

The number of themes follows a simple rule. Up to ``CHOOSE_UP_TO`` texts, the k between 2 and ``MAX_THEMES``
(and at most a third of the texts) whose grouping has the best mean silhouette (cosine) — a few clear topics
come out as a few themes. Beyond, one theme per ``TEXTS_PER_THEME`` texts, at most ``MAX_THEMES``: enough to
read on one page, and a theme that staff can mark adopted or not is worth more than a fine split. k-means on
L2-normalised TF-IDF vectors is spherical k-means (cosine similarity). Beyond ``FIT_SAMPLE`` texts the centres
are fitted on a random sample and every text joins its nearest centre: the themes of 100,000 texts are those of
20,000 of them, in a fraction of the time (mini-batch k-means was quicker still, but let one theme swallow 40%).
Texts without a single known word form the theme 其他.
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from text.pii import mask_text

MAX_THEMES = 12
TEXTS_PER_THEME = 40
CHOOSE_UP_TO = 500
FIT_SAMPLE = 20000
QUOTES = 3
QUOTE_CHARS = 120
LABEL_WORDS = 3
KEYWORDS = 8
# Long letters are read for their opening: the topic is stated there, and segmentation is the cost.
READ_CHARS = 160
# Below this many texts, segmenting in one process is quicker than starting others.
PARALLEL_FROM = 5000
OTHER = "其他（无法归类）"
# Words every letter to a government uses, whatever it is about: they would name every theme.
BOILERPLATE = frozenset(
    "尊敬 领导 您好 你好 请问 问题 情况 相关 部门 有关 希望 要求 反映 解决 政府 工作 谢谢 感谢 现在 目前 "
    "没有 已经 一直 什么 为什么 怎么 如何 这个 那个 这样 我们 你们 他们 本人 自己 时间 今年 去年 进行 "
    "处理 请求 建议 能否 是否 可以 需要 一个 一些 不能 不是 还是 但是 因为 所以 如果 以及 关于".split()
)

Words = Callable[[str], list[str]]


@dataclasses.dataclass(frozen=True)
class Theme:
    """One group of texts: its label and keywords, size and share, and masked representative quotes."""

    label: str
    keywords: tuple[str, ...]
    size: int
    share: float
    quotes: tuple[str, ...]
    members: tuple[int, ...]  # positions of its texts in the input


def theme_count(n: int) -> int:
    """How many themes ``n`` texts are grouped into (the simple rule above)."""
    if n < 4:
        return 1
    return max(2, min(MAX_THEMES, math.ceil(n / TEXTS_PER_THEME)))


_worker_words: Words | None = None


def _segment_chunk(chunk: list[str]) -> list[list[str]]:
    assert _worker_words is not None
    return [_useful(_worker_words(t)) for t in chunk]


def _useful(words: list[str]) -> list[str]:
    """Words that can tell themes apart: two characters or more, no digits (codes such as "A1区" fold to
    "a0"), no letter boilerplate."""
    return [w for w in words if len(w) >= 2 and w not in BOILERPLATE and not any(c.isdigit() for c in w)]


def segment_all(texts: Sequence[str], words: Words, *, jobs: int = 1) -> list[list[str]]:
    """The words of every text (its first READ_CHARS characters); in ``jobs`` forked processes when many."""
    global _worker_words
    heads = [t[:READ_CHARS] for t in texts]
    if jobs <= 1 or len(heads) < PARALLEL_FROM or "fork" not in multiprocessing.get_all_start_methods():
        return [_useful(words(t)) for t in heads]
    _worker_words = words  # inherited by the forked children, never pickled (a segmenter is large)
    size = math.ceil(len(heads) / (jobs * 4))
    chunks = [heads[i : i + size] for i in range(0, len(heads), size)]
    try:
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            parts = pool.map(_segment_chunk, chunks)
    finally:
        _worker_words = None
    return [w for part in parts for w in part]


def cluster(
    texts: Sequence[str],
    words: Words,
    *,
    k: int | None = None,
    jobs: int = 1,
    seed: int = 0,
) -> list[Theme]:
    """Group ``texts`` into themes, largest first (an empty list for no texts)."""
    from sklearn.cluster import KMeans
    from sklearn.feature_extraction.text import TfidfVectorizer

    n = len(texts)
    if n == 0:
        return []
    tokens = segment_all(texts, words, jobs=jobs)
    known = [i for i, t in enumerate(tokens) if t]
    themes: list[Theme] = []
    if known:
        docs = [tokens[i] for i in known]
        vectorizer = TfidfVectorizer(
            analyzer=_identity,
            min_df=2 if len(docs) >= 50 else 1,
            max_df=0.5 if len(docs) >= 50 else 1.0,
            sublinear_tf=True,
            max_features=50000,
        )
        try:
            matrix = vectorizer.fit_transform(docs)
        except ValueError:  # every word pruned (a handful of near-identical texts)
            matrix = None
        if matrix is not None and matrix.shape[1] > 0:
            count = min(k or theme_count(len(docs)), len(docs))
            if k is None and 6 <= len(docs) <= CHOOSE_UP_TO:
                count = _best_k(matrix, seed)
            if count <= 1:
                labels = np.zeros(len(docs), dtype=int)
                centres = np.asarray(matrix.mean(axis=0))
            else:
                model = KMeans(n_clusters=count, random_state=seed, n_init=2, max_iter=100)
                if matrix.shape[0] > FIT_SAMPLE:
                    sample = np.random.default_rng(seed).choice(matrix.shape[0], FIT_SAMPLE, replace=False)
                    model.fit(matrix[sample])
                    labels = model.predict(matrix)
                else:
                    labels = model.fit_predict(matrix)
                centres = model.cluster_centers_
            vocabulary = np.array(vectorizer.get_feature_names_out())
            themes = _themes(texts, known, matrix, labels, centres, vocabulary, n)
        else:
            known = []
    missing = sorted(set(range(n)) - set(known))
    if missing:
        quotes = _distinct([texts[i] for i in missing])
        themes.append(Theme(OTHER, (), len(missing), len(missing) / n, quotes, tuple(missing)))
    return sorted(themes, key=lambda t: (t.label == OTHER, -t.size))


def _best_k(matrix: Any, seed: int) -> int:
    """The number of themes with the best mean silhouette (cosine), from 2 to MAX_THEMES and n/3."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    best, best_score = 2, -1.0
    for count in range(2, min(MAX_THEMES, matrix.shape[0] // 3) + 1):
        labels = KMeans(n_clusters=count, random_state=seed, n_init=3).fit_predict(matrix)
        if len(set(labels)) < 2:
            continue
        score = float(silhouette_score(matrix, labels, metric="cosine"))
        if score > best_score + 1e-9:
            best, best_score = count, score
    return best


def _identity(doc: list[str]) -> list[str]:
    return doc


def _themes(
    texts: Sequence[str],
    known: list[int],
    matrix: Any,
    labels: Any,
    centres: Any,
    vocabulary: Any,
    n: int,
) -> list[Theme]:
    out = []
    for c in range(centres.shape[0]):
        rows = np.flatnonzero(labels == c)
        if not len(rows):
            continue
        centre = centres[c]
        top = [str(vocabulary[j]) for j in np.argsort(-centre)[:KEYWORDS] if centre[j] > 0]
        # Nearest the centre first (cosine: the rows are unit vectors); the quotes are the first distinct ones.
        scores = np.asarray(matrix[rows] @ centre).ravel()
        order = rows[np.argsort(-scores)]
        members = tuple(known[i] for i in rows)
        quotes = _distinct([texts[known[i]] for i in order[: QUOTES * 4]])
        label = "、".join(top[:LABEL_WORDS]) or OTHER
        out.append(Theme(label, tuple(top), len(rows), len(rows) / n, quotes, members))
    return out


def _distinct(candidates: list[str]) -> tuple[str, ...]:
    """Up to QUOTES different texts, masked and shortened."""
    seen: set[str] = set()
    quotes: list[str] = []
    for text in candidates:
        quote = mask_text(" ".join(text.split()))
        if len(quote) > QUOTE_CHARS:
            quote = quote[:QUOTE_CHARS] + "…"
        if quote in seen:
            continue
        seen.add(quote)
        quotes.append(quote)
        if len(quotes) == QUOTES:
            break
    return tuple(quotes)
