"""A rising-issue alert end to end: citizens write, the watch raises it, the duty supervisor is messaged through
the fake WeChat API, and a supervisor keeps the public-opinion clock in headless Chromium.

Real processes: ``serve``, ``python -m bot opinion watch --once`` and ``python -m bot worker --burst``. SQLite only:
the watch's storage and restarts are tested on both backends in test_opinion_watch.py. Screenshots land in
tests/artifacts/browser-opinion/.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from bot.simulator import Simulator
from models import Setting, utcnow
from tests.conftest import AES_KEY, APP_ID, ROOT, TOKEN, Backend
from tests.fakeapi import FakeWeChat
from tests.test_browser import ARTIFACTS, CHROMIUM, PASSWORD, console_server
from tests.test_browser_cases import SECRET
from tests.test_live import PYTHON

BURST = (
    "阳光小区又停水了，从早上到现在一滴水都没有",
    "我们阳光小区停水了，什么时候来水？",
    "阳光小区停水一上午了，老人孩子怎么办",
    "请问阳光小区为什么突然停水",
    "阳光小区没水了，也没有提前通知",
)



def _bot(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([PYTHON, "-m", "bot", *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_burst_reaches_the_duty_supervisor_and_the_console(
    backend: Backend, tmp_path: Path, fake_api: FakeWeChat
) -> None:
    from playwright.sync_api import expect, sync_playwright

    if backend.name != "sqlite":
        pytest.skip("the watch's storage is tested on both backends in test_opinion_watch.py")
    shots = ARTIFACTS / "browser-opinion"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    with console_server(backend, tmp_path, {"zhao": ["supervisor"]}, WECHAT_API_BASE=fake_api.url,
                        WECHAT_APP_SECRET=SECRET) as server, sync_playwright() as pw:
        sim = Simulator(TOKEN, APP_ID, AES_KEY, server.wechat_url)
        duty = "oDutySupervisor" + uuid.uuid4().hex[:13]
        assert sim.send_text("你好", openid=duty, encrypt=True).status == 200  # opens the 48-hour window
        with server.engine.begin() as conn:
            conn.execute(insert(Setting).values(key="opinion.duty", value=json.dumps([duty]), updated_at=utcnow(),
                                                updated_by="test"))
        assert _bot(server.env, "opinion", "watch", "--once").strip() == "0 incident(s) raised"  # the first round
        for text in BURST:
            assert sim.send_text(text, openid="oBurst" + uuid.uuid4().hex[:22], encrypt=True).status == 200
        assert _bot(server.env, "opinion", "watch", "--once").strip() == "1 incident(s) raised"
        _bot(server.env, "worker", "--burst")
        [notice] = [s for s in fake_api.sent() if s["touser"] == duty]
        assert "5位群众反映阳光小区“停水”问题" in notice["content"]

        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page: Any = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.goto(f"{server.url}/console/login")
            page.fill("input[name=username]", "zhao")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            expect(page.locator("table", has_text="舆情预警")).to_contain_text("阳光小区 · 停水")
            page.screenshot(path=str(shots / "1-home-alert.png"), full_page=True)
            page.click("header.top nav >> text=舆情")
            expect(page.locator("#incidents")).to_contain_text("阳光小区 · 停水")
            page.screenshot(path=str(shots / "2-incidents.png"), full_page=True)
            page.locator("#incidents a").first.click()
            expect(page.locator("#incident-messages tbody tr")).to_have_count(len(BURST))
            expect(page.locator("body")).to_contain_text("已通知值班人员")
            page.fill("form:has(#step-info_at) input[name=note]", "区政府网站发布停水通告，预计18时恢复供水")
            page.click("#step-info_at")
            expect(page.locator("p[role=status].flash")).to_contain_text("已记录：发布权威信息")
            expect(page.locator("#clock tbody tr").first).to_contain_text("已完成")
            page.screenshot(path=str(shots / "3-clock.png"), full_page=True)
        finally:
            browser.close()
