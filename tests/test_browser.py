"""End to end in headless Chromium (Debian's package, driven by Playwright) against a real ``serve``.

An operator drafts a new version of the default reply and submits it; the same person, though a
reviewer too, cannot approve it; a reviewer approves and publishes; a simulated citizen then gets the
new text through /wechat; a supervisor finds the conversation and sees the template version on the
reply. Screenshots of each step land in tests/artifacts/browser-<backend>/. The walks run on SQLite only: the
pages do not depend on the database, the Flask tests run every query behind them on both backends, and
tests/test_browser_cases.py walks a case through the browser on PostgreSQL as well.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.simulator import Simulator
from tests.conftest import AES_KEY, APP_ID, ROOT, TOKEN, Backend, _postgres_database
from tests.test_live import PYTHON, Live, _shutdown, _start

CHROMIUM = os.environ.get("MINSHENG_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "artifacts"
PASSWORD = "browser-test-password"
NEW_DEFAULT = "您好，留言已收到（浏览器测试版本）。请用文字说明事项、地点和时间，我们会登记受理编号并告知答复时限。"


def _browser_available() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("MINSHENG_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{CHROMIUM} not installed (.ci/run installs Debian's chromium)")
        pytest.skip(f"{CHROMIUM} not installed")


@contextlib.contextmanager
def console_server(backend: Backend, tmp_path: Path, accounts: dict[str, list[str]], **settings: str) -> Iterator[Live]:
    """A ``serve`` (2 workers) on a database of its own, with console ``accounts`` (name → roles)."""
    _browser_available()
    drop = None
    if backend.name == "sqlite":
        url = f"sqlite:///{tmp_path / 'browser.db'}"
    else:
        url, drop = _postgres_database(f"minsheng_browser_{uuid.uuid4().hex[:10]}")
    server = _start(backend, tmp_path, workers=2, DATABASE_URL=url, **settings)
    try:
        for name, roles in accounts.items():
            args = [PYTHON, "-m", "bot", "create-user", "--username", name]
            for role in roles:
                args += ["--role", role]
            made = subprocess.run(args, input=PASSWORD + "\n", env=server.env, cwd=ROOT, capture_output=True,
                                  text=True, timeout=60)
            assert made.returncode == 0, made.stderr
        yield server
    finally:
        problems = _shutdown(server)
        if drop:
            drop()
        assert not problems, problems


@pytest.fixture
def live_console(backend: Backend, tmp_path: Path) -> Iterator[Live]:
    """A ``serve`` with three console accounts (SQLite only: see the module's docstring)."""
    if backend.name != "sqlite":
        pytest.skip("the pages do not depend on the database; the Flask tests run their queries on both")
    with console_server(backend, tmp_path, {"wang": ["operator", "reviewer"], "li": ["reviewer"],
                                             "zhao": ["supervisor"]}) as server:
        yield server


def test_draft_review_publish_reply_and_trace_it_in_a_browser(live_console: Live, backend: Backend) -> None:
    from playwright.sync_api import expect, sync_playwright

    shots = ARTIFACTS / f"browser-{backend.name}"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    base = live_console.url

    def sign_in(page: Any, name: str) -> None:
        page.goto(f"{base}/console/")
        expect(page).to_have_url(f"{base}/console/login?next=/console/")
        page.fill("input[name=username]", name)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        expect(page.locator(".who")).to_contain_text(name if name != "wang" else "wang")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            # 1. The operator writes a new version of the default reply; the editor checks as she types.
            op = browser.new_context().new_page()
            sign_in(op, "wang")
            op.goto(f"{base}/console/library/default/edit")
            op.fill("#body", "我们会尽快处理")
            expect(op.locator("#findings")).to_contain_text("尽快")
            op.fill("#body", NEW_DEFAULT)
            expect(op.locator("#findings")).to_contain_text("未发现问题")
            expect(op.locator("#preview-traditional")).to_contain_text("您好，留言已收到")
            op.screenshot(path=str(shots / "1-editor.png"), full_page=True)
            op.check("input[name=submit_now]")
            op.click("form#editor button[type=submit]")
            expect(op.locator("#version-status")).to_have_text("待审核")
            version_url = op.url
            assert version_url.endswith("/console/library/default/v/2")

            # 2. She is a reviewer too, but not of her own text.
            expect(op.locator("body")).to_contain_text("须由其他审核员审核")
            op.click("#approve")
            expect(op.locator("p[role=status].flash.error")).to_contain_text("不能审核自己撰写的版本")
            expect(op.locator("#version-status")).to_have_text("待审核")
            op.screenshot(path=str(shots / "2-self-approval-refused.png"), full_page=True)

            # 3. Another reviewer approves and publishes.
            rev = browser.new_context().new_page()
            sign_in(rev, "li")
            rev.goto(f"{base}/console/review")
            rev.click("#review-queue a:has-text(\"默认回复\")")  # templates are listed by Chinese title
            rev.fill("form[action$='/approve'] input[name=comment]", "表述规范")
            rev.click("#approve")
            expect(rev.locator("#version-status")).to_have_text("已通过")
            rev.click("#publish")
            expect(rev.locator("#version-status")).to_have_text("已发布")
            rev.screenshot(path=str(shots / "3-published.png"), full_page=True)

            # 4. A citizen greets the account and gets the new version.
            citizen = "oBrowserCitizen" + uuid.uuid4().hex[:13]
            sim = Simulator(TOKEN, APP_ID, AES_KEY, live_console.wechat_url)
            result = sim.send_text("你好", openid=citizen, encrypt=True)
            assert result.status == 200 and result.reply == NEW_DEFAULT

            # 5. A supervisor finds that conversation and sees which version answered.
            sup = browser.new_context().new_page()
            sign_in(sup, "zhao")
            sup.goto(f"{base}/console/conversations")
            sup.fill("input[name=q]", "你好")
            sup.click(".filters button[type=submit]")
            sup.locator("#conversations a").first.click()
            expect(sup.locator(".msg.out .template").first).to_contain_text("default@2")
            expect(sup.locator("h1")).not_to_contain_text(citizen)  # the OpenID is masked
            sup.screenshot(path=str(shots / "4-thread.png"), full_page=True)
        finally:
            browser.close()
    assert sorted(p.name for p in shots.iterdir()) == [
        "1-editor.png", "2-self-approval-refused.png", "3-published.png", "4-thread.png"]


def test_deactivating_an_account_asks_first_in_a_browser(backend: Backend, tmp_path: Path) -> None:
    """停用 ends someone's sessions at once: the page asks, and 取消 leaves the account as it was."""
    from playwright.sync_api import expect, sync_playwright

    if backend.name != "sqlite":
        pytest.skip("the page's behaviour does not depend on the database; the sqlite run covers it")
    with console_server(backend, tmp_path, {"adm": ["admin"], "colleague": ["operator"]}) as server, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_context().new_page()
            page.goto(f"{server.url}/console/login")
            page.fill("input[name=username]", "adm")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.goto(f"{server.url}/console/users")
            row = page.locator("tr", has_text="colleague")
            asked: list[str] = []
            page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
            row.locator("button", has_text="停用").click()
            expect(row).to_contain_text("正常")
            assert asked and "colleague" in asked[0]
            page.once("dialog", lambda d: d.accept())
            row.locator("button", has_text="停用").click()
            expect(page.locator("tr", has_text="colleague")).to_contain_text("已停用")
        finally:
            browser.close()
