"""Reviews in headless Chromium against a real ``serve``: each point of issue 18, item 5, as the role that meets it.

An operator opens a template's page (its live text and triggers), writes a new version and sees which
version the editor started from, submits it, writes a second one and is warned that two now wait;
on 我的版本 she withdraws the second and resubmits it. A reviewer finds both in the queue by Chinese
title and purpose with the two-pending warning, rejects one with a comment, and approves the other
only once each of its two findings has its own reason, then publishes it. The operator sees the
decisions on her home page with the reviewer's reason; the template page shows the new live text and
its triggers; the library search finds it by its words. Screenshots land in
tests/artifacts/browser-review-<backend>/.

SQLite only: every rule walked here is enforced in replies/ and tested on both backends at the
Flask level (tests/test_review_pages.py, tests/test_workflow.py); a second browser walk on
PostgreSQL would double this file's time (about 20 s) without reaching any new code.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Backend
from tests.test_browser import ARTIFACTS, CHROMIUM, PASSWORD, console_server

SECOND = "各办公场所的办公时间以其公示为准（浏览器测试第二版），节假日安排另行公告。详情可拨打12345咨询。"
# Two vague time words: one rule flags twice, so the reviewer must give two reasons.
THIRD = "近期部分办公场所调整办公时间，即将实行的安排以各办公场所公示为准，详情可拨打12345咨询。"


def test_an_author_and_a_reviewer_walk_a_review_in_a_browser(backend: Backend, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    if backend.name != "sqlite":
        pytest.skip("the rules are the database-independent workflow's; the Flask tests cover PostgreSQL")
    shots = ARTIFACTS / f"browser-review-{backend.name}"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)

    with console_server(backend, tmp_path, {"wang": ["operator"], "li": ["reviewer"]}) as server, \
            sync_playwright() as pw:
        base = server.url
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])

        def sign_in(name: str) -> Any:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.goto(f"{base}/console/login")
            page.fill("input[name=username]", name)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            expect(page.locator(".who")).to_contain_text(name)
            return page

        def shot(page: Any, name: str) -> None:
            page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

        try:
            # 1. The operator finds the template by its Chinese title and sees what citizens get now.
            op = sign_in("wang")
            op.goto(f"{base}/console/library")
            op.click("text=常见问题：办公时间")
            expect(op.locator("h1")).to_contain_text("常见问题：办公时间")
            expect(op.locator("#live-body")).to_contain_text("办公时间")
            expect(op.locator("#live-triggers")).to_contain_text("办公时间")
            shot(op, "1-template-live")

            # 2. The editor starts from the live version and says so; she submits a second version.
            op.click("#write-new")
            expect(op.locator("#editor-base")).to_contain_text("以第1版（已发布）为底稿")
            op.fill("#body", SECOND)
            expect(op.locator("#findings")).to_contain_text("未发现问题")
            shot(op, "2-editor-base")
            op.check("input[name=submit_now]")
            op.click("form#editor button[type=submit]")
            expect(op.locator("#version-status")).to_have_text("待审核")

            # 3. A third version while the second waits: she is warned that two now wait.
            op.goto(f"{base}/console/library/faq_office_hours/edit")
            expect(op.locator("#editor-base")).to_contain_text("以第1版（已发布）为底稿")
            op.fill("#body", THIRD)
            expect(op.locator("#findings")).to_contain_text("近期")
            op.check("input[name=submit_now]")
            op.click("form#editor button[type=submit]")
            expect(op.locator("p[role=status].flash.error")).to_contain_text("第2版也在待审核")
            shot(op, "3-two-pending-warning")

            # 4. 我的版本: both wait; she withdraws the third (a draft again) and resubmits it.
            op.goto(f"{base}/console/my/versions")
            expect(op.locator("#my-in-review tbody tr")).to_have_count(2)
            op.locator("#my-in-review tr", has_text="第3版").locator("button", has_text="撤回").click()
            expect(op.locator("#version-status")).to_have_text("草稿")
            op.goto(f"{base}/console/my/versions")
            expect(op.locator("#my-drafts")).to_contain_text("常见问题：办公时间 第3版")
            shot(op, "4-my-versions-withdrawn")
            op.locator("#my-drafts tr", has_text="第3版").locator("button", has_text="提交审核").click()
            expect(op.locator("#version-status")).to_have_text("待审核")

            # 5. The reviewer's queue: Chinese titles and purposes, and the two-pending warning.
            rev = sign_in("li")
            rev.goto(f"{base}/console/review")
            queue = rev.locator("#review-queue")
            expect(queue).to_contain_text("常见问题：办公时间")
            expect(queue).to_contain_text("常见问题")  # the purpose
            expect(queue).to_contain_text("模糊时限")  # the finding, by name
            expect(queue.locator(".two-pending").first).to_contain_text("也在待审核")
            shot(rev, "5-review-queue")

            # 6. She rejects the second version with a comment.
            rev.goto(f"{base}/console/library/faq_office_hours/v/2")
            expect(rev.locator("#two-pending")).to_be_visible()
            rev.fill("form[action$='/reject'] input[name=comment]", "请写明查询各办公场所办公时间的渠道")
            rev.click("#reject")
            expect(rev.locator("#version-status")).to_have_text("已退回")

            # 7. The third needs a reason for each of its two findings; one is not enough.
            rev.goto(f"{base}/console/library/faq_office_hours/v/3")
            boxes = rev.locator("#approve-form input.accept-reason")
            expect(boxes).to_have_count(2)
            boxes.nth(0).fill("“近期”说明调整已发生，并非办理时限承诺")
            rev.click("#approve")
            expect(rev.locator("p[role=status].flash.error")).to_contain_text("即将")
            boxes = rev.locator("#approve-form input.accept-reason")
            boxes.nth(0).fill("“近期”说明调整已发生，并非办理时限承诺")
            boxes.nth(1).fill("“即将”指向公示的安排，群众可查询")
            shot(rev, "6-two-reasons")
            rev.click("#approve")
            expect(rev.locator("#version-status")).to_have_text("已通过")
            expect(rev.locator("#overrides li")).to_have_count(2)
            rev.click("#publish")
            expect(rev.locator("#version-status")).to_have_text("已发布")
            shot(rev, "7-published")

            # 8. The author's home page names both decisions and the reviewer's reason, until 知道了.
            op.goto(f"{base}/console/")
            notices = op.locator("#review-notices")
            expect(notices).to_contain_text("第2版")
            expect(notices).to_contain_text("请写明查询各办公场所办公时间的渠道")
            expect(notices).to_contain_text("已通过审核")
            shot(op, "8-home-notice")
            op.click("#notices-seen")
            expect(op.locator("#review-notices")).to_have_count(0)

            # 9. The template page shows the new live text and its triggers; the search finds it by its words.
            op.goto(f"{base}/console/library/faq_office_hours")
            expect(op.locator("#live-body")).to_have_text(THIRD)
            expect(op.locator("#live-triggers .badge").first).to_be_visible()
            op.goto(f"{base}/console/library")
            op.fill("input[name=q]", "调整办公时间")
            op.click("#library-search button[type=submit]")
            expect(op.locator("#library-list tbody tr")).to_have_count(1)
            expect(op.locator("#library-list")).to_contain_text("常见问题：办公时间")
            shot(op, "9-search")
        finally:
            browser.close()
    assert sorted(p.name for p in shots.iterdir()) == [
        "1-template-live.png", "2-editor-base.png", "3-two-pending-warning.png", "4-my-versions-withdrawn.png",
        "5-review-queue.png", "6-two-reasons.png", "7-published.png", "8-home-notice.png", "9-search.png"]
