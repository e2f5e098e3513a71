"""``python -m bot train-guard`` and ``evaluate-guard``: the reply guard's models (offensive sentences, improper
replies: ``bot/training/improper.py``) and their figures.

Training data (read from ``--data``, never copied into the project):
- COLDataset ``offensive/train.csv`` (label 1 offensive, 0 safe): social-media comments.
- Two thirds of the real government replies (``replies/gov_replies.csv``), split into the sentences
  the guard scores, as in-domain clean examples: without them the model takes 垃圾分类 and 精神病院
  for abuse. The other third (chosen by a hash of the row id) is held out for the figures.

The threshold comes from 3-fold out-of-fold scores of the training replies (each fold's model is
trained without that fold's sentences): the lowest probability at which at most 1% of those replies
would be flagged, and never below 0.5, the point where the model calls offensive more likely than not.
The regularisation C was chosen on COLD ``dev.csv`` (1, 4, 10 tried); ``test.csv``, the held-out replies
and ``bot/training/data/reply_candidates.csv`` are only measured.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import f1_score, precision_score, recall_score

from bot.training import improper
from bot.training.datasets import read_csv
from bot.training.train import fit
from replies import guard
from replies.offensive import CLEAN, MODEL_DIR, OFFENSIVE, OffensiveModel, model_input, sentences
from text.linear import LinearTextModel
from text.script import fold

CANDIDATES = Path(__file__).with_name("data") / "reply_candidates.csv"
CONFIG: dict[str, Any] = {"ngram_range": (1, 3), "min_df": 2, "max_features": 60000, "C": 4.0}
# At most this share of the (out-of-fold) training government replies may be flagged by the model.
GOV_FLAG_BUDGET = 0.01
MIN_THRESHOLD = 0.5
FOLDS = 3


def cold(shared: Path, split: str) -> tuple[list[str], list[str]]:
    """COLDataset texts and labels (``offensive`` / ``clean``) of one split."""
    rows = read_csv(shared / "offensive" / f"{split}.csv")
    return [r["TEXT"] for r in rows], [OFFENSIVE if r["label"] == "1" else CLEAN for r in rows]


def gov_replies(shared: Path) -> list[tuple[str, str, bool]]:
    """(id, reply, held_out) of every real government reply; a third is held out, by a hash of the id."""
    rows = read_csv(shared / "replies" / "gov_replies.csv")
    out = []
    for r in rows:
        digest = hashlib.sha256(r["id"].encode()).digest()
        out.append((r["id"], r["reply"], digest[0] % 3 == 0))
    return out


def reply_sentences(reply: str) -> list[str]:
    """The sentences of a reply as the guard scores them (folded)."""
    folded = fold(reply)
    return [folded[s:e] for s, e in sentences(folded) if len(folded[s:e].strip()) >= 2]


def _fit(texts: list[str], labels: list[str]) -> LinearTextModel:
    return fit(texts, labels, CONFIG, model_input)


def _max_probability(model: OffensiveModel, reply: str) -> float:
    parts = reply_sentences(reply)
    return float(model.probabilities(parts).max()) if parts else 0.0


def choose_threshold(cold_texts: list[str], cold_labels: list[str], gov_train: list[str]) -> dict[str, Any]:
    """The decision threshold from out-of-fold scores of the training government replies."""
    scores: list[float] = []
    for k in range(FOLDS):
        fold_out = [r for i, r in enumerate(gov_train) if i % FOLDS == k]
        fold_in = [s for i, r in enumerate(gov_train) if i % FOLDS != k for s in reply_sentences(r)]
        linear = _fit(cold_texts + fold_in, cold_labels + [CLEAN] * len(fold_in))
        model = OffensiveModel(linear, 1.0)
        scores.extend(_max_probability(model, r) for r in fold_out)
    ordered = np.sort(np.array(scores))
    allowed = int(GOV_FLAG_BUDGET * len(ordered))
    # The smallest threshold with at most ``allowed`` replies at or above it.
    threshold = float(ordered[len(ordered) - allowed - 1]) + 1e-6 if allowed < len(ordered) else 1.0
    threshold = max(threshold, MIN_THRESHOLD)
    return {
        "threshold": round(threshold, 6),
        "oof_gov_train_flagged": round(float(np.mean(ordered >= threshold)), 4),
        "oof_gov_train_n": len(ordered),
    }


def train(shared: Path, out: Path = MODEL_DIR) -> dict[str, Any]:
    """Train the model into ``out`` (weights, settings, metrics); returns the metrics report."""
    started = time.perf_counter()
    texts, labels = cold(shared, "train")
    gov_train = [reply for _, reply, held_out in gov_replies(shared) if not held_out]
    settings = choose_threshold(texts, labels, gov_train)
    gov_sentences = [s for r in gov_train for s in reply_sentences(r)]
    linear = _fit(texts + gov_sentences, labels + [CLEAN] * len(gov_sentences))
    config = {k: list(v) if isinstance(v, tuple) else v for k, v in CONFIG.items()}
    trained_on = {"cold_train": len(texts), "gov_sentences": len(gov_sentences)}
    linear.save(out / "offensive", {"config": config, "trained_on": trained_on})
    settings.update({"config": config, "gov_flag_budget": GOV_FLAG_BUDGET, "gov_train_replies": len(gov_train)})
    (out / "settings.json").write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    settings["improper"] = improper.train(gov_train, candidates(), out)
    report = {**settings, **evaluate(shared, out)}
    report["training_seconds"] = round(time.perf_counter() - started, 1)
    (out / "metrics.json").write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return report


def candidates() -> list[dict[str, str]]:
    """Our labelled candidate replies (bad / good, both scripts)."""
    return read_csv(CANDIDATES)


def _rate(flags: list[bool]) -> float:
    return round(sum(flags) / len(flags), 4) if flags else 0.0


def _candidate_figures(rows: list[dict[str, str]], use_model: bool) -> dict[str, Any]:
    results = [(r, guard.check_text(r["text"], use_model=use_model)) for r in rows]
    figures: dict[str, Any] = {}
    for script in ("all", "simplified", "traditional"):
        chosen = [(r, v) for r, v in results if script == "all" or r["script"] == script]
        bad = [bool(v) for r, v in chosen if r["label"] == "bad"]
        good = [bool(v) for r, v in chosen if r["label"] == "good"]
        figures[script] = {"n_bad": len(bad), "n_good": len(good),
                           "bad_caught": _rate(bad), "good_refused": _rate(good)}  # fmt: skip
    figures["missed_bad"] = [r["text"] for r, v in results if r["label"] == "bad" and not v]
    figures["refused_good"] = [
        {"text": r["text"], "rules": sorted({x.rule for x in v})} for r, v in results if r["label"] == "good" and v
    ]
    return figures


def _gov_figures(replies: list[str]) -> dict[str, Any]:
    results = [{v.rule for v in guard.check_text(r)} for r in replies]
    tone = [bool(rules & guard.TONE_RULES) for rules in results]
    figures: dict[str, Any] = {
        "n": len(replies),
        "flagged_tone": _rate(tone),
        "flagged_tone_or_personal_data": _rate([t or "personal_data" in r for t, r in zip(tone, results, strict=True)]),
        "personal_data": _rate(["personal_data" in r for r in results]),
        "vague_promise_not_counted": _rate(["vague_promise" in r for r in results]),
        "too_long_not_counted": _rate(["too_long" in r for r in results]),
    }
    return figures


def _cold_figures(shared: Path, model: OffensiveModel) -> dict[str, Any]:
    texts, labels = cold(shared, "test")
    gold = [label == OFFENSIVE for label in labels]
    predicted = [bool(model.flag(fold(t))) for t in texts]
    return {
        "n": len(texts),
        "precision": round(float(precision_score(gold, predicted)), 4),
        "recall": round(float(recall_score(gold, predicted)), 4),
        "f1": round(float(f1_score(gold, predicted)), 4),
    }


def _timing(texts: list[str]) -> dict[str, float]:
    timings = []
    for text in texts:
        t0 = time.perf_counter()
        guard.check_text(text)
        timings.append(time.perf_counter() - t0)
    ordered = sorted(timings)
    return {
        "median": round(statistics.median(timings) * 1000, 3),
        "mean": round(statistics.fmean(timings) * 1000, 3),
        "p95": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 3),
    }


def _cap(text: str, limit: int = guard.MAX_REPLY_BYTES) -> str:
    return text.encode("utf-8")[:limit].decode("utf-8", errors="ignore")


def evaluate(shared: Path | None, directory: Path = MODEL_DIR) -> dict[str, Any]:
    """The target figures: candidates caught / refused, real replies flagged, speed, and COLD test."""
    if directory != MODEL_DIR:
        raise ValueError("the guard reads the shipped model; evaluate it from replies/model/")
    started = time.perf_counter()
    guard.check_text("预热")  # the model and OpenCC load on first use: part of the load time
    report: dict[str, Any] = {"model_load_seconds": round(time.perf_counter() - started, 3)}
    rows = candidates()
    report["candidates"] = _candidate_figures(rows, use_model=True)
    lexicon_only = _candidate_figures(rows, use_model=False)
    report["candidates_word_list_only"] = {k: lexicon_only[k] for k in ("all", "simplified", "traditional")}
    timed = [r["text"] for r in rows]
    if shared is not None:
        gov = gov_replies(shared)
        report["gov_replies_all"] = _gov_figures([r for _, r, _ in gov])
        report["gov_replies_held_out"] = _gov_figures([r for _, r, held_out in gov if held_out])
        report["gov_replies_tone_flagged"] = [
            {"rule": v.rule, "context": r[max(0, v.span[0] - 15) : v.span[1] + 15]}
            for _, r, _ in gov
            for v in guard.check_text(r)
            if v.rule in guard.TONE_RULES
        ][:20]
        report["cold_test_model_only"] = _cold_figures(shared, OffensiveModel.load(directory))
        report["gov_replies_held_out_improper_model_only"] = improper.held_out_figures(
            [r for _, r, held_out in gov if held_out], directory
        )
        report["ms_per_reply_gov_capped_2000_bytes"] = _timing([_cap(r) for _, r, _ in gov[:500]])
    report["ms_per_reply_candidates"] = _timing(timed)
    return report


def heldout_figures(path: Path) -> dict[str, Any]:
    """A held-out CSV of candidate templates (text, label improper / proper, category), checked as a reviewer's
    version is when it is written (placeholders filled with sample values): caught and refused, by category."""
    rows = read_csv(path)
    caught: dict[str, list[bool]] = {}
    missed: list[str] = []
    refused: list[dict[str, Any]] = []
    for row in rows:
        rules = sorted({v.rule for v in guard.check_template(row["text"])})
        caught.setdefault(f"{row['label']}:{row['category']}", []).append(bool(rules))
        if row["label"] == "improper" and not rules:
            missed.append(row["text"])
        elif row["label"] == "proper" and rules:
            refused.append({"text": row["text"], "rules": rules})
    improper = [flag for key, flags in caught.items() if key.startswith("improper:") for flag in flags]
    proper = [flag for key, flags in caught.items() if key.startswith("proper:") for flag in flags]
    return {
        "file": str(path),
        "improper": len(improper),
        "improper_caught": _rate(improper),
        "proper": len(proper),
        "proper_refused": _rate(proper),
        "by_category": {key: f"{sum(flags)}/{len(flags)}" for key, flags in sorted(caught.items())},
        "missed": missed,
        "refused": refused,
    }

