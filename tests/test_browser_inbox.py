"""The inbox in headless Chromium against a real ``serve`` (issue 18, item 3), each step as the role that does it.

Citizens write through /wechat (bot.simulator, encrypted as WeChat does). An operator sees one row a thread with
unread counts, opens a thread (its count clears), takes it and marks it handled; the citizen writes again and the
thread is back, open, with one unread message. A supervisor filters by emergency and by overdue. Last, the inbox
on a 390 px-wide phone. Screenshots land in tests/artifacts/browser-inbox-<backend>/.

SQLite only: one backend's walk costs 35–40 s here (server start, two accounts, the walk, shutdown), both together
60–80 s, over the 60 s it may add to the suite; nothing on these pages depends on the database, and every query
behind them runs on both backends in tests/test_inbox.py.
"""
from __future__ import annotations

import datetime as dt
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from bot.simulator import Simulator
from models import Case, CaseStatus, CaseType, Message, utcnow
from tests.conftest import AES_KEY, APP_ID, TOKEN, Backend
from tests.test_browser import ARTIFACTS, CHROMIUM, PASSWORD, console_server
from tests.test_live import Live


@pytest.fixture
def inbox_server(backend: Backend, tmp_path: Path) -> Iterator[Live]:
    """A ``serve`` with an operator and a supervisor (SQLite only: see the module's docstring)."""
    if backend.name != "sqlite":
        pytest.skip("the pages do not depend on the database; tests/test_inbox.py runs their queries on both")
    with console_server(backend, tmp_path, {"wang": ["operator"], "zhao": ["supervisor"]}) as server:
        yield server


def _file_overdue_case(server: Live, citizen_id: int) -> None:
    """The lamp complaint as a case 16 days old and past its deadline (test_browser_cases walks the real intake)."""
    with Session(server.engine) as session:
        first = session.scalar(select(Message).where(Message.citizen_id == citizen_id).order_by(Message.id))
        assert first is not None
        opened = utcnow() - dt.timedelta(days=16)
        session.add(Case(number=f"T{first.id:010d}", case_type=CaseType.COMPLAINT, status=CaseStatus.ACCEPTED,
                         department="urban_construction", owner_department="urban_construction",
                         citizen_id=citizen_id, opening_message_id=first.id, summary=first.content,
                         opened_at=opened, due_at=opened + dt.timedelta(days=15), sla_amount=15,
                         sla_unit="working_days"))
        session.commit()


def test_an_operator_works_the_inbox_and_a_supervisor_filters_it(inbox_server: Live, backend: Backend) -> None:
    from playwright.sync_api import expect, sync_playwright

    shots = ARTIFACTS / f"browser-inbox-{backend.name}"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    base = inbox_server.url
    sim = Simulator(TOKEN, APP_ID, AES_KEY, inbox_server.wechat_url)
    lamp, fire = "oBrowserLamp" + uuid.uuid4().hex[:16], "oBrowserFire" + uuid.uuid4().hex[:16]

    def say(openid: str, words: str) -> None:
        assert sim.send_text(words, openid=openid, encrypt=True).status == 200

    def citizen_id(openid: str) -> int:
        with inbox_server.engine.connect() as conn:
            return int(conn.execute(text("SELECT id FROM citizens WHERE openid = :o"), {"o": openid}).scalar_one())

    say(lamp, "小区门口路灯坏了三天了，晚上很黑，电话13812345678")
    say(lamp, "在吗？麻烦尽快修一下")
    say(fire, "救命！楼道里着火了好多烟")
    lamp_id, fire_id = citizen_id(lamp), citizen_id(fire)

    def sign_in(page: Any, name: str) -> None:
        page.goto(f"{base}/console/login")
        page.fill("input[name=username]", name)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        expect(page.locator(".who")).to_contain_text(name)

    def row(page: Any, cid: int) -> Any:
        return page.locator(f"#conversations tr[data-citizen='{cid}']")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            # 1. The operator's inbox: one row a thread, newest first, unread counts, nothing assigned yet.
            op = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            sign_in(op, "wang")
            op.click("header nav >> text=会话")
            expect(op.locator("#conversations tbody tr")).to_have_count(2)
            expect(op.locator("#conversations tbody tr").first).to_have_attribute("data-citizen", str(fire_id))
            expect(row(op, lamp_id).locator(".unread-count")).to_have_text("2")
            expect(row(op, lamp_id)).to_contain_text("未分配")
            expect(row(op, lamp_id)).to_contain_text("待处理")
            expect(row(op, fire_id).locator(".marks")).to_contain_text("紧急")
            expect(op.locator("body")).not_to_contain_text("13812345678")
            op.screenshot(path=str(shots / "1-inbox-unread.png"), full_page=True)

            # 2. Opening the thread reads it: the new messages are marked there, and the count clears.
            row(op, lamp_id).locator("a.who").click()
            expect(op.locator("h1")).to_contain_text("群众")
            expect(op.locator(".msg.in .badge.new")).to_have_count(2)
            expect(op.locator("#thread-status")).to_have_text("待处理")
            op.screenshot(path=str(shots / "2-thread-opened.png"), full_page=True)
            op.click("text=← 返回会话列表")
            expect(row(op, lamp_id).locator(".unread-count")).to_have_text("—")
            expect(row(op, fire_id).locator(".unread-count")).to_have_text("1")

            # 3. She takes the thread and marks it handled; it leaves the open inbox and shows under 我的 as handled.
            row(op, lamp_id).locator("a.who").click()
            op.click("#assign-me")
            expect(op.locator("p[role=status].flash")).to_contain_text("已分配给我")
            expect(op.locator("#thread-assignee")).to_have_text("wang")
            op.click("#mark-closed")
            expect(op.locator("#thread-status")).to_have_text("已处理")
            op.screenshot(path=str(shots / "3-assigned-and-handled.png"), full_page=True)
            op.goto(f"{base}/console/conversations")
            expect(row(op, lamp_id)).to_have_count(0)
            op.goto(f"{base}/console/conversations?assignee=me&status=closed")
            expect(row(op, lamp_id)).to_contain_text("已处理")

            # 4. The citizen writes again: the thread is open again, still hers, one unread message.
            say(lamp, "路灯还是不亮，请再派人看看")
            op.click(".tabs >> text=我的")
            op.select_option("select[name=status]", "open")
            op.click("#inbox-filters button[type=submit]")
            expect(row(op, lamp_id)).to_contain_text("待处理")
            expect(row(op, lamp_id).locator(".unread-count")).to_have_text("1")
            expect(row(op, lamp_id).locator(".assignee")).to_have_text("wang")
            expect(op.locator(".tabs a.current")).to_contain_text("我的（1）")
            op.screenshot(path=str(shots / "4-reopened-by-a-new-message.png"), full_page=True)

            # 5. A supervisor looks for emergencies, then for overdue cases (the lamp case, filed here, is late).
            _file_overdue_case(inbox_server, lamp_id)
            sup = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            sign_in(sup, "zhao")
            sup.goto(f"{base}/console/conversations")
            sup.check("input[name=emergency]")
            sup.click("#inbox-filters button[type=submit]")
            expect(sup.locator("#conversations tbody tr")).to_have_count(1)
            expect(row(sup, fire_id)).to_contain_text("紧急")
            sup.screenshot(path=str(shots / "5-supervisor-emergency.png"), full_page=True)
            sup.uncheck("input[name=emergency]")
            sup.check("input[name=overdue]")
            sup.click("#inbox-filters button[type=submit]")
            expect(sup.locator("#conversations tbody tr")).to_have_count(1)
            expect(row(sup, lamp_id).locator(".marks")).to_contain_text("超期")
            sup.screenshot(path=str(shots / "6-supervisor-overdue.png"), full_page=True)

            # 6. The same inbox on a phone.
            phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2).new_page()
            sign_in(phone, "wang")
            phone.goto(f"{base}/console/conversations")
            expect(row(phone, lamp_id)).to_be_visible()
            width = phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"the inbox is {width} px wide on a 390 px screen"
            phone.screenshot(path=str(shots / "7-phone-390.png"), full_page=True)
        finally:
            browser.close()
    assert sorted(p.name for p in shots.iterdir()) == [
        "1-inbox-unread.png", "2-thread-opened.png", "3-assigned-and-handled.png", "4-reopened-by-a-new-message.png",
        "5-supervisor-emergency.png", "6-supervisor-overdue.png", "7-phone-390.png"]
