"""Cross-validation of the whole intent system, and the emergency threshold at several false-alarm caps.

``python -m research.intent_cv [--new N] [--caps 0.01,0.0125,0.015]`` prints JSON:

- for each cap, the threshold :func:`bot.training.train.emergency_threshold` would choose, and at that
  threshold the 5-fold cross-validated figures of the whole classifier (rules, place and time fragments,
  explicit words; the intent and emergency-kind models refitted on each training fold; the shipped
  department model, which does not change the intent) — all rows, Simplified, Traditional, and the last
  ``N`` rows of the training file (a round's new rows) apart;
- the dev sets scored by the shipped models at that threshold (recall, false alarms);
- the score margin: the lowest P(emergency) of an emergency that no rule catches, in cross-validation and
  on each dev set (an emergency below the threshold is missed), and how many such emergencies there are.

The folds are those of the threshold's own cross-validation (seed ``SEED``). The held-out set is never read.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold

from bot.training.datasets import Example, intents
from bot.training.train import (
    DEVS,
    INTENT_CONFIG,
    KIND_CONFIG,
    SEED,
    _intent_figures,
    choose_threshold,
    cross_validated_emergency,
    fit,
)
from handlers.classify import ModelClassifier, intent_input
from handlers.emergency import emergency_rule
from text.normalize import normalize


def _fold_classifiers(examples: Sequence[Example], shipped: ModelClassifier) -> list[tuple[list[int], ModelClassifier]]:
    """(test indices, a classifier whose intent and kind models never saw them) for each of the 5 folds."""
    texts = [intent_input(e.text) for e in examples]
    labels = np.array([e.label for e in examples])
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED)
    out = []
    for train_idx, test_idx in folds.split(texts, labels):
        train = [examples[i] for i in train_idx]
        intent = fit([e.text for e in train], [e.label for e in train], INTENT_CONFIG)
        emergencies = [e for e in train if e.label == "emergency"]
        kind = fit([e.text for e in emergencies], [e.emergency_kind for e in emergencies], KIND_CONFIG)
        out.append(
            ([int(i) for i in test_idx], ModelClassifier(intent, shipped.department, kind, 0.5, shipped.segmenter))
        )
    return out


def _lowest_unruled(examples: Sequence[Example], p_emergency: Sequence[float]) -> dict[str, Any]:
    """The lowest P(emergency) among emergencies no rule catches, and how many there are."""
    unruled = [
        p
        for e, p in zip(examples, p_emergency, strict=True)
        if e.label == "emergency" and emergency_rule(normalize(e.text).text) is None
    ]
    return {"unruled_emergencies": len(unruled), "lowest_p": round(min(unruled), 3) if unruled else None}


def _short(figures: dict[str, Any]) -> dict[str, Any]:
    keep = ("n", "macro_f1", "complaint_vs_inquiry_accuracy", "emergency_recall", "emergency_false_alarm_rate",
            "emergency_kind_accuracy")  # fmt: skip
    return {k: figures[k] for k in keep if k in figures}


def run(caps: Sequence[float], new: int = 0) -> dict[str, Any]:
    examples = intents("train")
    shipped = ModelClassifier.load()
    p_cv = cross_validated_emergency(examples, INTENT_CONFIG)
    folds = _fold_classifiers(examples, shipped)
    report: dict[str, Any] = {"cv_margin": _lowest_unruled(examples, p_cv.tolist())}
    devs = {name: intents(name) for name in DEVS}
    for name, rows in devs.items():
        p_dev = [shipped.intent.predict(intent_input(e.text)).probabilities["emergency"] for e in rows]
        report[f"{name}_margin"] = _lowest_unruled(rows, p_dev)
    for cap in caps:
        chosen = choose_threshold(examples, p_cv, cap)
        threshold = chosen["emergency_threshold"]
        results: list[Any] = [None] * len(examples)
        for test_idx, classifier in folds:
            classifier.emergency_threshold = threshold
            for i in test_idx:
                results[i] = classifier.classify(examples[i].text)
        by_text = {id(examples[i]): results[i] for i in range(len(examples))}

        def cv_figures(rows: list[Example], lookup: dict[int, Any] = by_text) -> dict[str, Any]:
            # _intent_figures classifies; hand it the fold results it already has
            queue = iter([lookup[id(e)] for e in rows])
            return _short(_intent_figures(rows, lambda _text: next(queue)))

        entry: dict[str, Any] = {**chosen, "cv_all": cv_figures(list(examples))}
        for script in ("simp", "trad"):
            entry[f"cv_{script}"] = cv_figures([e for e in examples if e.script == script])
        if new:
            entry["cv_new_rows"] = cv_figures(list(examples[-new:]))
            entry["cv_old_rows"] = cv_figures(list(examples[:-new]))
        shipped.emergency_threshold = threshold
        for name, rows in devs.items():
            figures = _intent_figures(rows, shipped.classify)
            entry[name] = {
                "emergency_recall": figures["emergency_recall"],
                "emergency_false_alarm_rate": figures["emergency_false_alarm_rate"],
                "false_alarms": len(figures["false_alarms"]),
            }
        report[f"cap_{cap}"] = entry
    return report


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--caps", default="0.01,0.0125,0.015", help="false-alarm caps, comma-separated")
    parser.add_argument("--new", type=int, default=0, help="report the last N training rows apart")
    args = parser.parse_args(argv)
    caps = [float(c) for c in args.caps.split(",")]
    print(json.dumps(run(caps, args.new), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
