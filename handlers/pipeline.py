"""The pipeline: record → triage/converse/act → respond → persist, for a message the caller has claimed.

The caller owns the claim (``handlers.dedupe.Deduper``) and the transaction::

    claim = deduper.claim(redis, msg, arrived, read=conversations.keys(openid))  # a retry gets the
    if claim.answered: return claim.reply                                       # first reply here
    try:
        turn = pipeline.process(msg, session, claim, redis=redis)
        session.commit()
    except Exception:
        session.rollback(); deduper.release(redis, claim); raise
    pipeline.settle(redis, deduper, claim, turn)  # reply for retries + form state, after the commit

If deciding or rendering fails (a bug, a bad template), the message is still stored and the fixed
safe fallback goes out, with an alert: a citizen's message is never lost to a bug in our rules.

``redis`` carries the conversation state (guided intake) and the hourly default-reply limit. Without
it — not given, or the claim found Redis down — every message is answered on its own, as a
single-turn bot would: a complaint is filed at once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Mapping

import redis as redis_lib
from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.act import EMERGENCY_TEMPLATES, Actor
from handlers.converse import Conversations
from handlers.dedupe import Claim, Deduper, loggable
from handlers.respond import Responder
from handlers.store import Duplicate, Store, StoreError, is_transient, store_for
from handlers.triage import Classifier
from handlers.turn import Turn
from handlers.types import InboundMessage, OutboundReply
from models import Alert, Case, CaseType, Message, reachable_by_wechat, utcnow
from replies.library import BUILTIN_FALLBACK, FALLBACK_KEY, Library
from text.normalize import normalize

log = logging.getLogger(__name__)

# Acknowledgements with a variant that offers the 订阅通知 (key + "_notice" in the reply library).
NOTICE_OFFERS = frozenset({"complaint_ack", "inquiry_ack", "suggestion_ack", "review_ack", "intake_done"})


@dataclasses.dataclass(frozen=True)
class Filing:
    """What filing a request through another channel gave: its message, its case and the acknowledgement."""

    message_id: int
    case: Case | None
    reply: OutboundReply | None
    duplicate: bool


def _filing(session: Session, dedup_key: str, reply: OutboundReply | None, *, duplicate: bool) -> Filing:
    row = session.execute(
        select(Message.id, Case)
        .outerjoin(Case, Case.opening_message_id == Message.id)
        .where(Message.dedup_key == dedup_key)
    ).one()
    return Filing(message_id=row[0], case=row[1], reply=reply, duplicate=duplicate)


class Pipeline:
    """The ordered stages and the dedup guard around them."""

    def __init__(
        self,
        library: Library,
        *,
        dialect: str = "sqlite",
        classifier: Classifier | None = None,
        timezone: str = "Asia/Shanghai",
        clock: Callable[[], dt.datetime] = utcnow,
        namespace: str = "minsheng",
        conversations: Conversations | None = None,
        working_days: Mapping[CaseType, int] | None = None,
        notice_link: str | None = None,
    ) -> None:
        self.library = library
        # The 订阅通知 consent page, offered with the acknowledgement of a case (None: subscriptions are off).
        self.notice_link = notice_link
        self.clock = clock
        self.store: Store = store_for(dialect)
        # Conversation keys live under the deduper's namespace (pass the same one).
        self.conversations = conversations or Conversations(namespace)
        self.actor = Actor(
            classifier,
            self.store,
            timezone,
            library=library,
            conversations=self.conversations,
            working_days=working_days,
        )
        self.responder = Responder(library)

    def process(
        self, msg: InboundMessage, session: Session, claim: Claim, *, redis: redis_lib.Redis | None = None
    ) -> Turn:
        """record → act → respond → persist; the turn carries the reply and the conversation to save.

        Only flushes; the caller commits, then saves the conversation (:meth:`settle`): a failed
        write must not advance the citizen's form.
        """
        turn = Turn(
            msg=msg,
            session=session,
            now=self.clock(),
            # Redis down: the worker's cached library, re-read every few seconds (see Library.local_generation).
            generation=claim.generation or self.library.local_generation(),
            redis=redis if claim.redis_ok else None,
            prefetched=claim.read,
        )
        try:
            self.store.record(turn)
            self._decide(turn)
            self.store.persist(turn)
        except Duplicate as dup:
            # Stored before (a retry that outwaited its first delivery): its reply, and nothing to save.
            turn.reply = dup.reply
            turn.conversation_changed = False
            turn.campaign_joined = None
        finally:
            self.store.release(turn)
        return turn

    def settle(self, client: redis_lib.Redis, deduper: Deduper, claim: Claim, turn: Turn) -> None:
        """After the commit, in one round trip: the reply for retries and the citizen's conversation state."""
        if not turn.conversation_changed and turn.campaign_joined is None:
            deduper.publish(client, claim, turn.reply)  # a pipeline costs more CPU than the command
            return
        pipe = client.pipeline(transaction=False)
        deduper.publish(pipe, claim, turn.reply)
        self.conversations.save(turn, pipe)
        if not len(pipe):
            return
        try:
            pipe.execute()
        except redis_lib.RedisError as exc:
            # The message is stored and answered: a retry processes it again and finds it stored, and the
            # citizen's next message starts its form afresh.
            log.warning("could not publish the reply and conversation state: %s", exc)

    def _decide(self, turn: Turn) -> None:
        try:
            self.actor(turn)
            self._offer_notice(turn)
            self.responder(turn)
        except (Duplicate, StoreError):
            raise
        except Exception as exc:
            if is_transient(exc):
                # The database went away mid-decision: the edge keeps the message for later.
                raise StoreError(f"database unavailable while deciding: {type(exc).__name__}", transient=True) from None
            # Store the message and answer safely rather than lose it to a bug in the rules.
            key = loggable(turn.msg.dedup_key)
            log.exception("deciding the reply to %s failed; sending the safe fallback", key)
            turn.session.add(Alert(kind="pipeline_error", detail=f"消息 {key} 处理出错，已发送兜底回复（详见日志）"))
            turn.case = None
            turn.conversation_changed = False
            turn.campaign_id = turn.campaign_joined = None
            try:
                fallback = self.library.render(turn.session, FALLBACK_KEY, generation=turn.generation)
                turn.reply = OutboundReply(fallback.text, fallback.template_key, fallback.template_version)
            except Exception:
                log.exception("safe fallback could not be rendered")
                turn.reply = OutboundReply(BUILTIN_FALLBACK, FALLBACK_KEY, 0)

    def _offer_notice(self, turn: Turn) -> None:
        """A WeChat citizen's new case: the acknowledgement that also offers the 订阅通知, when it is published.

        Cases are answered within days, customer-service messages reach a citizen for 48 hours: the consent
        lets the answer through later. The plain acknowledgement stays the fallback (``unpublished_key``).
        """
        if self.notice_link and turn.case is not None and turn.reply_key in NOTICE_OFFERS:
            if reachable_by_wechat(turn.msg.openid) and turn.msg.channel == "wechat":
                turn.unpublished_key = turn.reply_key
                turn.reply_key = f"{turn.reply_key}_notice"
                turn.variables["notice_link"] = self.notice_link

    # -- other doors: the web form, Open311, the hotline import ---------------------------------

    def file(self, msg: InboundMessage, session: Session, *, accepted_at: dt.datetime | None = None) -> Filing:
        """Store a request filed through another channel (kind ``form``) and open its case, in one turn.

        No claim and no conversation: the channel's ``dedup_key`` (a form token, a ticket number) makes a
        repeat return the first filing (``duplicate``) instead of a second case. ``accepted_at`` backdates
        acceptance (a hotline ticket's call time): the deadline runs from it. Only flushes; the caller commits.
        """
        if msg.kind != "form" or msg.filed is None:
            raise ValueError("only a filed request (kind 'form') is filed")
        now = accepted_at or self.clock()
        turn = Turn(msg=msg, session=session, now=now, generation=self.library.local_generation(), redis=None)
        try:
            self.store.record(turn)
            self._decide(turn)
            self.store.persist(turn)
        except Duplicate as dup:
            return _filing(session, msg.dedup_key, dup.reply, duplicate=True)
        finally:
            self.store.release(turn)
        return _filing(session, msg.dedup_key, turn.reply, duplicate=False)

    # -- while the database is away, and after ------------------------------------------------

    def offline_reply(self, msg: InboundMessage) -> OutboundReply:
        """What to answer when the message cannot be stored now: from the cached library, without a database.

        An emergency still gets its number (the classifier needs no database); everything else gets
        the vetted "received" reply (the safe fallback), and a follow gets the welcome.
        """
        key = FALLBACK_KEY
        traditional = False
        if msg.is_event:
            if msg.event in ("subscribe", "subscribe_scan"):
                key = "welcome"
        elif msg.text.strip():
            triage = self.actor.classify(msg.text)
            traditional = normalize(msg.text).traditional
            if triage.emergency:
                key = EMERGENCY_TEMPLATES.get(triage.emergency_kind or "", "emergency")
        rendered = self.library.render_offline(key, traditional=traditional)
        return OutboundReply(rendered.text, rendered.template_key, rendered.template_version)

    def run_late(
        self, msg: InboundMessage, session: Session, sent: OutboundReply | None
    ) -> tuple[OutboundReply | None, int | None]:
        """Store a spooled message with the reply it actually got; returns what is still owed and its case.

        The stages decide as they would have (in one turn: conversation state is not replayed), the
        reply that was sent is recorded as the outbound message, and when the decision opened a
        case, its acknowledgement (number and deadline) is returned so it can be sent as a
        customer-service message. Raises :class:`Duplicate` if the message was stored before.
        """
        turn = Turn(msg=msg, session=session, now=self.clock(), generation=self.library.local_generation(), redis=None)
        try:
            self.store.record(turn)
            self._decide(turn)
            owed = turn.reply if turn.case is not None else None
            turn.reply = sent
            self.store.persist(turn)
            return owed, turn.inbound_id
        finally:
            self.store.release(turn)
