"""`make outage`: N messages through `serve` while PostgreSQL, then Redis, go away and a worker is SIGKILLed.

    .venv/bin/python bench/outage.py [--messages 3000] [--senders 8] [--seconds 75] [--outage 10] [--retries 3]

1. A private PostgreSQL cluster and a private redis-server (bench/private_services.py: temp dirs, free
   loopback ports, so the machine's shared 5432 and 6379 are never touched); `python -m bot init-db`;
   `python -m bot serve --workers 4` in safe mode (WECHAT_MESSAGE_MODE=safe), spool in the temp dir.
2. Load: --senders threads send --messages encrypted pushes (bot/simulator.py), each with its own MsgId,
   paced evenly over --seconds. Like WeChat, a sender that gets no answer within 5 s, a broken
   connection or a 5xx sends the *same* push again (same query, nonce and body), up to --retries times.
   An answer is HTTP 200 with an encrypted reply that decrypts and verifies, or 'success'.
3. Meanwhile (seconds after the load starts): PostgreSQL stopped (`pg_ctl stop -m fast`) at 8 s and
   started again --outage s later; redis-server stopped at 30 s and started again --outage s later
   (it keeps no data: claims, published replies and conversation state are gone, as after a crash);
   at 52 s one gunicorn worker that is mid-request (its main thread running, or blocked anywhere but
   in select() on the listening socket: /proc/PID/stat and /proc/PID/wchan) is SIGKILLed
   (gunicorn starts another).
4. Afterwards: wait for the workers to drain the spool (they try every 2 s), then run
   `python -m bot drain-spool` as a check, and count inbound rows per MsgId in the database.

Table per phase (a message belongs to the phase in which it was first sent): sent, answered, stored,
duplicated (stored more than once), lost (answered but not stored), unanswered (every attempt failed:
WeChat would give up; stored or not, it is not a loss the citizen was told about), retries, 5xx,
answer latency p50/p99/max (of the attempt that got the answer, and from the first send).
Target: 0 lost, 0 duplicated. Exit 1 if any message was lost or duplicated, or on any 5xx.
Writes var/outage.json; the server log is /tmp/minsheng-outage-serve.log.
"""
from __future__ import annotations

import argparse
import http.client
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from urllib.parse import urlencode

import psutil

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)
sys.path.insert(0, ROOT)
import run as bench  # noqa: E402
from private_services import HOST, PrivatePostgres, PrivateRedis, percentile, server_env, tear_down  # noqa: E402

PYTHON = sys.executable
TOKEN = "outagetoken"
APP_ID = "wx1234567890abcdef"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
WECHAT_TIMEOUT_S = 5.0

TEXTS = ["你好", "小区门口路灯坏了三个月没人修", "社保断缴了怎么补缴", "谢谢", "楼上天天半夜装修，吵得睡不着",
         "居住证怎么办理", "我家楼下垃圾没人清理", "好的", "公积金怎么提取", "单位拖欠工资半年了，去哪里投诉？",
         "楼下着火了，浓烟都冒上来了", "在吗", "违章停车堵住消防通道", "孩子上学需要准备哪些材料"]


class Message:
    __slots__ = (
        "answer",
        "answered",
        "attempts",
        "body",
        "errors",
        "first_sent",
        "five_xx",
        "index",
        "latency_ms",
        "msg_id",
        "path",
        "status",
        "total_ms",
    )

    def __init__(self, index, msg_id, path, body):
        self.index, self.msg_id, self.path, self.body = index, msg_id, path, body
        self.first_sent = None
        self.attempts = 0
        self.answered = False
        self.answer = None  # "reply" | "success"
        self.status = None
        self.latency_ms = None
        self.total_ms = None
        self.errors = []
        self.five_xx = 0


def build_messages(n, sim):
    rng = random.Random()
    openids = ["oOutage" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(21))
               for _ in range(400)]
    base = (time.time_ns() // 1000) % 10**13 * 100
    out = []
    for i in range(n):
        openid = rng.choice(openids)
        msg_id = base + i
        req = sim.sign(sim.text_xml(rng.choice(TEXTS), openid, msg_id=msg_id), encrypt=True, openid=openid)
        out.append(Message(i, msg_id, "/wechat?" + urlencode(req.query), req.body))
    return out


def send_once(port, msg):
    conn = http.client.HTTPConnection(HOST, port, timeout=WECHAT_TIMEOUT_S)
    try:
        conn.request("POST", msg.path, body=msg.body, headers={"Content-Type": "text/xml"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def deliver(port, msg, sim, retries, t0):
    """One push as WeChat delivers it: the first attempt, then the same push again on no answer."""
    for _ in range(1 + retries):
        start = time.monotonic()
        if msg.first_sent is None:
            msg.first_sent = start - t0
        msg.attempts += 1
        try:
            status, body = send_once(port, msg)
        except (OSError, http.client.HTTPException) as e:  # timeout, refused, reset
            msg.errors.append(type(e).__name__)
            continue
        msg.status = status
        if status >= 500:
            msg.five_xx += 1
            msg.errors.append(f"HTTP {status}")
            continue
        text = body.decode("utf-8", "replace")
        if status == 200 and text.strip() in ("", "success"):
            msg.answer = "success"
        elif status == 200:
            try:
                sim.read_reply(text)
                msg.answer = "reply"
            except Exception as e:  # a reply WeChat cannot read is no answer
                msg.errors.append(f"bad reply: {type(e).__name__}")
                return
        else:
            msg.errors.append(f"HTTP {status}: {text[:80]}")
            return  # a 4xx is final: WeChat does not retry it
        now = time.monotonic()
        msg.answered = True
        msg.latency_ms = (now - start) * 1000.0
        msg.total_ms = (now - t0 - msg.first_sent) * 1000.0
        return


# Where an idle gunicorn sync worker's main thread sleeps: in select() on the listening socket.
IDLE_WCHANS = {"do_select", "core_sys_select", "poll_schedule_timeout", "poll_schedule_timeout.constprop.0",
               "ep_poll", "do_sys_poll", "do_epoll_wait"}


def _main_thread_busy(pid):
    """(busy, what) for a worker: running, or blocked anywhere but select() on the listener (mid-request)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        with open(f"/proc/{pid}/wchan") as f:
            wchan = f.read().strip()
    except OSError:
        return False, "gone"
    if state == "R":
        return True, "running"
    return wchan not in IDLE_WCHANS and wchan not in ("", "0"), f"blocked in {wchan}"


def find_busy_worker(master_pid, wait=5.0):
    """A gunicorn worker in the middle of a request (running, or waiting on the database/Redis/client),
    polled for up to ``wait`` s; else any worker."""
    deadline = time.time() + wait
    workers = []
    while time.time() < deadline:
        try:
            workers = [w.pid for w in psutil.Process(master_pid).children()]
        except psutil.Error:
            return None, "master gone"
        random.shuffle(workers)
        for pid in workers:
            busy, what = _main_thread_busy(pid)
            if busy:
                return pid, what
        time.sleep(0.001)
    return (workers[0] if workers else None), "idle (no busy worker seen)"


def spool_pending(path):
    if not os.path.exists(path):
        return 0, 0
    conn = sqlite3.connect(path, timeout=5)
    try:
        pending = conn.execute("SELECT count(*) FROM spool").fetchone()[0]
        refused = 0
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'refused'").fetchone():
            refused = conn.execute("SELECT count(*) FROM refused").fetchone()[0]
        return pending, refused
    finally:
        conn.close()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=3000)
    p.add_argument("--senders", type=int, default=8)
    p.add_argument("--seconds", type=float, default=75.0, help="spread the messages over this long")
    p.add_argument("--outage", type=float, default=10.0, help="seconds PostgreSQL and Redis stay down")
    p.add_argument("--retries", type=int, default=3, help="WeChat's retries of an unanswered push")
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--drain-wait", type=float, default=120.0)
    p.add_argument("--output", default=os.path.join(ROOT, "var", "outage.json"))
    args = p.parse_args(argv)

    from bot.simulator import Simulator

    signal.signal(signal.SIGTERM, bench._on_signal)
    tmp = tempfile.mkdtemp(prefix="minsheng-outage-")
    spool_path = os.path.join(tmp, "spool.db")
    pg = redis_srv = proc = None
    events = []  # (t, name)
    try:
        pg = PrivatePostgres()
        pg.start()
        pg.create_database()
        redis_srv = PrivateRedis()
        redis_srv.start()
        env = server_env(dict(os.environ), pg, redis_srv, tmp, "minsheng-outage", WECHAT_TOKEN=TOKEN,
                         WECHAT_APP_ID=APP_ID, WECHAT_ENCODING_AES_KEY=AES_KEY, LOG_LEVEL="WARNING")
        cp = subprocess.run([PYTHON, "-m", "bot", "init-db"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=180)
        if cp.returncode != 0:
            raise bench.BenchError(f"init-db failed: {(cp.stderr or cp.stdout)[-1500:]}")
        port = bench.free_port()
        log_path = os.path.join(tempfile.gettempdir(), "minsheng-outage-serve.log")
        cmd = [PYTHON, "-m", "bot", "serve", "--host", HOST, "--port", str(port), "--workers", str(args.workers)]
        proc = bench.start_server("outage", cmd, env, log_path)
        bench.wait_ready(proc, port, TOKEN, 60)
        print(f"private PostgreSQL on {pg.port}, private redis-server on {redis_srv.port}; serve --workers "
              f"{args.workers} on {port} (log {log_path})", flush=True)

        sim = Simulator(TOKEN, APP_ID, AES_KEY)
        messages = build_messages(args.messages, sim)
        # warm every worker (library cache, classifier) so the outage replies come from a warm cache
        for i in range(3 * args.workers):
            warm = sim.sign(sim.text_xml("你好", f"oOutageWarm{i:017d}"), encrypt=True)
            send_once(port, type("W", (), {"path": "/wechat?" + urlencode(warm.query), "body": warm.body})())
        print(f"sending {len(messages):,} messages over {args.seconds:.0f} s with {args.senders} senders "
              f"(WeChat-style retries: up to {args.retries} on no answer in 5 s / broken connection / 5xx)",
              flush=True)

        t0 = time.monotonic()
        interval = args.seconds / len(messages)
        lock = threading.Lock()
        cursor = [0]

        def sender():
            while True:
                with lock:
                    i = cursor[0]
                    cursor[0] += 1
                if i >= len(messages):
                    return
                due = t0 + i * interval
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                deliver(port, messages[i], sim, args.retries, t0)

        threads = [threading.Thread(target=sender, daemon=True) for _ in range(args.senders)]
        for t in threads:
            t.start()

        def at(t, name, fn):
            delay = t0 + t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            started = time.monotonic() - t0
            extra = fn()
            events.append((round(started, 2), name))
            print(f"  t={started:5.1f}s  {name}" + (f" ({extra})" if extra else ""), flush=True)

        at(8, "postgres stopped", lambda: pg.stop("fast"))
        at(8 + args.outage, "postgres started", lambda: pg.start())
        at(30, "redis stopped", lambda: redis_srv.stop())
        at(30 + args.outage, "redis started", lambda: redis_srv.start())
        kill_info = {}

        def kill():
            pid, what = find_busy_worker(proc.pid)
            if pid:
                os.kill(pid, signal.SIGKILL)
            kill_info.update(pid=pid, state=what)
            return f"pid {pid}, {what}"

        at(52, "worker SIGKILLed", kill)
        for t in threads:
            t.join()
        load_end = time.monotonic() - t0
        print(f"  t={load_end:5.1f}s  load finished", flush=True)

        # Drain: the workers do it every 2 s; wait for an empty spool, then drain-spool as a check.
        drain_started = time.monotonic()
        pending, refused = spool_pending(spool_path)
        while pending and time.monotonic() - drain_started < args.drain_wait:
            time.sleep(1)
            pending, refused = spool_pending(spool_path)
        drained_in = time.monotonic() - drain_started
        cp = subprocess.run([PYTHON, "-m", "bot", "drain-spool"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
        drain_cli = (cp.stdout + cp.stderr).strip().splitlines()[-1:] if (cp.stdout + cp.stderr).strip() else []
        pending_after, refused = spool_pending(spool_path)
        print(f"spool: {pending} waiting after {drained_in:.1f}s of the workers' draining; `drain-spool`: "
              f"{drain_cli[0] if drain_cli else cp.returncode}; {pending_after} left, {refused} refused", flush=True)

        # Count inbound rows per MsgId.
        from sqlalchemy import create_engine, func, select

        from models import Direction
        from models import Message as Row

        engine = create_engine(pg.url)
        ids = [m.msg_id for m in messages]
        stored = {}
        with engine.connect() as conn:
            for k in range(0, len(ids), 1000):
                chunk = ids[k:k + 1000]
                for msg_id, n in conn.execute(select(Row.wechat_msg_id, func.count()).where(
                        Row.direction == Direction.IN, Row.wechat_msg_id.in_(chunk)).group_by(Row.wechat_msg_id)):
                    stored[msg_id] = n
            inbound_total = conn.execute(select(func.count()).select_from(Row).where(
                Row.direction == Direction.IN)).scalar_one()
        engine.dispose()
        alive = proc.poll() is None
        worker_count = len(psutil.Process(proc.pid).children()) if alive else 0
    except bench.BenchError as e:
        print(f"outage NOT RUN: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        tear_down(bench.stop_server, proc, pg, redis_srv, tmp)

    # --- report ---------------------------------------------------------------------------------------
    names = ["start"] + [name for _, name in events]
    starts = [0.0] + [t for t, _ in events]

    def phase_of(m):
        k = 0
        for j, s in enumerate(starts):
            if m.first_sent is not None and m.first_sent >= s:
                k = j
        return names[k]

    rows = {name: [] for name in names}
    for m in messages:
        rows[phase_of(m)].append(m)
    rows["all"] = messages
    table = {}
    for name, ms in rows.items():
        answered = [m for m in ms if m.answered]
        lat = [m.latency_ms for m in answered]
        tot = [m.total_ms for m in answered]
        table[name] = {
            "sent": len(ms),
            "answered": len(answered),
            "answered_reply": sum(1 for m in answered if m.answer == "reply"),
            "answered_success": sum(1 for m in answered if m.answer == "success"),
            "stored": sum(1 for m in ms if stored.get(m.msg_id, 0) >= 1),
            "duplicated": sum(1 for m in ms if stored.get(m.msg_id, 0) > 1),
            "lost": sum(1 for m in answered if stored.get(m.msg_id, 0) == 0),
            "unanswered": len(ms) - len(answered),
            "unanswered_stored": sum(1 for m in ms if not m.answered and stored.get(m.msg_id, 0)),
            "retried": sum(1 for m in ms if m.attempts > 1),
            "retries": sum(m.attempts - 1 for m in ms),
            "five_xx": sum(m.five_xx for m in ms),
            "p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99), "max_ms": max(lat) if lat else None,
            "total_p99_ms": percentile(tot, 99), "total_max_ms": max(tot) if tot else None,
        }
    errors = {}
    for m in messages:
        for e in m.errors:
            errors[e.split(":")[0]] = errors.get(e.split(":")[0], 0) + 1
    lost = [m for m in messages if m.answered and stored.get(m.msg_id, 0) == 0]
    dups = [m for m in messages if stored.get(m.msg_id, 0) > 1]

    def f(v):
        return "-" if v is None else (f"{v:,.0f}" if isinstance(v, float) else f"{v:,}")

    cols = [("sent", "sent"), ("answered", "answered"), ("answered_success", "of which 'success'"),
            ("stored", "stored"), ("duplicated", "duplicated"), ("lost", "LOST"), ("unanswered", "unanswered"),
            ("retried", "retried msgs"), ("five_xx", "5xx"), ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"),
            ("max_ms", "max ms"), ("total_max_ms", "max from 1st send ms")]
    print()
    print("phase (by first send)".ljust(24) + "".join(label.rjust(max(9, len(label) + 2)) for _, label in cols))
    for name, row in table.items():
        print(f"{name} ({next((f't={t:.0f}s' for t, n in events if n == name), '')})".ljust(24)
              if name not in ("start", "all") else name.ljust(24), end="")
        print("".join(f(row[k]).rjust(max(9, len(label) + 2)) for k, label in cols))
    print()
    print(f"events: {events}; worker killed: {kill_info}; workers alive at the end: {worker_count}; "
          f"serve alive: {alive}")
    print(f"attempt errors (all attempts): {errors or 'none'}")
    print(f"inbound rows in the database: {inbound_total:,} (incl. {3 * args.workers} warm-up messages)")
    if lost:
        print(f"LOST (answered, never stored): {len(lost)}; first: "
              + "; ".join(f"#{m.index} MsgId {m.msg_id} answered {m.answer!r} after {m.attempts} attempt(s), "
                          f"errors {m.errors}, first sent t={m.first_sent:.2f}s" for m in lost[:5]))
    if dups:
        print(f"DUPLICATED: {len(dups)}; first MsgIds {[m.msg_id for m in dups[:5]]}")
    a = table["all"]
    ok = not lost and not dups and not a["five_xx"]
    print(f"outage: {'PASS' if ok else 'FAIL'}: {a['sent']:,} sent, {a['answered']:,} answered, "
          f"{a['stored']:,} stored, {a['duplicated']} duplicated, {a['lost']} lost, {a['unanswered']} unanswered, "
          f"{a['five_xx']} 5xx; answer p50 {f(a['p50_ms'])} ms, p99 {f(a['p99_ms'])} ms, max {f(a['max_ms'])} ms")
    doc = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "settings": vars(args), "events": events,
           "killed": kill_info, "table": table, "attempt_errors": errors, "spool_left": pending_after,
           "spool_refused": refused, "drain_wait_s": round(drained_in, 1), "drain_spool_cli": drain_cli,
           "lost": [{"index": m.index, "msg_id": m.msg_id, "answer": m.answer, "attempts": m.attempts,
                     "errors": m.errors, "first_sent": m.first_sent} for m in lost],
           "duplicated": [m.msg_id for m in dups]}
    bench.write_results(args.output, doc)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
