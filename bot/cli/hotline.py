"""``hotline import``: 12345 hotline tickets (CSV or XLSX) become cases of channel "hotline"."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
