"""A campaign (征集) end to end in headless Chromium against a real ``serve``, its worker and the fake WeChat API.

A supervisor creates a campaign (picking its published texts by their Chinese titles) and opens it; simulated
citizens join by keyword and by QR scene and send opinions on three topics; the supervisor regroups them into
themes, marks one adopted, closes the campaign and publishes the outcome. A real ``python -m bot worker --burst``
delivers it through the fake API, which refuses one citizen with 45015; the page says who was reached and who
was not, and why. The texts are written and approved through replies/workflow.py beforehand (two people).
Screenshots land in tests/artifacts/browser-campaign-<backend>/. SQLite only (about 25 s): nothing on these pages
depends on the database, every query behind them runs on both backends in tests/test_campaigns.py, and the suite's
time is kept for walks that add something (tests/test_browser_cases.py walks a case on PostgreSQL too).
"""
from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from bot.simulator import Simulator
from tests.conftest import AES_KEY, APP_ID, TOKEN, Backend
from tests.fakeapi import FakeWeChat
from tests.test_browser import ARTIFACTS, CHROMIUM, PASSWORD, console_server
from tests.test_browser_cases import SECRET, _work
from tests.test_campaigns import INTRO, TEXTS, THANKS, publish
from tests.test_live import Live

OPINIONS = [
    "建议老旧小区增加停车位，晚上停车太难了",
    "小区停车难，希望利用空地建设立体停车场",
    "停车位严重不足，建议规划建设公共停车场",
    "希望在社区开办老年食堂，方便独居老人吃饭",
    "建议社区增设老年人助餐点和日间照料中心",
    "老人吃饭难，希望社区食堂给老年人优惠",
    "希望多种树，增设绿地和休闲座椅",
    "建议把空地改成口袋公园，多种花草树木",
    "希望多建绿地和健身步道，多种树木",
]



@pytest.fixture
def live_campaign(backend: Backend, tmp_path: Path, fake_api: FakeWeChat) -> Iterator[Live]:
    """A ``serve`` pointed at the fake API, a supervisor and an operator, and the campaign texts published."""
    if backend.name != "sqlite":
        pytest.skip("the pages do not depend on the database; tests/test_campaigns.py runs their queries on both")
    with console_server(backend, tmp_path, {"zhao": ["supervisor"], "qian": ["operator"]},
                        WECHAT_API_BASE=fake_api.url, WECHAT_APP_SECRET=SECRET) as server:
        with Session(server.engine) as session:
            for key, (purpose, title, body) in TEXTS.items():
                publish(session, key, purpose, title, body)
            session.commit()
        yield server


def test_a_campaign_from_opening_to_published_outcome_in_a_browser(
    live_campaign: Live, backend: Backend, fake_api: FakeWeChat
) -> None:
    from playwright.sync_api import expect, sync_playwright

    started = time.monotonic()
    shots = ARTIFACTS / f"browser-campaign-{backend.name}"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    base = live_campaign.url
    sim = Simulator(TOKEN, APP_ID, AES_KEY, live_campaign.wechat_url)
    tag = uuid.uuid4().hex[:8]
    citizens = [f"oCampaign{tag}{i:02d}" for i in range(len(OPINIONS))]

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page: Any = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.on("dialog", lambda dialog: dialog.accept())
            page.goto(f"{base}/console/")
            page.fill("input[name=username]", "zhao")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            expect(page.locator(".who")).to_contain_text("zhao")

            # 1. The supervisor writes the campaign; its texts are picked by their Chinese titles.
            page.click("header nav >> text=征集")
            page.click("#new-campaign")
            page.fill("input[name=title]", "城市更新意见征集")
            page.fill("textarea[name=questions]", "您对老旧小区改造有什么建议？\n您最希望增加哪些公共设施？")
            page.fill("input[name=join_keyword]", "城市更新")
            page.fill("input[name=join_scene]", "city2026")
            page.select_option("select[name=intro_key]", label="城市更新征集介绍语")
            page.select_option("select[name=thanks_key]", label="城市更新征集致谢语")
            page.select_option("select[name=outcome_key]", label="城市更新征集结果反馈")
            page.screenshot(path=str(shots / "1-form.png"), full_page=True)
            page.click("#campaign-form button[type=submit]")
            expect(page.locator("#campaign-status")).to_have_text("草稿")
            page.click("#open-campaign")
            expect(page.locator("#campaign-status")).to_have_text("进行中")
            page.screenshot(path=str(shots / "2-opened.png"), full_page=True)
            campaign_url = page.url.split("#")[0]

            # 2. Citizens join (keyword or QR scene) and give their opinions.
            for i, (openid, opinion) in enumerate(zip(citizens, OPINIONS, strict=True)):
                if i % 3 == 2:
                    joined = sim.send_event("SCAN", openid=openid, event_key="city2026", encrypt=True)
                else:
                    joined = sim.send_text("城市更新", openid=openid, encrypt=True)
                assert joined.status == 200 and joined.reply == INTRO
                said = sim.send_text(opinion, openid=openid, encrypt=True)
                assert said.status == 200 and said.reply == THANKS, said

            # 3. The supervisor regroups the opinions into themes and marks one adopted.
            page.goto(campaign_url)
            expect(page.locator("#opinion-count")).to_have_text(str(len(OPINIONS)))
            page.click("#cluster")
            expect(page.locator(".theme")).to_have_count(3, timeout=20000)
            page.screenshot(path=str(shots / "3-themes.png"), full_page=True)
            parking = page.locator(".theme", has_text="停车").first
            parking.locator("select[name=adopted]").select_option("yes")
            parking.locator("input[name=note]").fill("纳入明年老旧小区改造计划")
            parking.locator("button[type=submit]").click()
            expect(page.locator(".theme", has_text="停车").first).to_contain_text("已采纳")
            page.screenshot(path=str(shots / "4-adopted.png"), full_page=True)

            # 4. Close, publish the outcome; WeChat refuses one citizen (45015), the worker delivers the rest.
            page.click("#close-campaign")
            expect(page.locator("#campaign-status")).to_have_text("已结束")
            fake_api.fail(errcode=45015, openid=citizens[0], times=1)
            page.click("#publish-outcome")
            expect(page.locator("#deliveries tbody tr")).to_have_count(len(OPINIONS))
            _work(live_campaign)
            page.goto(campaign_url)  # not "#outcome": the same URL with a hash would not reload the page
            expect(page.locator("#outcome ~ p").first).to_contain_text(f"已送达 {len(OPINIONS) - 1}")
            expect(page.locator("#deliveries")).to_contain_text("45015")
            page.screenshot(path=str(shots / "5-outcome.png"), full_page=True)
            assert len(fake_api.sent()) == len(OPINIONS) - 1
            assert citizens[0] not in {s["touser"] for s in fake_api.sent()}
            # The page shows masked OpenIDs only.
            assert citizens[1] not in page.content()
        finally:
            browser.close()
    assert time.monotonic() - started < 60
