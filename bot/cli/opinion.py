"""``python -m bot opinion …``: rising-issue alerts (舆情预警) from a shell.

``opinion watch`` runs the detector over the stored messages (bot/opinion.py).

``opinion replay --input FILE`` (``-`` for stdin) runs the detector of :mod:`cases.opinion` over JSON lines
``{"created_at", "text", "openid"}`` in time order and prints one JSON line per alert ``{"at", "theme", "place",
"count", "lines"}`` (``lines``: the 0-based input line numbers of the messages the alert groups). It needs no
database, Redis or server, and never builds the app.

The whole input is read and checked before anything runs: a line that is not such an object (not UTF-8, not JSON,
a field missing, a time without a UTC offset) or that is earlier than the line before stops the command with
``line N: …`` on stderr (N counted from 1, as editors do) and exit status 2, having printed nothing — a replay that
stopped half-way would look like a complete one with fewer alerts.
"""

from __future__ import annotations

import json
import sys
from typing import BinaryIO

import click
from flask import current_app
from flask.cli import with_appcontext

from cases.opinion import ReplayError, read_replay, replay


@click.group("opinion")
def opinion() -> None:
    """Rising-issue alerts (舆情预警)."""


@opinion.command("replay")
@click.option("--input", "source", type=click.File("rb"), required=True, help="JSON lines, or - for stdin.")
def replay_cmd(source: BinaryIO) -> None:
    """Replay messages through the detector; print one JSON line per alert (no database, no server)."""
    try:
        messages = read_replay(_decoded(source))
    except ReplayError as exc:
        click.echo(f"minsheng: opinion replay: {exc}", err=True)
        sys.exit(2)
    for alert in replay(messages):
        click.echo(json.dumps(alert, ensure_ascii=False))


@opinion.command("watch")
@click.option("--once", is_flag=True, help="One round, then exit (for cron and tests).")
@click.option(
    "--interval", default=30.0, show_default=True, type=click.FloatRange(1, 3600), help="Seconds between rounds."
)
@with_appcontext
def watch_cmd(once: bool, interval: float) -> None:
    """Watch incoming messages for rising issues; store incidents, alert the console, tell the duty supervisor."""
    from bot.opinion import run

    raised = run(current_app._get_current_object(), once=once, interval=interval)  # type: ignore[attr-defined]
    if once:
        click.echo(f"{raised} incident(s) raised")


def _decoded(source: BinaryIO) -> list[str]:
    lines = []
    for number, raw in enumerate(source, 1):
        try:
            lines.append(raw.decode("utf-8-sig" if number == 1 else "utf-8"))
        except UnicodeDecodeError as exc:
            raise ReplayError(number, f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    return lines


COMMANDS = (opinion,)
