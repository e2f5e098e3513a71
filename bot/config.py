"""Configuration: documented defaults, then the environment, then a test mapping — validated at once.

Every value is checked when the app is built; a bad one raises :class:`ConfigError` with one line
that names the variable and what is wrong, which the CLI prints instead of a traceback.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = PROJECT_ROOT / "var"

# Demo credentials for the zero-configuration default (make run / make test). Production
# (MINSHENG_ENV=production) refuses to start with them.
DEMO_TOKEN = "minsheng"  # noqa: S105 (public demo value, refused in production)
DEMO_APP_ID = "wx5f3a8c0d2e4b6a17"
DEMO_AES_KEY = "M1nSh3ngD3m0AesKey000000000000000000000000A"
DEMO_SECRET_KEY = "minsheng-development-only-secret-key"  # noqa: S105 (refused in production)

DEFAULTS: dict[str, Any] = {
    "MINSHENG_ENV": "development",
    "WECHAT_TOKEN": DEMO_TOKEN,
    "WECHAT_APP_ID": DEMO_APP_ID,
    "WECHAT_APP_SECRET": "",
    "WECHAT_ENCODING_AES_KEY": DEMO_AES_KEY,
    "WECHAT_ENCODING_AES_KEY_PREVIOUS": "",
    "WECHAT_API_BASE": "https://api.weixin.qq.com",
    # Seconds to wait for WeChat's API (customer-service sends, tokens). A send not answered in time
    # is reported for a person to check, not retried: it may have been delivered.
    "WECHAT_API_TIMEOUT": 10,
    "WECHAT_TIMESTAMP_WINDOW": 300,
    "WECHAT_MESSAGE_MODE": "any",
    "DATABASE_URL": f"sqlite:///{VAR_DIR / 'minsheng.db'}",
    "REDIS_URL": "",
    "REDIS_NAMESPACE": "minsheng",
    "EMBEDDED_REDIS_DB": str(VAR_DIR / "redis.db"),
    # Where pushes wait while the database is down (a local file per host; drained automatically).
    "SPOOL_PATH": str(VAR_DIR / "spool.db"),
    # Seconds between a worker's attempts to drain the spool (0: only `python -m bot drain-spool`).
    "SPOOL_DRAIN_SECONDS": 2,
    # Seconds between sealing rounds of the tamper-evident hash chains (0: only `python -m bot seal`).
    "CHAIN_SEAL_SECONDS": 10,
    # Days after which message texts, closed cases' summaries and idle citizens are anonymised
    # (the welcome tells citizens: three years after a case is closed). The audit log is kept.
    "RETENTION_DAYS": 1095,
    "SECRET_KEY": DEMO_SECRET_KEY,
    "TIMEZONE": "Asia/Shanghai",
    # The unit's name as reports and the wall screen print it (e.g. 某某区人民政府、某某市12345热线).
    "UNIT_NAME": "民声政务消息平台",
    "LOG_LEVEL": "INFO",
    # Secure flag on the console's session cookie: "auto" = on in production, off in development
    # (a browser drops Secure cookies on the plain-HTTP demo address).
    "CONSOLE_COOKIE_SECURE": "auto",
    # Working days to answer per request type, over the defaults (inquiry 2, help 10, suggestion 10,
    # complaint 15, report 15, praise 10), e.g. "inquiry=3,complaint=20".
    "CASE_DEADLINE_DAYS": "",
    # Days after closing within which a case may be reopened rather than filed anew.
    "CASE_REOPEN_DAYS": 15,
    # The address citizens reach this server at (https://…), for links that leave the chat: the web form, the
    # 订阅通知 consent page, 网页授权 redirects. Empty: taken from the request (development).
    "PUBLIC_BASE_URL": "",
    # Reverse proxies (nginx, a load balancer) in front of the app whose X-Forwarded-For/-Proto are trusted: the
    # rate limits and sign-in throttling count the citizen's or user's address, not the proxy's. 0: none (direct).
    "TRUSTED_PROXY_HOPS": 0,
    # -- other channels (issue 20) --
    # Open311 requests accepted per API key per minute.
    "OPEN311_RATE_PER_MINUTE": 60,
    # Web-form letters accepted per client address per hour.
    "WEBFORM_RATE_PER_HOUR": 10,
    # The 订阅通知 (subscribe message) template chosen in the MP console for case results and status changes;
    # empty: no subscription is offered, and answers after 48 hours go by phone.
    "SUBSCRIBE_TEMPLATE_ID": "",
    # -- citizens' photos, voice and video (issue 22) --
    # Where originals are kept: empty = a directory (MEDIA_DIR); "s3" = an S3-compatible bucket (S3_*).
    "MEDIA_STORAGE": "",
    "MEDIA_DIR": str(VAR_DIR / "media"),
    "S3_ENDPOINT_URL": "",
    "S3_ACCESS_KEY": "",
    "S3_SECRET_KEY": "",
    "S3_BUCKET": "minsheng-media",
    "S3_REGION": "us-east-1",
    # Seconds a signed link to an attachment stays valid in the console.
    "MEDIA_URL_SECONDS": 300,
    # Seconds between a worker's media sweeps (lost fetches re-queued, held uploads sent on; 0: only
    # `python -m bot fetch-media`), and where uploads wait while the object store is down (empty: beside the spool).
    "MEDIA_SWEEP_SECONDS": 60,
    "MEDIA_PENDING_DIR": "",
    # Hosts of WeChat's image links (a photo's PicUrl), followed when its media id has expired; empty: never.
    "MEDIA_PICTURE_HOSTS": "mmbiz.qpic.cn,mmbiz.qlogo.cn",
}
# Values that must be set explicitly in production.
_REQUIRED_IN_PRODUCTION = ("WECHAT_TOKEN", "WECHAT_APP_ID", "SECRET_KEY", "DATABASE_URL", "REDIS_URL")
_INT_KEYS = {
    "WECHAT_TIMESTAMP_WINDOW",
    "WECHAT_API_TIMEOUT",
    "CASE_REOPEN_DAYS",
    "OPEN311_RATE_PER_MINUTE",
    "WEBFORM_RATE_PER_HOUR",
    "MEDIA_URL_SECONDS",
    "MEDIA_SWEEP_SECONDS",
    "TRUSTED_PROXY_HOPS",
    "SPOOL_DRAIN_SECONDS",
    "CHAIN_SEAL_SECONDS",
    "RETENTION_DAYS",
}
_ZERO_ALLOWED = {"SPOOL_DRAIN_SECONDS", "CHAIN_SEAL_SECONDS", "MEDIA_SWEEP_SECONDS", "TRUSTED_PROXY_HOPS"}
_AES_ALPHABET = re.compile(r"^[A-Za-z0-9+/]{43}$")


def load_config(environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Defaults ← environment ← overrides, validated; raises :class:`ConfigError`."""
    environ = os.environ if environ is None else environ
    config = dict(DEFAULTS)
    explicit: set[str] = set()
    for key in DEFAULTS:
        if key in environ:
            config[key] = environ[key]
            explicit.add(key)
    for key, value in (overrides or {}).items():
        config[key] = value
        explicit.add(key)
    _validate(config, explicit)
    return config


def _fail(key: str, why: str) -> ConfigError:
    return ConfigError(f"{key}: {why}")


def _validate(config: dict[str, Any], explicit: set[str]) -> None:
    env = str(config["MINSHENG_ENV"])
    if env not in ("development", "production"):
        raise _fail("MINSHENG_ENV", f"must be 'development' or 'production', not {env!r}")
    if env == "production":
        for key in _REQUIRED_IN_PRODUCTION:
            if key not in explicit or not str(config[key]).strip():
                raise _fail(key, "must be set in production")
        if config["SECRET_KEY"] == DEMO_SECRET_KEY or len(str(config["SECRET_KEY"])) < 32:
            raise _fail("SECRET_KEY", "must be a random string of at least 32 characters in production")
        if config["WECHAT_ENCODING_AES_KEY"] == DEMO_AES_KEY:
            raise _fail("WECHAT_ENCODING_AES_KEY", "the demo key cannot be used in production")

    for key in _INT_KEYS:
        try:
            config[key] = int(config[key])
        except (TypeError, ValueError):
            raise _fail(key, f"must be a whole number, not {config[key]!r}") from None
        if config[key] < 0 or (config[key] == 0 and key not in _ZERO_ALLOWED):
            raise _fail(key, "must be positive")

    token = str(config["WECHAT_TOKEN"])
    if not re.fullmatch(r"[A-Za-z0-9]{3,32}", token):
        raise _fail("WECHAT_TOKEN", "must be 3–32 letters or digits (WeChat's rule)")
    app_id = str(config["WECHAT_APP_ID"])
    if not re.fullmatch(r"wx[0-9a-zA-Z]{16}", app_id):
        raise _fail("WECHAT_APP_ID", f"must look like wx followed by 16 letters or digits, not {app_id!r}")
    for key in ("WECHAT_ENCODING_AES_KEY", "WECHAT_ENCODING_AES_KEY_PREVIOUS"):
        value = str(config[key] or "")
        config[key] = value
        if value:
            _check_aes_key(key, value)
    if config["WECHAT_ENCODING_AES_KEY_PREVIOUS"] and not config["WECHAT_ENCODING_AES_KEY"]:
        raise _fail("WECHAT_ENCODING_AES_KEY_PREVIOUS", "set without WECHAT_ENCODING_AES_KEY")

    mode = str(config["WECHAT_MESSAGE_MODE"]).lower()
    if mode not in ("any", "safe"):
        raise _fail("WECHAT_MESSAGE_MODE", f"must be 'any' or 'safe', not {mode!r}")
    if mode == "safe" and not config["WECHAT_ENCODING_AES_KEY"]:
        raise _fail("WECHAT_MESSAGE_MODE", "'safe' needs WECHAT_ENCODING_AES_KEY")
    config["WECHAT_MESSAGE_MODE"] = mode

    _check_http_url("WECHAT_API_BASE", str(config["WECHAT_API_BASE"]))
    config["WECHAT_API_BASE"] = str(config["WECHAT_API_BASE"]).rstrip("/")

    try:
        url = make_url(str(config["DATABASE_URL"]))
    except ArgumentError:
        raise _fail("DATABASE_URL", f"is not a database URL: {config['DATABASE_URL']!r}") from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise _fail("DATABASE_URL", f"must be sqlite:/// or postgresql+psycopg://, not {url.get_backend_name()}")
    if url.get_backend_name() == "postgresql":
        if url.drivername in ("postgresql", "postgres"):
            # psycopg 3 is the production driver; plain URLs as Heroku-style hosts give them are accepted.
            url = url.set(drivername="postgresql+psycopg")
        elif url.drivername != "postgresql+psycopg":
            raise _fail("DATABASE_URL", f"use the psycopg (3) driver: postgresql+psycopg://, not {url.drivername}")
        config["DATABASE_URL"] = url.render_as_string(hide_password=False)

    redis_url = str(config["REDIS_URL"] or "")
    config["REDIS_URL"] = redis_url
    if redis_url:
        parts = urlsplit(redis_url)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise _fail("REDIS_URL", f"must start with redis://, rediss:// or unix://, not {redis_url!r}")
        if parts.scheme != "unix" and not parts.hostname:
            raise _fail("REDIS_URL", f"has no host: {redis_url!r}")
        try:
            _ = parts.port
        except ValueError:
            raise _fail("REDIS_URL", f"has an invalid port: {redis_url!r}") from None
    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", str(config["REDIS_NAMESPACE"])):
        raise _fail("REDIS_NAMESPACE", "must be 1–64 letters, digits or _ . : -")

    from cases.sla import parse_working_days

    try:
        parse_working_days(str(config["CASE_DEADLINE_DAYS"]))
    except ValueError as exc:
        raise _fail("CASE_DEADLINE_DAYS", str(exc)) from None

    secure = str(config["CONSOLE_COOKIE_SECURE"]).lower()
    if secure not in ("auto", "true", "false", "1", "0"):
        raise _fail("CONSOLE_COOKIE_SECURE", f"must be auto, true or false, not {secure!r}")
    config["CONSOLE_COOKIE_SECURE"] = env == "production" if secure == "auto" else secure in ("true", "1")

    try:
        ZoneInfo(str(config["TIMEZONE"]))
    except (ZoneInfoNotFoundError, ValueError):
        raise _fail("TIMEZONE", f"unknown time zone {config['TIMEZONE']!r}") from None
    if str(config["LOG_LEVEL"]).upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise _fail("LOG_LEVEL", "must be DEBUG, INFO, WARNING or ERROR")


def _check_aes_key(key: str, value: str) -> None:
    if len(value) != 43:
        raise _fail(key, f"must be 43 characters (got {len(value)})")
    if not _AES_ALPHABET.match(value):
        raise _fail(key, "may contain only letters, digits, + and /")
    try:
        raw = base64.b64decode(value + "=", validate=True)
    except binascii.Error:
        raise _fail(key, "is not valid base64") from None
    if len(raw) != 32:
        raise _fail(key, "does not decode to a 32-byte AES key")


def _check_http_url(key: str, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _fail(key, f"must be an http(s) URL with a host, not {value!r}")
    try:
        _ = parts.port
    except ValueError:
        raise _fail(key, f"has an invalid port: {value!r}") from None
