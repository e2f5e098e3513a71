"""Sign-in lockout: a stranger's wrong passwords cannot lock the real user out; an admin lifts a lockout; audited."""
from __future__ import annotations

import uuid

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from bot.console.auth import create_user
from bot.extensions import services
from models import AuditEntry, User
from tests.conftest import count
from tests.test_console import PASSWORD, login, token


def _client(app: Flask, address: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _attempt(client: FlaskClient, username: str, password: str) -> int:
    data = {"username": username, "password": password, "csrf_token": token(client)}
    return client.post("/console/login", data=data).status_code


def _account(app: Flask, roles: list[str]) -> str:
    name = f"t_lock_{uuid.uuid4().hex[:6]}"
    with services(app).sessions() as session:
        create_user(session, name, PASSWORD, roles, by="tests")
        session.commit()
    return name


def test_a_stranger_cannot_lock_the_real_user_out(clean_app: Flask) -> None:
    admin = _account(clean_app, ["admin"])
    stranger = _client(clean_app, "203.0.113.66")
    assert [_attempt(stranger, admin, "wrong-password!") for _ in range(6)] == [401] * 5 + [429]
    # Even the right password is refused from the stranger's address for now...
    assert _attempt(stranger, admin, PASSWORD) == 429
    # ...while the admin, at their own desk, signs in at once.
    assert _attempt(_client(clean_app, "198.51.100.7"), admin, PASSWORD) == 302
    with services(clean_app).sessions() as session:
        assert count(session, AuditEntry, AuditEntry.action == "login.locked", AuditEntry.target == admin) == 1
        assert count(session, AuditEntry, AuditEntry.action == "login.blocked", AuditEntry.target == admin) == 2
        locked = session.scalars(select(AuditEntry).where(AuditEntry.action == "login.locked",
                                                          AuditEntry.target == admin)).one()
        assert locked.source == "203.0.113.66" and "锁定" in locked.detail


def test_one_address_guessing_many_accounts_is_stopped(clean_app: Flask) -> None:
    names = [_account(clean_app, ["operator"]) for _ in range(5)]
    robot = _client(clean_app, "203.0.113.99")
    codes = [_attempt(robot, name, "wrong-password!") for name in names for _ in range(4)]
    assert codes == [401] * 20
    assert _attempt(robot, names[0], PASSWORD) == 429  # the address is out, whatever account it tries
    assert _attempt(_client(clean_app, "198.51.100.8"), names[0], PASSWORD) == 302
    with services(clean_app).sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "login.locked",
                                                         AuditEntry.source == "203.0.113.99")).one()
        assert "此地址" in entry.detail


def test_an_admin_sees_and_lifts_a_lockout(clean_app: Flask) -> None:
    user = _account(clean_app, ["operator"])
    admin = login(clean_app, _account(clean_app, ["admin"]))
    typo = _client(clean_app, "192.0.2.10")  # the user themself, with caps lock on
    for _ in range(5):
        _attempt(typo, user, "WRONG-PASSWORD")
    assert _attempt(typo, user, PASSWORD) == 429
    page = admin.get("/console/users").get_data(as_text=True)
    assert "登录已锁定（1个地址）" in page
    with services(clean_app).sessions() as session:
        user_id = session.scalar(select(User.id).where(User.username == user))
    # Only an admin may lift it: an operator's request is refused on the server.
    operator = login(clean_app, _account(clean_app, ["operator"]))
    refused = operator.post(f"/console/users/{user_id}",
                            data={"action": "unlock", "csrf_token": token(operator, "/console/")})
    assert refused.status_code == 403
    assert _attempt(typo, user, PASSWORD) == 429
    resp = admin.post(f"/console/users/{user_id}", data={"action": "unlock", "csrf_token": token(admin, "/console/")})
    assert resp.status_code == 302
    assert _attempt(typo, user, PASSWORD) == 302
    assert "登录已锁定" not in admin.get("/console/users").get_data(as_text=True)
    with services(clean_app).sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "login.unlock",
                                                         AuditEntry.target == user)).one()
        assert "1个地址" in entry.detail
