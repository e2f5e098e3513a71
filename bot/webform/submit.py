"""Filing a web-form letter: the same pipeline as WeChat, then its photos, then the acknowledgement in WeChat.

Three steps, each after the one before has been committed:

1. ``Pipeline.file`` stores the letter and opens its case (on PostgreSQL in one self-committing statement, as
   for every message); the one-time form token, in the dedup key, makes a second post of the same page return
   the first filing.
2. The photos are kept (``bot.media.keep``: original, a copy without metadata, a thumbnail) as attachments of
   the letter's message and case, and — when the citizen's OpenID is known — the acknowledgement is queued as a
   customer-service message; one commit for both.
3. After that commit, the message's delivery job is queued (``bot.jobs.enqueue_delivery``).

A repeat of a filing keeps no photos and queues nothing: the first post did. Nothing here logs what a citizen
wrote, their address, phone or OpenID.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging

import redis
from flask import Flask
from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.jobs import enqueue_delivery
from bot.media import MediaRejected, StorageUnavailable, keep
from bot.redis_store import count_in_window
from bot.services import services
from bot.webform.letter import Letter, Photo, dedup_key, message_text, summary
from handlers.types import Filed, InboundMessage
from models import Case, CaseType, Direction, Message, reachable_by_wechat, utcnow

log = logging.getLogger(__name__)

HOUR = 3600
# Posts of any kind (a form with mistakes, one refused for its photos) per address per hour, as a multiple of
# the letters allowed: enough for a citizen correcting a long form several times, and a bound on how many
# large bodies one address can make us parse.
ATTEMPTS_PER_LETTER = 5


@dataclasses.dataclass(frozen=True)
class Result:
    """What the result page shows."""

    number: str
    reply_text: str
    emergency: bool  # a certain emergency: the reply names the number to call, first
    urgent: bool
    duplicate: bool
    photos_kept: int
    photos_lost: tuple[str, ...]  # why a photo could not be kept (the letter is filed all the same)
    wechat: bool  # the acknowledgement was queued to the citizen's WeChat


class RateLimit:
    """Fixed hourly windows per client address in Redis; a Redis outage lets letters through (never lost)."""

    def __init__(self, app: Flask, address: str) -> None:
        self.app = app
        # The address is hashed: the counters are not a log of who wrote.
        digest = hashlib.sha256(address.encode()).hexdigest()[:16]
        window = int(utcnow().timestamp()) // HOUR
        namespace = app.config["REDIS_NAMESPACE"]
        self.letters_key = f"{namespace}:webform:letters:{digest}:{window}"
        self.posts_key = f"{namespace}:webform:posts:{digest}:{window}"
        self.limit = int(app.config["WEBFORM_RATE_PER_HOUR"])

    def _redis(self) -> redis.Redis:
        return services(self.app).redis

    def _count(self, key: str) -> int:
        return count_in_window(self._redis(), key, HOUR + 60)

    def post_allowed(self) -> bool:
        """Count one post; False once this address has posted far more than a citizen would."""
        try:
            return self._count(self.posts_key) <= self.limit * ATTEMPTS_PER_LETTER
        except redis.RedisError as exc:
            log.warning("web form rate limit unavailable (%s): post let through", type(exc).__name__)
            return True

    def letter_allowed(self) -> bool:
        """True while this address has filed fewer letters this hour than WEBFORM_RATE_PER_HOUR."""
        try:
            raw = self._redis().get(self.letters_key)
        except redis.RedisError as exc:
            log.warning("web form rate limit unavailable (%s): letter let through", type(exc).__name__)
            return True
        return int(raw or 0) < self.limit

    def letter_filed(self) -> None:
        """Count a filed letter."""
        try:
            self._count(self.letters_key)
        except redis.RedisError as exc:
            log.warning("web form letter not counted (%s)", type(exc).__name__)


def _after_filing(
    app: Flask, photos: list[Photo], message_id: int, case_id: int | None, to_wechat: bool
) -> tuple[int, list[str], int | None]:
    """Keep the photos and, ``to_wechat``, queue the acknowledgement, in one commit after the filing's.

    The pipeline stored the acknowledgement as the letter's reply: that row is queued for delivery (the citizen
    reads it once, in the page and in the chat), not copied.
    """
    with services(app).sessions() as session:
        kept, lost = _keep_photos(app, session, photos, message_id, case_id)
        queued_id: int | None = None
        if to_wechat:
            queued_id = session.scalar(
                update(Message)
                .where(Message.in_reply_to_id == message_id, Message.direction == Direction.OUT)
                .values(delivery_status="queued")
                .returning(Message.id)
            )
        session.commit()
    return kept, lost, queued_id


def file_letter(app: Flask, letter: Letter, photos: list[Photo], citizen: str) -> Result:
    """File ``letter`` for ``citizen`` (a WeChat OpenID or a ``web:`` identity), keep its photos, queue the answer."""
    svc = services(app)
    msg = InboundMessage(
        kind="form",
        channel="web",
        openid=citizen,
        account=app.config["WECHAT_APP_ID"],
        create_time=dt.datetime.now(dt.UTC),
        dedup_key=dedup_key(citizen, letter.token),
        text=message_text(letter),
        filed=Filed(case_type=letter.kind, summary=summary(letter, len(photos))),
    )
    with svc.message_sessions() as session:
        filing = svc.pipeline.file(msg, session)
        session.commit()
    case, reply = filing.case, filing.reply
    # No case only when deciding failed (a bug in the rules): the letter is stored, the safe fallback recorded
    # as its reply and staff alerted by the pipeline; the photos are still kept with the letter.
    case_id = case.id if case is not None else None
    wechat = reachable_by_wechat(citizen) and reply is not None
    kept, lost = 0, list[str]()
    queued_id: int | None = None
    if not filing.duplicate:
        try:
            kept, lost, queued_id = _after_filing(app, photos, filing.message_id, case_id, wechat)
        except Exception:
            # The letter and its case are committed: the citizen must see their number, not "not filed" (a
            # resubmission would be a repeat and keep nothing). Staff see the log; the photos are named lost.
            log.exception("web form letter %s: photos or acknowledgement not kept", filing.message_id)
            lost = [f"第{number}张（{photo.name}）：暂时无法保存" for number, photo in enumerate(photos, 1)]
            kept, queued_id = 0, None
        if queued_id is not None:
            enqueue_delivery(app, queued_id)  # None (Redis away): the row stays queued for deliver-queued
        log.info("web form letter %s filed as case %s (%d photos)", filing.message_id, _number(case), kept)
    return Result(
        number=case.number if case is not None else "",
        reply_text=reply.text if reply is not None else "",
        emergency=case is not None and case.case_type is CaseType.EMERGENCY,
        urgent=case is not None and case.is_urgent,
        duplicate=filing.duplicate,
        photos_kept=kept,
        photos_lost=tuple(lost),
        wechat=wechat,
    )


def _number(case: Case | None) -> str:
    return case.number if case is not None else "(none)"


def _keep_photos(
    app: Flask, session: Session, photos: list[Photo], message_id: int, case_id: int | None
) -> tuple[int, list[str]]:
    """Keep each photo as an attachment of the letter; how many were kept, and why the others were not."""
    kept, lost = 0, list[str]()
    for number, photo in enumerate(photos, 1):
        try:
            keep(
                app,
                session,
                message_id=message_id,
                case_id=case_id,
                channel="web",
                kind="image",
                data=photo.data,
                content_type=photo.content_type,
            )
            kept += 1
        except (MediaRejected, StorageUnavailable, OSError) as exc:
            # Checked before filing, so this is rare (a file Pillow opens but cannot prepare, a full disk): the
            # letter stands, and the page tells the citizen which photo to send again.
            lost.append(f"第{number}张（{photo.name}）：{exc if isinstance(exc, MediaRejected) else '暂时无法保存'}")
            log.warning("web form photo %s of message %s not kept: %s", number, message_id, type(exc).__name__)
    return kept, lost
