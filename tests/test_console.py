"""The console through Flask's test client: who may open what, CSRF, throttling, masking, audit.

The permission matrix walks every console route the app has (a new route without a declared
permission fails here) for every role, on both backends.
"""
from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from bot.console.auth import PERMISSIONS, create_user
from bot.extensions import services
from models import AuditEntry, Citizen, Direction, Message, ReplyTemplate, TemplateStatus, TemplateVersion, User
from replies import workflow
from tests.conftest import WeChat, count
from text.pii import mask_openid

PASSWORD = "correct-horse-battery"
ROLE_USERS = {"operator": "t_op", "reviewer": "t_rev", "supervisor": "t_sup", "admin": "t_adm"}
PROBE = "matrix_probe"  # a template whose only version is a draft by someone else: every action is harmless
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="session")
def accounts(app: Flask) -> dict[str, str]:
    """One account per role, plus one holding operator and reviewer, and the probe template."""
    with services(app).sessions() as session:
        wanted = {**{name: [role] for role, name in ROLE_USERS.items()}, "t_both": ["operator", "reviewer"]}
        for name, roles in wanted.items():
            if session.scalar(select(User.id).where(User.username == name)) is None:
                create_user(session, name, PASSWORD, roles, by="tests")
        if session.scalar(select(ReplyTemplate.id).where(ReplyTemplate.key == PROBE)) is None:
            someone = workflow.Actor("someone-else")
            workflow.create_template(session, someone, PROBE, "faq", description="permission matrix probe")
            workflow.draft(session, someone, PROBE, "办事指南请以官方发布为准，可拨打12345咨询。")
        session.commit()
    return ROLE_USERS


def token(client: FlaskClient, path: str = "/console/login") -> str:
    """A CSRF token from a console page (the session keeps it)."""
    match = _TOKEN.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(app: Flask, username: str, password: str = PASSWORD) -> FlaskClient:
    """A test client signed in as ``username``."""
    client = app.test_client()
    resp = client.post("/console/login", data={"username": username, "password": password,
                                               "csrf_token": token(client)})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    return client


@pytest.fixture
def as_role(clean_app: Flask, accounts: dict[str, str]) -> Any:
    """``as_role("reviewer")`` → a client signed in with that role."""
    def make(role: str) -> FlaskClient:
        return login(clean_app, accounts.get(role, role))
    return make


# -- the permission matrix ----------------------------------------------------------------------------


def _routes(app: Flask) -> list[tuple[str, str, str]]:
    """(endpoint, method, url) for every console route, with arguments pointing at harmless targets."""
    with services(app).sessions() as session:
        citizen = session.scalar(select(Citizen.id).order_by(Citizen.id))
        user = session.scalar(select(User.id).where(User.username == "t_op"))
    # A case id nobody has: every case step is then harmless (404 where allowed, 403 where not).
    values = {"key": PROBE, "number": 1, "citizen_id": citizen or 999999, "user_id": user, "case_id": 999999,
              "action": "start", "campaign_id": 999999, "theme_id": 999999, "incident_id": 999999}
    out = []
    with app.test_request_context():
        from flask import url_for

        for rule in app.url_map.iter_rules():
            if not rule.endpoint.startswith("console.") or rule.endpoint in ("console.login", "console.logout"):
                continue
            url = url_for(rule.endpoint, **{a: values[a] for a in rule.arguments})
            for method in sorted((rule.methods or set()) & {"GET", "POST"}):
                out.append((rule.endpoint, method, url))
    return out


def test_every_console_route_declares_a_permission(app: Flask) -> None:
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("console.") and rule.endpoint not in ("console.login", "console.static"):
            view = app.view_functions[rule.endpoint]
            assert getattr(view, "permission", None) in PERMISSIONS, rule.endpoint


@pytest.mark.parametrize("role", ["operator", "reviewer", "supervisor", "admin"])
def test_permission_matrix(clean_app: Flask, wechat: WeChat, as_role: Any, role: str) -> None:
    wechat.text("测试消息：小区路灯不亮", openid="oMatrixCitizen00000000000001")  # a thread to open
    client = as_role(role)
    csrf = token(client, "/console/")
    checked = 0
    for endpoint, method, url in _routes(clean_app):
        view = clean_app.view_functions[endpoint]
        allowed = role in PERMISSIONS[view.permission]
        if method == "GET":
            resp = client.get(url)
        else:
            resp = client.post(url, data={"csrf_token": csrf}, headers={"X-CSRFToken": csrf})
        if allowed:
            assert resp.status_code not in (401, 403), f"{role} refused {method} {url}"
            assert resp.status_code < 500, f"{role} {method} {url} → {resp.status_code}"
        else:
            assert resp.status_code == 403, f"{role} got {resp.status_code} for {method} {url}"
        checked += 1
    assert checked >= 25
    # The probe's draft was touched by nobody: every action on it was refused or invalid.
    with services(clean_app).sessions() as session:
        probe = session.scalar(select(ReplyTemplate).where(ReplyTemplate.key == PROBE))
        assert probe is not None and [v.status for v in probe.versions] == [TemplateStatus.DRAFT]
        assert probe.is_enabled and workflow.automatic_replies_enabled(session)


def test_signed_out_visitors_are_sent_to_sign_in(clean_app: Flask, accounts: dict[str, str]) -> None:
    client = clean_app.test_client()
    for _endpoint, method, url in _routes(clean_app):
        if method == "GET":
            resp = client.get(url)
            assert resp.status_code == 302 and "/console/login" in resp.headers["Location"], url
        else:
            resp = client.post(url, data={"csrf_token": token(client)})
            assert resp.status_code == 401, url


# -- CSRF, sign-in, sessions ------------------------------------------------------------------------


def test_a_form_without_its_csrf_token_is_refused(clean_app: Flask, as_role: Any) -> None:
    client = as_role("supervisor")
    resp = client.post("/console/library/switch", data={"enabled": "0", "reason": "伪造的请求"})
    assert resp.status_code == 400
    assert "安全令牌" in resp.get_data(as_text=True)
    with services(clean_app).sessions() as session:
        assert workflow.automatic_replies_enabled(session)


def test_failed_sign_ins_are_throttled_and_audited(clean_app: Flask, accounts: dict[str, str]) -> None:
    name = f"t_throttle_{uuid.uuid4().hex[:6]}"
    with services(clean_app).sessions() as session:
        create_user(session, name, PASSWORD, ["operator"], by="tests")
        session.commit()
    client = clean_app.test_client()
    for _ in range(5):
        resp = client.post("/console/login", data={"username": name, "password": "wrong-password!",
                                                   "csrf_token": token(client)})
        assert resp.status_code == 401 and "用户名或密码错误" in resp.get_data(as_text=True)
    resp = client.post("/console/login", data={"username": name, "password": PASSWORD, "csrf_token": token(client)})
    assert resp.status_code == 429 and "15分钟" in resp.get_data(as_text=True)
    with services(clean_app).sessions() as session:
        assert count(session, AuditEntry, AuditEntry.action == "login.failed", AuditEntry.target == name) == 5
        assert count(session, AuditEntry, AuditEntry.action == "login.locked", AuditEntry.target == name) == 1


def test_sign_in_is_audited_and_the_session_cookie_is_locked_down(clean_app: Flask, accounts: dict[str, str]) -> None:
    client = clean_app.test_client()
    resp = client.post("/console/login", data={"username": "t_rev", "password": PASSWORD,
                                               "csrf_token": token(client)})
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/console" in cookie
    page = client.get("/console/")
    assert page.status_code == 200
    assert page.headers["X-Frame-Options"] == "DENY" and "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"
    with services(clean_app).sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "login", AuditEntry.actor == "t_rev")
                                .order_by(AuditEntry.id.desc())).first()
        assert entry is not None and entry.source == "127.0.0.1"


def test_sign_in_never_redirects_off_the_console(clean_app: Flask, accounts: dict[str, str]) -> None:
    client = clean_app.test_client()
    resp = client.post("/console/login", data={"username": "t_op", "password": PASSWORD, "next": "//evil.example/x",
                                               "csrf_token": token(client)})
    assert resp.headers["Location"] == "/console/"


def test_logout_ends_the_session_on_the_server(clean_app: Flask, as_role: Any) -> None:
    client = as_role("operator")
    cookie = client.get_cookie("minsheng_console", path="/console")
    assert cookie is not None
    client.post("/console/logout", data={"csrf_token": token(client, "/console/")})
    # Replaying the old cookie does not get back in.
    replay = clean_app.test_client()
    replay.set_cookie("minsheng_console", cookie.value, path="/console")
    assert replay.get("/console/").status_code == 302


def test_deactivating_a_user_ends_their_sessions_at_once(clean_app: Flask, as_role: Any) -> None:
    name = f"t_leaver_{uuid.uuid4().hex[:6]}"
    with services(clean_app).sessions() as session:
        user = create_user(session, name, PASSWORD, ["operator"], by="tests")
        session.commit()
        user_id = user.id
    leaver = login(clean_app, name)
    assert leaver.get("/console/library").status_code == 200
    admin = as_role("admin")
    resp = admin.post(f"/console/users/{user_id}",
                      data={"action": "deactivate", "csrf_token": token(admin, "/console/")})
    assert resp.status_code == 302
    assert leaver.get("/console/library").status_code == 302
    bad = clean_app.test_client()
    again = bad.post("/console/login", data={"username": name, "password": PASSWORD, "csrf_token": token(bad)})
    assert again.status_code == 401


# -- the library through the pages --------------------------------------------------------------------


def _new_template(client: FlaskClient, body: str) -> str:
    key = f"t_page_{uuid.uuid4().hex[:8]}"
    resp = client.post("/console/library/new", data={
        "key": key, "title": "页面测试模板", "purpose": "faq", "description": "测试", "body": body, "submit_now": "1",
        "csrf_token": token(client, "/console/library/new"),
    })
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    return key


def test_an_author_who_is_also_a_reviewer_cannot_approve_through_the_page(clean_app: Flask, as_role: Any) -> None:
    both = as_role("t_both")
    key = _new_template(both, "居住证办理请携带身份证件到户籍窗口办理，详情可拨打12345咨询。")
    page = both.get(f"/console/library/{key}/v/1").get_data(as_text=True)
    assert "须由其他审核员审核" in page
    resp = both.post(f"/console/library/{key}/v/1/approve", data={"csrf_token": token(both, "/console/")},
                     follow_redirects=True)
    assert "不能审核自己撰写的版本" in resp.get_data(as_text=True)
    with services(clean_app).sessions() as session:
        assert workflow.version(session, key, 1).status is TemplateStatus.IN_REVIEW


def test_the_editor_reports_findings_as_you_type(clean_app: Flask, as_role: Any) -> None:
    client = as_role("operator")
    csrf = token(client, "/console/library/new")
    resp = client.post("/console/library/check", json={"body": "我们会尽快处理，请联系13812345678。"},
                       headers={"X-CSRFToken": csrf})
    data = resp.get_json()
    rules = {f["rule"] for f in data["findings"]}
    assert {"vague_promise", "personal_data"} <= rules
    assert data["preview"].startswith("我们会尽快处理")
    assert client.post("/console/library/check", json={"body": "x"}).status_code == 400  # no CSRF header


def test_reviewer_approves_and_publishes_and_citizens_get_the_new_version(
    clean_app: Flask, as_role: Any, wechat: WeChat
) -> None:
    op, rev = as_role("operator"), as_role("reviewer")
    key = _new_template(op, "公积金提取可通过住房公积金管理中心官方渠道办理，详情可拨打12345咨询。")
    resp = rev.post(f"/console/library/{key}/v/1/approve",
                    data={"comment": "准确", "csrf_token": token(rev, "/console/")})
    assert resp.status_code == 302
    resp = rev.post(f"/console/library/{key}/v/1/publish", data={"csrf_token": token(rev, "/console/")})
    assert resp.status_code == 302
    page = rev.get(f"/console/library/{key}/v/1").get_data(as_text=True)
    assert "已发布" in page and "公积金提取" in page
    with services(clean_app).sessions() as session:
        ver = workflow.version(session, key, 1)
        assert ver.status is TemplateStatus.PUBLISHED and ver.approved_by == "t_rev" and ver.published_by == "t_rev"
        actions = set(session.scalars(select(AuditEntry.action).where(AuditEntry.target == f"{key}@1")))
        assert {"template.submit", "template.approve", "template.publish"} <= actions
        # Undo: the shared library should not keep this FAQ for other tests.
        workflow.retire(session, workflow.Actor("t_rev"), ver)
        session.commit()


def test_the_kill_switch_page_stops_automatic_replies(clean_app: Flask, as_role: Any, wechat: WeChat) -> None:
    sup = as_role("supervisor")
    try:
        resp = sup.post("/console/library/switch", data={"enabled": "0", "reason": "接口维护",
                                                         "csrf_token": token(sup, "/console/library")})
        assert resp.status_code == 302
        assert "已关闭" in sup.get("/console/library").get_data(as_text=True)
        with services(clean_app).sessions() as session:
            fallback = session.scalars(select(TemplateVersion.body).join(ReplyTemplate).where(
                ReplyTemplate.key == "safe_fallback", TemplateVersion.status == TemplateStatus.PUBLISHED)).one()
        assert wechat.text("你好", openid="oKillSwitchPage00000000000001").reply == fallback
    finally:
        sup.post("/console/library/switch", data={"enabled": "1", "reason": "恢复",
                                                  "csrf_token": token(sup, "/console/library")})


# -- conversations ---------------------------------------------------------------------------------


def test_personal_data_is_masked_on_every_page_until_a_supervisor_unmasks_with_a_reason(
    clean_app: Flask, as_role: Any, wechat: WeChat
) -> None:
    wechat.text("我家楼下垃圾三天没人清运，我的电话13812345678", openid="oMaskedCitizen000000000000001")
    with services(clean_app).sessions() as session:
        citizen_id = session.scalar(select(Citizen.id).where(Citizen.openid == "oMaskedCitizen000000000000001"))
    sup = as_role("supervisor")
    for path in ("/console/conversations", f"/console/conversations/{citizen_id}",
                 "/console/conversations?q=%E5%9E%83%E5%9C%BE"):
        page = sup.get(path).get_data(as_text=True)
        assert "13812345678" not in page and "oMaskedCitizen000000000000001" not in page, path
        # The inbox row shows the thread's latest message (here the bot's reply) unless searching: then the match.
        assert "138****5678" in page or path == "/console/conversations", path
    op = as_role("operator")
    assert op.post(f"/console/conversations/{citizen_id}/unmask",
                   data={"reason": "核实回访电话", "csrf_token": token(op, "/console/")}).status_code == 403
    no_reason = sup.post(f"/console/conversations/{citizen_id}/unmask",
                         data={"reason": "", "csrf_token": token(sup, "/console/")})
    assert no_reason.status_code == 302
    shown = sup.post(f"/console/conversations/{citizen_id}/unmask",
                     data={"reason": "核实回访电话", "csrf_token": token(sup, "/console/")})
    assert shown.status_code == 200 and "13812345678" in shown.get_data(as_text=True)
    assert "13812345678" not in sup.get(f"/console/conversations/{citizen_id}").get_data(as_text=True)
    with services(clean_app).sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "unmask")
                                .order_by(AuditEntry.id.desc())).first()
        assert entry is not None and entry.actor == "t_sup" and entry.detail == "核实回访电话"


def test_a_thread_shows_each_replys_template_version_and_each_messages_classification(
    clean_app: Flask, as_role: Any, wechat: WeChat
) -> None:
    wechat.text("请问社保断缴了怎么补缴", openid="oThreadCitizen0000000000001")
    with services(clean_app).sessions() as session:
        citizen = session.scalar(select(Citizen).where(Citizen.openid == "oThreadCitizen0000000000001"))
        assert citizen is not None
        inbound = session.scalars(select(Message).where(Message.citizen_id == citizen.id,
                                                        Message.direction == Direction.IN)).one()
        outbound = session.scalars(select(Message).where(Message.citizen_id == citizen.id,
                                                         Message.direction == Direction.OUT)).one()
    assert inbound.intent is not None and inbound.confidence_intent is not None
    page = as_role("supervisor").get(f"/console/conversations/{citizen.id}").get_data(as_text=True)
    assert f"{outbound.template_key}@{outbound.template_version}" in page
    assert "分类：" in page and f"{inbound.confidence_intent:.2f}" in page
    listing = as_role("operator").get(f"/console/conversations?intent={inbound.intent}").get_data(as_text=True)
    assert mask_openid("oThreadCitizen0000000000001") in listing


def test_supervisors_flag_conversations_and_find_them_again(clean_app: Flask, as_role: Any, wechat: WeChat) -> None:
    wechat.text("你好", openid="oFlaggedCitizen000000000001")
    with services(clean_app).sessions() as session:
        citizen_id = session.scalar(select(Citizen.id).where(Citizen.openid == "oFlaggedCitizen000000000001"))
    sup = as_role("supervisor")
    resp = sup.post(f"/console/conversations/{citizen_id}/flag",
                    data={"kind": "wrong_reply", "note": "答非所问", "csrf_token": token(sup, "/console/")})
    assert resp.status_code == 302
    assert "答非所问" in sup.get(f"/console/conversations/{citizen_id}").get_data(as_text=True)
    flagged = sup.get("/console/conversations?flagged=1").get_data(as_text=True)
    assert mask_openid("oFlaggedCitizen000000000001") in flagged
    sample = sup.get("/console/qa/sample").get_data(as_text=True)
    assert mask_openid("oFlaggedCitizen000000000001") not in sample  # already checked: not sampled again


def test_try_it_talks_to_the_live_pipeline(clean_app: Flask, as_role: Any) -> None:
    op = as_role("operator")
    resp = op.post("/console/try", data={"text": "请问办公时间是几点", "csrf_token": token(op, "/console/try")})
    assert resp.status_code == 302
    page = op.get("/console/try").get_data(as_text=True)
    assert "请问办公时间是几点" in page
    with services(clean_app).sessions() as session:
        reply = session.scalars(select(Message).join(Citizen).where(
            Citizen.openid.startswith("oTRY"), Message.direction == Direction.OUT)).first()
        assert reply is not None and reply.content in page.replace("&#34;", '"').replace("&#39;", "'")
        title = session.scalar(select(ReplyTemplate.title).where(ReplyTemplate.key == reply.template_key))
        # Which template answered, by its Chinese title (the key is for developers).
        assert title and f"模板「{title}」第{reply.template_version}版" in page


def test_audit_page_filters_by_action(clean_app: Flask, as_role: Any) -> None:
    adm = as_role("admin")
    rows = adm.get("/console/audit?action=login").get_data(as_text=True).split('id="audit"')[1]
    assert "t_adm" in rows and "<td>登录</td>" in rows
    # Only the login family: no publish event, and no action shown by its code.
    assert "<td>发布</td>" not in rows and "login" not in rows.replace("t_adm", "")
    everything = adm.get("/console/audit").get_data(as_text=True).split('id="audit"')[1]
    assert "<td>创建账号</td>" in everything and "user.create" not in everything


def test_create_user_from_the_shell_reads_the_password_from_stdin(backend: Any, tmp_path: Any) -> None:
    import subprocess

    from tests.test_cli import PYTHON, ROOT

    env = backend.env(DATABASE_URL=f"sqlite:///{tmp_path / 'users.db'}", EMBEDDED_REDIS_DB=str(tmp_path / "r.db"))
    assert subprocess.run([PYTHON, "-m", "bot", "init-db"], env=env, cwd=ROOT, capture_output=True).returncode == 0
    ok = subprocess.run([PYTHON, "-m", "bot", "create-user", "--username", "wang", "--role", "operator", "--role",
                         "reviewer"], input="a-long-password\n", env=env, cwd=ROOT, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    short = subprocess.run([PYTHON, "-m", "bot", "create-user", "--username", "li", "--role", "admin"],
                           input="short\n", env=env, cwd=ROOT, capture_output=True, text=True)
    assert short.returncode == 1 and "至少10位" in short.stderr
    first = subprocess.run([PYTHON, "-m", "bot", "ensure-admin"], env=env, cwd=ROOT, capture_output=True, text=True)
    assert first.returncode == 0 and first.stdout == ""  # accounts exist already: nothing created
