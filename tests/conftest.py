"""Shared fixtures: the app on each backend, a signing/encrypting WeChat sender, the shared data.

Every test that takes ``app`` (or ``wechat``) runs twice: on SQLite + the embedded Redis (the
zero-configuration default) and on PostgreSQL + a Redis server (production). PostgreSQL and Redis
are found on 127.0.0.1 (override with MINSHENG_TEST_PG_URL / MINSHENG_TEST_REDIS_URL); when they
are absent those runs are skipped, unless MINSHENG_REQUIRE_SERVICES=1 (CI) makes that a failure.
"""
from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.orm import Session

from bot import create_app
from bot.bootstrap import initialise
from bot.extensions import services
from bot.simulator import Request, Simulator
from models import (
    Alert,
    ApiKey,
    Attachment,
    AuditEntry,
    Case,
    CaseEvent,
    ChainHead,
    Citizen,
    Message,
    NoticeConsent,
    OpinionIncident,
    QaFlag,
    Setting,
    TemplateReview,
    TemplateVersion,
    ThreadState,
)

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("MINSHENG_SHARED", ROOT.parent / "shared"))
PG_URL = os.environ.get("MINSHENG_TEST_PG_URL", "postgresql+psycopg://127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("MINSHENG_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_SERVICES = os.environ.get("MINSHENG_REQUIRE_SERVICES") == "1"

TOKEN = "minshengtest"
APP_ID = "wx1234567890abcdef"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
OLD_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APP_SECRET = "minsheng-browser-app-secret"


def shared_path(*parts: str) -> Path:
    """A path under ../shared, skipping the test when it is absent (a fresh clone has no shared/)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not present")
    return path


def _unavailable(what: str, why: Exception) -> None:
    message = f"{what} unavailable: {why}"
    if REQUIRE_SERVICES:
        pytest.fail(message)
    pytest.skip(message)


@dataclasses.dataclass
class Backend:
    """One storage configuration under test."""

    name: str
    database_url: str
    redis_url: str
    namespace: str
    embedded_db: str

    def config(self, **extra: Any) -> dict[str, Any]:
        """App configuration for this backend."""
        cfg = {
            "WECHAT_TOKEN": TOKEN,
            "WECHAT_APP_ID": APP_ID,
            "WECHAT_ENCODING_AES_KEY": AES_KEY,
            "WECHAT_ENCODING_AES_KEY_PREVIOUS": OLD_AES_KEY,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "REDIS_NAMESPACE": self.namespace,
            "EMBEDDED_REDIS_DB": self.embedded_db,
            # Beside the test's other files, never in the project's var/.
            "SPOOL_PATH": str(Path(self.embedded_db).parent / "spool.db"),
        }
        cfg.update(extra)
        return cfg

    def env(self, **extra: Any) -> dict[str, str]:
        """The same configuration as environment variables (for subprocesses)."""
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
        env.update({k: str(v) for k, v in self.config(**extra).items()})
        return env


def _postgres_database(tmp_name: str) -> tuple[str, Any]:
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{tmp_name}"'))
    url = create_engine(PG_URL).url.set(database=tmp_name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{tmp_name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """SQLite + embedded Redis, then PostgreSQL + Redis server."""
    tag = uuid.uuid4().hex[:10]
    tmp = tmp_path_factory.mktemp(f"backend-{request.param}")
    if request.param == "sqlite":
        yield Backend("sqlite", f"sqlite:///{tmp / 'minsheng.db'}", "", f"mstest{tag}", str(tmp / "redis.db"))
        return
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        client.ping()
    except redis.RedisError as exc:
        _unavailable("Redis", exc)
    try:
        url, drop = _postgres_database(f"minsheng_test_{tag}")
    except Exception as exc:
        _unavailable("PostgreSQL", exc)
    namespace = f"mstest{tag}"
    try:
        yield Backend("postgres", url, REDIS_URL, namespace, str(tmp / "unused.db"))
    finally:
        drop()
        for key in client.scan_iter(f"{namespace}:*"):
            client.delete(key)


@pytest.fixture(scope="session")
def app(backend: Backend) -> Iterator[Flask]:
    """The app on ``backend``, migrated and seeded once per session."""
    application = create_app(backend.config())
    application.config["TESTING"] = True
    with application.app_context():
        initialise(application)
    yield application
    services(application).close()


def reset_state(app: Flask) -> None:
    """Remove every row a test may write and every Redis key but the library generation."""
    svc = services(app)
    with svc.sessions() as session:
        session.execute(QaFlag.__table__.delete())
        session.execute(Attachment.__table__.delete())
        session.execute(NoticeConsent.__table__.delete())
        session.execute(ApiKey.__table__.delete())
        session.execute(CaseEvent.__table__.delete())
        session.execute(update(Message).values(case_id=None, in_reply_to_id=None))
        session.execute(Case.__table__.delete())
        session.execute(Message.__table__.delete())
        session.execute(ThreadState.__table__.delete())  # refers to citizens
        session.execute(Citizen.__table__.delete())
        session.execute(Alert.__table__.delete())
        session.execute(OpinionIncident.__table__.delete())
        session.execute(Setting.__table__.delete().where(Setting.key.startswith("opinion.")))
        # Messages are gone: the hash chains start again (a test that seals must find no stale head).
        session.execute(ChainHead.__table__.delete())
        for model in (AuditEntry, TemplateReview, TemplateVersion):
            session.execute(update(model).values(chain_hash=None))
        session.commit()
    keep = svc.deduper.generation_key()
    for key in svc.redis.scan_iter(f"{app.config['REDIS_NAMESPACE']}:*", count=1000):
        if key.decode() != keep:
            svc.redis.delete(key)


@pytest.fixture
def clean_app(app: Flask) -> Iterator[Flask]:
    """``app`` with no messages, cases, citizens or dedup keys from earlier tests."""
    reset_state(app)
    yield app


@pytest.fixture
def client(clean_app: Flask) -> FlaskClient:
    """Flask's test client on a clean app."""
    return clean_app.test_client()


@dataclasses.dataclass
class Sent:
    """A push sent through the test client and what came back."""

    status: int
    body: str
    reply: str | None


class WeChat:
    """Sends pushes through the test client, signed and (optionally) encrypted as WeChat does."""

    def __init__(self, client: FlaskClient, sim: Simulator) -> None:
        self.client = client
        self.sim = sim

    def post(self, request: Request, reader: Simulator | None = None) -> Sent:
        """POST a prepared push."""
        resp = self.client.post(f"/wechat?{request.query_string}", data=request.body, content_type="text/xml")
        body = resp.get_data(as_text=True)
        reply = (reader or self.sim).read_reply(body) if resp.status_code == 200 else None
        return Sent(resp.status_code, body, reply)

    def text(self, content: str, *, openid: str = "oCitizen0000000000000000001", encrypt: bool = False,
             msg_id: int | None = None, **sign: Any) -> Sent:
        """Send a text message."""
        xml = self.sim.text_xml(content, openid, msg_id=msg_id)
        return self.post(self.sim.sign(xml, encrypt=encrypt, openid=openid, **sign))

    def event(self, event: str, *, openid: str = "oCitizen0000000000000000001", event_key: str = "",
              encrypt: bool = False) -> Sent:
        """Send an event."""
        return self.post(self.sim.sign(self.sim.event_xml(event, openid, event_key), encrypt=encrypt, openid=openid))

    def xml(self, xml: str, *, encrypt: bool = False, **sign: Any) -> Sent:
        """Send arbitrary XML, signed."""
        return self.post(self.sim.sign(xml, encrypt=encrypt, **sign))


@pytest.fixture
def wechat(client: FlaskClient) -> WeChat:
    """A WeChat stand-in talking to the app through the test client."""
    return WeChat(client, Simulator(TOKEN, APP_ID, AES_KEY))


@pytest.fixture
def db(clean_app: Flask) -> Iterator[Session]:
    """A session to inspect what the app wrote."""
    with services(clean_app).sessions() as session:
        yield session


def count(session: Session, model: Any, *where: Any) -> int:
    """Rows of ``model`` matching ``where`` (a fresh read)."""
    session.expire_all()
    return int(session.execute(select(func.count()).select_from(model).where(*where)).scalar_one())


@pytest.fixture
def fake_api() -> Iterator[Any]:
    """The fake WeChat API (token, customer-service send) on a free local port, for APP_ID and APP_SECRET."""
    from tests.fakeapi import FakeWeChat

    with FakeWeChat(APP_ID, APP_SECRET) as server:
        yield server
