"""The opinion watch over stored messages: incidents, links, restarts, try-it, the duty notice, the console pages.

On both backends. The detector itself (themes, places, baselines, the replay contract) is tested in
test_opinion.py; here, what the running app does with its alerts.
"""
from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.extensions import services
from cases.opinion_watch import Watch
from models import (
    TRY_OPENID_PREFIX,
    Alert,
    AuditEntry,
    Citizen,
    Direction,
    Message,
    OpinionIncident,
    Setting,
    utcnow,
)
from tests.test_console import login, token
from tests.test_dashboard import SUP, dash_accounts  # noqa: F401 (fixture)

SPIKE = (
    "阳光小区又停水了，从早上到现在一滴水都没有",
    "我们阳光小区停水了，什么时候来水？",
    "阳光小区停水一上午了，老人孩子怎么办",
    "请问阳光小区为什么突然停水",
    "阳光小区没水了，也没有提前通知",
    "陽光小區停水了，請盡快處理",
)
BACKGROUND = ("人民路路灯坏了", "请问社保卡怎么补办", "建议在东风村增设公交站", "学校门口早上很堵", "谢谢你们及时处理")


def _message(db: Session, text: str, at: dt.datetime, openid: str | None = None) -> int:
    citizen = Citizen(openid=openid or "oWatch" + uuid.uuid4().hex[:22], first_seen_at=at, last_seen_at=at)
    db.add(citizen)
    db.flush()
    msg = Message(direction=Direction.IN, citizen_id=citizen.id, dedup_key=uuid.uuid4().hex, msg_type="text",
                  content=text, created_at=at, received_at=at)
    db.add(msg)
    db.flush()
    return msg.id


def _background(db: Session, now: dt.datetime) -> None:
    for hour in range(72, 1, -1):
        for i, text in enumerate(BACKGROUND):
            _message(db, text, now - dt.timedelta(hours=hour, minutes=i * 7))
    db.commit()


def test_a_burst_opens_one_incident_with_its_messages_and_survives_a_restart(db: Session) -> None:
    now = utcnow()
    _background(db, now)
    watch = Watch()
    watch.rebuild(db, now)  # first run: the cursor starts at the newest message, history only builds the baseline
    db.commit()
    assert watch.step(db, now) == []
    spike = [_message(db, text, now + dt.timedelta(minutes=3 * i)) for i, text in enumerate(SPIKE[:5])]
    db.commit()
    raised = watch.step(db, now + dt.timedelta(minutes=15))
    db.commit()
    assert len(raised) == 1
    incident = db.get(OpinionIncident, raised[0].incident_id)
    assert incident is not None and incident.theme == "停水" and incident.place == "阳光小区"
    assert json.loads(incident.message_ids) == spike and incident.citizens == 5 and incident.status == "open"
    alert = db.scalars(select(Alert).where(Alert.kind == "public_opinion")).one()
    assert f"舆情预警#{incident.id}" in alert.detail and "阳光小区 · 停水" in alert.detail

    # A restart rebuilds from the database: nothing raised twice, and a later message is linked to the incident.
    again = Watch()
    again.rebuild(db, now + dt.timedelta(minutes=20))
    late = _message(db, SPIKE[5], now + dt.timedelta(minutes=25))
    db.commit()
    assert again.step(db, now + dt.timedelta(minutes=26)) == []
    db.commit()
    db.refresh(incident)
    assert json.loads(incident.message_ids) == [*spike, late]
    assert db.scalars(select(OpinionIncident)).all() == [incident]


def test_rehearsals_in_the_try_it_chat_raise_nothing(db: Session) -> None:
    now = utcnow()
    _background(db, now)
    watch = Watch()
    watch.rebuild(db, now)
    for i, text in enumerate(SPIKE):
        _message(db, text, now + dt.timedelta(minutes=i), openid=TRY_OPENID_PREFIX + uuid.uuid4().hex[:24])
    db.commit()
    assert watch.step(db, now + dt.timedelta(minutes=10)) == []


def test_the_duty_supervisor_is_told_through_a_vetted_template(clean_app: Flask) -> None:
    from bot.opinion import DUTY_KEY, notify

    now = utcnow()
    duty = "oDutySupervisor" + uuid.uuid4().hex[:13]
    with clean_app.app_context(), services(clean_app).sessions() as db:
        watch = Watch()
        watch.rebuild(db, now)
        for i, text in enumerate(SPIKE[:5]):
            _message(db, text, now + dt.timedelta(minutes=i))
        db.commit()
        [raised] = watch.step(db, now + dt.timedelta(minutes=6))
        db.commit()
        assert notify(clean_app, db, raised) == []  # nobody on duty yet: said on the incident
        incident = db.get(OpinionIncident, raised.incident_id)
        assert incident is not None and "未设置值班人员" in incident.notified
        db.add(Setting(key=DUTY_KEY, value=json.dumps([duty]), updated_at=now, updated_by="t"))
        db.commit()
        [queued_id] = notify(clean_app, db, raised)
        notice = db.get(Message, queued_id)
        assert notice is not None and notice.delivery_status == "queued"
        assert notice.template_key == "opinion_duty_notice" and notice.direction is Direction.OUT
        assert "5位群众反映阳光小区“停水”问题" in (notice.content or "") and "前发布权威信息" in (notice.content or "")
        db.refresh(incident)
        assert duty not in incident.notified and duty[:4] + "****" in incident.notified


@pytest.mark.usefixtures("dash_accounts")
def test_supervisors_keep_the_clock_and_set_the_duty_on_the_console(clean_app: Flask) -> None:
    now = utcnow()
    with services(clean_app).sessions() as db:
        watch = Watch()
        watch.rebuild(db, now)
        ids = [_message(db, text + "，电话13812345678", now + dt.timedelta(minutes=i)) for i, text in
               enumerate(SPIKE[:5])]
        db.commit()
        [raised] = watch.step(db, now + dt.timedelta(minutes=6))
        db.commit()
    sup = login(clean_app, SUP)
    listing = sup.get("/console/opinion").get_data(as_text=True)
    assert f"#{raised.incident_id} 阳光小区 · 停水" in listing and "发布权威信息" in listing
    page = sup.get(f"/console/opinion/{raised.incident_id}").get_data(as_text=True)
    assert "13812345678" not in page and "138****5678" in page and len(ids) == 5
    csrf = token(sup, f"/console/opinion/{raised.incident_id}")
    url = f"/console/opinion/{raised.incident_id}/step"
    done = sup.post(url, data={"step": "info_at", "note": "区政府网站发布停水通告", "csrf_token": csrf})
    assert done.status_code == 302
    assert sup.post(url, data={"step": "info_at", "note": "x"}).status_code == 400  # no CSRF token
    with services(clean_app).sessions() as db:
        incident = db.get(OpinionIncident, raised.incident_id)
        assert incident is not None and incident.info_at is not None and incident.briefing_at is None
        step = db.scalars(select(AuditEntry).where(AuditEntry.action == "opinion.step")).one()
        assert step.actor == SUP and "发布权威信息：区政府网站发布停水通告" in step.detail
    duty = "oDutySupervisor" + uuid.uuid4().hex[:13]
    bad = sup.post("/console/opinion/duty", data={"openids": "not an openid", "csrf_token": csrf})
    assert bad.status_code == 302
    assert sup.post("/console/opinion/duty", data={"openids": duty, "csrf_token": csrf}).status_code == 302
    listing = sup.get("/console/opinion").get_data(as_text=True)
    assert duty not in listing and duty[:4] + "****" + duty[-4:] in listing
    home = sup.get("/console/").get_data(as_text=True)
    assert "<td>舆情预警</td>" in home
