"""The pipeline: record → triage/act → respond → persist, for a message the caller has claimed.

The caller owns the claim (``handlers.dedupe.Deduper``) and the transaction::

    claim = deduper.claim(redis, msg, arrived)  # a retry gets the first delivery's reply here
    if claim.answered: return claim.reply
    try:
        reply = pipeline.run(msg, session, claim)
        session.commit()
    except Exception:
        session.rollback(); deduper.release(redis, claim); raise
    deduper.publish(redis, claim, reply)        # only after the commit

If deciding or rendering fails (a bug, a bad template), the message is still stored and the fixed
safe fallback goes out, with an alert: a citizen's message is never lost to a bug in our rules.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from sqlalchemy.orm import Session

from handlers.act import Actor
from handlers.dedupe import Claim, loggable
from handlers.respond import Responder
from handlers.store import Duplicate, Store, StoreError, store_for
from handlers.triage import Classifier
from handlers.turn import Turn
from handlers.types import InboundMessage, OutboundReply
from models import Alert, utcnow
from replies.library import BUILTIN_FALLBACK, FALLBACK_KEY, Library

log = logging.getLogger(__name__)


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
    ) -> None:
        self.library = library
        self.clock = clock
        self.store: Store = store_for(dialect)
        self.actor = Actor(classifier, self.store, timezone)
        self.responder = Responder(library)

    def run(self, msg: InboundMessage, session: Session, claim: Claim) -> OutboundReply | None:
        """record → act → respond → persist. Only flushes; the caller commits."""
        turn = Turn(msg=msg, session=session, now=self.clock(), generation=claim.generation)
        try:
            self.store.record(turn)
            self._decide(turn)
            return self.store.persist(turn)
        except Duplicate as dup:
            return dup.reply
        finally:
            self.store.release(turn)

    def _decide(self, turn: Turn) -> None:
        try:
            self.actor(turn)
            self.responder(turn)
        except (Duplicate, StoreError):
            raise
        except Exception:
            # Store the message and answer safely rather than lose it to a bug in the rules.
            key = loggable(turn.msg.dedup_key)
            log.exception("deciding the reply to %s failed; sending the safe fallback", key)
            turn.session.add(Alert(kind="pipeline_error", detail=f"message {key}: decision failed"))
            turn.case = None
            try:
                fallback = self.library.render(turn.session, FALLBACK_KEY, generation=turn.generation)
                turn.reply = OutboundReply(fallback.text, fallback.template_key, fallback.template_version)
            except Exception:
                log.exception("safe fallback could not be rendered")
                turn.reply = OutboundReply(BUILTIN_FALLBACK, FALLBACK_KEY, 0)
