"""Triage, converse and act: decide what a message means, guide it to a case or answer it, pick the reply.

Message kinds and events map to actions in registries with a named fallback (store and stay silent),
so a new kind of message is one entry, not another branch.

A text message goes through these steps, the first that answers wins:

1. emergency (handlers/urgency.py) — a *certain* one gets 110/119/120/122 first, whatever else is going on; a
   *possible* one is taken in as an urgent case a person reads first, its reply pointing to the number (an
   open form is closed either way);
2. 取消 / 重新开始 of an open intake form;
   then a campaign's keyword (alone: its introduction; with an opinion: stored and thanked);
3. status — "查询 <受理编号>", "我的诉求" (the citizen's own cases only);
4. the open intake form's current question;
5. a satisfaction rating (1–5) answering the prompt sent after a case closed;
6. inside a campaign (征集, handlers/campaign.py): an opinion, thanked (a complaint goes on as a case);
7. keyword rules (the platform's built-in auto-reply, run by us);
8. by intent: a complaint starts its intake form; a question gets a vetted FAQ answer when one is
   close enough, else an inquiry case; suggestions and praise are filed at once; anything else gets
   the default reply, at most once an hour.

Without Redis there is no conversation state: a complaint is filed in one turn, as before.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Mapping
from zoneinfo import ZoneInfo

from cases.sla import deadline_for
from handlers import notice, rating, status
from handlers.autoreply import AutoReplies, default_allowed
from handlers.campaign import Campaigns
from handlers.classify import shipped
from handlers.converse import Completed, Conversations, location_text
from handlers.emergency import emergency_rule
from handlers.store import Store
from handlers.triage import MIN_CONFIDENCE, Classifier, Triage
from handlers.turn import Turn
from handlers.urgency import POSSIBLE
from models import CaseStatus, CaseType
from replies.library import Library
from text.normalize import normalize

log = logging.getLogger(__name__)

Action = Callable[[Turn], None]

# Intent → (case type, acknowledgement template). Chitchat opens no case.
_INTENT_CASES = {
    "complaint": (CaseType.COMPLAINT, "complaint_ack"),
    "inquiry": (CaseType.INQUIRY, "inquiry_ack"),
    "suggestion": (CaseType.SUGGESTION, "suggestion_ack"),
    "praise": (CaseType.PRAISE, "praise_thanks"),
}
EMERGENCY_TEMPLATES = {
    "police": "emergency_police",
    "fire": "emergency_fire",
    "medical": "emergency_medical",
    "traffic": "emergency_traffic",
}
# A possible emergency (handlers/urgency.py): the citizen is taken in, and one line points to the number.
POSSIBLE_EMERGENCY_TEMPLATES = {kind: f"possible_{key}" for kind, key in EMERGENCY_TEMPLATES.items()}
POSSIBLE_EMERGENCY_CASES = {"inquiry": CaseType.INQUIRY, "suggestion": CaseType.SUGGESTION}
# A filed request (web form, Open311, hotline) is a case whatever it reads as; chit-chat in a form is a complaint
# a person reads first (needs_human decides), and each type has its acknowledgement.
_FORM_CASES = {intent: case_type for intent, (case_type, _) in _INTENT_CASES.items()}
# complaint_ack_form leaves out "reply to this account" (a city app's user has none); complaint_ack stands in for it
# while it is not published.
_FORM_ACKS = {
    CaseType.COMPLAINT: "complaint_ack_form",
    CaseType.REPORT: "complaint_ack_form",
    CaseType.HELP: "complaint_ack_form",
    CaseType.INQUIRY: "inquiry_ack",
    CaseType.SUGGESTION: "suggestion_ack",
    CaseType.PRAISE: "praise_thanks",
}
_FORM_FALLBACKS = {"complaint_ack_form": "complaint_ack"}


@dataclasses.dataclass(frozen=True)
class EmergencyRoute:
    """What an emergency tier does with a message: the case it opens and the template that answers."""

    case_type: CaseType
    template: str
    takes_in: bool  # the conversation goes on as a case read by a person (possible), or is replaced (certain)


def emergency_route(triage: Triage) -> EmergencyRoute | None:
    """The route of a certain or possible emergency (both open an urgent case); None for anything else."""
    kind = triage.emergency_kind or ""
    if triage.emergency:
        return EmergencyRoute(CaseType.EMERGENCY, EMERGENCY_TEMPLATES.get(kind, "emergency"), takes_in=False)
    if triage.emergency_tier == POSSIBLE:
        case_type = POSSIBLE_EMERGENCY_CASES.get(triage.intent, CaseType.HELP)
        return EmergencyRoute(case_type, POSSIBLE_EMERGENCY_TEMPLATES.get(kind, "possible_emergency"), takes_in=True)
    return None
# Worded as a question: worth looking up among the FAQs whatever the intent model said
# ("投诉电话是多少" mentions a complaint but asks for a number).
_QUESTION = re.compile(r"[?？]|吗|怎么|怎样|如何|多少|哪里|哪儿|什么|几点|是否|能否|请问")


class Actor:
    """Runs the action registered for a message's kind or event."""

    def __init__(
        self,
        classifier: Classifier | None,
        store: Store,
        timezone: str = "Asia/Shanghai",
        *,
        library: Library,
        conversations: Conversations,
        working_days: Mapping[CaseType, int] | None = None,
    ) -> None:
        # None: the shipped models, loaded on the first message rather than at start-up.
        self._classifier = classifier
        self.working_days = working_days
        self.store = store
        self.tz = ZoneInfo(timezone)
        self.conversations = conversations
        self.autoreplies = AutoReplies(library)
        self.campaigns = Campaigns(library)
        self.message_actions: dict[str, Action] = {
            "text": self.on_text,
            "voice": self.on_voice,
            "image": self.on_media,
            "video": self.on_media,
            "shortvideo": self.on_media,
            "location": self.on_media,
            "link": self.on_media,
            "form": self.on_form,
        }
        self.event_actions: dict[str, Action] = {
            "subscribe": self.on_follow,
            "subscribe_scan": self.on_follow,
            "scan": self.on_scan,
            "unsubscribe": self.on_unfollow,
            "click": self.on_click,
            # 订阅通知 (bot/notice.py): the citizen's consent and its changes, and WeChat's delivery report.
            "subscribe_msg_popup_event": notice.on_popup,
            "subscribe_msg_change_event": notice.on_change,
            "subscribe_msg_sent_event": notice.on_sent,
        }

    def __call__(self, turn: Turn) -> None:
        """Act on one recorded message (sets ``turn.reply_key`` when something must be said)."""
        msg = turn.msg
        if msg.is_event:
            action = self.event_actions.get(msg.event or "", self.store_only)
        else:
            action = self.message_actions.get(msg.kind, self.store_only)
        action(turn)

    # -- fallbacks and events ------------------------------------------------------------------

    def store_only(self, turn: Turn) -> None:
        """Unknown kinds and silent events (VIEW, LOCATION …): stored, answered ``success``."""
        log.debug("stored %s/%s without reply", turn.msg.kind, turn.msg.event)

    def on_follow(self, turn: Turn) -> None:
        """A follow (or a follow through a QR code): welcome with the personal-information notice."""
        self._set_subscribed(turn, True)
        turn.reply_key = "welcome"
        self.campaigns.join_event(turn, follow=True)  # a campaign's QR code: inside it, welcomed all the same

    def on_scan(self, turn: Turn) -> None:
        """A follower scanned a QR code: a campaign's introduction, else what the account does."""
        if not self.campaigns.join_event(turn):
            turn.reply_key = "default"

    def on_unfollow(self, turn: Turn) -> None:
        """An unfollow: remember it (no message can reach them now), say nothing."""
        self._set_subscribed(turn, False)

    def on_click(self, turn: Turn) -> None:
        """A menu click: a campaign's introduction, else the template named after the menu key if published
        (``menu_<key>``), else default."""
        if self.campaigns.join_event(turn):
            return
        turn.reply_key = f"menu_{turn.msg.event_key}" if turn.msg.event_key else "default"
        turn.unpublished_key = "default"

    # -- messages ------------------------------------------------------------------------------

    def on_voice(self, turn: Turn) -> None:
        """Voice: act on WeChat's transcription; without one, ask for text."""
        if turn.msg.text.strip():
            self.on_text(turn)
        else:
            turn.reply_key = "voice_unrecognized"

    def on_media(self, turn: Turn) -> None:
        """A picture, video, location or link: part of an open intake form, or a request for words."""
        self.conversations.load(turn)
        state = turn.conversation
        if state is not None:
            # No words to tell the script by: answer in the conversation's.
            turn.traditional = bool(state.get("traditional"))
            if turn.msg.kind == "location":
                place = location_text(turn.msg.raw_xml, turn.msg.text)
                if place is not None:
                    self._took(turn, self.conversations.answer(turn, location=place))
                    return
            if turn.msg.kind in ("image", "video", "shortvideo"):
                self.conversations.attachment(turn)
                return
        turn.reply_key = "media_received"

    def on_text(self, turn: Turn) -> None:
        """Words: emergency first, then the open conversation, keyword rules, and the intent's action."""
        self.conversations.load(turn)
        norm = normalize(turn.msg.text)
        self.conversations.traditional(turn, norm.traditional)
        # A bare answer to an intake question ("人民路") is screened by the emergency rules only: the
        # model, tuned for recall on whole messages, reads some addresses as emergencies.
        if self.conversations.screening(turn) == "full" or emergency_rule(norm.text):
            turn.triage = self._classify(turn.msg.text)
            route = emergency_route(turn.triage)
            if route is not None:
                # Certain: the emergency reply replaces the conversation. Possible: taken in as a case a
                # person reads first, on the hour clock; the reply points to the number (handlers/urgency.py).
                self.conversations.drop(turn)
                self._open_case(turn, route.case_type, urgent=True)
                assert turn.case is not None
                turn.case["needs_triage"] = turn.case["needs_triage"] or route.takes_in
                turn.reply_key = route.template
                return
        if self.conversations.command(turn) or status.answer(turn):
            return
        if self.campaigns.join_text(turn, norm.text, self._classify):
            self.conversations.drop(turn)  # the keyword is a new start: an open form is closed
            return
        if turn.conversation is not None:
            self._took(turn, self.conversations.answer(turn))
            return
        if rating.answer(turn) or self.campaigns.opinion(turn):
            return
        keyword = self.autoreplies.keyword(turn.session, turn.generation, turn.msg.text)
        if keyword is not None:
            turn.reply_key = keyword
            return
        assert turn.triage is not None  # screened in full: no form is open
        self._by_intent(turn, turn.triage, norm.text)

    def on_form(self, turn: Turn) -> None:
        """A request filed through another door (web form, Open311, hotline): always a case, emergencies first.

        No conversation, keyword rules or FAQ: the citizen filed it as a request, so a person answers it. The
        channel's case type and department win over the classifier's; an unsure reading goes to triage.
        """
        filed = turn.msg.filed
        assert filed is not None, "a form message carries what was filed"
        triage = self._classify(turn.msg.text)
        turn.triage = triage
        route = emergency_route(triage)
        if route is not None:
            self._open_case(turn, route.case_type, urgent=True, summary=filed.summary)
            assert turn.case is not None
            turn.case["needs_triage"] = turn.case["needs_triage"] or route.takes_in
            turn.reply_key = route.template if filed.acknowledge else None
            return
        case_type = CaseType(filed.case_type) if filed.case_type else _FORM_CASES.get(triage.intent, CaseType.COMPLAINT)
        # What the channel states is certain; a form read as chit-chat is filed for a person to read first.
        chat = triage.intent == "chitchat" and not filed.case_type
        turn.triage = dataclasses.replace(
            triage,
            intent=case_type.value if case_type.value in _FORM_CASES else "complaint",
            department=filed.department or triage.department,
            confidence_intent=1.0 if filed.case_type else 0.0 if chat else triage.confidence_intent,
            confidence_department=1.0 if filed.department else triage.confidence_department,
        )
        self._open_case(turn, case_type, summary=filed.summary)
        if filed.acknowledge:
            turn.reply_key = "review_ack" if turn.triage.needs_human else _FORM_ACKS[case_type]
            turn.unpublished_key = _FORM_FALLBACKS.get(turn.reply_key)

    def _by_intent(self, turn: Turn, triage: Triage, text: str) -> None:
        conversing = turn.redis is not None
        opener = self.conversations.opener(turn.msg.text) if conversing else None
        if opener is not None:
            # "我要投诉" and nothing else: the form asks what happened.
            self._took(turn, self.conversations.start(turn, opener, 1.0, opening_counts=False))
            return
        if triage.intent in ("inquiry", "chitchat") or _QUESTION.search(text):
            # A vetted answer to a common question: no case, the exchange is stored with the
            # template version that answered it (a person can review FAQ traffic from the messages).
            match = self.autoreplies.faq(turn.session, turn.generation, turn.msg.text)
            if match is not None:
                turn.reply_key = match.key
                return
        form = self.conversations.form_for(triage.intent) if conversing else None
        if form is not None and triage.confidence_intent >= MIN_CONFIDENCE:
            self._took(turn, self.conversations.start(turn, form, triage.confidence_intent))
            return
        if (triage.intent == "chitchat" or triage.needs_human) and self.conversations.lapsed(turn):
            # Most likely a late answer ("需要", "是") to a form that lapsed: say so, once, rather
            # than file it as something it is not.
            return
        spec = _INTENT_CASES.get(triage.intent)
        if spec is None:
            # The platform's default reply: once an hour; within the hour, silence ("success").
            if default_allowed(turn.redis, self.conversations.namespace, turn.msg.openid):
                turn.reply_key = "default"
            return
        case_type, template = spec
        self._open_case(turn, case_type)
        # Unsure what it is or who should handle it: a person reads it first, and the citizen is told so.
        turn.reply_key = "review_ack" if triage.needs_human else template

    def _took(self, turn: Turn, completed: Completed | None) -> None:
        """An intake step was taken; when it completed the form, open the case from the answers."""
        if completed is None:
            return
        # The department is read from what happened and where, as one message would have said it.
        triage = self._classify(completed.topic)
        turn.triage = dataclasses.replace(
            triage,
            intent=completed.form.case_type.value,
            emergency=False,
            emergency_kind=None,
            emergency_tier=None,
            confidence_intent=max(triage.confidence_intent, completed.confidence),
        )
        self._open_case(turn, completed.form.case_type, summary=completed.summary)
        turn.reply_key = completed.form.done
        turn.variables["recorded_items"] = completed.recorded

    def _classify(self, text: str) -> Triage:
        return (self._classifier or shipped()).classify(text)

    def classify(self, text: str) -> Triage:
        """Triage ``text`` with the configured classifier (no database needed)."""
        return self._classify(text)

    def load_classifier(self) -> None:
        """Load the shipped classifier now (about 0.4 s), rather than during a citizen's first message."""
        if self._classifier is None:
            shipped()

    # -- helpers -------------------------------------------------------------------------------

    def _set_subscribed(self, turn: Turn, value: bool) -> None:
        turn.subscribed = value

    def _open_case(self, turn: Turn, case_type: CaseType, *, urgent: bool = False, summary: str | None = None) -> None:
        triage = turn.triage
        assert triage is not None
        department = triage.department if triage.department != "none" else "other"
        deadline = deadline_for(case_type, turn.now, self.tz, urgent=urgent, working_days=self.working_days)
        # The number is the local date of acceptance + the opening message's id: unique (a message
        # opens at most one case) and known before anything is written.
        message_id = self.store.message_id(turn)
        number = f"{turn.now.astimezone(self.tz):%Y%m%d}{message_id:05d}"
        turn.case = {
            "number": number,
            "case_type": case_type,
            "status": CaseStatus.ACCEPTED,
            "department": department,
            "is_urgent": urgent,
            "emergency_kind": triage.emergency_kind,
            "needs_triage": triage.needs_human,
            "citizen_id": turn.citizen_id,
            "opening_message_id": message_id,
            "summary": (turn.msg.text if summary is None else summary)[:2000],
            "opened_at": turn.now,
            "due_at": deadline.due_at,
            "sla_amount": deadline.amount,
            "sla_unit": deadline.unit,
            "owner_department": department,
            "channel": turn.msg.channel,
        }
        turn.variables.update(case_number=number, deadline=deadline.due_at, department=department)
        turn.deadline_with_time = deadline.unit == "hours"

