"""The pipeline's decisions as a citizen sees them: cases, deadlines, replies, duplicates, fallbacks."""
from __future__ import annotations

import contextlib
import datetime as dt
import re

from sqlalchemy import select, update

from bot.extensions import services
from models import Alert, Case, CaseStatus, CaseType, Citizen, Direction, Message, ReplyTemplate, TemplateVersion
from tests.conftest import WeChat, count


def _case(db) -> Case:
    db.expire_all()
    return db.execute(select(Case)).scalar_one()


def _run_without_redis(app, text: str, msg_id: int, openid: str = "oNoRedis"):
    """The pipeline as it runs when Redis is down: no conversation state, one turn per message."""
    from handlers.dedupe import Claim
    from handlers.types import InboundMessage

    svc = services(app)
    msg = InboundMessage(kind="text", openid=openid, account="gh", create_time=dt.datetime.now(dt.UTC),
                         dedup_key=f"m:{msg_id}", msg_id=msg_id, text=text)  # fmt: skip
    with svc.message_sessions() as session:
        reply = svc.pipeline.process(msg, session, Claim("k", None, None, redis_ok=False), redis=svc.redis).reply
        session.commit()
    return reply


def test_complaint_ack_carries_case_number_and_deadline(clean_app, db):
    # Without conversation state (Redis down) a complaint is filed in one turn, as before intake existed.
    reply = _run_without_redis(clean_app, "楼下饭店油烟太大，投诉了好几次没人管", 5151)
    case = _case(db)
    assert case.case_type is CaseType.COMPLAINT and case.status is CaseStatus.ACCEPTED
    assert case.department == "environment" and case.owner_department == "environment"
    assert re.fullmatch(r"\d{13,}", case.number or "")
    assert case.sla_amount == 15 and case.sla_unit == "working_days"
    local_due = case.due_at.astimezone(dt.timezone(dt.timedelta(hours=8)))
    assert reply is not None
    assert case.number in reply.text
    assert f"{local_due.year}年{local_due.month}月{local_due.day}日" in reply.text
    assert "生态环境部门" in reply.text
    out = db.execute(select(Message).where(Message.direction == Direction.OUT)).scalar_one()
    assert (out.template_key, out.template_version, out.responder) == ("complaint_ack", 1, "bot")
    assert out.content == reply.text and out.case_id == case.id
    inbound = db.execute(select(Message).where(Message.direction == Direction.IN)).scalar_one()
    assert out.in_reply_to_id == inbound.id and case.opening_message_id == inbound.id


def test_complaint_starts_guided_intake_instead_of_an_immediate_case(wechat: WeChat, db):
    sent = wechat.text("楼下饭店油烟太大，投诉了好几次没人管", encrypt=True)
    assert sent.reply is not None and "具体地点" in sent.reply
    assert count(db, Case) == 0
    out = db.execute(select(Message).where(Message.direction == Direction.OUT)).scalar_one()
    assert out.template_key == "intake_ask_where"


def test_inquiry_gets_two_working_day_deadline(wechat: WeChat, db):
    # No FAQ answers this question: a person does, within the inquiry deadline.
    sent = wechat.text("请问孩子入学需要准备哪些材料")
    case = _case(db)
    assert case.case_type is CaseType.INQUIRY and case.sla_amount == 2
    assert case.department == "education"
    assert sent.reply is not None and "您的咨询已收到" in sent.reply and case.number in sent.reply


def test_emergency_points_to_the_right_number_first(wechat: WeChat, db):
    sent = wechat.text("楼道里着火了好多烟")
    assert sent.reply is not None and sent.reply.startswith("请立即拨打119")
    case = _case(db)
    assert case.case_type is CaseType.EMERGENCY and case.is_urgent and case.emergency_kind == "fire"
    assert case.sla_unit == "hours" and case.sla_amount == 5
    assert dt.timedelta(hours=4, minutes=59) < case.due_at - case.opened_at <= dt.timedelta(hours=5)
    for text, number in (("有人晕倒了没有呼吸", "120"), ("路口发生车祸了", "122"), ("有人持刀抢劫", "110")):
        reply = wechat.text(text).reply
        assert reply is not None and reply.startswith(f"请立即拨打{number}"), (text, reply)


def test_greeting_gets_default_reply_and_no_case(wechat: WeChat, db):
    sent = wechat.text("你好")
    assert sent.reply is not None and "受理投诉" in sent.reply
    assert count(db, Case) == 0
    out = db.execute(select(Message).where(Message.direction == Direction.OUT)).scalar_one()
    assert out.template_key == "default"


def test_identical_request_again_gets_same_reply_and_stores_nothing(wechat: WeChat, db):
    push = wechat.sim.sign(wechat.sim.text_xml("建议在幸福路口增设一个红绿灯", "oRepeat", msg_id=4242), encrypt=True)
    first = wechat.post(push)
    second = wechat.post(push)
    assert first.reply == second.reply and first.reply is not None
    assert count(db, Message) == 2 and count(db, Case) == 1


def test_duplicate_after_redis_lost_the_claim_is_caught_by_the_database(clean_app, wechat: WeChat, db):
    first = wechat.text("建议在幸福路口增设一个红绿灯", msg_id=777)
    svc = services(clean_app)
    for key in svc.redis.scan_iter(f"{clean_app.config['REDIS_NAMESPACE']}:dedup:*"):
        svc.redis.delete(key)
    again = wechat.text("建议在幸福路口增设一个红绿灯", msg_id=777)
    assert again.reply == first.reply
    assert count(db, Message) == 2 and count(db, Case) == 1


def test_event_dedup_uses_sender_time_event_and_key(wechat: WeChat, db):
    xml = wechat.sim.event_xml("CLICK", "oClicker", "MENU_GUIDE", create_time=1764201600)
    a = wechat.xml(xml)
    b = wechat.xml(xml)
    assert a.reply == b.reply
    assert count(db, Message, Message.direction == Direction.IN) == 1
    other = wechat.xml(wechat.sim.event_xml("CLICK", "oClicker", "MENU_OTHER", create_time=1764201600))
    assert other.status == 200
    assert count(db, Message, Message.direction == Direction.IN) == 2


def _voice(recognition: str, msg_id: int) -> str:
    return ("<xml><ToUserName>gh_x</ToUserName><FromUserName>oVoice</FromUserName><CreateTime>1764201600</CreateTime>"
            f"<MsgType>voice</MsgType><MediaId>m1</MediaId><Format>amr</Format><Recognition>{recognition}</Recognition>"
            f"<MsgId>{msg_id}</MsgId></xml>")  # fmt: skip


def test_voice_without_recognition_asks_for_text(wechat: WeChat, db):
    sent = wechat.xml(_voice("", 9001))
    assert sent.reply is not None and "文字" in sent.reply
    assert count(db, Case) == 0


def test_voice_with_recognition_is_treated_as_words(wechat: WeChat, db):
    sent = wechat.xml(_voice("小区路灯坏了没人修", 9002))
    # A complaint in words: its intake asks where (what happened was in the message).
    assert sent.reply is not None and "具体地点" in sent.reply
    assert count(db, Case) == 0


@contextlib.contextmanager
def _library_changed(app, db, change, undo):
    """Apply ``change`` to the library (as a publish would, telling workers), undo it afterwards."""
    svc = services(app)

    def apply(statement):
        db.execute(statement)
        db.commit()
        svc.deduper.bump_generation(svc.redis)

    apply(change)
    try:
        yield
    finally:
        apply(undo)


def test_template_failing_the_guard_sends_safe_fallback_and_alerts(clean_app, wechat: WeChat, db):
    version_id = db.execute(
        select(TemplateVersion.id).join(ReplyTemplate).where(ReplyTemplate.key == "default")
    ).scalar_one()
    original = db.get(TemplateVersion, version_id).body
    version = update(TemplateVersion).where(TemplateVersion.id == version_id)
    with _library_changed(clean_app, db, version.values(body="你不说话没人把你当哑巴"), version.values(body=original)):
        sent = wechat.text("你好")
        assert sent.reply is not None and "哑巴" not in sent.reply
        out = db.execute(select(Message).where(Message.direction == Direction.OUT)).scalar_one()
        assert out.template_key == "safe_fallback"
        alert = db.execute(select(Alert)).scalar_one()
        assert "default@1" in alert.detail and "offensive" in alert.detail


def test_disabled_template_is_never_sent(clean_app, wechat: WeChat, db):
    template = update(ReplyTemplate).where(ReplyTemplate.key == "suggestion_ack")
    with _library_changed(clean_app, db, template.values(is_enabled=False), template.values(is_enabled=True)):
        sent = wechat.text("建议在幸福路口增设一个红绿灯")
        assert sent.reply is not None and "工作人员会阅读" in sent.reply
        assert count(db, Alert) == 1
        assert count(db, Case) == 1  # the case is still filed: a person will answer it


def test_citizen_is_recorded_once_across_messages(wechat: WeChat, db):
    wechat.text("你好", openid="oSame")
    wechat.text("路灯坏了没人修", openid="oSame")
    assert count(db, Citizen) == 1
    assert count(db, Message, Message.direction == Direction.IN) == 2


def test_log_lines_carry_no_personal_data(wechat: WeChat, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    openid = "oPrivateCitizen0000000000042"
    wechat.text("我的电话13812345678，路灯坏了没人修", openid=openid)
    wechat.text("我的电话13812345678，路灯坏了没人修", openid=openid, encrypt=True)
    wechat.xml("not xml 13812345678")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "bot.wechat" in " ".join(r.name for r in caplog.records)  # the edge did log
    assert openid not in logged and "13812345678" not in logged


def test_postgres_write_refuses_a_transactional_session(clean_app, backend):
    """The one-statement write commits by itself; on a pooled transactional connection it would be
    rolled back silently after the citizen was told the case was filed."""
    import datetime as dt

    import pytest

    from handlers.dedupe import Claim
    from handlers.store import StoreError
    from handlers.types import InboundMessage

    if backend.name != "postgres":
        pytest.skip("PostgreSQL's one-statement write only")
    svc = services(clean_app)
    msg = InboundMessage(kind="text", openid="oTx", account="gh", create_time=dt.datetime.now(dt.UTC),
                         dedup_key="m:424242", msg_id=424242, text="路灯坏了没人修")  # fmt: skip
    with svc.sessions() as session, pytest.raises(StoreError):
        svc.pipeline.process(msg, session, Claim("k", "t", "g"))
