"""Checks of a reply's structure, not its words: who it blames, whom it questions, what a refusal leaves out.

A word list catches "哑巴"; it cannot catch "还不是你自己没看清楚" or "这点小事也值得投诉？", which use no bad
word at all. These checks read the roles in a sentence instead:

* ``blames_citizen`` — the citizen addressed as the one at fault (谁让你…, 还不是你…, 你自己的问题, 活该);
* ``rhetorical_retort`` — a question aimed at the citizen that asks nothing (难道你…？ 你觉得…吗？ 至于吗？);
  questions that do ask something (请问您…, 是否…, 能否…) are not retorts;
* ``unhelpful_refusal`` — a refusal or a referral (不归我们管, 无法处理, 请咨询相关部门) that names no unit, channel
  or time the citizen can turn to;
* ``discloses_reporter`` — who reported or complained, named to the one reported (举报人是…, 投诉你的是…).

All run on folded text (Simplified, half-width), and the citizen's own words quoted back are exempt.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from replies.quotes import inside

_YOU = r"(?:你|您|你们|您们|你自己|您自己)"

_BLAME = re.compile(
    rf"(?:还不是|都是|全是|全怪|只怪|就怪|要怪就怪|怪|怨)(?:你|您)|谁(?:让|叫|要)(?:你|您)|"
    rf"(?:是|这是|那是|属于|纯属){_YOU}(?:自己)?的?(?:问题|责任|过错|错(?!过))|{_YOU}自己的?(?:问题|责任|过错|错(?!过))|"
    rf"(?:活该|自作自受|咎由自取|自找的|自讨苦吃|怨不得别人|怪不得别人|怪不了别人|怨不了别人)|"
    rf"{_YOU}(?:自己)?(?:不|没|没有)(?:看清|看清楚|注意|小心|留意|仔细|搞清楚|弄清楚|早点|提前)(?:[^。!！?？]{{0,12}})(?:怪谁|能怪谁|怨谁|还(?:来|好意思)|就别)|"
    rf"(?:早干什么去了|早干嘛去了|当初(?:干嘛|为什么|怎么)不)"
)
# A question mark, or a sentence-final question particle, ends the sentence looked at.
_SENTENCE = re.compile(r"[^。!！?？\n；;]+[。!！?？\n；;]?")
_RETORT = re.compile(
    r"难道|凭什么|至于吗|至于这样|有必要吗|有意思吗|有意义吗|值得(?:投诉|举报|反映|闹)|"
    r"这(?:点|么点)(?:小事|事)(?:也|都|还)|还(?:好意思|有脸)|"
    rf"{_YOU}(?:觉得|以为|认为|当|把)(?:[^。!！?？]{{0,20}})(?:吗|么|呢|[?？])|"
    rf"{_YOU}(?:不会|不知道|不懂|没长眼|不识字|看不懂|听不懂)(?:[^。!！?？]{{0,16}})(?:吗|么|呢|[?？])|"
    rf"(?:跟|和|找)(?:我们|政府|公安|警察)(?:[^。!！?？]{{0,10}})(?:有什么用|闹什么|吵什么|较什么劲)"
)
_ASKS = re.compile(r"请问|是否|能否|可否|方便|需要|愿意|请您|麻烦您|可以告诉")

_REFUSAL = re.compile(
    r"不归|不属于我们|不属于本|不在我们|不在本(?:单位|部门)?(?:的)?(?:职责|受理|管理)|不是我们(?:的)?(?:事|管|职责)|"
    r"不(?:管|负责|处理)(?:这|此|这个|这类|这种)|我们(?:管不了|管不着|不管|没办法|无能为力|爱莫能助|也没办法)|"
    r"(?:无法|不能|不予|没法|不便)(?:处理|办理|受理|解决|回复|答复|帮助|帮忙|协助)|爱莫能助|无能为力|"
    r"自己想办法|自行(?:解决|协商|处理|想办法)|另(?:寻|找|请)(?:他处|高明|出路)|"
    r"(?:咨询|联系|找|询问|去|向)(?:一下)?(?:相关|有关|其他|别的|对应)(?:部门|单位|机构)"
)
# What makes a refusal helpful: a named unit (not 相关部门), a number or channel, or a time.
_NAMED_UNIT = re.compile(
    r"(?<!相关)(?<!有关)(?<!其他)(?<!别的)(?<!对应)[\u4e00-\u9fff]{1,12}"
    r"(?:局|厅|委员会|办公室|办事处|服务中心|中心|派出所|法院|检察院|仲裁委|居委会|村委会|物业公司|公司|医院|学校|银行|"
    r"大队|支队|管理处|管理所|服务站|协会|街道办|政府)"
)
_CHANNEL = re.compile(
    r"\d{3,}|热线|电话|网站|网址|窗口|大厅|app|小程序|公众号|信箱|邮箱|地址|官网|平台|柜台|服务点|政务服务|诉讼|仲裁|复议|信访|"
    r"工作日|小时|月\d|\d+月|\d+日|周[一二三四五六日]|上午|下午"
)
_DISCLOSE = re.compile(
    r"(?:举报人|投诉人|反映人|来电人|举报者|投诉者|举报(?:你|您)的(?:人)?|投诉(?:你|您)的(?:人)?|告(?:你|您)的(?:人)?)"
    r"(?:是|为|叫|就是|乃是|姓(?!名))"
)

MESSAGES = {
    "blames_citizen": "答复把责任推给群众：{0}",
    "rhetorical_retort": "答复对群众使用反问、质问语气：{0}",
    "unhelpful_refusal": "拒绝或推诿却未说明承办单位、联系渠道或时限：{0}",
    "discloses_reporter": "答复透露了举报人、投诉人的身份：{0}",
}


def findings(folded: str, exempt: list[tuple[int, int]]) -> Iterator[tuple[str, int, int]]:
    """(rule, start, end) of every structural problem in ``folded`` outside the ``exempt`` spans."""
    for rule, pattern in (("blames_citizen", _BLAME), ("discloses_reporter", _DISCLOSE)):
        for m in pattern.finditer(folded):
            if not inside(exempt, *m.span()):
                yield rule, m.start(), m.end()
    for sentence in _SENTENCE.finditer(folded):
        start, end = sentence.span()
        if inside(exempt, start, end):
            continue
        text = sentence.group(0)
        retort = _RETORT.search(text)
        if retort and not _ASKS.search(text[: retort.start()]):
            yield "rhetorical_retort", start, end
    refusal = next((m for m in _REFUSAL.finditer(folded) if not inside(exempt, *m.span())), None)
    if refusal is not None and not (_NAMED_UNIT.search(folded) or _CHANNEL.search(folded)):
        yield "unhelpful_refusal", refusal.start(), refusal.end()
