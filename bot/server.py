"""``serve``: gunicorn with sync workers, plus the embedded Redis they share when REDIS_URL is unset.

The embedded redis-server runs outside gunicorn's process group, so the master stops it on exit;
otherwise it would outlive the server.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from bot.config import load_config
from bot.maintenance import start_upkeep
from bot.redis_store import EmbeddedRedis
from bot.services import services

log = logging.getLogger(__name__)


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any], factory: Callable[[], Flask]) -> None:
        self.options = options
        self.factory = factory
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self.factory()


def run(factory: Callable[[], Flask], host: str, port: int, workers: int, timeout: int, access_log: bool) -> None:
    """Run gunicorn in the foreground until it is stopped; each worker builds its app with ``factory``."""
    config = load_config()
    master = os.getpid()
    embedded: EmbeddedRedis | None = None
    if not config["REDIS_URL"]:
        embedded = EmbeddedRedis(config["EMBEDDED_REDIS_DB"])
        # Workers inherit the environment: every worker talks to this one server.
        os.environ["REDIS_URL"] = embedded.url()
        log.info("embedded redis at %s", os.environ["REDIS_URL"])

    def stop_embedded() -> None:
        # Workers are forked inside run() and leave through the same frames: only the master
        # may stop the server they all share.
        if embedded is not None and os.getpid() == master and embedded.stop():
            log.info("embedded redis stopped")

    def on_exit(server: Any) -> None:
        stop_embedded()

    def post_worker_init(worker: Any) -> None:
        # Pushes spooled while the database was down (perhaps before a restart) are stored as soon
        # as it answers again, and new rows are sealed into the hash chains; workers take turns.
        app = worker.wsgi
        # In each worker, after the fork and before it accepts: not while the app is built.
        services(app).pipeline.actor.load_classifier()
        if app.config["SPOOL_DRAIN_SECONDS"] or app.config["CHAIN_SEAL_SECONDS"]:
            start_upkeep(app, app.config["SPOOL_DRAIN_SECONDS"] or 2)

    options: dict[str, Any] = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "sync",
        "timeout": timeout,
        "graceful_timeout": 5,
        "keepalive": 5,
        # Several instances may share a machine (tests, benchmarks): no shared control socket.
        "control_socket_disable": True,
        "on_exit": on_exit,
        "post_worker_init": post_worker_init,
        "loglevel": os.environ.get("LOG_LEVEL", "info").lower(),
        # Query strings carry OpenIDs and signatures: log the path only.
        "accesslog": "-" if access_log else None,
        "access_log_format": '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms',
    }
    try:
        _Gunicorn(options, factory).run()
    finally:
        stop_embedded()
