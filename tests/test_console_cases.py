"""Case pages through the test client: department scope, the loop's steps, answers only from templates."""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from bot.console.auth import create_user
from bot.extensions import services
from models import Case, CaseEvent, CaseStatus, Direction, Message, User
from replies import workflow
from tests.test_cases import ANSWER, make_case
from tests.test_console import PASSWORD, login, token

ENV_OP = "t_env_op"
ROADS_OP = "t_roads_op"
SUP = "t_case_sup"


@pytest.fixture(scope="session")
def case_accounts(app: Flask) -> str:
    """Operators scoped to one department each, a supervisor, and a published answer template."""
    key = "answer_test_progress"
    with services(app).sessions() as session:
        for name, roles, depts in ((ENV_OP, ["operator"], "environment"),
                                   (ROADS_OP, ["operator"], "urban_construction"),
                                   (SUP, ["supervisor"], "")):
            if session.scalar(select(User.id).where(User.username == name)) is None:
                user = create_user(session, name, PASSWORD, roles, by="tests")
                user.departments = depts
        if session.scalar(select(workflow.ReplyTemplate.id).where(workflow.ReplyTemplate.key == key)) is None:
            author, reviewer = workflow.Actor("ann"), workflow.Actor("bob")
            workflow.create_template(session, author, key, "answer")
            ver = workflow.draft(session, author, key, ANSWER)
            workflow.submit(session, author, ver)
            workflow.approve(session, reviewer, ver)
            workflow.publish(session, reviewer, ver)
        session.commit()
    from bot.bootstrap import bump_generation

    bump_generation(app)
    return key


@pytest.fixture
def env_case(clean_app: Flask, case_accounts: str) -> Iterator[int]:
    with services(clean_app).sessions() as session:
        case = make_case(session, department="environment")
        session.commit()
        yield case.id


def _post(client: FlaskClient, url: str, **form: Any) -> str:
    resp = client.post(url, data={"csrf_token": token(client, "/console/"), **form}, follow_redirects=True)
    assert resp.status_code == 200, resp.status_code
    return resp.get_data(as_text=True)


def _case(app: Flask, case_id: int) -> Case:
    with services(app).sessions() as session:
        case = session.get(Case, case_id)
        assert case is not None
        session.expunge(case)
        return case


def test_operators_see_only_their_departments_cases(clean_app: Flask, env_case: int) -> None:
    roads = login(clean_app, ROADS_OP)
    assert roads.get(f"/console/cases/{env_case}").status_code == 404
    number = _case(clean_app, env_case).number
    assert number not in roads.get("/console/cases").get_data(as_text=True)
    assert number in login(clean_app, ENV_OP).get("/console/cases").get_data(as_text=True)
    assert number in login(clean_app, SUP).get("/console/cases").get_data(as_text=True)
    # Nor can they act on it.
    resp = roads.post(f"/console/cases/{env_case}/act/start", data={"csrf_token": token(roads, "/console/")})
    assert resp.status_code == 404


def test_a_case_through_the_pages(clean_app: Flask, env_case: int, case_accounts: str) -> None:
    env = login(clean_app, ENV_OP)
    page = _post(env, f"/console/cases/{env_case}/act/start")
    assert "已完成：开始办理" in page and _case(clean_app, env_case).status is CaseStatus.IN_PROGRESS
    # Nothing can be typed into an answer: an unknown progress phrase is refused at the preview.
    page = _post(env, f"/console/cases/{env_case}/preview-answer", template=case_accounts, progress="随便写点什么")
    assert "办理进度只能从列表中选择" in page
    # Sending without having seen the text is refused; the preview shows it word for word, then it goes.
    page = _post(env, f"/console/cases/{env_case}/act/answer", template=case_accounts, progress="整改已完成")
    assert "请先预览" in page
    page = _post(env, f"/console/cases/{env_case}/preview-answer", template=case_accounts, progress="整改已完成")
    number = _case(clean_app, env_case).number
    shown = re.search(r'id="answer-preview">([^<]*)<', page)
    assert shown and shown.group(1) == f"您反映的问题（受理编号：{number}）整改已完成。如有疑问，请回复本账号。"
    seen = re.search(r'name="seen" value="([0-9a-f]+)"', page)
    assert seen
    page = _post(env, f"/console/cases/{env_case}/act/answer", template=case_accounts, progress="整改已完成",
                 seen=seen.group(1))
    assert "已完成：答复" in page
    with services(clean_app).sessions() as session:
        sent = session.scalars(select(Message).where(Message.case_id == env_case,
                                                     Message.direction == Direction.OUT)).one()
        assert sent.responder == ENV_OP and sent.template_key == case_accounts and sent.delivery_status
        assert "整改已完成" in sent.content
    # Closing needs the answer delivered; until then the page says why.
    assert "尚未收到" in _post(env, f"/console/cases/{env_case}/act/close", reason="已整改")
    # An extension goes to a supervisor.
    _post(env, f"/console/cases/{env_case}/act/extend", days="3", reason="需要复查")
    assert _case(clean_app, env_case).extension_days == 3
    sup = login(clean_app, SUP)
    before = _case(clean_app, env_case).due_at
    assert "已完成：批准延期" in _post(sup, f"/console/cases/{env_case}/supervise/extension_approve", comment="同意")
    assert _case(clean_app, env_case).due_at > before
    # Operators cannot approve extensions (the route is the supervisor's).
    assert env.post(f"/console/cases/{env_case}/supervise/extension_approve",
                    data={"csrf_token": token(env, "/console/")}).status_code == 403
    history = login(clean_app, SUP).get(f"/console/cases/{env_case}").get_data(as_text=True)
    for label in ("开始办理", "答复（待发送）", "申请延期", "批准延期"):
        assert label in history
    with services(clean_app).sessions() as session:
        actors = set(session.scalars(select(CaseEvent.actor).where(CaseEvent.case_id == env_case)))
        assert actors == {ENV_OP, SUP}


def test_transfer_needs_the_receiving_department(clean_app: Flask, env_case: int) -> None:
    env, roads = login(clean_app, ENV_OP), login(clean_app, ROADS_OP)
    _post(env, f"/console/cases/{env_case}/act/transfer", department="urban_construction", reason="路面问题")
    case = _case(clean_app, env_case)
    assert case.owner_department == "environment" and case.transfer_to == "urban_construction"
    # Offered to roads: they see it and accept it; then it is theirs and no longer environment's.
    assert "接收转办" in roads.get(f"/console/cases/{env_case}").get_data(as_text=True)
    _post(roads, f"/console/cases/{env_case}/act/accept_transfer")
    assert _case(clean_app, env_case).owner_department == "urban_construction"
    assert env.get(f"/console/cases/{env_case}").status_code == 404


def test_home_page_counts_overdue_cases_in_scope(clean_app: Flask, case_accounts: str) -> None:
    import datetime as dt

    with services(clean_app).sessions() as session:
        late = make_case(session, department="environment")
        late.due_at = late.opened_at - dt.timedelta(hours=1)
        other = make_case(session, department="transport")
        other.due_at = other.opened_at - dt.timedelta(hours=1)
        session.commit()
    page = login(clean_app, ENV_OP).get("/console/").get_data(as_text=True)
    assert 'id="overdue-count">1<' in page
    assert 'id="overdue-count">2<' in login(clean_app, SUP).get("/console/").get_data(as_text=True)
    listing = login(clean_app, ENV_OP).get("/console/cases?overdue=1").get_data(as_text=True)
    assert late.number in listing and other.number not in listing
