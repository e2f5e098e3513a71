"""How sure the bot is that a message reports an emergency: the one place that decides the tier.

Two tiers, because a wrong emergency reply is as embarrassing as a missed one is dangerous:

* **certain** — an emergency rule found words saying something dangerous is happening to people now
  (``handlers.classify.emergency_rule``), in a message that reads like a live report: short, not told
  in the past or as a risk, not a letter to an official. The citizen gets the emergency reply (110 / 119
  / 120 / 122 first) and an urgent case opens; the conversation is replaced.
* **possible** — the model alone, or a rule's words inside a long letter, a complaint about a hazard or
  a story told after the fact. The citizen is taken in as usual (a case with its number), the reply adds
  one line pointing to the right number, and the case goes to a person on the emergency hour clock. A
  possible emergency never replaces the conversation.

Reviewers: the thresholds and words below are the whole decision; ``python -m bot evaluate-emergency``
prints what they do on real citizens' letters and on a held-out set.
"""

from __future__ import annotations

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


def tier(text: str, *, rule_matched: bool, model_fired: bool, not_now: bool) -> str | None:
    """``CERTAIN``, ``POSSIBLE`` or None for a normalised message, given what the rules and the model said."""
    if not rule_matched:
        return POSSIBLE if model_fired else None
    if not_now or len(text) > LIVE_REPORT_MAX_CHARS or _LETTER.search(text):
        return POSSIBLE
    return CERTAIN
