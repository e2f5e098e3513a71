"""常见问题缺口: the questions the library could not answer, grouped, each the start of a new FAQ draft.

The grouping runs on demand (a few seconds for a month of inquiries) over the user's scope; its examples are
masked before they reach the page (text/cluster.py). "为此撰写常见问题" opens the new-template form with the
purpose, a title and the example questions as triggers filled in; the answer is written by a person and goes
through review like every text.
"""

from __future__ import annotations

import datetime as dt

from flask import render_template, request

from bot.console.auth import permission
from bot.console.blueprint import bp
from bot.console.pages_cases import worker
from bot.extensions import console_session
from cases.faq_gaps import gaps
from handlers.classify import cluster_words
from models import utcnow

DAYS = (7, 30, 90)


@bp.get("/library/gaps")
@permission("library.draft")
def library_gaps() -> str:
    """Unanswered questions of the last 7, 30 or 90 days, grouped; each group proposes an FAQ."""
    days = request.args.get("days", 30, type=int)
    days = days if days in DAYS else 30
    found, read = gaps(console_session(), worker(), utcnow() - dt.timedelta(days=days), cluster_words)
    return render_template("console/library_gaps.html", themes=found, read=read, days=days, choices=DAYS)
