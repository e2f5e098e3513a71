"""Duplicate deliveries: claim a message when it arrives, hand retries the first delivery's reply.

WeChat delivers a message up to three times, a retry possibly arriving while the first is still
running. The first delivery claims the key with Redis ``SET NX`` at arrival; a retry finds the claim,
waits for the reply to be published, and answers with the same reply; a retry that waits in vain (the
first delivery's worker died) processes the message itself. The claim expires on its own if
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
from text.pii import mask_openid

log = logging.getLogger(__name__)

NO_REPLY = "none"
_PENDING = "pending:"
# Claim and read in one command: SET NX, the library generation, and (if taken) the current value.
# With a nonce value (ARGV[4]), the request's timestamp+nonce (KEYS[3]) is remembered for the signature
# window: the same nonce carrying another message is a replayed signature (plaintext mode signs only the
# query). Keys after the third are read in the same round trip for the caller (conversation state):
# each Redis round trip costs a message more CPU than most of the stages do.
# The generation is a random token, never a counter: after a Redis restart a fresh token makes every
# worker reload the library, where a counter restarting at 0 could match a stale cache.
# Lua tables stop at the first nil, so missing values come back as "".
_CLAIM = """
if ARGV[4] ~= '' then
  local seen = redis.call('GET', KEYS[3])
  if seen and seen ~= ARGV[4] then return {2, '', ''} end
  if not seen then redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[5]) end
end
local won = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
local gen = redis.call('GET', KEYS[2])
if not gen then
  redis.call('SET', KEYS[2], ARGV[3], 'NX')
  gen = redis.call('GET', KEYS[2])
end
local out = {won and 1 or 0, gen, ''}
if not won then out[3] = redis.call('GET', KEYS[1]) or '' end
for i = 4, #KEYS do out[i] = redis.call('GET', KEYS[i]) or '' end
return out
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
    generation: str | None  # reply-library generation token read in the same round trip
    answered: bool = False  # True: ``reply`` is the first delivery's answer
    replayed: bool = False  # this timestamp+nonce already carried a different message
    reply: OutboundReply | None = None
    redis_ok: bool = True
    # The values of the keys the caller asked to ``read`` with the claim (None: not read, Redis down).
    read: dict[str, bytes | None] | None = None


def loggable(key: str) -> str:
    """A dedup key fit for a log line or an alert: an event's key carries the citizen's OpenID."""
    if key.startswith("e:") and key.count(":") >= 2:
        _, openid, rest = key.split(":", 2)
        return f"e:{mask_openid(openid)}:{rest}"
    return key


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
        # Shorter than WeChat's ~5 s retry gap: if the worker holding a claim dies, the next
        # delivery takes over (the unique dedup_key still stops a second insert).
        claim_ttl: float = 4.5,
        reply_ttl: int = 86400,
        wait: float = 4.0,
        poll: float = 0.05,
        replay_window: int = 600,
    ) -> None:
        self.namespace = namespace
        # A signature stays valid for the whole timestamp window either side of now.
        self.replay_window = replay_window
        self.claim_ttl_ms = int(claim_ttl * 1000)
        self.reply_ttl = reply_ttl
        self.wait = wait
        self.poll = poll
        self._script: Any = None

    def _key(self, msg: InboundMessage) -> str:
        return f"{self.namespace}:dedup:{msg.account}:{msg.dedup_key}"

    def generation_key(self) -> str:
        """The Redis key of the reply-library generation token."""
        return f"{self.namespace}:library:generation"

    def claim(
        self,
        client: redis.Redis,
        msg: InboundMessage,
        arrived: float | None = None,
        replay_key: str | None = None,
        read: tuple[str, ...] = (),
    ) -> Claim:
        """Claim ``msg`` at arrival, or wait (up to ``wait`` after ``arrived``, monotonic) for its first reply.

        ``replay_key`` (the request's timestamp and nonce) is checked in the same call: seen before
        with another message, the claim comes back ``replayed`` and nothing is claimed. The keys in
        ``read`` are read in the same round trip; their values come back in ``Claim.read``.
        """
        key = self._key(msg)
        token = _PENDING + uuid.uuid4().hex
        deadline = (arrived if arrived is not None else time.monotonic()) + self.wait
        try:
            if self._script is None:
                self._script = client.register_script(_CLAIM)
            nonce_key = f"{self.namespace}:nonce:{msg.account}:{replay_key}" if replay_key else key
            keys = [key, self.generation_key(), nonce_key, *read]
            args: list[Any] = [token, self.claim_ttl_ms, uuid.uuid4().hex]
            args += [msg.dedup_key, self.replay_window] if replay_key else ["", 0]
            while True:
                won, generation, value, *values = self._script(keys=keys, args=args, client=client)
                if won == 2:
                    log.warning("signature replayed with another message (%s)", loggable(msg.dedup_key))
                    return Claim(key, None, None, replayed=True)
                gen = _text(generation)
                if won:
                    # Lua cannot return nil inside a table: an empty string is a key that was not there.
                    return Claim(key, token, gen, read={k: v or None for k, v in zip(read, values, strict=True)})
                if value and not _text(value).startswith(_PENDING):
                    return Claim(key, None, gen, answered=True, reply=_decode(value))
                if time.monotonic() >= deadline:
                    # The delivery holding the claim never published: its worker may have died before
                    # storing the message (SIGKILL, OOM). Answering empty would acknowledge a message
                    # nobody stored, so this delivery processes it (without the claim); if the first one
                    # did store it, the database's unique dedup key turns that into its stored reply.
                    log.warning("retry of %s outwaited its first delivery; processing it", loggable(msg.dedup_key))
                    return Claim(key, None, gen, read={k: v or None for k, v in zip(read, values, strict=True)})
                time.sleep(self.poll)
        except redis.RedisError as exc:
            log.warning("redis unavailable for dedup (%s); relying on the database constraint", exc)
            return Claim(key, None, None, redis_ok=False)

    def without_redis(self, msg: InboundMessage) -> Claim:
        """The claim of a message while Redis is known to be down: the database's unique key guards alone."""
        return Claim(self._key(msg), None, None, redis_ok=False)

    def bump_generation(self, client: redis.Redis) -> None:
        """Make every worker reload the published library on its next message (after a publish)."""
        client.set(self.generation_key(), uuid.uuid4().hex)

    def publish(self, client: redis.Redis, claim: Claim, reply: OutboundReply | None) -> None:
        """Store the reply for retries (after the database commit).

        ``client`` may be a pipeline: the command is queued, and whoever executes it handles errors.
        """
        if not claim.redis_ok or claim.token is None:
            return
        try:
            client.set(claim.key, reply.to_json() if reply else NO_REPLY, ex=self.reply_ttl)
        except redis.RedisError as exc:
            log.warning("could not publish a reply for retries: %s", exc)

    def release(self, client: redis.Redis, claim: Claim) -> None:
        """Give the claim up after a failure, so a retry can process the message."""
        if not claim.redis_ok or claim.token is None:
            return
        try:
            client.eval(_RELEASE, 1, claim.key, claim.token)
        except redis.RedisError as exc:
            log.warning("could not release a claim: %s", exc)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _decode(value: Any) -> OutboundReply | None:
    raw = _text(value)
    if raw == NO_REPLY:
        return None
    return OutboundReply.from_json(raw)
