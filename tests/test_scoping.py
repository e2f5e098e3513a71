"""Department scope on conversations, as on cases: the thread list, a thread, search, QA, unmasking and exports.

One citizen has a case of the environment department and one of transport, and said hello; another has only a
transport case; a third never opened a case. An environment operator (and an environment-only supervisor) read
the first citizen's thread without the transport case, and nothing of the other two; unit-wide staff read all.
"""
from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from bot.console.auth import create_user
from bot.extensions import services
from models import AuditEntry, Case, CaseStatus, Citizen, Direction, Message, User, utcnow
from tests.conftest import count
from tests.test_cases import make_case
from tests.test_console import PASSWORD, login, token
from tests.test_console_cases import ENV_OP, ROADS_OP, SUP, case_accounts  # noqa: F401 (fixture)

ENV_SUP = "t_env_sup"


@dataclasses.dataclass
class World:
    both: int  # citizen with an environment and a transport case
    transport_only: int
    no_case: int
    env_number: str
    transport_number: str
    other_number: str


def _message(session: Any, citizen_id: int, content: str, **extra: Any) -> Message:
    now = utcnow()
    msg = Message(direction=Direction.IN, citizen_id=citizen_id, dedup_key=uuid.uuid4().hex, msg_type="text",
                  content=content, created_at=now, received_at=now, **extra)
    session.add(msg)
    session.flush()
    return msg


@pytest.fixture
def world(clean_app: Flask, case_accounts: str) -> World:  # noqa: F811 (the fixture imported above)
    with services(clean_app).sessions() as session:
        if session.scalar(select(User.id).where(User.username == ENV_SUP)) is None:
            create_user(session, ENV_SUP, PASSWORD, ["supervisor"], by="tests").departments = "environment"
        env = make_case(session, department="environment")
        both = env.citizen_id
        _message(session, both, "你好，请问有人在吗")
        bus = _message(session, both, "公交车天天绕路还不报站")
        transport = Case(number=f"T{bus.id:010d}", case_type=env.case_type, status=CaseStatus.ACCEPTED,
                         department="transport", owner_department="transport", citizen_id=both,
                         opening_message_id=bus.id, summary="公交绕路不报站", opened_at=env.opened_at,
                         due_at=env.due_at, sla_amount=env.sla_amount, sla_unit=env.sla_unit)
        session.add(transport)
        session.flush()
        other = make_case(session, department="transport")
        loner = Citizen(openid="oLoner" + uuid.uuid4().hex[:22], first_seen_at=utcnow(), last_seen_at=utcnow())
        session.add(loner)
        session.flush()
        _message(session, loner.id, "想咨询一下社保卡补办")
        session.commit()
        return World(both, other.citizen_id, loner.id, env.number, transport.number, other.number)


def test_a_scoped_operator_lists_and_searches_only_threads_of_their_departments(clean_app: Flask, world: World):
    env = login(clean_app, ENV_OP)
    page = env.get("/console/conversations").get_data(as_text=True)
    # One row a thread, showing its latest message the operator may read and only their own case.
    assert "你好，请问有人在吗" in page and world.env_number in page
    assert "公交车天天绕路" not in page and world.transport_number not in page  # the same citizen's transport case
    assert "社保卡补办" not in page  # a thread with no case belongs to no department yet
    assert world.other_number not in page
    # Searching does not reach past the scope either.
    assert "公交车天天绕路" not in env.get("/console/conversations?q=公交").get_data(as_text=True)
    assert "想咨询一下社保卡补办" not in env.get("/console/conversations?q=社保卡").get_data(as_text=True)
    assert "小区门口路灯坏了" in env.get("/console/conversations?q=路灯").get_data(as_text=True)
    # Unit-wide staff see everything.
    everything = login(clean_app, SUP).get("/console/conversations").get_data(as_text=True)
    assert all(t in everything for t in ("小区门口路灯坏了", "公交车天天绕路", "社保卡补办"))


def test_a_scoped_operator_reads_their_case_s_thread_without_the_other_department_s_case(
    clean_app: Flask, world: World
):
    env = login(clean_app, ENV_OP)
    resp = env.get(f"/console/conversations/{world.both}")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert world.env_number in page and "小区门口路灯坏了" in page and "你好，请问有人在吗" in page
    assert world.transport_number not in page and "公交绕路不报站" not in page and "公交车天天绕路" not in page
    assert "另有 1 条消息属于其他部门的诉求" in page
    # Another department's citizen, and a citizen with no case: as if they did not exist.
    assert env.get(f"/console/conversations/{world.transport_only}").status_code == 404
    assert env.get(f"/console/conversations/{world.no_case}").status_code == 404
    # The transport operator sees the mirror image.
    roads = login(clean_app, ROADS_OP)
    assert roads.get(f"/console/conversations/{world.both}").status_code == 404  # urban_construction: neither case
    full = login(clean_app, SUP).get(f"/console/conversations/{world.both}").get_data(as_text=True)
    assert world.env_number in full and world.transport_number in full and "另有" not in full


def test_a_scoped_supervisor_can_neither_unmask_nor_flag_nor_sample_outside_their_departments(
    clean_app: Flask, world: World
):
    sup = login(clean_app, ENV_SUP)
    csrf = token(sup, "/console/")
    for citizen in (world.transport_only, world.no_case):
        unmask = sup.post(f"/console/conversations/{citizen}/unmask",
                          data={"reason": "核实投诉人身份", "csrf_token": csrf})
        assert unmask.status_code == 404
        flag = sup.post(f"/console/conversations/{citizen}/flag", data={"kind": "tone", "csrf_token": csrf})
        assert flag.status_code == 404
    with services(clean_app).sessions() as session:
        assert count(session, AuditEntry, AuditEntry.actor == ENV_SUP, AuditEntry.action == "unmask") == 0
    shown = sup.post(f"/console/conversations/{world.both}/unmask",
                     data={"reason": "核实投诉人身份", "csrf_token": csrf})
    assert shown.status_code == 200 and world.transport_number not in shown.get_data(as_text=True)
    sample = sup.get("/console/qa/sample?days=1").get_data(as_text=True)
    assert f"/console/conversations/{world.transport_only}" not in sample
    assert f"/console/conversations/{world.no_case}" not in sample


def test_case_exports_stay_within_the_scope(clean_app: Flask, world: World):
    scoped = login(clean_app, ENV_SUP).get("/console/cases/export?format=csv&view=all")
    assert scoped.status_code == 200
    body = scoped.get_data(as_text=True)
    assert world.env_number in body and world.transport_number not in body and world.other_number not in body
    full = login(clean_app, SUP).get("/console/cases/export?format=csv&view=all").get_data(as_text=True)
    assert world.env_number in full and world.transport_number in full and world.other_number in full
