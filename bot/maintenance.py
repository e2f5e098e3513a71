"""Background upkeep of a worker: seal the hash chains, one sealer at a time across processes and hosts.

PostgreSQL: a transaction-level advisory lock per chain; SQLite (one host): a file lock beside the
database. Sealing runs a few seconds behind the writes, off the message path.
"""

from __future__ import annotations

import contextlib
import logging
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from bot.filelock import try_lock
from cases.chain import CHAINS, Report, chain_key, seal, verify

log = logging.getLogger(__name__)


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
    from bot.extensions import services

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
    from bot.extensions import services

    key = chain_key(app.config["SECRET_KEY"])
    with services(app).sessions() as session:
        return [verify(session, key, chain) for chain in CHAINS]
