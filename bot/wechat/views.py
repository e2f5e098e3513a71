"""The WeChat callback blueprint: ``GET /wechat`` verifies the URL, ``POST /wechat`` takes pushes.

Views are thin: decode at the edge, one domain call (claim → pipeline → commit → publish), encode.
WeChat never receives a 500 or an HTML page: errors map to plain-text answers here.
"""

from __future__ import annotations

import logging
import time

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from bot.errors import Forbidden, MinshengError, Unparseable
from bot.extensions import message_session, services
from bot.wechat.edge import SUCCESS, Edge
from handlers.dedupe import loggable
from handlers.store import is_transient
from handlers.types import InboundMessage, OutboundReply
from models import utcnow
from replies.pii import mask_openid

log = logging.getLogger(__name__)

bp = Blueprint("wechat", __name__)


def _edge() -> Edge:
    edge = current_app.extensions.get("minsheng.edge")
    if edge is None:
        edge = Edge(
            services().crypto,
            current_app.config["WECHAT_TIMESTAMP_WINDOW"],
            safe_only=current_app.config["WECHAT_MESSAGE_MODE"] == "safe",
        )
        current_app.extensions["minsheng.edge"] = edge
    return edge  # type: ignore[no-any-return]


def _plain(body: str, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="text/plain")


@bp.get("/wechat")
def verify() -> Response:
    """URL verification: echo ``echostr`` when the signature is WeChat's."""
    return _plain(_edge().verify_url(request.args))


@bp.post("/wechat")
def receive() -> Response:
    """A push from WeChat: store it, act on it, answer within the deadline."""
    arrived = time.monotonic()
    edge = _edge()
    push = edge.decode(request.args, request.get_data(cache=False))
    reply = handle(push.message, arrived, f"{push.timestamp}:{push.nonce}")
    body = edge.encode(push, reply)
    return Response(body, mimetype="text/plain" if body == SUCCESS else "application/xml")


def handle(msg: InboundMessage, arrived: float, replay_key: str | None = None) -> OutboundReply | None:
    """Claim, run the pipeline, commit once, then let retries see the reply."""
    svc = services()
    client = svc.redis_for_messages()
    if client is None:
        claim = svc.deduper.without_redis(msg)
    else:
        # The citizen's conversation state is read with the claim: one round trip, not two.
        claim = svc.deduper.claim(client, msg, arrived, replay_key, read=svc.pipeline.conversations.keys(msg.openid))
        if not claim.redis_ok:
            svc.redis_failed()
            client = None
    if claim.replayed:
        raise Forbidden("timestamp and nonce already used for another message")
    if claim.answered:
        return claim.reply
    session = message_session()
    try:
        turn = svc.pipeline.process(msg, session, claim, redis=client)
        if session.in_transaction() or session.new or session.dirty or session.deleted:
            # On PostgreSQL the message was written (and committed) by the store's own statement; the
            # session holds only what is rare (an alert, a library reload), and an empty commit costs CPU.
            session.commit()
        reply = turn.reply
    except Exception as exc:
        session.rollback()
        reply = _spool(msg, exc) if is_transient(exc) else None
        if reply is None:
            if client is not None:
                svc.deduper.release(client, claim)
            raise
        if client is not None:
            svc.deduper.publish(client, claim, reply)  # spooled: retries get the same "received" reply
    else:
        if client is not None:
            svc.pipeline.settle(client, svc.deduper, claim, turn)
    log.info(
        "%s %s from %s → %s",
        msg.kind,
        msg.event or "",
        mask_openid(msg.openid),
        f"{reply.template_key}@{reply.template_version}" if reply else "success",
    )
    return reply


def _spool(msg: InboundMessage, exc: BaseException) -> OutboundReply | None:
    """The database is down or slow: keep the push on local disk and answer from the cached library.

    None if even the spool cannot take it (then the citizen gets 'success' and the log says why).
    """
    svc = services()
    try:
        if svc.spool.holds(msg.dedup_key):
            return svc.spool.sent_for(msg.dedup_key)  # a retry of a message spooled already
        reply = svc.pipeline.offline_reply(msg)
        svc.spool.put(msg, reply, utcnow())
    except Exception:  # disk full, permissions: said loudly, and the caller re-raises
        log.critical("database down and the spool failed: %s is lost", loggable(msg.dedup_key), exc_info=True)
        return None
    log.warning("database unavailable (%s): message %s spooled", type(exc).__name__, loggable(msg.dedup_key))
    interval = current_app.config["SPOOL_DRAIN_SECONDS"]
    if interval:
        svc.start_drainer(current_app._get_current_object(), interval)  # type: ignore[attr-defined]
    return reply


@bp.errorhandler(MinshengError)
def _known(exc: MinshengError) -> Response:
    if isinstance(exc, Unparseable):
        log.warning("unparseable push answered success: %s", exc)
        return _plain(SUCCESS)
    log.warning("refused %s %s: %s", request.method, request.path, exc)
    return _plain(exc.public_message, exc.status)


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(exc: RequestEntityTooLarge) -> Response:
    log.warning("push over %s bytes refused", current_app.config["MAX_CONTENT_LENGTH"])
    return _plain("payload too large", 413)


@bp.errorhandler(HTTPException)
def _http(exc: HTTPException) -> Response:
    return _plain(f"{exc.code} {exc.name}", exc.code or 400)


@bp.errorhandler(Exception)
def _unexpected(exc: Exception) -> Response:
    # A bug or an outage must not become "该公众号暂时无法提供服务": say nothing, loudly in the log.
    log.exception("push failed; answered success")
    return _plain(SUCCESS)
