"""Background jobs (RQ): delivering queued customer-service messages (客服消息) through WeChat's API.

A view (or a CLI command) writes an outbound message with ``delivery_status="queued"``, commits, and
then calls :func:`enqueue_delivery`. An RQ worker (``python -m bot worker``) runs :func:`deliver`,
which claims the row (queued → sending, one atomic UPDATE: a job that runs twice sends once), sends
the text, and records the outcome in one commit: ``sent`` (and the case answered), or ``failed``
with WeChat's error code and what the staff should do instead.

Network errors, HTTP 5xx and WeChat's "system busy" (-1) are retried by RQ with a backoff; the last
try records ``failed`` with the reason. Any other error code fails at once: retrying 45015 or 45047
cannot succeed. A request WeChat received but did not answer in time (a read timeout) is not retried
either: it may have been delivered, and the citizen must not get the same answer twice.

A send that never finished (its worker killed between the claim and the outcome) would stay
``sending`` for ever. :func:`fail_interrupted` records such rows as ``failed`` once they are older than
any job can run, saying that the citizen may or may not have received the message: sending it again
unasked could say the same thing twice, so a person decides (``deliver-queued`` and ``worker`` run it).

The job runs in ``python -m bot worker``, which pushes its app's context around the RQ worker: the job
reaches the app as ``flask.current_app`` (the worker runs jobs in its own process and thread).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from typing import Any

import redis
import requests
from flask import Flask, current_app, has_app_context
from rq import Queue, Retry, get_current_job
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from wechatpy.exceptions import WeChatClientException

from bot.services import services
from bot.wechat.api import MissingSecret, SharedTokenClient, TokenUnavailable, client_for
from models import Case, CaseEvent, CaseStatus, Citizen, Direction, Message, reachable_by_wechat, utcnow
from text.pii import mask_openid

log = logging.getLogger(__name__)

QUEUE = "delivery"
# Seconds before each retry of a transient failure (network, HTTP 5xx, WeChat busy): 3 retries, 4 tries.
RETRY_INTERVALS: tuple[int, ...] = (10, 60, 300)
JOB_TIMEOUT = 120
# A send still "sending" after this long was interrupted: RQ has stopped the job (JOB_TIMEOUT) long before.
INTERRUPTED_AFTER = dt.timedelta(seconds=JOB_TIMEOUT * 5)
INTERRUPTED = "发送过程中断（处理程序意外停止），无法确认群众是否已收到：请在会话中核实，必要时重新发送或电话联系群众"
# The request reached WeChat but no answer came back in time: it may have been delivered.
UNCONFIRMED = (
    "微信接口未在时限内答复，无法确认群众是否已收到："
    "为免重复发送未自动重试，请在会话中核实，必要时重新发送或电话联系群众"
)
RESULT_TTL = 3600
FAILURE_TTL = 7 * 24 * 3600

# What the staff should do when WeChat refuses a customer-service message.
EXPLAINED = {
    45015: "45015 超出48小时客服消息时限（或群众已取消关注）：请电话联系群众，或待其再次留言后发送",
    45047: "45047 本次互动的客服消息条数已用完（5条）：请待群众再次留言后发送，或电话联系",
    45002: "45002 消息内容过长：请选用更短的模板",
}
# A citizen with no OpenID (the hotline, a web form opened outside WeChat): nothing can be sent through WeChat.
OTHER_CHANNELS = {
    "hotline": "该诉求来自12345热线，群众没有微信联系方式：请按来电号码电话答复，并在诉求中记录答复情况",
    "web": "该诉求来自网页表单（未关联微信）：请按群众留下的联系电话答复，并在诉求中记录答复情况",
}
# WeChat's "系统繁忙，请稍候再试".
BUSY = -1
# A case in one of these states is answered once a person's message reaches the citizen.
ANSWERABLE = frozenset({CaseStatus.ACCEPTED, CaseStatus.ASSIGNED, CaseStatus.IN_PROGRESS})
# Automatic replies never count as an answer (models.case.Case.answered_at).
NOT_A_PERSON = frozenset({"", "bot"})


def queue_name(namespace: str) -> str:
    """The RQ queue of a namespace (several deployments or test runs can share one Redis)."""
    return f"{namespace}:{QUEUE}"


def delivery_queue(app: Flask, connection: redis.Redis | None = None) -> Queue:
    """The delivery queue of ``app`` on its Redis (or on ``connection``)."""
    conn = connection if connection is not None else services(app).redis
    return Queue(queue_name(app.config["REDIS_NAMESPACE"]), connection=conn)


def enqueue_delivery(app: Flask, message_id: int) -> str | None:
    """Queue the sending of an outbound message; call it AFTER the commit that wrote the row.

    Returns the job id, or None when Redis is unreachable: the row stays ``queued`` and
    ``python -m bot deliver-queued`` queues it again later.
    """
    intervals: Sequence[int] = app.config.get("DELIVERY_RETRY_INTERVALS", RETRY_INTERVALS)
    try:
        job = delivery_queue(app).enqueue(
            deliver,
            message_id,
            job_id=f"deliver-{int(message_id)}-{uuid.uuid4().hex[:12]}",
            description=f"deliver message {int(message_id)}",
            retry=Retry(max=len(intervals), interval=list(intervals)) if intervals else None,
            job_timeout=JOB_TIMEOUT,
            result_ttl=RESULT_TTL,
            failure_ttl=FAILURE_TTL,
        )
    except redis.RedisError as exc:
        log.error("cannot queue the delivery of message %s (%s): it stays queued", message_id, exc)
        return None
    log.info("delivery of message %s queued as job %s", message_id, job.id)
    return str(job.id)


def enqueue_pending(app: Flask) -> int:
    """Queue every outbound message still ``queued`` (after a Redis outage); returns how many.

    Sends interrupted for good are recorded as failed first (:func:`fail_interrupted`).
    """
    fail_interrupted(app)
    with services(app).sessions() as session:
        ids = session.scalars(
            select(Message.id).where(Message.direction == Direction.OUT, Message.delivery_status == "queued")
        ).all()
    return sum(1 for message_id in ids if enqueue_delivery(app, message_id))


def fail_interrupted(app: Flask, now: dt.datetime | None = None) -> int:
    """Record sends that never finished (``sending`` past :data:`INTERRUPTED_AFTER`) as failed; returns how many."""
    cutoff = (now or utcnow()) - INTERRUPTED_AFTER
    with services(app).sessions() as session:
        stuck = session.scalars(
            select(Message)
            .where(
                Message.direction == Direction.OUT,
                Message.delivery_status == "sending",
                # Rows claimed before the start time was kept have none: they are older than any job.
                (Message.delivery_started_at < cutoff) | Message.delivery_started_at.is_(None),
            )
            .with_for_update(skip_locked=True)
        ).all()
        for message in stuck:
            _record(session, message, Outcome("failed", INTERRUPTED))
            log.error("message %s: its send was interrupted; recorded as failed for a person to check", message.id)
        session.commit()
    return len(stuck)


def job_app() -> Flask:
    """The app of the worker running this job (``python -m bot worker`` pushes its app context)."""
    if not has_app_context():
        raise RuntimeError("delivery jobs run in `python -m bot worker`, which provides the app context")
    return current_app._get_current_object()  # type: ignore[attr-defined,no-any-return]


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What became of one send."""

    status: str  # sent | failed | retry
    reason: str = ""
    via: str = "kf"  # how a sent message reached the citizen (Message.delivered_via)


class _Transient(Exception):
    """A failure worth another try (the message was not accepted by WeChat as far as we know)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def deliver(message_id: int) -> str:
    """RQ job: send one queued outbound message as a text customer-service message; record the outcome."""
    app = job_app()
    with services(app).sessions() as session:
        if not _claim(session, message_id):
            log.info("message %s is not queued (already sent, failed or being sent): nothing to do", message_id)
            return "skipped"
        message = session.get(Message, message_id)
        assert message is not None  # the claim found it
        openid = session.scalar(select(Citizen.openid).where(Citizen.id == message.citizen_id)) or ""
        if reachable_by_wechat(openid):
            outcome = _send(client_for(app.config, services(app).redis), openid, message.content)
        else:
            outcome = _other_channel(openid)
        if outcome.status == "retry":
            # Give the row back to the retry (which claims it again) before RQ schedules it.
            message.delivery_status = "queued"
            session.commit()
            log.warning("message %s to %s not sent, will retry: %s", message_id, mask_openid(openid), outcome.reason)
            raise _Transient(outcome.reason)
        _record(session, message, outcome)
        session.commit()
    if outcome.status == "sent":
        log.info("message %s sent to %s", message_id, mask_openid(openid))
    else:
        log.warning("message %s to %s failed: %s", message_id, mask_openid(openid), outcome.reason)
    return outcome.status


def _claim(session: Session, message_id: int) -> bool:
    # One atomic statement, committed before the send: a second run of the job (a retry after a
    # crash, a duplicate enqueue, another worker) finds the row no longer queued and sends nothing.
    result: Any = session.execute(
        update(Message)
        .where(Message.id == message_id, Message.direction == Direction.OUT, Message.delivery_status == "queued")
        .values(delivery_status="sending", delivery_started_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return bool(result.rowcount)


def _tries() -> tuple[int, bool]:
    """(this try's number, whether RQ will try again if this one fails)."""
    job = get_current_job()
    if job is None:  # called directly, not by a worker
        return 1, False
    tried = int(job.meta.get("tries", 0)) + 1
    job.meta["tries"] = tried
    job.save_meta()  # type: ignore[no-untyped-call]
    return tried, bool(job.retries_left)


def _send(client: SharedTokenClient, openid: str, text: str) -> Outcome:
    tried, more = _tries()
    try:
        client.send_text(openid, text)
    except WeChatClientException as exc:
        if exc.errcode is None:  # an HTTP error status
            status = exc.response.status_code if exc.response is not None else 0
            if status >= 500 or status == 0:
                return _transient(f"微信接口暂时不可用（HTTP {status}）", tried, more)
            return Outcome("failed", f"微信接口返回HTTP {status}：请检查WECHAT_API_BASE配置")
        code = int(exc.errcode)
        if code == BUSY:
            return _transient(f"-1 微信系统繁忙（{exc.errmsg}）", tried, more)
        if code in EXPLAINED:
            return Outcome("failed", EXPLAINED[code])
        return Outcome("failed", f"{code} 微信接口返回错误：{exc.errmsg}")
    except MissingSecret:
        return Outcome("failed", "未配置WECHAT_APP_SECRET，无法获取access_token：请管理员配置后重新发送")
    except TokenUnavailable as exc:
        return _transient(f"未能取得access_token（{exc}）", tried, more)
    except requests.ReadTimeout:
        # Sent, unanswered: WeChat may have delivered it, and a retry could say it twice.
        return Outcome("failed", UNCONFIRMED)
    except requests.RequestException as exc:
        return _transient(f"网络错误，无法连接微信接口（{type(exc).__name__}）", tried, more)
    return Outcome("sent")


def _other_channel(openid: str) -> Outcome:
    """A citizen who came through another door: the answer is published there, or a person must call."""
    channel = openid.split(":", 1)[0]
    if channel == "open311":
        # GeoReport clients read the answer as the request's status_notes: publishing it is delivering it.
        return Outcome("sent", via="open311")
    return Outcome("failed", OTHER_CHANNELS.get(channel, OTHER_CHANNELS["web"]))


def _transient(reason: str, tried: int, more: bool) -> Outcome:
    if more:
        return Outcome("retry", reason)
    return Outcome("failed", f"{reason}，已尝试{tried}次仍未发出：请稍后重新发送，或电话联系群众")


def _record(session: Session, message: Message, outcome: Outcome) -> None:
    now = utcnow()
    message.delivery_status = outcome.status
    if outcome.status == "sent":
        message.sent_at = now
        message.delivered_via = outcome.via
        message.delivery_error = None
    else:
        message.delivery_error = outcome.reason
    if message.case_id is None:
        return
    case = session.get(Case, message.case_id)
    if case is None:
        return
    before = case.status
    actor = message.responder or "system"
    # The satisfaction prompt is not an answer: it neither answers the case nor reads as one in its history.
    survey = message.template_key == "satisfaction_prompt"
    if outcome.status == "sent":
        if (message.responder or "") not in NOT_A_PERSON and not survey:
            if case.answered_at is None:
                case.answered_at = now
            if case.status in ANSWERABLE:
                case.status = CaseStatus.ANSWERED
        detail = f"{message.template_key}@{message.template_version}" if message.template_key else ""
        action = "survey_sent" if survey else "answer_sent"
    else:
        detail = outcome.reason
        action = "survey_failed" if survey else "answer_failed"
    case.updated_at = now
    session.add(
        CaseEvent(
            case_id=case.id,
            at=now,
            actor=actor[:80],
            action=action,
            from_status=before.value,
            to_status=case.status.value,
            detail=detail[:2000],
        )
    )
