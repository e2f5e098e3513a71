"""Commands around the running server: ``serve`` (gunicorn) and ``simulate`` (a push signed as WeChat would)."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from bot import create_app
from bot.cli.common import app_context


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--timeout", default=10, show_default=True, type=int, help="Seconds before a stuck worker is restarted.")
@click.option(
    "--access-log/--no-access-log", default=False, help="Log requests (path only: query strings carry OpenIDs)."
)
def serve_cmd(host: str, port: int, workers: int, timeout: int, access_log: bool) -> None:
    """Serve the app with gunicorn (sync workers); starts and stops an embedded Redis if REDIS_URL is unset."""
    from bot.bootstrap import pending_migrations
    from bot.server import run

    # Validate the configuration and the schema before forking anything; the workers build their own
    # apps, so this one's context is not left pushed while they run.
    with app_context() as app:
        problem = pending_migrations(app)
    if problem:
        click.echo(f"minsheng: {problem}", err=True)
        sys.exit(2)
    run(create_app, host, port, workers, timeout, access_log)


@click.command("simulate")
@click.argument("text", required=False, default="")
@click.option("--encrypt", is_flag=True, help="Send in safe mode (encrypt_type=aes), like a production account.")
@click.option("--url", default="http://127.0.0.1:8000/wechat", show_default=True)
@click.option("--openid", default="oMinShengDemoCitizen0000001", show_default=True, help="The citizen's OpenID.")
@click.option(
    "--event", type=click.Choice(["subscribe", "unsubscribe", "CLICK", "SCAN"]), help="Send an event instead of text."
)
@click.option("--event-key", default="", help="EventKey for CLICK/SCAN events.")
@click.option("--raw", is_flag=True, help="Print the HTTP status and the raw body too.")
@with_appcontext
def simulate_cmd(text: str, encrypt: bool, url: str, openid: str, event: str | None, event_key: str, raw: bool) -> None:
    """Sign (and encrypt) a message as WeChat would, post it to a running server, print the reply."""
    import requests

    from bot.simulator import Simulator

    if not text and not event:
        raise click.UsageError("give the message text, or --event")
    sim = Simulator.from_config(current_app.config, url)
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


COMMANDS = (serve_cmd, simulate_cmd)
