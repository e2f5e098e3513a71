"""订阅通知 pushes: the citizen's consent to a notice, its withdrawal, and WeChat's report on a notice sent.

Recorded, never answered (a push about a prompt is not a message to reply to). A granted one-time consent lets one
notice through later (bot/jobs.py sends it, cases/reach.py counts it); each step is told on the case it concerns.
"""

from __future__ import annotations

import logging
from xml.etree import ElementTree

from sqlalchemy import select

from cases.loop import OPEN_ORDERED
from cases.reach import usable_consent
from handlers.turn import Turn
from models import Case, CaseEvent, Citizen, Message, NoticeConsent

log = logging.getLogger(__name__)

# PopupScene of subscribe_msg_popup_event: where the citizen saw the prompt.
_POPUP_SCENES = {1: "网页", 2: "图文消息"}


def _notice_items(turn: Turn) -> list[dict[str, str]]:
    """The ``<List>`` entries of a 订阅通知 push (one per template), each as tag → text.

    wechatpy does not know these events; the edge keeps the cleaned XML, whose DTD it has already refused. The
    lists are found wherever they sit: WeChat's own sample of the change event wraps them in the popup's tag.
    """
    try:
        root = ElementTree.fromstring(turn.msg.raw_xml)  # noqa: S314 (no DTD reaches here: bot/wechat/codec.py)
    except ElementTree.ParseError:
        return []
    return [{child.tag: (child.text or "").strip() for child in item} for item in root.iter("List")]


def _citizen_of(turn: Turn) -> int | None:
    # On PostgreSQL the store writes the citizen after the stages: someone who answers a prompt has written before.
    if turn.citizen_id is not None:
        return turn.citizen_id
    found: int | None = turn.session.scalar(select(Citizen.id).where(Citizen.openid == turn.msg.openid))
    return found


def _latest_open_case(turn: Turn, citizen_id: int) -> Case | None:
    return turn.session.scalars(
        select(Case)
        .where(Case.citizen_id == citizen_id, Case.status.in_(OPEN_ORDERED))
        .order_by(Case.opened_at.desc(), Case.id.desc())
        .limit(1)
    ).first()


def _cases_of(turn: Turn, ids: set[int]) -> list[Case]:
    return list(turn.session.scalars(select(Case).where(Case.id.in_(sorted(ids))))) if ids else []


def _seen_consent(turn: Turn, citizen_id: int, template_id: str) -> bool:
    """True if this very push was recorded before (a retry the database caught after the stages ran)."""
    found = turn.session.scalar(
        select(NoticeConsent.id).where(
            NoticeConsent.citizen_id == citizen_id,
            NoticeConsent.template_id == template_id,
            NoticeConsent.source == "popup",
            NoticeConsent.granted_at == turn.msg.create_time,
        )
    )
    return found is not None


def _case_event(turn: Turn, case: Case, action: str, detail: str) -> None:
    case.updated_at = turn.now
    turn.session.add(
        CaseEvent(
            case_id=case.id,
            at=turn.now,
            actor="citizen",
            action=action,
            from_status=case.status.value,
            to_status=case.status.value,
            detail=detail,
        )
    )


def on_popup(turn: Turn) -> None:
    """The citizen answered WeChat's 订阅通知 prompt (our page, or an article): each template's accept or reject.

    An accepted one-time consent lets one notice through (bot/jobs.py uses it); it is bound to the citizen's
    latest open case, since WeChat counts consents per citizen and template, not per case.
    """
    citizen_id = _citizen_of(turn)
    if citizen_id is None:
        log.info("订阅通知 consent from an unknown citizen: stored only")
        return
    case = _latest_open_case(turn, citizen_id)
    for item in _notice_items(turn):
        template_id = item.get("TemplateId", "")[:64]
        if not template_id or _seen_consent(turn, citizen_id, template_id):
            continue
        accepted = item.get("SubscribeStatusString") == "accept"
        scene = int(item["PopupScene"]) if item.get("PopupScene", "").isdigit() else 0
        where = _POPUP_SCENES.get(scene, "订阅提示")
        turn.session.add(
            NoticeConsent(
                citizen_id=citizen_id,
                case_id=case.id if case else None,
                template_id=template_id,
                scene=scene,
                source="popup",
                status="granted" if accepted else "rejected",
                # WeChat's time of the choice: a retried push finds its row by it (see _seen_consent).
                granted_at=turn.msg.create_time,
                detail=f"{where}：{'同意' if accepted else '拒绝'}",
            )
        )
        if case is not None:
            action, what = ("notice_consent", "同意接收") if accepted else ("notice_declined", "拒绝接收")
            _case_event(turn, case, action, f"群众{what}订阅通知（{where}）")


def on_change(turn: Turn) -> None:
    """The citizen switched a template's notices off in WeChat's settings: their consents to it are void."""
    citizen_id = _citizen_of(turn)
    if citizen_id is None:
        return
    for item in _notice_items(turn):
        if item.get("SubscribeStatusString") != "reject":
            continue  # WeChat pushes only refusals here; anything else changes nothing we count
        granted = list(
            turn.session.scalars(select(NoticeConsent).where(*usable_consent(citizen_id, item.get("TemplateId", ""))))
        )
        for consent in granted:
            consent.status, consent.detail = "rejected", "群众在微信服务通知设置中拒收"
        for case in _cases_of(turn, {c.case_id for c in granted if c.case_id is not None}):
            _case_event(turn, case, "notice_revoked", "群众在微信服务通知设置中拒收订阅通知，此后答复须电话联系")


def on_sent(turn: Turn) -> None:
    """WeChat's report on a notice we sent: kept with the consent it used; a failure told on the case."""
    citizen_id = _citizen_of(turn)
    if citizen_id is None:
        return
    for item in _notice_items(turn):
        consent = turn.session.scalars(
            select(NoticeConsent)
            .where(
                NoticeConsent.citizen_id == citizen_id,
                NoticeConsent.template_id == item.get("TemplateId", ""),
                NoticeConsent.status == "used",
            )
            .order_by(NoticeConsent.used_at.desc(), NoticeConsent.id.desc())
            .limit(1)
        ).first()
        if consent is None:
            continue
        status = item.get("ErrorStatus", "")[:200]
        consent.detail = f"微信回执：{status or item.get('ErrorCode', '')}"
        if item.get("ErrorCode", "0") in ("", "0") or consent.used_message_id is None:
            continue
        case_id = turn.session.scalar(select(Message.case_id).where(Message.id == consent.used_message_id))
        for case in _cases_of(turn, {case_id} if case_id else set()):
            _case_event(turn, case, "notice_undelivered", f"微信回执订阅通知未送达（{status}）：请电话联系群众")
