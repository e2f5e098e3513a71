"""The mobile web form (/h5, issue 20 item 2) through Flask's test client, on both backends.

A letter with photos becomes a case of channel "web" with the chat form's summary and its photos kept; the page
shows the number. A page posted twice files once; mistakes, a missing CSRF token, the rate limit, bad photos and
an oversized body each come back in Chinese with the letter kept (or, for the body, with what to do). Opened through
WeChat's 网页授权 (the fake API's codes), the letter joins the citizen's thread and the acknowledgement is queued
and delivered as a customer-service message.
"""
from __future__ import annotations

import io
import logging
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import jobs
from bot.extensions import services
from bot.media.storage import EXTENSION_KEY, DirectoryStorage
from bot.simulator import Simulator
from models import Attachment, Case, CaseType, Citizen, Direction, Message
from tests.conftest import AES_KEY, APP_ID, APP_SECRET, TOKEN, WeChat, count

LETTER = "小区东门的路灯坏了一个多月，晚上出入很黑，老人孩子容易摔倒"
PHONE = "13912345678"


def jpeg(width: int = 64, height: int = 48, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A small JPEG made with Pillow."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def media(clean_app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Photos go to a directory of the test's own, never the project's var/media."""
    root = tmp_path / "media"
    monkeypatch.setitem(clean_app.extensions, EXTENSION_KEY, DirectoryStorage(root))
    monkeypatch.setitem(clean_app.config, "MEDIA_PENDING_DIR", str(tmp_path / "media-pending"))
    return root


def form_page(client: FlaskClient, path: str = "/h5/") -> tuple[str, dict[str, str]]:
    """The form page and its hidden fields (CSRF and one-time token)."""
    resp = client.get(path)
    assert resp.status_code == 200, resp.status_code
    html = resp.get_data(as_text=True)
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))
    assert set(hidden) == {"csrf_token", "token"}
    return html, hidden


def letter(hidden: dict[str, str], photos: list[tuple[bytes, str]] | None = None, **fields: Any) -> dict[str, Any]:
    """A complete letter (a complaint with a call-back) over ``hidden``; ``fields`` override, None drops one."""
    data: dict[str, Any] = {**hidden, "kind": "complaint", "what": LETTER, "where": "幸福小区东门",
                            "when": "最近一个多月", "callback": "yes", "phone": "139 1234 5678"}  # fmt: skip
    data.update(fields)
    data = {k: v for k, v in data.items() if v is not None}
    data["photos"] = [(io.BytesIO(body), name) for body, name in photos or ()]
    return data


def post(client: FlaskClient, data: dict[str, Any], **kw: Any) -> tuple[int, str]:
    resp = client.post("/h5/", data=data, content_type="multipart/form-data", **kw)
    return resp.status_code, resp.get_data(as_text=True)


def case_number(html: str) -> str:
    found = re.search(r'<strong id="case-number">(\w+)</strong>', html)
    assert found, html
    return found.group(1)


def text_of(html: str) -> str:
    """The page's text, tags and blank runs dropped (to read messages that span elements)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# -- the page -------------------------------------------------------------------------------------------------


def test_the_form_is_a_chinese_mobile_page_with_the_numbers_and_the_notice_first(client: FlaskClient) -> None:
    resp = client.get("/h5/")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and 'lang="zh-CN"' in html and 'name="viewport"' in html
    head = html[: html.index("<form")]
    for number in ("110", "119", "120", "122"):
        assert f'href="tel:{number}"' in head
    assert "个人信息说明" in head and "3年后匿名化处理" in head
    for name in ("kind", "what", "where", "when", "callback", "phone", "photos"):
        assert f'name="{name}"' in html
    assert html.count('name="photos"') == 2 and 'accept="image/*" multiple' in html and "capture=" in html
    assert [m for m in re.findall(r'name="kind" value="(\w+)"( checked)?', html) if m[1]] == [("complaint", " checked")]
    assert all(f"<span>{label}</span>" in html for label in ("投诉", "求助", "咨询", "建议", "举报", "表扬"))
    assert 'enctype="multipart/form-data"' in html
    # Everything is served from here: no other origin, no inline script.
    assert not re.search(r'(src|href)="(https?:)?//', html) and "<script>" not in html
    policy = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    assert resp.headers["Cache-Control"] == "no-store"
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith("minsheng_h5=") and "Path=/h5" in cookie and "HttpOnly" in cookie
    assert "minsheng_console" not in cookie
    for asset in ("webform/webform.css", "webform/webform.js"):
        assert client.get(f"/static/{asset}").status_code == 200


def test_each_showing_of_the_form_has_its_own_token(client: FlaskClient) -> None:
    _, first = form_page(client)
    _, second = form_page(client)
    assert first["token"] != second["token"] and len(first["token"]) >= 20


# -- filing -----------------------------------------------------------------------------------------------------


def test_a_letter_with_photos_becomes_a_web_case_with_its_summary_and_photos(
    client: FlaskClient, db: Session, media: Path
) -> None:
    _, hidden = form_page(client)
    status, html = post(client, letter(hidden, [(jpeg(), "门口.jpg"), (jpeg(color=(10, 90, 200)), "路灯.png")]))
    assert status == 200, text_of(html)
    number = case_number(html)
    assert "留言已提交" in html and f"受理编号：{number}" in html and "承办部门" in html and "前答复" in html
    assert "已随留言上传照片2张" in html
    case = db.scalars(select(Case)).one()
    assert case.number == number and case.channel == "web" and case.case_type is CaseType.COMPLAINT
    assert case.summary.splitlines() == [
        f"问题描述：{LETTER}", "发生地点：幸福小区东门", "发生时间：最近一个多月", "是否回访：是",
        f"回访电话：{PHONE}", "附件：2张照片（见诉求附件）"]  # fmt: skip
    inbound = db.scalars(select(Message).where(Message.direction == Direction.IN)).one()
    assert inbound.channel == "web" and inbound.msg_type == "form" and LETTER in inbound.content
    citizen = db.get(Citizen, inbound.citizen_id)
    assert citizen is not None and citizen.openid.startswith("web:")
    photos = db.scalars(select(Attachment).order_by(Attachment.id)).all()
    assert [(p.channel, p.kind, p.status, p.message_id, p.case_id) for p in photos] == [
        ("web", "image", "stored", inbound.id, case.id)] * 2  # fmt: skip
    assert all(p.storage_key and (media / p.storage_key).exists() for p in photos)
    # Anonymous: nothing can be sent through WeChat, so nothing is queued.
    assert count(db, Message, Message.delivery_status == "queued") == 0


def test_a_question_needs_no_place_or_time_and_no_phone_without_a_call_back(client: FlaskClient, db: Session) -> None:
    _, hidden = form_page(client)
    status, html = post(client, letter(hidden, kind="inquiry", what="请问新生儿医保参保需要带哪些材料，在哪里办理？",
                                       where="", when="", callback="no", phone="13800000000"))  # fmt: skip
    assert status == 200, text_of(html)
    case = db.scalars(select(Case)).one()
    assert case.case_type is CaseType.INQUIRY and case.number == case_number(html)
    assert case.summary.splitlines() == ["问题描述：请问新生儿医保参保需要带哪些材料，在哪里办理？", "是否回访：否"]
    assert "13800000000" not in db.scalars(select(Message.content)).first()


def test_posting_the_same_page_twice_files_once(client: FlaskClient, db: Session, media: Path) -> None:
    _, hidden = form_page(client)
    first_status, first = post(client, letter(hidden, [(jpeg(), "a.jpg")]))
    again_status, again = post(client, letter(hidden, [(jpeg(), "a.jpg")]))
    assert first_status == again_status == 200
    assert case_number(first) == case_number(again) and "没有重复登记" in again
    assert count(db, Case) == 1 and count(db, Attachment) == 1
    assert count(db, Message, Message.direction == Direction.IN) == 1


def test_another_showing_of_the_form_files_another_letter(client: FlaskClient, db: Session) -> None:
    _, one = form_page(client)
    _, two = form_page(client)
    assert case_number(post(client, letter(one))[1]) != case_number(post(client, letter(two))[1])
    # Same browser, same citizen: the two letters are one thread.
    assert count(db, Citizen) == 1 and count(db, Case) == 2


def test_mistakes_come_back_by_field_with_the_letter_as_typed(client: FlaskClient, db: Session) -> None:
    _, hidden = form_page(client)
    typed = "路灯坏了好久"
    status, html = post(client, letter(hidden, what=typed, where="", when="一个月", phone="12345", kind="report"))
    assert status == 400
    assert 'id="error-summary"' in html and "请修改以下3处" in html
    assert "请至少用10个字说明问题（现有6个字）" in html and 'id="what-error"' in html
    assert "请填写发生地点" in html and 'id="where-error"' in html
    assert "请填写正确的电话号码" in html and 'id="phone-error"' in html
    # What was typed is back in the form, choices included, with the same one-time token.
    assert f">{typed}</textarea>" in html and 'value="一个月"' in html and 'value="12345"' in html
    assert 'name="kind" value="report" checked' in html and 'name="callback" value="yes" checked' in html
    assert f'name="token" value="{hidden["token"]}"' in html
    assert count(db, Case) == 0 and count(db, Message) == 0


def test_a_missing_choice_is_named(client: FlaskClient, db: Session) -> None:
    _, hidden = form_page(client)
    status, html = post(client, letter(hidden, callback=None))
    assert status == 400 and "请选择是否需要工作人员回访" in html and count(db, Case) == 0


def test_a_post_without_a_csrf_token_is_refused_and_the_letter_kept(client: FlaskClient, db: Session) -> None:
    _, hidden = form_page(client)
    status, html = post(client, letter({"token": hidden["token"]}))
    assert status == 400 and "安全校验未通过" in html and f">{LETTER}</textarea>" in html
    status, _ = post(client, letter({**hidden, "csrf_token": "forged"}))
    assert status == 400
    # From another browser (no cookie), the same page's token is refused too.
    status, _ = post(client.application.test_client(), letter(hidden))
    assert status == 400
    assert count(db, Case) == 0 and count(db, Message) == 0


def test_a_post_without_the_form_token_is_not_filed(client: FlaskClient, db: Session) -> None:
    _, hidden = form_page(client)
    status, html = post(client, letter({**hidden, "token": "x"}))
    assert status == 400 and "页面已过期" in html and f">{LETTER}</textarea>" in html and count(db, Case) == 0


def test_the_rate_limit_answers_429_in_chinese_and_keeps_the_letter(
    client: FlaskClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(client.application.config, "WEBFORM_RATE_PER_HOUR", 1)
    _, hidden = form_page(client)
    assert post(client, letter(hidden))[0] == 200
    _, hidden = form_page(client)
    status, html = post(client, letter(hidden, what="第二封留言：小区垃圾三天没有清运，味道很大"))
    assert status == 429 and "已达上限" in html and "12345" in html
    assert "第二封留言：小区垃圾三天没有清运，味道很大</textarea>" in html
    assert count(db, Case) == 1
    # Another address has its own count.
    status, _ = post(client, letter(hidden), environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert status == 200 and count(db, Case) == 2


def test_an_address_posting_far_too_often_is_stopped_before_its_body_is_read(
    client: FlaskClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(client.application.config, "WEBFORM_RATE_PER_HOUR", 1)
    _, hidden = form_page(client)
    statuses = [post(client, letter(hidden, what="太短"))[0] for _ in range(6)]
    assert statuses == [400] * 5 + [429]
    _, html = post(client, letter(hidden))
    assert "提交过于频繁" in html and "12345" in html and count(db, Case) == 0


def test_a_file_that_is_not_a_picture_is_refused_clearly(client: FlaskClient, db: Session, media: Path) -> None:
    _, hidden = form_page(client)
    status, html = post(client, letter(hidden, [(jpeg(), "好.jpg"), (b"%PDF-1.4 not a photo", "坏.jpg")]))
    assert status == 400
    assert "第2张（坏.jpg）：文件不是可识别的图片" in html and 'id="photos-error"' in html
    assert "2张照片需要重新选择" in html and f">{LETTER}</textarea>" in html
    assert count(db, Case) == 0 and count(db, Attachment) == 0


def test_a_cut_off_picture_is_refused_too(client: FlaskClient, db: Session) -> None:
    _, hidden = form_page(client)
    whole = jpeg(640, 480)
    status, html = post(client, letter(hidden, [(whole[: len(whole) // 2], "半张.jpg")]))
    assert status == 400 and "第1张（半张.jpg）" in html and count(db, Case) == 0


def test_too_many_or_too_large_photos_are_refused_with_the_letter_kept(client: FlaskClient, db: Session) -> None:
    _, hidden = form_page(client)
    status, html = post(client, letter(hidden, [(jpeg(), f"{i}.jpg") for i in range(7)]))
    assert status == 400 and "最多可上传6张照片（这次选了7张）" in html
    status, html = post(client, letter(hidden, [(b"\xff\xd8" + b"\0" * (10 * 1024 * 1024), "大.jpg")]))
    assert status == 400 and "第1张（大.jpg）超过10MB" in html and f">{LETTER}</textarea>" in html
    assert count(db, Case) == 0


def test_a_body_over_the_limit_gets_a_chinese_page_not_a_bare_413(client: FlaskClient, db: Session) -> None:
    _, hidden = form_page(client)
    big = b"\0" * (9 * 1024 * 1024)
    status, html = post(client, letter(hidden, [(big, f"{i}.jpg") for i in range(7)]))
    assert status == 413 and "照片太大，未能提交" in html and "返回上一页" in html and count(db, Case) == 0
    # Elsewhere the app's own 1 MiB limit still holds.
    assert client.post("/console/login", data={"x": "y" * (2 * 1024 * 1024)}).status_code == 413


def test_an_emergency_shows_the_number_to_call_first(client: FlaskClient, db: Session) -> None:
    _, hidden = form_page(client)
    fire = letter(hidden, what="楼道里着火了好多烟，有人被困在楼上", where="幸福小区3栋", when="现在")
    status, html = post(client, fire)
    assert status == 200
    reply = html[html.index('id="emergency-reply"') : html.index('id="case-number"')]
    assert "请立即拨打119" in reply and html.index("请立即拨打119") < html.index("受理编号")
    case = db.scalars(select(Case)).one()
    assert case.is_urgent and case.number == case_number(html) and case.channel == "web"


def test_a_bug_in_the_rules_still_stores_the_letter_and_its_photos(
    client: FlaskClient, db: Session, media: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(turn: Any) -> None:
        raise RuntimeError("a bug in the rules")

    monkeypatch.setattr(services(client.application).pipeline, "responder", broken)
    _, hidden = form_page(client)
    status, html = post(client, letter(hidden, [(jpeg(), "a.jpg")]))
    # The vetted safe fallback, no number; the letter and its photo are kept for a person to read.
    assert status == 200 and 'id="case-number"' not in html and 'id="reply"' in html
    assert count(db, Case) == 0 and count(db, Message, Message.direction == Direction.IN) == 1
    photo = db.scalars(select(Attachment)).one()
    assert photo.case_id is None and photo.status == "stored"


def test_a_failure_after_filing_still_shows_the_number_and_names_the_photos_lost(
    client: FlaskClient, db: Session, media: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    from bot.webform import submit

    def away(*args: Any) -> Any:
        raise OperationalError("INSERT", {}, Exception("connection lost"))

    monkeypatch.setattr(submit, "_keep_photos", away)
    _, hidden = form_page(client)
    status, html = post(client, letter(hidden, [(jpeg(), "a.jpg")]))
    # The case is committed: the citizen gets its number, and is told the photo was not kept.
    assert status == 200 and case_number(html) == db.scalars(select(Case)).one().number
    assert 'id="photos-lost"' in html and "暂时无法保存" in html


def test_nothing_a_citizen_wrote_reaches_the_log(
    client: FlaskClient, caplog: pytest.LogCaptureFixture, media: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    _, hidden = form_page(client)
    assert post(client, letter(hidden, [(jpeg(), "a.jpg")]))[0] == 200
    assert "filed as case" in caplog.text
    for private in (LETTER[:8], PHONE, "幸福小区", hidden["token"]):
        assert private not in caplog.text


# -- inside WeChat: 网页授权 ---------------------------------------------------------------------------------------


@pytest.fixture
def wechat_app(clean_app: Flask, fake_api: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """The app pointed at the fake WeChat API (网页授权 and customer-service messages)."""
    monkeypatch.setitem(clean_app.config, "WECHAT_API_BASE", fake_api.url)
    monkeypatch.setitem(clean_app.config, "WECHAT_APP_SECRET", APP_SECRET)
    monkeypatch.setitem(clean_app.config, "PUBLIC_BASE_URL", "https://minsheng.example.gov.cn")
    # Subscriptions on (the pipeline holds the consent page it offers, built from the configuration at start).
    monkeypatch.setattr(services(clean_app).pipeline, "notice_link", "https://minsheng.example.gov.cn/notice/subscribe")
    _empty_delivery_queue(clean_app)  # jobs another test queued (its answers) must not count here
    yield clean_app
    _empty_delivery_queue(clean_app)


def _empty_delivery_queue(app: Flask) -> None:
    svc = services(app)
    for key in svc.redis.scan_iter(f"rq:*{jobs.queue_name(app.config['REDIS_NAMESPACE'])}*", count=1000):
        svc.redis.delete(key)


def sign_in_with_wechat(client: FlaskClient, fake: Any, openid: str, code: str) -> None:
    """What WeChat does between the menu link and the form: authorize, then come back with a code."""
    resp = client.get("/h5/wechat")
    assert resp.status_code == 302
    target = urlsplit(resp.headers["Location"])
    query = {k: v[0] for k, v in parse_qs(target.query).items()}
    assert f"{target.scheme}://{target.netloc}{target.path}" == "https://open.weixin.qq.com/connect/oauth2/authorize"
    assert target.fragment == "wechat_redirect"
    assert query == {"appid": APP_ID, "redirect_uri": "https://minsheng.example.gov.cn/h5/", "response_type": "code",
                     "scope": "snsapi_base", "state": query["state"]}  # fmt: skip
    requests.post(f"{fake.url}/_fake/oauth", json={"code": code, "openid": openid}, timeout=5).raise_for_status()
    back = client.get(f"/h5/?code={code}&state={query['state']}")
    assert back.status_code == 302 and back.headers["Location"] == "/h5/"


def test_a_letter_from_inside_wechat_joins_the_thread_and_the_number_reaches_wechat(
    wechat_app: Flask, fake_api: Any, db: Session
) -> None:
    openid = "oWebForm" + uuid.uuid4().hex[:20]
    # The citizen has written to the account before.
    chat = WeChat(wechat_app.test_client(), Simulator(TOKEN, APP_ID, AES_KEY))
    assert chat.text("你好", openid=openid).status == 200
    client = wechat_app.test_client()
    sign_in_with_wechat(client, fake_api, openid, "code-" + uuid.uuid4().hex[:8])
    html, hidden = form_page(client)
    assert "已关联您的微信" in html
    status, html = post(client, letter(hidden))
    assert status == 200 and "已同时发送到本公众号的对话中" in html
    # The 订阅通知 is offered to a citizen WeChat identified, so the answer can reach them after 48 hours.
    assert 'href="https://minsheng.example.gov.cn/notice/subscribe"' in html
    number = case_number(html)
    citizen = db.scalars(select(Citizen).where(Citizen.openid == openid)).one()
    assert count(db, Citizen) == 1
    case = db.scalars(select(Case)).one()
    assert case.citizen_id == citizen.id and case.channel == "web" and case.number == number
    queued = db.scalars(select(Message).where(Message.delivery_status == "queued")).one()
    assert queued.citizen_id == citizen.id and queued.case_id == case.id and number in queued.content
    assert queued.responder == "bot" and queued.template_key == "complaint_ack_form"
    # The acknowledgement the page showed is the one queued: one outbound row, not a copy.
    assert count(db, Message, Message.direction == Direction.OUT, Message.in_reply_to_id == queued.in_reply_to_id) == 1
    assert jobs.delivery_queue(wechat_app).count == 1
    # The delivery job (run here as a worker would) sends it to the fake.
    with wechat_app.app_context():
        assert jobs.deliver(queued.id) == "sent"
    sent = fake_api.sent()
    assert [m["touser"] for m in sent] == [openid] and number in sent[0]["content"]
    db.expire_all()
    assert db.get(Message, queued.id).delivery_status == "sent"  # type: ignore[union-attr]


def test_a_failed_code_exchange_files_the_letter_without_an_openid(
    wechat_app: Flask, fake_api: Any, db: Session
) -> None:
    client = wechat_app.test_client()
    resp = client.get("/h5/wechat")
    state = parse_qs(urlsplit(resp.headers["Location"]).query)["state"][0]
    assert client.get(f"/h5/?code=never-issued&state={state}").status_code == 302
    html, hidden = form_page(client)
    assert "未能确认您的微信身份" in html
    status, html = post(client, letter(hidden))
    assert status == 200 and case_number(html) and "已同时发送" not in html
    assert db.scalars(select(Citizen.openid)).one().startswith("web:")
    assert count(db, Message, Message.delivery_status == "queued") == 0


def test_a_code_without_this_browsers_state_is_not_used(wechat_app: Flask, fake_api: Any, db: Session) -> None:
    victim = wechat_app.test_client()
    victim.get("/h5/wechat")
    code = "planted-" + uuid.uuid4().hex[:8]
    requests.post(f"{fake_api.url}/_fake/oauth", json={"code": code, "openid": "oSomeoneElse123456"},
                  timeout=5).raise_for_status()  # fmt: skip
    assert victim.get(f"/h5/?code={code}&state=guessed").status_code == 302
    html, hidden = form_page(victim)
    assert "已关联您的微信" not in html
    assert post(victim, letter(hidden))[0] == 200
    assert db.scalars(select(Citizen.openid)).one().startswith("web:")
