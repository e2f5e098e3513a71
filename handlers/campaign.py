"""Campaigns (征集) on the message path: joining by keyword, menu click or QR scene; opinions and their thanks.

A citizen joins a campaign by sending its keyword (alone, or followed by an opinion in the same message),
clicking its menu item (CLICK ``EventKey``) or scanning its QR code (SCAN ``EventKey`` = the scene,
subscribe ``EventKey`` = ``qrscene_<scene>``). Joining answers with the campaign's introduction and puts the
citizen "inside" the campaign for a while (a Redis key beside the conversation state, read in the claim's
round trip, written after the message is stored). Inside it, a text of substance that is not a complaint is
stored as an opinion of the campaign (``messages.campaign_id``) and answered with the campaign's thanks; a
complaint still becomes a case and an emergency still gets its number first (the act stage screens before
asking us); trivial texts ("好的") take the ordinary path.

The open campaigns are cached per worker and re-read when the library generation changes (opening or
closing a campaign bumps it, as publishing a template does): with no campaign open, a message costs one
empty-tuple check. Every text is a published template; a campaign whose period has not begun or is over,
or whose templates are not published, answers joins with the vetted ``campaign_closed`` (else the default).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import threading
from collections.abc import Callable, Container

from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.autoreply import bare
from handlers.triage import Triage
from handlers.turn import Turn
from models import Campaign, CampaignStatus
from replies.library import Library

log = logging.getLogger(__name__)

CLOSED_KEY = "campaign_closed"
# How long a citizen stays inside a campaign after joining or their last opinion (never past its end).
MEMBERSHIP_TTL = 2 * 60 * 60
# A campaign closed this long ago still answers its keyword with "closed" rather than being forgotten.
REMEMBER_CLOSED = dt.timedelta(days=30)
SCENE_PREFIX = "qrscene_"
# Fewer meaningful characters than this is not an opinion ("好的", "谢谢", "嗯嗯", "1").
MIN_OPINION_CHARS = 6
# Shorter texts still count when triage reads them as a suggestion, question or praise ("建议延长开放").
MIN_OPINION_CHARS_WITH_INTENT = 3
_OPINION_INTENTS = frozenset({"suggestion", "inquiry", "praise"})
# A separator after the keyword when an opinion follows it in the same message ("城市更新 建议…").
_SEPARATOR = re.compile(r"^[\s\W_]")


@dataclasses.dataclass(frozen=True)
class Live:
    """What the message path needs of one campaign (a snapshot, not an ORM object)."""

    id: int
    keyword: str | None
    click_key: str | None
    scene: str | None
    starts_at: dt.datetime
    ends_at: dt.datetime
    intro_key: str
    thanks_key: str
    status: CampaignStatus

    def is_open(self, now: dt.datetime, published: Container[str]) -> bool:
        """Open for opinions now: status open, inside its period, and its texts published."""
        return (
            self.status is CampaignStatus.OPEN
            and self.starts_at <= now < self.ends_at
            and self.intro_key in published
            and self.thanks_key in published
        )

    def membership_ttl(self, now: dt.datetime) -> int:
        """Seconds a joining citizen stays inside: the usual window, never past the campaign's end."""
        return max(1, min(MEMBERSHIP_TTL, int((self.ends_at - now).total_seconds())))


@dataclasses.dataclass(frozen=True)
class Index:
    """The campaigns the message path knows, by the ways of joining them."""

    by_id: dict[int, Live]
    by_keyword: dict[str, Live]
    by_click: dict[str, Live]
    by_scene: dict[str, Live]

    def __bool__(self) -> bool:
        return bool(self.by_id)


EMPTY = Index({}, {}, {}, {})


def load_index(session: Session, now: dt.datetime) -> Index:
    """Open campaigns and recently closed ones (their joins are answered "closed"); drafts are not known here."""
    rows = session.scalars(
        select(Campaign).where(
            (Campaign.status == CampaignStatus.OPEN)
            | ((Campaign.status == CampaignStatus.CLOSED) & (Campaign.ends_at >= now - REMEMBER_CLOSED))
        )
    ).all()
    if not rows:
        return EMPTY
    # Open ones last: a keyword reused by a new campaign belongs to it, not to the closed one.
    rows = sorted(rows, key=lambda c: (c.status is CampaignStatus.OPEN, c.id))
    live = [
        Live(
            c.id,
            bare(c.join_keyword) or None if c.join_keyword else None,
            c.join_click_key or None,
            c.join_scene or None,
            c.starts_at,
            c.ends_at,
            c.intro_key,
            c.thanks_key,
            c.status,
        )
        for c in rows
    ]
    return Index(
        {c.id: c for c in live},
        {c.keyword: c for c in live if c.keyword},
        {c.click_key: c for c in live if c.click_key},
        {c.scene: c for c in live if c.scene},
    )


class Campaigns:
    """Joins and opinions, over a per-worker cache of the campaigns (reloaded when the generation changes)."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self._lock = threading.Lock()
        self._generation: str | None = None
        self._index: Index = EMPTY

    def index(self, turn: Turn) -> Index:
        """The campaigns as of this turn's library generation (read afresh when it is unknown)."""
        generation = turn.generation
        with self._lock:
            if generation is not None and generation == self._generation:
                return self._index
        fresh = load_index(turn.session, turn.now)
        if generation is not None:
            with self._lock:
                self._generation, self._index = generation, fresh
        return fresh

    # -- events --------------------------------------------------------------------------------

    def join_event(self, turn: Turn, *, follow: bool = False) -> bool:
        """A menu click or QR scan that joins a campaign; True if it was one (the reply is set unless ``follow``).

        A follow through a campaign's QR code keeps the welcome (it carries the personal-information notice
        every citizen gets at first contact) and still puts the citizen inside the campaign.
        """
        index = self.index(turn)
        key = turn.msg.event_key or ""
        if not index or not key:
            return False
        if turn.msg.event == "click":
            found = index.by_click.get(key)
        else:
            found = index.by_scene.get(key.removeprefix(SCENE_PREFIX))
        if found is None:
            return False
        if self._open(turn, found):
            self._enter(turn, found)
            if not follow:
                turn.reply_key = found.intro_key
        elif not follow:
            self._closed(turn)
        return True

    # -- texts ---------------------------------------------------------------------------------

    def join_text(self, turn: Turn, normalized: str, classify: Callable[[str], Triage]) -> bool:
        """A text starting with a campaign's keyword; True if fully answered (intro, thanks or "closed").

        False with the citizen inside the campaign when the rest of the message is a complaint: the ordinary
        path files it.
        """
        index = self.index(turn)
        if not index or not index.by_keyword:
            return False
        whole = bare(turn.msg.text)
        found = index.by_keyword.get(whole)
        rest = ""
        if found is None:
            found, rest = _leading_keyword(index, normalized)
            if found is None:
                return False
        if not self._open(turn, found):
            if rest:
                return False  # an opinion for a campaign that is over: read as any message
            self._closed(turn)
            return True
        self._enter(turn, found)
        if not rest:
            turn.reply_key = found.intro_key
            return True
        if turn.triage is None:
            # An intake answer is screened by the rules only: what follows the keyword is read in full here, so
            # a complaint is never filed as an opinion.
            turn.triage = classify(turn.msg.text)
        return self._opinion(turn, found, bare(rest))

    def opinion(self, turn: Turn) -> bool:
        """Inside a campaign: store a text of substance as its opinion and thank; True if it was one."""
        if turn.in_campaign is None:
            return False
        index = self.index(turn)
        found = index.by_id.get(turn.in_campaign) if index else None
        if found is None or not self._open(turn, found):
            return False
        return self._opinion(turn, found, bare(turn.msg.text))

    # -- helpers -------------------------------------------------------------------------------

    def _opinion(self, turn: Turn, campaign: Live, said: str) -> bool:
        triage = turn.triage
        intent = triage.intent if triage is not None else ""
        if intent in ("complaint", "emergency"):
            return False  # a case, the ordinary way
        if len(said) < MIN_OPINION_CHARS and not (
            len(said) >= MIN_OPINION_CHARS_WITH_INTENT and intent in _OPINION_INTENTS
        ):
            return False
        turn.campaign_id = campaign.id
        self._enter(turn, campaign)  # each opinion keeps the citizen inside a while longer
        turn.reply_key = campaign.thanks_key
        return True

    def _open(self, turn: Turn, campaign: Live) -> bool:
        published = self.library.published(turn.session, turn.generation)
        return campaign.is_open(turn.now, published)

    @staticmethod
    def _enter(turn: Turn, campaign: Live) -> None:
        turn.campaign_joined = campaign.id
        turn.campaign_ttl = campaign.membership_ttl(turn.now)

    @staticmethod
    def _closed(turn: Turn) -> None:
        turn.reply_key = CLOSED_KEY
        turn.unpublished_key = "default"


def _leading_keyword(index: Index, normalized: str) -> tuple[Live | None, str]:
    """The campaign whose keyword opens the message, followed by a separator, and the rest of the message."""
    text = normalized.strip().lower()
    for keyword, campaign in index.by_keyword.items():
        if text.startswith(keyword) and _SEPARATOR.match(text[len(keyword) :]):
            return campaign, text[len(keyword) :]
    return None, ""
