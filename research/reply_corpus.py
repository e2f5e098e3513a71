"""Issue 17, reply checks: does a corpus by more writers teach the whole-reply model warmth from irony?

The shipped improper-reply model (``bot/training/improper.py``) learned from a corpus with one writer per side, so
warm proper replies by other hands read to it as sarcasm. This harness refits it with extra corpus files (the
same columns as ``reply_corpus.csv``: text, label, category, script), each written by one writer who wrote both
sides, and prints what the whole guard does on the dev sets (the earlier held-out sets, each scored once in its
round) at each threshold, beside the shipped model:

    .venv/bin/python -m research.reply_corpus ../shared/data /tmp/corpus/writer_*.csv [--without-old]

The held-out set of this round is never read here.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from bot.training import improper as training
from bot.training.datasets import read_csv
from bot.training.guard import candidates, gov_replies
from replies import guard, improper
from text.script import fold

DEV_SETS = [Path("research/heldout") / f"replies_v{n}.csv" for n in (1, 2, 3)]
THRESHOLDS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9)


def dev_rows() -> list[dict[str, str]]:
    return [row for path in DEV_SETS for row in read_csv(path)]


def last_dev_rows() -> list[dict[str, str]]:
    """The newest dev set alone: the third round's rules were written on the two before it."""
    return read_csv(DEV_SETS[-1])


def figures(rows: list[dict[str, str]], model: Any, threshold: float) -> dict[str, float]:
    """The whole guard's caught / refused on ``rows`` with ``model`` as the whole-reply model at ``threshold``."""
    model.threshold = threshold
    saved = improper.shipped
    improper.shipped = lambda: model  # type: ignore[assignment]
    try:
        flagged = [bool(guard.check_template(r["text"])) for r in rows]
    finally:
        improper.shipped = saved  # type: ignore[assignment]
    bad = [f for f, r in zip(flagged, rows, strict=True) if r["label"] in ("improper", "bad")]
    good = [f for f, r in zip(flagged, rows, strict=True) if r["label"] in ("proper", "good")]
    return {"caught": round(float(np.mean(bad)), 4), "refused": round(float(np.mean(good)), 4)}


def main(shared: Path, extra: list[Path]) -> None:
    gov_train = [reply for _, reply, held_out in gov_replies(shared) if not held_out]
    rows = dev_rows()
    last = last_dev_rows()
    cands = candidates()
    shipped = improper.load()
    print("dev rows", len(rows), "candidates", len(cands))
    for threshold in THRESHOLDS:
        print("shipped", threshold, figures(rows, shipped, threshold), "v3", figures(last, shipped, threshold),
              "candidates", figures(cands, shipped, threshold))  # fmt: skip
    added = [row for path in extra for row in read_csv(path)]
    texts, labels, written = training.training_set(gov_train)
    keep = 0 if WITHOUT_OLD else written  # --without-old: the one-writer-per-side corpus left out
    texts = texts[:keep] + [r["text"] for r in added] + texts[written:]
    labels = labels[:keep] + [r["label"] for r in added] + labels[written:]
    model = training._fit(texts, labels)
    for threshold in THRESHOLDS:
        print("refit", threshold, figures(rows, model, threshold), "v3", figures(last, model, threshold),
              "candidates", figures(cands, model, threshold))  # fmt: skip
    good = model.probabilities([fold(r["text"]) for r in cands if r["label"] == "good"])
    print("refit: candidates' good replies at or above 0.8 by the model alone", round(float(np.mean(good >= 0.8)), 4))


WITHOUT_OLD = "--without-old" in sys.argv

if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(Path(args[0]), [Path(p) for p in args[1:]])
