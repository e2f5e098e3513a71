"""Normalise a citizen's words before anything reads them.

Traditional → Simplified (OpenCC), full-width → half-width (NFKC), WeChat sticker codes such as
``[微笑]`` turned into their words, whitespace and repeated punctuation folded. The script the
citizen wrote in is remembered, so the answer can be given in kind.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import unicodedata

from text.script import to_simplified

# WeChat's sticker codes travel as text: "[微笑]", "[捂脸]", "/::)" in old clients.
_STICKER = re.compile(r"\[([\u4e00-\u9fff]{1,4}|[A-Za-z]{2,10})\]")
_SPACES = re.compile(r"\s+")
_REPEATED_PUNCT = re.compile(r"([!?！？。，,.~～…、])\1+")


@dataclasses.dataclass(frozen=True)
class Normalized:
    """The text a classifier reads, and how the citizen wrote it."""

    text: str
    traditional: bool
    stickers: tuple[str, ...] = ()


@functools.lru_cache(maxsize=2048)
def normalize(text: str) -> Normalized:
    """Normalise ``text`` for classification (pure, so cached: several stages read the same message)."""
    stickers = tuple(m.group(1) for m in _STICKER.finditer(text))
    # Sticker codes become their words ("[发怒]" → " 发怒 "): the feeling is part of the message.
    folded = _STICKER.sub(lambda m: f" {m.group(1)} ", text)
    folded = unicodedata.normalize("NFKC", folded)
    simplified = to_simplified(folded)
    traditional = simplified != folded and _looks_traditional(folded, simplified)
    simplified = _REPEATED_PUNCT.sub(r"\1", simplified)
    simplified = _SPACES.sub(" ", simplified).strip()
    return Normalized(simplified, traditional, stickers)


def _looks_traditional(original: str, simplified: str) -> bool:
    # A single variant character (e.g. 着/著) is not enough to answer someone in Traditional.
    changed = sum(1 for a, b in zip(original, simplified, strict=False) if a != b)
    return changed >= 2 or (changed == 1 and len(original) <= 8)
