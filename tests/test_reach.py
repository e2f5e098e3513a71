"""How an answer reaches a citizen by the door they came through (cases/reach.py) and the phone answer."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from cases import loop
from cases.reach import service_window
from handlers.types import Filed
from models import Case, CaseEvent, CaseStatus, Message, NoticeConsent, utcnow
from tests.test_console import login
from tests.test_console_cases import ENV_OP, _post, case_accounts  # noqa: F401 (a fixture)
from tests.test_filing import _file

ANYONE = loop.Worker("qian")


def _case(db, filing) -> Case:
    case = db.get(Case, filing.case.id)
    assert case is not None
    return case


def test_a_hotline_caller_is_phoned_and_the_phone_answer_is_recorded(clean_app, db):
    case = _case(db, _file(clean_app, "反映小区垃圾清运不及时", "T-9", channel="hotline"))
    ok, why = service_window(db, case, utcnow())
    assert not ok and "12345热线" in why and "电话" in why
    with pytest.raises(loop.CaseError, match="至少10个字"):
        loop.answer_by_phone(db, case, ANYONE, "已答复")
    loop.answer_by_phone(db, case, ANYONE, "已电话告知群众本周五前完成清运，群众表示满意")
    db.commit()
    db.refresh(case)
    assert case.status is CaseStatus.ANSWERED and case.answered_at is not None
    loop.close(db, case, ANYONE, "已办结")  # a phone answer counts as an answer
    events = [e.action for e in db.query(CaseEvent).filter_by(case_id=case.id)]
    assert events == ["accept", "answer_phone", "close"]


def test_an_anonymous_web_letter_is_phoned_but_an_open311_request_reads_its_answer(clean_app, db):
    web = _case(db, _file(clean_app, "小区路灯坏了一个月", "w-1", channel="web"))
    assert not service_window(db, web, utcnow())[0]
    api = _case(db, _file(clean_app, "小区路灯坏了一个月", "o-1", channel="open311"))
    assert service_window(db, api, utcnow()) == (True, "")


def test_after_48_hours_only_a_consent_to_subscription_notices_lets_an_answer_through(wechat, db):
    wechat.text("请问孩子入学需要准备哪些材料")
    case = db.query(Case).one()
    later = utcnow() + dt.timedelta(days=10)
    ok, why = service_window(db, case, later)
    assert not ok and "48小时" in why
    db.add(NoticeConsent(citizen_id=case.citizen_id, case_id=case.id, template_id="tpl", source="one_time"))
    db.commit()
    assert not service_window(db, case, later)[0]  # subscriptions off: the consent cannot be used
    assert not service_window(db, case, later, notice_template="another")[0]
    assert service_window(db, case, later, notice_template="tpl") == (True, "")
    db.execute(update(NoticeConsent).values(status="used"))
    db.execute(update(Message).values(received_at=later - dt.timedelta(hours=1)))
    db.commit()
    assert service_window(db, case, later)[0]  # within the window again after a new message


def test_a_new_case_offers_the_subscription_when_notices_are_on(clean_app, wechat, db):
    from bot.extensions import services

    pipeline = services(clean_app).pipeline
    link = "https://gov.example.cn/notice/subscribe"
    pipeline.notice_link = link
    try:
        offered = wechat.text("请问孩子入学需要准备哪些材料").reply
        chat = wechat.text("你好", openid="oAnotherCitizen0000000000001").reply
    finally:
        pipeline.notice_link = None
    assert offered is not None and "受理编号" in offered and offered.rstrip().endswith(link)
    assert chat is not None and link not in chat  # no case, no offer
    out = db.query(Message).filter(Message.template_key == "inquiry_ack_notice").one()
    assert out.template_version == 1
    plain = wechat.text("请问老年证在哪里办理", openid="oThirdCitizen00000000000000001").reply
    assert plain is not None and "订阅" not in plain  # notices off: the plain acknowledgement


@pytest.mark.usefixtures("case_accounts")
def test_an_operator_records_a_phone_answer_to_a_hotline_caller_on_the_case_page(clean_app, db):
    filing = _file(clean_app, "反映小区垃圾清运不及时", "T-page", channel="hotline",
                   filed=Filed(case_type="complaint", department="environment", acknowledge=False))
    assert filing.case is not None
    client = login(clean_app, ENV_OP)
    page = client.get(f"/console/cases/{filing.case.id}").get_data(as_text=True)
    assert "12345热线" in page and "登记电话答复" in page and "预览答复" not in page
    page = _post(client, f"/console/cases/{filing.case.id}/act/answer_phone",
                 note="已电话告知群众本周五前完成清运，群众表示满意")
    assert "已完成：电话答复" in page and "电话答复" in page
    db.expire_all()
    assert db.get(Case, filing.case.id).status is CaseStatus.ANSWERED
