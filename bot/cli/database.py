"""Commands for the database and its records: ``init-db``, ``settings``, ``export``, ``seal``, ``verify-log``,
``drain-spool`` and ``retention``.

Each runs in the app context of the run's app (``flask.current_app``), does one job and commits once.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from bot.services import services


@click.command("init-db")
@with_appcontext
def init_db_cmd() -> None:
    """Migrate the database to the latest schema and load the seed reply library (idempotent)."""
    from bot.bootstrap import initialise

    revision, added = initialise(current_app)
    click.echo(f"database at revision {revision}; {added} seed template(s) added")


@click.command("settings")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@with_appcontext
def settings_cmd(host: str, port: int) -> None:
    """Print the settings to enter in the WeChat console (公众平台 → 开发 → 基本配置) and a simulate example."""
    cfg = current_app.config
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
  database                     {services().engine.url.render_as_string(hide_password=True)}
  redis                        {cfg["REDIS_URL"] or "embedded (started by make run / serve)"}
Console (控制台): http://{host}:{port}/console/
Try it from another terminal:
  .venv/bin/python -m bot simulate "小区门口路灯坏了三个月没人修" --encrypt --url http://{host}:{port}/wechat
""")


# -- export ----------------------------------------------------------------------------------------


@click.command("export")
@click.argument("kind", type=click.Choice(["messages", "cases"]))
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="File to write (default: stdout)."
)
@with_appcontext
def export_cmd(kind: str, fmt: str, output: Path | None) -> None:
    """Export messages or cases, one record per row, with personal data masked (audited)."""
    from bot.exporting import export_to

    stream = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
    try:
        count = export_to(current_app, kind, fmt, stream, destination=output.name if output else "stdout")
    finally:
        if output:
            stream.close()
    click.echo(f"exported {count} {kind}", err=True)


# -- the spool, the hash chains, retention ---------------------------------------------------------


@click.command("drain-spool")
@with_appcontext
def drain_spool_cmd() -> None:
    """Store the pushes spooled while the database was down (workers also do this on their own)."""
    from bot.maintenance import drain_into

    spool = services().spool
    before = spool.pending()
    stored = drain_into(current_app)
    left = spool.pending()
    click.echo(f"{stored} spooled message(s) stored, {left} waiting" + (" (database still away?)" if left else ""))
    if before and not stored and left:
        sys.exit(1)


@click.command("seal")
@with_appcontext
def seal_cmd() -> None:
    """Link new rows into the tamper-evident hash chains now (workers do it every CHAIN_SEAL_SECONDS)."""
    from bot.maintenance import seal_all

    sealed = seal_all(current_app)
    click.echo(", ".join(f"{name}: {count} sealed" for name, count in sealed.items()))


@click.command("verify-log")
@with_appcontext
def verify_log_cmd() -> None:
    """Check the hash chains of messages, template versions, reviews and the audit log; exit 1 on a break."""
    from bot.maintenance import verify_all

    broken = False
    for report in verify_all(current_app):
        if report.ok:
            click.echo(f"{report.name}: ok, {report.checked} rows checked, {report.unsealed} not sealed yet")
        else:
            broken = True
            click.echo(
                f"{report.name}: BROKEN at row {report.broken_id}: {report.problem} "
                f"({report.checked} rows checked before it)"
            )
    sys.exit(1 if broken else 0)


@click.command("retention")
@click.option("--days", type=click.IntRange(30, 36500), default=None, help="Override RETENTION_DAYS for this run.")
@click.option("--dry-run", is_flag=True, help="Only count what would be anonymised.")
@with_appcontext
def retention_cmd(days: int | None, dry_run: bool) -> None:
    """Anonymise messages, closed cases and citizens older than the retention period (schedule it daily)."""
    from cases.retention import anonymise

    period = days or current_app.config["RETENTION_DAYS"]
    with services().sessions() as session:
        report = anonymise(session, dt.datetime.now(dt.UTC), period, dry_run=dry_run)
        if not dry_run:
            session.commit()
    verb = "would anonymise" if dry_run else "anonymised"
    click.echo(
        f"{verb}: {report.messages} messages, {report.cases} cases, {report.citizens} citizens "
        f"(older than {period} days)"
    )


COMMANDS = (init_db_cmd, settings_cmd, export_cmd, drain_spool_cmd, seal_cmd, verify_log_cmd, retention_cmd)
