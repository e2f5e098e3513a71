"""How sure the bot is that a message reports an emergency: the one place that decides the tier.

Two tiers, because a wrong emergency reply is as embarrassing as a missed one is dangerous:

* **certain** — an emergency rule found words saying something dangerous is happening to people now
  (``handlers.classify.emergency_rule``), in a message that reads like a live report: short, not told
  in the past or as a risk or a worry, not thanks for a past rescue, not a letter to an official. The
  citizen gets the emergency reply (110 / 119 / 120 / 122 first) and an urgent case opens; the
  conversation is replaced.
* **possible** — the model alone, or a rule's words inside a long letter, a complaint about a hazard or
  a story told after the fact. The citizen is taken in as usual (a case with its number), the reply adds
  one line pointing to the right number, and the case goes to a person on the emergency hour clock. A
  possible emergency never replaces the conversation.

Reviewers: the thresholds and words below are the whole decision; ``python -m bot evaluate-emergency``
prints what they do on real citizens' letters and on a held-out set.
"""

from __future__ import annotations

import itertools
import re

CERTAIN = "certain"
POSSIBLE = "possible"

# A cry for help is short: real reports of a fire, a fight or a collapse run to a sentence or three.
# Longer messages are letters, and a letter that names a danger is nearly always a complaint about one.
LIVE_REPORT_MAX_CHARS = 120

# Words of a letter or a complaint about a standing problem, not of a report of something happening now
# (read on normalised Simplified text).
_LETTER = re.compile(
    r"尊敬的|领导|书记|市长|县长|区长|厅长|局长|主任|信箱|"
    r"投诉|反映|建议|隐患|无人管|没人管|无人问津|不管不问|不作为|"
    r"多年|长期|常年|长年|屡次|一直以来|恳请|"
    r"(希望|请求|要求|请).{0,10}(部门|政府|领导|相关单位|有关单位)"
)


# A danger told as a worry or a what-if ("怕会掉下来砸到人", "真要着火消防车根本进不来", "会不会漏电"), thanks for a
# rescue that is over ("谢谢前两天帮我们灭火的消防员"), or a request to inspect or fix something ("请供电公司来看看"):
# the rules' words are there, but nothing is happening to anyone yet, or any more. Taken in, never the
# emergency reply. A bare "我好怕" is fear, not a worry about what may happen: the worry needs what it fears.
_WORRY = re.compile(
    r"(怕|担心|担忧|害怕|恐怕|就怕|生怕|唯恐).{0,12}(会|哪天|有一天|万一|以后|到时|迟早|早晚|出事|出人命|伤到|砸到|砸伤|"
    r"掉下来|倒塌|塌下来|烧起来|着火|起火|漏电|触电|电到|爆炸|中毒|淹|溺|撞到|摔)|"
    r"容易(着火|起火|引起|引发|发生|出事|触电|漏电|砸|摔|淹)|迟早|早晚会|哪天|有一天|到时候?|"
    r"真要|真的要是|要真|真(的)?(出|发生)(了)?事|以防|防患|"
    r"(请|麻烦|希望|尽快|早点|及时).{0,10}(检查|排查|维修|修一下|修理|处理一下|管一管|管管)"
)
# ... unless the message also cries for help now: "我好怕他会打死我妈 快来" is a report, whatever it fears next.
# (尽快 is an official's "as soon as convenient", not a cry.)
_URGENT = re.compile(r"救命|救救|(?<!尽)(快来|快点来|快派|快叫)|赶紧来|马上来|正在|拜托快")
_THANKS = re.compile(
    r"(谢谢|感谢|多谢|感激|感恩|唔该晒|锦旗|表扬|致谢).{0,30}(消防|民警|警察|警官|医生|护士|救护|公安|派出所|小哥|同志|"
    r"师傅|救援|救了|救出|帮(我|忙)|及时)"
)
# ... unless the thanks are a goodbye ("不想活了，谢谢你们以前的帮忙").
_FAREWELL = re.compile(r"不想活|活不下去|想死|自杀|轻生|解脱|(别|不要|唔好)找我|永别|遗书|来世|下辈子")
# The same for a message written in pinyin ("wan yi zhao huo le zen me ban"): what-ifs, worries, the past, thanks.
_NOT_HAPPENING_PINYIN_WORDS = frozenset(
    "wanyi ruguo yaoshi pahui danxin zuotian qiantian shangci qunian yiqian ganxie duoxie".split()
)
_URGENT_PINYIN = frozenset("jiuming kuailai kuaidian kuaijiao zhengzai".split())
_LETTERS = re.compile(r"[a-z]+")


def _not_happening(text: str) -> bool:
    """A worry, a what-if, a request to inspect, or thanks for a rescue that is over (see above)."""
    if _WORRY.search(text) and not _URGENT.search(text):
        return True
    if _THANKS.search(text) and not _FAREWELL.search(text) and not _URGENT.search(text):
        return True
    # Pinyin word by word, or two words together ("wan yi"); a cry for help (jiu ming, kuai lai) keeps it a report.
    words = _LETTERS.findall(text.lower())
    pairs = {a + b for a, b in itertools.pairwise(words)} | set(words)
    return len(words) >= 3 and not _URGENT_PINYIN & pairs and bool(_NOT_HAPPENING_PINYIN_WORDS & pairs)


def tier(text: str, *, rule_matched: bool, model_fired: bool, not_now: bool) -> str | None:
    """``CERTAIN``, ``POSSIBLE`` or None for a normalised message, given what the rules and the model said."""
    if not rule_matched:
        return POSSIBLE if model_fired else None
    if not_now or len(text) > LIVE_REPORT_MAX_CHARS or _LETTER.search(text) or _not_happening(text):
        return POSSIBLE
    return CERTAIN
