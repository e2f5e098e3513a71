"""Exports of messages and cases: one record per row, personal data masked on the server."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from flask import Flask
from sqlalchemy import select

from bot.extensions import services
from models import Case, Citizen, Message
from text.pii import mask_openid, mask_text

MESSAGE_FIELDS = [
    "id",
    "direction",
    "msg_id",
    "openid",
    "msg_type",
    "event",
    "content",
    "created_at",
    "template_id",
    "template_version",
    "responder",
    "in_reply_to",
    "case_number",
]
CASE_FIELDS = [
    "number",
    "case_type",
    "status",
    "department",
    "is_urgent",
    "emergency_kind",
    "needs_triage",
    "openid",
    "summary",
    "opened_at",
    "due_at",
    "sla",
    "owner_department",
    "owner_user",
    "closed_at",
]


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def export_rows(app: Flask, kind: str) -> tuple[Iterator[dict[str, Any]], list[str]]:
    """Rows of ``kind`` ("messages" or "cases") in id order, and their field names."""
    session = services(app).sessions()
    if kind == "messages":
        return _messages(session), MESSAGE_FIELDS
    return _cases(session), CASE_FIELDS


def _messages(session: Any) -> Iterator[dict[str, Any]]:
    with session:
        stmt = (
            select(Message, Citizen.openid, Case.number)
            .join(Citizen, Citizen.id == Message.citizen_id)
            .outerjoin(Case, Case.id == Message.case_id)
            .order_by(Message.id)
            .execution_options(yield_per=500)
        )
        for msg, openid, case_number in session.execute(stmt):
            yield {
                "id": msg.id,
                "direction": msg.direction.value,
                "msg_id": msg.wechat_msg_id,
                "openid": mask_openid(openid),
                "msg_type": msg.msg_type,
                "event": msg.event,
                "content": mask_text(msg.content),
                "created_at": _iso(msg.created_at),
                "template_id": msg.template_key,
                "template_version": msg.template_version,
                "responder": msg.responder,
                "in_reply_to": msg.in_reply_to_id,
                "case_number": case_number,
            }


def _cases(session: Any) -> Iterator[dict[str, Any]]:
    with session:
        stmt = (
            select(Case, Citizen.openid)
            .join(Citizen, Citizen.id == Case.citizen_id)
            .order_by(Case.id)
            .execution_options(yield_per=500)
        )
        for case, openid in session.execute(stmt):
            yield {
                "number": case.number,
                "case_type": case.case_type.value,
                "status": case.status.value,
                "department": case.department,
                "is_urgent": case.is_urgent,
                "emergency_kind": case.emergency_kind,
                "needs_triage": case.needs_triage,
                "openid": mask_openid(openid),
                "summary": mask_text(case.summary),
                "opened_at": _iso(case.opened_at),
                "due_at": _iso(case.due_at),
                "sla": f"{case.sla_amount} {case.sla_unit}",
                "owner_department": case.owner_department,
                "owner_user": case.owner_user,
                "closed_at": _iso(case.closed_at),
            }
