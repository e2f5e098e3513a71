"""A citizen's photo and voice message on the case page in headless Chromium, after WeChat forgot them (issue 22).

A real ``serve`` talks to the fake WeChat API (tests/fakeapi.py) on a port of its own. A citizen complains through
/wechat (bot.simulator, signed and encrypted as WeChat does) and, while the intake form asks its questions, sends a
photo (a JPEG made with Pillow, taken with the phone turned) and a voice message with WeChat's transcription; the
answers open a case. ``python -m bot worker --burst``, on the server's own configuration and embedded Redis, runs
the fetch jobs the reply path queued; then the fake forgets both media, as WeChat does after three days. A
supervisor opens the case in Chromium and sees the thumbnail actually loaded (upright), a player whose MP3 answers
200 and that the browser can read, and the transcription beside it. Screenshots land in
tests/artifacts/browser-media-<backend>/.

SQLite only, as the other browser walks: the page does not depend on the database, and tests/test_media_flow.py
runs the same path (message → fetch job → storage → case page → signed links) on both backends in-process; a
second server, worker and browser would add some 20 s to the suite for nothing it does not already cover.
"""
from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import text

from bot.simulator import Simulator
from tests.conftest import AES_KEY, APP_ID, APP_SECRET, ROOT, TOKEN, Backend
from tests.fakeapi import FakeWeChat
from tests.test_browser import ARTIFACTS, CHROMIUM, PASSWORD, console_server
from tests.test_live import PYTHON, Live
from tests.test_media_flow import amr, media_xml, photo, register

COMPLAINT = "我要投诉，幸福小区东门的垃圾堆了一个星期没人清理，臭气熏天"
HEARD = "垃圾就堆在东门口，一直没人管"  # WeChat's transcription of the voice message


@pytest.fixture
def media_server(backend: Backend, tmp_path: Path) -> Iterator[tuple[Live, FakeWeChat]]:
    """A ``serve`` with a supervisor, its WeChat API at a fake of its own, its media under the test's directory."""
    if backend.name != "sqlite":
        pytest.skip("the page does not depend on the database; tests/test_media_flow.py runs the path on both")
    with FakeWeChat(APP_ID, APP_SECRET) as fake, console_server(
        backend, tmp_path, {"zhao": ["supervisor"]}, WECHAT_API_BASE=fake.url, WECHAT_APP_SECRET=APP_SECRET,
        MEDIA_DIR=str(tmp_path / "media"), SPOOL_PATH=str(tmp_path / "spool.db"),
    ) as server:
        yield server, fake


def _forget(fake: FakeWeChat, media_id: str) -> None:
    """WeChat deletes temporary media after three days: the fake forgets it, and says it had it."""
    resp = requests.post(f"{fake.url}/_fake/media/forget", json={"media_id": media_id}, timeout=5)
    resp.raise_for_status()
    assert resp.json()["forgotten"], f"the fake never had {media_id}"


def _media_get(fake: FakeWeChat, media_id: str) -> dict[str, Any]:
    """What WeChat's ``media/get`` answers now for ``media_id`` (a JSON error once it is gone)."""
    token = requests.get(f"{fake.url}/cgi-bin/token", params={
        "grant_type": "client_credential", "appid": APP_ID, "secret": APP_SECRET}, timeout=5).json()["access_token"]
    resp = requests.get(f"{fake.url}/cgi-bin/media/get", params={"access_token": token, "media_id": media_id},
                        timeout=5)  # fmt: skip
    return resp.json()  # type: ignore[no-any-return]


def test_a_photo_and_a_voice_message_stay_on_the_case_after_wechat_forgot_them(
    media_server: tuple[Live, FakeWeChat], backend: Backend
) -> None:
    from playwright.sync_api import expect, sync_playwright

    server, fake = media_server
    shots = ARTIFACTS / f"browser-media-{backend.name}"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    sim = Simulator(TOKEN, APP_ID, AES_KEY, server.wechat_url)
    openid = "oBrowserMedia" + uuid.uuid4().hex[:15]
    photo_id, voice_id = "PHOTO_" + uuid.uuid4().hex, "VOICE_" + uuid.uuid4().hex

    def push(xml: str) -> str:
        result = sim.post(sim.sign(xml, encrypt=True, openid=openid), timeout=10)
        assert result.status == 200 and result.reply, (result.status, result.body)
        return result.reply

    def query(sql: str, **params: Any) -> list[Any]:
        with server.engine.connect() as conn:
            return list(conn.execute(text(sql), params).all())

    # 1. The complaint, then a photo and a voice message while the intake form asks; the answers open a case.
    push(sim.text_xml(COMPLAINT, openid))
    register(fake, photo_id, photo(), "image/jpeg")
    register(fake, voice_id, amr(2.0), "audio/amr")
    push(media_xml("image", photo_id, openid))
    push(media_xml("voice", voice_id, openid, recognition=HEARD))

    def cases() -> list[Any]:
        return query("SELECT c.id, c.number FROM cases c JOIN citizens z ON z.id = c.citizen_id WHERE z.openid = :o",
                     o=openid)  # fmt: skip

    for answer in ("幸福小区东门", "一个星期前", "不需要回访", "不需要"):  # whatever the form still asks
        if cases():
            break
        push(sim.text_xml(answer, openid))
    case_rows = cases()
    assert len(case_rows) == 1, f"the intake form opened {len(case_rows)} case(s)"
    case_id, number = case_rows[0]
    # Answered at once, nothing fetched on the way: no attachment is stored before a worker runs.
    assert query("SELECT id FROM attachments WHERE status = 'stored'") == []

    # 2. The worker runs the fetch jobs the reply path queued on the media queue (the server's embedded Redis).
    worker = subprocess.run([PYTHON, "-m", "bot", "worker", "--burst"], env=server.env, cwd=ROOT,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert worker.returncode == 0, worker.stderr[-3000:]
    kept = query("SELECT kind, media_id, status, case_id, content_type FROM attachments ORDER BY kind")
    assert [tuple(row) for row in kept] == [("image", photo_id, "stored", case_id, "image/jpeg"),
                                            ("voice", voice_id, "stored", case_id, "audio/amr")], worker.stderr[-3000:]

    # 3. WeChat forgets them: the fake's media/get answers 40007 for both from now on.
    for media_id in (photo_id, voice_id):
        _forget(fake, media_id)
        assert _media_get(fake, media_id).get("errcode") == 40007

    # 4. A supervisor opens the case: the photo, the voice and its transcription are there, from our storage.
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()
            broken: list[str] = []
            # Every signed link the page uses answers (206 is the player asking for a range of the MP3).
            page.on("response", lambda r: broken.append(f"{r.status} {r.url}")
                    if "/console/media" in r.url and r.status not in (200, 206) else None)
            page.goto(f"{server.url}/console/login")
            page.fill("input[name=username]", "zhao")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            expect(page.locator(".who")).to_contain_text("zhao")
            page.goto(f"{server.url}/console/cases/{case_id}")
            expect(page.locator("h1")).to_contain_text(str(number))
            media = page.locator("#case-media")
            expect(media.locator(".attachment")).to_have_count(2)
            expect(media).not_to_contain_text("附件未能取回")

            # The thumbnail: shown, and really loaded (lazy: scrolled to first), upright (480×640 → 240×320).
            thumb = media.locator("img[alt='群众发来的图片']")
            thumb.scroll_into_view_if_needed()
            expect(thumb).to_be_visible()
            page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle(),
                                   timeout=10_000)  # fmt: skip
            size = thumb.evaluate("img => [img.naturalWidth, img.naturalHeight]")
            assert size == [240, 320], f"the thumbnail is {size[0]}×{size[1]}"
            expect(media).to_contain_text("原图带有拍摄位置")

            # The player: its source answers 200 with an MP3 (the signed link, with this user's session), and
            # Chromium reads it (metadata loaded, a duration).
            player = media.locator("audio[controls]")
            expect(player).to_be_visible()
            source = player.get_attribute("src") or ""
            assert source.startswith("/console/media?t="), source
            status, mimetype, length = page.evaluate(
                "async src => { const r = await fetch(src);"
                " return [r.status, r.headers.get('content-type'), (await r.arrayBuffer()).byteLength]; }", source)
            assert (status, mimetype.split(";")[0]) == (200, "audio/mpeg") and length > 0, (status, mimetype, length)
            player.evaluate("a => { a.preload = 'auto'; a.load(); }")
            page.wait_for_function("a => a.readyState >= 1 || a.error !== null", arg=player.element_handle(),
                                   timeout=10_000)  # fmt: skip
            error, duration = player.evaluate("a => [a.error && a.error.code, a.duration]")
            assert error is None and duration > 1.5, f"the player could not read the voice: {error=}, {duration=}"

            # The transcription beside it.
            expect(media).to_contain_text(f"语音识别：{HEARD}")
            assert broken == [], broken
            media.scroll_into_view_if_needed()
            page.screenshot(path=str(shots / "1-case-page.png"), full_page=True)
            media.screenshot(path=str(shots / "2-case-media.png"))
        finally:
            browser.close()
    assert sorted(p.name for p in shots.iterdir()) == ["1-case-page.png", "2-case-media.png"]
