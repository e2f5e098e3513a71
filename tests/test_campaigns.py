"""Campaigns (征集) on both backends: joining, opinions, the ordinary path inside a campaign, themes, marks, outcome.

The campaign's texts are written, reviewed and published through replies/workflow.py as staff would (an
author, another reviewer), never seeded: a campaign can only open once they are published.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from bot.bootstrap import bump_generation
from bot.console.auth import create_user
from bot.extensions import services
from cases import campaigns as domain
from cases.campaigns import CampaignError, Fields
from models import (
    AuditEntry,
    Campaign,
    CampaignStatus,
    CampaignTheme,
    Case,
    Citizen,
    Direction,
    Message,
    ReplyTemplate,
    User,
    utcnow,
)
from replies import workflow
from tests.conftest import WeChat, count
from tests.test_console import PASSWORD, login, token
from text.cluster import cluster

INTRO = (
    "欢迎参与“城市更新”意见征集。请直接回复您对老旧小区改造、停车和绿化的意见建议，征集结束后我们将公开反馈采纳情况。"
)
THANKS = "感谢您参与意见征集，您的意见已记录。征集结束后，我们将在本账号公开反馈意见采纳情况。"
OUTCOME = "感谢您参与“城市更新”意见征集。征集收到的意见已归纳整理并逐条研究，采纳情况已在本账号公布，欢迎查阅。"
CLOSED = "本次意见征集不在征集期内，感谢您的关注。您可以直接留言反映问题或提出建议，我们会登记受理编号并告知答复时限。"
# key: (purpose, the title staff know it by, text)
TEXTS = {
    "campaign_test_intro": ("notice", "城市更新征集介绍语", INTRO),
    "campaign_test_thanks": ("thanks", "城市更新征集致谢语", THANKS),
    "campaign_test_outcome": ("notice", "城市更新征集结果反馈", OUTCOME),
    "campaign_closed": ("default", "征集未开放", CLOSED),
}
_msg_ids = itertools.count(7_000_000_000)


def publish(session: Session, key: str, purpose: str, title: str, body: str) -> None:
    """A template written by one person, approved by another, published (先审后发)."""
    author, reviewer = workflow.Actor("t_author"), workflow.Actor("t_reviewer")
    if session.scalar(select(ReplyTemplate.id).where(ReplyTemplate.key == key)) is None:
        workflow.create_template(session, author, key, purpose, title=title)
    tpl = workflow.template(session, key)
    live = workflow.published_version(session, tpl)
    if live is not None and live.body == body:
        return
    ver = workflow.draft(session, author, key, body)
    workflow.submit(session, author, ver)
    accept = {f["rule"]: "测试文本，已人工核对" for f in workflow.findings(ver)}
    workflow.approve(session, reviewer, ver, accept=accept)
    workflow.publish(session, reviewer, ver)


@pytest.fixture
def texts(clean_app: Flask) -> Iterator[Flask]:
    """The campaign templates published, no campaign left from earlier tests."""
    with services(clean_app).sessions() as session:
        session.execute(update(Message).values(campaign_id=None))
        session.execute(delete(CampaignTheme))
        session.execute(delete(Campaign))
        for key, (purpose, title, body) in TEXTS.items():
            publish(session, key, purpose, title, body)
        session.commit()
    bump_generation(clean_app)
    yield clean_app


def make_campaign(
    app: Flask,
    *,
    open_it: bool = True,
    starts: dt.timedelta = dt.timedelta(hours=-1),
    ends: dt.timedelta = dt.timedelta(days=7),
    **join: str,
) -> int:
    """A campaign joined by ``join`` (keyword / click / scene), opened unless told otherwise."""
    now = utcnow()
    fields = Fields(
        title="城市更新意见征集",
        questions="您对老旧小区改造有什么建议？",
        join_keyword=join.get("keyword", ""),
        join_click_key=join.get("click", ""),
        join_scene=join.get("scene", ""),
        starts_at=now + starts,
        ends_at=now + ends,
        intro_key="campaign_test_intro",
        thanks_key="campaign_test_thanks",
        outcome_key="campaign_test_outcome",
    )
    with services(app).sessions() as session:
        campaign = domain.save(session, "t_sup", fields)
        if open_it:
            domain.open_campaign(session, campaign, services(app).library.published(session, None), now)
        session.commit()
        campaign_id = campaign.id
    bump_generation(app)
    return campaign_id


def say(wechat: WeChat, text: str, openid: str) -> str | None:
    sent = wechat.xml(wechat.sim.text_xml(text, openid, msg_id=next(_msg_ids)))
    assert sent.status == 200
    return sent.reply


def inbound(db: Session, text: str) -> Message:
    db.expire_all()
    return db.scalars(select(Message).where(Message.direction == Direction.IN, Message.content == text)).one()


# -- the message path ----------------------------------------------------------------------------------


def test_keyword_joins_and_opinions_are_stored_and_thanked(texts: Flask, wechat: WeChat, db: Session) -> None:
    cid = make_campaign(texts, keyword="城市更新")
    assert say(wechat, "城市更新", "oCampA") == INTRO
    opinion = "建议老旧小区加装电梯，并增加停车位，解决停车难"
    assert say(wechat, opinion, "oCampA") == THANKS
    assert inbound(db, opinion).campaign_id == cid
    # A trivial text inside the campaign is not an opinion.
    say(wechat, "好的", "oCampA")
    assert inbound(db, "好的").campaign_id is None
    # The keyword with an opinion in one message, from someone else.
    both = "城市更新：希望小区里多种树，多建一些健身器材"
    assert say(wechat, both, "oCampB") == THANKS
    assert inbound(db, both).campaign_id == cid
    # A citizen outside the campaign writing the same words is answered the ordinary way.
    assert say(wechat, opinion, "oCampOutside") != THANKS
    assert count(db, Message, Message.campaign_id == cid, Message.direction == Direction.IN) == 2


def test_menu_click_and_qr_scene_join(texts: Flask, wechat: WeChat, db: Session) -> None:
    cid = make_campaign(texts, click="CAMPAIGN_CITY", scene="city2026")
    assert wechat.event("CLICK", openid="oCampClick", event_key="CAMPAIGN_CITY").reply == INTRO
    assert say(wechat, "公交站台应该加装遮雨棚，方便老人候车", "oCampClick") == THANKS
    assert wechat.event("SCAN", openid="oCampScan", event_key="city2026").reply == INTRO
    assert say(wechat, "希望增加社区食堂，方便独居老人吃饭", "oCampScan") == THANKS
    # A follow through the campaign's QR code: the welcome (personal-information notice) first, then inside.
    welcome = wechat.event("subscribe", openid="oCampFollow", event_key="qrscene_city2026").reply
    assert welcome is not None and "个人信息" in welcome
    assert say(wechat, "建议在小区周边增设充电桩，电动车充电太难", "oCampFollow") == THANKS
    assert count(db, Message, Message.campaign_id == cid) == 3
    # Another menu key is still the ordinary menu.
    assert wechat.event("CLICK", openid="oCampClick", event_key="OTHER_MENU").reply != INTRO


def test_complaint_inside_a_campaign_becomes_a_case_and_emergency_comes_first(
    texts: Flask, wechat: WeChat, db: Session
) -> None:
    make_campaign(texts, keyword="城市更新")
    say(wechat, "城市更新", "oCampCase")
    complaint = "幸福路88号的路灯坏了三个月没人修，回访请打13812345678"
    reply = say(wechat, complaint, "oCampCase")
    case = db.scalars(select(Case)).one()
    assert reply is not None and case.number in reply
    assert inbound(db, complaint).campaign_id is None
    emergency = "着火了！幸福小区3栋冒烟了，快来救火"
    reply = say(wechat, emergency, "oCampCase")
    assert reply is not None and "119" in reply and reply != THANKS
    assert inbound(db, emergency).campaign_id is None


def test_keyword_and_a_complaint_during_an_intake_form_is_not_an_opinion(
    texts: Flask, wechat: WeChat, db: Session
) -> None:
    """Mid-form, answers are screened by the rules only; what follows a keyword is still read in full."""
    make_campaign(texts, keyword="城市更新")
    say(wechat, "我要投诉", "oCampForm")
    where = say(wechat, "小区门口的垃圾堆满了，一直没有人来清理", "oCampForm")  # the form now asks where
    assert where is not None and "地点" in where
    both = "城市更新：幸福路88号的路灯坏了三个月没人修，晚上一片漆黑"
    assert say(wechat, both, "oCampForm") != THANKS
    assert inbound(db, both).campaign_id is None


def test_traditional_citizen_gets_the_traditional_thanks(texts: Flask, wechat: WeChat, db: Session) -> None:
    make_campaign(texts, keyword="城市更新")
    say(wechat, "城市更新", "oCampTrad")
    reply = say(wechat, "建議老舊小區加裝電梯，並且增加停車位", "oCampTrad")
    assert reply is not None and reply != THANKS and "感謝您參與意見徵集" in reply


def test_a_campaign_not_open_answers_joins_with_the_vetted_closed_text(
    texts: Flask, wechat: WeChat, db: Session
) -> None:
    future = make_campaign(texts, keyword="未来征集", starts=dt.timedelta(days=2))
    assert say(wechat, "未来征集", "oCampEarly") == CLOSED
    cid = make_campaign(texts, keyword="城市更新")
    assert say(wechat, "城市更新", "oCampLate") == INTRO
    with services(texts).sessions() as session:
        campaign = session.get(Campaign, cid)
        assert campaign is not None
        domain.close_campaign(session, campaign, utcnow())
        session.commit()
    bump_generation(texts)
    assert say(wechat, "城市更新", "oCampLate2") == CLOSED
    # Inside a campaign that closed meanwhile: the ordinary path, not an opinion.
    assert say(wechat, "建议老旧小区加装电梯，并增加停车位", "oCampLate") != THANKS
    assert count(db, Message, Message.campaign_id.in_([cid, future])) == 0


def test_a_campaign_with_unpublished_texts_cannot_open(texts: Flask) -> None:
    with services(texts).sessions() as session:
        workflow.create_template(session, workflow.Actor("t_author"), f"camp_draft_{uuid.uuid4().hex[:6]}", "notice")
        key = session.scalars(select(ReplyTemplate.key).where(ReplyTemplate.key.startswith("camp_draft_"))).first()
        assert key is not None
        now = utcnow()
        campaign = domain.save(
            session,
            "t_sup",
            Fields("草稿征集", "", "草稿", "", "", now, now + dt.timedelta(days=1), key, "campaign_test_thanks", ""),
        )
        with pytest.raises(CampaignError, match="尚未发布"):
            domain.open_campaign(session, campaign, services(texts).library.published(session, None), now)
        session.rollback()


# -- themes ---------------------------------------------------------------------------------------------


def test_clustering_keeps_obviously_different_topics_apart() -> None:
    from handlers.classify import shipped
    from text.normalize import normalize

    segmenter = shipped().segmenter
    parking = [f"小区停车位太少，晚上{n}点以后车都停到路边，建议新建停车场" for n in range(8, 12)] + [
        "停车难问题严重，希望规划停车场，增加停车位",
        "建议利用空地建立体停车场，缓解停车难",
    ]
    schools = [f"孩子上学太远，希望在社区附近新建一所小学，{n}年级学生每天走很远" for n in range(1, 5)] + [
        "学校学位紧张，建议扩建小学和幼儿园",
        "希望增加小学学位，孩子就近入学",
    ]
    themes = cluster(parking + schools, lambda t: segmenter.words(normalize(t).text, hmm=False), k=2)
    groups = [set(t.members) for t in themes]
    assert sorted(map(sorted, groups)) == [list(range(6)), list(range(6, 12))]
    labels = " ".join(t.label for t in themes)
    assert "停车" in labels and ("小学" in labels or "学校" in labels)
    assert all(len(t.quotes) == 3 for t in themes)


def test_quotes_are_masked() -> None:
    texts = [f"建议增加停车位，联系电话1381234567{n}" for n in range(6)]
    themes = cluster(texts, lambda t: ["停车位", "增加"], k=1)
    assert themes and all("1381234" not in q for t in themes for q in t.quotes)


# -- the console ------------------------------------------------------------------------------------------


@pytest.fixture
def staff(texts: Flask) -> dict[str, str]:
    with services(texts).sessions() as session:
        for name, roles in (("t_camp_sup", ["supervisor"]), ("t_camp_op", ["operator"])):
            if session.scalar(select(User.id).where(User.username == name)) is None:
                create_user(session, name, PASSWORD, roles, by="tests")
        session.commit()
    return {"supervisor": "t_camp_sup", "operator": "t_camp_op"}


def _form(**extra: str) -> dict[str, Any]:
    local = dt.datetime.now(dt.timezone(dt.timedelta(hours=8)))
    return {
        "title": "公园改造意见征集",
        "questions": "您希望公园增加哪些设施？",
        "join_keyword": "公园改造",
        "starts_at": (local - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (local + dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
        "intro_key": "campaign_test_intro",
        "thanks_key": "campaign_test_thanks",
        "outcome_key": "campaign_test_outcome",
        **extra,
    }


def test_operator_cannot_create_and_csrf_is_required(texts: Flask, staff: dict[str, str], db: Session) -> None:
    op = login(texts, staff["operator"])
    csrf = token(op, "/console/campaigns")
    assert op.post("/console/campaigns/new", data={**_form(), "csrf_token": csrf}).status_code == 403
    sup = login(texts, staff["supervisor"])
    assert sup.post("/console/campaigns/new", data=_form()).status_code == 400  # no CSRF token
    assert count(db, Campaign) == 0
    resp = sup.post("/console/campaigns/new", data={**_form(), "csrf_token": token(sup, "/console/campaigns/new")})
    assert resp.status_code == 302
    assert count(db, Campaign) == 1
    assert count(db, AuditEntry, AuditEntry.action == "campaign.create") == 1


def test_whole_campaign_through_the_console(
    texts: Flask, staff: dict[str, str], wechat: WeChat, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    sup = login(texts, staff["supervisor"])
    csrf = token(sup, "/console/campaigns/new")
    resp = sup.post("/console/campaigns/new", data={**_form(), "csrf_token": csrf})
    cid = int(resp.headers["Location"].rsplit("/", 1)[-1])
    assert sup.post(f"/console/campaigns/{cid}/open", data={"csrf_token": csrf}).status_code == 302
    assert say(wechat, "公园改造", "oCampP1") == INTRO
    opinions = {
        "oCampP1": "建议公园增加儿童游乐设施和滑梯",
        "oCampP2": "公园改造：希望多建一些健身步道和跑道",
        "oCampP3": "公园改造 建议公园里增加公共厕所和饮水点",
        "oCampP4": "公园改造，建议增设儿童游乐场",
    }
    for openid, text in opinions.items():
        assert say(wechat, text, openid) == THANKS
    page = sup.get(f"/console/campaigns/{cid}").get_data(as_text=True)
    assert "每日收到的意见" in page and ">4<" in page
    # The list shows each campaign's opinions and participants (an empty campaign too).
    csrf = token(sup, "/console/campaigns/new")
    sup.post(
        "/console/campaigns/new", data={**_form(), "title": "空征集", "join_keyword": "空征集", "csrf_token": csrf}
    )
    listing = sup.get("/console/campaigns").get_data(as_text=True)
    assert "<td>4</td><td>4</td>" in listing and "<td>0</td><td>0</td>" in listing
    # An operator regroups and marks a theme adopted (audited); she cannot close the campaign.
    op = login(texts, staff["operator"])
    op_csrf = token(op, f"/console/campaigns/{cid}")
    assert op.post(f"/console/campaigns/{cid}/cluster", data={"csrf_token": op_csrf}).status_code == 302
    theme = db.scalars(select(CampaignTheme).where(CampaignTheme.campaign_id == cid)).first()
    assert theme is not None
    assert (
        op.post(
            f"/console/campaigns/{cid}/themes/{theme.id}",
            data={"csrf_token": op_csrf, "adopted": "yes", "note": "纳入明年改造计划"},
        ).status_code
        == 302
    )
    db.expire_all()
    marked = db.get(CampaignTheme, theme.id)
    assert marked is not None and marked.adopted is True and marked.marked_by == staff["operator"]
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "campaign.theme")).one()
    assert entry.actor == staff["operator"] and "采纳" in entry.detail
    assert op.post(f"/console/campaigns/{cid}/close", data={"csrf_token": op_csrf}).status_code == 403
    page = op.get(f"/console/campaigns/{cid}").get_data(as_text=True)
    assert "已采纳" in page and "纳入明年改造计划" in page
    # The supervisor closes and publishes the outcome: one participant's 48-hour window is closed.
    with services(texts).sessions() as session:
        session.execute(
            update(Citizen).where(Citizen.openid == "oCampP4").values(last_seen_at=utcnow() - dt.timedelta(hours=50))
        )
        session.commit()
    queued: list[int] = []
    monkeypatch.setattr("bot.jobs.enqueue_delivery", lambda app, message_id: queued.append(message_id) or "job")
    assert sup.post(f"/console/campaigns/{cid}/close", data={"csrf_token": csrf}).status_code == 302
    assert sup.post(f"/console/campaigns/{cid}/outcome", data={"csrf_token": csrf}).status_code == 302
    rows = db.scalars(select(Message).where(Message.campaign_id == cid, Message.direction == Direction.OUT)).all()
    assert len(rows) == 4 and sorted(queued) == sorted(m.id for m in rows if m.delivery_status == "queued")
    failed = [m for m in rows if m.delivery_status == "failed"]
    assert len(failed) == 1 and "45015" in (failed[0].delivery_error or "")
    assert all(m.content == OUTCOME and m.template_key == "campaign_test_outcome" for m in rows)
    page = sup.get(f"/console/campaigns/{cid}").get_data(as_text=True)
    assert "未能送达 1" in page and "45015" in page
    # Once only.
    sup.post(f"/console/campaigns/{cid}/outcome", data={"csrf_token": csrf})
    assert count(db, Message, Message.campaign_id == cid, Message.direction == Direction.OUT) == 4


def test_outcome_refused_by_wechat_is_recorded(texts: Flask, backend: Any, wechat: WeChat, db: Session) -> None:
    """The delivery job records WeChat's 45015 on the outcome message (a real worker, the fake API)."""
    from tests.conftest import APP_ID
    from tests.fakeapi import FakeWeChat
    from tests.test_delivery import SECRET, Delivery, _cleanup

    cid = make_campaign(texts, keyword="城市更新")
    say(wechat, "城市更新：建议老旧小区加装电梯", "oCampW1")
    say(wechat, "城市更新：希望增加停车位，解决停车难", "oCampW2")
    with services(texts).sessions() as session:
        campaign = session.get(Campaign, cid)
        assert campaign is not None
        domain.close_campaign(session, campaign, utcnow())
        result = domain.publish_outcome(session, services(texts).library, "t_sup", campaign)
        session.commit()
    assert len(result.queued) == 2 and result.unreachable == 0
    _cleanup(texts)
    with FakeWeChat(APP_ID, SECRET) as fake:
        helper = Delivery(backend, texts, fake, fake.url)
        try:
            fake.fail(errcode=45015, openid="oCampW2", times=1)
            for message_id in result.queued:
                assert jobs_enqueue(helper, message_id)
            helper.work()
            assert [s["touser"] for s in fake.sent()] == ["oCampW1"]
        finally:
            helper.close()
            _cleanup(texts)
    db.expire_all()
    by_openid = dict(
        db.execute(
            select(Citizen.openid, Message.delivery_status)
            .join(Citizen)
            .where(Message.campaign_id == cid, Message.direction == Direction.OUT)
        ).all()
    )
    assert by_openid == {"oCampW1": "sent", "oCampW2": "failed"}
    error = db.scalars(
        select(Message.delivery_error)
        .join(Citizen)
        .where(Citizen.openid == "oCampW2", Message.direction == Direction.OUT, Message.campaign_id == cid)
    ).one()
    assert error is not None and error.startswith("45015")
    campaign_row = db.get(Campaign, cid)
    assert campaign_row is not None and campaign_row.status is CampaignStatus.CLOSED


def jobs_enqueue(helper: Any, message_id: int) -> str | None:
    from bot import jobs

    return jobs.enqueue_delivery(helper.dapp, message_id)
