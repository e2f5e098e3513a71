"""The emergency tiers measured: false alarms on real citizens' letters, recall and kinds on a held-out set.

``python -m bot evaluate-emergency --data ../shared/data [--heldout FILE]`` prints one JSON report:

* ``real``: the 11,882 real messages of ../shared/data (the segmented training file, dev_raw's title and body,
  gov_replies' messages), essentially none of them an emergency: how many get the *certain* reply (target
  ≤ 0.1%), how many are *possible*, and whether every possible one is taken in by the actor's route (a case
  and an acknowledgement that points to the number, never the emergency reply). The certain ones are listed,
  to be read.
* ``heldout`` (a CSV with ``text,label,kind`` — label emergency / chitchat / ordinary — written by someone who
  never saw the rules or the models): recall of emergencies (certain, and certain or possible), certain false
  alarms among the rest, whether each emergency reply names a right number for its kind, and how many
  chit-chat messages would be taken in as something else.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from bot.training.datasets import read_csv
from handlers.act import emergency_route
from handlers.classify import ModelClassifier, shipped
from handlers.urgency import CERTAIN, POSSIBLE

# The services whose number a reply for each held-out kind may lead with (the generic reply lists all four).
RIGHT_SERVICES = {
    "fire": {"fire"},
    "gas": {"fire"},
    "chemical": {"fire"},
    "electrocution": {"medical", "fire"},
    "drowning": {"medical", "police", "fire"},
    "collapse_flood": {"fire", "police"},
    "violence": {"police"},
    "domestic_violence": {"police"},
    "detention": {"police"},
    "missing_child": {"police"},
    "traffic_injury": {"traffic"},
    "medical": {"medical"},
    "suicide": {"police", "medical"},
}


def real_messages(shared: Path) -> list[str]:
    """Every real citizen message in ../shared/data, as the classifier would receive it."""
    return (
        [row["text_segmented"] for row in read_csv(shared / "departments" / "train_segmented.csv")]
        + [f"{row['title']}\n{row['body']}" for row in read_csv(shared / "departments" / "dev_raw.csv")]
        + [row["message"] for row in read_csv(shared / "replies" / "gov_replies.csv")]
    )


def _real(classifier: ModelClassifier, texts: list[str]) -> dict[str, Any]:
    certain: list[str] = []
    possible = not_taken_in = 0
    for text in texts:
        triage = classifier.classify(text)
        if triage.emergency_tier == CERTAIN:
            certain.append(" ".join(text.split())[:160])
        elif triage.emergency_tier == POSSIBLE:
            possible += 1
            route = emergency_route(triage)
            if route is None or not route.takes_in:
                not_taken_in += 1
    return {
        "messages": len(texts),
        "certain": len(certain),
        "certain_rate": round(len(certain) / max(len(texts), 1), 5),
        "possible": possible,
        "possible_not_taken_in": not_taken_in,
        "certain_texts": certain,
    }


def _heldout(classifier: ModelClassifier, path: Path) -> dict[str, Any]:
    rows = read_csv(path)
    tiers: Counter[str] = Counter()
    missed: list[str] = []
    wrong_number: list[str] = []
    false_certain: list[str] = []
    chitchat_taken_in: list[str] = []
    emergencies = others = chitchat = 0
    for row in rows:
        triage = classifier.classify(row["text"])
        tier = triage.emergency_tier or "none"
        if row["label"] == "emergency":
            emergencies += 1
            tiers[tier] += 1
            if tier == "none":
                missed.append(row["text"])
            elif triage.emergency_kind and triage.emergency_kind not in RIGHT_SERVICES.get(row["kind"], set()):
                wrong_number.append(f"{row['kind']}→{triage.emergency_kind}: {row['text']}")
            continue
        others += 1
        if tier == CERTAIN:
            false_certain.append(row["text"])
        if row["label"] == "chitchat":
            chitchat += 1
            if triage.intent != "chitchat" or tier != "none":
                chitchat_taken_in.append(f"{triage.intent}: {row['text']}")
    found = tiers[CERTAIN] + tiers[POSSIBLE]
    return {
        "file": str(path),
        "emergencies": emergencies,
        "recall_certain": round(tiers[CERTAIN] / max(emergencies, 1), 4),
        "recall_certain_or_possible": round(found / max(emergencies, 1), 4),
        "right_number_of_found": round((found - len(wrong_number)) / max(found, 1), 4),
        "non_emergencies": others,
        "certain_false_alarm_rate": round(len(false_certain) / max(others, 1), 4),
        "chitchat": chitchat,
        "chitchat_taken_in_rate": round(len(chitchat_taken_in) / max(chitchat, 1), 4),
        "missed": missed,
        "wrong_number": wrong_number,
        "false_certain": false_certain,
        "chitchat_taken_in": chitchat_taken_in,
    }


def evaluate(shared: Path | None, heldout: Path | None = None) -> dict[str, Any]:
    """The report described in the module docstring (either part may be left out)."""
    classifier = shipped()
    report: dict[str, Any] = {}
    if shared is not None:
        report["real"] = _real(classifier, real_messages(shared))
    if heldout is not None:
        report["heldout"] = _heldout(classifier, heldout)
    return report
