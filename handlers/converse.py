"""Converse stage: guided intake, one question per turn, with the conversation's state in Redis.

A complaint is only useful to the department that gets it if it says what happened, where, since
when, and whether someone may call back. The forms in ``forms.toml`` declare those questions as
data; this module asks them, validates the answers and, when every required answer is in, hands
the act stage a summary to open the case with.

State is a JSON document under ``<namespace>:converse:<openid>`` with a TTL (30 minutes idle by
default), written only after the turn's message is stored (``Turn.conversation_changed``), so a
message that failed to be written never advances a form. A second key with a longer TTL remembers
that a form was open, so a citizen answering after the state lapsed is told so instead of getting
the generic default. Redis is optional: without it (or when it fails) the pipeline keeps its
single-turn behaviour — classify, open the case, acknowledge.

Answers are stored, never echoed: the reply library forbids quoting citizen text back, so the
confirmation lists *which* items were recorded (``recorded_items``), not what they say.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import re
import tomllib
from pathlib import Path
from typing import Any

import redis

from handlers.autoreply import bare as _bare
from handlers.turn import Turn
from models import CaseType
from text.normalize import normalize
from text.pii import find_personal_data
from text.script import to_traditional

log = logging.getLogger(__name__)

FORMS_FILE = Path(__file__).with_name("forms.toml")
IDLE_TTL = 30 * 60
# How long a lapsed form is remembered, to explain the lapse to a citizen who answers late.
LAPSE_MEMORY = 2 * 60 * 60
# Messages this close together (WeChat's CreateTime, in seconds) while the same answer is being
# typed are one answer: people send a thought in several short messages.
BURST_SECONDS = 5

_CANCEL = frozenset({"取消", "取消投诉", "取消填写", "不投诉了", "退出"})
_RESTART = frozenset({"重新开始", "重来", "重新填写", "重新填"})
_NO = ("不需要", "不用", "无需", "不必", "不要", "不了", "没必要", "算了", "否", "不", "no")
_YES = ("需要", "要", "是", "好", "可以", "同意", "愿意", "行", "嗯", "对", "ok", "yes")
_LANDLINE = re.compile(r"(?<!\d)0\d{2,3}-?\d{7,8}(?!\d)")
# Where and when, as people put them in a first message. Deliberately narrow: a wrong guess skips a
# question (the summary still carries the whole message), a miss only costs one more question.
_PLACE = re.compile(
    r"[\u4e00-\u9fff\d]{2,10}?(?:小区|花园|家园|新村|公寓|大厦|广场|公园|社区|街道|村|镇|乡|菜市场|农贸市场|"
    r"地铁站|公交站|火车站|小学|中学|大学|医院)|"
    r"[\u4e00-\u9fff]{2,8}?(?:路|街|大道|巷|弄|胡同)(?:\d+号|与|和|交叉口|路口|口)"
)
_TIME = re.compile(
    r"(?:今天|昨天|前天|今早|今晚|昨晚|昨夜|今年|去年|前年|上周|上个?星期|上个?月|本月|这个月|这几天|这段时间|最近|"
    r"每天|每晚|天天|夜里|半夜|凌晨|深夜|\d{1,2}月\d{1,2}[日号]|\d{1,2}[点时]|\d{4}年|"
    r"(?:\d+|[一二两三四五六七八九十几半]+)个?多?(?:天|周|星期|礼拜|月|年|小时))"
    r"(?:早上|上午|中午|下午|傍晚|晚上|夜里|半夜|凌晨)?"
)
_BOILERPLATE = re.compile(r"你好|您好|请问|我要|我想|投诉|举报|反映|一下|问题|情况|[\W_]+")


@dataclasses.dataclass(frozen=True)
class Field:
    """One question of a form (see the key reference in ``forms.toml``)."""

    code: str
    label: str
    prompt: str
    datatype: str
    required: bool = True
    min_length: int = 1
    invalid: str | None = None
    only_if: str | None = None
    prefill: str | None = None
    screen: str = "full"

    @property
    def merges(self) -> bool:
        """Free-text answers continue over a burst of messages; yes/no and numbers do not."""
        return self.datatype in ("text", "place")


@dataclasses.dataclass(frozen=True)
class Form:
    """A guided intake: its questions, the case it opens and the templates around it."""

    name: str
    case_type: CaseType
    intents: tuple[str, ...]
    openers: frozenset[str]
    prefill_min_length: int
    done: str
    restarted: str
    cancelled: str
    expired: str
    fields: tuple[Field, ...]

    def field(self, code: str | None) -> Field | None:
        """The field called ``code`` (None if there is none)."""
        return next((f for f in self.fields if f.code == code), None)


def load_forms(path: Path = FORMS_FILE) -> dict[str, Form]:
    """The intake forms declared in ``path``, by name."""
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    forms = {}
    for name, spec in data.items():
        fields = tuple(Field(**f) for f in spec["fields"])
        forms[name] = Form(
            name=name,
            case_type=CaseType(spec["case_type"]),
            intents=tuple(spec["intents"]),
            openers=frozenset(_bare(o) for o in spec.get("openers", ())),
            prefill_min_length=int(spec.get("prefill_min_length", 6)),
            done=spec["done"],
            restarted=spec["restarted"],
            cancelled=spec["cancelled"],
            expired=spec["expired"],
            fields=fields,
        )
    return forms


@functools.cache
def shipped_forms() -> dict[str, Form]:
    """The forms shipped in ``handlers/forms.toml`` (read once per process)."""
    return load_forms()


@dataclasses.dataclass(frozen=True)
class Completed:
    """A form with every required answer: what the act stage needs to open the case."""

    form: Form
    summary: str
    # The answers a classifier should read for the department (what happened, where).
    topic: str
    recorded: tuple[str, ...]
    confidence: float


class Conversations:
    """Starts, continues, cancels and completes intake forms; reads and writes their state."""

    def __init__(
        self,
        namespace: str,
        forms: dict[str, Form] | None = None,
        *,
        ttl: int = IDLE_TTL,
        burst_seconds: int = BURST_SECONDS,
    ) -> None:
        self.namespace = namespace
        # None: the shipped forms, read on the first message rather than while the app is built.
        self._forms = forms
        self.ttl = ttl
        self.burst_seconds = burst_seconds

    @functools.cached_property
    def forms(self) -> dict[str, Form]:
        """The intake forms by code."""
        return self._forms if self._forms is not None else shipped_forms()

    @functools.cached_property
    def _by_intent(self) -> dict[str, Form]:
        return {intent: form for form in self.forms.values() for intent in form.intents}

    # -- state in Redis ------------------------------------------------------------------------

    def key(self, openid: str) -> str:
        """The Redis key of a citizen's conversation state."""
        return f"{self.namespace}:converse:{openid}"

    def _lapse_key(self, openid: str) -> str:
        return f"{self.namespace}:converse-open:{openid}"

    def campaign_key(self, openid: str) -> str:
        """The Redis key saying which campaign (征集) the citizen is inside (its id, with a TTL)."""
        return f"{self.namespace}:campaign-in:{openid}"

    def keys(self, openid: str) -> tuple[str, str, str]:
        """The keys ``load`` reads: a caller can read them ahead, with its own round trip (``turn.prefetched``)."""
        return self.key(openid), self._lapse_key(openid), self.campaign_key(openid)

    def load(self, turn: Turn) -> None:
        """Read the citizen's open form into ``turn.conversation`` (read ahead, or one round trip; Redis down: none)."""
        if turn.redis is None:
            return
        keys = self.keys(turn.msg.openid)
        if turn.prefetched is not None and all(k in turn.prefetched for k in keys):
            raw, open_marker, campaign = (turn.prefetched[k] for k in keys)
        else:
            try:
                raw, open_marker, campaign = turn.redis.mget(*keys)
            except redis.RedisError as exc:
                log.warning("redis unavailable for conversation state (%s); single-turn replies", exc)
                turn.redis = None
                return
        turn.in_campaign = _campaign_id(campaign)
        if raw is not None:
            state = json.loads(raw)
            if state.get("form") in self.forms:
                turn.conversation = state
                return
        if isinstance(open_marker, bytes):
            open_marker = open_marker.decode()
        if open_marker in self.forms:
            turn.conversation_lapsed = open_marker

    def save(self, turn: Turn, pipe: Any = None) -> None:
        """Write (or delete) the state the turn decided, after the message was stored.

        ``pipe``: a Redis pipeline to queue the commands on (its owner executes it, with other
        commands, in one round trip, and handles its errors); without one they are sent here.
        """
        if not (turn.conversation_changed or turn.campaign_joined is not None) or turn.redis is None:
            return
        openid = turn.msg.openid
        try:
            own = pipe is None
            if own:
                pipe = turn.redis.pipeline(transaction=True)
            if turn.conversation_changed:
                if turn.conversation is None:
                    pipe.delete(self.key(openid), self._lapse_key(openid))
                else:
                    pipe.set(self.key(openid), json.dumps(turn.conversation, ensure_ascii=False), ex=self.ttl)
                    pipe.set(self._lapse_key(openid), turn.conversation["form"], ex=LAPSE_MEMORY)
            if turn.campaign_joined:
                # membership_ttl is at least a second (handlers/campaign.py).
                pipe.set(self.campaign_key(openid), turn.campaign_joined, ex=turn.campaign_ttl)
            if own:
                pipe.execute()
        except redis.RedisError as exc:
            # The citizen's next message starts afresh: worse than continuing, better than failing.
            log.warning("could not save conversation state: %s", exc)

    # -- deciding ------------------------------------------------------------------------------

    def form_for(self, intent: str) -> Form | None:
        """The form a message of ``intent`` starts, if any."""
        return self._by_intent.get(intent)

    def opener(self, text: str) -> Form | None:
        """The form a message that only says "I want to complain" starts."""
        bare = _bare(text)
        return next((f for f in self.forms.values() if bare in f.openers), None)

    def screening(self, turn: Turn) -> str:
        """How to screen this message for emergencies: "full", or "rules" for a bare answer to a question."""
        state = turn.conversation
        if state is None:
            return "full"
        field = self.forms[state["form"]].field(state.get("asking"))
        return field.screen if field is not None else "full"

    def traditional(self, turn: Turn, written_traditional: bool) -> None:
        """Answer in the script of the conversation when this message is too short to tell ("是", a number)."""
        state = turn.conversation
        if written_traditional or state is None or not state.get("traditional"):
            return
        text = normalize(turn.msg.text).text
        # Nothing in it that Traditional writes differently: it cannot show a change of script.
        if to_traditional(text) == text:
            turn.traditional = True

    def command(self, turn: Turn) -> bool:
        """取消 / 重新开始 (either script) while a form is open; True if handled."""
        state = turn.conversation
        if state is None:
            return False
        bare = _bare(turn.msg.text)
        form = self.forms[state["form"]]
        if bare in _CANCEL:
            self._set(turn, None)
            turn.reply_key = form.cancelled
            return True
        if bare in _RESTART:
            first = form.fields[0]
            fresh = self._new_state(turn, form, state.get("confidence", 1.0), bool(state.get("traditional")))
            fresh["asking"] = first.code
            self._set(turn, fresh)
            turn.reply_key = form.restarted
            return True
        return False

    def start(self, turn: Turn, form: Form, confidence: float, *, opening_counts: bool = True) -> Completed | None:
        """Open ``form`` with this message; prefill what it already says, ask the rest."""
        norm = normalize(turn.msg.text)
        state = self._new_state(turn, form, confidence, norm.traditional)
        if opening_counts:
            for field in form.fields:
                if field.prefill == "phone":
                    if phone_number(turn.msg.text):
                        self._take(form, field, state, turn.msg.text)
                    continue
                value = self._prefill(form, field, turn.msg.text, norm.text)
                if value:
                    state["answers"][field.code] = value
                    if field.prefill == "opening":
                        state["last_field"] = field.code
        return self._advance(turn, form, state)

    def answer(self, turn: Turn, location: str | None = None) -> Completed | None:
        """Take this message as the answer to the open question (or as more of the last answer)."""
        state = turn.conversation
        assert state is not None
        form = self.forms[state["form"]]
        created = int(turn.msg.create_time.timestamp())
        last = form.field(state.get("last_field"))
        if (
            location is None
            and last is not None
            and last.merges
            and 0 <= created - int(state.get("last_at", 0)) <= self.burst_seconds
        ):
            # More of what the citizen was already saying: one answer, and no second prompt.
            state["answers"][last.code] = f"{state['answers'].get(last.code, '')}\n{turn.msg.text}".strip()
            state["last_at"] = created
            self._set(turn, state)
            return None
        state["last_at"] = created
        state["last_field"] = None
        field = form.field(state.get("asking"))
        if location is not None:
            # A shared location answers "where", whichever question is open.
            place = next((f for f in form.fields if f.datatype == "place"), None)
            if place is None:
                self._reask(turn, form, state, field)
                return None
            state["answers"][place.code] = location
            return self._advance(turn, form, state)
        if field is None:
            return self._advance(turn, form, state)
        ok = self._take(form, field, state, turn.msg.text)
        if not ok:
            self._reask(turn, form, state, field, invalid=True)
            return None
        if field.merges:
            state["last_field"] = field.code
        return self._advance(turn, form, state)

    def attachment(self, turn: Turn) -> None:
        """A picture or video while a form is open: counted for the summary, the open question asked again."""
        state = turn.conversation
        assert state is not None
        form = self.forms[state["form"]]
        state["attachments"] = int(state.get("attachments", 0)) + 1
        state["last_field"] = None
        self._reask(turn, form, state, form.field(state.get("asking")))

    def drop(self, turn: Turn) -> None:
        """Close any open form (an emergency takes over the conversation), or forget one that lapsed."""
        if turn.conversation is not None or turn.conversation_lapsed:
            self._set(turn, None)

    def lapsed(self, turn: Turn) -> bool:
        """Tell a citizen whose form lapsed that it did (once), instead of the generic default."""
        form = self.forms.get(turn.conversation_lapsed or "")
        if form is None:
            return False
        self._set(turn, None)
        turn.reply_key = form.expired
        return True

    # -- helpers -------------------------------------------------------------------------------

    def _new_state(self, turn: Turn, form: Form, confidence: float, traditional: bool) -> dict[str, Any]:
        return {
            "form": form.name,
            "asking": None,
            "answers": {},
            "traditional": traditional,
            "confidence": confidence,
            "last_at": int(turn.msg.create_time.timestamp()),
            "last_field": None,
            "attachments": 0,
        }

    @staticmethod
    def _set(turn: Turn, state: dict[str, Any] | None) -> None:
        turn.conversation = state
        turn.conversation_changed = True

    def _prefill(self, form: Form, field: Field, text: str, normalized: str) -> str | None:
        if field.prefill == "opening":
            said = _BOILERPLATE.sub("", normalized)
            return text.strip() if len(said) >= form.prefill_min_length else None
        pattern = {"place": _PLACE, "time": _TIME}.get(field.prefill or "")
        if pattern is None:
            return None
        m = pattern.search(normalized)
        return m.group(0) if m else None

    def _take(self, form: Form, field: Field, state: dict[str, Any], text: str) -> bool:
        """Validate and store one answer; False means ask again."""
        answers = state["answers"]
        bare = _bare(text)
        if field.datatype == "consent":
            phone = phone_number(text)
            if phone:
                answers[field.code] = "是"
                for dependant in form.fields:
                    if dependant.only_if == field.code and dependant.datatype == "phone":
                        answers[dependant.code] = phone
                return True
            consent = _consent(bare)
            if consent is None:
                return False
            answers[field.code] = "是" if consent else "否"
            return True
        if field.datatype == "phone":
            phone = phone_number(text)
            if phone:
                answers[field.code] = phone
                return True
            if field.only_if and _consent(bare) is False:
                # "不需要了" to the number question: no call-back after all.
                answers[field.only_if] = "否"
                return True
            return False
        if len(bare) < field.min_length:
            return False
        answers[field.code] = text.strip()
        return True

    def _next(self, form: Form, state: dict[str, Any]) -> Field | None:
        answers = state["answers"]
        skipped = set(state.get("skipped", ()))
        for field in form.fields:
            if field.code in answers or field.code in skipped:
                continue
            if field.only_if and answers.get(field.only_if) != "是":
                continue
            return field
        return None

    def _advance(self, turn: Turn, form: Form, state: dict[str, Any]) -> Completed | None:
        asked = form.field(state.get("asking"))
        if asked is not None and not asked.required and asked.code not in state["answers"]:
            # An optional question is asked once.
            state.setdefault("skipped", []).append(asked.code)
        field = self._next(form, state)
        if field is None:
            self._set(turn, None)
            return self._completed(form, state)
        state["asking"] = field.code
        self._set(turn, state)
        turn.reply_key = field.prompt
        return None

    def _reask(
        self, turn: Turn, form: Form, state: dict[str, Any], field: Field | None, *, invalid: bool = False
    ) -> None:
        self._set(turn, state)
        if field is None:
            self._advance(turn, form, state)
            return
        turn.reply_key = (field.invalid or field.prompt) if invalid else field.prompt

    @staticmethod
    def _completed(form: Form, state: dict[str, Any]) -> Completed:
        answers = state["answers"]
        lines = [f"{f.label}：{answers[f.code]}" for f in form.fields if f.code in answers]
        recorded = [f.code for f in form.fields if f.code in answers and f.datatype != "consent"]
        if state.get("attachments"):
            lines.append(f"附件：图片或视频{state['attachments']}个（见本诉求的附件）")
            recorded.append("attachments")
        topic = " ".join(answers.get(f.code, "") for f in form.fields if f.merges)
        return Completed(form, "\n".join(lines), topic, tuple(recorded), float(state.get("confidence", 1.0)))


def _campaign_id(raw: Any) -> int | None:
    """The campaign id stored under the citizen's campaign key (None: absent or not a number)."""
    if isinstance(raw, bytes):
        raw = raw.decode("ascii", "replace")
    return int(raw) if isinstance(raw, str) and raw.isdigit() else None


def _consent(bare: str) -> bool | None:
    # "不需要" contains "需要": the refusals are checked first.
    if any(bare.startswith(w) for w in _NO):
        return False
    if any(bare.startswith(w) for w in _YES):
        return True
    return None


def phone_number(text: str) -> str | None:
    """The first mobile (or landline with area code) in ``text``, digits only."""
    for found in find_personal_data(text):
        if found.kind == "mobile":
            digits = re.sub(r"\D", "", text[found.start : found.end])
            return digits[-11:]
    m = _LANDLINE.search(normalize(text).text)
    return m.group(0).replace("-", "") if m else None


def location_text(raw_xml: str, label: str) -> str | None:
    """A WeChat location message as an answer to "where": its label, else its coordinates."""
    if label.strip():
        return label.strip()
    x = re.search(r"<Location_X>\s*(-?[\d.]+)\s*</Location_X>", raw_xml)
    y = re.search(r"<Location_Y>\s*(-?[\d.]+)\s*</Location_Y>", raw_xml)
    if x and y:
        return f"位置坐标 {x.group(1)},{y.group(1)}"
    return None
