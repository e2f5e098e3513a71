"""The inbox (issue 18): one row per citizen thread, unread counts and the read mark, status and its reopening,
assigning, scope, filters and search, try-it conversations left out, CSRF — through Flask's test client, both backends.
"""
from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select

from bot.extensions import services
from cases import threads
from cases.loop import Worker
from models import AuditEntry, CaseStatus, CaseType, Citizen, Direction, Message, QaFlag, ThreadState, utcnow
from tests.conftest import WeChat, count
from tests.test_cases import make_case
from tests.test_console import login, token
from tests.test_console_cases import ENV_OP, ROADS_OP, SUP, case_accounts  # noqa: F401 (fixture)
from tests.test_scoping import World, world  # noqa: F401 (fixture)
from text.pii import mask_openid

OP, OP2, REV = "t_inbox_op", "t_inbox_op2", "t_inbox_rev"
_ROW = re.compile(r'<tr class="[^"]*" data-citizen="(\d+)">(.*?)</tr>', re.S)


@pytest.fixture(scope="session")
def inbox_accounts(app: Flask, case_accounts: str) -> None:  # noqa: F811 (the fixture imported above)
    """Two unit-wide operators and a reviewer (who may not take threads)."""
    from bot.console.auth import create_user
    from models import User
    from tests.test_console import PASSWORD

    with services(app).sessions() as session:
        wanted = ((OP, ["operator"], "王小明"), (OP2, ["operator"], "李华"), (REV, ["reviewer"], ""))
        for name, roles, display in wanted:
            if session.scalar(select(User.id).where(User.username == name)) is None:
                create_user(session, name, PASSWORD, roles, by="tests", display_name=display)
        session.commit()


@pytest.fixture
def op(clean_app: Flask, inbox_accounts: None) -> FlaskClient:
    return login(clean_app, OP)


def rows(client: FlaskClient, query: str = "") -> dict[int, str]:
    """The inbox's rows by citizen id (the row's HTML)."""
    resp = client.get(f"/console/conversations{query}")
    assert resp.status_code == 200
    return {int(cid): html for cid, html in _ROW.findall(resp.get_data(as_text=True))}


def unread(row: str) -> int:
    found = re.search(r'<span class="count"[^>]*>(\d+)</span>', row)
    return int(found.group(1)) if found else 0


def citizen_id(app: Flask, openid: str) -> int:
    with services(app).sessions() as session:
        found = session.scalar(select(Citizen.id).where(Citizen.openid == openid))
        assert found is not None
        return found


def last_id(app: Flask, cid: int) -> int:
    with services(app).sessions() as session:
        return session.scalar(select(Message.id).where(Message.citizen_id == cid).order_by(Message.id.desc())) or 0


def state(app: Flask, cid: int) -> ThreadState | None:
    with services(app).sessions() as session:
        return session.get(ThreadState, cid)


def post(client: FlaskClient, cid: int, what: str, **form: Any) -> Any:
    return client.post(f"/console/conversations/{cid}/{what}", data={**form, "csrf_token": token(client, "/console/")})


def inbound(session: Any, cid: int, content: str, at: dt.datetime | None = None, **extra: Any) -> Message:
    at = at or utcnow()
    msg = Message(direction=Direction.IN, citizen_id=cid, dedup_key=uuid.uuid4().hex, msg_type="text",
                  content=content, created_at=at, received_at=at, **extra)
    session.add(msg)
    session.flush()
    return msg


def citizen(session: Any, openid: str | None = None, at: dt.datetime | None = None) -> Citizen:
    at = at or utcnow()
    person = Citizen(openid=openid or "oInbox" + uuid.uuid4().hex[:22], first_seen_at=at, last_seen_at=at)
    session.add(person)
    session.flush()
    return person


# -- rows, unread, read mark ----------------------------------------------------------------------------


def test_one_row_per_thread_newest_first_with_its_latest_message_and_unread_count(
    clean_app: Flask, op: FlaskClient, wechat: WeChat
) -> None:
    for text in ("你好", "小区路灯坏了三天", "在吗？"):
        wechat.text(text, openid="oInboxFirst000000000000000001")
    wechat.text("请问社保怎么补缴", openid="oInboxSecond00000000000000001")
    first, second = citizen_id(clean_app, "oInboxFirst000000000000000001"), citizen_id(
        clean_app, "oInboxSecond00000000000000001")
    listed = rows(op)
    assert list(listed) == [second, first]  # newest activity first, one row each
    assert unread(listed[first]) == 3 and unread(listed[second]) == 1
    assert mask_openid("oInboxFirst000000000000000001") in listed[first]
    assert "待处理" in listed[first] and "未分配" in listed[first]
    # The latest message is shown, whichever way it went (here the bot's reply), prefixed with who spoke.
    assert "回复：" in listed[first] or "群众：" in listed[first]
    assert "小区路灯坏了三天" not in listed[first]

    page = op.get(f"/console/conversations/{first}").get_data(as_text=True)
    assert page.count("新消息") == 3  # what nobody had opened yet is marked on the thread
    assert state(clean_app, first).seen_message_id == last_id(clean_app, first)  # type: ignore[union-attr]
    listed = rows(op)
    assert unread(listed[first]) == 0 and unread(listed[second]) == 1
    assert "新消息" not in op.get(f"/console/conversations/{first}").get_data(as_text=True)

    wechat.text("还有人吗", openid="oInboxFirst000000000000000001")
    assert unread(rows(op)[first]) == 1
    # The read mark is the team's: a colleague sees the same count.
    assert unread(rows(login(clean_app, OP2))[first]) == 1


def test_the_read_mark_only_moves_forward(clean_app: Flask) -> None:
    with services(clean_app).sessions() as session:
        person = citizen(session)
        low, high = inbound(session, person.id, "一"), inbound(session, person.id, "二")
        threads.mark_seen(session, person.id, high.id)
        threads.mark_seen(session, person.id, low.id)
        threads.mark_seen(session, person.id, 0)
        session.commit()
        assert session.get(ThreadState, person.id).seen_message_id == high.id  # type: ignore[union-attr]


# -- status ----------------------------------------------------------------------------------------------


def test_handled_and_waiting_threads_reopen_when_the_citizen_writes_again(
    clean_app: Flask, op: FlaskClient, wechat: WeChat
) -> None:
    openid = "oInboxStatus0000000000000001"
    wechat.text("路灯坏了", openid=openid)
    cid = citizen_id(clean_app, openid)
    op.get(f"/console/conversations/{cid}")
    resp = post(op, cid, "status", status="closed", seen=last_id(clean_app, cid))
    assert resp.status_code == 302
    assert "会话已标记为“已处理”" in op.get(resp.headers["Location"]).get_data(as_text=True)
    assert cid not in rows(op)  # the inbox shows open threads by default
    assert "已处理" in rows(op, "?status=closed")[cid]
    assert cid in rows(op, "?status=any")

    wechat.text("还是没修好", openid=openid)
    listed = rows(op)
    assert cid in listed and "待处理" in listed[cid] and unread(listed[cid]) == 1
    assert cid not in rows(op, "?status=closed")
    saved = state(clean_app, cid)
    assert saved is not None and saved.status == "closed"  # reopened when read, never written on the message path

    op.get(f"/console/conversations/{cid}")
    post(op, cid, "status", status="waiting", seen=last_id(clean_app, cid))
    assert "等待群众" in rows(op, "?status=waiting")[cid]
    wechat.text("好的谢谢", openid=openid)
    assert cid in rows(op) and cid not in rows(op, "?status=waiting")
    with services(clean_app).sessions() as session:
        details = list(session.scalars(select(AuditEntry.detail).where(
            AuditEntry.action == "thread.status", AuditEntry.target == f"citizen:{cid}").order_by(AuditEntry.id)))
    assert details == ["待处理 → 已处理", "待处理 → 等待群众"]


def test_a_message_that_arrived_while_reading_is_not_buried_by_handled(
    clean_app: Flask, op: FlaskClient, wechat: WeChat
) -> None:
    openid = "oInboxRace00000000000000001"
    wechat.text("路灯坏了", openid=openid)
    cid = citizen_id(clean_app, openid)
    op.get(f"/console/conversations/{cid}")
    shown = last_id(clean_app, cid)
    wechat.text("补充一下：在3号楼门口", openid=openid)
    resp = post(op, cid, "status", status="closed", seen=shown)
    assert "群众刚发来新消息" in op.get(resp.headers["Location"]).get_data(as_text=True)
    saved = state(clean_app, cid)
    assert saved is None or saved.status == "open"
    assert "待处理" in rows(op)[cid]


# -- assigning -----------------------------------------------------------------------------------------


def test_assign_to_me_to_a_colleague_and_unassign_are_audited_and_filtered_by_tab(
    clean_app: Flask, op: FlaskClient, wechat: WeChat
) -> None:
    wechat.text("噪音扰民", openid="oInboxAssign000000000000001")
    wechat.text("咨询", openid="oInboxOther0000000000000001")
    cid, other = citizen_id(clean_app, "oInboxAssign000000000000001"), citizen_id(
        clean_app, "oInboxOther0000000000000001")
    page = op.get(f"/console/conversations/{cid}").get_data(as_text=True)
    assert "分配给我" in page and f'value="{OP2}"' in page and f'value="{REV}"' not in page  # reviewers take none

    assert post(op, cid, "assign", assignee=OP).status_code == 302
    assert state(clean_app, cid).assignee == OP  # type: ignore[union-attr]
    assert set(rows(op, "?assignee=me")) == {cid}
    assert set(rows(op, "?assignee=none")) == {other}
    assert "我的（1）" in op.get("/console/conversations").get_data(as_text=True)
    assert "王小明" in rows(op)[cid]

    post(op, cid, "assign", assignee=OP2)
    assert state(clean_app, cid).assignee == OP2  # type: ignore[union-attr]
    assert set(rows(op, f"?assignee={OP2}")) == {cid} and rows(op, "?assignee=me") == {}
    assert "李华" in rows(op)[cid]

    refused = post(op, cid, "assign", assignee=REV)
    assert "无权查看此会话" in op.get(refused.headers["Location"]).get_data(as_text=True)
    post(op, cid, "assign", assignee="nobody-by-that-name")
    assert state(clean_app, cid).assignee == OP2  # type: ignore[union-attr]

    post(op, cid, "assign", assignee="")
    assert state(clean_app, cid).assignee is None  # type: ignore[union-attr]
    assert set(rows(op, "?assignee=none")) == {cid, other}
    with services(clean_app).sessions() as session:
        details = list(session.scalars(select(AuditEntry.detail).where(
            AuditEntry.action == "thread.assign", AuditEntry.target == f"citizen:{cid}").order_by(AuditEntry.id)))
    assert details == [
        "认领会话（原负责人：未分配）",
        f"分配给 李华（{OP2}）（原负责人：王小明（{OP}））",
        f"取消分配（原负责人：李华（{OP2}））",
    ]


def test_handling_needs_a_csrf_token_and_the_permission(clean_app: Flask, op: FlaskClient, wechat: WeChat) -> None:
    wechat.text("你好", openid="oInboxCsrf00000000000000001")
    cid = citizen_id(clean_app, "oInboxCsrf00000000000000001")
    assert op.post(f"/console/conversations/{cid}/assign", data={"assignee": OP}).status_code == 400
    assert op.post(f"/console/conversations/{cid}/status", data={"status": "closed"}).status_code == 400
    assert state(clean_app, cid) is None
    reviewer = login(clean_app, REV)
    assert post(reviewer, cid, "assign", assignee=REV).status_code == 403
    assert reviewer.get("/console/conversations").status_code == 403
    assert post(op, 999999, "assign", assignee=OP).status_code == 404


# -- scope ---------------------------------------------------------------------------------------------


def test_a_scoped_operator_neither_sees_nor_handles_threads_outside_their_departments(
    clean_app: Flask, world: World, inbox_accounts: None  # noqa: F811 (the fixture imported above)
) -> None:
    env = login(clean_app, ENV_OP)
    assert set(rows(env)) == {world.both}
    for target in (world.transport_only, world.no_case):
        assert post(env, target, "assign", assignee=ENV_OP).status_code == 404
        assert post(env, target, "status", status="closed").status_code == 404
        assert state(clean_app, target) is None
    page = env.get(f"/console/conversations/{world.both}").get_data(as_text=True)
    # Who the thread may go to: those who may read it (the environment operator, unit-wide staff), not roads.
    assert f'value="{SUP}"' in page and f'value="{ROADS_OP}"' not in page
    refused = post(env, world.both, "assign", assignee=ROADS_OP)
    assert "无权查看此会话" in env.get(refused.headers["Location"]).get_data(as_text=True)
    assert state(clean_app, world.both).assignee is None  # type: ignore[union-attr]
    assert post(env, world.both, "assign", assignee=SUP).status_code == 302
    assert state(clean_app, world.both).assignee == SUP  # type: ignore[union-attr]
    # The unread count leaves out the withheld transport message; unit-wide staff count it.
    sup_rows = rows(login(clean_app, SUP))
    assert set(sup_rows) == {world.both, world.transport_only, world.no_case}
    with services(clean_app).sessions() as session:
        session.execute(ThreadState.__table__.update().values(seen_message_id=0))
        session.commit()
    assert unread(rows(env)[world.both]) == 2 and unread(rows(login(clean_app, SUP))[world.both]) == 3
    # Marking read goes only as far as the operator could read: the transport message stays unread for others.
    env.get(f"/console/conversations/{world.both}")
    assert unread(rows(env)[world.both]) == 0


def test_the_assignable_are_those_the_scope_lets_read(clean_app: Flask, world: World) -> None:  # noqa: F811
    with services(clean_app).sessions() as session:
        people = [Worker("env", frozenset({"environment"})), Worker("roads", frozenset({"urban_construction"})),
                  Worker("transport", frozenset({"transport"})), Worker("all")]
        may = [w.name for w in threads.readers(session, world.both, people)]
        assert may == ["env", "transport", "all"]
        assert all(threads.thread_readable(session, w, world.both) == (w.name in may) for w in people)


# -- filters and search ----------------------------------------------------------------------------------


@pytest.fixture
def spread(clean_app: Flask, inbox_accounts: None) -> Iterator[dict[str, int]]:
    """Threads that differ in one way each: emergency, overdue case, intent/department, an old one, flagged, try-it."""
    now = utcnow()
    with services(clean_app).sessions() as session:
        fire = citizen(session)
        inbound(session, fire.id, "楼道里着火了", emergency_kind="fire", intent="emergency")
        late = make_case(session, department="environment", opened=now - dt.timedelta(days=40),
                         last_message_ago=dt.timedelta(days=40))
        housing = citizen(session)
        inbound(session, housing.id, "物业不作为", intent="complaint", department="health")
        old = citizen(session, at=now - dt.timedelta(days=20))
        inbound(session, old.id, "去年的噪音问题", at=now - dt.timedelta(days=20))
        flagged = citizen(session)
        inbound(session, flagged.id, "谢谢你们")
        session.add(QaFlag(citizen_id=flagged.id, kind="tone", author="t_sup"))
        pretend = citizen(session, openid="oTRY" + uuid.uuid4().hex[:24])
        inbound(session, pretend.id, "测试一下机器人")
        urgent_case = make_case(session, case_type=CaseType.EMERGENCY, department="public_security")
        urgent_case.emergency_kind = "police"
        session.commit()
        yield {"fire": fire.id, "late": late.citizen_id, "housing": housing.id, "old": old.id,
               "flagged": flagged.id, "try": pretend.id, "urgent_case": urgent_case.citizen_id}


def test_filters_and_search(clean_app: Flask, op: FlaskClient, spread: dict[str, int]) -> None:
    everyone = set(spread.values()) - {spread["try"]}
    assert set(rows(op)) == everyone
    assert set(rows(op, "?emergency=1")) == {spread["fire"], spread["urgent_case"]}
    assert set(rows(op, "?overdue=1")) == {spread["late"]}
    assert "超期" in rows(op)[spread["late"]] and "紧急" in rows(op)[spread["fire"]]
    assert set(rows(op, "?intent=complaint")) == {spread["housing"]}
    assert set(rows(op, "?department=health")) == {spread["housing"]}
    assert set(rows(op, "?intent=complaint&department=environment")) == set()  # one message must match both
    assert set(rows(op, "?flagged=1")) == {spread["flagged"]}
    assert set(rows(op, "?case_status=accepted")) == {spread["late"], spread["urgent_case"]}
    search = rows(op, "?q=噪音")
    assert set(search) == {spread["old"]} and "去年的噪音问题" in search[spread["old"]]
    old_day = (utcnow() - dt.timedelta(days=20)).astimezone(clean_app_tz(clean_app)).date()
    assert set(rows(op, f"?from={old_day}&to={old_day}")) == {spread["old"]}
    assert spread["old"] not in rows(op, f"?from={old_day + dt.timedelta(days=1)}")
    assert set(rows(op, "?unread=1")) == everyone
    op.get(f"/console/conversations/{spread['housing']}")
    assert set(rows(op, "?unread=1")) == everyone - {spread["housing"]}
    # Unknown values are ignored rather than matching nothing (or erroring).
    assert set(rows(op, "?intent=bogus&status=bogus&assignee=bogus&from=notadate")) == everyone


def clean_app_tz(app: Flask) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(app.config["TIMEZONE"])


def test_try_it_conversations_are_left_out_of_the_inbox_and_the_qa_sample(
    clean_app: Flask, op: FlaskClient, spread: dict[str, int]
) -> None:
    assert spread["try"] not in rows(op)
    shown = rows(op, "?try=1")
    assert spread["try"] in shown and "试用" in shown[spread["try"]]
    sup = login(clean_app, SUP)
    sample = sup.get("/console/qa/sample?days=30").get_data(as_text=True)
    assert f"/console/conversations/{spread['try']}\"" not in sample
    assert f"/console/conversations/{spread['housing']}\"" in sample


def test_the_inbox_page_reads_a_fixed_number_of_queries_whatever_the_page_holds(
    clean_app: Flask, op: FlaskClient
) -> None:
    """The per-row figures are batched: 3 threads or 30 cost the same number of statements."""
    engine = services(clean_app).engine
    statements: list[str] = []

    def counted(n: int) -> int:
        with services(clean_app).sessions() as session:
            for _ in range(n):
                person = citizen(session)
                inbound(session, person.id, "路灯不亮")
                make_case(session, department="environment")
            session.commit()
        statements.clear()
        event.listen(engine, "before_cursor_execute", record)
        try:
            assert op.get("/console/conversations").status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", record)
        return len(statements)

    def record(*args: Any) -> None:
        statements.append(args[2])

    few = counted(3)
    many = counted(27)
    assert few == many, (few, many)
    assert many <= 15


def test_a_thread_page_names_every_code_in_chinese(clean_app: Flask, op: FlaskClient) -> None:
    with services(clean_app).sessions() as session:
        case = make_case(session, department="environment")
        session.execute(Message.__table__.update().where(Message.id == case.opening_message_id).values(
            intent="complaint", department="environment", emergency_kind="fire", confidence_intent=0.9,
            confidence_department=0.8))
        case.status = CaseStatus.IN_PROGRESS
        session.commit()
        cid = case.citizen_id
    page = op.get(f"/console/conversations/{cid}").get_data(as_text=True)
    body = page[page.index("<main>"):]
    for code in ("complaint", "environment", "fire", "in_progress", ">text<", " text ", "accepted"):
        assert code not in re.sub(r'<[^>]+>', " ", body).replace("&#34;", '"'), code
    assert "投诉" in body and "火灾" in body and "办理中" in body and "文字" in body


def test_effective_status(clean_app: Flask) -> None:
    """No row → open; a status set at the latest inbound message holds until a newer one arrives."""
    with services(clean_app).sessions() as session:
        person = citizen(session)
        msg = inbound(session, person.id, "你好")
        assert threads.effective_status(None, msg.id) == "open"
        threads.set_status(session, person.id, "closed", "tester")
        saved = session.get(ThreadState, person.id)
        assert threads.effective_status(saved, msg.id) == "closed"
        assert threads.effective_status(saved, msg.id + 1) == "open"
        session.commit()
        assert count(session, ThreadState) == 1
        with pytest.raises(ValueError):
            threads.set_status(session, person.id, "archived", "tester")
