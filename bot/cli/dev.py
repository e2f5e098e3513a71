"""The dev room's commands: ``seed-demo`` (fictional traffic), ``fake-wechat`` (a local fake of WeChat's API)
and ``run-all`` (what ``make run`` starts).

``run-all`` runs ``serve`` in the foreground, plus one delivery worker and (unless WECHAT_API_BASE is set)
the local fake of WeChat's API, all stopped when serve exits. ``seed-demo`` refuses to run in production.
The generator and the fake themselves live in ``bot/dev/``.
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
from zoneinfo import ZoneInfo

import click
from flask import Flask
from sqlalchemy import func, select, text

from bot.cli.common import app_context, settings
from bot.config import VAR_DIR
from bot.services import services
from models import Case, CaseEvent, Citizen, Message

log = logging.getLogger("minsheng.cli")


@click.command("seed-demo")
@click.option("--messages", default=100_000, show_default=True, type=click.IntRange(1, 50_000_000),
              help="Message rows to add (inbound and outbound together).")  # fmt: skip
@click.option("--days", default=90, show_default=True, type=click.IntRange(1, 730), help="Spread over the last N days.")
@click.option("--seed", "seed_value", type=int, default=None, help="Random seed, for a reproducible mix.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation when the database already has messages.")
def seed_demo_cmd(messages: int, days: int, seed_value: int | None, yes: bool) -> None:
    """Add fictional citizens, messages and cases for demos and benchmarks (additive; never in production).

    Each run ADDS rows beside the existing ones (new OpenIDs per run); nothing is updated or deleted.
    Use a scratch database.
    """
    if os.environ.get("MINSHENG_ENV", "").strip().lower() == "production":
        click.echo("minsheng: seed-demo refuses to run with MINSHENG_ENV=production", err=True)
        sys.exit(2)
    with app_context() as app:
        _seed_demo(app, messages, days, seed_value, yes)


def _seed_demo(app: Flask, messages: int, days: int, seed_value: int | None, yes: bool) -> None:
    from bot.bootstrap import pending_migrations
    from bot.dev.demo_data import seed

    if app.config["MINSHENG_ENV"] == "production":
        click.echo("minsheng: seed-demo refuses to run with MINSHENG_ENV=production", err=True)
        sys.exit(2)
    problem = pending_migrations(app)
    if problem:
        click.echo(f"minsheng: {problem}", err=True)
        sys.exit(2)
    svc = services(app)
    with svc.sessions() as session:
        existing = session.scalar(select(func.count()).select_from(Message)) or 0
    if existing and not yes:
        click.confirm(f"The database already holds {existing} messages; add {messages} more?", abort=True)
    started = time.monotonic()
    with click.progressbar(length=messages, label="seeding messages", file=sys.stderr) as bar:
        counts = seed(svc.engine, messages, days=days, tz=ZoneInfo(app.config["TIMEZONE"]), seed_value=seed_value,
                      progress=bar)  # fmt: skip
    elapsed = time.monotonic() - started
    with svc.sessions() as session:
        totals = {
            "messages": session.scalar(select(func.count()).select_from(Message)),
            "cases": session.scalar(select(func.count()).select_from(Case)),
            "citizens": session.scalar(select(func.count()).select_from(Citizen)),
            "case_events": session.scalar(select(func.count()).select_from(CaseEvent)),
        }
        session.execute(text("SELECT 1"))
    svc.close()
    added = ", ".join(f"{v} {k}" for k, v in counts.items())
    click.echo(f"added {added} in {elapsed:.1f} s; the database now holds "
               + ", ".join(f"{v} {k}" for k, v in totals.items()))  # fmt: skip


@click.command("fake-wechat")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8001, show_default=True, type=int)
@click.option(
    "--record", type=click.Path(dir_okay=False, path_type=Path), help="Append accepted messages to this JSONL file."
)
@click.option("--secret", default=None, help="The AppSecret it accepts (default: WECHAT_APP_SECRET, or a demo one).")
def fake_wechat_cmd(host: str, port: int, record: Path | None, secret: str | None) -> None:
    """Serve a local fake of WeChat's API (token, customer-service send) that records what would be sent."""
    from bot.dev.fake_wechat import DEMO_SECRET, create_fake, make_fake_server

    cfg = settings()
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
    """serve in the foreground, plus a delivery worker, the opinion watch and the fake WeChat API; Ctrl-C stops all."""
    from bot.redis_store import EmbeddedRedis

    cfg = settings()
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
                from bot.dev.fake_wechat import DEMO_SECRET

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
        children.append(("opinion watch", _start(["opinion", "watch"], env)))
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


COMMANDS = (seed_demo_cmd, fake_wechat_cmd, run_all_cmd)
