"""The department candidates of the fourth to sixth rounds: cross-validated as the runtime reads text.

``python -m research.department_candidates ../shared/data [--dev]`` prints the 5-fold CV macro-F1
(7 public departments) of the candidates in MODEL_CARD.md's tables: each test fold of the public
training file re-joined into raw text and segmented by a jieba segmenter rebuilt from the training
folds (stop words dropped), our own raw examples in every training fold, and for the sixth round's
candidates the gov_replies messages labelled by their reply's bureau (:mod:`research.distant`),
segmented like our examples, at a sample weight. ``--dev`` also scores dev_raw (for the final
candidates only; nothing is to be chosen on it).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

from bot.training.datasets import department_dev, department_segmented
from bot.training.train import (
    DEPARTMENT_CONFIG,
    SEED,
    _DepartmentFeatures,
    build_segmenter,
    jieba_dictionary,
    nbsvm,
    own_department_examples,
)
from research.distant import distant_labels
from text.normalize import normalize


class _CharsOnly(_DepartmentFeatures):
    """The character block alone."""

    def fit_transform(self, docs: Sequence[list[str]]) -> Any:
        return self.chars.fit_transform(["".join(d) for d in docs])

    def transform(self, docs: Sequence[list[str]]) -> Any:
        return self.chars.transform(["".join(d) for d in docs])


Fit = Callable[[Any, Sequence[str], Sequence[float] | None], Callable[[Any], np.ndarray]]


def _nbsvm(config: dict[str, Any]) -> Fit:
    def fit(matrix: Any, labels: Sequence[str], weights: Sequence[float] | None) -> Callable[[Any], np.ndarray]:
        classes, coef, intercept = nbsvm(matrix, labels, config["C"], config["nb_alpha"], weights)
        return lambda m: np.array(classes)[np.asarray(m @ coef.T + intercept).argmax(axis=1)]

    return fit


def _sklearn(make: Callable[[], Any]) -> Fit:
    def fit(matrix: Any, labels: Sequence[str], weights: Sequence[float] | None) -> Callable[[Any], np.ndarray]:
        return make().fit(matrix, list(labels), sample_weight=weights).predict  # type: ignore[no-any-return]

    return fit


# The fourth round's configuration: the shipped one without the head block of the fifth round.
FOURTH_ROUND = {k: v for k, v in DEPARTMENT_CONFIG.items() if not k.startswith("head_")}


def _with(config: dict[str, Any], kind: type[_DepartmentFeatures] = _DepartmentFeatures) -> Callable[[], Any]:
    return lambda: kind(config)


# The fifth round's configuration: the head block, no distant labels.
FIFTH_ROUND = {k: v for k, v in DEPARTMENT_CONFIG.items() if k != "distant_weight"}
FIFTH = "char 1-2 + word 1-2 + head chars (first 12 words, x0.7), NB-SVM"


def candidates() -> dict[str, tuple[Callable[[], _DepartmentFeatures], Fit, float]]:
    """Name → (features, classifier, weight of the distant-labelled messages; 0: left out)."""
    fifth, fourth = FIFTH_ROUND, FOURTH_ROUND
    chars_only, both = _with(fourth, _CharsOnly), _with(fourth)
    return {
        "char 1-2, linear SVM C=0.5": (chars_only, _sklearn(lambda: LinearSVC(C=0.5, random_state=SEED)), 0.0),
        "char 1-2 + word 1-2, linear SVM C=0.5": (both, _sklearn(lambda: LinearSVC(C=0.5, random_state=SEED)), 0.0),
        "char 1-2 + word 1-2, LR C=50": (both, _sklearn(lambda: LogisticRegression(C=50, max_iter=3000)), 0.0),
        "char 1-2, NB-SVM": (chars_only, _nbsvm(fifth), 0.0),
        "char 1-2 + word 1-2, NB-SVM (fourth round)": (both, _nbsvm(fifth), 0.0),
        f"{FIFTH} (fifth round)": (_with(fifth), _nbsvm(fifth), 0.0),
        **{f"{FIFTH} + distant labels x{w} (sixth round)": (_with(fifth), _nbsvm(fifth), w) for w in (1.0, 0.5, 0.3)},
    }


def read_all(segmenter: Any, texts: Sequence[str]) -> list[list[str]]:
    """Texts read as the runtime reads a citizen: normalised, segmented, stop words dropped."""
    return [segmenter.words(normalize(t).text) for t in texts]


Fold = tuple[np.ndarray, np.ndarray, list[list[str]], list[list[str]], list[list[str]]]


def runtime_folds(
    segmented: Sequence[str], gold: np.ndarray, jieba_words: Any, own: Sequence[str], extra: Sequence[str] = ()
) -> list[Fold]:
    """The 5 stratified folds of the training file, each read by a segmenter rebuilt from its training
    rows: (training indices, test indices, our examples, ``extra`` texts, the test rows re-joined and read)."""
    folds = []
    for train_idx, test_idx in StratifiedKFold(5, shuffle=True, random_state=SEED).split(segmented, gold):
        segmenter = build_segmenter([segmented[i] for i in train_idx], jieba_words)
        test = read_all(segmenter, [segmented[i].replace(" ", "") for i in test_idx])
        folds.append((train_idx, test_idx, read_all(segmenter, own), read_all(segmenter, extra), test))
    return folds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shared", type=Path)
    parser.add_argument("--dev", action="store_true", help="also score dev_raw.csv (evaluation only)")
    parser.add_argument("--only", help="run the candidates whose name contains this")
    args = parser.parse_args()
    training = department_segmented(args.shared)
    segmented, public, gold = training.segmented, training.words, training.gold
    ours = own_department_examples()
    jieba_words = jieba_dictionary()
    whole = build_segmenter(segmented, jieba_words)
    chosen = {name: c for name, c in candidates().items() if not args.only or args.only in name}
    # The distant labels and their exclusions (overlap with dev_raw's text and the whole training file):
    # screening every reply against both files takes a while, so only for the sixth round's candidates.
    distant_texts: list[str] = []
    distant_gold: list[str] = []
    if any(weight for _, _, weight in chosen.values()):
        distant = distant_labels(args.shared, lambda t: whole.words(normalize(t).text))
        distant_texts, distant_gold = distant.texts, distant.labels

    folds = runtime_folds(segmented, gold, jieba_words, [e.text for e in ours], distant_texts)
    labels = sorted(set(gold))
    own_labels = [e.label for e in ours]
    if args.dev:  # the whole file's segmenter, as the runtime reads dev_raw
        dev = department_dev(args.shared)
        dev_docs = read_all(whole, [e.text for e in dev])
        own_whole, far_whole = read_all(whole, [e.text for e in ours]), read_all(whole, distant_texts)
    for name, (make_features, fit, weight) in chosen.items():
        predicted = np.empty(len(public), dtype=object)
        for train_idx, test_idx, own, far, test in folds:
            features = make_features()
            extra, extra_labels = (own + far, own_labels + distant_gold) if weight else (own, own_labels)
            weights = [1.0] * (len(train_idx) + len(own)) + [weight] * (len(extra) - len(own))
            matrix = features.fit_transform([public[i] for i in train_idx] + extra)
            predict = fit(matrix, gold[train_idx].tolist() + extra_labels, weights)
            predicted[test_idx] = predict(features.transform(test))
        line = f"{name}: CV {f1_score(gold, predicted, labels=labels, average='macro'):.4f}"
        if args.dev:
            features = make_features()
            far = far_whole if weight else []
            weights = [1.0] * (len(public) + len(own_whole)) + [weight] * len(far)
            matrix = features.fit_transform(public + own_whole + far)
            predict = fit(matrix, gold.tolist() + own_labels + (distant_gold if weight else []), weights)
            dev_pred = predict(features.transform(dev_docs))
            line += f", dev_raw {f1_score([e.label for e in dev], dev_pred, labels=labels, average='macro'):.4f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
