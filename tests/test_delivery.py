"""Customer-service messages sent by a real RQ worker (``python -m bot worker --burst``) to the local fake WeChat API.

On each backend: the text reaches the right OpenID, the row becomes ``sent`` and the case ANSWERED;
WeChat's refusals (45015, 45047, 45002, others) leave ``failed`` with what to do instead; a job run
twice sends once; transient failures are retried; the access token is fetched once and shared
through Redis across workers, and a refused token is refreshed once. Last, ``run-all`` (what
``make run`` starts) delivers through its own worker and fake and leaves nothing behind on Ctrl-C.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from flask import Flask
from sqlalchemy import delete, select

from bot import create_app, jobs
from bot.extensions import services
from bot.wechat.api import SharedTokenClient
from models import Case, CaseEvent, CaseStatus, CaseType, Citizen, Direction, Message, utcnow
from tests.conftest import APP_ID, ROOT, Backend
from tests.fakeapi import FakeWeChat

PYTHON = str(ROOT / ".venv" / "bin" / "python")
if not Path(PYTHON).exists():
    PYTHON = sys.executable
SECRET = "minsheng-test-app-secret"
ANSWER = "您反映的路灯问题（受理编号：T0001）已转城管部门处理，将于3个工作日内修复。"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclasses.dataclass
class Queued:
    """An outbound message waiting to be sent, and the case it answers (if any)."""

    message_id: int
    openid: str
    case_id: int | None


def queue_answer(
    app: Flask,
    content: str = ANSWER,
    *,
    with_case: bool = True,
    status: CaseStatus = CaseStatus.IN_PROGRESS,
    responder: str = "wu",
    delivery_status: str | None = "queued",
) -> Queued:
    """A citizen who wrote 5 minutes ago, their case, and a queued answer to them (committed)."""
    now = utcnow()
    openid = "oDlv" + uuid.uuid4().hex[:24]
    with services(app).sessions() as db:
        citizen = Citizen(openid=openid, first_seen_at=now, last_seen_at=now)
        db.add(citizen)
        db.flush()
        inbound = Message(direction=Direction.IN, citizen_id=citizen.id, dedup_key=uuid.uuid4().hex,
                          msg_type="text", content="小区门口路灯坏了", created_at=now - dt.timedelta(minutes=5),
                          received_at=now - dt.timedelta(minutes=5))
        db.add(inbound)
        db.flush()
        case_id = None
        if with_case:
            case = Case(number=f"T{inbound.id:010d}", case_type=CaseType.COMPLAINT, status=status,
                        department="urban_construction", citizen_id=citizen.id, opening_message_id=inbound.id,
                        summary="路灯坏了", opened_at=now, due_at=now + dt.timedelta(days=10), sla_amount=10,
                        sla_unit="workday", owner_department="urban_construction", owner_user=responder)
            db.add(case)
            db.flush()
            case_id = case.id
        out = Message(direction=Direction.OUT, citizen_id=citizen.id, msg_type="text", content=content,
                      created_at=now, received_at=now, case_id=case_id, template_key="answer_streetlight",
                      template_version=2, responder=responder, delivery_status=delivery_status)
        db.add(out)
        db.commit()
        return Queued(out.id, openid, case_id)


def message_row(app: Flask, queued: Queued) -> Message:
    """The outbound row as stored now."""
    with services(app).sessions() as db:
        row = db.get(Message, queued.message_id)
        assert row is not None
        db.expunge(row)
        return row


@dataclasses.dataclass
class Delivery:
    """A clean app, a second app pointed at the fake WeChat API, and helpers to queue and run a worker."""

    backend: Backend
    app: Flask
    fake: FakeWeChat
    api_base: str

    def __post_init__(self) -> None:
        # Retries at once: a --burst worker runs them before it exits (it does not wait for scheduled ones).
        self.dapp = create_app(
            self.backend.config(
                WECHAT_API_BASE=self.api_base, WECHAT_APP_SECRET=SECRET, DELIVERY_RETRY_INTERVALS=[0, 0]
            )
        )

    def close(self) -> None:
        services(self.dapp).close()

    def env(self, **extra: str) -> dict[str, str]:
        env = self.backend.env(WECHAT_API_BASE=self.api_base, WECHAT_APP_SECRET=SECRET, LOG_LEVEL="INFO", **extra)
        env.pop("DELIVERY_RETRY_INTERVALS", None)
        return env

    def queue(self, content: str = ANSWER, **kw: Any) -> Queued:
        """A citizen who wrote 5 minutes ago, their case, and a queued answer to them (committed)."""
        return queue_answer(self.app, content, **kw)

    def enqueue(self, queued: Queued) -> str:
        job_id = jobs.enqueue_delivery(self.dapp, queued.message_id)
        assert job_id
        return job_id

    def work(self, **env: str) -> str:
        """Run ``python -m bot worker --burst`` until the queue is empty; its log."""
        done = subprocess.run([PYTHON, "-m", "bot", "worker", "--burst"], env=self.env(**env), cwd=ROOT,
                              capture_output=True, text=True, timeout=180)
        log = done.stdout + done.stderr
        assert done.returncode == 0, log
        return log

    def message(self, queued: Queued) -> Message:
        return message_row(self.app, queued)

    def case(self, queued: Queued) -> Case:
        with services(self.app).sessions() as db:
            row = db.get(Case, queued.case_id)
            assert row is not None
            db.expunge(row)
            return row

    def events(self, queued: Queued) -> list[tuple[str, str, str | None, str | None, str]]:
        with services(self.app).sessions() as db:
            rows = db.scalars(select(CaseEvent).where(CaseEvent.case_id == queued.case_id).order_by(CaseEvent.id))
            return [(e.action, e.actor, e.from_status, e.to_status, e.detail) for e in rows]


def _cleanup(app: Flask) -> None:
    # Case events reference cases: remove them so the next test's reset can remove the cases.
    with services(app).sessions() as db:
        db.execute(delete(CaseEvent))
        db.commit()
    svc = services(app)
    for key in svc.redis.scan_iter(f"rq:*{jobs.queue_name(app.config['REDIS_NAMESPACE'])}*", count=1000):
        svc.redis.delete(key)


@pytest.fixture
def fake() -> Iterator[FakeWeChat]:
    """The fake WeChat API on a free local port."""
    with FakeWeChat(APP_ID, SECRET) as server:
        yield server


@pytest.fixture
def delivery(clean_app: Flask, backend: Backend, fake: FakeWeChat) -> Iterator[Delivery]:
    """Queue messages and run workers against the fake, on ``backend``."""
    _cleanup(clean_app)
    helper = Delivery(backend, clean_app, fake, fake.url)
    yield helper
    helper.close()
    _cleanup(clean_app)


# -- delivery ------------------------------------------------------------------------------------


def test_a_queued_answer_is_sent_to_the_citizen_and_answers_the_case(delivery: Delivery) -> None:
    queued = delivery.queue()
    before = delivery.message(queued)
    assert before.delivery_status == "queued" and before.sent_at is None
    delivery.enqueue(queued)

    log = delivery.work()

    sent = delivery.fake.sent()
    assert [(s["touser"], s["msgtype"], s["content"]) for s in sent] == [(queued.openid, "text", ANSWER)]
    assert sent[0]["body"] == {"touser": queued.openid, "msgtype": "text", "text": {"content": ANSWER}}
    row = delivery.message(queued)
    assert row.delivery_status == "sent" and row.sent_at is not None and row.delivery_error is None
    case = delivery.case(queued)
    assert case.status is CaseStatus.ANSWERED and case.answered_at is not None
    assert delivery.events(queued) == [("answer_sent", "wu", "in_progress", "answered", "answer_streetlight@2")]
    # The worker's log names the citizen only masked.
    assert queued.openid not in log and f"{queued.openid[:4]}****{queued.openid[-4:]}" in log


def test_a_message_without_a_case_is_sent_and_rows_not_queued_are_left_alone(delivery: Delivery) -> None:
    plain = delivery.queue("您好，您的诉求已收到。", with_case=False)
    already_sent = delivery.queue(delivery_status="sent")
    already_failed = delivery.queue(delivery_status="failed")
    passive = delivery.queue(delivery_status=None)
    for q in (plain, already_sent, already_failed, passive):
        delivery.enqueue(q)

    delivery.work()

    assert [s["touser"] for s in delivery.fake.sent()] == [plain.openid]
    assert delivery.message(plain).delivery_status == "sent"
    assert delivery.message(already_sent).delivery_status == "sent"
    assert delivery.message(already_failed).delivery_status == "failed"
    assert delivery.message(passive).delivery_status is None
    for q in (already_sent, already_failed, passive):
        assert delivery.events(q) == []
        assert delivery.case(q).status is CaseStatus.IN_PROGRESS


def test_wechat_refusals_fail_with_what_to_do_and_a_case_event(delivery: Delivery) -> None:
    expected = {
        45015: "45015 超出48小时客服消息时限（或群众已取消关注）：请电话联系群众，或待其再次留言后发送",
        45047: "45047 本次互动的客服消息条数已用完（5条）：请待群众再次留言后发送，或电话联系",
        45002: "45002 消息内容过长：请选用更短的模板",
        40003: "40003 微信接口返回错误：invalid openid",
    }
    queued = {}
    for code in expected:
        q = delivery.queue(status=CaseStatus.ASSIGNED)
        delivery.fake.fail(errcode=code, openid=q.openid, times=5)
        queued[code] = q
        delivery.enqueue(q)
    ok = delivery.queue()  # another citizen in the same run is not affected
    delivery.enqueue(ok)

    delivery.work()

    assert [s["touser"] for s in delivery.fake.sent()] == [ok.openid]
    # One call each: a refusal is final, never retried.
    assert delivery.fake.state()["send_calls"] == len(expected) + 1
    for code, reason in expected.items():
        q = queued[code]
        row = delivery.message(q)
        assert (row.delivery_status, row.delivery_error, row.sent_at) == ("failed", reason, None), code
        case = delivery.case(q)
        assert case.status is CaseStatus.ASSIGNED and case.answered_at is None
        assert delivery.events(q) == [("answer_failed", "wu", "assigned", "assigned", reason)]
    assert delivery.message(ok).delivery_status == "sent"


def test_a_job_run_twice_sends_once(delivery: Delivery) -> None:
    queued = delivery.queue()
    delivery.enqueue(queued)
    delivery.enqueue(queued)  # a duplicate enqueue (a double click, a retried view)
    delivery.work()
    delivery.enqueue(queued)  # and once more after it was sent
    delivery.work()

    assert len(delivery.fake.sent()) == 1
    assert delivery.fake.state()["send_calls"] == 1
    assert delivery.message(queued).delivery_status == "sent"
    assert [e[0] for e in delivery.events(queued)] == ["answer_sent"]


def test_the_token_is_fetched_once_across_workers_and_a_refused_one_is_refreshed_once(delivery: Delivery) -> None:
    first = [delivery.queue() for _ in range(3)]
    for q in first:
        delivery.enqueue(q)
    delivery.work()
    second = [delivery.queue() for _ in range(2)]
    for q in second:
        delivery.enqueue(q)
    delivery.work()  # another worker process: it reuses the token from Redis
    state = delivery.fake.state()
    assert state["token_fetches"] == 1
    assert len(state["sent"]) == 5

    # WeChat expires the token (or someone else rotated it): 40001 once, one refresh, sent.
    assert delivery.fake.expire(40001) == 1
    after = [delivery.queue() for _ in range(2)]
    for q in after:
        delivery.enqueue(q)
    delivery.work()
    state = delivery.fake.state()
    assert state["token_fetches"] == 2
    assert [s["touser"] for s in state["sent"][5:]] == [q.openid for q in after]
    # 42001 (expired) the same way.
    delivery.fake.expire(42001)
    last = delivery.queue()
    delivery.enqueue(last)
    delivery.work()
    assert delivery.fake.state()["token_fetches"] == 3
    assert all(delivery.message(q).delivery_status == "sent" for q in [*first, *second, *after, last])


def test_http_errors_are_retried_then_fail_with_a_clear_reason(delivery: Delivery) -> None:
    flaky = delivery.queue()
    delivery.fake.fail(http_status=503, openid=flaky.openid, times=1)
    down = delivery.queue()
    delivery.fake.fail(http_status=502, openid=down.openid, times=10)
    delivery.enqueue(flaky)
    delivery.enqueue(down)

    delivery.work()

    assert [s["touser"] for s in delivery.fake.sent()] == [flaky.openid]
    assert delivery.message(flaky).delivery_status == "sent"
    assert [e[0] for e in delivery.events(flaky)] == ["answer_sent"]
    row = delivery.message(down)
    assert row.delivery_status == "failed"
    assert row.delivery_error == "微信接口暂时不可用（HTTP 502），已尝试3次仍未发出：请稍后重新发送，或电话联系群众"
    assert delivery.events(down) == [("answer_failed", "wu", "in_progress", "in_progress", row.delivery_error)]
    assert delivery.case(down).answered_at is None


def test_an_unreachable_api_is_retried_then_fails(clean_app: Flask, backend: Backend, fake: FakeWeChat) -> None:
    _cleanup(clean_app)
    nowhere = Delivery(backend, clean_app, fake, f"http://127.0.0.1:{_free_port()}")
    try:
        queued = nowhere.queue()
        nowhere.enqueue(queued)
        nowhere.work()
        row = nowhere.message(queued)
        assert row.delivery_status == "failed"
        assert row.delivery_error == (
            "网络错误，无法连接微信接口（ConnectionError），已尝试3次仍未发出：请稍后重新发送，或电话联系群众"
        )
        assert [e[0] for e in nowhere.events(queued)] == ["answer_failed"]
    finally:
        nowhere.close()
        _cleanup(clean_app)


def test_enqueue_without_redis_leaves_the_message_queued(delivery: Delivery) -> None:
    queued = delivery.queue()
    offline = create_app(delivery.backend.config(REDIS_URL=f"redis://127.0.0.1:{_free_port()}/0"))
    try:
        assert jobs.enqueue_delivery(offline, queued.message_id) is None
    finally:
        services(offline).close()
    assert delivery.message(queued).delivery_status == "queued"
    done = subprocess.run([PYTHON, "-m", "bot", "deliver-queued"], env=delivery.env(), cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "1 message(s) queued" in done.stdout, done.stderr
    delivery.work()
    assert [s["touser"] for s in delivery.fake.sent()] == [queued.openid]


# -- the token lock ------------------------------------------------------------------------------


def test_concurrent_clients_fetch_the_token_once(delivery: Delivery) -> None:
    """Eight clients (as eight workers) find no token at once: one fetches it, the others wait for it."""
    url = delivery.app.config["REDIS_URL"] or services(delivery.app).embedded_redis.url()  # type: ignore[union-attr]
    clients = []
    for _ in range(8):
        connection = redis.Redis.from_url(url)
        clients.append(SharedTokenClient(APP_ID, SECRET, api_base=delivery.fake.url, redis_client=connection,
                                         prefix=f"{delivery.app.config['REDIS_NAMESPACE']}:wechat"))
    barrier = threading.Barrier(len(clients))
    errors: list[BaseException] = []

    def send(client: SharedTokenClient, n: int) -> None:
        try:
            barrier.wait(10)
            client.send_text(f"oLock{n:024d}", f"消息{n}")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(c, n)) for n, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    state = delivery.fake.state()
    assert state["token_fetches"] == 1 and len(state["sent"]) == 8
    assert sum(c.fetches for c in clients) == 1
    for c in clients:
        c.redis.close()


# -- the fake itself -----------------------------------------------------------------------------


def test_the_fake_checks_credentials_token_and_body(fake: FakeWeChat) -> None:
    def token(**params: str) -> dict[str, Any]:
        base = {"grant_type": "client_credential", "appid": APP_ID, "secret": SECRET}
        return requests.get(f"{fake.url}/cgi-bin/token", params={**base, **params}, timeout=5).json()

    assert token(secret="wrong")["errcode"] == 40125
    assert token(appid="wx0000000000000000")["errcode"] == 40013
    first = token()
    assert set(first) == {"access_token", "expires_in"} and first["expires_in"] == 7200
    second = token()

    def send(access_token: str | None, body: Any) -> int:
        params = {"access_token": access_token} if access_token else {}
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        resp = requests.post(f"{fake.url}/cgi-bin/message/custom/send", params=params, data=data, timeout=5)
        return int(resp.json()["errcode"])

    good = {"touser": "oFake" + "x" * 23, "msgtype": "text", "text": {"content": "你好"}}
    assert send(None, good) == 41001
    assert send(first["access_token"], good) == 40001  # rotated by the second fetch
    assert send(second["access_token"], b"not json") == 47001
    assert send(second["access_token"], {"msgtype": "text", "text": {"content": "x"}}) == 40003
    assert send(second["access_token"], {**good, "text": {"content": "长" * 700}}) == 45002
    assert send(second["access_token"], good) == 0
    assert fake.sent()[0]["content"] == "你好"


# -- make run ------------------------------------------------------------------------------------


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_run_all_delivers_through_its_worker_and_fake_and_ctrl_c_leaves_nothing(
    app: Flask, backend: Backend, tmp_path: Path
) -> None:
    if backend.name != "sqlite":
        pytest.skip("make run's zero-configuration default: SQLite and the embedded Redis")
    port, fake_port, record = _free_port(), _free_port(), tmp_path / "sent.jsonl"
    env = backend.env(EMBEDDED_REDIS_DB=str(tmp_path / "run-redis.db"), LOG_LEVEL="INFO")
    for key in ("WECHAT_API_BASE", "WECHAT_APP_SECRET"):
        env.pop(key, None)
    log = tmp_path / "run-all.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [PYTHON, "-m", "bot", "run-all", "--port", str(port), "--fake-port", str(fake_port), "--workers", "1",
             "--record", str(record)],
            env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    registry = Path(str(tmp_path / "run-redis.db") + ".settings")
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if requests.get(f"http://127.0.0.1:{port}/console/login", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        assert requests.get(f"http://127.0.0.1:{fake_port}/_fake/sent", timeout=5).json()["sent"] == []

        # A queued answer, enqueued on the Redis that run-all started, reaches its fake through its worker.
        socket_file = json.loads(registry.read_text())["unixsocket"]
        tmp_app = create_app(backend.config(REDIS_URL=f"unix://{socket_file}"))
        queued = queue_answer(app)
        assert jobs.enqueue_delivery(tmp_app, queued.message_id)
        services(tmp_app).close()
        deadline = time.monotonic() + 30
        while not requests.get(f"http://127.0.0.1:{fake_port}/_fake/sent", timeout=5).json()["sent"]:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        sent = requests.get(f"http://127.0.0.1:{fake_port}/_fake/sent", timeout=5).json()["sent"]
        assert [(s["touser"], s["content"]) for s in sent] == [(queued.openid, ANSWER)]
        deadline = time.monotonic() + 10
        while message_row(app, queued).delivery_status != "sent":
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        assert record.exists() and queued.openid in record.read_text()

        # Ctrl-C: the terminal sends SIGINT to the whole foreground process group.
        family = _descendants(proc.pid)
        assert len(family) >= 3, family  # fake, worker, serve (and serve's workers)
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(45)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        _cleanup(app)
    text = log.read_text()
    assert proc.returncode == 0, text
    time.sleep(0.5)
    survivors = [pid for pid in family if _alive(pid)]
    assert survivors == [], text
    assert not registry.exists(), "the embedded redis run-all started was not stopped"
    for p in (port, fake_port):
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", p))


def _claimed(app: Flask, queued: Queued, ago: dt.timedelta | None) -> None:
    """The row as a worker that was killed mid-send left it: ``sending``, claimed ``ago``."""
    with services(app).sessions() as db:
        row = db.get(Message, queued.message_id)
        assert row is not None
        row.delivery_status = "sending"
        row.delivery_started_at = None if ago is None else utcnow() - ago
        db.commit()


def test_a_send_interrupted_for_good_is_reported_failed_not_repeated_and_a_running_one_is_left(
    delivery: Delivery,
) -> None:
    killed = delivery.queue()
    legacy = delivery.queue()  # claimed before the start time was kept
    running = delivery.queue()
    _claimed(delivery.app, killed, dt.timedelta(minutes=30))
    _claimed(delivery.app, legacy, None)
    _claimed(delivery.app, running, dt.timedelta(seconds=20))

    done = subprocess.run([PYTHON, "-m", "bot", "deliver-queued"], env=delivery.env(), cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr

    for q in (killed, legacy):
        row = delivery.message(q)
        assert row.delivery_status == "failed"
        assert row.delivery_error == jobs.INTERRUPTED and "无法确认群众是否已收到" in row.delivery_error
        # The case is not answered by a message nobody knows arrived, and its history says so.
        assert delivery.case(q).status == CaseStatus.IN_PROGRESS
        assert delivery.events(q) == [("answer_failed", "wu", "in_progress", "in_progress", jobs.INTERRUPTED)]
    assert delivery.message(running).delivery_status == "sending"
    assert delivery.events(running) == []
    assert delivery.fake.sent() == []  # nothing was sent again

    # A worker sweeps at start too; a row already failed stays as it is.
    delivery.work()
    assert delivery.message(killed).delivery_status == "failed"
    assert [e[0] for e in delivery.events(killed)] == ["answer_failed"]


def test_a_claim_records_when_the_send_began(delivery: Delivery) -> None:
    queued = delivery.queue()
    before = utcnow()
    delivery.enqueue(queued)
    delivery.work()
    row = delivery.message(queued)
    assert row.delivery_status == "sent"
    assert row.delivery_started_at is not None and before <= row.delivery_started_at <= row.sent_at


def test_an_answer_wechat_took_but_did_not_confirm_in_time_is_not_sent_twice(delivery: Delivery) -> None:
    slow = delivery.queue()
    # WeChat takes the message, then answers after the worker stopped waiting (WECHAT_API_TIMEOUT=1).
    delivery.fake.fail(delay=3, openid=slow.openid, times=1)
    delivery.enqueue(slow)

    delivery.work(WECHAT_API_TIMEOUT="1")

    assert [s["touser"] for s in delivery.fake.sent()] == [slow.openid]  # once, not once per retry
    row = delivery.message(slow)
    assert row.delivery_status == "failed" and row.delivery_error == jobs.UNCONFIRMED
    assert delivery.events(slow) == [("answer_failed", "wu", "in_progress", "in_progress", jobs.UNCONFIRMED)]
