"""``api-key``: keys for Open311 clients (create prints the key once; list; revoke)."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
