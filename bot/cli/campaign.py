"""``python -m bot campaign …``: campaigns (征集) from a shell — list them, regroup a campaign's opinions into themes.

Grouping a large campaign (tens of thousands of opinions) is quicker here than from the console page: the
words are segmented in several processes (``--jobs``).
"""

from __future__ import annotations

import os
import time

import click
from flask.cli import AppGroup
from sqlalchemy import select

from bot.services import services
from models import Campaign


@click.group("campaign", cls=AppGroup)
def campaign() -> None:
    """Opinion-solicitation campaigns (征集)."""


@campaign.command("list")
def list_cmd() -> None:
    """Every campaign: id, status, opinions, title."""
    from cases.campaigns import opinion_count

    with services().sessions() as session:
        for item in session.scalars(select(Campaign).order_by(Campaign.id)):
            opinions, people = opinion_count(session, item.id)
            click.echo(f"{item.id}\t{item.status.value}\t{opinions} opinions / {people} citizens\t{item.title}")


@campaign.command("cluster")
@click.option("--id", "campaign_id", type=int, required=True, help="The campaign's id (see `campaign list`).")
@click.option("--jobs", type=int, default=min(4, os.cpu_count() or 1), show_default=True,
              help="Processes segmenting the opinions.")  # fmt: skip
def cluster_cmd(campaign_id: int, jobs: int) -> None:
    """Regroup a campaign's opinions into themes (as the console's 重新归纳主题 button does) and print them."""
    from cases.campaigns import compute_themes, theme_quotes
    from handlers.classify import cluster_words

    with services().sessions() as session:
        item = session.get(Campaign, campaign_id)
        if item is None:
            raise click.UsageError(f"no campaign with id {campaign_id}")
        started = time.perf_counter()
        themes = compute_themes(session, item, cluster_words, jobs=max(1, jobs))
        session.commit()
        click.echo(f"{len(themes)} themes in {time.perf_counter() - started:.1f} s")
        for theme in themes:
            click.echo(f"- {theme.label}: {theme.size} ({theme.share:.1%})")
            for quote in theme_quotes(theme):
                click.echo(f"    “{quote}”")


COMMANDS = [campaign]
