"""The mobile web form (/h5) in headless Chromium on a phone-sized screen, against a real ``serve``.

A citizen opens the form at 390 px, posts it with a mistake and gets it back with the message beside the field
and the words kept, attaches a photo (a JPEG made with Pillow), submits and reads the case number; the form and
the result are no wider than the screen at 390 and at 360 px, and the page's script runs under its
Content-Security-Policy without a complaint. Screenshots land in tests/artifacts/browser-webform-<backend>/.

SQLite only, as the other browser walks: nothing on these pages depends on the database, and tests/test_webform.py
files letters on both backends.
"""
from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import text

from tests.conftest import Backend
from tests.test_browser import ARTIFACTS, CHROMIUM, console_server
from tests.test_live import Live

LETTER = "小区东门的路灯坏了一个多月，晚上出入很黑，老人孩子容易摔倒，希望尽快修好"


@pytest.fixture
def form_server(backend: Backend, tmp_path: Path) -> Iterator[Live]:
    """A ``serve`` with no console accounts; photos kept under the test's own directory."""
    if backend.name != "sqlite":
        pytest.skip("the pages do not depend on the database; tests/test_webform.py files letters on both")
    with console_server(backend, tmp_path, {}, MEDIA_DIR=str(tmp_path / "media")) as server:
        yield server


def _photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (800, 600), (90, 120, 160)).save(out, "JPEG", quality=85)
    return out.getvalue()


def _width(page: Any) -> int:
    return int(page.evaluate("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"))


def test_a_citizen_files_a_letter_with_a_photo_on_a_phone(form_server: Live, backend: Backend) -> None:
    from playwright.sync_api import expect, sync_playwright

    shots = ARTIFACTS / f"browser-webform-{backend.name}"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    base = form_server.url
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1,
                                          is_mobile=True, has_touch=True, locale="zh-CN")  # fmt: skip
            page = context.new_page()
            complaints: list[str] = []
            # A script error or a Content-Security-Policy refusal; the 400 of step 2 is meant, the favicon absent.
            page.on("console", lambda m: complaints.append(m.text)
                    if m.type in ("error", "warning") and not m.text.startswith("Failed to load resource") else None)
            page.on("pageerror", lambda e: complaints.append(str(e)))

            # 1. The form, emergency numbers first.
            page.goto(f"{base}/h5/")
            expect(page.locator(".emergency")).to_contain_text("119")
            assert _width(page) <= 390, f"the form is {_width(page)} px wide on a 390 px screen"
            page.screenshot(path=str(shots / "1-form-390.png"), full_page=True)

            # 2. Too short, and no call-back choice: the form comes back with the messages and the words.
            page.fill("#what", "路灯坏了")
            page.fill("#where", "幸福小区东门")
            page.click("#submit")
            expect(page.locator("#error-summary")).to_contain_text("请修改以下3处")
            expect(page.locator("#what-error")).to_contain_text("至少用10个字")
            expect(page.locator("#where")).to_have_value("幸福小区东门")
            assert _width(page) <= 390
            page.screenshot(path=str(shots / "2-mistakes-390.png"), full_page=True)

            # 3. The whole letter, a photo attached (previewed by the page's script).
            page.fill("#what", LETTER)
            page.fill("#when", "最近一个多月")
            page.locator("label.choice", has_text="需要回访").click()
            page.fill("#phone", "13912345678")
            page.set_input_files("#photo-album", files=[{"name": "路灯.jpg", "mimeType": "image/jpeg",
                                                           "buffer": _photo()}])  # fmt: skip
            expect(page.locator("#photo-list img")).to_have_count(1)
            expect(page.locator("#what-count")).to_contain_text("已写")
            page.screenshot(path=str(shots / "3-filled-390.png"), full_page=True)

            # 4. Filed: the number on the page, the case in the database with its photo.
            page.click("#submit")
            expect(page.locator("h1")).to_have_text("留言已提交")
            number = page.locator("#case-number").inner_text()
            expect(page.locator("#reply")).to_contain_text(f"受理编号：{number}")
            expect(page.locator("#photos-kept")).to_contain_text("1张")
            assert _width(page) <= 390, f"the result is {_width(page)} px wide on a 390 px screen"
            page.screenshot(path=str(shots / "4-result-390.png"), full_page=True)
            with form_server.engine.connect() as conn:
                row = conn.execute(text("SELECT c.channel, c.summary, (SELECT count(*) FROM attachments a "
                                        "WHERE a.case_id = c.id AND a.status = 'stored') FROM cases c "
                                        "WHERE c.number = :n"), {"n": number}).one()  # fmt: skip
            assert row[0] == "web" and row[1].startswith(f"问题描述：{LETTER}") and row[2] == 1

            # 5. At 360 px, the narrowest phones in use: the result, then the form.
            page.set_viewport_size({"width": 360, "height": 740})
            assert _width(page) <= 360, f"the result is {_width(page)} px wide on a 360 px screen"
            page.screenshot(path=str(shots / "5-result-360.png"), full_page=True)
            page.goto(f"{base}/h5/")
            assert _width(page) <= 360, f"the form is {_width(page)} px wide on a 360 px screen"
            page.screenshot(path=str(shots / "6-form-360.png"), full_page=True)
            assert complaints == [], complaints

            # 6. Without scripts (some in-app browsers block them): the browser's own file field, and it files.
            bare = browser.new_context(viewport={"width": 360, "height": 740}, java_script_enabled=False,
                                       locale="zh-CN").new_page()  # fmt: skip
            bare.goto(f"{base}/h5/")
            expect(bare.locator("#photo-album")).to_be_visible()
            bare.fill("#what", LETTER)
            bare.fill("#where", "幸福小区东门")
            bare.fill("#when", "昨天晚上")
            bare.locator("label.choice", has_text="不需要").click()
            bare.set_input_files("#photo-album", files=[{"name": "a.jpg", "mimeType": "image/jpeg",
                                                          "buffer": _photo()}])  # fmt: skip
            assert _width(bare) <= 360
            bare.screenshot(path=str(shots / "7-form-360-no-script.png"), full_page=True)
            bare.click("#submit")
            expect(bare.locator("#case-number")).not_to_have_text(number)
            expect(bare.locator("#no-contact")).to_be_visible()
        finally:
            browser.close()
    assert sorted(p.name for p in shots.iterdir()) == [
        "1-form-390.png", "2-mistakes-390.png", "3-filled-390.png", "4-result-390.png", "5-result-360.png",
        "6-form-360.png", "7-form-360-no-script.png"]  # fmt: skip
