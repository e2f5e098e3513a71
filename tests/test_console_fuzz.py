"""Hostile use of the console, for every route (walking ``app.url_map``): never 200 with data, never a 5xx.

Unauthenticated visitors and the wrong role are covered route by route in tests/test_console.py
(``test_signed_out_visitors_are_sent_to_sign_in``, ``test_permission_matrix``). Here, for every route:
a forged or garbage session cookie is a signed-out visitor; every form posted without its CSRF token
is refused (400) by a user who holds the route's permission; and another department's case id gets
404 on every case page and every case step (handling and supervising) — the same answer as an id
that does not exist — and the case appears in none of their lists and exports.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select

from bot.console.auth import PERMISSIONS, create_user
from bot.extensions import services
from models import Case, CaseEvent, User
from tests.test_cases import make_case
from tests.test_console import PASSWORD, _routes, accounts, login, token  # noqa: F401 (fixture)

ENV_OP = "t_fz_env_op"
ENV_SUP = "t_fz_env_sup"
ROLE_OF = {"operator": "t_op", "reviewer": "t_rev", "supervisor": "t_sup", "admin": "t_adm"}
HANDLE = ["assign", "start", "transfer", "accept_transfer", "decline_transfer", "extend", "answer", "close",
          "merge", "hand_over", "no_such_action"]
# Every test needs the role accounts (and the probe template) that ``_routes`` points at.
pytestmark = pytest.mark.usefixtures("accounts")
SUPERVISE = ["extension_approve", "extension_reject", "public_opinion", "revisit", "reopen", "no_such_action"]


@pytest.fixture(scope="session")
def scoped_accounts(app: Flask) -> None:
    """An operator and a supervisor scoped to the environment department."""
    with services(app).sessions() as session:
        for name, roles in ((ENV_OP, ["operator"]), (ENV_SUP, ["supervisor"])):
            if session.scalar(select(User.id).where(User.username == name)) is None:
                user = create_user(session, name, PASSWORD, roles, by="tests")
                user.departments = "environment"
        session.commit()


@pytest.fixture
def roads_case(clean_app: Flask, scoped_accounts: None) -> Iterator[tuple[int, str]]:
    """A case owned by another department (urban construction), never offered to environment."""
    with services(clean_app).sessions() as session:
        case = make_case(session, department="urban_construction")
        session.commit()
        yield case.id, case.number


def test_a_forged_session_cookie_is_a_signed_out_visitor(clean_app: Flask) -> None:
    for cookie in ("garbage", "eyJ1c2VyX2lkIjoxfQ.forged.signature", ".eJyrVkpKLE4tVrKqVipKLUnNK1ayiq4FAD8hBlI",
                   "a" * 4000):
        client = clean_app.test_client()
        client.set_cookie("session", cookie, domain="localhost")
        for _, method, url in _routes(clean_app):
            resp = client.get(url) if method == "GET" else client.post(url, data={"csrf_token": "x"})
            assert resp.status_code in (302, 400, 401), (cookie[:20], method, url, resp.status_code)
            if resp.status_code == 302:
                assert "/console/login" in resp.headers["Location"], url


def test_every_form_without_its_csrf_token_is_refused(clean_app: Flask) -> None:
    clients = {role: login(clean_app, name) for role, name in ROLE_OF.items()}
    checked = 0
    for endpoint, method, url in _routes(clean_app):
        if method != "POST":
            continue
        allowed = PERMISSIONS[clean_app.view_functions[endpoint].permission]
        role = sorted(allowed)[0]
        for data in ({}, {"csrf_token": ""}, {"csrf_token": "forged.token.value"}):
            resp = clients[role].post(url, data=data)
            assert resp.status_code == 400, f"{role} {url} {data} → {resp.status_code}"
            assert "安全令牌" in resp.get_data(as_text=True)
        checked += 1
    assert checked >= 15
    # Nothing happened to the probe template or anywhere else.
    with services(clean_app).sessions() as session:
        assert session.scalar(select(CaseEvent.id)) is None


def test_another_departments_case_is_404_on_every_case_route(clean_app: Flask, roads_case: tuple[int, str]) -> None:
    case_id, number = roads_case
    operator, supervisor = login(clean_app, ENV_OP), login(clean_app, ENV_SUP)
    case_routes = [(e, m, u) for e, m, u in _routes(clean_app) if "/cases/999999" in u]
    assert {e for e, _, _ in case_routes} >= {"console.case", "console.case_act", "console.case_supervise"}
    checked = 0
    for client, actions_of in ((operator, {"act": HANDLE}), (supervisor, {"supervise": SUPERVISE})):
        csrf = token(client, "/console/")
        urls = [f"/console/cases/{case_id}"]
        for kind, actions in actions_of.items():
            urls += [f"/console/cases/{case_id}/{kind}/{action}" for action in actions]
        for url in urls:
            if url.endswith(str(case_id)):
                resp = client.get(url)
            else:
                resp = client.post(url, data={"csrf_token": csrf, "department": "environment", "reason": "x",
                                              "days": "3", "hours": "2", "into": str(case_id), "number": number})
            assert resp.status_code == 404, f"{url} → {resp.status_code}"
            assert number not in resp.get_data(as_text=True)
            checked += 1
        # Nor in any list, search or export in their scope.
        for url in ("/console/cases", f"/console/cases?q={number}&view=all", "/console/cases?view=all",
                    "/console/cases/export?format=csv&view=all", "/console/"):
            resp = client.get(url)
            page = resp.get_data(as_text=True)
            assert resp.status_code in (200, 403), (url, resp.status_code)
            if resp.mimetype == "text/html":  # the search box and the export links echo the query itself
                assert f"/console/cases/{case_id}\"" not in page and f">{number}<" not in page, url
            else:
                assert number not in page, url
    assert checked >= len(HANDLE) + len(SUPERVISE)
    # Control: the same checks do see the case where it is in scope (a supervisor of no department).
    page = login(clean_app, ROLE_OF["supervisor"]).get("/console/cases?view=all").get_data(as_text=True)
    assert f"/console/cases/{case_id}\"" in page or f">{number}<" in page
    with services(clean_app).sessions() as session:
        case = session.get(Case, case_id)
        assert case is not None and case.owner_department == "urban_construction" and case.transfer_to is None
        assert session.scalar(select(CaseEvent.id).where(CaseEvent.case_id == case_id,
                                                         CaseEvent.actor.in_([ENV_OP, ENV_SUP]))) is None
