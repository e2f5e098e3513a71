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

A person's answer to a case that WeChat refuses as a customer-service message because the 48-hour window is
closed (45015, or the citizen's last message is known to be older) or its 5 messages are used up (45047) goes as
a 订阅通知 instead when
``SUBSCRIBE_TEMPLATE_ID`` is set and the citizen agreed to one (bot/notice.py): one granted consent is claimed
(granted → used, committed before the send, like the message), the notice is sent through ``bizsend`` with a link
to the answer's page, and the outcome records the consent's fate: used (``delivered_via="subscribe"`` and a case
event), refused when WeChat says none is left (43101), or given back when the send itself was refused or will be
retried. The satisfaction prompt never uses a consent: the citizen's one notice is for the answer.

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
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import redis
import requests
from flask import Flask, current_app, has_app_context
from rq import Queue, Retry, get_current_job
from sqlalchemy import case as sql_case
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from wechatpy.exceptions import WeChatClientException

from bot.notice import SUMMARY_TEMPLATE, answer_link, notice_data
from bot.services import services
from bot.wechat.api import MissingSecret, SharedTokenClient, TokenUnavailable, client_for
from cases.outbound import NOT_A_PERSON
from cases.reach import NO_WECHAT, SERVICE_WINDOW, usable_consent
from handlers.rating import PROMPT_KEY
from models import (
    Case,
    CaseEvent,
    CaseStatus,
    Citizen,
    Direction,
    Message,
    NoticeConsent,
    channel_of,
    reachable_by_wechat,
    utcnow,
)
from replies.library import NotSendable, render_chosen
from replies.variables import CASE_STATUS_NAMES
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
# What the staff should do when WeChat refuses a 订阅通知 (the customer-service window had closed already).
NOTICE_EXPLAINED = {
    43101: "43101 客服消息时限已过，群众未订阅答复通知（或订阅已用完、已拒收）：请电话联系群众，或待其再次留言后发送",
    47003: (
        "47003 订阅通知内容不符合模板要求（字段过长或格式不符）：请管理员核对订阅通知模板的字段设置；"
        "答复未送达，请电话联系群众"
    ),
    40037: "40037 订阅通知模板ID无效：请管理员核对SUBSCRIBE_TEMPLATE_ID；答复未送达，请电话联系群众",
    45009: "45009 订阅通知今日发送次数已达上限：请明日重新发送，或电话联系群众",
}
# Customer-service refusals a 订阅通知 can get around: the 48-hour window closed, or its 5 messages are used up
# (cases/reach.py lets a person answer in either case when the citizen consented).
WINDOW_CLOSED = frozenset({45015, 45047})
# The refusals that mean WeChat holds no consent of this citizen to this template any more.
CONSENT_GONE = frozenset({43101})
NO_CONSENT = "45015 超出48小时客服消息时限，群众也没有可用的订阅通知授权：请电话联系群众，或待其再次留言后发送"
NO_PAGE = "未配置PUBLIC_BASE_URL，订阅通知无法链接到答复全文：请管理员配置后重新发送，或电话联系群众"
NO_SUMMARY = "订阅通知摘要模板未发布或已关闭，无法发送订阅通知：请发布后重新发送，或电话联系群众"
# WeChat's "系统繁忙，请稍候再试".
BUSY = -1
# A case in one of these states is answered once a person's message reaches the citizen.
ANSWERABLE = frozenset({CaseStatus.ACCEPTED, CaseStatus.ASSIGNED, CaseStatus.IN_PROGRESS})


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
    code: int | None = None  # WeChat's errcode, when it refused


class _NoNotice(Exception):
    """A 订阅通知 cannot be built (no page address, no vetted summary); ``str()`` says what to do, in Chinese."""


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
        citizen = session.get(Citizen, message.citizen_id)
        openid = citizen.openid if citizen is not None else ""
        if citizen is not None and reachable_by_wechat(openid):
            outcome = _to_wechat(app, session, message, citizen)
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
        log.info("message %s sent to %s (%s)", message_id, mask_openid(openid), outcome.via)
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


def _to_wechat(app: Flask, session: Session, message: Message, citizen: Citizen) -> Outcome:
    """A customer-service message; a person's answer past the 48-hour window as a 订阅通知 instead."""
    client = client_for(app.config, services(app).redis)
    tries = _tries()
    notice = _notice_wanted(app.config, message)
    if notice and utcnow() - citizen.last_seen_at > SERVICE_WINDOW:
        # The citizen has been silent for 48 hours: WeChat would refuse the message (45015), so do not ask.
        return _by_notice(app, session, client, message, citizen, tries)
    outcome = _send(client, citizen.openid, message.content, tries)
    if notice and outcome.code in WINDOW_CLOSED:
        return _by_notice(app, session, client, message, citizen, tries)
    return outcome


def _send(client: SharedTokenClient, openid: str, text: str, tries: tuple[int, bool]) -> Outcome:
    return _call(lambda: client.send_text(openid, text), EXPLAINED, tries)


def _call(
    send: Callable[[], object], explained: Mapping[int, str], tries: tuple[int, bool], via: str = "kf"
) -> Outcome:
    """Make one API call and say what became of it (``explained``: WeChat's refusals, in words for staff)."""
    tried, more = tries
    try:
        send()
    except WeChatClientException as exc:
        if exc.errcode is None:  # an HTTP error status
            status = exc.response.status_code if exc.response is not None else 0
            if status >= 500 or status == 0:
                return _transient(f"微信接口暂时不可用（HTTP {status}）", tried, more)
            return Outcome("failed", f"微信接口返回HTTP {status}：请检查WECHAT_API_BASE配置")
        code = int(exc.errcode)
        if code == BUSY:
            return _transient(f"-1 微信系统繁忙（{exc.errmsg}）", tried, more)
        if code in explained:
            return Outcome("failed", explained[code], code=code)
        return Outcome("failed", f"{code} 微信接口返回错误：{exc.errmsg}", code=code)
    except MissingSecret:
        return Outcome("failed", "未配置WECHAT_APP_SECRET，无法获取access_token：请管理员配置后重新发送")
    except TokenUnavailable as exc:
        return _transient(f"未能取得access_token（{exc}）", tried, more)
    except requests.ReadTimeout:
        # Sent, unanswered: WeChat may have delivered it, and a retry could say it twice.
        return Outcome("failed", UNCONFIRMED)
    except requests.RequestException as exc:
        return _transient(f"网络错误，无法连接微信接口（{type(exc).__name__}）", tried, more)
    return Outcome("sent", via=via)


# -- 订阅通知 ---------------------------------------------------------------------------------------


def _notice_wanted(config: Mapping[str, Any], message: Message) -> bool:
    """Whether ``message`` may go as a 订阅通知: a person's answer to a case, with a template configured."""
    return (
        bool(config.get("SUBSCRIBE_TEMPLATE_ID"))
        and message.case_id is not None
        and (message.responder or "") not in NOT_A_PERSON
        # The citizen's one-time consent is for the answer: a survey must not use it up.
        and message.template_key != PROMPT_KEY
    )


def _by_notice(
    app: Flask, session: Session, client: SharedTokenClient, message: Message, citizen: Citizen, tries: tuple[int, bool]
) -> Outcome:
    """The answer as a 订阅通知: one granted consent claimed, the notice sent, the consent's fate recorded."""
    template_id = str(app.config["SUBSCRIBE_TEMPLATE_ID"])
    try:
        data, page = _notice_content(app, session, message)
    except _NoNotice as exc:
        return Outcome("failed", str(exc))
    consent = _claim_consent(session, citizen.id, template_id, message)
    if consent is None:
        return Outcome("failed", NO_CONSENT)
    outcome = _call(
        lambda: client.send_subscribe_notice(citizen.openid, template_id, data, page),
        NOTICE_EXPLAINED,
        tries,
        via="subscribe",
    )
    _settle_consent(session, consent, message, outcome, ZoneInfo(app.config["TIMEZONE"]))
    return outcome


def _notice_content(app: Flask, session: Session, message: Message) -> tuple[dict[str, str], str]:
    """The notice's values and the page it opens; :class:`_NoNotice` when either cannot be had."""
    case = session.get(Case, message.case_id)
    assert case is not None  # a message's case is never deleted
    page = answer_link(app.config, case.number, message.id)
    if page is None:
        raise _NoNotice(NO_PAGE)
    try:
        # A person's answer goes out even while the automatic replies are switched off: so does its summary.
        summary = render_chosen(services(app).library, session, SUMMARY_TEMPLATE, {}).text
    except NotSendable:
        raise _NoNotice(NO_SUMMARY) from None
    # The status the case takes once this answer reaches the citizen.
    status = CASE_STATUS_NAMES[CaseStatus.ANSWERED.value]
    return notice_data(case.number, status, summary, utcnow(), ZoneInfo(app.config["TIMEZONE"])), page


def _claim_consent(session: Session, citizen_id: int, template_id: str, message: Message) -> NoticeConsent | None:
    """Take one granted consent for ``message`` (granted → used, committed before the send); None if none is left.

    The case's own consent first, then the oldest: WeChat counts consents per citizen and template, so any of
    them lets this notice through. The claim is one conditional UPDATE, like the message's: two jobs for the same
    citizen never take the same consent.
    """
    own_case_first = sql_case((NoticeConsent.case_id == message.case_id, 0), else_=1)
    for _ in range(3):  # another job may take the one we saw between the read and the claim
        candidate = session.scalar(
            select(NoticeConsent.id)
            .where(*usable_consent(citizen_id, template_id))
            .order_by(own_case_first, NoticeConsent.granted_at, NoticeConsent.id)
            .limit(1)
        )
        if candidate is None:
            return None
        claimed: Any = session.execute(
            update(NoticeConsent)
            .where(NoticeConsent.id == candidate, NoticeConsent.status == "granted")
            .values(status="used", used_at=utcnow(), used_message_id=message.id)
            .execution_options(synchronize_session=False)
        )
        session.commit()
        if claimed.rowcount:
            return session.get(NoticeConsent, candidate, populate_existing=True)
    return None


def _settle_consent(session: Session, consent: NoticeConsent, message: Message, outcome: Outcome, tz: ZoneInfo) -> None:
    """What the send did to the consent: used (and said so on the case), refused for good, or given back."""
    if outcome.status == "sent":
        case = session.get(Case, message.case_id)
        if case is not None:
            granted = consent.granted_at.astimezone(tz)
            session.add(
                CaseEvent(
                    case_id=case.id,
                    at=utcnow(),
                    actor="system",
                    action="notice_used",
                    from_status=case.status.value,
                    to_status=case.status.value,
                    detail=f"已使用群众{granted.month}月{granted.day}日同意的订阅通知，答复以订阅通知送达",
                )
            )
        return
    if outcome.code in CONSENT_GONE:
        # WeChat holds none for this citizen and template: every consent still counted as granted is stale too.
        session.execute(
            update(NoticeConsent)
            .where(
                NoticeConsent.citizen_id == consent.citizen_id,
                NoticeConsent.template_id == consent.template_id,
                NoticeConsent.status == "granted",
            )
            .values(status="refused", detail=f"{outcome.code} 微信拒绝发送：授权已失效")
            .execution_options(synchronize_session=False)
        )
        consent.status, consent.used_at = "refused", None
        consent.detail = f"{outcome.code} 微信拒绝发送：授权已失效"
        return
    if outcome.status == "failed" and outcome.reason == UNCONFIRMED:
        # WeChat may have delivered it, and so used the consent: it stays used, by this message.
        consent.detail = "发送结果未确认（微信接口未及时答复）"
        return
    # The send itself was refused or will be retried: WeChat did not use the consent, so it is there for the next.
    consent.status, consent.used_at, consent.used_message_id = "granted", None, None


def _other_channel(openid: str) -> Outcome:
    """A citizen who came through another door: the answer is published there, or a person must call."""
    channel = channel_of(openid)
    if channel == "open311":
        # GeoReport clients read the answer as the request's status_notes: publishing it is delivering it.
        return Outcome("sent", via="open311")
    # A citizen with no OpenID (the hotline, a web form opened outside WeChat): a person must phone them.
    return Outcome("failed", NO_WECHAT.get(channel, NO_WECHAT["web"]))


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
    survey = message.template_key == PROMPT_KEY
    if outcome.status == "sent":
        if (message.responder or "") not in NOT_A_PERSON and not survey:
            if case.answered_at is None:
                case.answered_at = now
            if case.status in ANSWERABLE:
                case.status = CaseStatus.ANSWERED
        detail = f"{message.template_key}@{message.template_version}" if message.template_key else ""
        if outcome.via == "subscribe":
            detail += "（订阅通知）"
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
