"""The shared clients of one app: engines and sessions, Redis, crypto, the spool, the pipeline — and their getter.

The wiring (``bot.extensions.init_app``) builds one :class:`Services` per app and puts it on
``app.extensions["minsheng"]``; the parts (jobs, upkeep, the WeChat endpoint, bootstrap) reach it through
:func:`services`, which lives here rather than in the wiring so that they need not import the wiring back.
Nothing here opens a connection until it is first used.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import redis
from flask import Flask, current_app
from redis import Redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.db import MESSAGE_CONNECT_TIMEOUT_S, make_autocommit_engine, make_engine, make_sessionmaker
from bot.public import consent_page
from bot.redis_store import EmbeddedRedis, client_for
from bot.spool import Spool
from bot.wechat.crypto import MessageCrypto
from cases.sla import parse_working_days
from handlers.dedupe import Deduper
from handlers.pipeline import Pipeline
from replies.library import Library

KEY = "minsheng"
# After Redis fails, messages skip it for this long (dedup by the database, one-turn replies).
REDIS_BACKOFF_S = 5.0


class Services:
    """Everything a request needs that outlives it: engine, Redis client, crypto, pipeline."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.engine: Engine = make_engine(config["DATABASE_URL"])
        self.sessions: sessionmaker[Session] = make_sessionmaker(self.engine)
        # The message path on PostgreSQL writes each turn in one statement, atomic on its own:
        # autocommit spares it BEGIN and COMMIT round trips. Everything else uses transactions.
        self.message_engine: Engine | None = None
        self.message_sessions: sessionmaker[Session] = self.sessions
        if self.engine.dialect.name == "postgresql":
            self.message_engine = make_autocommit_engine(config["DATABASE_URL"])
        else:
            # SQLite: the same file, but a writer waits for a lock only briefly before the message is spooled.
            self.message_engine = make_engine(config["DATABASE_URL"], busy_timeout_s=MESSAGE_CONNECT_TIMEOUT_S)
        self.message_sessions = make_sessionmaker(self.message_engine)
        self.spool = Spool(Path(config["SPOOL_PATH"]))
        self.embedded_redis = None if config["REDIS_URL"] else EmbeddedRedis(config["EMBEDDED_REDIS_DB"])
        self._redis: redis.Redis | None = None
        self._redis_down_until = 0.0
        self._lock = threading.Lock()
        self.crypto = MessageCrypto(
            config["WECHAT_TOKEN"],
            config["WECHAT_APP_ID"],
            [config["WECHAT_ENCODING_AES_KEY"], config["WECHAT_ENCODING_AES_KEY_PREVIOUS"]],
        )
        self.library = Library(config["TIMEZONE"])
        self.deduper = Deduper(config["REDIS_NAMESPACE"], replay_window=2 * config["WECHAT_TIMESTAMP_WINDOW"])
        self.pipeline = Pipeline(
            self.library,
            dialect=self.engine.dialect.name,
            timezone=config["TIMEZONE"],
            namespace=config["REDIS_NAMESPACE"],
            working_days=parse_working_days(config["CASE_DEADLINE_DAYS"]),
            notice_link=consent_page(config),
        )

    @property
    def redis(self) -> Redis:
        """The Redis client (the embedded server is started on first use when no URL is set)."""
        if self._redis is None:
            with self._lock:
                if self._redis is None:
                    url = self.config["REDIS_URL"] or self.embedded_redis.url()  # type: ignore[union-attr]
                    self._redis = client_for(url)
        return self._redis

    def redis_for_messages(self) -> Redis | None:
        """The Redis client, or None for a few seconds after it failed (each message must not wait for it)."""
        if time.monotonic() < self._redis_down_until:
            return None
        return self.redis

    def redis_failed(self) -> None:
        """Redis did not answer: the message path goes on without it for REDIS_BACKOFF_S."""
        self._redis_down_until = time.monotonic() + REDIS_BACKOFF_S

    def close(self) -> None:
        """Release connections and stop an embedded Redis this process started."""
        if self._redis is not None:
            self._redis.close()
            self._redis = None
        if self.embedded_redis is not None:
            self.embedded_redis.stop()
        self.engine.dispose()
        if self.message_engine is not None:
            self.message_engine.dispose()


def services(app: Flask | None = None) -> Services:
    """The services of ``app`` (default: the current app)."""
    return (app or current_app).extensions[KEY]  # type: ignore[no-any-return]
