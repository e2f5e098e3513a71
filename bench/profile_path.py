"""Where a worker's CPU goes per message: the real WSGI app in-process, no gunicorn, no wrk.

    .venv/bin/python bench/profile_path.py [-n 3000] [--warmup 300] [--profile] [--top 40] [--sort tottime]

Builds the product's app (``create_app``) against PostgreSQL (database ``minsheng_bench_profile``, dropped,
recreated and ``init-db``'d on each run) and Redis (``redis://127.0.0.1:6379/0``, namespace
``minsheng-bench-profile``, only that namespace cleared), generates fresh signed safe-mode requests with
``bench/make_requests.py`` (the bench's mix: one new citizen per message), and calls the WSGI callable once per
request, one after the other. It prints this process's CPU per message (``time.process_time``, so waiting on
PostgreSQL and Redis is left out) and the wall time per message; with ``--profile`` it runs the measured
requests under cProfile and prints the top functions, and the cumulative time of the stages named in
``STAGES``. Every answer must be HTTP 200 with an ``<Encrypt>`` reply or ``success``; anything else stops the
run. Sequential, so it measures cost, not concurrency: the bench's wrk runs measure the rest.
"""
import argparse
import cProfile
import io
import os
import pstats
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)
sys.path.insert(0, ROOT)
import make_requests  # noqa: E402

DB = "minsheng_bench_profile"
PG_URL = f"postgresql+psycopg://root@127.0.0.1:5432/{DB}"
REDIS_URL = "redis://127.0.0.1:6379/0"
NAMESPACE = "minsheng-bench-profile"
PSQL = ["psql", "-h", "127.0.0.1", "-U", "root", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-q", "-c"]

# (label, file suffix, function name): cumulative time of these functions, per message.
STAGES = [
    ("whole request (endpoint __call__)", "bot/wechat/endpoint.py", "__call__"),
    ("edge.decode (signatures, AES, XML)", "bot/wechat/edge.py", "decode"),
    ("edge.encode (render + AES)", "bot/wechat/edge.py", "encode"),
    ("handle (claim → pipeline → settle)", "bot/wechat/endpoint.py", "handle"),
    ("deduper.claim (Redis Lua)", "handlers/dedupe.py", "claim"),
    ("pipeline.process", "handlers/pipeline.py", "process"),
    ("actor (classify, converse, act)", "handlers/act.py", "__call__"),
    ("classify", "handlers/classify.py", "classify"),
    ("responder (render + checks)", "handlers/respond.py", "__call__"),
    ("store.persist (the CTE)", "handlers/store.py", "persist"),
    ("store.release (pool return)", "handlers/store.py", "release"),
    ("pipeline.settle (publish)", "handlers/pipeline.py", "settle"),
    ("message_sessions() / close", "sqlalchemy/orm/session.py", "close"),
    ("logging (log.info)", "logging/__init__.py", "info"),
]


# (label, module, attribute path): wrapped with a CPU-time accumulator by --stages (cheaper than cProfile,
# which inflates pure-Python code several times more than C code, so its shares mislead).
TIMED = [
    ("query string parse", "bot.wechat.endpoint", "_query"),
    ("edge.decode: signatures, AES, XML", "bot.wechat.edge", "Edge.decode"),
    ("  of which AES decrypt", "bot.wechat.crypto", "MessageCrypto.decrypt"),
    ("  of which to_inbound (parse)", "bot.wechat.codec", "to_inbound"),
    ("deduper.claim (Redis Lua)", "handlers.dedupe", "Deduper.claim"),
    ("actor: classify, converse, act", "handlers.act", "Actor.__call__"),
    ("  of which classify", "handlers.act", "Actor._classify"),
    ("responder: render + reply checks", "handlers.respond", "Responder.__call__"),
    ("store.message_id (case id nextval)", "handlers.store", "PgStore.message_id"),
    ("store.persist (the CTE)", "handlers.store", "PgStore.persist"),
    ("store.release (pool return)", "handlers.store", "PgStore.release"),
    ("pipeline.settle (publish)", "handlers.pipeline", "Pipeline.settle"),
    ("edge.encode: render + AES", "bot.wechat.edge", "Edge.encode"),
    ("  of which AES encrypt", "bot.wechat.crypto", "MessageCrypto.encrypt"),
    ("  of which render_reply", "bot.wechat.codec", "render_reply"),
    ("whole handle()", "bot.wechat.endpoint", "handle"),
    ("whole request", "bot.wechat.endpoint", "WeChatEndpoint.__call__"),
]


def time_stages():
    """Wrap the TIMED functions; returns {label: [seconds, calls]}."""
    import functools
    import importlib

    totals = {}
    for label, module_name, path in TIMED:
        module = importlib.import_module(module_name)
        owner, name = module, path
        if "." in path:
            cls, name = path.split(".")
            owner = getattr(module, cls)
        original = getattr(owner, name)
        slot = totals.setdefault(label, [0.0, 0])

        def wrapped(*args, __original=original, __slot=slot, **kwargs):
            t0 = time.process_time()
            try:
                return __original(*args, **kwargs)
            finally:
                __slot[0] += time.process_time() - t0
                __slot[1] += 1

        functools.update_wrapper(wrapped, original)
        setattr(owner, name, wrapped)
        # Functions imported by name elsewhere (handle, _query, to_inbound) are looked up in their module.
    return totals


def prepare_db(env):
    for sql in (f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)", f"CREATE DATABASE {DB}"):
        subprocess.run([*PSQL, sql], check=True, capture_output=True, timeout=60)
    subprocess.run([sys.executable, "-m", "bot", "init-db"], cwd=ROOT, env=env, check=True, capture_output=True,
                   timeout=120)
    import redis

    r = redis.Redis.from_url(REDIS_URL)
    keys = list(r.scan_iter(match=NAMESPACE + ":*", count=1000))
    for i in range(0, len(keys), 1000):
        r.delete(*keys[i:i + 1000])


def load_requests(n):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "req.tsv")
        make_requests.generate(n, path, 1)
        with open(path, encoding="utf-8") as f:
            return [line.rstrip("\n").split("\t", 1) for line in f]


def call(app, query, body):
    data = body.encode("utf-8")
    status = []
    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/wechat", "QUERY_STRING": query, "CONTENT_LENGTH": str(len(data)),
        "CONTENT_TYPE": "text/xml", "wsgi.input": io.BytesIO(data), "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
        "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http", "SERVER_PROTOCOL": "HTTP/1.1",
    }
    out = b"".join(app(environ, lambda s, h, *a: status.append(s)))
    if not status[0].startswith("200") or not (b"<Encrypt>" in out or out == b"success"):
        raise SystemExit(f"unexpected answer {status[0]}: {out[:300]!r}")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", "--messages", type=int, default=3000)
    p.add_argument("--warmup", type=int, default=300)
    p.add_argument("--profile", action="store_true")
    p.add_argument("--top", type=int, default=40)
    p.add_argument("--sort", default="tottime")
    p.add_argument("--stages", action="store_true", help="CPU time of the TIMED functions")
    p.add_argument("--callers", nargs="*", default=[], help="print the callers of functions matching these")
    p.add_argument("--dump", help="write the raw profile here (pstats format)")
    p.add_argument("--repeat", type=int, default=1, help="measure this many batches of -n (fresh requests each)")
    a = p.parse_args(argv)

    token, app_id, aes_key = make_requests.wechat_settings()
    env = dict(os.environ, DATABASE_URL=PG_URL, REDIS_URL=REDIS_URL, REDIS_NAMESPACE=NAMESPACE, LOG_LEVEL="WARNING",
               WECHAT_TOKEN=token, WECHAT_APP_ID=app_id, WECHAT_ENCODING_AES_KEY=aes_key,
               WECHAT_MESSAGE_MODE="safe", WECHAT_API_BASE="http://127.0.0.1:9", SPOOL_DRAIN_SECONDS="0",
               CHAIN_SEAL_SECONDS="0", MEDIA_SWEEP_SECONDS="0")
    prepare_db(env)
    os.environ.update(env)

    totals = time_stages() if a.stages else None
    from bot import create_app
    from bot.services import services

    app = create_app()
    services(app).pipeline.actor.load_classifier()
    batches = [load_requests(a.warmup + a.messages)] + [load_requests(a.messages) for _ in range(a.repeat - 1)]
    for query, body in batches[0][:a.warmup]:
        call(app, query, body)
    batches[0] = batches[0][a.warmup:]

    # CPU time, not wall time: waiting on PostgreSQL and Redis is not the worker's CPU.
    profiler = cProfile.Profile(time.process_time) if a.profile else None
    results = []
    silent = 0
    for batch in batches:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        for query, body in batch:
            silent += call(app, query, body) == b"success"
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        results.append((cpu * 1000 / len(batch), wall * 1000 / len(batch)))
        print(f"{len(batch)} messages: {results[-1][0]:.3f} ms CPU/msg, {results[-1][1]:.3f} ms wall/msg"
              f"{' (profiled)' if profiler else ''}")
    print(f"silent ('success') answers: {silent}")
    if totals is not None:
        n = sum(len(b) for b in batches)
        print("\nstages (CPU ms per message, process_time around each call; includes the warm-up's calls):")
        for label, (seconds, calls) in totals.items():
            print(f"  {label:40s} {seconds * 1000 / (n + a.warmup):7.3f}   ({calls} calls)")
    if profiler is None:
        return
    n = sum(len(b) for b in batches)
    stats = pstats.Stats(profiler)
    print("\nstages (cumulative ms per message, profiled):")
    for label, suffix, name in STAGES:
        total = sum(v[3] for (f, _, fn), v in stats.stats.items() if f.endswith(suffix) and fn == name)
        print(f"  {label:42s} {total * 1000 / n:7.3f}")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(a.sort).print_stats(a.top)
    print(out.getvalue())
    if a.callers:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).print_callers(*a.callers)
        print(out.getvalue())
    if a.dump:
        profiler.dump_stats(a.dump)


if __name__ == "__main__":
    main()
