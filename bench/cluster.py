"""How long grouping 100,000 campaign opinions into themes takes (text/cluster.py), on real citizen text.

The messages are built from the real ones in ../shared/data: the letters of departments/dev_raw.csv (title and
body), the ``message`` column of replies/gov_replies.csv and the texts of departments/train_segmented.csv (its
spaces removed). Each is cut into sentences, and each benchmark message joins one to three sentences drawn at
random (seeded) — the length of a WeChat opinion rather than of a letter, and no two messages need be equal,
so nothing is cached. The clock covers what the console's button and ``python -m bot campaign cluster`` do:
segmenting (jieba over the shipped dictionary, in ``--jobs`` processes), TF-IDF, k-means, labels and quotes.

    .venv/bin/python bench/cluster.py [--messages 100000] [--jobs 2]
"""
from __future__ import annotations

import argparse
import csv
import os
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from handlers.classify import cluster_words, shipped  # noqa: E402
from text.cluster import cluster  # noqa: E402

DATA = Path(os.environ.get("MINSHENG_SHARED", ROOT.parent / "shared")) / "data"
_SENTENCE = re.compile(r"(?<=[。！？!?；;\n])")


def sentences() -> list[str]:
    """Every sentence (8 characters or more) of the real messages."""
    csv.field_size_limit(10**8)
    texts: list[str] = []
    with (DATA / "departments" / "dev_raw.csv").open(encoding="utf-8") as fh:
        texts += [f"{r['title']}。{r['body']}" for r in csv.DictReader(fh)]
    with (DATA / "replies" / "gov_replies.csv").open(encoding="utf-8") as fh:
        texts += [r["message"] for r in csv.DictReader(fh)]
    with (DATA / "departments" / "train_segmented.csv").open(encoding="utf-8") as fh:
        texts += [r["text_segmented"].replace(" ", "") for r in csv.DictReader(fh)]
    out = [s.strip() for t in texts for s in _SENTENCE.split(t)]
    # The segmented training texts lost their punctuation: their "sentences" are cut at 100 characters.
    return [s[i : i + 100] for s in out for i in range(0, len(s), 100) if len(s[i : i + 100]) >= 8]


def messages(pool: list[str], n: int, seed: int = 7) -> list[str]:
    """``n`` messages of one to three sentences each."""
    rng = random.Random(seed)
    return ["".join(rng.sample(pool, rng.choice((1, 1, 2, 2, 3)))) for _ in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1))
    args = parser.parse_args()
    pool = sentences()
    texts = messages(pool, args.messages)
    chars = sum(map(len, texts))
    print(f"{len(texts)} messages from {len(pool)} real sentences, {chars / len(texts):.0f} characters on average")
    segmenter = shipped().segmenter
    segmenter.words("预热")  # the dictionary is loaded before the clock starts, as in a running server
    started = time.perf_counter()
    themes = cluster(texts, cluster_words, jobs=args.jobs)
    seconds = time.perf_counter() - started
    print(f"clustered into {len(themes)} themes in {seconds:.1f} s ({args.jobs} processes, {os.cpu_count()} cores)")
    for theme in themes:
        print(f"  {theme.label}: {theme.size} ({theme.share:.1%})")


if __name__ == "__main__":
    main()
