"""The 12345 loop in cases/loop.py, on both backends: ownership, transfers, extensions, answers, closure."""
from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases import loop
from cases.loop import CaseError, Worker
from cases.sla import deadline_for
from models import Case, CaseEvent, CaseStatus, CaseType, Citizen, Direction, Message, utcnow
from replies import workflow
from replies.library import Library

TZ = ZoneInfo("Asia/Shanghai")
INTAKE = Worker("xu", frozenset({"other"}))
ROADS = Worker("zhou", frozenset({"urban_construction"}))
ENV = Worker("wu", frozenset({"environment"}))
SUPERVISOR = Worker("zheng", frozenset(), is_supervisor=True)
ANSWER = "您反映的问题（受理编号：{case_number}）{progress}。如有疑问，请回复本账号。"


def make_case(db: Session, *, case_type: CaseType = CaseType.COMPLAINT, department: str = "other",
              last_message_ago: dt.timedelta = dt.timedelta(minutes=5), opened: dt.datetime | None = None) -> Case:
    """A citizen, their message and the case it opened, as the pipeline writes them."""
    now = utcnow()
    opened = opened or now - last_message_ago
    citizen = Citizen(openid="oCase" + uuid.uuid4().hex[:23], first_seen_at=opened, last_seen_at=opened)
    db.add(citizen)
    db.flush()
    msg = Message(direction=Direction.IN, citizen_id=citizen.id, dedup_key=uuid.uuid4().hex, msg_type="text",
                  content="小区门口路灯坏了", created_at=now - last_message_ago, received_at=now - last_message_ago)
    db.add(msg)
    db.flush()
    deadline = deadline_for(case_type, opened, TZ)
    case = Case(number=f"T{msg.id:010d}", case_type=case_type, status=CaseStatus.ACCEPTED, department=department,
                citizen_id=citizen.id, opening_message_id=msg.id, summary="路灯坏了", opened_at=opened,
                due_at=deadline.due_at, sla_amount=deadline.amount, sla_unit=deadline.unit,
                owner_department=department)
    db.add(case)
    db.flush()
    return case


def events(db: Session, case: Case) -> list[str]:
    return list(db.scalars(select(CaseEvent.action).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)))


@pytest.fixture
def answer_template(db: Session) -> str:
    """A published answer template (written by one person, approved by another)."""
    key = f"answer_{uuid.uuid4().hex[:8]}"
    author, reviewer = workflow.Actor("ann"), workflow.Actor("bob")
    workflow.create_template(db, author, key, "answer")
    ver = workflow.draft(db, author, key, ANSWER)
    workflow.submit(db, author, ver)
    workflow.approve(db, reviewer, ver)
    workflow.publish(db, reviewer, ver)
    return key


def test_the_first_receiver_owns_the_case_until_a_transfer_is_accepted(db: Session) -> None:
    case = make_case(db)
    loop.assign(db, case, INTAKE, "urban_construction")
    assert case.status is CaseStatus.ASSIGNED and case.owner_department == "urban_construction"
    loop.start(db, case, ROADS)
    loop.transfer(db, case, ROADS, "environment", "扬尘问题归生态环境部门")
    assert case.owner_department == "urban_construction" and case.transfer_to == "environment"
    with pytest.raises(CaseError, match="接收部门"):
        loop.accept_transfer(db, case, ROADS)  # the sender cannot accept on the receiver's behalf
    loop.decline_transfer(db, case, ENV, "路面破损属于城建")
    assert case.owner_department == "urban_construction" and case.transfer_to is None
    loop.transfer(db, case, ROADS, "environment", "再次核实属于扬尘")
    loop.accept_transfer(db, case, ENV)
    assert case.owner_department == "environment" and case.status is CaseStatus.ASSIGNED and case.owner_user is None
    with pytest.raises(CaseError, match="不归您"):
        loop.start(db, case, ROADS)
    assert events(db, case) == ["assign", "start", "transfer", "transfer_decline", "transfer", "transfer_accept"]
    # A department's own staff cannot send the case elsewhere by 派单: that is a transfer to be accepted.
    with pytest.raises(CaseError, match="申请转办"):
        loop.assign(db, case, ENV, "transport")
    assert case.owner_department == "environment"


def test_scope_hides_other_departments_cases(db: Session) -> None:
    mine = make_case(db, department="environment")
    theirs = make_case(db, department="transport")
    assert loop.visible(db, ENV, mine.id) is mine
    assert loop.visible(db, ENV, theirs.id) is None
    assert loop.visible(db, SUPERVISOR, theirs.id) is theirs
    loop.transfer(db, theirs, Worker("t", frozenset({"transport"})), "environment", "转给环境")
    assert loop.visible(db, ENV, theirs.id) is theirs  # offered to them: they must see it to accept it


def test_an_extension_moves_the_deadline_by_working_days_across_spring_festival(db: Session) -> None:
    # Opened Friday 2026-02-06: an inquiry's 2 working days end Tuesday 02-10; +5 working days crosses
    # the holiday (02-15 … 02-23 off, Saturday 02-14 a make-up working day).
    opened = dt.datetime(2026, 2, 6, 10, 0, tzinfo=TZ).astimezone(dt.UTC)
    case = make_case(db, case_type=CaseType.INQUIRY, department="environment", opened=opened)
    assert case.due_at.astimezone(TZ).date() == dt.date(2026, 2, 10)
    loop.request_extension(db, case, ENV, 5, "需现场复核")
    with pytest.raises(CaseError, match="督查员"):
        loop.decide_extension(db, case, ENV, True, TZ)
    loop.decide_extension(db, case, SUPERVISOR, True, TZ)
    # 02-11, 02-12, 02-13, 02-14 (调休 Saturday), then 02-24.
    assert case.due_at.astimezone(TZ).date() == dt.date(2026, 2, 24)
    assert case.extended and case.extension_days is None
    assert events(db, case)[-2:] == ["extend_request", "extend_approve"]


def send(db: Session, case: Case, worker: Worker, lib: Library, key: str, fields: dict[str, str]) -> Message:
    """Answer as the console does: preview the exact text, then send what was seen."""
    seen = loop.answer_digest(loop.preview_answer(db, case, worker, lib, key, fields).text)
    return loop.answer(db, case, worker, lib, key, fields, seen=seen)


def test_answers_come_only_from_published_templates_and_whitelisted_fields(db: Session, answer_template: str) -> None:
    case = make_case(db, department="environment")
    lib = Library()
    with pytest.raises(CaseError, match="列表"):
        loop.answer(db, case, ENV, lib, answer_template, {"progress": "你自己看着办吧"})
    with pytest.raises(CaseError, match="请填写"):
        loop.answer(db, case, ENV, lib, answer_template, {})
    with pytest.raises(CaseError, match="不能用于答复"):
        loop.answer(db, case, ENV, lib, "welcome", {})
    # Nothing goes out unseen: without the preview's fingerprint, or with another text's, the answer is refused.
    with pytest.raises(CaseError, match="预览"):
        loop.answer(db, case, ENV, lib, answer_template, {"progress": "整改已完成"})
    seen = loop.answer_digest(loop.preview_answer(db, case, ENV, lib, answer_template, {"progress": "整改已完成"}).text)
    with pytest.raises(CaseError, match="预览"):
        loop.answer(db, case, ENV, lib, answer_template, {"progress": "承办部门正在现场核查"}, seen=seen)
    msg = loop.answer(db, case, ENV, lib, answer_template, {"progress": "整改已完成"}, seen=seen)
    assert msg.delivery_status == "queued" and msg.responder == "wu" and msg.case_id == case.id
    assert msg.content == f"您反映的问题（受理编号：{case.number}）整改已完成。如有疑问，请回复本账号。"
    assert (msg.template_key, msg.template_version) == (answer_template, 1)
    # Queued is not answered: only a delivered message counts, and bot replies never do.
    assert case.answered_at is None
    with pytest.raises(CaseError, match="尚未收到"):
        loop.close(db, case, ENV, "已办结")


def test_the_48_hour_window_and_the_5_message_quota(db: Session, answer_template: str) -> None:
    lib = Library()
    stale = make_case(db, department="environment", last_message_ago=dt.timedelta(hours=49))
    with pytest.raises(CaseError, match="48小时"):
        send(db, stale, ENV, lib, answer_template, {"progress": "整改已完成"})
    fresh = make_case(db, department="environment")
    for _ in range(5):
        send(db, fresh, ENV, lib, answer_template, {"progress": "承办部门正在现场核查"})
    with pytest.raises(CaseError, match="5条"):
        send(db, fresh, ENV, lib, answer_template, {"progress": "整改已完成"})


def test_close_rate_revisit_and_reopen(db: Session) -> None:
    case = make_case(db, department="environment")
    case.status, case.answered_at = CaseStatus.ANSWERED, utcnow()  # as the delivery job records it
    loop.close(db, case, ENV, "已整改")
    assert case.status is CaseStatus.CLOSED and case.closed_at is not None
    loop.rate(db, case, 2)
    assert case.revisit_due and case.rating == 2
    with pytest.raises(CaseError, match="理由"):
        loop.revisit(db, case, SUPERVISOR, "")
    loop.revisit(db, case, SUPERVISOR, "电话回访，群众反映路灯仍不亮")
    loop.reopen(db, case, SUPERVISOR, "回访发现问题未解决")
    assert case.status is CaseStatus.IN_PROGRESS and case.answered_at is None and case.reopened_count == 1
    late = make_case(db, department="environment")
    late.status, late.answered_at, late.closed_at = CaseStatus.CLOSED, utcnow(), utcnow() - dt.timedelta(days=30)
    with pytest.raises(CaseError, match="超过15天"):
        loop.reopen(db, late, SUPERVISOR, "问题复发")


def test_merge_and_hand_over(db: Session) -> None:
    first, duplicate = make_case(db, department="environment"), make_case(db, department="environment")
    loop.merge(db, duplicate, first, ENV, "同一路段扬尘")
    assert duplicate.status is CaseStatus.MERGED and duplicate.merged_into_id == first.id
    with pytest.raises(CaseError):
        loop.merge(db, first, duplicate, ENV, "反向合并")
    fire = make_case(db, case_type=CaseType.EMERGENCY)
    with pytest.raises(CaseError):
        loop.hand_over(db, fire, INTAKE, "12345")
    loop.hand_over(db, fire, INTAKE, "119", "已电话转警")
    assert fire.status is CaseStatus.HANDED_OVER and fire.handed_to == "119" and fire.closed_at is not None


def test_public_opinion_puts_the_case_on_an_hour_clock(db: Session) -> None:
    case = make_case(db, department="environment")
    now = utcnow()
    loop.flag_public_opinion(db, case, SUPERVISOR, 24, "网络转发量大", now=now)
    assert case.public_opinion and case.sla_unit == "hours" and case.due_at == now + dt.timedelta(hours=24)
    with pytest.raises(CaseError, match="小时计时"):
        loop.request_extension(db, case, ENV, 3, "需要时间")


def test_overdue_counts_open_cases_without_a_human_answer(db: Session) -> None:
    case = make_case(db, department="environment")
    later = case.due_at + dt.timedelta(minutes=1)
    assert loop.is_overdue(case, later)
    case.answered_at = utcnow()
    assert not loop.is_overdue(case, later)



def test_digest_lists_overdue_and_next_working_day_cases(db: Session) -> None:
    # Friday 2026-02-13 09:00: the next working day is the make-up Saturday 02-14, not Monday.
    now = dt.datetime(2026, 2, 13, 9, 0, tzinfo=TZ).astimezone(dt.UTC)
    late = make_case(db, department="environment", opened=now - dt.timedelta(days=20))
    late.due_at = now - dt.timedelta(hours=2)
    saturday = make_case(db, department="transport", opened=now)
    saturday.due_at = dt.datetime(2026, 2, 14, 23, 59, 59, tzinfo=TZ).astimezone(dt.UTC)
    later = make_case(db, department="transport", opened=now)
    later.due_at = dt.datetime(2026, 2, 24, 23, 59, 59, tzinfo=TZ).astimezone(dt.UTC)
    answered = make_case(db, department="transport", opened=now)
    answered.due_at, answered.answered_at = now, now  # answered in time: not the digest's business
    db.flush()
    lines = {line.number: line for line in loop.digest(db, now, TZ)}
    assert lines[late.number].overdue and not lines[saturday.number].overdue
    assert later.number not in lines and answered.number not in lines


def test_configured_working_days_reach_the_cases_the_bot_opens(backend, clean_app) -> None:
    from bot import create_app
    from bot.extensions import services
    from bot.simulator import Simulator
    from tests.conftest import AES_KEY, APP_ID, TOKEN, WeChat

    app = create_app(backend.config(CASE_DEADLINE_DAYS="suggestion=3"))
    try:
        wechat = WeChat(app.test_client(), Simulator(TOKEN, APP_ID, AES_KEY))
        sent = wechat.text("建议在小区门口增设路灯", openid="oDeadlineDays00000000000001")
        assert sent.reply and "受理编号" in sent.reply
        with services(app).sessions() as session:
            case = session.scalars(select(Case).order_by(Case.id.desc())).first()
            assert case is not None and (case.sla_amount, case.sla_unit) == (3, "working_days")
    finally:
        services(app).close()


def test_the_bot_records_the_acceptance_as_the_first_event(clean_app, wechat, db: Session) -> None:
    sent = wechat.text("建议在小区门口增设路灯", openid="oAcceptEvent000000000000001")
    assert sent.reply and "受理编号" in sent.reply
    case = db.scalars(select(Case).order_by(Case.id.desc())).first()
    assert case is not None
    first = db.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)).first()
    assert first is not None and (first.actor, first.action, first.to_status) == ("bot", "accept", "accepted")
    assert first.detail.startswith("自动受理：建议")
