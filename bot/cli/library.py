"""``python -m bot library …``: the reply library from a shell.

Export and import the library as a reviewed TOML file, import the platform's built-in auto-replies,
list what is published, and pull the kill switch when something must stop at once. Imports only
ever submit drafts for review; publishing happens after a second person approves. Every subcommand
runs in the app context (the group is Flask's ``AppGroup``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy.orm import Session

from bot.services import services
from replies import workflow
from replies.workflow import Actor, Change, LibraryError


def _commit(session: Session, changes: list[Change] | bool) -> None:
    session.commit()
    changed = changes if isinstance(changes, bool) else any(c.library_changed for c in changes)
    if changed:
        from bot.bootstrap import bump_generation

        bump_generation(current_app)


def _actor(name: str) -> Actor:
    if not name.strip():
        raise click.UsageError("--as must name the person doing this (it is written to the audit log)")
    return Actor(name.strip(), "cli")


@click.group("library", cls=AppGroup)
def library() -> None:
    """The reply library: export, import (always through review), list, kill switch."""


@library.command("export")
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="File to write (default: stdout)."
)
def export_cmd(output: Path | None) -> None:
    """Write the published library as TOML (the seed's format)."""
    from replies.exchange import export_library

    with services().sessions() as session:
        text = export_library(session)
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


@library.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--as", "who", required=True, help="Your user name: you become the author of every imported draft.")
def import_cmd(path: Path, who: str) -> None:
    """Submit every template of a TOML file whose text differs from the published one, for review."""
    from replies.exchange import import_library

    _run_import(who, lambda session, actor: import_library(session, actor, path.read_text(encoding="utf-8")))


@library.command("import-autoreply")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--as", "who", required=True, help="Your user name: you become the author of every imported draft.")
def import_autoreply_cmd(path: Path, who: str) -> None:
    """Turn the JSON of get_current_autoreply_info into drafts under review (keyword, follow, default replies)."""
    from replies.exchange import import_autoreply

    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise click.UsageError(f"{path}: not JSON ({exc})") from exc
    if not isinstance(info, dict):
        raise click.UsageError(f"{path}: expected a JSON object")
    _run_import(who, lambda session, actor: import_autoreply(session, actor, info))


def _run_import(who: str, do: Any) -> None:
    actor = _actor(who)
    with services().sessions() as session:
        try:
            report = do(session, actor)
        except LibraryError as exc:
            click.echo(f"import refused: {exc}", err=True)
            sys.exit(1)
        _commit(session, False)
    for line in report.submitted:
        click.echo(f"submitted for review: {line}")
    for line in report.unchanged:
        click.echo(f"unchanged: {line}")
    for line in report.skipped:
        click.echo(f"skipped: {line}")
    click.echo(
        f"{len(report.submitted)} submitted for review, {len(report.unchanged)} unchanged, "
        f"{len(report.skipped)} skipped; nothing was published",
        err=True,
    )


@library.command("list")
def list_cmd() -> None:
    """One line per template: key, purpose, published version, enabled, versions waiting for review."""
    from sqlalchemy import select

    from models import ReplyTemplate, TemplateStatus

    with services().sessions() as session:
        automatic = workflow.automatic_replies_enabled(session)
        click.echo(f"automatic replies: {'on' if automatic else 'OFF (only the safe fallback is sent)'}")
        for tpl in session.scalars(select(ReplyTemplate).order_by(ReplyTemplate.key)):
            published = next((v.version for v in tpl.versions if v.status is TemplateStatus.PUBLISHED), None)
            waiting = [v.version for v in tpl.versions if v.status is TemplateStatus.IN_REVIEW]
            click.echo(
                f"{tpl.key}\t{tpl.purpose}\tpublished={'v' + str(published) if published else '-'}"
                f"\t{'enabled' if tpl.is_enabled else 'DISABLED'}"
                + (f"\tin review: {', '.join('v' + str(w) for w in waiting)}" if waiting else "")
            )


@library.command("kill-switch")
@click.argument("state", type=click.Choice(["on", "off"]))
@click.option("--template", "key", help="Switch one template instead of the whole automatic layer.")
@click.option("--reason", required=True, help="Why (written to the audit log).")
@click.option("--as", "who", required=True, help="Your user name.")
def kill_switch(state: str, key: str | None, reason: str, who: str) -> None:
    """Stop (off) or restart (on) automatic replies, or one template; every worker follows on its next message."""
    actor = _actor(who)
    with services().sessions() as session:
        try:
            if key:
                change = workflow.set_template_enabled(session, actor, key, state == "on", reason)
            else:
                change = workflow.set_automatic_replies(session, actor, state == "on", reason)
        except LibraryError as exc:
            click.echo(f"refused: {exc}", err=True)
            sys.exit(1)
        _commit(session, [change])
    what = f"template {key}" if key else "automatic replies"
    click.echo(f"{what}: {state}")


COMMANDS = (library,)
