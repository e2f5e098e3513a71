"""订阅通知: a citizen's consent, recorded from WeChat's push, lets an answer reach them after the 48-hour window.

On each backend, against the fake WeChat API: a complaint filed through /wechat, the consent page, the popup
event; the answer (given through the case loop, or on day 10) refused as a customer-service message goes out
through bizsend with the case number, status, a vetted summary and a link to the answer's page; the consent is
used once. WeChat's refusals (43101, 47003, 40037, a busy server) fail with what staff should do, and mark the
consent refused only when WeChat says it is gone. The answer page shows the answer only with its signed token.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from sqlalchemy import select

from bot import jobs
from bot.extensions import services
from bot.notice import answer_link
from bot.public import consent_page
from cases import loop
from cases.outbound import queued_message
from models import Case, CaseEvent, CaseStatus, CaseType, Citizen, Direction, Message, NoticeConsent, utcnow
from tests.conftest import APP_SECRET, WeChat

TEMPLATE = "Tpl-AnswerNotice_0123456789abcdefghijklmno"
BASE = "https://minsheng.example.gov.cn"
SUMMARY = "您反映的问题已有答复，请点开查看"
COMPLAINT = ("我要投诉", "小区门口的垃圾堆满了，一直没有人来清理", "幸福路88号幸福小区东门", "从上周开始", "不需要")
STAFF = loop.Worker("wu")


@pytest.fixture
def napp(clean_app: Flask, fake_api: Any, monkeypatch: pytest.MonkeyPatch) -> Flask:
    """The app with 订阅通知 on, its WeChat API the fake."""
    settings = {
        "WECHAT_API_BASE": fake_api.url,
        "WECHAT_APP_SECRET": APP_SECRET,
        "SUBSCRIBE_TEMPLATE_ID": TEMPLATE,
        "PUBLIC_BASE_URL": BASE,
    }
    for key, value in settings.items():
        monkeypatch.setitem(clean_app.config, key, value)
    return clean_app


def deliver(app: Flask, message_id: int) -> str:
    """Run the delivery job in this process (as the worker would; no RQ retries: a transient error fails)."""
    with app.app_context():
        return jobs.deliver(message_id)


def popup_xml(wechat: WeChat, openid: str, status: str = "accept", *, event: str = "subscribe_msg_popup_event",
              extra: str = "<PopupScene>1</PopupScene>", when: int | None = None) -> str:
    """A 订阅通知 push as WeChat sends it (one <List> per template)."""
    return (
        f"<xml><ToUserName><![CDATA[{wechat.sim.account}]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{when or int(time.time())}</CreateTime>"
        f"<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event>"
        f"<SubscribeMsgPopupEvent><List><TemplateId><![CDATA[{TEMPLATE}]]></TemplateId>"
        f"<SubscribeStatusString><![CDATA[{status}]]></SubscribeStatusString>{extra}</List>"
        f"</SubscribeMsgPopupEvent></xml>"
    )


def file_complaint(wechat: WeChat, openid: str) -> None:
    """A complaint through the guided intake, a minute between answers (as a person types)."""
    start = int(time.time()) - 600
    for i, text in enumerate(COMPLAINT):
        xml = wechat.sim.text_xml(text, openid, create_time=start + 60 * i)
        sent = wechat.post(wechat.sim.sign(xml, openid=openid))
        assert sent.status == 200
    assert sent.reply is not None and "受理编号" in sent.reply


def consent(wechat: WeChat, fake: Any, openid: str) -> None:
    """The citizen taps 允许 in WeChat's prompt: WeChat counts it (the fake) and pushes the event to us."""
    fake.grant(openid, TEMPLATE)
    sent = wechat.xml(popup_xml(wechat, openid), openid=openid)
    assert (sent.status, sent.reply) == (200, None)  # recorded, nothing said


def case_of(app: Flask, openid: str) -> Case:
    with services(app).sessions() as db:
        case = db.scalars(select(Case).join(Citizen, Citizen.id == Case.citizen_id).where(Citizen.openid == openid))
        row = case.one()
        db.expunge(row)
        return row


def consents(app: Flask, openid: str) -> list[tuple[str, str, int | None]]:
    with services(app).sessions() as db:
        rows = db.execute(
            select(NoticeConsent.status, NoticeConsent.source, NoticeConsent.used_message_id)
            .join(Citizen, Citizen.id == NoticeConsent.citizen_id)
            .where(Citizen.openid == openid)
            .order_by(NoticeConsent.id)
        )
        return [(r.status, r.source, r.used_message_id) for r in rows]


def events(app: Flask, case_id: int) -> list[tuple[str, str]]:
    with services(app).sessions() as db:
        rows = db.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id))
        return [(e.action, e.detail) for e in rows]


def message(app: Flask, message_id: int) -> Message:
    with services(app).sessions() as db:
        row = db.get(Message, message_id)
        assert row is not None
        db.expunge(row)
        return row


def answer_through_the_loop(app: Flask, case_id: int, progress: str = "整改已完成") -> int:
    """A person answers on the case page: preview, then send (the case loop queues it)."""
    with services(app).sessions() as db:
        case = db.get(Case, case_id)
        assert case is not None
        library = services(app).library
        fields = {"progress": progress}
        notice = app.config["SUBSCRIBE_TEMPLATE_ID"]  # as the case page passes it
        preview = loop.preview_answer(db, case, STAFF, library, "answer_resolved", fields, notice_template=notice)
        out = loop.answer(db, case, STAFF, library, "answer_resolved", fields, seen=loop.answer_digest(preview.text),
                          notice_template=notice)
        db.commit()
        return out.id


@dataclasses.dataclass
class Silent:
    """A citizen whose last message was ``days`` ago, their open case, and helpers to queue answers to it."""

    app: Flask
    openid: str
    citizen_id: int
    case_id: int
    number: str

    def grant_in_db(self, *, granted_days_ago: int = 9) -> None:
        """A consent recorded earlier (WeChat's popup push), bound to this case."""
        with services(self.app).sessions() as db:
            db.add(NoticeConsent(citizen_id=self.citizen_id, case_id=self.case_id, template_id=TEMPLATE, scene=1,
                                 source="popup", status="granted",
                                 granted_at=utcnow() - dt.timedelta(days=granted_days_ago)))
            db.commit()

    def queue(self, text: str = "您反映的问题（受理编号：X）经核查处理，整改已完成。", *,
              key: str = "answer_resolved") -> int:
        """A person's answer queued for delivery (what the case page writes), committed."""
        with services(self.app).sessions() as db:
            row = queued_message(self.citizen_id, text, key, 1, "wu", utcnow(), case_id=self.case_id)
            db.add(row)
            db.commit()
            return row.id


def silent_citizen(app: Flask, days: int = 10) -> Silent:
    """A citizen who wrote ``days`` ago and has a case in progress (rows as the pipeline writes them)."""
    then = utcnow() - dt.timedelta(days=days)
    openid = "oSub" + uuid.uuid4().hex[:24]
    with services(app).sessions() as db:
        citizen = Citizen(openid=openid, first_seen_at=then, last_seen_at=then)
        db.add(citizen)
        db.flush()
        inbound = Message(direction=Direction.IN, citizen_id=citizen.id, dedup_key=uuid.uuid4().hex, msg_type="text",
                          content="小区门口路灯坏了", created_at=then, received_at=then)
        db.add(inbound)
        db.flush()
        case = Case(number=f"2026{inbound.id:09d}", case_type=CaseType.COMPLAINT, status=CaseStatus.IN_PROGRESS,
                    department="urban_construction", citizen_id=citizen.id, opening_message_id=inbound.id,
                    summary="路灯坏了", opened_at=then, due_at=then + dt.timedelta(days=21), sla_amount=15,
                    sla_unit="workday", owner_department="urban_construction", owner_user="wu")
        db.add(case)
        db.commit()
        return Silent(app, openid, citizen.id, case.id, case.number)


# -- the whole way: filed, consented, answered after the window -------------------------------------------------


def test_a_complaint_answered_after_the_window_reaches_the_citizen_as_a_notice(
    napp: Flask, wechat: WeChat, fake_api: Any
) -> None:
    citizen = "oNoticeCitizen000000000000001"
    file_complaint(wechat, citizen)
    case = case_of(napp, citizen)

    # The consent page the acknowledgement offered: WeChat's prompt for our template, wx.config signed with the
    # JS-SDK ticket.
    link = consent_page(napp.config)
    assert link == f"{BASE}/notice/subscribe"
    page = wechat.client.get(link.removeprefix(BASE))
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f'<wx-open-subscribe template="{TEMPLATE}"' in html and "res.wx.qq.com/open/js/jweixin" in html
    assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "no-referrer"
    config = re.search(r'"nonceStr": "(\w+)".*?"signature": "(\w+)".*?"timestamp": (\d+)', html, re.S)
    assert config is not None
    nonce, signature, stamp = config.groups()
    signed = f"jsapi_ticket={fake_api.jsapi_ticket()}&noncestr={nonce}&timestamp={stamp}&url={link}"
    assert signature == hashlib.sha1(signed.encode()).hexdigest()
    assert "订阅后，答复时您会收到一条微信通知" in html  # the vetted explanation (notice_offer)

    consent(wechat, fake_api, citizen)
    assert consents(napp, citizen) == [("granted", "popup", None)]
    assert events(napp, case.id)[-1] == ("notice_consent", "群众同意接收订阅通知（网页）")

    # A person answers through the case loop; WeChat refuses the customer-service message: the window closed.
    answer_id = answer_through_the_loop(napp, case.id)
    fake_api.fail(errcode=45015, openid=citizen, times=1)
    assert deliver(napp, answer_id) == "sent"

    state = fake_api.state()
    assert state["send_calls"] == 1 and state["subscribe_calls"] == 1
    [notice] = fake_api.notices()
    assert (notice["touser"], notice["template_id"]) == (citizen, TEMPLATE)
    data = notice["data"]
    assert (data["character_string1"], data["phrase2"], data["thing3"]) == (case.number, "已答复", SUMMARY)
    assert re.fullmatch(r"\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2}", data["time4"])
    # The link is this answer's page (its signed token carries the second it was made: checked by opening it below).
    expected = urlsplit(answer_link(napp.config, case.number, answer_id) or "")
    sent_page = urlsplit(notice["page"])
    assert (sent_page.netloc, sent_page.path) == (expected.netloc, expected.path)
    assert parse_qs(sent_page.query)["case"] == [case.number]
    assert fake_api.consents_left(citizen, TEMPLATE) == 0

    row = message(napp, answer_id)
    assert (row.delivery_status, row.delivered_via, row.delivery_error) == ("sent", "subscribe", None)
    after = case_of(napp, citizen)
    assert after.status is CaseStatus.ANSWERED and after.answered_at is not None
    assert consents(napp, citizen) == [("used", "popup", answer_id)]
    history = events(napp, case.id)
    assert [a for a, _ in history[-3:]] == ["answer", "notice_used", "answer_sent"]
    assert history[-1][1].endswith("（订阅通知）")

    # The page the notice opens: the vetted answer, with its token only.
    view = wechat.client.get(notice["page"].removeprefix(BASE))
    body = view.get_data(as_text=True)
    assert view.status_code == 200 and row.content in body and case.number in body and "已答复" in body
    assert COMPLAINT[1] not in body  # nothing the citizen wrote
    query = parse_qs(urlsplit(notice["page"]).query)
    token, number = query["t"][0], query["case"][0]
    for bad in (f"case={number}&t={token[:-2]}xx", f"case=2026000000001&t={token}", f"case={number}",
                # signed for another message of ours
                urlsplit(answer_link(napp.config, number, answer_id + 1) or "").query):
        assert wechat.client.get(f"/notice/answer?{bad}").status_code == 404, bad


def test_on_day_ten_the_answer_goes_straight_to_a_notice_and_a_second_one_needs_new_consent(
    napp: Flask, fake_api: Any
) -> None:
    silent = silent_citizen(napp, days=10)
    with services(napp).sessions() as db:  # ten days on, without a consent, the case page refuses to answer
        case = db.get(Case, silent.case_id)
        assert case is not None
        assert loop.service_window(db, case, utcnow())[0] is False
    silent.grant_in_db()
    fake_api.grant(silent.openid, TEMPLATE)
    # An answer queued now and still waiting when the consent is used (below) will find none left.
    waiting = silent.queue("您反映的问题（受理编号：X）目前的办理情况：承办部门已安排整改。", key="answer_progress")

    first = answer_through_the_loop(napp, silent.case_id)
    assert deliver(napp, first) == "sent"
    # The citizen has been silent for 10 days: no customer-service message was even tried.
    assert fake_api.state()["send_calls"] == 0
    assert [n["touser"] for n in fake_api.notices()] == [silent.openid]
    assert message(napp, first).delivered_via == "subscribe"
    assert consents(napp, silent.openid) == [("used", "popup", first)]

    # The one-time consent is used: the case page refuses another answer, and one already waiting fails with
    # what staff should do.
    with pytest.raises(loop.CaseError, match="超过48小时"):
        answer_through_the_loop(napp, silent.case_id)
    assert deliver(napp, waiting) == "failed"
    row = message(napp, waiting)
    assert row.delivery_error == jobs.NO_CONSENT and "请电话联系群众" in row.delivery_error
    assert fake_api.state()["subscribe_calls"] == 1  # WeChat was not asked for what we know it refuses
    assert events(napp, silent.case_id)[-1] == ("answer_failed", jobs.NO_CONSENT)

    # The satisfaction prompt never takes a consent meant for an answer.
    silent.grant_in_db(granted_days_ago=1)
    survey = silent.queue("请您对本次诉求的办理情况进行评价。", key="satisfaction_prompt")
    fake_api.fail(errcode=45015, openid=silent.openid, times=1)
    assert deliver(napp, survey) == "failed"
    assert message(napp, survey).delivery_error == jobs.EXPLAINED[45015]
    assert [s for s, _, _ in consents(napp, silent.openid)] == ["used", "granted"]


# -- WeChat's refusals ----------------------------------------------------------------------------------------


def test_refusals_are_explained_and_only_43101_voids_the_consent(napp: Flask, fake_api: Any) -> None:
    silent = silent_citizen(napp)
    silent.grant_in_db()  # we recorded a consent, but WeChat has none (the citizen switched notices off, say)

    refused = silent.queue()
    assert deliver(napp, refused) == "failed"
    assert message(napp, refused).delivery_error == jobs.NOTICE_EXPLAINED[43101]
    assert consents(napp, silent.openid) == [("refused", "popup", refused)]

    # A real consent now; WeChat refuses the values (47003), the template (40037), then is busy: the consent
    # stays the citizen's, and the next answer uses it.
    silent.grant_in_db()
    fake_api.grant(silent.openid, TEMPLATE)
    for code, reason in ((47003, jobs.NOTICE_EXPLAINED[47003]), (40037, jobs.NOTICE_EXPLAINED[40037])):
        fake_api.fail(errcode=code, endpoint="bizsend", openid=silent.openid, times=1)
        failed = silent.queue()
        assert deliver(napp, failed) == "failed"
        assert message(napp, failed).delivery_error == reason
        assert consents(napp, silent.openid)[-1] == ("granted", "popup", None)
    fake_api.fail(http_status=503, endpoint="bizsend", times=1)
    busy = silent.queue()
    assert deliver(napp, busy) == "failed"
    assert "微信接口暂时不可用（HTTP 503）" in (message(napp, busy).delivery_error or "")
    assert consents(napp, silent.openid)[-1] == ("granted", "popup", None)

    last = silent.queue()
    assert deliver(napp, last) == "sent"
    assert consents(napp, silent.openid)[-1] == ("used", "popup", last)
    assert len(fake_api.notices()) == 1

    # Without a page address the notice could not show the answer: it is not sent.
    napp.config["PUBLIC_BASE_URL"] = ""
    silent.grant_in_db()
    assert deliver(napp, silent.queue()) == "failed"
    assert consents(napp, silent.openid)[-1] == ("granted", "popup", None)


def test_the_fake_refuses_values_over_wechats_limits(napp: Flask, fake_api: Any) -> None:
    from wechatpy.exceptions import WeChatClientException

    from bot.wechat.api import client_for

    client = client_for(napp.config, services(napp).redis)
    fake_api.grant("oLimits", TEMPLATE, times=5)
    for data in ({"thing3": "超" * 21}, {"phrase2": "已经答复完毕"}, {"character_string1": "编号123"},
                 {"time4": "明天"}, {"thing3": ""}):
        with pytest.raises(WeChatClientException) as refused:
            client.send_subscribe_notice("oLimits", TEMPLATE, data)
        assert refused.value.errcode == 47003, data
    client.send_subscribe_notice("oLimits", TEMPLATE, {"thing3": "超" * 20, "time4": "2026年12月17日 15:01"})
    with pytest.raises(WeChatClientException) as none:
        client.send_subscribe_notice("oSomeoneElse", TEMPLATE, {"thing3": "您的诉求已有答复"})
    assert none.value.errcode == 43101
    assert fake_api.consents_left("oLimits", TEMPLATE) == 4


# -- the citizen's other choices, and the pages ---------------------------------------------------------------


def test_declining_switching_off_and_wechats_report_are_recorded(napp: Flask, wechat: WeChat) -> None:
    silent = silent_citizen(napp, days=1)
    stamp = int(time.time()) - 30
    assert wechat.xml(popup_xml(wechat, silent.openid, "reject", when=stamp), openid=silent.openid).reply is None
    assert consents(napp, silent.openid) == [("rejected", "popup", None)]
    assert events(napp, silent.case_id)[-1] == ("notice_declined", "群众拒绝接收订阅通知（网页）")

    wechat.xml(popup_xml(wechat, silent.openid, extra="<PopupScene>2</PopupScene>", when=stamp + 1),
               openid=silent.openid)
    assert events(napp, silent.case_id)[-1] == ("notice_consent", "群众同意接收订阅通知（图文消息）")
    # Switched off in WeChat's 服务通知 settings (WeChat's sample wraps this list in the popup's tag too).
    off = popup_xml(wechat, silent.openid, "reject", event="subscribe_msg_change_event", extra="", when=stamp + 2)
    assert wechat.xml(off, openid=silent.openid).reply is None
    assert [s for s, _, _ in consents(napp, silent.openid)] == ["rejected", "rejected"]
    assert events(napp, silent.case_id)[-1][0] == "notice_revoked"

    # WeChat reports a notice it could not deliver: the case says so, for a person to phone.
    silent.grant_in_db()
    answer_id = silent.queue()
    with services(napp).sessions() as db:
        used = db.scalars(select(NoticeConsent).where(NoticeConsent.status == "granted")).one()
        used.status, used.used_at, used.used_message_id = "used", utcnow(), answer_id
        db.commit()
    report = (f"<xml><ToUserName><![CDATA[{wechat.sim.account}]]></ToUserName>"
              f"<FromUserName><![CDATA[{silent.openid}]]></FromUserName><CreateTime>{stamp + 3}</CreateTime>"
              f"<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe_msg_sent_event]]></Event>"
              f"<SubscribeMsgSentEvent><List><TemplateId><![CDATA[{TEMPLATE}]]></TemplateId><MsgID>1700827132819554304"
              f"</MsgID><ErrorCode>20004</ErrorCode><ErrorStatus><![CDATA[failed:user block]]></ErrorStatus></List>"
              f"</SubscribeMsgSentEvent></xml>")
    assert wechat.xml(report, openid=silent.openid).reply is None
    undelivered = "微信回执订阅通知未送达（failed:user block）：请电话联系群众"
    assert events(napp, silent.case_id)[-1] == ("notice_undelivered", undelivered)


def test_the_consent_page_without_a_token_with_a_bad_one_and_with_the_feature_off(
    napp: Flask, wechat: WeChat, fake_api: Any
) -> None:
    fake_api.fail(errcode=-1, endpoint="ticket", times=1)  # no JS-SDK ticket: no prompt can be shown
    assert wechat.client.get("/notice/subscribe").status_code == 503
    plain = wechat.client.get("/notice/subscribe")  # from the account's menu: anyone may be offered the prompt
    assert plain.status_code == 200 and TEMPLATE in plain.get_data(as_text=True)
    napp.config["SUBSCRIBE_TEMPLATE_ID"] = ""
    off = wechat.client.get("/notice/subscribe")
    assert off.status_code == 404 and "暂未开通订阅通知" in off.get_data(as_text=True)
