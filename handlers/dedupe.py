"""Duplicate deliveries: claim a message when it arrives, hand retries the first delivery's reply.

WeChat delivers a message up to three times, a retry possibly arriving while the first is still
running. The first delivery claims the key with Redis ``SET NX`` at arrival; a retry finds the claim,
waits for the reply to be published, and answers with the same reply. The claim expires on its own if
the worker that took it dies, so a later retry can take over. If Redis is unreachable the unique
``dedup_key`` in the database is the only guard, and it is enough to store each message once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
import uuid
from typing import Any

import redis

from handlers.types import InboundMessage, OutboundReply

log = logging.getLogger(__name__)

NO_REPLY = "none"
_PENDING = "pending:"
# Claim and read in one command: SET NX, the library generation, and (if taken) the current value.
# Lua tables stop at the first nil, so missing values come back as "".
_CLAIM = """
local won = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
local gen = redis.call('GET', KEYS[2]) or ''
if won then return {1, gen, ''} end
return {0, gen, redis.call('GET', KEYS[1]) or ''}
"""
# Delete the claim only if it is still ours (a slow first delivery must not drop a retry's claim).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclasses.dataclass
class Claim:
    """The outcome of claiming a message: ours to process, or someone else's reply to repeat."""

    key: str
    token: str | None  # our claim token; None when we did not claim
    generation: int | None  # reply-library generation read in the same round trip
    answered: bool = False  # True: ``reply`` is the first delivery's answer
    reply: OutboundReply | None = None
    redis_ok: bool = True


def dedup_key(msg_id: int | None, openid: str, create_time: int, event: str | None, event_key: str | None) -> str:
    """MsgId for messages; FromUserName + CreateTime + Event + EventKey for events (their MsgId is 0)."""
    if msg_id:
        return f"m:{msg_id}"
    key = f"e:{openid}:{create_time}:{event or ''}:{event_key or ''}"
    if len(key) > 190:
        # Long event keys (VIEW URLs) would overflow the column; a digest is as unique.
        key = "e:" + hashlib.sha256(key.encode("utf-8")).hexdigest()
    return key


class Deduper:
    """Claims, waits for and publishes replies in Redis under ``namespace``."""

    def __init__(
        self,
        namespace: str,
        *,
        claim_ttl: float = 15.0,
        reply_ttl: int = 86400,
        wait: float = 4.0,
        poll: float = 0.05,
    ) -> None:
        self.namespace = namespace
        self.claim_ttl_ms = int(claim_ttl * 1000)
        self.reply_ttl = reply_ttl
        self.wait = wait
        self.poll = poll
        self._script: Any = None

    def _key(self, msg: InboundMessage) -> str:
        return f"{self.namespace}:dedup:{msg.account}:{msg.dedup_key}"

    def generation_key(self) -> str:
        """The Redis key of the reply-library generation counter."""
        return f"{self.namespace}:library:generation"

    def claim(self, client: redis.Redis, msg: InboundMessage, deadline: float | None = None) -> Claim:
        """Claim ``msg`` at arrival, or wait (until ``deadline``, a monotonic time) for its first reply."""
        key = self._key(msg)
        token = _PENDING + uuid.uuid4().hex
        deadline = deadline if deadline is not None else time.monotonic() + self.wait
        try:
            if self._script is None:
                self._script = client.register_script(_CLAIM)
            keys = [key, self.generation_key()]
            while True:
                won, generation, value = self._script(keys=keys, args=[token, self.claim_ttl_ms], client=client)
                gen = int(generation) if generation else 0
                if won:
                    return Claim(key, token, gen)
                if value and not _text(value).startswith(_PENDING):
                    return Claim(key, None, gen, answered=True, reply=_decode(value))
                if time.monotonic() >= deadline:
                    log.warning("retry of %s still unanswered by the first delivery; answering empty", key)
                    return Claim(key, None, gen, answered=True, reply=None)
                time.sleep(self.poll)
        except redis.RedisError as exc:
            log.warning("redis unavailable for dedup (%s); relying on the database constraint", exc)
            return Claim(key, None, None, redis_ok=False)

    def publish(self, client: redis.Redis, claim: Claim, reply: OutboundReply | None) -> None:
        """Store the reply for retries (after the database commit)."""
        if not claim.redis_ok or claim.token is None:
            return
        try:
            client.set(claim.key, reply.to_json() if reply else NO_REPLY, ex=self.reply_ttl)
        except redis.RedisError as exc:
            log.warning("could not publish reply of %s for retries: %s", claim.key, exc)

    def release(self, client: redis.Redis, claim: Claim) -> None:
        """Give the claim up after a failure, so a retry can process the message."""
        if not claim.redis_ok or claim.token is None:
            return
        try:
            client.eval(_RELEASE, 1, claim.key, claim.token)
        except redis.RedisError as exc:
            log.warning("could not release claim %s: %s", claim.key, exc)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _decode(value: Any) -> OutboundReply | None:
    raw = _text(value)
    if raw == NO_REPLY:
        return None
    return OutboundReply.from_json(raw)
