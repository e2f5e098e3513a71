"""The word list of the reply guard: what an official reply never says, by kind of harm.

Each entry is a regular expression over folded text (``text.script``: Simplified, half-width,
lower case, spaces and filler symbols removed). Entries are phrases rather than single characters
wherever a character has innocent uses: 滚 is in 滚动播出, 亲 in 亲属, 人家 in 沿街几户人家,
蚊子 in mosquito control, 精神病 in 精神病院. The incident texts of POLICY.md and their kin are here
word for word. The statistical model (``replies.offensive``) catches what no list foresees.
"""

from __future__ import annotations

import dataclasses
import re

# Clause punctuation after folding (full-width ，！？；： are half-width by then).
_END = r"(?=$|[,.!?;:。、…)\]」』”’\"'])"
_START = r"(?:^|(?<=[,.!?;:。、…(\[「『“‘\"']))"


@dataclasses.dataclass(frozen=True)
class Category:
    """One kind of harm: the rule name a violation carries, its message, and its patterns."""

    rule: str
    message: str
    patterns: tuple[str, ...]


CATEGORIES: tuple[Category, ...] = (
    Category(
        "offensive",
        "含有侮辱、贬损用语“{}”",
        (
            # POLICY.md incidents, word for word and their kin.
            r"哑巴(?!亏)",
            r"一群蚊子|蚊子在?嗡嗡|嗡嗡嗡",
            r"脸是自己丢的|面子是别人给的|给脸不要脸|不要脸",
            r"违法了吧",
            r"找.{0,4}的?茬|找碴",
            # Name-calling.
            r"傻[子瓜逼比b×x]|[煞沙]笔|(?<![a-z])sb(?![a-z])|二百五(?![十拾])|白痴|弱智(?!儿童|人士)|智障(?!人士|儿童)|脑残|蠢[货猪蛋]|笨蛋|"
            r"一群废物|(?:你们?|就是|真是)废物|废物一个|人渣|渣滓|混蛋|王八|狗东西|畜生|贱人|犯贱|下贱|刁民|泼妇|屁民|乡巴佬|土包子|穷鬼|"
            r"丢人现眼|不知好歹|不识好歹|不识抬举",
            # Sent back to school: 建议您多读点书再来提问, 建议重新读一次初中课本.
            r"多读(?:点|些|几年)?书再(?:来|问)|回去(?:重新)?读.{0,4}(?:课本|小学)",
            # 神经病 / 精神病 said of the reader, not the illness of a patient (患有轻度神经病, 精神病医院).
            r"(?<!患有)(?<!轻度)(?<!重度)(?<!诊断为)神经病(?![学科院医人患])|你.{0,4}(?:有|是)?精神病(?![院医人患])",
            r"你(?:是不是)?有病|有病吧|脑子(?:进水|有病|有问题|坏了|被驴踢)|没脑子|听不懂人话|不懂人话|"
            r"(?:你|您)的?素质.{0,3}低|素质(?:这么|太|真)低|没素质|没文化|你.{0,3}文盲",
            r"你算老几|算什么东西|你也配|这种人也配",
            # Scolding questions: 你不识字吗, 这么简单都不懂, 你自己不会看公告吗.
            r"不识字|这么简单都不[懂会]|懂不懂规矩|你?(?:自己)?不会(?:看|查|读|用)[^,.!?;。]{0,8}吗|太蠢|真蠢|愚蠢",
            r"(?:给我|你|快|赶紧|都)滚(?![动筒石烫珠梯雪轴装存])|滚(?:蛋|开|吧|出去|远点|粗)|" + _START + r"滚" + _END,
            r"闭嘴|去死|找死|活该|欠收拾|欠揍|欠骂",
            r"无理取闹|胡搅蛮缠|没事找事|吃饱了?撑的|闲得慌|闲的慌|瞎嚷嚷|瞎bb|放屁|扯淡|胡说八道",
            r"自己作的|自作自受|自己没本事",
        ),
    ),
    Category(
        "dismissive",
        "含有推诿、敷衍用语“{}”，应说明理由并告知受理渠道",
        (
            r"另谋高就|爱咋咋[地滴的]|爱咋样咋样|爱找谁找谁|爱去哪告|爱信不信|随便你|随你便",
            r"不归我们管|我们管不了|管不着|不关我们的?事|关我们?什么事|关我们?屁事|与我们?无关|跟我们?(?:没|无)关系|"
            r"这不是我们的事|不是我们的事",
            r"你?找别人|找别的部门吧|别(?:在这|来)(?:问|烦|找)|别来找我们|别问我们?|别烦我们?|问别人去|"
            r"不要再(?:问|发)了|别再(?:问|发|来)了?|不要再来(?:问|找|烦)",
            r"没空理你|懒得理|不想理你|无可奉告|不想回答",
            r"自己(?:去网上|上网|去)?查(?![询阅看验])|自己百度|你?自己想办法|你自己(?:解决|看着办)|自己看着办",
            r"你?烦不烦|有完没完|说了多少遍|说过多少次|早就说过了|等着吧|再说吧",
            r"可以去告(?![知示诉])|你去告吧|告去吧|不想住就|不想干就|嫌贵就别|没人逼你|没人拦着你|没人求你",
        ),
    ),
    Category(
        "sarcastic",
        "含有讽刺、挖苦用语“{}”",
        (
            r"呵呵|你可真行|您可真行|真行啊|厉害了|服了你|佩服佩服|不愧是你",
            r"(?:你|您)(?:真是)?(?:太|真|可真)?聪明了|(?:您|你)这么能干|好大的官威|还教我们做事|真把自己当|"
            # Mock gratitude and mock praise: 感谢您百忙之中抽空教我们做事, 可惜地球不是围着您转的.
            r"百忙之中.{0,4}(?:教|指导|指点)我们|地球(?:不是|又不是)?(?:围|绕)[着著]",
            r"(?:你|您)想多了|想得美|做梦去吧|白日做梦|做梦吧",
            r"就你事多|就你懂|事儿妈|玻璃心|戏精|杠精|键盘侠|矫情",
            r"有本事你|你行你上|有能耐你",
            r"认真地?忽略",
        ),
    ),
    Category(
        "threatening",
        "含有威胁、恐吓用语“{}”",
        (
            r"后果自负|走着瞧|等着瞧|你等着|给你点颜色|让你好看|吃不了兜着走|没你好果子|有你好果子",
            r"别怪我们不客气|对你不客气|好自为之|小心(?:我们|点|你的)|注意点" + _END,
            r"再闹|再投诉试试|你再.{0,6}试试",
            r"(?:拉黑|封)你|查你(?:家|底|个)|收拾你|抓你|找你麻烦|知道你(?:住|家)",
        ),
    ),
    Category(
        "flippant",
        "含有卖萌、随意的口吻“{}”，政务回复应庄重",
        (
            r"小编|么么哒?|萌萌哒|棒棒哒|[啦的]哒|哒" + _END,
            r"嘤嘤|本宝宝|宝宝(?:心里|不说|表示|我)|小可爱|抱抱|撒花" + _END,
            r"啦啦啦|哈哈哈?|嘿嘿|嘻嘻",
            # 亲爱的 as a pet name; 亲爱的市民朋友 is a formal greeting.
            r"亲爱的(?!市民|居民|朋友|同学|家长|网友|网民|读者|旅客|乘客|游客|纳税人|考生|同志)",
            # 亲 as a form of address (亲，… / 亲们), not 亲属, 亲自, 亲子, 母亲.
            _START + r"亲(?:们|爱的)?(?=[,!~。]|$)|(?<![\u4e00-\u9fff])亲们",
            # 人家 as a coy "I" (人家也很忙的嘛), not households (几户人家) or other people.
            r"人家(?:也|才|都|好|真的|只是|又)[^,.!?;。]{0,10}?(?:嘛|啦|哒|嘤|哼|呀)",
            r"压力山大|心里苦|卖萌|(?:不要|别)催啦|[啦哦哟呦]~|好的呢|收到啦|来啦|哦[,，]|[唷呦]" + _END,
        ),
    ),
)


@dataclasses.dataclass(frozen=True)
class Compiled:
    """A category with its patterns joined into one expression (the guard runs on every reply)."""

    rule: str
    message: str
    regex: re.Pattern[str]


COMPILED: tuple[Compiled, ...] = tuple(
    Compiled(c.rule, c.message, re.compile("|".join(f"(?:{p})" for p in c.patterns))) for c in CATEGORIES
)
