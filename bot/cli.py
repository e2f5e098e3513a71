"""Command line: init-db, serve, export, simulate, train, evaluate, classify, library.

Each command builds the app (so configuration is validated the same way), does one job, commits once.
Configuration errors print one line and exit with status 2.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from flask import Flask

from bot.errors import ConfigError

log = logging.getLogger("minsheng.cli")


def _app(**overrides: Any) -> Flask:
    from bot import create_app

    try:
        return create_app(overrides or None)
    except ConfigError as exc:
        click.echo(f"minsheng: configuration error: {exc}", err=True)
        sys.exit(2)


def _setup_logging() -> None:
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        level=level if level in ("DEBUG", "INFO", "WARNING", "ERROR") else "INFO",
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)


@click.group()
def cli() -> None:
    """minsheng (民声): the backend of a government WeChat official account."""
    _setup_logging()


@cli.command("init-db")
def init_db() -> None:
    """Migrate the database to the latest schema and load the seed reply library (idempotent)."""
    from bot.bootstrap import initialise

    app = _app()
    with app.app_context():
        revision, added = initialise(app)
    click.echo(f"database at revision {revision}; {added} seed template(s) added")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def settings(host: str, port: int) -> None:
    """Print the settings to enter in the WeChat console (公众平台 → 开发 → 基本配置) and a simulate example."""
    app = _app()
    cfg = app.config
    demo = cfg["MINSHENG_ENV"] == "development"

    def shown(value: str) -> str:
        return value if demo or len(value) < 8 else value[:3] + "…" + value[-3:]

    click.echo(f"""
minsheng is starting on http://{host}:{port}
  服务器地址(URL)              http://{host}:{port}/wechat   (use your public HTTPS address in production)
  令牌(Token)                  {shown(cfg["WECHAT_TOKEN"])}
  消息加解密密钥(EncodingAESKey) {shown(cfg["WECHAT_ENCODING_AES_KEY"]) or "(not set: plaintext mode only)"}
  AppID                        {cfg["WECHAT_APP_ID"]}
  消息加解密方式                安全模式 (safe mode) recommended
  database                     {app.extensions["minsheng"].engine.url.render_as_string(hide_password=True)}
  redis                        {cfg["REDIS_URL"] or "embedded (started by make run / serve)"}
Console (控制台): http://{host}:{port}/console/
Try it from another terminal:
  .venv/bin/python -m bot simulate "小区门口路灯坏了三个月没人修" --encrypt --url http://{host}:{port}/wechat
""")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--timeout", default=10, show_default=True, type=int, help="Seconds before a stuck worker is restarted.")
@click.option(
    "--access-log/--no-access-log", default=False, help="Log requests (path only: query strings carry OpenIDs)."
)
def serve(host: str, port: int, workers: int, timeout: int, access_log: bool) -> None:
    """Serve the app with gunicorn (sync workers); starts and stops an embedded Redis if REDIS_URL is unset."""
    from bot import create_app
    from bot.bootstrap import pending_migrations
    from bot.server import run

    app = _app()  # validate configuration before forking anything
    problem = pending_migrations(app)
    if problem:
        click.echo(f"minsheng: {problem}", err=True)
        sys.exit(2)
    run(create_app, host, port, workers, timeout, access_log)


@cli.command()
@click.argument("kind", type=click.Choice(["messages", "cases"]))
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="File to write (default: stdout)."
)
def export(kind: str, fmt: str, output: Path | None) -> None:
    """Export messages or cases, one record per row, with personal data masked."""
    from bot.exporting import export_rows

    app = _app()
    with app.app_context():
        rows, fields = export_rows(app, kind)
        stream = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
        try:
            count = _write(stream, rows, fields, fmt)
        finally:
            if output:
                stream.close()
        _audit_export(app, kind, fmt, count, output)
    click.echo(f"exported {count} {kind}", err=True)


def _audit_export(app: Flask, kind: str, fmt: str, count: int, output: Path | None) -> None:
    # Every export of citizens' data is audited, from the console or from a shell.
    import getpass

    from bot.extensions import services
    from models import AuditEntry

    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    with services(app).sessions() as session:
        session.add(
            AuditEntry(
                actor=f"shell:{who}"[:80],
                action="export",
                target=kind,
                source="cli",
                detail=f"{count} rows, {fmt}, masked, to {output.name if output else 'stdout'}",
            )
        )
        session.commit()


def _csv_cell(value: Any) -> Any:
    # A citizen's "=HYPERLINK(...)" must stay text when staff open the export in a spreadsheet.
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _write(stream: Any, rows: Iterator[dict[str, Any]], fields: list[str], fmt: str) -> int:
    count = 0
    if fmt == "csv":
        writer = csv.DictWriter(stream, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_cell(v) for k, v in row.items()})
            count += 1
    else:
        for row in rows:
            stream.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


@cli.command()
@click.argument("text", required=False, default="")
@click.option("--encrypt", is_flag=True, help="Send in safe mode (encrypt_type=aes), like a production account.")
@click.option("--url", default="http://127.0.0.1:8000/wechat", show_default=True)
@click.option("--openid", default="oMinShengDemoCitizen0000001", show_default=True, help="The citizen's OpenID.")
@click.option(
    "--event", type=click.Choice(["subscribe", "unsubscribe", "CLICK", "SCAN"]), help="Send an event instead of text."
)
@click.option("--event-key", default="", help="EventKey for CLICK/SCAN events.")
@click.option("--raw", is_flag=True, help="Print the HTTP status and the raw body too.")
def simulate(text: str, encrypt: bool, url: str, openid: str, event: str | None, event_key: str, raw: bool) -> None:
    """Sign (and encrypt) a message as WeChat would, post it to a running server, print the reply."""
    from bot.simulator import Simulator

    if not text and not event:
        raise click.UsageError("give the message text, or --event")
    app = _app()
    sim = Simulator.from_config(app.config, url)
    import requests

    try:
        if event:
            result = sim.send_event(event, openid=openid, event_key=event_key, encrypt=encrypt)
        else:
            result = sim.send_text(text, openid=openid, encrypt=encrypt)
    except requests.RequestException as exc:
        # The URL carries a signature and an OpenID in its query: name the server only.
        click.echo(f"cannot reach {url}: {type(exc).__name__} (is `python -m bot serve` running?)", err=True)
        sys.exit(1)
    if raw:
        click.echo(f"HTTP {result.status}\n{result.body}")
    if result.status != 200:
        click.echo(f"server answered HTTP {result.status}: {result.body[:200]}", err=True)
        sys.exit(1)
    click.echo(result.reply if result.reply is not None else "(no reply: the server answered 'success')")


def _data_option(help_text: str) -> Any:
    return click.option(
        "--data",
        "data",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("../shared/data"),
        show_default=True,
        help=help_text,
    )


@cli.command()
@_data_option("The shared data folder (departments/).")
@click.option("--dev-only", is_flag=True, help="Development run: report the dev sets, leave the held-out set unread.")
@click.option("--intent-only", is_flag=True, help="Train the intent and emergency-kind models only.")
def train(data: Path, dev_only: bool, intent_only: bool) -> None:
    """Train the intent and department classifiers into handlers/model/ and print the metrics report."""
    from bot.training.train import train as run_training

    if not (data / "departments" / "train_segmented.csv").exists():
        raise click.UsageError(f"{data}/departments/train_segmented.csv not found (pass --data)")
    report = run_training(data, heldout=not dev_only, department=not intent_only)
    click.echo(json.dumps(report, ensure_ascii=False, indent=2))


@cli.command()
@_data_option("The shared data folder; without it only the intent figures are printed.")
@click.option("--dev-only", is_flag=True, help="Report the dev sets only, leaving the held-out set unread.")
def evaluate(data: Path, dev_only: bool) -> None:
    """Print the classifiers' target figures (held-out and dev intents, department dev set, speed, memory)."""
    from bot.training.train import evaluate as run_evaluation

    shared = data if (data / "departments" / "dev_raw.csv").exists() else None
    click.echo(json.dumps(run_evaluation(shared, heldout=not dev_only), ensure_ascii=False, indent=2))


@cli.command()
def classify() -> None:
    """JSON lines with "text" on stdin → one JSON line per input (intent, department, emergency, reasons)."""
    from handlers.classify import shipped

    classifier = shipped()
    for number, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            text = item["text"]
            if not isinstance(text, str):
                raise TypeError("text must be a string")
        except (ValueError, KeyError, TypeError) as exc:
            click.echo(json.dumps({"error": f"line {number}: {exc}"}, ensure_ascii=False))
            continue
        t = classifier.classify(text)
        click.echo(
            json.dumps(
                {
                    "text": text,
                    "intent": t.intent,
                    "department": t.department,
                    "emergency": t.emergency,
                    "emergency_kind": t.emergency_kind,
                    "confidence": {"intent": t.confidence_intent, "department": t.confidence_department},
                    "needs_human": t.needs_human,
                    "reasons": list(t.reasons),
                },
                ensure_ascii=False,
            )
        )


def _register() -> None:
    from bot.cli_demo import seed_demo_cmd
    from bot.cli_jobs import deliver_queued_cmd, fake_wechat_cmd, run_all_cmd, worker_cmd
    from bot.cli_library import library
    from bot.cli_users import (
        create_user_cmd,
        digest_cmd,
        drain_spool_cmd,
        ensure_admin_cmd,
        retention_cmd,
        seal_cmd,
        verify_log_cmd,
    )

    cli.add_command(library)
    cli.add_command(create_user_cmd)
    cli.add_command(ensure_admin_cmd)
    cli.add_command(digest_cmd)
    cli.add_command(drain_spool_cmd)
    cli.add_command(seal_cmd)
    cli.add_command(verify_log_cmd)
    cli.add_command(retention_cmd)
    cli.add_command(worker_cmd)
    cli.add_command(deliver_queued_cmd)
    cli.add_command(fake_wechat_cmd)
    cli.add_command(run_all_cmd)
    cli.add_command(seed_demo_cmd)


_register()


def main() -> None:
    """Entry point of ``python -m bot``."""
    cli(prog_name="python -m bot")


# -- the reply guard -----------------------------------------------------------------------------


@cli.command("train-guard")
@_data_option("The shared data folder (offensive/, replies/).")
def train_guard(data: Path) -> None:
    """Train the reply guard's offensive-language model into replies/model/ and print the metrics report."""
    from bot.training.guard import train as run_training

    for needed in ("offensive/train.csv", "replies/gov_replies.csv"):
        if not (data / needed).exists():
            raise click.UsageError(f"{data}/{needed} not found (pass --data)")
    click.echo(json.dumps(run_training(data), ensure_ascii=False, indent=2))


@cli.command("evaluate-guard")
@_data_option("The shared data folder; without it only the candidate-reply figures are printed.")
def evaluate_guard(data: Path) -> None:
    """Print the guard's target figures (candidates caught and refused, real replies flagged, speed)."""
    from bot.training.guard import evaluate as run_evaluation

    shared = data if (data / "replies" / "gov_replies.csv").exists() else None
    click.echo(json.dumps(run_evaluation(shared), ensure_ascii=False, indent=2))


def _check_reply_line(line: str) -> dict[str, Any]:
    from replies.guard import check_text

    try:
        item = json.loads(line)
        text = item["text"] if isinstance(item, dict) else None
        if not isinstance(text, str):
            raise TypeError("a JSON object with a string field 'text' is required")
    except (ValueError, KeyError, TypeError) as exc:
        reason = "不是有效的JSON" if isinstance(exc, ValueError) else "缺少文本字段text"
        return {"ok": False, "violations": [{"rule": "bad_input", "span": [0, 0], "message": f"输入无效：{reason}"}]}
    violations = check_text(text, has_deadline=bool(item.get("has_deadline", False)))
    return {
        "ok": not violations,
        "violations": [{"rule": v.rule, "span": list(v.span), "message": v.message} for v in violations],
    }


@cli.command("check-reply")
def check_reply() -> None:
    """JSON lines with "text" on stdin → one JSON line per input: {"ok", "violations"} (no database needed)."""
    for line in sys.stdin:
        if not line.strip():
            continue
        click.echo(json.dumps(_check_reply_line(line), ensure_ascii=False))
