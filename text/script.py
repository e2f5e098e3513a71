"""The one place that converts between Simplified and Traditional characters (OpenCC), and the checks' spelling.

``to_simplified`` and ``to_traditional`` convert whole texts (citizens' messages in, replies out). ``fold`` gives the
reply checks one spelling: Simplified, half-width, lower-case — with every offset kept.

The guard must read 啞巴 as 哑巴 and ＳＢ as sb, yet report spans into the text the reviewer wrote.
So folding never changes the length of a text: OpenCC t2s is applied to the whole text when it
keeps the length (it nearly always does), character by character otherwise. ``compact`` goes one
step further for the lexicon — it drops spaces and the symbols people slip between characters to
dodge a word list (哑 巴, 哑*巴) — and returns where each remaining character came from.

Each OpenCC dictionary is loaded once per process, on first use.
"""

from __future__ import annotations

import functools

import opencc

# Full-width ASCII (！ to ～) to half-width, the ideographic space to a space, A–Z to a–z: all one
# character to one character, so offsets survive.
_HALF_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_HALF_WIDTH[0x3000] = 0x20
_HALF_WIDTH.update({code: code + 32 for code in range(ord("A"), ord("Z") + 1)})
for _upper in range(0xFF21, 0xFF3B):  # Ａ–Ｚ straight to a–z
    _HALF_WIDTH[_upper] = _upper - 0xFEE0 + 32
# Dropped by ``compact``: whitespace, zero-width characters, and fillers used to split a word.
_FILLERS = frozenset(" \t\r\n\u200b\u200c\u200d\u2060\ufeff*·•_-.^")


@functools.cache
def _t2s() -> opencc.OpenCC:
    # About 50 ms to load the dictionaries; conversions are then microseconds.
    return opencc.OpenCC("t2s")


@functools.cache
def _s2t() -> opencc.OpenCC:
    return opencc.OpenCC("s2t")


def to_simplified(text: str) -> str:
    """Traditional characters converted to Simplified (anything else unchanged)."""
    return str(_t2s().convert(text))


def to_traditional(text: str) -> str:
    """Simplified → Traditional characters, for citizens who write in Traditional."""
    return str(_s2t().convert(text))


@functools.lru_cache(maxsize=16384)
def _char_t2s(char: str) -> str:
    converted = str(_t2s().convert(char))
    return converted if len(converted) == 1 else char


def fold(text: str) -> str:
    """``text`` in Simplified, half-width and lower case, with exactly the same length."""
    half = text.translate(_HALF_WIDTH)
    simplified = str(_t2s().convert(half))
    if len(simplified) == len(half):
        return simplified
    return "".join(_char_t2s(c) for c in half)


def compact(folded: str) -> tuple[str, list[int]]:
    """``folded`` without spaces and filler symbols, and the original index of each kept character."""
    kept = [i for i, c in enumerate(folded) if c not in _FILLERS]
    return "".join(folded[i] for i in kept), kept
