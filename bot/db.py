"""Database engine and sessions: SQLite (WAL) by default, PostgreSQL through psycopg 3 in production."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

# The message path must answer WeChat within 5 s whatever the database does: a connection that does
# not come, a statement that does not return or a lock that is not released gives up well before.
# The message is then spooled (bot/spool.py), not lost.
MESSAGE_CONNECT_TIMEOUT_S = 2
MESSAGE_STATEMENT_TIMEOUT_MS = 2500
IDLE_IN_TRANSACTION_MS = 15000


def make_autocommit_engine(url: str) -> Engine:
    """A PostgreSQL engine whose connections are always in autocommit (the one-statement message path).

    Set once per connection, not toggled on every checkout, and with nothing to roll back on return.
    Short connect, statement and pool timeouts: see MESSAGE_STATEMENT_TIMEOUT_MS.
    """
    return create_engine(
        url,
        isolation_level="AUTOCOMMIT",
        pool_reset_on_return=None,
        pool_size=5,
        max_overflow=5,
        pool_recycle=1800,
        pool_timeout=MESSAGE_CONNECT_TIMEOUT_S,
        pool_pre_ping=False,
        connect_args={
            "connect_timeout": MESSAGE_CONNECT_TIMEOUT_S,
            "options": f"-c statement_timeout={MESSAGE_STATEMENT_TIMEOUT_MS}",
        },
        hide_parameters=True,
    )


def make_engine(url: str, *, busy_timeout_s: float = 15) -> Engine:
    """An engine for ``url``; no connection is opened until the first query.

    Every engine hides statement parameters in errors and logs: they carry citizens' messages.
    ``busy_timeout_s``: how long SQLite waits for a lock (short on the message path).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": busy_timeout_s}, hide_parameters=True)
        database = parsed.database
        if database and database != ":memory:":
            path = Path(database)

            @event.listens_for(engine, "do_connect")
            def _make_dir(dialect: Any, conn_rec: Any, cargs: Any, cparams: Any) -> None:
                path.parent.mkdir(parents=True, exist_ok=True)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, conn_rec: Any) -> None:
            cur = dbapi_conn.cursor()
            # WAL lets readers run beside the one writer; NORMAL is durable across process crashes in WAL.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            cur.close()

        return engine
    # A transaction left idle is ended by the server: an id it took must commit or roll back well within the
    # hash chains' SETTLE (cases/chain.py), or the sealer could pass over it.
    return create_engine(
        url,
        pool_size=5,
        max_overflow=5,
        pool_recycle=1800,
        hide_parameters=True,
        connect_args={"options": f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS}"},
    )


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after the single commit of a request."""
    return sessionmaker(engine, expire_on_commit=False)
