"""The durable spool: no message WeChat was answered for is lost while the database is down or slow.

When the message path cannot write to the database in time, the edge writes the push to a local
SQLite file (synchronous=FULL: on disk before the answer leaves), answers the citizen with the vetted
"received" reply, and moves on. A drainer — one at a time per spool, under a file lock — replays the
spooled messages in arrival order once the database answers again (``bot.maintenance.drain_into`` stores
them through the pipeline): each is stored exactly once (the spool row is deleted right after the
database commit, and the database's unique dedup key turns a replay after a crash between the two into a
no-op), together with the reply that was actually sent.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.filelock import try_lock
from handlers.types import InboundMessage, OutboundReply

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup_key TEXT NOT NULL UNIQUE,
    message TEXT NOT NULL,
    sent TEXT,
    spooled_at TEXT NOT NULL
)
"""


@dataclasses.dataclass(frozen=True)
class Spooled:
    """One spooled push: the message and the reply the citizen got for it."""

    id: int
    message: InboundMessage
    sent: OutboundReply | None


def _encode(msg: InboundMessage) -> str:
    data = dataclasses.asdict(msg)
    data["create_time"] = msg.create_time.isoformat()
    return json.dumps(data, ensure_ascii=False)


def _decode(raw: str) -> InboundMessage:
    data: dict[str, Any] = json.loads(raw)
    data["create_time"] = dt.datetime.fromisoformat(data["create_time"])
    return InboundMessage(**data)


class Spool:
    """An append-only local queue of pushes, shared by the worker processes of one host."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=2, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: the row is on disk before the citizen is told we have it.
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(_SCHEMA)
            self._local.conn = conn
        return conn

    def put(self, msg: InboundMessage, sent: OutboundReply | None, now: dt.datetime) -> bool:
        """Write a push durably; False if this message was spooled already (a retry)."""
        cur = self._conn().execute(
            "INSERT OR IGNORE INTO spool (dedup_key, message, sent, spooled_at) VALUES (?, ?, ?, ?)",
            (msg.dedup_key, _encode(msg), sent.to_json() if sent else None, now.isoformat()),
        )
        return cur.rowcount == 1

    def sent_for(self, dedup_key: str) -> OutboundReply | None:
        """The reply already given for a spooled message (a retry gets the same answer)."""
        row = self._conn().execute("SELECT sent FROM spool WHERE dedup_key = ?", (dedup_key,)).fetchone()
        return OutboundReply.from_json(row[0]) if row and row[0] else None

    def holds(self, dedup_key: str) -> bool:
        """True if the message waits in the spool."""
        return self._conn().execute("SELECT 1 FROM spool WHERE dedup_key = ?", (dedup_key,)).fetchone() is not None

    def pending(self) -> int:
        """How many pushes wait to be drained."""
        if not self.path.exists():
            return 0
        return int(self._conn().execute("SELECT count(*) FROM spool").fetchone()[0])

    def oldest(self, limit: int = 100) -> list[Spooled]:
        """The next pushes to drain, in arrival order."""
        rows = self._conn().execute("SELECT id, message, sent FROM spool ORDER BY id LIMIT ?", (limit,)).fetchall()
        return [Spooled(r[0], _decode(r[1]), OutboundReply.from_json(r[2]) if r[2] else None) for r in rows]

    def dead_letter(self, item: Spooled, reason: str) -> None:
        """Set a push the database refuses aside (kept, with why), so later ones can be drained."""
        conn = self._conn()
        conn.execute(
            "CREATE TABLE IF NOT EXISTS refused (id INTEGER PRIMARY KEY, dedup_key TEXT, message TEXT, reason TEXT)"
        )
        conn.execute(
            "INSERT INTO refused (dedup_key, message, reason) VALUES (?, ?, ?)",
            (item.message.dedup_key, _encode(item.message), reason),
        )

    def remove(self, spooled_id: int) -> None:
        """Forget a push once the database holds it."""
        self._conn().execute("DELETE FROM spool WHERE id = ?", (spooled_id,))

    def exclusive(self) -> contextlib.AbstractContextManager[bool]:
        """True while this process may drain (one drainer per spool), False if another is at it."""
        return try_lock(self.path.with_suffix(".lock"))

    def drain(self, store_one: Callable[[Spooled], None], batch: int = 100) -> int:
        """Replay spooled pushes in order through ``store_one`` (which commits); stops at the first failure.

        Returns how many were stored. A push is removed only after ``store_one`` returned.
        """
        done = 0
        with self.exclusive() as mine:
            if not mine:
                return 0
            while True:
                items = self.oldest(batch)
                if not items:
                    return done
                for item in items:
                    try:
                        store_one(item)
                    except Exception as exc:  # noqa: BLE001 (the database is still away: try later)
                        log.warning("spool drain paused after %d: %s", done, type(exc).__name__)
                        return done
                    self.remove(item.id)
                    done += 1

