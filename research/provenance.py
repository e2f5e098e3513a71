"""Provenance checks for a round's new intent training rows (``bot/training/data/README.md``).

``python -m research.provenance --new N [--limit 0.7]`` checks the last ``N`` rows of
``intents_train.csv`` and prints JSON; the exit status is 1 when a check fails:

- **duplicates**: no new row matches another training row or a dev row after the README's normalisation
  (lower-cased, Traditional converted to Simplified, punctuation and whitespace removed);
- **similarity**: no new row is ``limit`` (0.7) or more similar (``difflib.SequenceMatcher.ratio`` on the
  normalised texts, any intent) to a row of any dev set; the highest ratio and its dev row are reported;
- **script**: every ``trad`` row is changed by OpenCC t2s and no ``simp`` row is;
- **rules**: no emergency rule fires on a new non-emergency row, and an emergency row's kind is set.

Only the training file and the dev sets (``DEVS`` in :mod:`bot.training.train`) are read; the held-out
set is never opened.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections.abc import Sequence
from typing import Any

from bot.training.datasets import Example, intents
from bot.training.train import DEVS
from handlers.emergency import emergency_rule
from text.normalize import normalize
from text.script import to_simplified

SIMILARITY_LIMIT = 0.7
_PUNCT_SPACE = re.compile(r"[\W_]+")


def key(text: str) -> str:
    """The README's deduplication key: lower-cased, Simplified, no punctuation or whitespace."""
    return _PUNCT_SPACE.sub("", to_simplified(text.lower()))


def closest(text: str, pool: Sequence[tuple[str, str, str]]) -> tuple[float, str, str]:
    """(ratio, dev set, dev text) of the pool row most similar to ``text``; pool rows are (key, set, text)."""
    mine = key(text)
    best = (0.0, "", "")
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2(mine)
    for other, name, original in pool:
        matcher.set_seq1(other)
        if matcher.real_quick_ratio() <= best[0] or matcher.quick_ratio() <= best[0]:
            continue
        ratio = matcher.ratio()
        if ratio > best[0]:
            best = (ratio, name, original)
    return best


def check(new: int, limit: float = SIMILARITY_LIMIT) -> dict[str, Any]:
    """The checks above for the last ``new`` training rows."""
    train = intents("train")
    old, fresh = train[:-new], train[-new:]
    pool = [(key(e.text), name, e.text) for name in DEVS for e in intents(name)]
    dev_keys = {k for k, _, _ in pool}
    seen: dict[str, int] = {}
    for i, e in enumerate(old):
        seen.setdefault(key(e.text), i)
    problems: list[str] = []
    rows: list[dict[str, Any]] = []
    for e in fresh:
        k = key(e.text)
        if k in dev_keys:
            problems.append(f"matches a dev row: {e.text}")
        if k in seen:
            problems.append(f"matches another training row: {e.text}")
        seen[k] = -1
        problems += _script_and_rule_problems(e)
        ratio, name, other = closest(e.text, pool)
        if ratio >= limit:
            problems.append(f"{ratio:.2f} similar to {name}: {e.text} ~ {other}")
        rows.append({"text": e.text, "highest": round(ratio, 3), "dev_set": name, "dev_row": other})
    rows.sort(key=lambda r: -r["highest"])
    return {
        "new_rows": len(fresh),
        "by_intent": {label: sum(e.label == label for e in fresh) for label in sorted({e.label for e in fresh})},
        "traditional": sum(e.script == "trad" for e in fresh),
        "highest_similarity": rows[0]["highest"] if rows else None,
        "most_similar": rows[:5],
        "problems": problems,
    }


def _script_and_rule_problems(e: Example) -> list[str]:
    problems = []
    changed = to_simplified(e.text) != e.text
    if e.script == "trad" and not changed:
        problems.append(f"trad row unchanged by t2s: {e.text}")
    if e.script == "simp" and changed:
        problems.append(f"simp row changed by t2s: {e.text}")
    rule = emergency_rule(normalize(e.text).text)
    if e.label != "emergency" and rule is not None:
        problems.append(f"rule {rule} fires on a {e.label} row: {e.text}")
    if e.label == "emergency" and not e.emergency_kind:
        problems.append(f"emergency without a kind: {e.text}")
    return problems


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--new", type=int, required=True, help="check the last N rows of intents_train.csv")
    parser.add_argument("--limit", type=float, default=SIMILARITY_LIMIT, help="similarity that fails a row")
    args = parser.parse_args(argv)
    report = check(args.new, args.limit)
    print(json.dumps(report, ensure_ascii=False, indent=2))
    sys.exit(1 if report["problems"] else 0)


if __name__ == "__main__":
    main()
