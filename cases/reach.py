"""Whether a written answer can reach a citizen now, by the door they came through.

WeChat allows customer-service messages for 48 hours after the citizen's last message (5 at most), and 订阅通知
after that to citizens who consented; Open311 clients read the answer as the request's status notes; hotline callers
and web letters filed outside WeChat are phoned (cases.loop.answer_by_phone records it).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from models import Case, Citizen, Direction, Message, NoticeConsent, channel_of

# WeChat's customer-service window (WECHAT.md): after the citizen's last message, 48 hours, 5 messages.
SERVICE_WINDOW = dt.timedelta(hours=48)
SERVICE_QUOTA = 5
# Citizens with no WeChat (the hotline, a web letter filed outside WeChat): answered by phone, then recorded.
NO_WECHAT = {
    "hotline": "该诉求来自12345热线，群众没有微信联系方式：请按来电号码电话答复，再登记电话答复",
    "web": "该诉求来自网页表单（未关联微信）：请按群众留下的电话答复，再登记电话答复",
}


def service_window(session: Session, case: Case, now: dt.datetime, *, notice_template: str = "") -> tuple[bool, str]:
    """Whether a written answer can reach the citizen now, and why not.

    WeChat citizens: a customer-service message within 48 hours of their last message (5 at most), or after
    that a 订阅通知 of ``notice_template`` (SUBSCRIBE_TEMPLATE_ID; empty: none is sent) they consented to.
    Open311 clients read the answer as the request's status notes. Hotline callers and anonymous web letters
    have no WeChat: a person phones them and records it (cases.loop.answer_by_phone).
    """
    openid, subscribed = session.execute(
        select(Citizen.openid, Citizen.is_subscribed).where(Citizen.id == case.citizen_id)
    ).one()
    channel = channel_of(openid)
    if channel == "open311":
        return True, ""
    if channel != "wechat":
        return False, NO_WECHAT.get(channel, NO_WECHAT["web"])
    if not subscribed:
        return False, "群众已取消关注，无法发送消息：请电话联系"
    last_in = session.scalar(
        select(func.max(Message.received_at)).where(
            # Only what the citizen sent through WeChat opens its window (a web letter does not).
            Message.citizen_id == case.citizen_id,
            Message.direction == Direction.IN,
            Message.channel == "wechat",
        )
    )
    if last_in is None or now - last_in > SERVICE_WINDOW:
        if _has_consent(session, case, notice_template):
            return True, ""  # sent as a 订阅通知 (bot/jobs.py) once the customer-service message is refused
        return False, "距群众最后一次留言已超过48小时，无法发送客服消息：请电话联系，或待其再次留言"
    sent = session.scalar(
        select(func.count()).where(
            Message.citizen_id == case.citizen_id,
            Message.direction == Direction.OUT,
            Message.delivery_status.in_(("queued", "sending", "sent")),
            Message.received_at > last_in,
        )
    )
    if (sent or 0) >= SERVICE_QUOTA and not _has_consent(session, case, notice_template):
        return False, f"本次互动已发送{SERVICE_QUOTA}条客服消息，已达上限：请待群众再次留言，或电话联系"
    return True, ""


def usable_consent(citizen_id: int, template_id: str) -> list[ColumnElement[bool]]:
    """Consents that let one 订阅通知 of ``template_id`` reach the citizen: granted and not used (any case: WeChat
    counts them per citizen and template). The one rule for the case page, the sending job and a withdrawal."""
    return [
        NoticeConsent.citizen_id == citizen_id,
        NoticeConsent.template_id == template_id,
        NoticeConsent.status == "granted",
    ]


def _has_consent(session: Session, case: Case, template: str) -> bool:
    """An unused consent to the 订阅通知 ``template`` from this citizen."""
    if not template:
        return False
    found = session.scalar(select(NoticeConsent.id).where(*usable_consent(case.citizen_id, template)).limit(1))
    return found is not None
