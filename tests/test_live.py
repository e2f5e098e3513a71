"""A real ``python -m bot serve`` (gunicorn, 4 sync workers) on each backend, driven over HTTP.

What only a real server shows: duplicate deliveries racing across worker processes, many citizens
at once, the ``simulate`` command against it, and a clean stop (SIGTERM) that leaves no embedded
redis-server behind.
"""
from __future__ import annotations

import dataclasses
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
import requests
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import Engine

from bot.simulator import Request, Simulator
from bot.wechat.crypto import signature
from models import Case, Direction, Message
from tests.conftest import AES_KEY, APP_ID, ROOT, TOKEN, Backend

PYTHON = str(ROOT / ".venv" / "bin" / "python")
if not Path(PYTHON).exists():  # run from another environment: use the interpreter running the tests
    PYTHON = sys.executable

CASE_NUMBER = re.compile(r"受理编号[：:]\s*(\d+)")
EMBEDDED = re.compile(r"embedded redis at unix://(\S+)")
START_TIMEOUT = 40.0
STOP_TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _processes_mentioning(needle: str) -> list[int]:
    """PIDs of live (non-zombie) processes whose command line contains ``needle``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def _verify(base: str) -> requests.Response:
    ts, nonce = str(int(time.time())), "20240601"
    return requests.get(f"{base}/wechat", params={
        "signature": signature(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce, "echostr": "live-echo-42"},
        timeout=5)


@dataclasses.dataclass
class Live:
    """A running server and what the tests need to talk to it and to its database."""

    backend: Backend
    url: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str]
    engine: Engine

    @property
    def wechat_url(self) -> str:
        return f"{self.url}/wechat"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def embedded_socket(self) -> str | None:
        match = EMBEDDED.search(self.log_text())
        return match.group(1) if match else None


def _start(backend: Backend, tmp: Path, workers: int = 4, **settings: str) -> Live:
    """``init-db`` then ``serve --workers N``; returns once GET /wechat verification answers.

    ``settings`` override the backend's environment (e.g. a DATABASE_URL of the test's own).
    """
    # A redis.db of its own: another process of this test session (the in-process app of other
    # modules) may already run an embedded redis on backend.embedded_db, and serve would then
    # share that one instead of starting (and owning) its own.
    env = backend.env(EMBEDDED_REDIS_DB=str(tmp / "serve-redis.db"), LOG_LEVEL="INFO", **settings)
    init = subprocess.run([PYTHON, "-m", "bot", "init-db"], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert init.returncode == 0, init.stderr
    assert "database at revision" in init.stdout

    port = _free_port()
    log = tmp / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [PYTHON, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
            env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    server = Live(backend, base, port, proc, log, env, create_engine(env["DATABASE_URL"]))
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            server.engine.dispose()
            pytest.fail(f"serve exited with {proc.returncode} before answering:\n{server.log_text()}")
        try:
            resp = _verify(base)
            if resp.status_code == 200 and resp.text == "live-echo-42":
                return server
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            _stop(proc)
            server.engine.dispose()
            pytest.fail(f"serve did not answer GET /wechat within {START_TIMEOUT}s:\n{server.log_text()}")
        time.sleep(0.2)


def _accepts_connections(sock: str) -> bool:
    """Whether something listens on the Unix socket ``sock``."""
    with socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(1)
        try:
            conn.connect(sock)
        except OSError:
            return False
        return True


def _redis_answers(sock: str) -> bool:
    """Whether a Redis server answers PING on the Unix socket ``sock`` (no retries)."""
    client = redis.Redis(unix_socket_path=sock, socket_connect_timeout=1, socket_timeout=1,
                         retry=Retry(NoBackoff(), 0))
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _shutdown(server: Live, deadline: float | None = None) -> list[str]:
    """Stop ``server`` with SIGTERM; what went wrong, as a user would see it (empty when all is well).

    With ``deadline``, taking longer than that many seconds to exit is a problem too.
    """
    server.engine.dispose()
    sock = server.embedded_socket()
    stopped_in = _stop(server.proc)
    text = server.log_text()
    problems = []
    if stopped_in is None:
        problems.append(f"serve ignored SIGTERM for {STOP_TIMEOUT}s and had to be killed")
    elif server.proc.returncode != 0:
        problems.append(f"serve exited with status {server.proc.returncode} on SIGTERM")
    if not _port_is_free(server.port):
        problems.append(f"port {server.port} still taken after serve exited (a worker survived)")
    if server.backend.name == "sqlite":
        if sock is None:
            problems.append("serve did not log 'embedded redis at unix://...'")
        else:
            survivors = _processes_mentioning(sock)
            for pid in survivors:  # don't leak it into the rest of the session
                os.kill(pid, signal.SIGKILL)
            if survivors:
                problems.append(f"embedded redis-server on {sock} outlived serve (pids {survivors})")
            if _accepts_connections(sock):
                problems.append(f"embedded redis socket {sock} still accepts connections after serve exited")
    if deadline is not None and stopped_in is not None and stopped_in > deadline:
        problems.append(f"serve took {stopped_in:.1f}s to stop on SIGTERM (more than {deadline:.0f}s)")
    if problems:
        problems.append("log tail:\n" + text[-2500:])
    return problems


@pytest.fixture(scope="module")
def live(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """``init-db`` then ``serve --workers 4`` on ``backend``; stopped with SIGTERM at the end of the module.

    The teardown checks the stop: the process exits (status 0) within the graceful timeout, the port
    is free again, and (SQLite) the embedded redis-server serve started is gone.
    """
    server = _start(backend, tmp_path_factory.mktemp(f"live-{backend.name}"))
    try:
        yield server
    finally:
        problems = _shutdown(server)
        assert not problems, "\n".join(problems)


def _stop(proc: subprocess.Popen[bytes]) -> float | None:
    """SIGTERM, then SIGKILL (whole process group) after STOP_TIMEOUT; seconds it took, None if killed."""
    if proc.poll() is not None:
        return 0.0
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT)
        return time.monotonic() - start
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
        return None


# -- helpers --------------------------------------------------------------------------------------

def _sim(live: Live) -> Simulator:
    return Simulator(TOKEN, APP_ID, AES_KEY, live.wechat_url)


def _post(sim: Simulator, request: Request) -> tuple[int, str, str | None]:
    result = sim.post(request, timeout=20)
    return result.status, result.body, result.reply


def _msg_id() -> int:
    # Unique across runs and modules sharing the database.
    return int(time.time() * 1000) * 1000 + int.from_bytes(os.urandom(2), "big") % 1000


def _counts(engine: Engine, msg_id: int) -> tuple[int, int, int, list[str]]:
    """Inbound rows with this MsgId's dedup key, outbound replies to them, cases they opened (and numbers)."""
    with engine.connect() as conn:
        inbound_ids = conn.execute(
            select(Message.id).where(Message.dedup_key == f"m:{msg_id}", Message.direction == Direction.IN)
        ).scalars().all()
        by_msg_id = conn.execute(
            select(func.count()).select_from(Message).where(Message.wechat_msg_id == msg_id)
        ).scalar_one()
        outbound = conn.execute(
            select(func.count()).select_from(Message)
            .where(Message.in_reply_to_id.in_(inbound_ids), Message.direction == Direction.OUT)
        ).scalar_one() if inbound_ids else 0
        numbers = conn.execute(
            select(Case.number).where(Case.opening_message_id.in_(inbound_ids))
        ).scalars().all() if inbound_ids else []
    assert by_msg_id == len(inbound_ids), "a row carries the MsgId without its dedup key"
    return len(inbound_ids), int(outbound), len(numbers), list(numbers)


# -- tests ----------------------------------------------------------------------------------------

def test_live_url_verification_echoes_and_rejects_bad_signature(live: Live):
    good = _verify(live.url)
    assert good.status_code == 200 and good.text == "live-echo-42"
    ts = str(int(time.time()))
    bad = requests.get(live.wechat_url, params={"signature": "0" * 40, "timestamp": ts, "nonce": "1",
                                                "echostr": "x"}, timeout=5)
    assert bad.status_code == 403 and bad.text != "x"


def test_concurrent_duplicate_deliveries_store_once_and_all_get_the_same_reply(live: Live):
    sim = _sim(live)
    openid = "oLiveDup" + os.urandom(8).hex()
    msg_id = _msg_id()
    xml = sim.text_xml("建议在小区门口增设路灯", openid, msg_id=msg_id)
    push = sim.sign(xml, encrypt=True, openid=openid)

    threads = 12
    barrier = threading.Barrier(threads)

    def deliver(_: int) -> tuple[int, str, str | None]:
        barrier.wait(timeout=30)
        return _post(sim, push)

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(deliver, range(threads)))

    assert [status for status, _, _ in results] == [200] * threads, results
    replies = {reply for _, _, reply in results}
    assert len(replies) == 1, f"deliveries of one message got different replies: {replies}"
    (reply,) = replies
    assert reply is not None and CASE_NUMBER.search(reply), reply
    for _, body, _ in results:
        assert "<Encrypt>" in body and "受理" not in body  # answered in safe mode, like the request
    number = CASE_NUMBER.search(reply).group(1)  # type: ignore[union-attr]

    inbound, outbound, cases, numbers = _counts(live.engine, msg_id)
    assert (inbound, outbound, cases) == (1, 1, 1)
    assert numbers == [number]

    # The very same request again, afterwards: same answer, nothing new stored.
    status, _, again = _post(sim, push)
    assert status == 200 and again == reply
    assert _counts(live.engine, msg_id) == (1, 1, 1, [number])

    # WeChat's retry may carry a new timestamp, nonce and signature (and so a new ciphertext).
    retry = sim.sign(xml, encrypt=True, openid=openid, timestamp=int(time.time()) + 1, nonce="777000111")
    assert retry.query["signature"] != push.query["signature"] and retry.body != push.body
    status, _, retried = _post(sim, retry)
    assert status == 200 and retried == reply
    # ... and the same in plaintext mode (an account switching modes between deliveries).
    status, _, plain = _post(sim, sim.sign(xml, openid=openid, nonce="777000222"))
    assert status == 200 and plain == reply
    assert _counts(live.engine, msg_id) == (1, 1, 1, [number])


def test_many_citizens_at_once_each_message_stored_once_with_its_own_case(live: Live):
    sim = _sim(live)
    total, threads = 200, 16
    base = _msg_id() * 1000
    # Suggestions: filed in one turn (a complaint starts a guided intake), so each gets its number now.
    texts = ["建议在小区门口增设路灯", "建议在公园增加健身器材", "建议小区门口增加公交站点", "建议在路口安装红绿灯"]
    pushes: list[tuple[int, Request]] = []
    for i in range(total):
        msg_id = base + i
        openid = f"oLiveMany{i % 50:04d}" + "x" * 15
        xml = sim.text_xml(f"{texts[i % len(texts)]}（第{i}号）", openid, msg_id=msg_id)
        pushes.append((msg_id, sim.sign(xml, encrypt=i % 2 == 0, openid=openid)))

    barrier = threading.Barrier(threads)

    def deliver(item: tuple[int, Request]) -> tuple[int, int, str, str | None]:
        msg_id, push = item
        if msg_id - base < threads:
            barrier.wait(timeout=30)
        status, body, reply = _post(sim, push)
        return msg_id, status, body, reply

    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(deliver, pushes))
    elapsed = time.monotonic() - started

    failed = [(m, s, b[:200]) for m, s, b, r in results if s != 200 or not r or not CASE_NUMBER.search(r)]
    assert not failed, f"{len(failed)} of {total} got no case number, e.g. {failed[:3]}"
    for msg_id, _, body, _ in results:
        assert ("<Encrypt>" in body) == ((msg_id - base) % 2 == 0)
    numbers = [CASE_NUMBER.search(r).group(1) for _, _, _, r in results]  # type: ignore[union-attr,arg-type]
    assert len(set(numbers)) == total, "two messages were given the same case number"

    keys = [f"m:{base + i}" for i in range(total)]
    with live.engine.connect() as conn:
        rows = conn.execute(
            select(Message.dedup_key, func.count()).where(Message.dedup_key.in_(keys)).group_by(Message.dedup_key)
        ).all()
        stored_numbers = conn.execute(
            select(Case.number).join(Message, Message.id == Case.opening_message_id).where(Message.dedup_key.in_(keys))
        ).scalars().all()
        replies_out = conn.execute(
            select(func.count()).select_from(Message).where(
                Message.direction == Direction.OUT,
                Message.in_reply_to_id.in_(select(Message.id).where(Message.dedup_key.in_(keys)).scalar_subquery()),
            )
        ).scalar_one()
    assert len(rows) == total and all(n == 1 for _, n in rows)
    assert replies_out == total
    assert sorted(stored_numbers) == sorted(numbers)
    # 4 workers, 200 requests: far inside WeChat's 5 s per request; generous for slow CI machines.
    assert elapsed < 60, f"200 messages took {elapsed:.1f}s"


@pytest.mark.parametrize("encrypt", [True, False], ids=["safe-mode", "plaintext"])
def test_simulate_command_gets_a_case_number_from_the_running_server(live: Live, encrypt: bool):
    openid = "oLiveSim" + os.urandom(8).hex()
    args = [PYTHON, "-m", "bot", "simulate", "建议在小区门口增设路灯", "--url", live.wechat_url, "--openid", openid]
    if encrypt:
        args.append("--encrypt")
    done = subprocess.run(args, env=live.env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    match = CASE_NUMBER.search(done.stdout)
    assert match, done.stdout
    with live.engine.connect() as conn:
        stored = conn.execute(select(Case.number).where(Case.number == match.group(1))).scalars().all()
    assert stored == [match.group(1)]


def test_simulate_raw_shows_an_encrypted_body_in_safe_mode(live: Live):
    done = subprocess.run(
        [PYTHON, "-m", "bot", "simulate", "社保断缴了怎么补缴", "--encrypt", "--raw", "--url", live.wechat_url],
        env=live.env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "HTTP 200" in done.stdout
    assert "<Encrypt>" in done.stdout and "<MsgSignature>" in done.stdout


def _workers(master: int) -> list[int]:
    """The gunicorn workers of ``master`` (its children that are not a redis-server)."""
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except OSError:
        return []
    workers = []
    for pid in children:
        try:
            if b"redis-server" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                workers.append(int(pid))
        except OSError:
            continue
    return workers


def test_retiring_a_worker_keeps_the_servers_redis_running(backend: Backend, tmp_path: Path):
    """gunicorn retires workers (TTOU, reloads, timeouts): the Redis every worker shares must survive it."""
    server = _start(backend, tmp_path)
    problems: list[str] = []
    try:
        sock = server.embedded_socket()
        if backend.name == "sqlite":
            assert sock and _redis_answers(sock), server.log_text()
        deadline = time.monotonic() + 10
        while len(_workers(server.proc.pid)) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(_workers(server.proc.pid)) == 4
        os.kill(server.proc.pid, signal.SIGTTOU)  # one worker fewer, retired gracefully
        deadline = time.monotonic() + 20
        while len(_workers(server.proc.pid)) > 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(_workers(server.proc.pid)) == 3, "gunicorn did not retire a worker on SIGTTOU"

        sim = _sim(server)
        openid = "oLiveRetire" + os.urandom(8).hex()
        result = sim.send_text("建议在小区门口增设路灯", openid=openid, encrypt=True)
        assert result.status == 200 and result.reply and CASE_NUMBER.search(result.reply), result
        if sock is not None:
            assert _redis_answers(sock), "the embedded redis serve started died when one worker was retired"
        time.sleep(0.2)
        assert "redis unavailable" not in server.log_text(), server.log_text()[-2500:]
    finally:
        problems = _shutdown(server)
    assert not problems, "\n".join(problems)


def test_sigterm_stops_a_server_that_has_served_within_seconds(backend: Backend, tmp_path: Path):
    """Ctrl-C on ``make run`` or a deploy's restart: an idle server stops at once, taking its Redis along."""
    server = _start(backend, tmp_path)
    try:
        result = _sim(server).send_text("建议在公园增加健身器材", openid="oLiveStop" + os.urandom(8).hex())
        assert result.status == 200 and result.reply and CASE_NUMBER.search(result.reply), result
    finally:
        # Idle sync workers exit as soon as they are told to (graceful_timeout caps a stuck one at
        # 5 s); the margin is for a loaded 2-core CI machine. Before the fix this took 9–14 s.
        problems = _shutdown(server, deadline=8.0)
    assert not problems, "\n".join(problems)
