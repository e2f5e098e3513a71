"""The final guard: checks a reply text must pass before it may leave the account.

Run on every render (and, once the review workflow lands, on submit). This spine version covers
the hard limits; the full insult/sarcasm model arrives with the reply-library issue.
"""

from __future__ import annotations

import dataclasses
import re

from replies.pii import find_personal_data

MAX_REPLY_BYTES = 2000

# Phrases from real incidents (POLICY.md) and their kin: never acceptable in an official reply.
_LEXICON = (
    "哑巴",
    "另谋高就",
    "找茬",
    "找碴",
    "蚊子",
    "嗡嗡嗡",
    "脸是自己丢的",
    "面子是别人给的",
    "滚开",
    "滚蛋",
    "傻子",
    "傻瓜",
    "白痴",
    "神经病",
    "你有病",
    "闭嘴",
    "爱咋咋地",
    "关我什么事",
    "关我屁事",
    "活该",
    "你算老几",
    "管得着吗",
    "违法了吧",
)
_VAGUE = ("尽快", "近期", "即将", "择期", "抓紧时间", "适时")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
# One alternation each, compiled once: the guard runs on every reply sent.
_LEXICON_RX = re.compile("|".join(map(re.escape, _LEXICON)))
_VAGUE_RX = re.compile("|".join(map(re.escape, _VAGUE)))


@dataclasses.dataclass(frozen=True)
class Violation:
    """One reason a text may not be sent."""

    rule: str
    span: tuple[int, int]
    message: str


def check_text(text: str, *, has_deadline: bool = False, trusted: tuple[str, ...] = ()) -> list[Violation]:
    """Every violation in a text that is about to be sent (already rendered).

    ``trusted`` are values the system generated (a case number): a long case number can pass the
    Luhn check like a bank card, and must not turn an acknowledgement into the fallback.
    """
    found: list[Violation] = []
    if not text.strip():
        found.append(Violation("empty", (0, len(text)), "回复内容为空"))
    size = len(text.encode("utf-8"))
    if size > MAX_REPLY_BYTES:
        found.append(Violation("too_long", (0, len(text)), f"回复超过{MAX_REPLY_BYTES}字节（{size}字节）"))
    for m in _PLACEHOLDER.finditer(text):
        found.append(Violation("unfilled_placeholder", m.span(), f"占位符未填充：{m.group(0)}"))
    if "{" in text or "}" in text:
        if not _PLACEHOLDER.search(text):
            i = max(text.find("{"), text.find("}"))
            found.append(Violation("stray_brace", (i, i + 1), "回复含有多余的花括号"))
    for m in _LEXICON_RX.finditer(text):
        found.append(Violation("offensive", m.span(), f"含有不当用语：{m.group(0)}"))
    if not has_deadline:
        for m in _VAGUE_RX.finditer(text):
            found.append(Violation("vague_promise", m.span(), f"含有模糊时限用语“{m.group(0)}”，需给出具体日期"))
    safe = [(m.start(), m.end()) for value in trusted if value for m in re.finditer(re.escape(value), text)]
    for f in find_personal_data(text):
        if not any(s <= f.start and f.end <= e for s, e in safe):
            found.append(Violation("personal_data", (f.start, f.end), "回复中含有个人信息"))
    return found


def placeholders(body: str) -> set[str]:
    """The placeholder names a template body uses."""
    return {m.group(1) for m in _PLACEHOLDER.finditer(body)}
