"""The WeChat callback as a bare WSGI application: ``GET /wechat`` verifies the URL, ``POST /wechat`` takes pushes.

Why not a Flask view: the callback is the one hot path (every citizen message, under WeChat's 5 s deadline) and
needs nothing Flask gives a page — no cookie session, no CSRF, no templates, no URL map. Flask's request
machinery (request and app contexts, the session interface, routing, response objects) cost about a tenth of a
worker's CPU per message. :func:`mount` puts this in front of the Flask app (``app.wsgi_app``), so gunicorn, the
console and the tests' client still see one application.

Thin as a view should be: decode at the edge, one domain call (claim → pipeline → commit → settle), encode.
WeChat never receives a 500 or an HTML page: every error maps to a plain-text answer here, in one place.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from flask import Flask
from werkzeug.http import HTTP_STATUS_CODES

from bot.errors import Forbidden, MinshengError, PayloadTooLarge, Unparseable
from bot.maintenance import start_upkeep
from bot.media import KINDS as MEDIA_KINDS
from bot.media.fetch import enqueue_fetch
from bot.services import Services, services
from bot.wechat.edge import SUCCESS, Edge
from handlers.dedupe import loggable
from handlers.store import is_transient
from handlers.types import InboundMessage, OutboundReply
from models import utcnow
from text.pii import mask_openid

log = logging.getLogger(__name__)

PATH = "/wechat"
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class Answer:
    """What goes back to WeChat: status, body and its type."""

    __slots__ = ("body", "status", "type")

    def __init__(self, body: str, status: int = 200, type_: str = "text/plain") -> None:
        self.body, self.status, self.type = body, status, type_


class WeChatEndpoint:
    """``/wechat`` for one app; every other path goes on to ``inner`` (the Flask app)."""

    def __init__(self, app: Flask, inner: WSGIApp) -> None:
        self.app = app
        self.inner = inner
        self.max_body: int = app.config["MAX_CONTENT_LENGTH"]
        self._edge: Edge | None = None

    @property
    def edge(self) -> Edge:
        """The account's edge (built on first use: the services start lazily)."""
        if self._edge is None:
            config = self.app.config
            self._edge = Edge(
                services(self.app).crypto,
                config["WECHAT_TIMESTAMP_WINDOW"],
                safe_only=config["WECHAT_MESSAGE_MODE"] == "safe",
            )
        return self._edge

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH:
            return self.inner(environ, start_response)
        arrived = time.monotonic()
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            answer = self.answer(method, environ, arrived)
        except Unparseable as exc:
            log.warning("unparseable push answered success: %s", exc)
            answer = Answer(SUCCESS)
        except MinshengError as exc:
            log.warning("refused %s %s: %s", method, PATH, exc)
            answer = Answer(exc.public_message, exc.status)
        except Exception:
            # A bug or an outage must not become "该公众号暂时无法提供服务": say nothing, loudly in the log.
            log.exception("push failed; answered success")
            answer = Answer(SUCCESS)
        body = answer.body.encode("utf-8")
        headers = [("Content-Type", f"{answer.type}; charset=utf-8"), ("Content-Length", str(len(body)))]
        if answer.status == 405:
            headers.append(("Allow", "GET, HEAD, POST"))
        start_response(f"{answer.status} {HTTP_STATUS_CODES.get(answer.status, 'Error')}", headers)
        return [b""] if method == "HEAD" else [body]

    def answer(self, method: str, environ: Mapping[str, Any], arrived: float) -> Answer:
        """The answer to one request (raises :class:`MinshengError` for the caller to map)."""
        args = _query(environ.get("QUERY_STRING", ""))
        if method in ("GET", "HEAD"):
            return Answer(self.edge.verify_url(args))
        if method != "POST":
            return Answer("method not allowed", 405)
        push = self.edge.decode(args, self._body(environ))
        reply = handle(services(self.app), self.app, push.message, arrived, f"{push.timestamp}:{push.nonce}")
        body = self.edge.encode(push, reply)
        return Answer(body, 200, "text/plain" if body == SUCCESS else "application/xml")

    def _body(self, environ: Mapping[str, Any]) -> bytes:
        """The request body, refused over the limit before it is read (a push is a few KiB)."""
        stream = environ["wsgi.input"]
        length = environ.get("CONTENT_LENGTH") or ""
        if length:
            try:
                size = int(length)
            except ValueError:
                raise Forbidden("malformed Content-Length") from None
            if size > self.max_body:
                log.warning("push over %s bytes refused", self.max_body)
                raise PayloadTooLarge(f"Content-Length {size}")
            return stream.read(size) if size > 0 else b""
        if environ.get("wsgi.input_terminated"):  # chunked: the server ends the stream
            data: bytes = stream.read(self.max_body + 1)
            if len(data) > self.max_body:
                raise PayloadTooLarge("chunked body over the limit")
            return data
        return b""


def mount(app: Flask) -> WeChatEndpoint:
    """Put the endpoint in front of ``app``'s WSGI callable (gunicorn and test clients call ``app``)."""
    endpoint = WeChatEndpoint(app, app.wsgi_app)
    app.wsgi_app = endpoint  # type: ignore[method-assign]
    app.extensions["minsheng.wechat"] = endpoint
    return endpoint


def endpoint_of(app: Flask) -> WeChatEndpoint:
    """The endpoint mounted on ``app``."""
    return app.extensions["minsheng.wechat"]  # type: ignore[no-any-return]


def _query(raw: str) -> dict[str, str]:
    """The query's parameters, the first of each name (as WeChat sends each once)."""
    args: dict[str, str] = {}
    for name, value in parse_qsl(raw, keep_blank_values=True):
        args.setdefault(name, value)
    return args


def handle(
    svc: Services, app: Flask, msg: InboundMessage, arrived: float, replay_key: str | None = None
) -> OutboundReply | None:
    """Claim, run the pipeline, commit once, then let retries see the reply."""
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
    session = svc.message_sessions()
    try:
        turn = svc.pipeline.process(msg, session, claim, redis=client)
        if session.in_transaction() or session.new or session.dirty or session.deleted:
            # On PostgreSQL the message was written (and committed) by the store's own statement; the
            # session holds only what is rare (an alert, a library reload), and an empty commit costs CPU.
            session.commit()
        reply = turn.reply
    except Exception as exc:
        session.rollback()
        reply = _spool(svc, app, msg, exc) if is_transient(exc) else None
        if reply is None:
            if client is not None:
                svc.deduper.release(client, claim)
            raise
        if client is not None:
            svc.deduper.publish(client, claim, reply)  # spooled: retries get the same "received" reply
    else:
        if client is not None:
            svc.pipeline.settle(client, svc.deduper, claim, turn)
            if msg.kind in MEDIA_KINDS and turn.inbound_id is not None:  # fetched after the reply
                _queue_media(app, turn.inbound_id, client)
    finally:
        session.close()
    if log.isEnabledFor(logging.INFO):
        answered = f"{reply.template_key}@{reply.template_version}" if reply else "success"
        log.info("%s %s from %s → %s", msg.kind, msg.event or "", mask_openid(msg.openid), answered)
    return reply


def _queue_media(app: Flask, message_id: int, client: Any) -> None:
    """Queue the fetch of a photo, voice or video (after the commit; the upkeep's sweep covers a failure)."""
    try:
        enqueue_fetch(app, message_id, client)
    except Exception:  # the citizen's reply must not depend on it: the sweep queues it within a minute or two
        log.exception("media fetch of message %s not queued", message_id)


def _spool(svc: Services, app: Flask, msg: InboundMessage, exc: BaseException) -> OutboundReply | None:
    """The database is down or slow: keep the push on local disk and answer from the cached library.

    None if even the spool cannot take it (then the citizen gets 'success' and the log says why).
    """
    try:
        if svc.spool.holds(msg.dedup_key):
            return svc.spool.sent_for(msg.dedup_key)  # a retry of a message spooled already
        reply = svc.pipeline.offline_reply(msg)
        svc.spool.put(msg, reply, utcnow())
    except Exception:  # disk full, permissions: said loudly, and the caller re-raises
        log.critical("database down and the spool failed: %s is lost", loggable(msg.dedup_key), exc_info=True)
        return None
    log.warning("database unavailable (%s): message %s spooled", type(exc).__name__, loggable(msg.dedup_key))
    interval = app.config["SPOOL_DRAIN_SECONDS"]
    if interval:
        start_upkeep(app, interval)
    return reply
