"""`make outage`: N messages through `serve` while PostgreSQL, then Redis, go away and a worker is SIGKILLed.

    .venv/bin/python bench/outage.py [--messages 3000] [--senders 8] [--seconds 75] [--outage 10] [--retries 3]
                                     [--resend-fraction 0.33] [--instances 1|2] [--workers 4]

1. A private PostgreSQL cluster and a private redis-server (bench/private_services.py: temp dirs, free
   loopback ports, so the machine's shared 5432 and 6379 are never touched); `python -m bot init-db`;
   `python -m bot serve --workers 4` in safe mode (WECHAT_MESSAGE_MODE=safe). With --instances 2, two
   `serve` processes on two ports share the one PostgreSQL and Redis, each with its own spool file (as
   two hosts behind a load balancer would); first deliveries alternate between them and every retry
   goes to the *other* instance.
2. Load: --senders threads send --messages encrypted pushes (bot/simulator.py), each with its own MsgId,
   paced evenly over --seconds. Every delivery is signed afresh, as WeChat does: the same MsgId and
   message XML, a new timestamp and nonce, a new msg_signature and a fresh encryption. WeChat's
   retries: a delivery that gets no answer within 5 s, a broken connection or a 5xx is delivered again,
   up to --retries times. On top of that, --resend-fraction of the messages get one deliberate duplicate,
   half of them *at once* (as soon as the first delivery's request is sent, while its answer is to come)
   and half *after the answer* (0.1-3 s after the first delivery was answered: WeChat sometimes resends
   after a slow answer). An answer is HTTP 200 with an encrypted reply that verifies, decrypts and is addressed to the
   sender, or 'success'.
3. Meanwhile (seconds after the load starts): PostgreSQL stopped (`pg_ctl stop -m fast`) at 8 s and
   started again --outage s later; redis-server stopped at 30 s and started again --outage s later
   (it keeps no data: claims, published replies and conversation state are gone, as after a crash);
   at 52 s one gunicorn worker of the first instance that is mid-request (its main thread running, or
   blocked anywhere but in select() on the listening socket: /proc/PID/stat and /proc/PID/wchan) is
   SIGKILLed (gunicorn starts another).
4. Afterwards: wait for the workers to drain the spools (they try every 2 s), run `python -m bot
   drain-spool` per instance as a check, count inbound rows per MsgId, stop the servers, then check:

   - lost: a message answered (any delivery) but not stored; duplicated: stored more than once;
   - identical replies: every delivery of one MsgId that was answered with a reply got the same
     reply (decrypted; the Content of a text reply, the whole message otherwise). The rule, from
     WECHAT.md ("a retry can arrive while the first request is still running ... let retries receive
     the same reply as the first delivery"): two different replies for one MsgId always fail; an
     answer 'success' next to a reply is allowed only for a delivery that arrived while an earlier
     delivery of the same MsgId was still in flight (that one is still working and answers it); any
     other 'success' next to a reply fails (WeChat may have kept the silent one). All deliveries
     answered 'success' is consistent (the product chose silence);
   - case numbers: unique in the database, at most one case per MsgId, and every number told to a
     citizen (any run of 13+ digits in a reply: the local date + the zero-padded id of the opening
     message, handlers/act.py) is in `python -m bot export cases` (which prints the number unmasked) and
     is the number of the case opened by that very message;
   - `python -m bot verify-log` exits 0, reports every chain ok and nothing left unsealed, after
     `python -m bot seal` has run enough times: the sealer seals up to a horizon taken at least
     cases.chain.SETTLE (30 s) earlier, so seal, wait SETTLE, seal again, until nothing is unsealed
     (at most --seal-rounds waits).

Table per phase (a message belongs to the phase in which it was first sent): sent, answered, stored,
duplicated, lost, unanswered (every delivery failed: WeChat would give up; not a loss the citizen was
told about), deliberate resends, mismatched replies, retries, 5xx, answer latency p50/p99/max (of the
first answered delivery, and from the first send). Then one verdict line per check; exit 1 if any fails
(or on any 5xx). Writes var/outage.json; server logs /tmp/minsheng-outage-serve.log (and -2.log).
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from urllib.parse import urlencode

import psutil
import xmltodict

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
NAMESPACE = "minsheng-outage"

TEXTS = ["你好", "小区门口路灯坏了三个月没人修", "社保断缴了怎么补缴", "谢谢", "楼上天天半夜装修，吵得睡不着",
         "居住证怎么办理", "我家楼下垃圾没人清理", "好的", "公积金怎么提取", "单位拖欠工资半年了，去哪里投诉？",
         "楼下着火了，浓烟都冒上来了", "在吗", "违章停车堵住消防通道", "孩子上学需要准备哪些材料"]

# A case number as the citizen reads it: the local date of acceptance (8 digits) + the opening message's
# id zero-padded to at least 5 digits (handlers/act.py, _open_case).
CASE_NUMBER = re.compile(r"(?<!\d)(\d{13,32})(?!\d)")
ANSWERED = ("reply", "success")


class Attempt:
    """One delivery of a message: where it went, when, and what came back."""

    __slots__ = ("end", "error", "instance", "kind", "outcome", "start", "status", "text")

    def __init__(self, kind, instance, start):
        self.kind, self.instance, self.start = kind, instance, start  # kind: first | retry | resend-now | -after
        self.end = None
        self.status = None
        self.outcome = None  # reply | success | error (no answer) | 5xx | bad | 4xx
        self.text = None  # the reply's text (decrypted) for outcome "reply"
        self.error = None

    def doc(self):
        return {k: (round(getattr(self, k), 3) if k in ("start", "end") and getattr(self, k) is not None
                    else getattr(self, k)) for k in self.__slots__}


class Message:
    """One citizen message: its XML (fixed: MsgId, CreateTime, content) and its deliveries."""

    __slots__ = ("attempts", "first_sent", "home", "index", "msg_id", "openid", "resend", "xml")

    def __init__(self, index, msg_id, openid, xml, home, resend):
        self.index, self.msg_id, self.openid, self.xml, self.home = index, msg_id, openid, xml, home
        self.resend = resend  # None | "now" | "after": the deliberate duplicate
        self.first_sent = None
        self.attempts = []

    @property
    def answers(self):
        return [a for a in self.attempts if a.outcome in ANSWERED]

    @property
    def answered(self):
        return bool(self.answers)

    def first_answer(self):
        answers = self.answers
        return min(answers, key=lambda a: a.end) if answers else None


def build_messages(n, sim, instances, resend_fraction, rng):
    openids = ["oOutage" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(21))
               for _ in range(400)]
    base = (time.time_ns() // 1000) % 10**13 * 100
    now = int(time.time())
    out = []
    for i in range(n):
        openid = rng.choice(openids)
        resend = None
        if rng.random() < resend_fraction:
            resend = "now" if rng.random() < 0.5 else "after"
        xml = sim.text_xml(rng.choice(TEXTS), openid, msg_id=base + i, create_time=now)
        out.append(Message(i, base + i, openid, xml, i % instances, resend))
    return out


def signed(sim, msg):
    """A fresh delivery of ``msg`` as WeChat makes one: same XML, new timestamp, nonce, signature, encryption."""
    req = sim.sign(msg.xml, encrypt=True, openid=msg.openid)
    return "/wechat?" + urlencode(req.query), req.body


def send_once(port, path, body, on_sent=None):
    conn = http.client.HTTPConnection(HOST, port, timeout=WECHAT_TIMEOUT_S)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "text/xml"})
        if on_sent is not None:
            on_sent()  # the request is on the wire; the answer is not back yet
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def read_reply(sim, body, openid):
    """The reply's comparable text: the Content of a text reply, the whole message (sans CreateTime) otherwise.

    Raises ValueError on a reply WeChat could not use (bad signature, undecryptable, addressed to someone else).
    """
    doc = xmltodict.parse(body)["xml"]
    if "Encrypt" not in doc:
        raise ValueError("plaintext reply to an encrypted push")
    if sim.crypto is None or not sim.crypto.check_msg(doc.get("MsgSignature"), doc["TimeStamp"], doc["Nonce"],
                                                      doc["Encrypt"]):
        raise ValueError("reply MsgSignature does not match")
    plain, _ = sim.crypto.decrypt(doc["Encrypt"])
    inner = xmltodict.parse(plain)["xml"]
    if inner.get("ToUserName") != openid:
        raise ValueError("reply addressed to another user")
    if inner.get("MsgType") == "text":
        return str(inner.get("Content") or "")
    inner.pop("CreateTime", None)
    return json.dumps(inner, ensure_ascii=False, sort_keys=True)


class Load:
    """Sends the messages as WeChat delivers them, to one or two instances."""

    def __init__(self, sim, ports, retries, t0, rng):
        self.sim, self.ports, self.retries, self.t0, self.rng = sim, ports, retries, t0, rng
        self.lock = threading.Lock()
        self.extra = []  # the deliberate duplicates' threads

    def other(self, msg, k=1):
        return (msg.home + k) % len(self.ports)

    def attempt(self, msg, kind, instance, on_sent=None):
        path, body = signed(self.sim, msg)
        a = Attempt(kind, instance, time.monotonic() - self.t0)
        with self.lock:
            if msg.first_sent is None:
                msg.first_sent = a.start
            msg.attempts.append(a)
        try:
            status, raw = send_once(self.ports[instance], path, body, on_sent)
        except (OSError, http.client.HTTPException) as e:  # timeout, refused, reset
            a.outcome, a.error = "error", type(e).__name__
        else:
            a.status = status
            text = raw.decode("utf-8", "replace")
            if status >= 500:
                a.outcome, a.error = "5xx", f"HTTP {status}"
            elif status != 200:
                a.outcome, a.error = "4xx", f"HTTP {status}: {text[:80]}"
            elif text.strip() in ("", "success"):
                a.outcome = "success"
            else:
                try:
                    a.text = read_reply(self.sim, text, msg.openid)
                    a.outcome = "reply"
                except Exception as e:  # a reply WeChat cannot read is no answer
                    a.outcome, a.error = "bad", f"bad reply: {type(e).__name__}: {e}"[:160]
        a.end = time.monotonic() - self.t0
        return a

    def _spawn(self, fn, delay=0.0, after=None):
        def run():
            if after is not None:
                after.wait(WECHAT_TIMEOUT_S)
            time.sleep(delay)
            fn()
        t = threading.Thread(target=run, daemon=True)
        with self.lock:
            self.extra.append(t)
        t.start()

    def deliver(self, msg):
        """The first delivery, WeChat's retries on no answer (each to the next instance), and the duplicate."""
        in_flight = threading.Event()
        if msg.resend == "now":
            # As soon as the first delivery's request has been sent, while its answer is still to come.
            self._spawn(lambda: self.attempt(msg, "resend-now", self.other(msg)), after=in_flight)
        for j in range(1 + self.retries):
            a = self.attempt(msg, "first" if j == 0 else "retry", self.other(msg, j),
                             on_sent=in_flight.set if j == 0 else None)
            in_flight.set()  # (also when the first delivery could not even be sent)
            if a.outcome in ANSWERED:
                if msg.resend == "after":
                    self._spawn(lambda: self.attempt(msg, "resend-after", self.other(msg)),
                                self.rng.uniform(0.1, 3.0))
                return
            if a.outcome in ("4xx", "bad"):
                return  # final: WeChat does not retry a 4xx, and a reply it cannot read ends the delivery

    def join(self):
        while True:
            with self.lock:
                pending = [t for t in self.extra if t.is_alive()]
            if not pending:
                return
            for t in pending:
                t.join()


# -- the checks (pure: tests/test_outage_checks.py) ---------------------------------------------------------


def overlapped(a, attempts):
    """True when ``a`` started while an earlier-started delivery of the same message was still in flight."""
    return any(b is not a and b.start < a.start and (b.end is None or b.end > a.start) for b in attempts)


def reply_mismatch(msg):
    """None when the message's answered deliveries agree (the rule in the module docstring), else why not."""
    answers = msg.answers
    texts = {a.text for a in answers if a.outcome == "reply"}
    if len(texts) > 1:
        return f"{len(texts)} different replies"
    if not texts:
        return None  # all silent (or unanswered)
    silent = [a for a in answers if a.outcome == "success" and not overlapped(a, msg.attempts)]
    if silent:
        return f"'success' on {', '.join(a.kind for a in silent)} where another delivery got a reply"
    return None


def told_numbers(messages):
    """{case number: set of MsgIds whose replies told it}."""
    told = {}
    for m in messages:
        for a in m.attempts:
            if a.outcome == "reply" and a.text:
                for number in CASE_NUMBER.findall(a.text):
                    told.setdefault(number, set()).add(m.msg_id)
    return told


def case_number_problems(told, exported, opened_by):
    """Problems with the numbers told: not in the export, or told for a message that did not open the case.

    ``exported``: the numbers `export cases` printed; ``opened_by``: {number: MsgId of its opening message}.
    """
    problems = []
    for number, msg_ids in sorted(told.items()):
        if number not in exported:
            problems.append(f"{number} told for MsgId {sorted(msg_ids)} is not in `export cases`")
        elif opened_by.get(number) not in msg_ids or len(msg_ids) > 1:
            problems.append(f"{number} told for MsgId {sorted(msg_ids)} but opened by MsgId {opened_by.get(number)}")
    return problems


def parse_verify_log(text):
    """{chain: (ok, checked, unsealed, line)} from `verify-log`'s output."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"(\w+): ok, (\d+) rows checked, (\d+) not sealed yet", line.strip())
        if m:
            out[m.group(1)] = (True, int(m.group(2)), int(m.group(3)), line.strip())
        elif ": BROKEN" in line:
            out[line.split(":", 1)[0].strip()] = (False, None, None, line.strip())
    return out


# -- the server side -----------------------------------------------------------------------------------------

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


def bot_cli(args, env, timeout=300, import_retries=6):
    """``python -m bot ARGS`` against the private services: (exit code, stdout, stderr).

    A command that fails to *import* (the package half-way through an edit in a shared working tree) is
    tried again every 30 s, at most ``import_retries`` times, and says so; any other failure is returned.
    """
    for attempt in range(import_retries + 1):
        cp = subprocess.run([PYTHON, "-m", "bot", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=timeout)
        tail = cp.stderr.strip().splitlines()[-1:] if cp.returncode else []
        if not tail or not re.match(r"(ImportError|ModuleNotFoundError|SyntaxError)\b", tail[0]) \
                or attempt == import_retries:
            return cp.returncode, cp.stdout, cp.stderr
        print(f"  `python -m bot {args[0]}` failed to import ({tail[0][:120]}); trying again in 30 s", flush=True)
        time.sleep(30)
    raise AssertionError("unreachable")


def last_line(out, err):
    lines = (out + err).strip().splitlines()
    return lines[-1] if lines else ""


def seal_and_verify(env, rounds, settle_s, unsealed_rows, between=None):
    """`seal`, then (wait SETTLE, `seal`, `verify-log`) until no row is unsealed or ``rounds`` waits are done.

    ``unsealed_rows()`` counts the rows without a link in the chained tables (verify-log gives no count for
    a chain it finds broken, and a break may be only at the end: sealing on shows whether it heals).
    ``between`` runs right after the first seal (the other checks use the wait). Returns a dict for the report.
    """
    log = []
    rc, out, err = bot_cli(["seal"], env)
    log.append(f"seal: {last_line(out, err)}" + (f" (exit {rc})" if rc else ""))
    sealed_at = time.monotonic()
    if between is not None:
        between()
    result = {"ok": False, "rounds": 0, "log": log, "chains": {}}
    for k in range(1, rounds + 1):
        time.sleep(max(0.0, sealed_at + settle_s + 1 - time.monotonic()))
        rc, out, err = bot_cli(["seal"], env)
        sealed_at = time.monotonic()
        log.append(f"seal: {last_line(out, err)}" + (f" (exit {rc})" if rc else ""))
        rc, out, err = bot_cli(["verify-log"], env)
        chains = parse_verify_log(out)
        log.append(f"verify-log (exit {rc}): " + " | ".join(v[3] for v in chains.values()) if chains
                   else f"verify-log (exit {rc}): {(out + err).strip()[-400:]}")
        if not chains:
            result.update(rounds=k, exit=rc, problem="verify-log did not run (see the log)")
            return result
        left = unsealed_rows()
        result.update(rounds=k, exit=rc, chains={n: list(v) for n, v in chains.items()}, unsealed_rows=left)
        if not left:
            result["ok"] = rc == 0 and all(v[0] for v in chains.values())
            return result
    result["problem"] = f"{result.get('unsealed_rows')} rows still unsealed"
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=3000)
    p.add_argument("--senders", type=int, default=8)
    p.add_argument("--seconds", type=float, default=75.0, help="spread the messages over this long")
    p.add_argument("--outage", type=float, default=10.0, help="seconds PostgreSQL and Redis stay down")
    p.add_argument("--retries", type=int, default=3, help="WeChat's retries of an unanswered push")
    p.add_argument("--resend-fraction", type=float, default=0.33,
                   help="messages that get a deliberate duplicate (half at once, half after the answer)")
    p.add_argument("--instances", type=int, choices=(1, 2), default=1,
                   help="serve processes sharing the database and Redis; retries go to the other one")
    p.add_argument("--workers", type=int, default=4, help="gunicorn workers per instance")
    p.add_argument("--drain-wait", type=float, default=120.0)
    p.add_argument("--seal-rounds", type=int, default=3, help="waits of SETTLE between seals, at most")
    p.add_argument("--seed", type=int, default=None, help="seed of the texts, citizens and duplicates")
    p.add_argument("--log-dir", default=tempfile.gettempdir(), help="where the serve logs go")
    p.add_argument("--output", default=os.path.join(ROOT, "var", "outage.json"))
    args = p.parse_args(argv)

    from bot.simulator import Simulator
    from cases.chain import CHAINS, SETTLE

    signal.signal(signal.SIGTERM, bench._on_signal)
    # The code under test (the working tree may carry edits beyond the commit).
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip() or "unknown"
    rng = random.Random(args.seed)
    tmp = tempfile.mkdtemp(prefix="minsheng-outage-")
    pg = redis_srv = None
    procs, envs, ports, logs = [], [], [], []
    events = []  # (t, name)
    checks = {}
    try:
        pg = PrivatePostgres()
        pg.start()
        pg.create_database()
        redis_srv = PrivateRedis()
        redis_srv.start()
        for k in range(args.instances):
            # One spool file per instance, as on two hosts (server_env puts it at tmp/spool.db).
            env = server_env(dict(os.environ), pg, redis_srv, tmp, NAMESPACE, WECHAT_TOKEN=TOKEN,
                             WECHAT_APP_ID=APP_ID, WECHAT_ENCODING_AES_KEY=AES_KEY, LOG_LEVEL="WARNING")
            if k:
                env["SPOOL_PATH"] = os.path.join(tmp, f"spool-{k + 1}.db")
            envs.append(env)
        rc, out, err = bot_cli(["init-db"], envs[0], timeout=180)
        if rc != 0:
            raise bench.BenchError(f"init-db failed: {(err or out)[-1500:]}")
        for k, env in enumerate(envs):
            port = bench.free_port()
            log_path = os.path.join(args.log_dir, "minsheng-outage-serve" + (f"-{k + 1}" if k else "") + ".log")
            cmd = [PYTHON, "-m", "bot", "serve", "--host", HOST, "--port", str(port), "--workers", str(args.workers)]
            procs.append(bench.start_server(f"outage-{k + 1}", cmd, env, log_path))
            ports.append(port)
            logs.append(log_path)
        for proc, port in zip(procs, ports, strict=True):
            bench.wait_ready(proc, port, TOKEN, 60)
        print(f"private PostgreSQL on {pg.port}, private redis-server on {redis_srv.port}; "
              + "; ".join(f"serve --workers {args.workers} on {port} (log {log})"
                          for port, log in zip(ports, logs, strict=True)), flush=True)

        sim = Simulator(TOKEN, APP_ID, AES_KEY)
        messages = build_messages(args.messages, sim, args.instances, args.resend_fraction, rng)
        # warm every worker (library cache, classifier) so the outage replies come from a warm cache
        for port in ports:
            for i in range(3 * args.workers):
                warm = sim.sign(sim.text_xml("你好", f"oOutageWarm{port:05d}{i:012d}"), encrypt=True)
                send_once(port, "/wechat?" + urlencode(warm.query), warm.body)
        resends = sum(1 for m in messages if m.resend)
        print(f"sending {len(messages):,} messages over {args.seconds:.0f} s with {args.senders} senders to "
              f"{args.instances} instance(s); every delivery signed and encrypted afresh; retries"
              f"{' (to the other instance)' if args.instances > 1 else ''} up to {args.retries} on no answer in "
              f"5 s / broken connection / 5xx; "
              f"{resends:,} deliberate duplicates (at once and after the answer)", flush=True)

        t0 = time.monotonic()
        load = Load(sim, ports, args.retries, t0, random.Random(rng.random()))
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
                delay = t0 + i * interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                load.deliver(messages[i])

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
            pid, what = find_busy_worker(procs[0].pid)
            if pid:
                os.kill(pid, signal.SIGKILL)
            kill_info.update(pid=pid, state=what, instance=1)
            return f"instance 1, pid {pid}, {what}"

        at(52, "worker SIGKILLed", kill)
        for t in threads:
            t.join()
        load.join()
        load_end = time.monotonic() - t0
        print(f"  t={load_end:5.1f}s  load finished", flush=True)

        # Drain: the workers do it every 2 s; wait for empty spools, then drain-spool as a check.
        spools = [env["SPOOL_PATH"] for env in envs]
        drain_started = time.monotonic()

        def pending_all():
            return [spool_pending(s) for s in spools]

        state = pending_all()
        while any(n for n, _ in state) and time.monotonic() - drain_started < args.drain_wait:
            time.sleep(1)
            state = pending_all()
        drained_in = time.monotonic() - drain_started
        drain_cli = []
        for env in envs:
            rc, out, err = bot_cli(["drain-spool"], env)
            drain_cli.append(last_line(out, err) or f"exit {rc}")
        after = pending_all()
        pending, pending_after, refused = (sum(n for n, _ in state), sum(n for n, _ in after),
                                           sum(r for _, r in after))
        print(f"spool: {pending} waiting after {drained_in:.1f}s of the workers' draining; `drain-spool`: "
              f"{' / '.join(drain_cli)}; {pending_after} left, {refused} refused", flush=True)

        # Count inbound rows per MsgId.
        from sqlalchemy import create_engine, func, select

        from models import Case, Direction
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
        alive = [proc.poll() is None for proc in procs]
        worker_count = [len(psutil.Process(proc.pid).children()) if ok else 0
                        for proc, ok in zip(procs, alive, strict=True)]

        # The servers stop (their sealers with them) before the chains are sealed and checked.
        for proc in procs:
            bench.stop_server(proc)
        told = told_numbers(messages)
        case_info = {}

        def case_checks():
            # `export cases` as staff would run it (it prints the number unmasked; it also writes an
            # audit row, which the next seal covers).
            path = os.path.join(tmp, "cases.jsonl")
            rc, out, err = bot_cli(["export", "cases", "--format", "jsonl", "--output", path], envs[0])
            exported = set()
            if rc == 0:
                with open(path, encoding="utf-8") as f:
                    exported = {json.loads(line)["number"] for line in f if line.strip()}
            with engine.connect() as conn:
                numbers = conn.execute(select(Case.number, func.count()).group_by(Case.number).having(
                    func.count() > 1)).all()
                opened = conn.execute(select(Case.number, Row.wechat_msg_id).join(
                    Row, Row.id == Case.opening_message_id)).all()
                db_cases = conn.execute(select(func.count()).select_from(Case)).scalar_one()
            per_msg = {}
            for number, msg_id in opened:
                per_msg.setdefault(msg_id, []).append(number)
            case_info.update(
                export_exit=rc, export_said=last_line(out, err), exported=exported, db_cases=db_cases,
                duplicate_numbers=[(n, c) for n, c in numbers],
                two_cases=[(k, v) for k, v in per_msg.items() if k is not None and len(v) > 1],
                opened_by={n: k for n, k in opened})

        def unsealed_rows():
            with engine.connect() as conn:
                return {c.name: n for c in CHAINS if (n := conn.execute(select(func.count()).select_from(
                    c.table).where(c.table.c.chain_hash.is_(None))).scalar_one())}

        chain = seal_and_verify(envs[0], args.seal_rounds, SETTLE.total_seconds(), unsealed_rows, between=case_checks)
        engine.dispose()
    except bench.BenchError as e:
        print(f"outage NOT RUN: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        for proc in procs:
            bench.stop_server(proc)
        tear_down(bench.stop_server, None, pg, redis_srv, tmp)

    # --- report ---------------------------------------------------------------------------------------
    names = ["start"] + [name for _, name in events]
    starts = [0.0] + [t for t, _ in events]

    def phase_of(m):
        k = 0
        for j, s in enumerate(starts):
            if m.first_sent is not None and m.first_sent >= s:
                k = j
        return names[k]

    mismatch = {m.msg_id: reply_mismatch(m) for m in messages}
    rows = {name: [] for name in names}
    for m in messages:
        rows[phase_of(m)].append(m)
    rows["all"] = messages
    table = {}
    for name, ms in rows.items():
        answered = [m for m in ms if m.answered]
        firsts = [(m, m.first_answer()) for m in answered]
        lat = [(a.end - a.start) * 1000.0 for _, a in firsts]
        tot = [(a.end - m.first_sent) * 1000.0 for m, a in firsts]
        attempts = [a for m in ms for a in m.attempts]
        table[name] = {
            "sent": len(ms),
            "answered": len(answered),
            "answered_success": sum(1 for m in answered if all(a.outcome == "success" for a in m.answers)),
            "stored": sum(1 for m in ms if stored.get(m.msg_id, 0) >= 1),
            "duplicated": sum(1 for m in ms if stored.get(m.msg_id, 0) > 1),
            "lost": sum(1 for m in answered if stored.get(m.msg_id, 0) == 0),
            "unanswered": len(ms) - len(answered),
            "unanswered_stored": sum(1 for m in ms if not m.answered and stored.get(m.msg_id, 0)),
            "resent": sum(1 for m in ms if m.resend),
            "mismatched": sum(1 for m in ms if mismatch[m.msg_id]),
            "retried": sum(1 for m in ms if any(a.kind == "retry" for a in m.attempts)),
            "retries": sum(1 for a in attempts if a.kind == "retry"),
            "five_xx": sum(1 for a in attempts if a.outcome == "5xx"),
            "p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99), "max_ms": max(lat) if lat else None,
            "total_p99_ms": percentile(tot, 99), "total_max_ms": max(tot) if tot else None,
        }
    errors = {}
    for m in messages:
        for a in m.attempts:
            if a.error:
                key = a.error.split(":")[0]
                errors[key] = errors.get(key, 0) + 1
    kinds = {}
    for m in messages:
        for a in m.attempts:
            row = kinds.setdefault(a.kind, {"deliveries": 0, "reply": 0, "success": 0, "no answer": 0,
                                            "in flight beside another": 0})
            row["deliveries"] += 1
            row[a.outcome if a.outcome in ANSWERED else "no answer"] += 1
            row["in flight beside another"] += overlapped(a, m.attempts)
    lost = [m for m in messages if m.answered and stored.get(m.msg_id, 0) == 0]
    dups = [m for m in messages if stored.get(m.msg_id, 0) > 1]
    mismatched = [m for m in messages if mismatch[m.msg_id]]
    tolerated = sum(1 for m in messages if not mismatch[m.msg_id] and any(a.outcome == "reply" for a in m.answers)
                    and any(a.outcome == "success" for a in m.answers))

    def f(v):
        return "-" if v is None else (f"{v:,.0f}" if isinstance(v, float) else f"{v:,}")

    cols = [("sent", "sent"), ("answered", "answered"), ("answered_success", "of which silent"),
            ("stored", "stored"), ("duplicated", "duplicated"), ("lost", "LOST"), ("unanswered", "unanswered"),
            ("resent", "resent"), ("mismatched", "MISMATCHED"), ("retried", "retried msgs"), ("five_xx", "5xx"),
            ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"), ("max_ms", "max ms"), ("total_max_ms", "max from 1st send ms")]
    print()
    print("phase (by first send)".ljust(24) + "".join(label.rjust(max(9, len(label) + 2)) for _, label in cols))
    for name, row in table.items():
        print(f"{name} ({next((f't={t:.0f}s' for t, n in events if n == name), '')})".ljust(24)
              if name not in ("start", "all") else name.ljust(24), end="")
        print("".join(f(row[k]).rjust(max(9, len(label) + 2)) for k, label in cols))
    print()
    print("deliveries by kind: " + "; ".join(
        f"{k}: {v['deliveries']:,} ({v['reply']:,} reply, {v['success']:,} 'success', {v['no answer']:,} no answer, "
        f"{v['in flight beside another']:,} sent while another delivery was in flight)" for k, v in kinds.items()))
    print(f"events: {events}; worker killed: {kill_info}; workers alive at the end: {worker_count}; "
          f"serve alive: {alive}")
    print(f"delivery errors: {errors or 'none'}")
    print(f"inbound rows in the database: {inbound_total:,} (incl. {3 * args.workers * args.instances} warm-up)")
    for m in lost[:5]:
        print(f"  LOST #{m.index} MsgId {m.msg_id}: " + "; ".join(
            f"{a.kind}@{a.instance + 1} t={a.start:.2f}-{a.end:.2f} {a.outcome} {a.error or ''}" for a in m.attempts))
    if dups:
        print(f"  DUPLICATED: first MsgIds {[m.msg_id for m in dups[:5]]}")
    for m in mismatched[:8]:
        print(f"  MISMATCH MsgId {m.msg_id} ({mismatch[m.msg_id]}): " + "; ".join(
            f"{a.kind}@{a.instance + 1} t={a.start:.2f}-{a.end:.2f} {a.outcome}"
            + (f" {a.text[:60]!r}" if a.text else "") for a in m.attempts))

    problems = case_number_problems(told, case_info.get("exported", set()), case_info.get("opened_by", {}))
    a = table["all"]
    checks["stored exactly once"] = (not lost and not dups,
                                     f"{a['sent']:,} sent, {a['answered']:,} answered, {a['stored']:,} stored, "
                                     f"{len(lost)} lost, {len(dups)} duplicated, {a['unanswered']} unanswered")
    checks["identical replies"] = (not mismatched,
                                   f"{len(mismatched)} MsgIds with mismatched replies; {tolerated} with a 'success' "
                                   f"on a delivery sent while another was in flight (allowed)")
    checks["no 5xx"] = (not a["five_xx"], f"{a['five_xx']} 5xx")
    checks["unique case numbers"] = (
        not case_info.get("duplicate_numbers") and not case_info.get("two_cases") and "db_cases" in case_info,
        f"{case_info.get('db_cases', '?')} cases; {len(case_info.get('duplicate_numbers', []))} numbers used twice; "
        f"{len(case_info.get('two_cases', []))} MsgIds with two cases")
    checks["told numbers exported"] = (
        case_info.get("export_exit") == 0 and not problems,
        f"{len(told)} numbers told in replies; `export cases` exit {case_info.get('export_exit')} "
        f"({case_info.get('export_said', '')}), {len(case_info.get('exported', ()))} numbers; "
        f"{len(problems)} problems" + (f": {'; '.join(problems[:3])}" if problems else ""))
    chain_lines = [f"{n} ok, {v[1]} checked, {v[2]} unsealed" if v[0] else v[3]
                   for n, v in chain.get("chains", {}).items()]
    checks["verify-log"] = (chain["ok"], f"after {chain['rounds'] + 1} seals: " + "; ".join(chain_lines)
                            + (f" ({chain['problem']})" if chain.get("problem") else ""))
    print()
    for name, (ok, detail) in checks.items():
        print(f"check {name}: {'PASS' if ok else 'FAIL'}: {detail}")
    if not chain["ok"]:
        print("  " + "\n  ".join(chain["log"]))
    ok = all(v for v, _ in checks.values())
    print(f"outage ({args.instances} instance{'s' if args.instances > 1 else ''}): {'PASS' if ok else 'FAIL'}: "
          f"{a['sent']:,} sent, {a['answered']:,} answered, {a['duplicated']} duplicated, {a['lost']} lost, "
          f"{a['mismatched']} mismatched, {len(told)} case numbers told, verify-log "
          f"{'OK' if chain['ok'] else 'NOT OK'}; answer p50 {f(a['p50_ms'])} ms, p99 {f(a['p99_ms'])} ms, "
          f"max {f(a['max_ms'])} ms")

    def evidence(m):
        return {"index": m.index, "msg_id": m.msg_id, "resend": m.resend, "home": m.home + 1,
                "stored": stored.get(m.msg_id, 0), "why": mismatch[m.msg_id],
                "attempts": [x.doc() for x in m.attempts]}

    doc = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "commit": commit, "settings": vars(args), "events": events,
           "killed": kill_info, "table": table, "kinds": kinds, "attempt_errors": errors,
           "checks": {k: {"ok": v, "detail": d} for k, (v, d) in checks.items()},
           "spool_left": pending_after, "spool_refused": refused, "drain_wait_s": round(drained_in, 1),
           "drain_spool_cli": drain_cli, "chain": chain, "case_number_problems": problems,
           "duplicate_case_numbers": case_info.get("duplicate_numbers"), "two_cases": case_info.get("two_cases"),
           "lost": [evidence(m) for m in lost], "duplicated": [evidence(m) for m in dups],
           "mismatched": [evidence(m) for m in mismatched]}
    bench.write_results(args.output, doc)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
