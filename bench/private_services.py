"""A private PostgreSQL cluster and a private redis-server for `make outage` and `make soak`.

Both live in a temporary directory, listen on free loopback ports and are stopped (and removed) at
the end, so the machine's shared PostgreSQL (5432) and Redis (6379) are never touched. PostgreSQL
uses Debian's binaries (/usr/lib/postgresql/*/bin) with trust authentication; initdb and the
server refuse to run as root, so as root they run as the `postgres` user (`runuser -u postgres --`).
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from typing import Any

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _pg_bindir() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise RuntimeError("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (apt-get install postgresql)")
    return os.path.dirname(found[-1])


class PrivatePostgres:
    """initdb into a temp dir; start/stop/restart on a free port; trust auth, superuser `postgres`."""

    def __init__(self, base: str | None = None) -> None:
        self.bindir = _pg_bindir()
        self.base = tempfile.mkdtemp(prefix="minsheng-pg-", dir=base)
        self.data = os.path.join(self.base, "data")
        self.logfile = os.path.join(self.base, "postgres.log")
        self.port = free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root and there is no `postgres` user to run PostgreSQL as") from None
            os.chown(self.base, pw.pw_uid, pw.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run(["initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8",
                   "--locale=C.UTF-8"])
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(f"\nport = {self.port}\nlisten_addresses = '{HOST}'\nunix_socket_directories = '{self.base}'\n"
                    "max_connections = 200\nfsync = on\nshared_buffers = 128MB\n")

    def _run(self, argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        cmd = [*self._as, os.path.join(self.bindir, argv[0]), *argv[1:]]
        cp = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.base)
        if cp.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:2])} failed ({cp.returncode}): {(cp.stderr or cp.stdout)[-1500:]}")
        return cp

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@{HOST}:{self.port}/minsheng"

    def start(self) -> None:
        self._run(["pg_ctl", "-D", self.data, "-l", self.logfile, "-w", "-t", "60", "start"])

    def stop(self, mode: str = "fast") -> None:
        self._run(["pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop"])

    def running(self) -> bool:
        cp = subprocess.run([*self._as, os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "status"],
                            capture_output=True, text=True, timeout=30)
        return cp.returncode == 0

    def postmaster_pid(self) -> int | None:
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                return int(f.readline().strip())
        except (OSError, ValueError):
            return None

    def create_database(self, name: str = "minsheng") -> None:
        self._run(["createdb", "-h", HOST, "-p", str(self.port), "-U", "postgres", name])

    def destroy(self) -> None:
        try:
            if self.running():
                self.stop("immediate")
        except Exception:
            pass
        shutil.rmtree(self.base, ignore_errors=True)


class PrivateRedis:
    """A redis-server of our own (no persistence) on a free loopback port; stop() and start() again."""

    def __init__(self, base: str | None = None) -> None:
        self.binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not os.path.exists(self.binary):
            raise RuntimeError("redis-server not found (apt-get install redis-server)")
        self.base = tempfile.mkdtemp(prefix="minsheng-redis-", dir=base)
        self.port = free_port()
        self.logfile = os.path.join(self.base, "redis.log")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def start(self, timeout: float = 20) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", HOST, "--save", "", "--appendonly", "no",
             "--dir", self.base, "--logfile", self.logfile, "--daemonize", "no", "--protected-mode", "yes"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with socket.create_connection((HOST, self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}; see {self.logfile}")
            time.sleep(0.1)
        raise RuntimeError(f"redis-server did not answer PING within {timeout}s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


def percentile(values: list[float], pct: float) -> float | None:
    """The nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(pct / 100.0 * len(ordered) + 0.5) - 1))]


def server_env(base: dict[str, str], pg: PrivatePostgres, redis_srv: PrivateRedis, tmp: str, namespace: str,
               **extra: str) -> dict[str, str]:
    """The environment of ``serve`` on the private services: safe mode, spool in ``tmp``, nothing leaves the host."""
    env = {k: v for k, v in base.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DATABASE_URL=pg.url,
        REDIS_URL=redis_srv.url,
        REDIS_NAMESPACE=namespace,
        WECHAT_MESSAGE_MODE="safe",
        WECHAT_API_BASE="http://127.0.0.1:9",
        SPOOL_PATH=os.path.join(tmp, "spool.db"),
        EMBEDDED_REDIS_DB=os.path.join(tmp, "unused-redis.db"),
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def tear_down(stop_server: Callable[[Any], Any], proc: Any, pg: PrivatePostgres | None,
              redis_srv: PrivateRedis | None, tmp: str) -> None:
    """Stop serve, then the private Redis and PostgreSQL, and remove their files (in a ``finally``)."""
    if proc is not None:
        stop_server(proc)
    if redis_srv is not None:
        redis_srv.destroy()
    if pg is not None:
        pg.destroy()
    shutil.rmtree(tmp, ignore_errors=True)
