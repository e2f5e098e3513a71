"""Where citizens' photos, voice and video are kept: one small interface, a directory or an S3-compatible bucket.

``MEDIA_STORAGE`` chooses the backend: empty keeps objects as files under ``MEDIA_DIR`` (a single host, the
zero-configuration default); ``"s3"`` keeps them in the bucket ``S3_BUCKET`` at ``S3_ENDPOINT_URL`` (production,
any S3-compatible server: SeaweedFS, MinIO, Ceph, a cloud's object storage).

The S3 client is MinIO's Python SDK (``minio``): it speaks S3 to any compatible server, ships its own type hints
(mypy --strict needs no stubs), and needs only urllib3, already a dependency. boto3 was the other candidate, but
botocore pins python-dateutil below 3 while this project pins 4, and it brings far more than three calls need.

Every failure to reach the store is :class:`StorageUnavailable`, so a caller can keep the bytes elsewhere and try
again later (``bot.media.keep`` never loses an accepted upload); a key that is not there is :class:`KeyError`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from flask import Flask

log = logging.getLogger(__name__)

EXTENSION_KEY = "minsheng.media_storage"
# Seconds to reach the store and to wait for an answer: an outage must fail fast, the bytes then wait locally.
CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 30.0


class StorageUnavailable(Exception):
    """The object store cannot be reached or refused the operation; try again later."""


class Storage(Protocol):
    """An object store: bytes under a key (keys are relative paths such as ``image/ab/abcd….jpg``)."""

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store ``data`` under ``key`` (replacing what was there); raises StorageUnavailable."""

    def get(self, key: str) -> bytes:
        """The bytes under ``key``; raises KeyError if there are none, StorageUnavailable if unreachable."""

    def get_range(self, key: str, start: int, length: int) -> tuple[bytes, int]:
        """At most ``length`` bytes from ``start``, and the object's whole size (a player seeking in a long
        recording asks for one part at a time); raises as ``get``."""

    def delete(self, key: str) -> None:
        """Remove ``key`` (nothing happens if it is absent); raises StorageUnavailable."""


def _checked(key: str) -> str:
    """``key`` if it is a plain relative path (no traversal, no absolute path, no empty parts)."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(part in ("", ".", "..") for part in parts) or "\\" in key:
        raise ValueError(f"invalid storage key: {key!r}")
    return key


class DirectoryStorage:
    """Objects as files under one directory; writes are atomic (a temporary file renamed into place)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / _checked(key)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Write to a temporary file beside the target, fsync it, rename it: a reader never sees half a file."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            raise StorageUnavailable(f"cannot write {key}: {exc.strerror or exc}") from exc

    def get(self, key: str) -> bytes:
        """The file's bytes."""
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise KeyError(key) from None
        except OSError as exc:
            raise StorageUnavailable(f"cannot read {key}: {exc.strerror or exc}") from exc

    def get_range(self, key: str, start: int, length: int) -> tuple[bytes, int]:
        """Part of the file, read from where it starts."""
        path = self._path(key)
        try:
            with path.open("rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                fh.seek(start)
                return fh.read(max(0, length)), size
        except FileNotFoundError:
            raise KeyError(key) from None
        except OSError as exc:
            raise StorageUnavailable(f"cannot read {key}: {exc.strerror or exc}") from exc

    def delete(self, key: str) -> None:
        """Remove the file if it exists."""
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise StorageUnavailable(f"cannot delete {key}: {exc.strerror or exc}") from exc


class S3Storage:
    """Objects in one bucket of an S3-compatible server (created on first use if it does not exist)."""

    def __init__(
        self,
        endpoint_url: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        region: str = "us-east-1",
        *,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        import urllib3
        from minio import Minio

        parts = urlsplit(endpoint_url if "://" in endpoint_url else f"https://{endpoint_url}")
        if not parts.netloc:
            raise ValueError(f"S3_ENDPOINT_URL has no host: {endpoint_url!r}")
        # One quick retry on a refused connection or a 5xx; a longer outage is the caller's to wait out.
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            retries=urllib3.Retry(total=1, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504)),
            maxsize=8,
        )
        self.bucket = bucket
        self.client = Minio(
            parts.netloc,
            access_key=access_key,
            secret_key=secret_key,
            secure=parts.scheme == "https",
            region=region or None,
            http_client=http,
        )
        self._bucket_ready = False
        self._lock = threading.Lock()

    def _ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        with self._lock:
            if self._bucket_ready:
                return
            from minio.error import S3Error

            try:
                if not self.client.bucket_exists(self.bucket):
                    self.client.make_bucket(self.bucket)
            except S3Error as exc:
                # Another process created it between our check and our request.
                if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise
            self._bucket_ready = True

    def _call(self, what: str, key: str, fn: Any) -> Any:
        from minio.error import S3Error

        try:
            self._ensure_bucket()
            return fn()
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject"):
                raise KeyError(key) from None
            raise StorageUnavailable(f"S3 {what} {key}: {exc.code}") from exc
        except KeyError:
            raise
        except Exception as exc:  # urllib3's MaxRetryError, ServerError (5xx), a refused connection, a timeout
            raise StorageUnavailable(f"S3 {what} {key}: {type(exc).__name__}") from exc

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Upload in one request (attachments are at most a few tens of MB)."""
        _checked(key)
        self._call(
            "put",
            key,
            lambda: self.client.put_object(
                self.bucket, key, io.BytesIO(data), len(data), content_type=content_type or "application/octet-stream"
            ),
        )

    def get(self, key: str) -> bytes:
        """Download the object whole."""
        _checked(key)

        def read() -> bytes:
            response = self.client.get_object(self.bucket, key)
            try:
                return bytes(response.read())
            finally:
                response.close()
                response.release_conn()

        data: bytes = self._call("get", key, read)
        return data

    def get_range(self, key: str, start: int, length: int) -> tuple[bytes, int]:
        """Part of the object (an HTTP range request to the store), and its size."""
        _checked(key)

        def read() -> tuple[bytes, int]:
            size = int(self.client.stat_object(self.bucket, key).size or 0)
            if length <= 0 or start >= size:
                return b"", size
            response = self.client.get_object(self.bucket, key, offset=start, length=min(length, size - start))
            try:
                return bytes(response.read()), size
            finally:
                response.close()
                response.release_conn()

        part: tuple[bytes, int] = self._call("get", key, read)
        return part

    def delete(self, key: str) -> None:
        """Remove the object (S3 answers success for an absent key too)."""
        _checked(key)
        self._call("delete", key, lambda: self.client.remove_object(self.bucket, key))


def storage_from_config(config: Any) -> Storage:
    """The backend ``config`` names (MEDIA_STORAGE), built without any I/O."""
    kind = (config.get("MEDIA_STORAGE") or "").strip().lower()
    if kind == "":
        return DirectoryStorage(config["MEDIA_DIR"])
    if kind == "s3":
        if not config.get("S3_ENDPOINT_URL"):
            raise ValueError("MEDIA_STORAGE=s3 needs S3_ENDPOINT_URL")
        return S3Storage(
            config["S3_ENDPOINT_URL"],
            config.get("S3_ACCESS_KEY", ""),
            config.get("S3_SECRET_KEY", ""),
            config.get("S3_BUCKET") or "minsheng-media",
            config.get("S3_REGION") or "us-east-1",
        )
    raise ValueError(f"MEDIA_STORAGE must be empty or 's3', not {kind!r}")


def storage_for(app: Flask) -> Storage:
    """The app's object store, built once and kept in ``app.extensions``."""
    store: Storage | None = app.extensions.get(EXTENSION_KEY)
    if store is None:
        store = app.extensions.setdefault(EXTENSION_KEY, storage_from_config(app.config))
    return store
