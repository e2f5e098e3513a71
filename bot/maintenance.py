"""Background upkeep of a worker: store the pushes spooled while the database was away, seal the hash chains,
and sweep citizens' media (fetches due, files held while the object store was away: ``bot/media/fetch.py``).

Draining replays the spool (``bot/spool.py``) through the app's pipeline in arrival order, each push stored
exactly once; when the late decision opened a case, the acknowledgement with its number and deadline is
queued as a customer-service message. Sealing runs a few seconds behind the writes, off the message path,
one sealer at a time across processes and hosts: on PostgreSQL a transaction-level advisory lock per chain,
on SQLite (one host) a file lock beside the database. The media sweep runs every ``MEDIA_SWEEP_SECONDS`` (60 s;
0 = never), one process per host (a file lock: the held files are per host). :class:`Upkeep` does all three in
a thread of each worker.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from bot.filelock import try_lock
from bot.jobs import enqueue_delivery
from bot.media.fetch import sweep as media_sweep
from bot.services import services
from bot.spool import Spooled
from cases.chain import CHAINS, Report, chain_key, seal, verify
from cases.outbound import queued_message
from handlers.store import Duplicate, is_transient
from models import Alert, Case, Message

log = logging.getLogger(__name__)

UPKEEP_KEY = "minsheng.upkeep"
MEDIA_SWEEP_SECONDS = 60
MEDIA_THOROUGH_SECONDS = 3600


# -- the hash chains -------------------------------------------------------------------------------


@contextlib.contextmanager
def _chain_lock(session: Session, name: str, lock_dir: Path) -> Iterator[bool]:
    if session.get_bind().dialect.name == "postgresql":
        lock_id = zlib.crc32(f"minsheng-chain:{name}".encode())
        yield bool(session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": lock_id}).scalar())
        return
    with try_lock(lock_dir / f"chain-{name}.lock") as mine:
        yield mine


def seal_all(app: Any) -> dict[str, int]:
    """Seal every chain as far as it has settled; rows sealed per chain (0 where another sealer is at it)."""
    svc = services(app)
    key = chain_key(app.config["SECRET_KEY"])
    lock_dir = Path(app.config["SPOOL_PATH"]).parent
    sealed: dict[str, int] = {}
    for chain in CHAINS:
        with svc.sessions() as session, _chain_lock(session, chain.name, lock_dir) as mine:
            count = 0
            if mine:
                while batch := seal(session, key, chain):
                    count += batch
                session.commit()
            sealed[chain.name] = count
    return sealed


def verify_all(app: Any) -> list[Report]:
    """Verify every chain from its first row."""
    key = chain_key(app.config["SECRET_KEY"])
    with services(app).sessions() as session:
        return [verify(session, key, chain) for chain in CHAINS]


# -- draining the spool into the application's database ----------------------------------------------


def drain_into(app: Any) -> int:
    """Store every spooled push through the app's pipeline; returns how many were stored now."""
    svc = services(app)
    return svc.spool.drain(lambda item: _store(app, item))


def _store(app: Any, item: Spooled) -> None:
    svc = services(app)
    with app.app_context():
        session = svc.message_sessions()
        try:
            owed, inbound_id = svc.pipeline.run_late(item.message, session, item.sent)
            session.commit()
        except Duplicate:
            session.rollback()
            return  # stored before (a crash between the commit and the spool delete): nothing to do
        except Exception as exc:
            session.rollback()
            if is_transient(exc):
                raise  # still away: the drain pauses and tries again later
            # The row itself is refused: keep it aside for a person rather than block every later message.
            log.error("a spooled message was refused by the database: %s", type(exc).__name__)
            svc.spool.dead_letter(item, type(exc).__name__)
            with svc.sessions() as alerts:
                detail = f"暂存的消息无法写入数据库（{type(exc).__name__}），已另行保存待人工处理"
                alerts.add(Alert(kind="spool_refused", detail=detail))
                alerts.commit()
            return
        finally:
            session.close()
    if owed is None or inbound_id is None:
        return
    # The citizen was told "received" while the database was away; the case number and the deadline
    # follow as a customer-service message.
    with svc.sessions() as db:
        inbound = db.get(Message, inbound_id)
        case_id = db.scalar(select(Case.id).where(Case.opening_message_id == inbound_id))
        if inbound is None or case_id is None:
            return
        now = svc.pipeline.clock()
        queued = queued_message(
            inbound.citizen_id,
            owed.text,
            owed.template_key,
            owed.template_version,
            "bot",
            now,
            case_id=case_id,
            in_reply_to_id=inbound_id,
        )
        db.add(queued)
        db.commit()
        queued_id = queued.id
    try:
        enqueue_delivery(app, queued_id)
    except Exception:  # the row stays queued and visible on the case page
        log.exception("could not enqueue the owed acknowledgement (message %s)", queued_id)


# -- citizens' media -------------------------------------------------------------------------------


def sweep_media(app: Any, *, thorough: bool = True) -> dict[str, int] | None:
    """One media sweep on this host (None when another process of the host is at it)."""
    with try_lock(Path(app.config["SPOOL_PATH"]).parent / "media-sweep.lock") as mine:
        if not mine:
            return None
        done = media_sweep(app, thorough=thorough)
    if any(done.values()):
        log.info("media sweep: %s", done)
    return done


# -- the thread that does all three -----------------------------------------------------------------------


class Upkeep:
    """One background thread per process that drains the spool and seals the chains, started on demand."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self, interval: float = 2.0) -> None:
        """Start the thread unless it runs already (it runs until the process exits)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(
                target=self._forever, args=(interval,), name="spool-drainer", daemon=True
            )
            self._thread.start()

    def _forever(self, interval: float) -> None:
        app = self.app
        seal_every = app.config["CHAIN_SEAL_SECONDS"]
        next_seal = time.monotonic() + seal_every
        media_every = app.config.get("MEDIA_SWEEP_SECONDS", MEDIA_SWEEP_SECONDS)
        next_media = time.monotonic() + min(media_every, 10)
        # The first sweep of a process, then one an hour, is thorough (bot/media/fetch.py: sweep).
        next_thorough = 0.0
        spool = services(app).spool
        while True:
            try:
                if app.config["SPOOL_DRAIN_SECONDS"] and spool.pending():
                    stored = drain_into(app)
                    if stored:
                        log.info("stored %d spooled message(s)", stored)
                if seal_every and time.monotonic() >= next_seal:
                    next_seal = time.monotonic() + seal_every
                    seal_all(app)
                if media_every and time.monotonic() >= next_media:
                    next_media = time.monotonic() + media_every
                    thorough = time.monotonic() >= next_thorough
                    if thorough:
                        next_thorough = time.monotonic() + MEDIA_THOROUGH_SECONDS
                    sweep_media(app, thorough=thorough)
            except Exception as exc:
                if is_transient(exc):
                    # The database is away: said once per attempt, without a traceback every 2 s.
                    log.warning("background upkeep waiting for the database: %s", type(exc).__name__)
                else:
                    log.exception("background upkeep failed (spool drain, chain seal or media sweep); retrying")
            time.sleep(interval)


def start_upkeep(app: Flask, interval: float = 2.0) -> None:
    """Drain the spool and seal the hash chains in the background of this process (runs until exit)."""
    upkeep: Upkeep = app.extensions[UPKEEP_KEY]
    upkeep.start(interval)
