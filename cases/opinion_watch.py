"""The rising-issue detector (cases/opinion.py) run over the stored messages: incidents, alerts, their messages.

One :class:`Watch` per deployment (``python -m bot opinion watch``, a single process behind a Redis lock) reads
the inbound messages after its cursor, in id order, and feeds them to the detector. A raised alert becomes an
:class:`~models.OpinionIncident` with its messages and an alert on the console's home page; a message linked to
an open incident is appended to it. The cursor is kept in the settings table, so a restart neither misses
messages nor raises the same incident twice: :meth:`Watch.rebuild` feeds the detector the last
``HISTORY_DAYS`` of messages up to the cursor and maps what it re-raises onto the incidents already stored.

Framework-free (SQLAlchemy only). The console's try-it conversations are not fed: staff rehearsing replies are
not citizens.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from collections.abc import Iterator

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from cases.opinion import HISTORY_DAYS, Alert, Detector, Settings
from models import TRY_OPENID_PREFIX, Citizen, Direction, Message, OpinionIncident, Setting
from models import Alert as AlertRow

log = logging.getLogger(__name__)

CURSOR_KEY = "opinion.cursor"
BATCH = 5000


@dataclasses.dataclass(frozen=True)
class Raised:
    """A new incident, for whoever tells the supervisor on duty."""

    incident_id: int
    theme: str | None
    place: str | None
    citizens: int
    raised_at: dt.datetime


def usual(expected: float) -> str:
    """What the baseline expected, as people say it: 平常约2.5位, or 平常几乎没有."""
    return f"平常约{expected:.1f}位" if expected >= 0.1 else "平常几乎没有"


def label(theme: str | None, place: str | None) -> str:
    """What an incident is about, in one phrase: 阳光小区 · 停水."""
    return " · ".join(p for p in (place, theme) if p) or "同一问题"


class Watch:
    """The detector, its cursor and the map from its incident numbers to stored incidents."""

    def __init__(self, settings: Settings | None = None, history_days: int = HISTORY_DAYS) -> None:
        self.detector = Detector(settings)
        self.history = dt.timedelta(days=history_days)
        self.cursor = 0
        self._incidents: dict[int, int] = {}
        self._last: dt.datetime | None = None

    # -- state ----------------------------------------------------------------------------------

    def rebuild(self, session: Session, now: dt.datetime) -> None:
        """Feed the last ``history_days`` of messages up to the stored cursor; map re-raised alerts to incidents.

        On a first run (no cursor yet) the cursor starts at the newest message: history builds the baseline,
        and only messages from now on can raise an alert.
        """
        stored = session.get(Setting, CURSOR_KEY)
        newest = session.scalar(select(func.max(Message.id)).where(Message.direction == Direction.IN)) or 0
        self.cursor = int(json.loads(stored.value)) if stored is not None else newest
        open_incidents = session.scalars(
            select(OpinionIncident).where(OpinionIncident.raised_at >= now - self.history)
        ).all()
        owner = {mid: i.id for i in open_incidents for mid in json.loads(i.message_ids)}
        fed = 0
        for row in self._messages(session, since=now - self.history, upto=self.cursor):
            fed += 1
            for alert in self._observe(row):
                if not alert.update:
                    found = {owner[k] for k in alert.keys if k in owner}
                    if found:
                        self._incidents[alert.incident] = min(found)
        if stored is None:
            self._save_cursor(session, now)
        log.info("opinion watch rebuilt from %d messages; cursor at %d", fed, self.cursor)

    def step(self, session: Session, now: dt.datetime) -> list[Raised]:
        """Read the messages after the cursor (at most ``BATCH``); store incidents and links; the caller commits."""
        raised: list[Raised] = []
        last_id = self.cursor
        for row in self._messages(session, after=self.cursor, limit=BATCH):
            last_id = row.id
            for alert in self._observe(row):
                if alert.update:
                    self._link(session, alert)
                else:
                    raised.append(self._raise(session, alert))
        if last_id != self.cursor:
            self.cursor = last_id
            self._save_cursor(session, now)
        return raised

    # -- internals ------------------------------------------------------------------------------

    def _messages(
        self,
        session: Session,
        *,
        since: dt.datetime | None = None,
        upto: int | None = None,
        after: int | None = None,
        limit: int | None = None,
    ) -> Iterator[Row[int, dt.datetime, str, int]]:
        query = (
            select(Message.id, Message.received_at, Message.content, Message.citizen_id)
            .join(Citizen, Citizen.id == Message.citizen_id)
            .where(
                Message.direction == Direction.IN,
                Message.content.is_not(None),
                ~Citizen.openid.startswith(TRY_OPENID_PREFIX),
            )
            .order_by(Message.id)
        )
        if since is not None:
            query = query.where(Message.received_at >= since)
        if upto is not None:
            query = query.where(Message.id <= upto)
        if after is not None:
            query = query.where(Message.id > after)
        if limit is not None:
            query = query.limit(limit)
        yield from session.execute(query.execution_options(yield_per=2000))

    def _observe(self, row: Row[int, dt.datetime, str, int]) -> list[Alert]:
        # Ids follow commit order closely but not exactly across workers: never step back in time.
        at = row.received_at if self._last is None else max(row.received_at, self._last)
        self._last = at
        return self.detector.observe(at, row.content or "", row.id, row.citizen_id)

    def _raise(self, session: Session, alert: Alert) -> Raised:
        times = dict(
            session.execute(select(Message.id, Message.received_at).where(Message.id.in_(list(alert.keys)))).all()
        )
        incident = OpinionIncident(
            theme=alert.theme,
            place=alert.place,
            raised_at=alert.at,
            first_at=min(times.values(), default=alert.at),
            last_at=alert.at,
            citizens=alert.count,
            expected=round(alert.expected, 3),
            message_ids=json.dumps(sorted(int(str(k)) for k in alert.keys)),
            status="open",
        )
        session.add(incident)
        session.flush()
        self._incidents[alert.incident] = incident.id
        what = label(alert.theme, alert.place)
        session.add(
            AlertRow(
                kind="public_opinion",
                detail=f"舆情预警#{incident.id}：{what}，1小时内{alert.count}位群众反映（{usual(alert.expected)}）",
                created_at=alert.at,
            )
        )
        return Raised(incident.id, alert.theme, alert.place, alert.count, alert.at)

    def _link(self, session: Session, alert: Alert) -> None:
        incident_id = self._incidents.get(alert.incident)
        incident = session.get(OpinionIncident, incident_id) if incident_id is not None else None
        if incident is None:
            return  # raised before a restart and not found among the stored ones: nothing to link to
        ids = json.loads(incident.message_ids)
        ids.extend(int(str(k)) for k in alert.keys)
        incident.message_ids = json.dumps(ids)
        incident.last_at = max(incident.last_at, alert.at)

    def _save_cursor(self, session: Session, now: dt.datetime) -> None:
        row = session.get(Setting, CURSOR_KEY)
        if row is None:
            session.add(Setting(key=CURSOR_KEY, value=json.dumps(self.cursor), updated_at=now, updated_by="opinion"))
        else:
            row.value, row.updated_at = json.dumps(self.cursor), now
