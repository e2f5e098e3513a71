"""Cheaper searches for long alternations: a leading guard on the characters a match can start with.

Python's ``re`` tries every branch of an alternation at every position of the text. The emergency rules
are alternations of a hundred-odd branches, so a search costs tens of microseconds per message even though
at most positions no branch could begin. :func:`guarded` prefixes the pattern with a lookahead for the set
of characters any match must start with: at every other position the search fails after one set test.
The guard is a necessary condition of a match, so the matches (and their order) are exactly those of the
pattern itself; where that set cannot be worked out (a branch may start with any character, or the
pattern can match the empty string), the pattern is returned unchanged.
"""

from __future__ import annotations

import re
from typing import Any

try:  # the parser behind re.compile: re._parser since Python 3.11
    from re import _constants as _c  # type: ignore[attr-defined]
    from re import _parser  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - a Python without it: no guard, the same matches
    _parser = None

# A character class spanning more than this many code points is treated as "any character" (a guard that
# large would not skip anything).
_MAX_RANGE = 2000


class _Unbounded(Exception):
    """A match may start with any character."""


def first_chars(pattern: re.Pattern[str]) -> frozenset[str] | None:
    """The characters every non-empty match of ``pattern`` starts with, or None when that set is unknown,
    unbounded or the pattern can match the empty string."""
    if _parser is None or pattern.flags & re.IGNORECASE:
        return None
    try:
        chars, nullable = _first(_parser.parse(pattern.pattern, pattern.flags))
    except (_Unbounded, ValueError, TypeError, AttributeError, re.error):
        return None
    return None if nullable or not chars else frozenset(chars)


def guarded(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """``pattern`` with a lookahead for its first characters: the same matches, found sooner."""
    chars = first_chars(pattern)
    if chars is None:
        return pattern
    guard = "".join(re.escape(c) for c in sorted(chars))
    return re.compile(f"(?=[{guard}])(?:{pattern.pattern})", pattern.flags)


def _first(sequence: Any) -> tuple[set[str], bool]:
    """(the characters a match of ``sequence`` can start with, whether it can match the empty string)."""
    out: set[str] = set()
    for op, av in sequence:
        if op is _c.LITERAL:
            out.add(chr(av))
            return out, False
        if op is _c.IN:
            out |= _charset(av)
            return out, False
        if op in (_c.ASSERT, _c.ASSERT_NOT, _c.AT):
            continue  # zero-width: the match starts with what follows
        if op is _c.BRANCH:
            nullable = False
            for alternative in av[1]:
                chars, empty = _first(alternative)
                out |= chars
                nullable |= empty
        elif op is _c.SUBPATTERN:
            chars, nullable = _first(av[-1])
            out |= chars
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", None)):
            low, _high, item = av
            chars, empty = _first(item)
            out |= chars
            nullable = low == 0 or empty
        elif op is getattr(_c, "ATOMIC_GROUP", None):
            chars, nullable = _first(av)
            out |= chars
        else:  # ANY, NOT_LITERAL, CATEGORY, GROUPREF, conditionals …: any character may come first
            raise _Unbounded(op)
        if not nullable:
            return out, False
    return out, True


def _charset(items: Any) -> set[str]:
    chars: set[str] = set()
    for op, av in items:
        if op is _c.LITERAL:
            chars.add(chr(av))
        elif op is _c.RANGE and av[1] - av[0] <= _MAX_RANGE:
            chars.update(chr(c) for c in range(av[0], av[1] + 1))
        else:  # NEGATE, CATEGORY (\d, \w …), a huge range
            raise _Unbounded(op)
    return chars
