"""Reported speech: the citizen's own words, quoted back to them, are not the account's words.

"关于您反映工作人员说'找茬'的问题" repeats what a citizen reported; refusing it would stop the
account from acknowledging the very complaint the guard exists for. A quotation is exempt from the
tone checks only when the reply says whose words they are:

- a reporting cue in the same clause before the opening mark (您反映…, 工作人员说…, 来信称…,
  关于…, 针对…), not said by the account itself (我们认为“…” is the account speaking); or
- a noun right after the closing mark that turns the quotation into a topic (“…”一事 / 的问题 /
  的说法 / 这一不当回复).

An insult merely wrapped in quotation marks ("“哑巴”，说的就是你") has neither and is still checked.
"""

from __future__ import annotations

import re

_PAIRS = {"“": "”", "‘": "’", "「": "」", "『": "』"}
_SYMMETRIC = ('"', "'")  # full-width ＂＇ are folded to these
# A clause ends here; a cue further back does not introduce this quotation.
_CLAUSE_END = re.compile(r"[。！？!?;；\n]")
_CUE_BEFORE = re.compile(
    r"(?<!我)(?<!我们)(?<!我局)(?<!本单位)(?<!本局)"
    r"(?:说|称|骂|问|讲|喊|叫|写|反映|投诉|举报|提到|提及|提出|表示|认为|质疑|指出|留言|来信|来电|所述|描述|"
    r"关于|对于|针对|有关|涉及|声称|称为|说成|称呼|字样|所谓|用语|回应|言语|话语|一句|诉求|"
    # A user name: 网友“哈哈会”.
    r"网友|网民|市民|昵称|网名|用户)"
)
_CUE_AFTER = re.compile(
    r"^(?:[,，]?(?:一事|一词|一说|一语|一句|这句话|这一|(?:这|此|那)(?:类|种|些)(?:用语|说法|话|回复|言论|字眼|词)|等(?:言语|语言|言论|话|用语|情况|问题)|的(?:问题|情况|说法|言论|话|"
    r"用语|表述|事|投诉|反映|建议|诉求|留言|字样|态度|回复|回答)|问题|情况|说法|字样|言论|之说))"
)
# How far back a cue may be, in characters, within the clause.
_REACH = 24


def quotations(folded: str) -> list[tuple[int, int]]:
    """Spans of quotations in ``folded``, marks included; unbalanced marks are ignored."""
    spans: list[tuple[int, int]] = []
    i, n = 0, len(folded)
    while i < n:
        c = folded[i]
        close = _PAIRS.get(c) or (c if c in _SYMMETRIC else None)
        if close is not None:
            j = folded.find(close, i + 1)
            # A quotation does not run past the end of a paragraph.
            newline = folded.find("\n", i + 1)
            if j != -1 and (newline == -1 or j < newline):
                spans.append((i, j + 1))
                i = j + 1
                continue
        i += 1
    return spans


def reported(folded: str) -> list[tuple[int, int]]:
    """The quotations that report someone else's words (see the module docstring)."""
    out: list[tuple[int, int]] = []
    previous_end = 0
    for start, end in quotations(folded):
        before = folded[max(previous_end, start - _REACH) : start]
        ends = list(_CLAUSE_END.finditer(before))
        if ends:
            before = before[ends[-1].end() :]
        if _CUE_BEFORE.search(before) or _CUE_AFTER.match(folded[end : end + 6]):
            out.append((start, end))
        elif out and out[-1][1] >= start - 2 and folded[out[-1][1] : start] in ("", "、", ",", "，"):
            # “脏”、“乱”、“差” — a list of quotations shares the cue of its first item.
            out.append((start, end))
        previous_end = end
    return out


def inside(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    """Whether ``start:end`` lies within one of ``spans``."""
    return any(s <= start and end <= e for s, e in spans)
