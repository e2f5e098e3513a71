"""The top-level command group of ``python -m bot``: logging, the app of the run, and every topic's commands.

The group puts a Flask ``ScriptInfo`` on the click context, which builds the app from the environment once,
on first use; commands that need it run in its app context (``with_appcontext``) and use ``current_app``.
The topic modules only define commands; this module adds them (they do not import it back).
"""

from __future__ import annotations

import logging
import os

import click
from flask.cli import ScriptInfo

from bot.cli import (
    apikeys,
    campaign,
    classifiers,
    database,
    dev,
    hotline,
    jobs,
    library,
    opinion,
    report,
    serve,
    users,
)
from bot.cli.common import script_info


def _setup_logging() -> None:
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        level=level if level in ("DEBUG", "INFO", "WARNING", "ERROR") else "INFO",
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)


@click.group()
@click.pass_context
def cli(ctx: click.Context) -> None:
    """minsheng (民声): the backend of a government WeChat official account."""
    _setup_logging()
    if not isinstance(ctx.obj, ScriptInfo):
        ctx.obj = script_info()


_TOPICS = (database, serve, users, library, jobs, classifiers, dev, report, opinion, campaign, apikeys, hotline)
for _topic in _TOPICS:
    for _command in _topic.COMMANDS:
        cli.add_command(_command)


def main() -> None:
    """Entry point of ``python -m bot``."""
    cli(prog_name="python -m bot")
