"""Word segmentation for the department model: jieba over a reduced dictionary, stop words dropped.

The public training file was segmented with jieba and had its stop words removed; a citizen's
message is raw. :class:`Segmenter` reads a message the same way: jieba (0.42.1) over the words the
training file uses plus jieba's frequent words (a plain gzipped JSON shipped beside the model, no
cache file, no pickle), then the stop words dropped — jieba's most frequent words that the training
file never shows (的, 了, 是, 我, 没有 …) — with digit runs folded and punctuation removed, as the
training words are.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

_NON_WORD = re.compile(r"[\W_]+")
_DIGITS = re.compile(r"\d+")


def clean_words(words: Iterable[str]) -> list[str]:
    """Words as the department model reads them: lower-cased, digit runs folded, punctuation removed."""
    out = []
    for word in words:
        w = word.lower()
        if not w.isalpha():  # letters only (most words): no digit or punctuation to remove
            w = _NON_WORD.sub("", _DIGITS.sub("0", w))
        if w:
            out.append(w)
    return out


class Segmenter:
    """jieba over a given dictionary (word → frequency, jieba's own total), stop words dropped."""

    def __init__(self, words: Mapping[str, int], total: int, stop_words: Iterable[str]) -> None:
        import jieba

        prefixes: dict[str, int] = {}
        for word, freq in words.items():
            prefixes[word] = int(freq)
            for end in range(1, len(word)):
                prefixes.setdefault(word[:end], 0)
        tokenizer: Any = jieba.Tokenizer()
        # Handing the dictionary over directly: jieba neither reads its own dictionary nor writes a cache.
        tokenizer.FREQ, tokenizer.total, tokenizer.initialized = prefixes, max(int(total), 1), True
        self._tokenizer = tokenizer
        self.total = int(total)
        self.stop_words = frozenset(stop_words)

    def words(self, normalized: str, *, hmm: bool = True) -> list[str]:
        """The words of a normalised message, stop words, punctuation and spaces dropped, digits folded.

        ``hmm=False`` skips jieba's guessing of words missing from the dictionary: about 40% faster, for
        bulk work (grouping a campaign's opinions) where a rare name split in two costs little.
        """
        return clean_words(w for w in self._tokenizer.lcut(normalized, HMM=hmm) if w not in self.stop_words)

    # -- persistence --------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path) -> Segmenter:
        data = json.loads(gzip.decompress(path.read_bytes()).decode("utf-8"))
        return cls(data["words"], data["total"], data["stop_words"])

    def save(self, path: Path) -> None:
        # The words are the dictionary's entries with a frequency; the zeros are prefixes (jieba's DAG).
        words = {w: f for w, f in self._tokenizer.FREQ.items() if f}
        data = {"total": self.total, "stop_words": sorted(self.stop_words), "words": words}
        raw = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")
        path.write_bytes(gzip.compress(raw, mtime=0))
