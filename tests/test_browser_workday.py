"""A supervisor's and an operator's working day in headless Chromium: charts, audit log, reports, phone layout.

Runs on the SQLite backend only: what is checked here is how pages look and behave in a browser; the
figures and scoping behind them are tested on both backends in test_dashboard.py and test_reports.py.
Screenshots land in tests/artifacts/browser-workday/.
"""
from __future__ import annotations

import itertools
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from bot.simulator import Simulator
from tests.conftest import AES_KEY, APP_ID, TOKEN, Backend
from tests.test_browser import ARTIFACTS, CHROMIUM, PASSWORD, console_server
from tests.test_browser_cases import _file_complaint

CODE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")  # a snake_case code where a Chinese name belongs


def _sign_in(page: Any, base: str, name: str) -> None:
    page.goto(f"{base}/console/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/console/")


def test_a_working_day_on_desktop_and_phone(backend: Backend, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    if backend.name != "sqlite":
        pytest.skip("how the pages look does not depend on the database; the sqlite run covers it")
    shots = ARTIFACTS / "browser-workday"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    accounts = {"zhao": ["supervisor"], "wang": ["operator"]}
    with console_server(backend, tmp_path, accounts) as server, sync_playwright() as pw:
        base = server.url
        sim = Simulator(TOKEN, APP_ID, AES_KEY, server.wechat_url)
        sent = 0
        for i in range(3):  # three citizens guided through the intake to a case each
            _, questions = _file_complaint(sim, f"oWorkday{i}" + uuid.uuid4().hex[:16])
            sent += questions + 1
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            # 1. The dashboard: round ticks, each legend colour beside its name.
            sup = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True).new_page()
            _sign_in(sup, base, "zhao")
            sup.goto(f"{base}/console/dashboard")
            ticks = [int(t) for t in sup.locator("figure.chart").first.locator("text.tick").all_text_contents()
                     if t.isdigit()]
            steps = {b - a for a, b in itertools.pairwise(ticks) if b > a}
            assert len(steps) == 1 and str(steps.pop()).strip("0") in ("1", "2", "5"), ticks
            item = sup.locator("ul.legend li").first
            swatch, label = item.locator(".swatch").bounding_box(), item.bounding_box()
            assert swatch and label and swatch["width"] <= 14 and swatch["x"] - label["x"] < 4
            sup.screenshot(path=str(shots / "1-dashboard.png"), full_page=True)

            # 2. The audit log, filtered by a Chinese name; no code in sight.
            sup.goto(f"{base}/console/audit")
            sup.select_option("select[name=action]", label="登录与锁定（全部）")
            sup.click(".filters button[type=submit]")
            actions = sup.locator("#audit tbody td:nth-child(4)").all_inner_texts()
            assert actions and set(actions) <= {"登录", "退出登录", "登录失败", "登录锁定"}, actions
            assert not CODE.search(sup.locator("#audit").inner_text())
            sup.screenshot(path=str(shots / "2-audit.png"), full_page=True)

            # 3. Last week's report, downloaded as PDF; the wall screen.
            sup.goto(f"{base}/console/reports")
            with sup.expect_download() as got:
                sup.click("#week-pdf")
            path = got.value.path()
            assert path and Path(path).read_bytes()[:5] == b"%PDF-"
            sup.screenshot(path=str(shots / "3-reports.png"), full_page=True)
            wall = browser.new_context(viewport={"width": 1920, "height": 1080}).new_page()
            _sign_in(wall, base, "zhao")
            wall.goto(f"{base}/console/screen")
            expect(wall.locator("#screen-today")).to_have_text(str(sent))
            wall.screenshot(path=str(shots / "4-screen.png"))

            # 4. The operator answers a case choosing a template by its Chinese title.
            op = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            _sign_in(op, base, "wang")
            op.goto(f"{base}/console/cases")
            op.locator("table a").first.click()
            options = op.locator("select[name=template] option").all_inner_texts()
            assert options and not any(CODE.search(o) for o in options), options
            history = op.locator("#case-events").inner_text()
            assert "自动受理：投诉" in history and not CODE.search(history)
            op.screenshot(path=str(shots / "5-case.png"), full_page=True)

            # 5. On a 390 px phone: one line of navigation, and no page wider than the screen.
            phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                        device_scale_factor=2).new_page()
            _sign_in(phone, base, "zhao")
            for name in ("", "cases", "dashboard", "audit", "conversations", "reports"):
                phone.goto(f"{base}/console/{name}")
                nav = phone.locator("header.top nav").bounding_box()
                assert nav and nav["height"] < 40, (name, nav)
                width = phone.evaluate("document.documentElement.scrollWidth")
                assert width <= 390, (name, width)
                phone.screenshot(path=str(shots / f"6-phone-{name or 'home'}.png"))
        finally:
            browser.close()
