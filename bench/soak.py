"""`make soak`: a long run at 70% of the measured maximum throughput; memory must stay flat, no errors.

    .venv/bin/python bench/soak.py [--duration 600] [--fraction 0.7] [--max-duration 15] [--workers 4]

1. A private PostgreSQL cluster and a private redis-server (bench/private_services.py: temp dirs, free
   loopback ports; the machine's shared ones are never touched), `python -m bot init-db`, then
   `python -m bot serve --workers 4` in safe mode (WECHAT_MESSAGE_MODE=safe, encrypted pushes).
2. Maximum: wrk, closed loop (bench/wrk_requests.lua, 32 connections, --max-duration s) over a fresh
   pool of unique signed requests, as `make bench` does. Rate = fraction x that maximum.
3. Warm-up: one minute (--warmup) at the soak rate. Its errors count like the soak's; its memory is reported
   on its own line, not compared. The workers' RSS rises in their first minute of steady traffic (2026-11-28:
   +26 MB, then +1 MB per 10 minutes) as bounded caches (normalised texts, n-gram tables, the allocator's
   arenas) fill: a 10-minute window that begins cold reads that filling as growth, and a leak would still
   show after it, in the slope and in first-vs-last minute.
4. Soak: wrk paced to that rate (bench/wrk_paced.lua: a schedule per wrk thread, delay() waits for
   the next slot; wrk2 is not packaged), 32 connections, 5 s timeout (WeChat's), in one-minute
   segments: each segment's unique requests are generated (signed with a fresh timestamp, so the run
   outlasts the 300 s signature window) while the previous segment runs. An error is any reply that
   is not HTTP 200 with encrypted XML or 'success' (the pipeline's deliberate silence, e.g. for "好的";
   counted separately), or a socket error or timeout.
5. Every 10 s (a sampling thread): RSS of the gunicorn master + workers, of the private redis-server and of the private
   PostgreSQL's processes; latency p50/p99 per minute.

Prints a table: RSS first minute vs last minute, slope (least squares, MB per 10 min after the first
minute), errors, latency over time. Writes var/soak.json. Exit 1 if the soak could not run, or if
there were errors (the target: zero), or if the server's RSS grew by more than --max-growth-mb.
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import psutil

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)
import make_requests  # noqa: E402
import run as bench  # noqa: E402
from private_services import HOST, PrivatePostgres, PrivateRedis, server_env, tear_down  # noqa: E402

PYTHON = sys.executable


def rss_mb(pids):
    total = 0
    for pid in pids:
        try:
            total += psutil.Process(pid).memory_info().rss
        except psutil.Error:
            pass
    return total / 1048576.0


def tree(pid):
    try:
        p = psutil.Process(pid)
        return [pid] + [c.pid for c in p.children(recursive=True)]
    except psutil.Error:
        return []


def pg_pids(pg):
    root = pg.postmaster_pid()
    return tree(root) if root else []


# --- the paced load: wrk + bench/wrk_paced.lua, one segment per minute ----------------------------

PACED_LUA = os.path.join(BENCH, "wrk_paced.lua")


def run_paced(port, path, threads, connections, seconds, rate, timeout_s=5):
    cmd = [bench.WRK, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", f"--timeout={timeout_s}s", "--latency",
           "-s", PACED_LUA, f"http://{HOST}:{port}", "--", path, str(threads), f"{rate:.3f}"]
    cp = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=seconds + 60)
    if cp.returncode != 0:
        raise bench.BenchError(f"wrk failed ({cp.returncode}): {cp.stderr[-1000:]}")
    return bench.parse_wrk(cp.stdout)


def socket_errors(w):
    """A wrk result's connect, read, write and timeout errors."""
    return sum(w["errors"][e] for e in ("connect", "read", "write", "timeout"))


def segment_errors(w):
    """A wrk result's errors: non-200 replies, 200 replies that are neither encrypted XML nor 'success',
    and socket errors."""
    return w["non200"] + w["badbody"] + socket_errors(w)


def soak(port, env, rate, duration, segment, connections, tmp, sampler, sample_every):
    """Run wrk paced at ``rate`` in segments of ``segment`` s; the next segment's requests (signed with a
    fresh timestamp) are generated while the current one runs. Returns one wrk result per segment."""
    samples, stop = [], threading.Event()
    t0 = time.monotonic()

    def sample_loop():
        while not stop.is_set():
            samples.append(sampler(time.monotonic() - t0))
            stop.wait(sample_every)

    def make(k):
        path = os.path.join(tmp, f"soak-{k}.tsv")
        # a wide margin: a slice that ran out would repeat requests (counted as repeats)
        make_requests.generate(int(rate * segment * 1.3) + 500, path, split=2, env=env, processes=1)
        return path

    lengths, left = [], duration
    while left > 0:
        lengths.append(min(segment, left))
        left -= lengths[-1]
    sampler_thread = threading.Thread(target=sample_loop, daemon=True)
    sampler_thread.start()
    results = []
    try:
        path = make(0)
        for k, secs in enumerate(lengths):
            nxt = {}
            gen = None
            if k + 1 < len(lengths):
                gen = threading.Thread(target=lambda k=k, nxt=nxt: nxt.setdefault("path", make(k + 1)), daemon=True)
                gen.start()
            began = time.monotonic() - t0
            w = run_paced(port, path, 2, connections, secs, rate)
            w["began_s"] = round(began, 1)
            results.append(w)
            for suffix in (".0", ".1"):
                os.remove(path + suffix)
            print(f"  segment {k + 1}/{len(lengths)} (t={began:4.0f}s): {w['requests'] / (w['duration_us'] / 1e6):6.1f}"
                  f" msg/s, p50 {w['latency_us']['p50'] / 1000:6.1f} ms, p99 {w['latency_us']['p99'] / 1000:6.1f} ms, "
                  f"non-200 {w['non200']}, 'success' {w['silent']}, other 200 {w['badbody']}, "
                  f"socket errors {socket_errors(w)}, "
                  f"repeats {w['repeats']}; server RSS {samples[-1]['server_mb'] if samples else '-'} MB", flush=True)
            if gen is not None:
                gen.join()
                path = nxt["path"]
    finally:
        stop.set()
        sampler_thread.join(timeout=sample_every + 5)
    samples.append(sampler(time.monotonic() - t0))
    return results, samples


# --- main --------------------------------------------------------------------------------------------

def slope_mb_per_10min(points):
    """Least-squares slope of (t s, MB) in MB per 10 minutes."""
    if len(points) < 3:
        return None
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    if not den:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=False)) / den * 600.0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=int, default=int(os.environ.get("SOAK_SECONDS", 600)),
                   help="soak seconds (default 600, or SOAK_SECONDS)")
    p.add_argument("--fraction", type=float, default=0.7, help="fraction of the measured maximum (default 0.7)")
    p.add_argument("--rate", type=float, default=None, help="skip the maximum: soak at this many msg/s")
    p.add_argument("--max-duration", type=int, default=15, help="seconds of the wrk maximum run")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--sample-every", type=float, default=10.0)
    p.add_argument("--segment", type=int, default=60, help="seconds per wrk run (fresh signed requests each)")
    p.add_argument("--warmup", type=int, default=60,
                   help="seconds at the soak rate before the measured window (errors counted, memory not compared)")
    p.add_argument("--max-growth-mb", type=float, default=20.0,
                   help="fail if the server's RSS (last minute vs first minute) grew more than this")
    p.add_argument("--output", default=os.path.join(ROOT, "var", "soak.json"))
    args = p.parse_args(argv)
    if not os.path.exists(bench.WRK) and args.rate is None:
        p.error("wrk not found (apt-get install -y wrk), or give --rate")

    signal.signal(signal.SIGTERM, bench._on_signal)
    tmp = tempfile.mkdtemp(prefix="minsheng-soak-")
    pg = redis_srv = proc = None
    doc = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "backend": "private PostgreSQL + private Redis"}
    try:
        pg = PrivatePostgres()
        pg.start()
        pg.create_database()
        redis_srv = PrivateRedis()
        redis_srv.start()
        env = server_env(bench.wechat_env(os.environ), pg, redis_srv, tmp, "minsheng-soak",
                         LOG_LEVEL=os.environ.get("SOAK_LOG_LEVEL", "WARNING"))
        cp = subprocess.run([PYTHON, "-m", "bot", "init-db"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=180)
        if cp.returncode != 0:
            raise bench.BenchError(f"init-db failed: {(cp.stderr or cp.stdout)[-1500:]}")
        port = bench.free_port()
        log_path = os.path.join(tempfile.gettempdir(), "minsheng-soak-serve.log")
        cmd = [PYTHON, "-m", "bot", "serve", "--host", HOST, "--port", str(port), "--workers", str(args.workers)]
        print(f"PostgreSQL (private) on {pg.port}, redis-server (private) on {redis_srv.port}; "
              f"{' '.join(cmd[1:])} (log {log_path})", flush=True)
        proc = bench.start_server("soak", cmd, env, log_path)
        bench.wait_ready(proc, port, make_requests.wechat_settings(env)[0], 60)
        bench.remember_tree(proc)

        # 1. the maximum (closed loop, wrk)
        if args.rate is None:
            req = os.path.join(tmp, "max.tsv")
            warm = os.path.join(tmp, "warm.tsv")
            make_requests.generate(20000, warm, split=2, env=env)
            bench.run_wrk(port, warm, 2, args.connections, 3)
            n = 1500 * args.max_duration + 5000
            make_requests.generate(n, req, split=2, env=env)
            w = bench.parse_wrk(bench.run_wrk(port, req, 2, args.connections, args.max_duration))
            secs = w["duration_us"] / 1e6
            maximum = (w["requests"] - w["non200"]) / secs
            doc["maximum"] = {"msg_per_s": round(maximum, 1), "seconds": round(secs, 1),
                              "connections": args.connections, "p99_ms": round(w["latency_us"]["p99"] / 1000, 2),
                              "repeats": w["repeats"], "non200": w["non200"]}
            print(f"maximum (wrk, {args.connections} connections, {secs:.0f} s): {maximum:.1f} msg/s, "
                  f"p99 {w['latency_us']['p99'] / 1000:.1f} ms, repeats {w['repeats']}", flush=True)
            rate = args.fraction * maximum
        else:
            rate = args.rate
        doc["rate"] = round(rate, 1)
        print(f"soak: {rate:.1f} msg/s for {args.duration} s "
              f"({args.fraction:.0%} of the maximum), sampling every {args.sample_every:.0f} s", flush=True)

        redis_pid = redis_srv.pid

        def sampler(t):
            server = tree(proc.pid)
            return {"t": round(t, 1), "server_mb": round(rss_mb(server), 1), "server_procs": len(server),
                    "machine_busy_pct": psutil.cpu_percent(None),
                    "redis_mb": round(rss_mb([redis_pid]), 1), "postgres_mb": round(rss_mb(pg_pids(pg)), 1)}

        psutil.cpu_percent(None)
        if args.warmup > 0:
            print(f"warm-up: {args.warmup} s at {rate:.1f} msg/s", flush=True)
            warm_segments, warm_samples = soak(port, env, rate, args.warmup, args.segment, args.connections, tmp,
                                               sampler, args.sample_every)
            doc["warmup"] = {"seconds": args.warmup, "requests": sum(w["requests"] for w in warm_segments),
                             "errors": sum(segment_errors(w) for w in warm_segments),
                             "server_mb_start": warm_samples[0]["server_mb"],
                             "server_mb_end": warm_samples[-1]["server_mb"]}
            psutil.cpu_percent(None)
        started = time.time()
        segments, samples = soak(port, env, rate, args.duration, args.segment, args.connections, tmp, sampler,
                                 args.sample_every)
        elapsed = time.time() - started
        if proc.poll() is not None:
            raise bench.BenchError(f"serve exited with {proc.returncode} during the soak")
    except bench.BenchError as e:
        print(f"soak NOT RUN: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        tear_down(bench.stop_server, proc, pg, redis_srv, tmp)

    # --- report
    minutes = [{"segment": k + 1, "began_s": w["began_s"], "requests": w["requests"],
                "msg_per_s": round(w["requests"] / (w["duration_us"] / 1e6), 1), "errors": segment_errors(w),
                "encrypted_200": w["ok"], "success_200": w["silent"], "other_200": w["badbody"],
                "non200": w["non200"], "status_codes": w["status_codes"], "socket_errors": w["errors"],
                "repeats": w["repeats"],
                "p50_ms": round(w["latency_us"]["p50"] / 1000, 1), "p99_ms": round(w["latency_us"]["p99"] / 1000, 1),
                "max_ms": round(w["latency_us"]["max"] / 1000, 1)} for k, w in enumerate(segments)]
    sent = sum(m["requests"] for m in minutes)
    warm = doc.get("warmup", {})
    errors = sum(m["errors"] for m in minutes) + warm.get("errors", 0)
    repeats = sum(m["repeats"] for m in minutes)
    measured = sum(w["duration_us"] for w in segments) / 1e6

    def window(key, lo, hi):
        vals = [s[key] for s in samples if lo <= s["t"] < hi]
        return round(statistics.fmean(vals), 1) if vals else None

    span = samples[-1]["t"] if samples else 0
    first_hi = min(60.0, span / 2)
    mem = {}
    for key in ("server_mb", "redis_mb", "postgres_mb"):
        mem[key] = {
            "first_minute": window(key, 0, first_hi + 0.01),
            "last_minute": window(key, span - first_hi, span + 1),
            "slope_mb_per_10min": (lambda v: round(v, 2) if v is not None else None)(
                slope_mb_per_10min([(s["t"], s[key]) for s in samples if s["t"] >= first_hi])),
            "min": min(s[key] for s in samples), "max": max(s[key] for s in samples),
        }
    growth = (mem["server_mb"]["last_minute"] or 0) - (mem["server_mb"]["first_minute"] or 0)
    worst_p99 = max(m["p99_ms"] for m in minutes) if minutes else None
    busy = [s["machine_busy_pct"] for s in samples[1:]]
    success_200 = sum(m["success_200"] for m in minutes)
    doc.update({
        "duration_s": args.duration, "elapsed_s": round(elapsed, 1), "requests": sent, "errors": errors,
        "repeats": repeats, "success_200": success_200,
        "machine_busy_pct_mean": round(statistics.fmean(busy), 1) if busy else None,
        "achieved_msg_per_s": round(sent / measured, 1) if measured else None,
        "worst_minute_p99_ms": worst_p99, "per_minute": minutes, "memory": mem, "samples": samples,
    })

    print()
    print(f"backend: private PostgreSQL + private redis-server; serve --workers {args.workers}, safe mode")
    if "maximum" in doc:
        print(f"maximum (wrk closed loop, {args.connections} conns): {doc['maximum']['msg_per_s']} msg/s; "
              f"soak rate {doc['rate']} msg/s ({args.fraction:.0%})")
    if warm:
        print(f"warm-up: {warm['seconds']} s, {warm['requests']:,} requests, errors {warm['errors']}; server RSS "
              f"{warm['server_mb_start']} -> {warm['server_mb_end']} MB (caches filling; not compared)")
    print(f"soak: {args.duration} s, {sent:,} requests, achieved {doc['achieved_msg_per_s']} msg/s "
          f"(target {doc['rate']}); errors {errors}; 'success' replies {success_200}; repeats {repeats}; "
          f"worst minute p99 {worst_p99} ms; machine busy {doc['machine_busy_pct_mean']}% on average "
          f"({psutil.cpu_count()} cpus, other users' processes included)")
    print()
    print(f"{'RSS (MB)':<26}{'first min':>11}{'last min':>11}{'min':>9}{'max':>9}{'slope/10min':>13}")
    for key, label in (("server_mb", "gunicorn master+workers"), ("redis_mb", "redis-server (private)"),
                       ("postgres_mb", "postgres (all procs)")):
        m = mem[key]
        slope = m["slope_mb_per_10min"]
        print(f"{label:<26}{m['first_minute']!s:>11}{m['last_minute']!s:>11}{m['min']:>9}{m['max']:>9}"
              f"{(f'{slope:+.2f}' if slope is not None else '-'):>13}")
    print()
    print(f"{'minute':>6}{'t (s)':>7}{'requests':>10}{'msg/s':>8}{'errors':>8}{'success':>9}{'p50 ms':>9}"
          f"{'p99 ms':>9}{'max ms':>9}")
    for m in minutes:
        print(f"{m['segment']:>6}{m['began_s']:>7.0f}{m['requests']:>10}{m['msg_per_s']:>8}{m['errors']:>8}"
              f"{m['success_200']:>9}{m['p50_ms']:>9}{m['p99_ms']:>9}{m['max_ms']:>9}")
    verdict = []
    if errors:
        verdict.append(f"{errors} errors")
    if growth > args.max_growth_mb:
        verdict.append(f"server RSS grew {growth:.1f} MB (> {args.max_growth_mb} MB)")
    print()
    print("soak: " + ("PASS (zero errors, flat memory)" if not verdict else "FAIL: " + "; ".join(verdict))
          + f"  (server RSS {growth:+.1f} MB first->last minute)")
    bench.write_results(args.output, doc)
    return 1 if verdict else 0


if __name__ == "__main__":
    sys.exit(main())
