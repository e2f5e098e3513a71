"""Checks of a reply's structure, not its words: who it blames, whom it questions, what a refusal leaves out.

A word list catches "哑巴"; it cannot catch "还不是你自己没看清楚" or "这点小事也值得投诉？", which use no bad
word at all. These checks read the roles in a sentence instead:

* ``blames_citizen`` — the citizen addressed as the one at fault (谁让你…, 还不是你…, 你自己的问题, 活该);
* ``rhetorical_retort`` — a question aimed at the citizen that asks nothing (难道你…？ 你觉得…吗？ 至于吗？);
  questions that do ask something (请问您…, 是否…, 能否…) are not retorts;
* ``unhelpful_refusal`` — a refusal or a referral (不归我们管, 无法处理, 请咨询相关部门) that names no unit, channel
  or time the citizen can turn to;
* ``discloses_reporter`` — who reported or complained, named to the one reported (举报人是…, 投诉你的是…,
  该举报由…提交);
* ``discloses_third_party`` — where another person lives, lies in hospital or what they suffer from, told to
  the citizen (那位患者住在…, 被执行人的现住址为…);
* ``threatening`` — a consequence held over the citizen if they write again (再…就…交给派出所, 若继续…不排除
  追究), however polite the words.

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
    r"(?:咨询|联系|找|询问|去|向)(?:一下)?(?:相关|有关|其他|别的|对应)(?:部门|单位|机构)|"
    # 非本单位权责, 一律不受理, 不在受理范围, 请另循其他管道 (Taiwan: 管道 for 渠道), 已转交相关部门，本件结案.
    r"非本(?:单位|部门|机关|平台|局)?(?:的)?(?:权责|职责|职权|管辖|业务)|一律不(?:予)?(?:受理|处理|答复|回复)|"
    r"不在(?:本平台|本单位|我们的?)?受理范围|不属于本平台|另(?:循|寻|找)(?:其他|别的)?(?:管道|渠道|途径|方式)"
)
# A refusal that still handles what can be handled ("此类内容不予回复；但您反映的事项，我们仍会依规定办理").
_STILL = re.compile(r"(?:但|不过)[^。!?]{0,16}(?:仍|依然|照常|继续)(?:会|将)?[^。!?]{0,6}(?:办理|处理|受理|答复)")
_NEGATED = re.compile(r"(?:不|非|没|无|并非)$")
_YOU_NEAR = re.compile(r"你|您")
# "若您继续遭受骚扰…派出所", "如果再有人来催收…拨打110": help for the citizen against someone else, not a threat.
_VICTIM = re.compile(r"有人|遭受|受到|骚扰您|报警|拨打1")
# "李女士您好": the person named is the citizen addressed.
_ADDRESSED = re.compile(r"\s*[,，]?\s*(?:您好|你好)")


def _sentence_of(folded: str, at: int) -> str:
    """The sentence of ``folded`` around position ``at``."""
    start = max(folded.rfind(c, 0, at) for c in "。!?；;\n") + 1
    ends = [i for i in (folded.find(c, at) for c in "。!?；;\n") if i >= 0]
    return folded[start : min(ends) if ends else len(folded)]


_DENIED = re.compile(r"(?:不会|不|绝不|决不|不得|严禁|禁止|从不)$")
# What makes a refusal helpful: a named unit (not 相关部门), a number or channel, or a time.
_NAMED_UNIT = re.compile(
    r"(?<!相关)(?<!有关)(?<!其他)(?<!别的)(?<!对应)[\u4e00-\u9fff]{1,12}"
    r"(?:局|厅|委员会|办公室|办事处|服务中心|中心|派出所|法院|检察院|仲裁委|居委会|村委会|物业公司|公司|医院|学校|银行|"
    r"大队|支队|管理处|管理所|服务站|协会|街道办|政府|车管所|司法所|税务所|检测站|卫生院|社区|街道|妇联|工会)"
)
_CHANNEL = re.compile(
    # (本平台 is the account itself: not somewhere else to turn.)
    r"\d{3,}|热线|电话|网站|网址|窗口|大厅|app|小程序|公众号|信箱|邮箱|地址|官网|(?<!本)平台|柜台|服务点|政务服务|诉讼|仲裁|复议|信访|"
    r"工作日|小时|月\d|\d+月|\d+日|周[一二三四五六日]|上午|下午"
)
_DISCLOSE = re.compile(
    r"(?:举报人|投诉人|反映人|来电人|举报者|投诉者|举报(?:你|您)的(?:人)?|投诉(?:你|您)的(?:人)?|告(?:你|您)的(?:人)?)"
    r"(?:是|为|叫|就是|乃是|姓(?!名))|"
    # 投诉您违章搭建的是…, 该举报由您单位的同事…提交.
    r"(?:举报|投诉|反映|告)(?:你|您)[^。!?；;]{0,16}的(?:人)?(?:是|为|就是)|"
    r"(?:该|此|这|本)(?:条|起|件)?(?:举报|投诉|反映|线索)(?:信息|事项)?(?:是)?(?:由|系)[^。!?；;]{0,16}(?:提交|提出|举报|投诉|反映|提供)|"
    # The citizen's own details handed to the one they complained about (把您的电话和住址转给被投诉的…); 误将…
    # is an apology for having done so.
    r"(?<!误)(?:把|将)(?:你|您)的[^。!?；;]{0,12}(?:手机|电话|号码|住址|地址|姓名|身份)[^。!?；;]{0,12}"
    r"(?:转给|告知|告诉|提供给|交给|发给)[^。!?；;]{0,6}(?:被投诉|被举报|对方|商家|老板|店家|物业|单位)"
)
# Another person (not the citizen, not a unit): a kinship or role word, or a surname with 某/先生/女士.
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪"
    "范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_THIRD_PARTY = (
    r"(?:那位|这位|该名?|此名?)(?:男子|女子|人员|患者|病人|同学|学生|住户|业主|家长|老人|员工|司机|当事人|先生|女士)|"
    r"前夫|前妻|前男友|前女友|被执行人|被举报人|被投诉人|邻居|同事|同学(?:的)?家长|"
    rf"[{_SURNAMES}](?:某某?|先生|女士|小姐|师傅|老师|同学|阿姨|大爷)"
)
# One person's private facts (not a form's requirements: 持本人身份证, 诊断证明 are what a policy asks for).
_PRIVATE_FACT = re.compile(
    rf"(?:{_THIRD_PARTY})[^。!?；;]{{0,24}}"
    r"(?:住在|住址|现住址|家住|家庭住址|登记地址|户籍地址|居住地|住院部|病床|\d+床|诊断为|确诊为?|患有|病情是|身份证号|手机号|"
    r"电话是|电话为|号码是|号码为|工作单位是|在[^。!?；;]{1,12}上班)|"
    # …, a street address told right after the person (住和平路45号).
    rf"(?:{_THIRD_PARTY})[^。!?；;]{{0,16}}[\u4e00-\u9fff]{{1,8}}(?:路|街|道|巷|弄|村)\d+号"
)
_THIRD_PARTY_AT = re.compile(_THIRD_PARTY)
# Said to keep it secret ("被举报人的住址我们不会透露"), the same words disclose nothing.
_KEPT_SECRET = re.compile(
    r"保密|不会(?:透露|告知|公开|泄露|提供)|不予(?:公开|提供|透露)|无法提供|不能提供|依法保护|隐私"
)
# A consequence held over the citizen if they go on: 再…就…, 若继续…将…, 要是再…不排除….
_THREAT = re.compile(
    r"(?:再|要是再|如果再|若再|如再|倘若再|继续|一再)[^。!?；;]{0,16}(?:就|将|便|我们将|我们会|我们就|不排除|会被)[^。!?；;]{0,16}"
    r"(?:法律|追究|派出所|公安|警方|报警|起诉|拉黑|封号|屏蔽|后果|处理(?:你|您)|处罚|拘留|备案|记录在案|列入)"
)

MESSAGES = {
    "blames_citizen": "答复把责任推给群众：{0}",
    "rhetorical_retort": "答复对群众使用反问、质问语气：{0}",
    "unhelpful_refusal": "拒绝或推诿却未说明承办单位、联系渠道或时限：{0}",
    "discloses_reporter": "答复透露了举报人、投诉人的身份：{0}",
    "discloses_third_party": "答复透露了他人的住址、病情或联系方式：{0}",
    "threatening": "答复以后果威胁群众：{0}",
}


def findings(folded: str, exempt: list[tuple[int, int]]) -> Iterator[tuple[str, int, int]]:
    """(rule, start, end) of every structural problem in ``folded`` outside the ``exempt`` spans."""
    for rule, pattern in (("blames_citizen", _BLAME), ("discloses_reporter", _DISCLOSE), ("threatening", _THREAT)):
        for m in pattern.finditer(folded):
            if inside(exempt, *m.span()):
                continue
            if rule == "blames_citizen" and _NEGATED.search(folded[max(0, m.start() - 2) : m.start()]):
                continue  # 遭遇诈骗不是您的过错: the opposite of blame
            if rule == "discloses_reporter" and _DENIED.search(folded[max(0, m.start() - 4) : m.start()]):
                continue  # 我们不会把您的身份告诉商家: a promise of secrecy
            if rule == "threatening" and (
                not _YOU_NEAR.search(folded[max(0, m.start() - 8) : m.end() + 8]) or _VICTIM.search(m.group(0))
            ):
                continue  # 如再次发生，我局将依法…: enforcement against the one complained about, not a threat
            yield rule, m.start(), m.end()
    for m in _PRIVATE_FACT.finditer(folded):
        person = _THIRD_PARTY_AT.match(folded, m.start())
        addressed = person is not None and _ADDRESSED.match(folded, person.end())
        if not inside(exempt, *m.span()) and not addressed and not _KEPT_SECRET.search(_sentence_of(folded, m.start())):
            yield "discloses_third_party", m.start(), m.end()
    for sentence in _SENTENCE.finditer(folded):
        start, end = sentence.span()
        if inside(exempt, start, end):
            continue
        text = sentence.group(0)
        retort = _RETORT.search(text)
        # The retort's own words decide: a quotation can end a sentence that began before it (有市民问“…吗？”).
        if retort and not inside(exempt, start + retort.start(), start + retort.end()):
            if not _ASKS.search(text[: retort.start()]):
                yield "rhetorical_retort", start, end
    refusal = next((m for m in _REFUSAL.finditer(folded) if not inside(exempt, *m.span())), None)
    if refusal is not None and not (_NAMED_UNIT.search(folded) or _CHANNEL.search(folded) or _STILL.search(folded)):
        yield "unhelpful_refusal", refusal.start(), refusal.end()
