"""The pipeline: claim at arrival, then record → triage/act → respond, one transaction per message.

The caller owns the transaction::

    claim = pipeline.claim(redis, msg)          # a retry gets the first delivery's reply here
    if claim.answered: return claim.reply
    try:
        reply = pipeline.run(msg, session, claim)
        session.commit()
    except Exception:
        session.rollback(); pipeline.release(redis, claim); raise
    pipeline.publish(redis, claim, reply)       # only after the commit
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import redis
from sqlalchemy.orm import Session

from handlers.act import Actor
from handlers.dedupe import Claim, Deduper
from handlers.record import Duplicate, record
from handlers.respond import Responder
from handlers.triage import Classifier, RuleClassifier
from handlers.turn import Turn
from handlers.types import InboundMessage, OutboundReply
from models import utcnow
from replies.library import Library

Stage = Callable[[Turn], "OutboundReply | None"]


class Pipeline:
    """The ordered stages and the dedup guard around them."""

    def __init__(
        self,
        library: Library,
        deduper: Deduper,
        *,
        classifier: Classifier | None = None,
        timezone: str = "Asia/Shanghai",
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.library = library
        self.deduper = deduper
        self.clock = clock
        self.actor = Actor(classifier or RuleClassifier(), timezone)
        self.responder = Responder(library)
        self.stages: list[Stage] = [record, self._act, self.responder]

    def _act(self, turn: Turn) -> OutboundReply | None:
        self.actor(turn)
        return None

    def claim(self, client: redis.Redis, msg: InboundMessage, arrived: float | None = None) -> Claim:
        """Claim ``msg`` at arrival; waits (bounded) for the reply when another delivery holds it."""
        deadline = (arrived or time.monotonic()) + self.deduper.wait
        return self.deduper.claim(client, msg, deadline)

    def run(self, msg: InboundMessage, session: Session, claim: Claim) -> OutboundReply | None:
        """Run every stage in order; a stage that returns a reply stops the rest. Only flushes."""
        turn = Turn(msg=msg, session=session, now=self.clock(), generation=claim.generation)
        try:
            for stage in self.stages:
                reply = stage(turn)
                if reply is not None:
                    return reply
        except Duplicate as dup:
            return dup.reply
        return None

    def publish(self, client: redis.Redis, claim: Claim, reply: OutboundReply | None) -> None:
        """Make the committed reply available to retries."""
        self.deduper.publish(client, claim, reply)

    def release(self, client: redis.Redis, claim: Claim) -> None:
        """Drop our claim after a failure so a retry can process the message."""
        self.deduper.release(client, claim)
