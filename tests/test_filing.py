"""Requests filed through other doors (web form, Open311, hotline) enter the same loop as WeChat messages."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from bot.extensions import services
from handlers.types import Filed, InboundMessage
from models import Case, CaseType, Direction, Message, channel_identity, reachable_by_wechat


def _file(app, text: str, key: str, *, channel: str = "web", filed: Filed | None = None,
          accepted_at: dt.datetime | None = None):
    svc = services(app)
    msg = InboundMessage(kind="form", openid=channel_identity(channel, "t1"), account="gh",
                         create_time=dt.datetime.now(dt.UTC), dedup_key=f"{channel}:{key}", text=text,
                         channel=channel, filed=filed or Filed())  # fmt: skip
    with svc.message_sessions() as session:
        filing = svc.pipeline.file(msg, session, accepted_at=accepted_at)
        session.commit()
    return filing


def test_a_filed_complaint_becomes_a_case_of_its_channel_with_an_acknowledgement(clean_app, db):
    filing = _file(clean_app, "小区门口路灯坏了一个月，晚上很黑", "a1",
                   filed=Filed(case_type="complaint", summary="问题描述：路灯坏了\n发生地点：幸福小区门口"))
    assert not filing.duplicate and filing.case is not None
    case = db.get(Case, filing.case.id)
    assert case is not None and case.channel == "web" and case.case_type is CaseType.COMPLAINT
    assert case.summary.startswith("问题描述：路灯坏了") and case.sla_amount == 15
    assert filing.reply is not None and case.number in filing.reply.text
    assert filing.reply.template_key == "complaint_ack_form" and "本账号" not in filing.reply.text
    rows = db.execute(select(Message.direction, Message.channel, Message.msg_type)).all()
    assert sorted((d.value, c, t) for d, c, t in rows) == [("in", "web", "form"), ("out", "web", "text")]


def test_filing_the_same_request_twice_gives_one_case(clean_app, db):
    first = _file(clean_app, "建议在公园增加健身器材", "same", filed=Filed(case_type="suggestion"))
    again = _file(clean_app, "建议在公园增加健身器材", "same", filed=Filed(case_type="suggestion"))
    assert again.duplicate and first.case is not None and again.case is not None
    assert again.case.number == first.case.number
    assert len(db.execute(select(Case)).all()) == 1


def test_an_emergency_in_a_form_is_urgent_and_names_the_number(clean_app, db):
    filing = _file(clean_app, "楼道里着火了好多烟，有人被困", "fire", filed=Filed(case_type="complaint"))
    assert filing.case is not None and filing.case.is_urgent and filing.case.sla_unit == "hours"
    assert filing.reply is not None and "119" in filing.reply.text


def test_a_hotline_ticket_is_backdated_and_records_no_reply(clean_app, db):
    called = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)
    filing = _file(clean_app, "反映小区垃圾清运不及时", "T-1", channel="hotline", accepted_at=called,
                   filed=Filed(case_type="complaint", department="environment", acknowledge=False))
    case = db.get(Case, filing.case.id) if filing.case else None
    assert case is not None and case.channel == "hotline" and case.opened_at == called
    assert case.department == "environment" and not case.needs_triage and filing.reply is None
    assert db.execute(select(Message).where(Message.direction == Direction.OUT)).first() is None


def test_chitchat_in_a_form_is_read_by_a_person_first(clean_app, db):
    filing = _file(clean_app, "你好", "hello")
    assert filing.case is not None and filing.case.needs_triage
    assert filing.reply is not None and filing.reply.template_key == "review_ack"


def test_other_channels_are_not_wechat_openids():
    assert reachable_by_wechat("oAbC-123_x") and not reachable_by_wechat(channel_identity("hotline", "abc"))


def test_a_backdated_filing_never_moves_a_citizen_back_in_time(clean_app, db):
    from models import Citizen

    _file(clean_app, "反映小区垃圾清运不及时", "T-new", channel="hotline", filed=Filed(acknowledge=False))
    seen = db.execute(select(Citizen.last_seen_at)).scalar_one()
    old = dt.datetime(2026, 1, 5, 2, 0, tzinfo=dt.UTC)
    _file(clean_app, "反映路灯不亮", "T-old", channel="hotline", accepted_at=old, filed=Filed(acknowledge=False))
    db.expire_all()
    assert db.execute(select(Citizen.last_seen_at)).scalar_one() == seen
