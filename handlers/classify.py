"""The classification stage: intent, department, emergencies, with confidences and readable reasons.

Linear models (``handlers/model/``, trained by ``python -m bot train``) read the normalised text:
intent and emergency kind over character n-grams, the department over the message's jieba words
(stop words dropped, as its public training file was prepared) as character and word n-grams.
High-recall rules catch emergencies, because a missed fire costs more than a false alarm. Every
decision carries its reasons: the rule that fired and the n-grams that weighed most, for a
supervisor to read.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

from handlers import urgency
from handlers.emergency import NOT_NOW_MODEL_THRESHOLD, emergency_rule, not_now, who_first
from handlers.triage import MIN_CONFIDENCE, Triage
from text.linear import LinearTextModel, Prediction
from text.normalize import normalize
from text.segment import Segmenter

MODEL_DIR = Path(__file__).with_name("model")
SEGMENTER_FILE = "department_words.json.gz"  # the department model's word dictionary and stop words


# A bare place, number or time ("幸福路88号", "人民路", "我家在幸福小区3栋", "3栋402"): what a citizen
# sends to answer "where?" or to add a detail. Without an event it is not an emergency, whatever the
# model's emergency probability (places are frequent in emergency training texts).
_PLACE_SUFFIX = (
    r"(路|街|道|巷子|巷|弄|胡同|大道|段|小区|社区|花园|新村|新城|家园|公寓|宿舍|家属院|大厦|广场|停车场|公园|市场|菜市场|商场|超市|"
    r"医院|学校|中学|小学|幼儿园|车站|火车站|地铁站|站|出口|入口|路口|交叉口|苑|园|湾|城|庄|村|屯|寨|组|镇|乡|区|县|市|"
    r"门|栋|幢|座|单元|号楼|楼|层|室|户|号|巷口|村口|河边|江边|湖边|桥下|桥上|桥|"
    # Landmarks a citizen points at (花坛, 空地, 桥墩, 活动中心, 厂房, 车库, 滑梯, 门口).
    r"花坛|空地|桥墩|中心|厂房|厂|车库|地库|滑梯|门口)"
)
_PLACE_PART = (
    r"(\d+|[a-z]+|[东西南北][门面边侧段]?|(旁边|附近|对面|边上|那边|这边|那里|这里|里面|门口|楼下|楼上|后面|前面|隔壁|"
    r"往[东西南北]|[一二三四五六七八九十百几]+[米站]|[一二三四五六七八九十]+楼|第[一二三四五六七八九十\d]+个|"
    # Directions ("东门进来右手边", "电梯出来左边") and Cantonese (喺屋企楼下: at home, downstairs).
    r"进来|出来|进去|出去|[左右]手?边|[左右]手|[左右]拐|拐弯|直走|一直走|电梯口|楼梯口|电梯|楼梯|楼道|屋企|"
    r"下面|底下|上面|斜对过|斜对面|对过|往[东西南北]一点|那块|这块|[嗰𠮶][间个度]|呢度)|"
    r"[\u4e00-\u9fff]{0,8}?" + _PLACE_SUFFIX + r")"
)
# A bare place is any number of these words, then one or more place parts (see ``_tiled``).
_PLACE_LEAD = re.compile(r"我家|我们家|我们|我哋|我|家|地址|位置|定位|就是|就|是|在|喺|住|住在|于")
_PLACE_PIECE = re.compile(_PLACE_PART + r"[和与跟的]?")
# A bare time or duration ("已经三天了", "每天晚上", "前天夜里十一点来钟", "差不多半个多月了吧"): the answer to
# "since when?", with nothing wrong in it yet (the labelling rules: chitchat).
# One or more of these, end to end (see ``_tiled``).
_TIME_PIECE = re.compile(
    r"(已经|都|差不多|大概|大约|快|将近|有|就|是|从|到|至|和|跟|每|每个|这个|上个|那个|了|吧|啦|呢|啊|呀|多|左右|来钟|"
    r"来|半|整|前后|以来|开始|之后|以后|之前|以前|时候|的|差唔多|那会儿|那会|不到|放学|下班|"
    r"今天|昨天|前天|明天|今晚|昨晚|今早|刚才|刚刚|每天|每晚|天天|晚上|早上|上午|下午|中午|夜里|半夜|凌晨|傍晚|夜晚|白天|深夜|周末|"
    r"[周星期礼拜]{1,2}[一二三四五六日天末]|"
    r"[\d一二两三四五六七八九十百几半]+多?个?多?(天|日|号|周|星期|礼拜|月|年|小时|钟头|钟|分钟|分|点钟|点半|点|刻)?)"
)
_TIME_UNIT = re.compile(r"[天日号周期拜月年时钟分点刻晚早午夜晨昏]|刚")
# Anything that could be an event keeps the model's say: fire, harm, violence, vehicles, people in danger.
_EVENT_CHARS = re.compile(
    r"[火烟烧燃炸爆撞翻倒晕昏血伤痛疼死打抢砍刀枪偷撬闯困掉淹溺漏味救喊跳抽吐摔跌卡压碾轧追祸事警急命病毒药电塌杀拐绑"
    r"丢跑]|有人|老人|孩子|小孩|不见|没回|没了|不动|不醒"
)

# A citizen who names the request type has told us what it is. These words settle a message the
# model reads as chitchat or is unsure about; asking *how* to complain is an inquiry.
_EXPLICIT: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "inquiry",
        re.compile(
            r"(投诉|举报|检举|反映)(电话|热线|渠道|方式|邮箱)|(怎么|如何|去哪|在哪|哪里|向谁)(能|可以)?(投诉|举报|检举|反映)"
        ),
    ),
    ("complaint", re.compile(r"投诉|举报|检举|曝光|没人管|不作为")),
    ("suggestion", re.compile(r"建议|提议|希望(能|可以)?(增加|增设|开通|安装|改善)")),
    ("inquiry", re.compile(r"请问|咨询|怎么办理|如何办理|需要什么材料|在哪里办")),
    # A question about a service (hours, contact, place, procedure) read as chitchat is an inquiry.
    (
        "inquiry",
        re.compile(
            r"几点|怎么联系|联系方式|电话(是)?多少|地址|在哪|哪里|怎么(查|办|申请|领|交|补|弄|去)|如何|要带|要什么|"
            r"(开门|上班|休息|营业|开放|办公)|假日|周末|多少钱|收费|多久|流程|手续|材料|条件|有开"
        ),
    ),
)

# A bare acknowledgement or thanks ("谢谢", "收到了 谢谢", "好滴 谢啦", "唔该") thanks no one for anything in
# particular: chitchat (the labelling rules), however often 谢谢 opens a real praise message.
# One or more of these, end to end (see ``_tiled``); nothing longer than ACKNOWLEDGEMENT_MAX is a bare thanks.
_ACKNOWLEDGEMENT_PIECE = re.compile(
    r"好的?|好滴|好嘞|好吧|行|嗯+|哦+|噢+|喔+|ok|okay|收到了?|知道了?|明白了?|了解了?|懂了|谢谢|多谢|感谢|感恩|谢啦|谢了|谢|"
    r"辛苦了?|唔该|晒|你们?|您|大家|各位|早安|晚安|早上好|晚上好|早点休息|啊|呀|哈+|啦|了|哒|咯|啰|嘛|呢|哟|"
    # Greetings, "is anyone there?" and tests: small talk, answered with the welcome or help reply, never a case.
    r"你好|您好|hello|hi|hey|哈喽|哈啰|嗨|喂+|在吗|在么|在不在|在嘛|有人吗|有人在吗|有人么|有没有人|有人没有?|人呢|"
    r"请问|在线吗|客服|人工|小编|管理员|下午好|中午好|午安|测试|test|试试|试一下|一下|"
    # "Does this get through?", praise with no object, "never mind", Cantonese "are you there?", and
    # Taiwanese bopomofo particles (謝謝ㄋ).
    r"看(看)?能不能(发出去|收到|发送)|能不能(发出去|收到)|发(得)?出去了?吗?|能收到吗?|收得到吗?|收到吗|"
    r"赞+|点赞|好评|棒+|给力|厉害了?|没事了?|没问题了?|不用了|"
    r"喺度吗|喺唔喺度|喺度|有冇人|有无人|[\u3105-\u3129]+"
)
ACKNOWLEDGEMENT_MAX = 40
# Small talk about the bot itself ("你是机器人吗", "你用的是什么AI"): a short message naming it, and nothing
# that could be an event or a request.
# Latin names only as whole words: "kuailai" (快来, typed in pinyin) has "ai" in it.
_ABOUT_BOT = re.compile(r"机器人|人工智能|自动回复|真人|智能客服|(?<![a-z])(ai|chatgpt|gpt|bot|robot)(?![a-z])")
_ABOUT_BOT_MAX = 20
_REQUEST_WORDS = re.compile(r"投诉|举报|反映|办理|申请|咨询|报警|求助|帮我|帮忙|处理|怎么办")


def _tiled(piece: re.Pattern[str], text: str, starts: tuple[int, ...] = (0,)) -> set[int]:
    """The positions of ``text`` reachable from ``starts`` by one or more ``piece``s laid end to end.

    What ``(piece)+`` would match, found by dynamic programming over positions instead: Python's
    ``re`` tries every way of cutting a string into overlapping pieces ("嗯嗯嗯…", "三十三十…", "楼门楼门…")
    and takes exponential time on one that fails at the end, a message that could stall a worker for
    minutes. Here each (start, end) pair is tried once: at most len(text)² short matches.
    """
    reached: set[int] = set()
    frontier = list(dict.fromkeys(starts))
    while frontier:
        i = frontier.pop()
        if piece.match(text, i) is None:  # nothing starts here: skip the ends
            continue
        for j in range(i + 1, len(text) + 1):
            if j not in reached and piece.fullmatch(text, i, j):
                reached.add(j)
                frontier.append(j)
    return reached


def _pieces_only(piece: re.Pattern[str], text: str, starts: tuple[int, ...] = (0,)) -> bool:
    """True when ``text`` (from one of ``starts``) is one or more ``piece``s and nothing else."""
    return len(text) in _tiled(piece, text, starts)


class ModelClassifier:
    """Intent and department models plus emergency rules."""

    def __init__(
        self,
        intent: LinearTextModel,
        department: LinearTextModel,
        kind: LinearTextModel,
        emergency_threshold: float,
        segmenter: Segmenter,
    ) -> None:
        self.intent = intent
        self.department = department
        self.kind = kind
        self.emergency_threshold = emergency_threshold
        self.segmenter = segmenter

    @classmethod
    def load(cls, directory: Path = MODEL_DIR) -> ModelClassifier:
        """Load the shipped models (plain weights; no pickles)."""
        settings = json.loads((directory / "settings.json").read_text(encoding="utf-8"))
        return cls(
            LinearTextModel.load(directory / "intent"),
            LinearTextModel.load(directory / "department"),
            LinearTextModel.load(directory / "emergency_kind"),
            float(settings["emergency_threshold"]),
            Segmenter.load(directory / SEGMENTER_FILE),
        )

    def department_of(self, normalized: str) -> Prediction:
        """The department of a normalised message (``normalize(text).text``), read as the public training
        file was prepared: jieba words, stop words dropped, both as characters and as words."""
        words = self.segmenter.words(normalized)
        return self.department.predict("".join(words), words=words)

    def classify(self, text: str) -> Triage:
        """Triage one message as the citizen wrote it."""
        norm = normalize(text)
        t = norm.text
        reasons: list[str] = []
        if norm.traditional:
            reasons.append("script:traditional")
        if not t:
            return Triage("chitchat", "none", confidence_intent=0.99, confidence_department=0.99, reasons=("empty",))
        features = features_text(t)
        intent = self.intent.predict(features)
        rule = emergency_rule(t)
        p_emergency = intent.probabilities.get("emergency", 0.0)
        emergency_kind = None
        threshold = self.emergency_threshold
        past_or_hypothetical = not_now(t)  # read once: the threshold and the tier both need it
        if rule is None and past_or_hypothetical:
            threshold = max(threshold, NOT_NOW_MODEL_THRESHOLD)
        model_emergency = p_emergency >= threshold
        if p_emergency >= self.emergency_threshold and not model_emergency:
            reasons.append(f"rule:not_now:model_needs:{threshold:.2f}")
        bare_time = rule is None and time_only(t)
        bare_place = rule is None and (bare_time or place_only(t))
        if model_emergency and bare_place:
            model_emergency = False
            reasons.append("rule:place_only:not_emergency")
        tier = None
        if rule is not None or model_emergency:
            # A missed emergency costs more than a false alarm: the rules or the model suffice to raise
            # one (the model's threshold was chosen on training data for full recall). How sure we are
            # decides what the citizen is told: handlers/urgency.py.
            tier = urgency.tier(
                t, rule_matched=rule is not None, model_fired=model_emergency, not_now=past_or_hypothetical
            )
            if rule is not None:
                emergency_kind = rule[0]
                reasons.append(f"rule:emergency:{rule[0]}:{rule[1]}")
            else:
                guess = self.kind.predict(features)
                emergency_kind = who_first(guess.label, "", t)[0]
                reasons.append(f"model:emergency:{p_emergency:.2f}:{guess.label}:{'/'.join(guess.evidence)}")
            reasons.append(f"emergency:{tier}")
        if tier == urgency.CERTAIN:
            label, conf = "emergency", max(p_emergency, 0.9)
        else:
            label, conf = intent.label, intent.confidence
            if label == "emergency":  # below the threshold: the runner-up decides
                label, conf = sorted(
                    ((k, v) for k, v in intent.probabilities.items() if k != "emergency"), key=lambda kv: -kv[1]
                )[0]
            small_talk = is_acknowledgement(features, norm.stickers)
            if label != "chitchat" and small_talk:
                reasons.append(f"rule:acknowledgement:{label}")
                label, conf = "chitchat", max(intent.probabilities.get("chitchat", 0.0), MIN_CONFIDENCE)
            explicit_found = False
            # Small talk stays small talk: "您好，请问有人吗" asks for nobody's service ("请问" alone is no question).
            if (label == "chitchat" or conf < MIN_CONFIDENCE) and not small_talk:
                for explicit, pattern in _EXPLICIT:
                    m = pattern.search(t)
                    if m:
                        reasons.append(f"rule:explicit:{explicit}:{m.group(0)}")
                        label, conf = explicit, max(conf, intent.probabilities.get(explicit, 0.0), MIN_CONFIDENCE)
                        explicit_found = True
                        break
            unsure_place = bare_place and conf < MIN_CONFIDENCE and not explicit_found and _CJK.search(t) is not None
            if label != "chitchat" and (bare_time or unsure_place):
                # A bare time or duration, or a bare place the model is unsure about, says nothing is wrong
                # yet: the answer to "since when?" or "where?" (the labelling rules: chitchat). Pinyin is
                # left to the model: place_only reads any Latin letters as a place.
                reasons.append(f"rule:fragment:{'time' if bare_time else 'place'}:{label}")
                label, conf = "chitchat", max(intent.probabilities.get("chitchat", 0.0), MIN_CONFIDENCE)
            if label == "chitchat" and conf < MIN_CONFIDENCE and len(t) >= 8 and not bare_place:
                # Unsure, and long enough to be about something: a person reads it rather than nobody
                # (a bare place is about nothing yet, however long).
                label, conf = sorted(
                    ((k, v) for k, v in intent.probabilities.items() if k not in ("chitchat", "emergency")),
                    key=lambda kv: -kv[1],
                )[0]
                reasons.append("rule:unsure_not_chitchat")
            if tier == urgency.POSSIBLE and label == "chitchat":
                # Taken in whatever it looks like: a person reads a possible emergency.
                label, conf = "complaint", max(intent.probabilities.get("complaint", 0.0), MIN_CONFIDENCE)
        reasons.append(f"intent:{label}:{conf:.2f}:{'/'.join(intent.evidence)}")
        if label == "chitchat":
            return Triage(label, "none", confidence_intent=round(conf, 3), confidence_department=round(conf, 3),
                          reasons=tuple(reasons))  # fmt: skip
        dept = self.department_of(t)
        reasons.append(f"department:{dept.label}:{dept.confidence:.2f}:{'/'.join(dept.evidence)}")
        return Triage(
            label,
            dept.label,
            emergency=label == "emergency",
            emergency_kind=emergency_kind,
            emergency_tier=tier,
            confidence_intent=round(conf, 3),
            confidence_department=round(dept.confidence, 3),
            reasons=tuple(reasons),
        )


_DIGITS = re.compile(r"\d+")
_CJK = re.compile(r"[\u4e00-\u9fff]")


# Spaces and punctuation: how a message was typed or dictated (voice-to-text has none), not what it says.
_SEPARATORS = re.compile(r"[\s\u3000-\u303f\uff01-\uff0f\uff1a-\uff20!-/:-@\[-`{-~…—·]+")


def features_text(normalized: str) -> str:
    """What the models read: digit runs folded to one digit (a house number is not a signal), and no
    spaces or punctuation (how a message was typed is not what it says)."""
    return _SEPARATORS.sub("", _DIGITS.sub("0", normalized))


_NON_WORD = re.compile(r"[\W_]+")


def intent_input(text: str) -> str:
    """A citizen's text as the intent and emergency-kind models read it (training and inference)."""
    return features_text(normalize(text).text)


def place_only(text: str) -> bool:
    """True for a bare place, number or time with no event in it ("幸福路88号", "我家在幸福小区3栋")."""
    bare = _NON_WORD.sub("", text).lower()
    if not bare or len(bare) > 30 or _EVENT_CHARS.search(bare.replace("电梯", "")):  # a lift is a place
        return False
    after_lead = (0, *sorted(_tiled(_PLACE_LEAD, bare)))
    return _pieces_only(_PLACE_PIECE, bare, after_lead)


def time_only(text: str) -> bool:
    """True for a bare time or duration with nothing happening in it ("已经三天了", "每天晚上")."""
    bare = _NON_WORD.sub("", text).lower()
    if not bare or len(bare) > 20 or not _TIME_UNIT.search(bare):
        return False
    return _pieces_only(_TIME_PIECE, bare)


def is_acknowledgement(features: str, stickers: tuple[str, ...] = ()) -> bool:
    """True for bare thanks, an acknowledgement, a greeting, a test or a question about the bot itself, emoji and
    stickers aside ("收到了 謝謝👍", "您好，请问有人吗", "你是机器人吗")."""
    bare = features.lower()
    for sticker in stickers:
        bare = bare.replace(sticker.lower(), "")
    bare = _NON_WORD.sub("", bare)
    if 0 < len(bare) <= _ABOUT_BOT_MAX and _ABOUT_BOT.search(bare):
        return not (_EVENT_CHARS.search(bare) or _REQUEST_WORDS.search(bare))
    return 0 < len(bare) <= ACKNOWLEDGEMENT_MAX and _pieces_only(_ACKNOWLEDGEMENT_PIECE, bare)


@functools.cache
def shipped() -> ModelClassifier:
    """The shipped classifier, loaded once per process on first use (not while the app is built)."""
    return ModelClassifier.load()


def cluster_words(text: str) -> list[str]:
    """The words text/cluster.py groups texts by: the shipped segmenter over normalised text, without jieba's
    guessing of unknown words (about 40% faster in bulk; a rare name split in two costs a theme little)."""
    return shipped().segmenter.words(normalize(text).text, hmm=False)
