"""The training and evaluation sets: the public department data in ../shared, and our own intent examples."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np

from text.normalize import normalize
from text.segment import clean_words

DATA_DIR = Path(__file__).with_name("data")

DEPARTMENT_LABELS = {
    "城乡建设": "urban_construction",
    "环境保护": "environment",
    "交通运输": "transport",
    "教育文体": "education",
    "劳动和社会保障": "labor_social_security",
    "商贸旅游": "commerce_tourism",
    "卫生计生": "health",
}


@dataclasses.dataclass(frozen=True)
class Example:
    """One labelled text."""

    text: str
    label: str
    script: str = "simp"
    emergency_kind: str = ""
    department: str = ""


def read_csv(path: Path) -> list[dict[str, str]]:
    """Every row of a CSV file (UTF-8, a BOM or not) as a dict by header."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


@dataclasses.dataclass(frozen=True)
class SegmentedFile:
    """The segmented training file, as the department model reads it."""

    segmented: list[str]  # each row's text as the file gives it (words separated by spaces)
    words: list[list[str]]  # its words as the model reads them (normalised, stop words dropped)
    gold: np.ndarray  # its department labels


def department_segmented(shared: Path) -> SegmentedFile:
    """The segmented training file with its words kept apart (the department model's training documents)."""
    rows = read_csv(shared / "departments" / "train_segmented.csv")
    segmented = [r["text_segmented"] for r in rows]
    return SegmentedFile(
        segmented,
        [clean_words(normalize(t).text.split()) for t in segmented],
        np.array([DEPARTMENT_LABELS[r["label"]] for r in rows]),
    )


def department_dev(shared: Path) -> list[Example]:
    """The raw evaluation file: title and body, as citizens wrote them."""
    rows = read_csv(shared / "departments" / "dev_raw.csv")
    return [Example(f"{r['title'] or ''}。{r['body'] or ''}", DEPARTMENT_LABELS[r["label"]]) for r in rows]


def intents(split: str) -> list[Example]:
    """Our labelled intent examples: ``train``, the dev sets ``dev``, ``dev_v2`` … ``dev_v7``, or the
    held-out set ``heldout`` (never tuned on; merged in separately)."""
    rows = read_csv(DATA_DIR / f"intents_{split}.csv")
    return [
        Example(r["text"], r["intent"], r.get("script", "simp"), r.get("emergency_kind", ""), r.get("department", ""))
        for r in rows
    ]
