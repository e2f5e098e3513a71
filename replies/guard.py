"""The guard: the checks every reply text passes on submit and again on every render.

A text is refused for its tone — insults (``offensive``), brush-offs (``dismissive``), sarcasm,
threats, a cute chit-chat persona (``flippant``) — found by the word list (``replies.lexicon``) and
by statistical models (``replies.offensive`` per sentence, ``replies.improper`` for the whole reply), in
Simplified and Traditional alike; for its structure
(``replies.structure``): the citizen blamed, a retort aimed at them, a refusal that names no unit,
channel or time, a reporter's identity disclosed; for a vague time
promise (尽快, 近期 …) with no concrete date or deadline; for personal data (``text.pii``); for
placeholders that are unfilled or not on the whitelist; and for length. Each violation names its
rule, the span of the text it concerns, and a message in Chinese for the reviewer.

The citizen's own words, quoted back as reported speech (``replies.quotes``), are exempt from the
tone and vague-promise checks: acknowledging "工作人员说'找茬'" is not saying it.
"""

from __future__ import annotations

import dataclasses
import re

from replies import improper, lexicon, offensive, structure
from replies.quotes import inside, reported
from replies.variables import ALLOWED, SYSTEM_GENERATED
from text.pii import find_personal_data
from text.script import compact, fold

MAX_REPLY_BYTES = 2000
# The rules about how a reply sounds; the others are about its facts and its form.
TONE_RULES = frozenset(
    {"offensive", "dismissive", "sarcastic", "threatening", "flippant", "blames_citizen", "rhetorical_retort",
     "improper"}
)  # fmt: skip
# What a reviewer sees in place of each placeholder when a template body is checked.
SAMPLE_VALUES = {
    "case_number": "20261127000123",
    "deadline": "2026年12月18日",
    "department": "综合受理部门",
    "date": "2026年11月27日",
    "emergency_number": "110",
    "progress": "已派单至承办部门",
    "case_status": "承办部门办理中",
    "case_list": "1. 受理编号20261127000123，承办部门办理中，答复期限2026年12月18日",
    "recorded_items": "问题描述、发生地点、发生时间",
}
# For a whitelisted name added to replies/variables.py before a sample is added here.
_GENERIC_SAMPLE = "示例内容"

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_VAGUE = re.compile(
    # 近期免冠照片 describes a photo, not a time.
    # 早日康复 is a wish, not a date.
    r"尽快|尽早|近期(?!(?:免冠|半身|正面|彩色|照片|相片|证件照|体检))|即将|择期|择机|适时|抓紧时间|早日(?!康复|痊愈)|稍后|过段时间|"
    r"过一段时间|过几天|改天|耐心等待|等通知|另行通知|研究研究|会有人(?:处理|联系|回复|跟进)|"
    r"近日内|不久的?将来|后续(?:会|将)(?:及时)?(?:反馈|处理|答复|跟进)|(?:会|将)及时(?:反馈|处理|答复|跟进)"
)
# 暂无近期调整计划 promises nothing; 请您尽快携带材料 asks the citizen, it promises nothing either.
_NOT_A_PROMISE = re.compile(r"(?:暂无|没有|并无|尚无|不会|无|未)$")
_ASKED_OF_CITIZEN = re.compile(r"(?:请|请您|您需|您应|务必|建议您|您可)$")
_BY_CITIZEN = ("尽快", "尽早")
# Advice earlier in the same sentence makes a later 尽快 the citizen's too.
_ADVISED = re.compile(r"请|立即|马上|务必|应当|建议您|如遇")
# ... unless the account is the subject of its own clause ("请放心，我们会尽快处理").
_PROMISER = re.compile(r"我|本|会|将|工作人员|部门|单位|机关|承办|局|办")
# Where a sentence, and a clause, ends in folded (half-width) text.
_SENTENCE_ENDS = "。!?;\n"
_CLAUSE_ENDS = _SENTENCE_ENDS + ","


def _back_to(folded: str, start: int, ends: str) -> str:
    """The text from the last of ``ends`` before ``start`` (or the beginning) up to ``start``."""
    return folded[max(folded.rfind(c, 0, start) for c in ends) + 1 : start]


# A concrete date or deadline anywhere in the text makes a time word concrete (尽快，并于12月18日前…).
_NUM = r"(?:\d+|[零一二两三四五六七八九十百]+)"
_DATE = rf"(?:\d{{4}}年)?{_NUM}月(?:{_NUM}[日号]|底|末|[上中下]旬)"
_DEADLINE = re.compile(
    rf"(?:{_DATE}|{_NUM}[日号])(?:前|之前|以前|止|为止|起|开始|完成|完工|答复|办结)"
    rf"|(?:于|在|将于|预计|计划|定于|截至|截止|至|为|到){_DATE}"
    rf"|{_NUM}个?(?:工作日|自然日|日|天|小时|周|星期|个月|月)(?:之内|以内|内)"
    r"|(?:本|下)(?:周|月)[一二三四五六日末底]?(?:前|内)|(?:年底|月底)前"
)
_PERSONAL_DATA = {
    "mobile": "回复中含有手机号码（个人信息），请改为单位固定电话或热线",
    "id_number": "回复中含有身份证号码（个人信息）",
    "bank_card": "回复中含有银行卡号（个人信息）",
}
_TITLE = re.compile(r"《[^《》\n]*》")
# No payment card number starts with 0 (ISO/IEC 7812: 0 is not an issuer's industry); a run of zeros
# such as an anonymised "0000-00000000 0000-00000000" passes Luhn but is a telephone mask, not a card.
_NOT_A_CARD = re.compile(r"[0０]")


@dataclasses.dataclass(frozen=True)
class Violation:
    """One reason a text may not be sent: the rule, the span it concerns, a message for the reviewer."""

    rule: str
    span: tuple[int, int]
    message: str


def check_text(
    text: str,
    *,
    has_deadline: bool = False,
    trusted: tuple[str, ...] = (),
    use_model: bool = True,
) -> list[Violation]:
    """Every violation in a text that is about to be sent (already rendered), in text order.

    ``has_deadline``: the text carries a rendered deadline, so time words are concrete.
    ``trusted`` are values the system generated (a case number): a long case number can pass the
    Luhn check like a bank card, and must not turn an acknowledgement into the fallback.
    ``use_model=False`` runs the word list only (for measuring what the model adds).
    """
    found: list[Violation] = []
    if not text.strip():
        found.append(Violation("empty", (0, len(text)), "回复内容为空"))
    size = len(text.encode("utf-8"))
    if size > MAX_REPLY_BYTES:
        found.append(Violation("too_long", (0, len(text)), f"回复超过{MAX_REPLY_BYTES}字节（{size}字节）"))
    for m in _PLACEHOLDER.finditer(text):
        found.append(Violation("unfilled_placeholder", m.span(), f"占位符未填充：{m.group(0)}"))
    if ("{" in text or "}" in text) and not _PLACEHOLDER.search(text):
        i = max(text.find("{"), text.find("}"))
        found.append(Violation("stray_brace", (i, i + 1), "回复含有多余的花括号"))

    folded = fold(text)
    exempt = reported(folded)
    tone = _lexicon(text, folded, exempt)
    found.extend(tone)
    found.extend(_structure(text, folded, exempt, tone))
    if use_model:
        found.extend(_model(text, folded, exempt, tone))
    if not has_deadline:
        found.extend(_vague_promises(folded, exempt))

    safe = [span for value in trusted if value for span in _occurrences(value, text)]
    for p in find_personal_data(text):
        if p.kind == "bank_card" and _NOT_A_CARD.match(text, p.start):
            continue
        if not any(s <= p.start and p.end <= e for s, e in safe):
            found.append(Violation("personal_data", (p.start, p.end), _PERSONAL_DATA[p.kind]))
    found.sort(key=lambda v: v.span)
    return found


def _occurrences(value: str, text: str) -> list[tuple[int, int]]:
    """Where ``value`` occurs in ``text`` (non-overlapping, left to right).

    A plain substring search: a regex built from each value (a case number, a date) was compiled afresh for
    nearly every reply, since the values are new each time and miss ``re``'s cache (about 0.1 ms each).
    """
    spans: list[tuple[int, int]] = []
    start = text.find(value)
    while start >= 0:
        spans.append((start, start + len(value)))
        start = text.find(value, start + len(value))
    return spans


# The account disowning a word ("我们不会要求您闭嘴", "严禁工作人员说'找茬'") is not saying it: an insult right
# after such a negation, in the same clause, is discussed, not used. ("你不要…" is an order, not a disowning.)
_DISOWNED = re.compile(
    r"(?:不会|绝不会|决不会|绝不|决不|从不|从来不|不应|不应该|不得|严禁|禁止|杜绝)(?:要求|让|叫)?(?:您|你|群众|市民)?"
    r"(?:说|用|讲)?[“「‘\"']?$"
)


def _lexicon(text: str, folded: str, exempt: list[tuple[int, int]]) -> list[Violation]:
    squeezed, origin = compact(folded)
    out: list[Violation] = []
    for category in lexicon.COMPILED:
        for m in category.regex.finditer(squeezed):
            if m.end() == m.start():
                continue
            start, end = origin[m.start()], origin[m.end() - 1] + 1
            if category.rule == "offensive" and _DISOWNED.search(folded[max(0, start - 12) : start]):
                continue
            if not inside(exempt, start, end):
                out.append(Violation(category.rule, (start, end), category.message.format(text[start:end])))
    return out


def _structure(text: str, folded: str, exempt: list[tuple[int, int]], tone: list[Violation]) -> list[Violation]:
    out: list[Violation] = []
    for rule, start, end in structure.findings(folded, exempt):
        # A word-list hit on the same words already says why.
        if not any(v.span[0] < end and start < v.span[1] for v in tone):
            out.append(Violation(rule, (start, end), structure.MESSAGES[rule].format(text[start:end])))
    return out


def _vague_promises(folded: str, exempt: list[tuple[int, int]]) -> list[Violation]:
    if _DEADLINE.search(folded):
        return []
    titles = [m.span() for m in _TITLE.finditer(folded)]  # a cited document's title is not a promise
    out: list[Violation] = []
    for m in _VAGUE.finditer(folded):
        start, end = m.span()
        before = folded[max(0, start - 3) : start]
        if inside(exempt, start, end) or inside(titles, start, end) or _NOT_A_PROMISE.search(before):
            continue
        if m.group(0) in _BY_CITIZEN and (
            _ASKED_OF_CITIZEN.search(folded[max(0, start - 4) : start])
            or (
                _ADVISED.search(_back_to(folded, start, _SENTENCE_ENDS))
                and not _PROMISER.search(_back_to(folded, start, _CLAUSE_ENDS))
            )
        ):
            continue  # 请立即拨打119，并尽快撤离: asked of the citizen, not promised
        out.append(Violation("vague_promise", (start, end), f"含有模糊时限用语“{m.group(0)}”，需给出具体日期或期限"))
    return out


def model_findings(text: str) -> list[Violation]:
    """Only the offensive-language model's findings on ``text`` (its sentences the word list did not catch)."""
    folded = fold(text)
    exempt = reported(folded)
    return _model(text, folded, exempt, _lexicon(text, folded, exempt))


# A reply that points the citizen to help ("如您正遭受家庭暴力，请立即拨打110报警", "遇到抢劫…请立即拨打110") names
# violence, and often quotes the abuser, because it is advice about it: the sentence model, which reads such
# words as abuse, does not judge it. The word list, the structure checks and the whole-reply model still do.
_HELP_LINE = re.compile(r"110|119|120|122|12338|12355|12388|96110|报警|妇联|保护令|派出所")
_QUOTE_MARK = re.compile("[“”‘’「」『』\"']")
_ADVISES = re.compile(r"请|可以?|如|若|建议|应当?|务必|立即")


def _advice(folded: str) -> list[tuple[int, int]]:
    """The sentences (as the sentence model cuts them) that point the citizen to help."""
    return [
        (start, end)
        for start, end in offensive.sentences(folded)
        if _HELP_LINE.search(folded, start, end) and _ADVISES.search(folded, start, end)
    ]


def _model(text: str, folded: str, exempt: list[tuple[int, int]], tone: list[Violation]) -> list[Violation]:
    out: list[Violation] = []
    advice = _advice(folded)
    for f in offensive.shipped().flag(folded, exempt):
        # In a reply that gives such advice, its own sentences and those quoting the abuse are not judged here.
        if advice and (inside(advice, f.start, f.end) or _QUOTE_MARK.search(folded[f.start : f.end])):
            continue
        # One finding per sentence: a word-list hit already says why.
        if not any(f.start <= v.span[0] and v.span[1] <= f.end for v in tone):
            out.append(
                Violation(
                    "offensive",
                    (f.start, f.end),
                    f"该句可能含有冒犯、不当语气（模型判定，概率{f.probability:.2f}）：{text[f.start : f.end]}",
                )
            )
    if not tone and not out:
        # The reply as a whole: brush-offs, retorts, personas and dismissals rarely sit in one bad word.
        p = improper.probability(folded, exempt)
        if p >= improper.shipped().threshold:
            message = f"答复整体可能不当（推诿、指责、反问、调侃或敷衍；模型判定，概率{p:.2f}），请复核"
            out.append(Violation("improper", (0, len(text)), message))
    return out


def placeholders(body: str) -> set[str]:
    """The placeholder names a template body uses."""
    return {m.group(1) for m in _PLACEHOLDER.finditer(body)}


def preview(body: str) -> str:
    """A body with sample values in its known placeholders, as a citizen would see it."""
    return _preview(body)[0]


def _preview(body: str, drop_unknown: bool = False) -> tuple[str, list[tuple[int, int]]]:
    # The text and, for each of its characters, the span of the body it came from.
    out: list[str] = []
    origin: list[tuple[int, int]] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(body):
        for i in range(pos, m.start()):
            out.append(body[i])
            origin.append((i, i + 1))
        name = m.group(1)
        value = SAMPLE_VALUES.get(name) or (_GENERIC_SAMPLE if name in ALLOWED else None)
        if value is None:
            value = "" if drop_unknown else m.group(0)
        out.extend(value)
        origin.extend([m.span()] * len(value))
        pos = m.end()
    for i in range(pos, len(body)):
        out.append(body[i])
        origin.append((i, i + 1))
    return "".join(out), origin


def check_template(body: str, *, use_model: bool = True) -> list[Violation]:
    """Every violation in a template body (before filling); spans point into ``body``.

    Placeholders must be on the whitelist; then the body is checked as a citizen would see it,
    with sample values, a ``{deadline}`` counting as a concrete deadline.
    """
    found = [
        Violation("unknown_placeholder", m.span(), f"未知占位符：{m.group(0)}（可用：{'、'.join(sorted(ALLOWED))}）")
        for m in _PLACEHOLDER.finditer(body)
        if m.group(1) not in ALLOWED
    ]
    text, origin = _preview(body, drop_unknown=True)
    names = placeholders(body)
    trusted = tuple(SAMPLE_VALUES[name] for name in SYSTEM_GENERATED & names if name in SAMPLE_VALUES)
    for v in check_text(text, has_deadline="deadline" in names, trusted=trusted, use_model=use_model):
        s, e = v.span
        if not origin:
            span = (0, len(body))
        elif e > s:
            span = (origin[s][0], origin[e - 1][1])
        else:
            span = (origin[min(s, len(origin) - 1)][0],) * 2
        found.append(Violation(v.rule, span, v.message))
    found.sort(key=lambda v: v.span)
    return found
