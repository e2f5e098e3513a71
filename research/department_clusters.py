"""The eighth department round: word clusters learned without labels, judged by CV and the raw validation set.

Linear n-gram models only know the words seen with labels. Here every word is also mapped to a cluster id
learned without labels from the training texts of the fold (public rows and our own examples) and the
1,930 unlabelled raw messages (:func:`research.distant.raw_sets`; never dev_raw): word vectors from a
truncated SVD of a word matrix, then k-means into K clusters. The message's cluster ids make an extra
sparse block (cluster unigrams, optionally bigrams), TF-IDF normalised on its own and scaled like the head
block, on top of the shipped recipe. Word vectors come from either

- ``doc``: the TF-IDF word-document matrix (LSA: words that occur in the same messages), or
- ``ppmi``: positive PMI of words within ``window`` words of each other (words used in the same contexts).

``python -m research.department_clusters ../shared/data [--only NAME]`` prints the 5-fold CV macro-F1
and the raw validation's macro-F1 / accuracy / fixed-broken counts against the shipped model, as
:mod:`research.department_raw` does. dev_raw is not read except for that module's overlap exclusion;
``--dev NAME`` scores dev_raw for one candidate and the baseline's refit (run once, for the round's
pre-registered choice, after it was committed: MODEL_CARD.md, eighth round).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import MiniBatchKMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import f1_score

from bot.training.datasets import department_dev
from bot.training.train import DEPARTMENT_CONFIG, SEED, _DepartmentFeatures, nbsvm
from research.department_raw import (
    Harness,
    Preparation,
    Scorer,
    Split,
    fixed_and_broken,
    read,
    shipped_on_validation,
)


@dataclasses.dataclass(frozen=True)
class Clusters:
    """How the word clusters are learned and used."""

    k: int = 0  # clusters; 0 = no cluster block (the baseline)
    vectors: str = "doc"  # "doc" (LSA of the word-document TF-IDF) or "ppmi" (windowed co-occurrence)
    dim: int = 100  # SVD components
    window: int = 5
    min_count: int = 2  # words in at least this many texts get a cluster
    weight: float = 0.5  # the block's scale
    ngram_range: tuple[int, int] = (1, 1)
    only_unseen: bool = False  # cluster ids only for words the labelled texts show fewer than 2 times
    dense: int = 0  # > 0: instead of clusters, a dense block of this many LSA components (|x| split as +/-)


def word_vectors(texts: Sequence[list[str]], spec: Clusters) -> tuple[list[str], np.ndarray]:
    """(words, L2-normalised vectors) for the words in at least ``spec.min_count`` texts."""
    df: Counter[str] = Counter()
    for t in texts:
        df.update(set(t))
    words = sorted(w for w, n in df.items() if n >= spec.min_count)
    index = {w: i for i, w in enumerate(words)}
    if spec.vectors == "doc":
        vec = TfidfVectorizer(analyzer=lambda d: d, vocabulary=index, sublinear_tf=True, dtype=np.float32)
        m = vec.fit_transform(texts).T.tocsr()  # words x texts
    else:
        rows: list[int] = []
        cols: list[int] = []
        for t in texts:
            ids = [index.get(w, -1) for w in t]
            for i, a in enumerate(ids):
                if a < 0:
                    continue
                for b in ids[i + 1 : i + 1 + spec.window]:
                    if b >= 0 and b != a:
                        rows += (a, b)
                        cols += (b, a)
        n = len(words)
        co = sp.csr_matrix((np.ones(len(rows), dtype=np.float64), (rows, cols)), shape=(n, n))
        co.sum_duplicates()
        total = co.sum()
        rs = np.asarray(co.sum(axis=1)).ravel()
        cs = np.asarray(co.sum(axis=0)).ravel() ** 0.75
        cs = cs / cs.sum()
        co = co.tocoo()
        pmi = np.log(co.data * 1.0 / total) - np.log(rs[co.row] / total) - np.log(cs[co.col])
        keep = pmi > 0
        m = sp.csr_matrix((pmi[keep].astype(np.float32), (co.row[keep], co.col[keep])), shape=(n, n))
    svd = TruncatedSVD(spec.dim, random_state=SEED, algorithm="randomized", n_iter=5)
    v = svd.fit_transform(m)
    v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)
    return words, v.astype(np.float32)


def cluster_map(texts: Sequence[list[str]], spec: Clusters) -> dict[str, int]:
    words, v = word_vectors(texts, spec)
    km = MiniBatchKMeans(spec.k, random_state=SEED, batch_size=4096, n_init=3, max_iter=100)
    return {w: int(c) for w, c in zip(words, km.fit_predict(v), strict=True)}


class ClusterFeatures:
    """The shipped blocks plus a block of cluster-id n-grams (or dense LSA components)."""

    def __init__(self, config: dict[str, Any], spec: Clusters) -> None:
        self.base = _DepartmentFeatures(config)
        self.spec = spec
        self.mapping: dict[str, int] = {}
        self.ids = TfidfVectorizer(analyzer="word", token_pattern=r"\S+", lowercase=False,  # noqa: S106
                                   ngram_range=spec.ngram_range, min_df=2, sublinear_tf=True,
                                   dtype=np.float32)  # fmt: skip
        self.seen: set[str] = set()

    def _ids(self, docs: Sequence[list[str]]) -> list[str]:
        out = []
        for d in docs:
            out.append(" ".join(f"c{self.mapping[w]}" for w in d if w in self.mapping and w not in self.seen))
        return out

    def _dense(self, docs: Sequence[list[str]]) -> sp.csr_matrix:
        x = self.lsa_words.transform([" ".join(d) for d in docs]) @ self.components
        x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)
        return sp.csr_matrix(np.hstack([np.maximum(x, 0), np.maximum(-x, 0)]).astype(np.float32))

    def fit_transform(self, docs: Sequence[list[str]], unlabelled: Sequence[list[str]]) -> sp.csr_matrix:
        base = self.base.fit_transform(docs)
        all_texts = [*docs, *unlabelled]
        if self.spec.dense:
            self.lsa_words = TfidfVectorizer(analyzer="word", token_pattern=r"\S+", lowercase=False,  # noqa: S106
                                             min_df=2, sublinear_tf=True, dtype=np.float32)  # fmt: skip
            m = self.lsa_words.fit_transform([" ".join(d) for d in all_texts])
            svd = TruncatedSVD(self.spec.dense, random_state=SEED).fit(m)
            self.components = svd.components_.T.astype(np.float32)
            return sp.hstack([base, self._dense(docs) * self.spec.weight]).tocsr()
        self.mapping = cluster_map(all_texts, self.spec)
        if self.spec.only_unseen:
            tf: Counter[str] = Counter(w for d in docs for w in d)
            self.seen = {w for w, n in tf.items() if n >= 2}
        block = self.ids.fit_transform(self._ids(docs))
        return sp.hstack([base, block * self.spec.weight]).tocsr()

    def transform(self, docs: Sequence[list[str]]) -> sp.csr_matrix:
        base = self.base.transform(docs)
        if self.spec.dense:
            return sp.hstack([base, self._dense(docs) * self.spec.weight]).tocsr()
        return sp.hstack([base, self.ids.transform(self._ids(docs)) * self.spec.weight]).tocsr()


class ClusterHarness(Harness):
    def fit(self, spec: Clusters, split: Split) -> tuple[Scorer, list[str]]:
        docs = [self.public[i] for i in split.train_idx] + split.own
        labels = self.gold[split.train_idx].tolist() + [e.label for e in self.ours]
        config = dict(DEPARTMENT_CONFIG)
        features: Any
        if spec.k or spec.dense:
            features = ClusterFeatures(config, spec)
            matrix = features.fit_transform(docs, split.unlabelled)
        else:  # the baseline: the shipped blocks, the unlabelled texts unread
            features = _DepartmentFeatures(config)
            matrix = features.fit_transform(docs)
        classes, coef, intercept = nbsvm(matrix, labels, config["C"], config["nb_alpha"])
        return (lambda x: np.asarray(features.transform(x) @ coef.T) + intercept), classes

    def score_clusters(self, spec: Clusters) -> dict[str, Any]:
        return self.evaluate(Preparation(), lambda split: self.fit(spec, split))


def candidates() -> dict[str, Clusters]:
    out = {"baseline": Clusters()}
    for k in (200, 500, 1000, 2000):
        out[f"doc K={k} x0.5"] = Clusters(k=k)
    for k in (500, 1000):
        out[f"ppmi K={k} x0.5"] = Clusters(k=k, vectors="ppmi")
    out["doc K=1000 x0.3"] = Clusters(k=1000, weight=0.3)
    out["doc K=1000 x1.0"] = Clusters(k=1000, weight=1.0)
    out["doc K=1000 uni+bi x0.5"] = Clusters(k=1000, ngram_range=(1, 2))
    out["doc K=1000 unseen-only x0.5"] = Clusters(k=1000, only_unseen=True)
    out["ppmi K=1000 x1.0"] = Clusters(k=1000, vectors="ppmi", weight=1.0)
    out["ppmi K=2000 x0.5"] = Clusters(k=2000, vectors="ppmi")
    out["ppmi K=1000 uni+bi x0.5"] = Clusters(k=1000, vectors="ppmi", ngram_range=(1, 2))
    out["dense LSA 200 x0.3"] = Clusters(dense=200, weight=0.3)
    out["dense LSA 200 x0.6"] = Clusters(dense=200, weight=0.6)
    return out


def score_dev(harness: ClusterHarness, shared: Path, name: str) -> None:
    """dev_raw macro-F1 (7 public departments, and every predicted label) for ``name`` and the baseline's refit,
    fitted on the whole training file and our examples, dev_raw read by the shipped segmenter construction."""
    _, whole = harness.splits(Preparation())
    dev = department_dev(shared)
    docs = [read(whole.segmenter, e.text) for e in dev]
    gold = [e.label for e in dev]
    for label, spec in (("baseline refit", Clusters()), (name, candidates()[name])):
        scores, classes = harness.fit(spec, whole)
        pred = np.array(classes)[scores(docs).argmax(axis=1)]
        f7 = f1_score(gold, pred, labels=harness.labels7, average="macro")
        elsewhere = int((~np.isin(pred, harness.labels7)).sum())
        print(f"dev_raw {label}: macro-F1 (7 departments) {f7:.4f}, every predicted label "
              f"{f1_score(gold, pred, average='macro'):.4f}, sent elsewhere {elsewhere}",
              flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shared")
    parser.add_argument("--only", action="append", help="run the candidates whose name contains this")
    parser.add_argument("--dev", help="score dev_raw once for this candidate (and the baseline's refit); nothing else")
    args = parser.parse_args()
    started = time.perf_counter()
    harness = ClusterHarness(Path(args.shared))
    if args.dev:
        score_dev(harness, Path(args.shared), args.dev)
        return
    shipped = shipped_on_validation(harness.raw)
    gold = np.array(harness.raw.validation_labels)
    print(f"shipped artifacts: raw {shipped['raw_macro_f1']:.4f} (accuracy {shipped['raw_accuracy']:.4f})", flush=True)
    for name, spec in candidates().items():
        if args.only and not any(o == name or o in name for o in args.only):
            continue
        r = harness.score_clusters(spec)
        fixed, broken = fixed_and_broken(gold, shipped["predicted"], r["predicted"])
        print(
            f"{name}: CV {r['cv_macro_f1']:.4f}, raw {r['raw_macro_f1']:.4f} (accuracy {r['raw_accuracy']:.4f});"
            " against the shipped model"
            f" {fixed} right that were wrong, {broken} wrong that were right [{time.perf_counter() - started:.0f} s]",
            flush=True,
        )


if __name__ == "__main__":
    main()
