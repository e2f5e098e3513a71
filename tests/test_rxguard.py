"""The guarded emergency rules: the same matches as the rules as written, for every message."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from handlers import emergency as classify
from handlers.rxguard import first_chars, guarded
from text.normalize import normalize

DATA = Path(__file__).resolve().parent.parent / "bot" / "training" / "data"


@pytest.mark.parametrize(
    ("pattern", "chars"),
    [
        (r"(?<!没)(着火|冒烟)", "着冒"),
        (r"a?b", "ab"),
        (r"(?:ab|c)d", "ac"),
        (r"^(被|俾)车", "被俾"),
        (r"[a-c]x|y", "abcy"),
        (r"(老人|小孩)?(晕倒|昏倒)", "老小晕昏"),
    ],
)
def test_first_chars_are_the_characters_a_match_can_start_with(pattern, chars):
    assert first_chars(re.compile(pattern)) == frozenset(chars)


@pytest.mark.parametrize("pattern", [r".{0,3}撞", r"x*", r"[^a]b", r"\d+号", r"(a|)", r"(?i)fire"])
def test_no_guard_where_a_match_may_start_anywhere_or_be_empty(pattern):
    compiled = re.compile(pattern)
    assert first_chars(compiled) is None
    assert guarded(compiled) is compiled


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        (r"(?<!没)着火了", "没着火了，后面着火了"),  # the lookbehind still sees the text before the match
        (r"(?<![的])(车|人).{0,3}撞", "我的车被撞，人又被撞了"),
        (r"^(被|俾)车撞", "被车撞了"),
        (r"^(被|俾)车撞", "他被车撞了"),
        (r"[-^\]]x", "a^x b]x c-x"),  # characters that mean something inside a class
    ],
)
def test_a_guarded_pattern_finds_exactly_what_the_pattern_finds(pattern, text):
    plain, fast = re.compile(pattern), guarded(re.compile(pattern))
    assert fast is not plain
    assert [m.span() for m in fast.finditer(text)] == [m.span() for m in plain.finditer(text)]


def test_every_emergency_rule_is_guarded_and_matches_as_written_on_every_example():
    texts = [row["text"] for path in sorted(DATA.glob("intents_*.csv"))
             for row in csv.DictReader(path.open(encoding="utf-8"))]  # fmt: skip
    assert len(texts) > 1500
    emergencies = 0
    rules = [(kind, rule, classify._EMERGENCY_PATTERNS[kind], True) for kind, rule in classify._EMERGENCY_RULES.items()]
    # The category rules are guarded where a guard can be worked out (not the one that may start with any digit).
    categories = list(zip(classify._CATEGORY_RULES, classify._CATEGORY_PATTERNS, strict=True))
    assert sum(rule is not plain for (_, rule), (_, plain) in categories) >= 2
    rules += [(kind, rule, plain, False) for (kind, rule), (_, plain) in categories]
    for kind, rule, plain, must_guard in rules:
        assert rule is not plain or not must_guard, f"the {kind} rule lost its guard"
        for text in texts:
            t = normalize(text).text
            found, expected = rule.search(t), plain.search(t)
            assert (found and found.span()) == (expected and expected.span()), (kind, text)
            emergencies += expected is not None
    assert emergencies > 300  # the examples exercise the rules, not only their misses
