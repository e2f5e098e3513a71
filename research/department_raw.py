"""The department candidates of the seventh round, judged by cross-validation and a raw-text validation set.

The CV of the earlier rounds reads its test folds from the training file's own text, whose stop words
were removed before it was published; dev_raw and citizens' messages are raw. This harness adds a
second judge that is raw text and is not dev_raw: the gov_replies messages labelled by their reply's
bureau (:mod:`research.distant`, 655 messages, roughly 10% label noise, overlaps with dev_raw and
the training file left out) — used for validation only, never for training. The other gov_replies
messages (overlaps with dev_raw, the training file and the validation messages left out) are
unlabelled raw text for self-training and for the TF-IDF document frequencies.

``python -m research.department_raw ../shared/data [--only NAME]`` prints, per candidate, the 5-fold
CV macro-F1 (7 public departments; the fifth round's protocol, the shipped segmenter construction) and
the raw validation's macro-F1 (the same 7) and accuracy, for a model fitted on the whole training file.
dev_raw is not read here except its title and body, for the overlap exclusions.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import functools
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold

from bot.training.datasets import department_segmented, read_csv
from bot.training.train import (
    DEPARTMENT_CONFIG,
    SEED,
    STOP_TOP_WORDS,
    _DepartmentFeatures,
    build_segmenter,
    jieba_dictionary,
    nbsvm,
    own_department_examples,
)
from research.distant import PUBLIC, RawSets, raw_sets
from text.normalize import normalize
from text.segment import Segmenter, clean_words

TEMPERATURE = 0.25  # the shipped model's softmax temperature (the train command's CV): pseudo-label confidence
X0D = "x0d"  # "_x000D_" as clean_words reads it
# A fitted model: documents (word lists) → class scores.
Scorer = Callable[[Sequence[list[str]]], np.ndarray]


# -- preparation ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Preparation:
    """How raw text is read: the shipped construction (``train.build_segmenter``) with ``stop_top`` of
    jieba's most frequent words as candidate stop words, plus (``raw_stop_df`` > 0) the words in at least
    that many unlabelled raw messages that the training texts never show."""

    stop_top: int = STOP_TOP_WORDS
    raw_stop_df: int = 0
    # Single ASCII digits and letters the training texts never show as a word are stop words too (the file's
    # preparation dropped 1-9 and the lone A of "A市"; jieba's ranking of its dictionary has neither).
    ascii_singles: bool = False
    vocabulary_only: bool = False  # also drop every word the training texts never show


def make_segmenter(
    prep: Preparation, segmented: Sequence[str], jieba_words: dict[str, int], unlabelled: Sequence[str]
) -> Segmenter:
    """The shipped construction (:func:`bot.training.train.build_segmenter`) with ``prep``'s changes."""
    build = functools.partial(
        build_segmenter, segmented, jieba_words, single_ascii=prep.ascii_singles, stop_top=prep.stop_top
    )
    extra: set[str] = set()
    if prep.raw_stop_df:
        base = build()
        df: Counter[str] = Counter()
        for text in unlabelled:
            df.update(set(read(base, text)))
        used_clean = {w for text in segmented for w in clean_words(text.split())}
        extra = {w for w, n in df.items() if n >= prep.raw_stop_df and w not in used_clean}
    if not prep.vocabulary_only:
        return build(extra_stop_words=extra)
    segmenter = build(_KnownWords, extra_stop_words=extra)
    assert isinstance(segmenter, _KnownWords)
    segmenter.known = frozenset(w for text in segmented for w in clean_words(text.split()))
    return segmenter


class _KnownWords(Segmenter):
    """The segmenter's words, those the training texts never show dropped."""

    known: frozenset[str] = frozenset()

    def words(self, normalized: str) -> list[str]:
        return [w for w in super().words(normalized) if w in self.known]


def read(segmenter: Segmenter, text: str) -> list[str]:
    """A raw message's words, as the runtime reads it."""
    return segmenter.words(normalize(text).text)


def paired_messages(shared: Path, segmenter: Segmenter) -> list[tuple[str, list[str]]]:
    """gov_replies messages that are in the training file too (raw message, that file's words): matched on
    the first 10 Chinese characters of the message as ``segmenter`` reads it, kept at a difflib ratio > 0.85
    on the first 300 characters of the words. Labels are not read; these messages are never scored."""
    train = [r["text_segmented"] for r in read_csv(shared / "departments" / "train_segmented.csv")]

    def key(text: str) -> str:
        return _HAN.sub("", text)[:10]

    index: dict[str, list[int]] = {}
    for j, text in enumerate(train):
        index.setdefault(key(text), []).append(j)
    pairs = []
    for row in read_csv(shared / "replies" / "gov_replies.csv"):
        raw = f"{row['title']}。{row['message']}"
        ours = "".join(read(segmenter, raw))
        best: tuple[float, list[str]] | None = None
        for j in index.get(key(ours), []):
            theirs = clean_words(normalize(train[j]).text.split())
            ratio = difflib.SequenceMatcher(None, "".join(theirs)[:300], ours[:300], autojunk=False).ratio()
            if best is None or ratio > best[0]:
                best = (ratio, theirs)
        if best is not None and best[0] > 0.85:
            pairs.append((raw, best[1]))
    return pairs


_HAN = re.compile(r"[^\u4e00-\u9fff]")


def agreement(pairs: Sequence[tuple[str, list[str]]], segmenter: Segmenter, limit: int = 400) -> dict[str, float]:
    """How closely ``segmenter`` reads the paired raw messages as the training file has them (first ``limit``
    words): the share of the file's words matched in order, and the share of our words it lacks."""
    matched = theirs_n = ours_n = 0
    for raw, theirs in pairs:
        ours = read(segmenter, raw)[:limit]
        theirs = theirs[:limit]
        blocks = difflib.SequenceMatcher(None, ours, theirs, autojunk=False).get_matching_blocks()
        matched += sum(b.size for b in blocks)
        theirs_n += len(theirs)
        ours_n += len(ours)
    return {"pairs": len(pairs), "matched": matched / theirs_n, "extra": 1 - matched / ours_n}


# -- candidates -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A training recipe on top of the shipped configuration."""

    prep: Preparation = Preparation()
    pseudo_threshold: float = 0.0  # > 0: self-training, unlabelled messages the model gives P ≥ this
    pseudo_weight: float = 0.0
    idf_unlabelled: bool = False  # TF-IDF document frequencies from the training and the unlabelled texts
    augment_weight: float = 0.0  # > 0: the public rows re-joined and read as raw text, added at this weight
    replace: bool = False  # the public rows re-joined and read as raw text instead of their own words
    drop_x0d: bool = False  # the training file's "_x000D_" (a spreadsheet's carriage return; never in raw text)
    config: tuple[tuple[str, Any], ...] = ()  # DEPARTMENT_CONFIG overrides


def fit_scores(
    cand: Candidate,
    docs: list[list[str]],
    labels: list[str],
    weights: list[float],
    unlabelled: list[list[str]],
) -> tuple[list[str], Scorer, int]:
    """Fit a candidate; returns (classes, docs → scores, how many pseudo-labelled messages were added)."""
    config = {**DEPARTMENT_CONFIG, **dict(cand.config)}

    def one(d: list[list[str]], y: list[str], w: list[float]) -> tuple[list[str], Callable[[Any], np.ndarray]]:
        features = _DepartmentFeatures(config)
        matrix = features.fit_transform(d, unlabelled if cand.idf_unlabelled else [])
        classes, coef, intercept = nbsvm(matrix, y, config["C"], config["nb_alpha"], w)
        return classes, lambda x: np.asarray(features.transform(x) @ coef.T) + intercept

    classes, scores = one(docs, labels, weights)
    added = 0
    if cand.pseudo_threshold and unlabelled:
        z = scores(unlabelled) / TEMPERATURE
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        chosen = np.flatnonzero(p.max(axis=1) >= cand.pseudo_threshold)
        added = len(chosen)
        classes, scores = one(
            docs + [unlabelled[i] for i in chosen],
            labels + [classes[int(p[i].argmax())] for i in chosen],
            weights + [cand.pseudo_weight] * added,
        )
    return classes, scores, added


def candidates() -> dict[str, Candidate]:
    return {
        "baseline (shipped recipe)": Candidate(),
        "idf from training + unlabelled raw": Candidate(idf_unlabelled=True),
        "self-training P>=0.9 x0.3": Candidate(pseudo_threshold=0.9, pseudo_weight=0.3),
        "self-training P>=0.9 x1.0": Candidate(pseudo_threshold=0.9, pseudo_weight=1.0),
        "self-training P>=0.6 x0.3": Candidate(pseudo_threshold=0.6, pseudo_weight=0.3),
        "self-training P>=0.9 x0.3 + idf unlabelled": Candidate(
            pseudo_threshold=0.9, pseudo_weight=0.3, idf_unlabelled=True
        ),
        "augment: public rows read as raw x0.5": Candidate(augment_weight=0.5),
        "augment: public rows read as raw x1.0": Candidate(augment_weight=1.0),
        "replace: public rows read as raw": Candidate(replace=True),
        "stop words: + single digits and letters never in training": Candidate(prep=Preparation(ascii_singles=True)),
        "stop words: + single digits/letters + raw words in >=5 msgs": Candidate(
            prep=Preparation(ascii_singles=True, raw_stop_df=5)
        ),
        "read only the words the training texts show": Candidate(prep=Preparation(vocabulary_only=True)),
        "training: drop _x000D_": Candidate(drop_x0d=True),
        "singles + idf unlabelled": Candidate(prep=Preparation(ascii_singles=True), idf_unlabelled=True),
        "singles + jieba top 10000": Candidate(prep=Preparation(ascii_singles=True, stop_top=10000)),
        "singles + replace": Candidate(prep=Preparation(ascii_singles=True), replace=True),
        "singles + drop _x000D_": Candidate(prep=Preparation(ascii_singles=True), drop_x0d=True),
        "singles + idf unlabelled + drop _x000D_": Candidate(
            prep=Preparation(ascii_singles=True), idf_unlabelled=True, drop_x0d=True
        ),
        "singles + idf unlabelled + self-training P>=0.9 x0.3": Candidate(
            prep=Preparation(ascii_singles=True), idf_unlabelled=True, pseudo_threshold=0.9, pseudo_weight=0.3
        ),
        "stop words: jieba top 10000": Candidate(prep=Preparation(stop_top=10000)),
        "stop words: jieba top 20000": Candidate(prep=Preparation(stop_top=20000)),
        "stop words: + raw words in >=5 unlabelled msgs, never in training": Candidate(prep=Preparation(raw_stop_df=5)),
        "stop words: + raw words in >=2 unlabelled msgs, never in training": Candidate(prep=Preparation(raw_stop_df=2)),
    }


# -- the harness ----------------------------------------------------------------------------------


@dataclasses.dataclass
class Split:
    """One training set and what is scored against it, read by one segmenter."""

    train_idx: np.ndarray
    segmenter: Segmenter
    own: list[list[str]]
    unlabelled: list[list[str]]
    targets: list[list[str]]
    resegmented: list[list[str]]  # the training rows, re-joined and read as raw text


class Harness:
    def __init__(self, shared: Path) -> None:
        training = department_segmented(shared)
        self.segmented, self.public, self.gold = training.segmented, training.words, training.gold
        self.ours = own_department_examples()
        self.jieba_words = jieba_dictionary()
        whole = make_segmenter(Preparation(), self.segmented, self.jieba_words, [])
        self.raw = raw_sets(shared, lambda t: read(whole, t))
        self.labels7 = sorted(PUBLIC)
        self._splits: dict[Preparation, tuple[list[Split], Split]] = {}

    def _split(self, prep: Preparation, train_idx: np.ndarray, targets: list[str]) -> Split:
        segmenter = make_segmenter(prep, [self.segmented[i] for i in train_idx], self.jieba_words, self.raw.unlabelled)
        return Split(
            train_idx,
            segmenter,
            [read(segmenter, e.text) for e in self.ours],
            [read(segmenter, t) for t in self.raw.unlabelled],
            [read(segmenter, t) for t in targets],
            [read(segmenter, self.segmented[i].replace(" ", "")) for i in train_idx],
        )

    def splits(self, prep: Preparation) -> tuple[list[Split], Split]:
        if prep not in self._splits:
            folds = [
                self._split(prep, train_idx, [self.segmented[i].replace(" ", "") for i in test_idx])
                for train_idx, test_idx in StratifiedKFold(5, shuffle=True, random_state=SEED).split(
                    self.public, self.gold
                )
            ]
            whole = self._split(prep, np.arange(len(self.public)), self.raw.validation)
            self._splits[prep] = (folds, whole)
        return self._splits[prep]

    def _fit(self, cand: Candidate, split: Split) -> tuple[Scorer, list[str], int]:
        public = [self.public[i] for i in split.train_idx]
        if cand.drop_x0d:
            public = [[w for w in d if w != X0D] for d in public]
        labels = self.gold[split.train_idx].tolist()
        own_labels = [e.label for e in self.ours]
        if cand.replace:
            docs, weights = split.resegmented + split.own, [1.0] * (len(public) + len(split.own))
            labels = labels + own_labels
        else:
            docs = public + split.own
            weights = [1.0] * len(docs)
            labels = labels + own_labels
            if cand.augment_weight:
                docs = docs + split.resegmented
                labels = labels + self.gold[split.train_idx].tolist()
                weights = weights + [cand.augment_weight] * len(split.resegmented)
        classes, scores, added = fit_scores(cand, docs, labels, weights, split.unlabelled)
        return scores, classes, added

    def evaluate(self, prep: Preparation, fit: Callable[[Split], tuple[Scorer, list[str]]]) -> dict[str, Any]:
        """CV macro-F1 (7 departments) of ``fit`` over the folds read with ``prep``, and the raw validation's
        macro-F1 and accuracy (and its predictions) of ``fit`` on the whole training file."""
        folds, whole = self.splits(prep)
        predicted = np.empty(len(self.public), dtype=object)
        skf = StratifiedKFold(5, shuffle=True, random_state=SEED).split(self.public, self.gold)
        for split, (_, test_idx) in zip(folds, skf, strict=True):
            scores, classes = fit(split)
            predicted[test_idx] = np.array(classes)[scores(split.targets).argmax(axis=1)]
        scores, classes = fit(whole)
        val_pred = np.array(classes)[scores(whole.targets).argmax(axis=1)]
        val_gold = np.array(self.raw.validation_labels)
        return {
            "cv_macro_f1": float(f1_score(self.gold, predicted, labels=self.labels7, average="macro")),
            "raw_macro_f1": float(f1_score(val_gold, val_pred, labels=self.labels7, average="macro")),
            "raw_accuracy": float((val_pred == val_gold).mean()),
            "predicted": val_pred,
        }

    def score(self, cand: Candidate) -> dict[str, Any]:
        """:meth:`evaluate` for a candidate, with how many messages self-training added (whole fit, folds' mean)."""
        added: list[int] = []

        def fit(split: Split) -> tuple[Scorer, list[str]]:
            scores, classes, n = self._fit(cand, split)
            added.append(n)
            return scores, classes

        result = self.evaluate(cand.prep, fit)  # the five folds first, then the whole file
        return {**result, "pseudo_added": float(added[-1]), "pseudo_added_cv_mean": float(np.mean(added[:-1]))}


def fixed_and_broken(gold: np.ndarray, was: np.ndarray, now: np.ndarray) -> tuple[int, int]:
    """How many validation messages ``now`` gets right that ``was`` (the shipped model) got wrong, and back."""
    return int(((now == gold) & (was != gold)).sum()), int(((now != gold) & (was == gold)).sum())


def shipped_on_validation(raw: RawSets) -> dict[str, Any]:
    """The shipped artifacts (handlers/model) on the raw validation set, read through the runtime path."""
    from handlers.classify import ModelClassifier

    classifier = ModelClassifier.load()
    predicted = np.array([classifier.department_of(normalize(t).text).label for t in raw.validation])
    gold = np.array(raw.validation_labels)
    return {
        "raw_macro_f1": float(f1_score(gold, predicted, labels=sorted(PUBLIC), average="macro")),
        "raw_accuracy": float((predicted == gold).mean()),
        "predicted": predicted,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shared", type=Path)
    parser.add_argument("--only", action="append", help="run the candidates whose name contains this")
    args = parser.parse_args()
    started = time.perf_counter()
    harness = Harness(args.shared)
    print(f"raw sets: {harness.raw.counts}; validation per department {dict(Counter(harness.raw.validation_labels))}")
    shipped = shipped_on_validation(harness.raw)
    print(f"shipped artifacts: raw {shipped['raw_macro_f1']:.4f} (accuracy {shipped['raw_accuracy']:.4f})", flush=True)
    chosen = {n: c for n, c in candidates().items() if not args.only or any(o in n for o in args.only)}
    shipped_reading = make_segmenter(Preparation(), harness.segmented, harness.jieba_words, [])
    pairs = paired_messages(args.shared, shipped_reading)
    for prep in dict.fromkeys(c.prep for c in chosen.values()):
        segmenter = make_segmenter(prep, harness.segmented, harness.jieba_words, harness.raw.unlabelled)
        a = agreement(pairs, segmenter)
        print(f"{prep}: {a['pairs']} paired messages, {a['matched']:.4f} of the file's words read, "
              f"{a['extra']:.4f} of ours extra", flush=True)  # fmt: skip
    for name, cand in chosen.items():
        r = harness.score(cand)
        fixed, broken = fixed_and_broken(np.array(harness.raw.validation_labels), shipped["predicted"], r["predicted"])
        print(
            f"{name}: CV {r['cv_macro_f1']:.4f}, raw {r['raw_macro_f1']:.4f} (accuracy {r['raw_accuracy']:.4f})"
            + (f", pseudo-labelled {r['pseudo_added']:.0f} (CV folds {r['pseudo_added_cv_mean']:.0f})"
               if r["pseudo_added"] else "")
            + f"; against the shipped model {fixed} right that were wrong, {broken} wrong that were right"
            + f" [{time.perf_counter() - started:.0f} s]",
            flush=True,
        )  # fmt: skip


if __name__ == "__main__":
    main()
