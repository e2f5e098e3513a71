"""What the command-line topics share: building the app once per run, the settings, the ``--data`` option.

The core group puts :func:`script_info` on the click context; commands decorated with Flask's
``with_appcontext`` then run inside the app context of the app it builds (``flask.current_app``).
Configuration errors print one line and exit with status 2, before any command does anything.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import click
from flask import Flask
from flask.cli import ScriptInfo

from bot import create_app
from bot.config import load_config
from bot.errors import ConfigError


def _configuration_error(exc: ConfigError) -> NoReturn:
    click.echo(f"minsheng: configuration error: {exc}", err=True)
    sys.exit(2)


def script_info() -> ScriptInfo:
    """The ``ScriptInfo`` of one run: it builds the app from the environment on first use, then keeps it."""

    def build() -> Flask:
        try:
            return create_app()
        except ConfigError as exc:
            _configuration_error(exc)

    return ScriptInfo(create_app=build, set_debug_flag=False)


@contextlib.contextmanager
def app_context() -> Iterator[Flask]:
    """This run's app with its context pushed inside the block only (for commands that check first, or fork)."""
    app = click.get_current_context().ensure_object(ScriptInfo).load_app()
    with app.app_context():
        yield app


def settings() -> dict[str, Any]:
    """The validated settings, for commands that supervise processes rather than use the app."""
    try:
        return load_config()
    except ConfigError as exc:
        _configuration_error(exc)


def data_option(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--data``: the shared data folder (default ``../shared/data``)."""
    return click.option(
        "--data",
        "data",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("../shared/data"),
        show_default=True,
        help=help_text,
    )


def heldout_option(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--heldout``: a held-out CSV to score once (optional)."""
    return click.option(
        "--heldout", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None, help=help_text
    )
