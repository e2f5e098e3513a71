"""A complaint from the citizen's first message to closure, in headless Chromium against a real ``serve``.

A simulated citizen (encrypted pushes to /wechat) files a complaint through the guided intake and
gets a case number. In the console a dispatcher (an operator of every department) assigns it to the
environment department; an operator there starts it and proposes a transfer to urban construction
(she still owns it until it is accepted); an operator of urban construction accepts and starts it.
His first answer is refused by WeChat (the fake answers 45015) and the case page says why and what
to do; his second answer — a published template and a vetted progress phrase — is delivered by a
real ``python -m bot worker --burst`` through the local fake WeChat API, which records the
customer-service message for the right OpenID. The case shows it answered; he closes it; the
satisfaction prompt goes out the same way; the citizen replies "1" and the case shows 非常满意; a
supervisor sees every step with who did it. Screenshots of each step land in
tests/artifacts/browser-cases-<backend>/.
"""
from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from bot.simulator import Simulator
from models import User
from tests.conftest import AES_KEY, APP_ID, APP_SECRET, ROOT, TOKEN, Backend
from tests.fakeapi import FakeWeChat
from tests.test_browser import ARTIFACTS, CHROMIUM, PASSWORD, console_server
from tests.test_live import CASE_NUMBER, PYTHON, Live

SECRET = APP_SECRET
# username → (roles, departments; "" = every department)
ACCOUNTS = {
    "dispatch": (["operator"], ""),
    "env_op": (["operator"], "environment"),
    "city_op": (["operator"], "urban_construction"),
    "sup": (["supervisor"], ""),
}
# The guided intake's questions (by a phrase of each prompt) and the citizen's answers.
INTAKE = {
    "发生了什么": "小区门口的垃圾堆满了，一直没有人来清理",
    "地点": "幸福路88号幸福小区东门",
    "什么时候": "从上周开始",
    "电话": "13812345678",
}
QUOTA_REASON = "45015 超出48小时客服消息时限（或群众已取消关注）：请电话联系群众，或待其再次留言后发送"
SHOTS = [
    "1-case-in-queue.png", "2-assigned.png", "3-started.png", "4-transfer-proposed.png", "5-transfer-accepted.png",
    "6-answer-refused-45015.png", "7-answer-queued.png", "8-answered.png", "9-closed.png", "10-supervisor-history.png",
    "11-answer-preview.png",
]



@pytest.fixture
def live_cases(backend: Backend, tmp_path: Path, fake_api: FakeWeChat) -> Iterator[Live]:
    """A ``serve`` on a database of its own, pointed at the fake API, with four department-scoped accounts."""
    # The worker gets exactly this environment too (Live.env).
    accounts = {name: roles for name, (roles, _) in ACCOUNTS.items()}
    with console_server(backend, tmp_path, accounts, WECHAT_API_BASE=fake_api.url,
                        WECHAT_APP_SECRET=SECRET) as server:
        with server.engine.begin() as conn:
            for name, (_, departments) in ACCOUNTS.items():
                conn.execute(update(User).where(User.username == name).values(departments=departments))
        yield server


def _work(server: Live) -> str:
    """Run a real ``python -m bot worker --burst`` (same environment as serve) until the queue is empty."""
    done = subprocess.run([PYTHON, "-m", "bot", "worker", "--burst"], env=server.env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    return log


def _file_complaint(sim: Simulator, openid: str) -> tuple[str, int]:
    """The citizen's guided intake, answering each question asked, until a case number comes back.

    Messages are a minute apart by their CreateTime (ending a minute ago): answers seconds apart
    would be taken as one answer typed in several messages.
    """
    created = int(time.time()) - 60 * (len(INTAKE) + 2)

    def say(text: str) -> str:
        nonlocal created
        created += 60
        result = sim.post(sim.sign(sim.text_xml(text, openid, create_time=created), encrypt=True, openid=openid))
        assert result.status == 200 and result.reply, result
        return result.reply

    reply, questions = say("我要投诉"), 0
    for _ in range(len(INTAKE) + 2):
        found = CASE_NUMBER.search(reply)
        if found:
            return found.group(1), questions
        asked = next((q for q in INTAKE if q in reply), None)
        assert asked is not None, f"unexpected intake reply: {reply}"
        questions += 1
        reply = say(INTAKE[asked])
    pytest.fail(f"the intake did not end with a case number: {reply}")


def test_a_complaint_from_first_message_to_rating_in_a_browser(
    live_cases: Live, backend: Backend, fake_api: FakeWeChat
) -> None:
    from playwright.sync_api import expect, sync_playwright

    shots = ARTIFACTS / f"browser-cases-{backend.name}"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    base = live_cases.url

    # 0. The citizen complains and is guided through the intake until the case is filed.
    citizen = "oBrowserCase" + uuid.uuid4().hex[:16]
    sim = Simulator(TOKEN, APP_ID, AES_KEY, live_cases.wechat_url)
    number, questions = _file_complaint(sim, citizen)
    assert questions >= 2, "the complaint should have been guided through the intake"

    def sign_in(name: str) -> Any:
        page = browser.new_context().new_page()
        page.goto(f"{base}/console/")
        expect(page).to_have_url(f"{base}/console/login?next=/console/")
        page.fill("input[name=username]", name)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        expect(page.locator(".who")).to_contain_text(name)
        return page

    def act(page: Any, action: str, done: str, **fields: str) -> None:
        """Fill the step's form (selects by value, inputs by text), submit, and wait for the confirmation."""
        form = page.locator(f"form:has(#act-{action})")
        for name, value in fields.items():
            control = form.locator(f"[name={name}]")
            if control.evaluate("e => e.tagName") == "SELECT":
                control.select_option(value)
            else:
                control.fill(value)
        page.click(f"#act-{action}")
        expect(page.locator("p[role=status].flash").first).to_have_text(f"已完成：{done}")

    def send_answer(page: Any, template: str, progress: str, preview_shot: str | None = None) -> None:
        """Pick the template and phrase, see the exact text the citizen will get, then send it."""
        form = page.locator("form:has(#preview-answer)")
        form.locator("[name=template]").select_option(template)
        form.locator("[name=progress]").select_option(progress)
        page.click("#preview-answer")
        expect(page.locator("#answer-preview")).to_contain_text(progress)
        if preview_shot:
            shot(page, preview_shot)
        page.click("#act-answer")
        expect(page.locator("p[role=status].flash").first).to_have_text("已完成：答复（待发送）")

    def shot(page: Any, name: str) -> None:
        page.screenshot(path=str(shots / name), full_page=True)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            # 1. The dispatcher finds the new case in the queue and sends it to the environment department.
            disp = sign_in("dispatch")
            disp.goto(f"{base}/console/cases")
            disp.fill("input[name=q]", number)
            disp.click(".filters button[type=submit]")
            row = disp.locator("#cases tbody tr", has_text=number)
            expect(row).to_have_count(1)
            expect(row).to_contain_text("已受理")
            expect(row).to_contain_text("投诉")
            shot(disp, SHOTS[0])
            row.locator(f"a:text-is('{number}')").click()
            expect(disp.locator("h1")).to_contain_text(number)
            expect(disp.locator("#case-status")).to_have_text("已受理")
            expect(disp.locator("body")).to_contain_text("幸福路88号")  # what the intake recorded
            case_url = disp.url
            act(disp, "assign", "派单", department="environment", reason="垃圾堆放影响环境")
            expect(disp.locator("#case-status")).to_have_text("已派单")
            expect(disp.locator("#case-owner")).to_have_text("生态环境部门")
            shot(disp, SHOTS[1])

            # 2. An operator of the environment department starts it ...
            env = sign_in("env_op")
            env.goto(f"{base}/console/cases")
            env.locator(f"#cases a:text-is('{number}')").click()
            expect(env).to_have_url(case_url)
            act(env, "start", "开始办理")
            expect(env.locator("#case-status")).to_have_text("办理中")
            expect(env.locator("#case-owner")).to_have_text("生态环境部门/env_op")
            shot(env, SHOTS[2])
            # ... and proposes a transfer: sanitation is urban construction's. She owns it until accepted.
            act(env, "transfer", "申请转办", department="urban_construction", reason="属环卫清运职责")
            expect(env.locator("body")).to_contain_text("转办至 城市建设管理部门，待对方接收（接收前仍由本部门负责）")
            expect(env.locator("#case-owner")).to_have_text("生态环境部门/env_op")
            expect(env.locator("#act-transfer")).to_have_count(0)
            shot(env, SHOTS[3])

            # 3. The receiving department's operator finds it among the transfers waiting for him.
            city = sign_in("city_op")
            city.goto(f"{base}/console/cases?transfer=1")
            city_row = city.locator("#cases tbody tr", has_text=number)
            expect(city_row).to_contain_text("城市建设管理部门（待接收）")
            city_row.locator(f"a:text-is('{number}')").click()
            expect(city.locator("#preview-answer")).to_have_count(0)  # not his to answer before he accepts
            act(city, "accept_transfer", "接收转办")
            expect(city.locator("#case-owner")).to_have_text("城市建设管理部门")
            act(city, "start", "开始办理")
            expect(city.locator("#case-status")).to_have_text("办理中")
            expect(city.locator("#case-owner")).to_have_text("城市建设管理部门/city_op")
            shot(city, SHOTS[4])
            # The first receiver's scope no longer covers it.
            assert env.goto(case_url).status == 404

            # 4. His first answer is refused by WeChat (45015): the case says why and what to do instead.
            fake_api.fail(errcode=45015, openid=citizen, times=1)
            send_answer(city, "answer_progress", "承办部门正在现场核查")
            _work(live_cases)
            city.reload()
            expect(city.locator(".msg.out .flash.error")).to_have_text(QUOTA_REASON)
            expect(city.locator(".msg.out .delivery.failed")).to_have_text("发送失败")
            expect(city.locator("#case-status")).to_have_text("办理中")
            expect(city.locator("#case-events")).to_contain_text("答复发送失败")
            assert fake_api.sent() == []
            shot(city, SHOTS[5])

            # 5. He answers again with a published template and a vetted progress phrase.
            send_answer(city, "answer_resolved", "整改已完成", preview_shot=SHOTS[-1])
            expect(city.locator(".msg.out .delivery.queued")).to_have_text("待发送")
            expect(city.locator("#case-status")).to_have_text("办理中")  # queued is not answered
            expect(city.locator("#act-close")).to_have_count(0)
            shot(city, SHOTS[6])
            _work(live_cases)
            answer = (f"您反映的问题（受理编号：{number}）经城市建设管理部门核查处理，整改已完成。"
                      "感谢您对我们工作的监督！如仍有问题，请直接回复本账号说明。")
            assert [(s["touser"], s["msgtype"], s["content"]) for s in fake_api.sent()] == [
                (citizen, "text", answer)]
            city.reload()
            expect(city.locator("#case-status")).to_have_text("已答复")
            expect(city.locator(".msg.out", has_text="整改已完成").locator(".delivery")).to_have_text("已送达")
            expect(city.locator("body")).to_contain_text("群众已收到答复：")
            shot(city, SHOTS[7])

            # 6. He closes the case; the satisfaction prompt goes out through the worker as well.
            act(city, "close", "办结", reason="垃圾已清运，已安排每日巡查")
            expect(city.locator("#case-status")).to_have_text("已办结")
            _work(live_cases)
            sent = fake_api.sent()
            assert len(sent) == 2 and sent[1]["touser"] == citizen
            assert sent[1]["content"].startswith(f"请您对诉求（受理编号：{number}）的办理情况进行评价")
            city.reload()
            expect(city.locator(".msg.out", has_text="请您对诉求").locator(".delivery")).to_have_text("已送达")
            shot(city, SHOTS[8])

            # 7. The citizen answers the prompt with "1" (非常满意) and is thanked.
            thanks = sim.send_text("1", openid=citizen, encrypt=True)
            assert thanks.status == 200
            assert thanks.reply == f"感谢您对诉求（受理编号：{number}）办理情况的评价，您的意见已记录。"

            # 8. A supervisor sees the rating and the whole history, step by step, with who did it.
            sup = sign_in("sup")
            sup.goto(case_url)
            expect(sup.locator("#case-status")).to_have_text("已办结")
            expect(sup.locator("body")).to_contain_text("群众评价：非常满意")
            rows = sup.locator("#case-events tbody tr")
            expect(rows).to_have_count(14)
            history = [[c.strip() for c in r] for r in rows.evaluate_all(
                "rows => rows.map(r => [...r.cells].slice(1).map(c => c.textContent))")]
            assert [h[:2] for h in history] == [
                ["bot", "受理"],
                ["dispatch", "派单"],
                ["env_op", "开始办理"],
                ["env_op", "申请转办"],
                ["city_op", "接收转办"],
                ["city_op", "开始办理"],
                ["city_op", "答复（待发送）"],
                ["city_op", "答复发送失败"],
                ["city_op", "答复（待发送）"],
                ["city_op", "答复已送达"],
                ["city_op", "办结"],
                ["city_op", "满意度评价邀请"],
                ["city_op", "评价邀请已送达"],
                ["citizen", "群众评价"],
            ]
            assert history[0][2].startswith("自动受理：投诉")
            details = [h[2] for h in history[1:]]
            assert details[0] == "生态环境部门 垃圾堆放影响环境"
            assert details[2] == "转至城市建设管理部门：属环卫清运职责"
            assert details[3] == "城市建设管理部门"
            assert details[6] == QUOTA_REASON
            assert details[7].startswith("answer_resolved@") and details[8].startswith("answer_resolved@")
            assert details[9] == "垃圾已清运，已安排每日巡查"
            assert history[-1] == ["citizen", "群众评价", "非常满意"]
            shot(sup, SHOTS[9])
        finally:
            browser.close()
    assert sorted(p.name for p in shots.iterdir()) == sorted(SHOTS)
    assert all((shots / name).stat().st_size > 0 for name in SHOTS)
