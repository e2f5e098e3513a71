"""The department's ninth round: training rows whose label looks wrong, dropped or down-weighted.

``python -m research.department_cleaning ../shared/data`` prints the 5-fold CV macro-F1 (7 public
departments, the runtime's reading of each test fold, as :mod:`research.department_candidates`)
of the shipped recipe with and without cleaning. Inside each outer training fold an inner 5-fold
cross-validation scores every public row; a row whose given label trails the best class's score by more
than a margin is suspect (confident learning, Northcutt et al. 2021, in its simplest form), and is dropped
or weighted 0.5 in the outer fit. The outer test folds keep their labels as given: cleaning must pay off
on labels as noisy as dev_raw's. dev_raw is not read.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold

from bot.training.datasets import department_segmented
from bot.training.train import SEED, jieba_dictionary, own_department_examples
from research.department_candidates import runtime_folds
from research.department_raw import Candidate
from research.department_raw import fit_scores as shipped_fit

Scores = Callable[[Sequence[list[str]]], tuple[np.ndarray, np.ndarray]]

# (name, what a suspect row becomes: None = kept as is, 0.0 = dropped, else its weight; margin)
VARIANTS: list[tuple[str, float | None, float]] = [("shipped recipe", None, 0.0)] + [
    (f"{'drop' if w == 0.0 else f'weight {w}'}, margin > {m}", w, m) for w in (0.0, 0.5) for m in (0.0, 0.5, 1.0)
]


def fit_scores(docs: list[list[str]], labels: list[str], weights: list[float] | None = None) -> Scores:
    """The shipped recipe (:func:`research.department_raw.fit_scores` of the plain candidate); returns
    docs → (classes, decision values)."""
    classes, scores, _ = shipped_fit(Candidate(), docs, labels, weights or [1.0] * len(docs), [])
    return lambda d: (np.array(classes), scores(d))


def suspicion(docs: Sequence[list[str]], gold: np.ndarray, own: list[list[str]], own_labels: list[str]) -> np.ndarray:
    """Per row of ``docs``: the best class's decision value minus its given label's, out of fold
    (0 where the model agrees with the label); our own examples are in every inner training fold."""
    margin = np.zeros(len(docs))
    for train_idx, test_idx in StratifiedKFold(5, shuffle=True, random_state=SEED + 1).split(docs, gold):
        scores = fit_scores([docs[i] for i in train_idx] + own, gold[train_idx].tolist() + own_labels)
        classes, values = scores([docs[i] for i in test_idx])
        given = values[np.arange(len(test_idx)), np.searchsorted(classes, gold[test_idx])]
        margin[test_idx] = values.max(axis=1) - given
    return margin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shared", type=Path)
    args = parser.parse_args()
    started = time.perf_counter()
    training = department_segmented(args.shared)
    segmented, public, gold = training.segmented, training.words, training.gold
    ours = own_department_examples()
    own_labels = [e.label for e in ours]
    predicted = {name: np.empty(len(public), dtype=object) for name, _, _ in VARIANTS}
    suspects = dict.fromkeys(predicted, 0)
    folds = runtime_folds(segmented, gold, jieba_dictionary(), [e.text for e in ours])
    for k, (train_idx, test_idx, own, _, test) in enumerate(folds):
        margin = suspicion([public[i] for i in train_idx], gold[train_idx], own, own_labels)
        for name, becomes, threshold in VARIANTS:
            weights = np.ones(len(train_idx))
            if becomes is not None:
                suspect = margin > threshold
                suspects[name] += int(suspect.sum())
                weights[suspect] = becomes
            keep = weights > 0
            scores = fit_scores(
                [public[i] for i in train_idx[keep]] + own,
                gold[train_idx[keep]].tolist() + own_labels,
                weights[keep].tolist() + [1.0] * len(own),
            )
            classes, values = scores(test)
            predicted[name][test_idx] = classes[values.argmax(axis=1)]
        print(f"fold {k + 1} of 5 [{time.perf_counter() - started:.0f} s]", flush=True)
    labels = sorted(set(gold))
    for name in predicted:
        f1 = f1_score(gold, predicted[name], labels=labels, average="macro")
        print(f"{name}: CV {f1:.4f}, suspect rows over the 5 training folds {suspects[name]}")


if __name__ == "__main__":
    main()
