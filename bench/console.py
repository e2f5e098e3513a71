"""`make bench-console`: latency of the console's busiest pages on a PostgreSQL database seeded with seed-demo.

    .venv/bin/python bench/console.py [--db minsheng_console_bench] [--messages 1000000] [--requests 50]
                                      [--workers 2] [--reseed]

1. Makes sure the database exists, is migrated (`python -m bot init-db`) and holds at least --messages
   messages; if it holds fewer, `python -m bot seed-demo` adds the difference (and the load time is printed).
   An already seeded database is reused as it is: pass the same --db to skip seeding.
2. Creates a supervisor account (no department: sees everything) if missing.
3. Starts `python -m bot serve` on a free loopback port, signs in through the login form.
4. For each page: 3 warm-up requests, then --requests sequential requests; prints p50/p95/max in ms with the
   target. The dashboard is measured twice: the default range (its figures are cached in Redis for 60 s,
   as the page says), and a distinct range on every request (every request computes them afresh).

It prints figures; it is not a test (exit 1 only if something could not be measured at all).
"""
import argparse
import datetime as dt
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time

import requests
from sqlalchemy import create_engine, text

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
PYTHON = sys.executable
HOST = "127.0.0.1"
PG_ADMIN = "postgresql+psycopg://root@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"
NAMESPACE = "minsheng-console-bench"
USER, PASSWORD = "bench_supervisor", "bench-console-password"
LOG = "/tmp/minsheng-bench-console.log"
TARGETS = {"list": 200.0, "dashboard": 500.0}


def pg_url(db):
    return f"postgresql+psycopg://root@127.0.0.1:5432/{db}"


def env_for(db):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DATABASE_URL=pg_url(db), REDIS_URL=REDIS_URL, REDIS_NAMESPACE=NAMESPACE, MINSHENG_ENV="development",
               WECHAT_API_BASE="http://127.0.0.1:9")
    return env


def run(cmd, env, stdin=None):
    result = subprocess.run([PYTHON, "-m", "bot", *cmd], cwd=ROOT, env=env, input=stdin, text=True,
                            capture_output=True)
    if result.returncode != 0:
        sys.exit(f"bench-console: {' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout + result.stderr


def prepare(db, messages, reseed):
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if reseed:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": db}).first() is None:
            conn.execute(text(f'CREATE DATABASE "{db}"'))
    admin.dispose()
    env = env_for(db)
    run(["init-db"], env)
    engine = create_engine(pg_url(db))
    with engine.connect() as conn:
        have = conn.execute(text("SELECT count(*) FROM messages")).scalar_one()
    load = None
    if have < messages:
        print(f"seeding {messages - have} messages into {db} (it holds {have}) …", flush=True)
        started = time.monotonic()
        seeded = run(["seed-demo", "--messages", str(messages - have), "--yes", "--seed", "7"], env)
        print(seeded.strip().splitlines()[-1])
        load = time.monotonic() - started
    with engine.connect() as conn:
        sizes = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                 for t in ("messages", "cases", "citizens", "case_events")}
        number = conn.execute(text("SELECT number FROM cases ORDER BY id DESC OFFSET 5000 LIMIT 1")).scalar_one()
        if conn.execute(text("SELECT 1 FROM users WHERE username = :u"), {"u": USER}).first() is None:
            run(["create-user", "--username", USER, "--role", "supervisor"], env, stdin=PASSWORD + "\n")
    campaign = bench_campaign(engine)
    engine.dispose()
    return env, sizes, number, load, campaign


def bench_campaign(engine):
    """A campaign whose opinions are every tenth inbound message (100,000 of a 1M-message database), its themes
    grouped once by the CLI; reused when present."""
    with engine.begin() as conn:
        found = conn.execute(text("SELECT id FROM campaigns WHERE title = 'bench campaign'")).scalar()
        if found is not None:
            return found
        now = dt.datetime.now(dt.UTC)
        found = conn.execute(text(
            "INSERT INTO campaigns (title, questions, join_keyword, starts_at, ends_at, intro_key, thanks_key, "
            "status, created_by, created_at, updated_at) VALUES ('bench campaign', '您对社区治理有什么建议？', "
            "'benchjoin', :start, :end, 'default', 'default', 'closed', 'bench', :now, :now) RETURNING id"),
            {"start": now - dt.timedelta(days=90), "end": now, "now": now}).scalar_one()
        conn.execute(text("UPDATE messages SET campaign_id = :c WHERE direction = 'in' AND id % 10 = 0"), {"c": found})
    return found


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start(env, workers):
    port = free_port()
    log = open(LOG, "wb")
    proc = subprocess.Popen([PYTHON, "-m", "bot", "serve", "--host", HOST, "--port", str(port), "--workers",
                             str(workers)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    base = f"http://{HOST}:{port}"
    for _ in range(150):
        if proc.poll() is not None:
            sys.exit(f"bench-console: the server exited ({proc.returncode}); see {LOG}")
        try:
            if requests.get(base + "/console/login", timeout=1).status_code == 200:
                return proc, base
        except requests.RequestException:
            pass
        time.sleep(0.2)
    stop(proc)
    sys.exit(f"bench-console: the server did not answer; see {LOG}")


def stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)  # our own process group (start_new_session)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def sign_in(base):
    session = requests.Session()
    page = session.get(base + "/console/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    resp = session.post(base + "/console/login", data={"username": USER, "password": PASSWORD, "csrf_token": token},
                        allow_redirects=False)
    if resp.status_code != 302:
        sys.exit(f"bench-console: sign-in failed ({resp.status_code})")
    return session


def measure(session, base, paths, n):
    """Latencies (ms) of n sequential GETs; ``paths`` is a path or a function of the request number."""
    get_path = paths if callable(paths) else (lambda i: paths)
    for i in range(3):
        session.get(base + get_path(-1 - i)).raise_for_status()
    times = []
    for i in range(n):
        started = time.perf_counter()
        resp = session.get(base + get_path(i))
        times.append((time.perf_counter() - started) * 1000)
        resp.raise_for_status()
    return times


def pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="minsheng_console_bench", help="PostgreSQL database (reused if seeded)")
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reseed", action="store_true", help="drop and reseed the database first")
    args = parser.parse_args()
    env, sizes, number, load, campaign = prepare(args.db, args.messages, args.reseed)
    with create_engine(pg_url(args.db)).connect() as conn:
        of = {"c": campaign}
        opinions = conn.execute(text("SELECT count(*) FROM messages WHERE campaign_id = :c"), of).scalar()
        themed = conn.execute(text("SELECT count(*) FROM campaign_themes WHERE campaign_id = :c"), of).scalar()
    if not themed:
        started = time.monotonic()
        run(["campaign", "cluster", "--id", str(campaign), "--jobs", "2"], env)
        print(f"campaign {campaign}: {opinions} opinions grouped into themes in {time.monotonic() - started:.1f} s")
    print(f"database {args.db}: " + ", ".join(f"{v} {k}" for k, v in sizes.items())
          + (f"; seeded in {load:.0f} s" if load is not None else "; reused (already seeded)"))
    proc, base = start(env, args.workers)
    try:
        session = sign_in(base)
        today = dt.date.today()

        def cold_dashboard(i):
            # A range nobody asked for yet: the figures are computed, not read from the cache.
            end = today - dt.timedelta(days=i + 4)  # warm-ups (i < 0) end 1–3 days ago, measured ones earlier
            return f"/console/dashboard?from={end - dt.timedelta(days=29)}&to={end}"

        pages = [
            ("case list (open, default view)", "/console/cases", "list"),
            ("case list: department + overdue", "/console/cases?department=environment&overdue=1", "list"),
            ("case list: number search (all)", f"/console/cases?q={number}&view=all", "list"),
            ("conversations: intent + department", "/console/conversations?intent=complaint&department=transport",
             "list"),
            ("inbox (open threads, default)", "/console/conversations", "list"),
            ("inbox: unassigned tab", "/console/conversations?assignee=none", "list"),
            ("dashboard, 30 days (cached 60 s)", "/console/dashboard", "dashboard"),
            ("dashboard, 30 days, uncached", cold_dashboard, "dashboard"),
            (f"campaign page ({opinions} opinions)", f"/console/campaigns/{campaign}", "dashboard"),
            ("rising-issue incidents", "/console/opinion", "list"),
            ("wall screen", "/console/screen", "dashboard"),
        ]
        print(f"\n{args.requests} sequential requests per page, {args.workers} gunicorn workers, signed in as a "
              "supervisor (all departments)\n")
        print(f"{'page':38} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'target':>8}  ")
        for name, path, kind in pages:
            times = measure(session, base, path, args.requests)
            p50, p95 = statistics.median(times), pct(times, 95)
            target = TARGETS[kind]
            verdict = "ok" if p95 <= target else "MISSED"
            print(f"{name:38} {p50:8.1f} {p95:8.1f} {max(times):8.1f} {'≤' + str(int(target)):>8}  {verdict}")
    finally:
        stop(proc)


if __name__ == "__main__":
    main()
