"""Database outages at the edge: every answered message is spooled on disk and stored exactly once later.

The outage is real: on SQLite another connection holds the write lock; on PostgreSQL the app talks
to the server through a TCP proxy that the test takes down (refusing and cutting connections) and
brings back.
"""
from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bot import create_app
from bot.extensions import services
from bot.maintenance import drain_into
from bot.simulator import Simulator
from models import Case, Citizen, Direction, Message
from replies.library import BUILTIN_FALLBACK
from tests.conftest import AES_KEY, APP_ID, TOKEN, Backend, WeChat, reset_state
from tests.outage import Proxy

DEADLINE_S = 4.5


class Outage:
    """An app on ``backend`` whose database can be taken away and given back."""

    def __init__(self, backend: Backend, tmp: Path) -> None:
        self.proxy: Proxy | None = None
        self._lock: sqlite3.Connection | None = None
        url = backend.database_url
        if backend.name == "postgres":
            parsed = make_url(url)
            self.proxy = Proxy((parsed.host or "127.0.0.1", parsed.port or 5432))
            url = parsed.set(host="127.0.0.1", port=self.proxy.port).render_as_string(hide_password=False)
        self.db_path = make_url(url).database if backend.name == "sqlite" else None
        self.app = create_app(backend.config(DATABASE_URL=url, SPOOL_PATH=str(tmp / "spool.db"),
                                             SPOOL_DRAIN_SECONDS=0))
        self.app.config["TESTING"] = True
        self.wechat = WeChat(self.app.test_client(), Simulator(TOKEN, APP_ID, AES_KEY))

    @contextmanager
    def database_down(self) -> Iterator[None]:
        if self.proxy is not None:
            self.proxy.down()
        else:
            self._lock = sqlite3.connect(self.db_path, timeout=1, isolation_level=None)
            self._lock.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            if self.proxy is not None:
                self.proxy.up()
            elif self._lock is not None:
                self._lock.execute("ROLLBACK")
                self._lock.close()

    def close(self) -> None:
        # Connections only: the embedded Redis belongs to the session's app.
        svc = services(self.app)
        svc.engine.dispose()
        if svc.message_engine is not None:
            svc.message_engine.dispose()
        if self.proxy is not None:
            self.proxy.down()


@pytest.fixture
def outage(clean_app: Flask, backend: Backend, tmp_path: Path) -> Iterator[Outage]:
    o = Outage(backend, tmp_path)
    try:
        yield o
    finally:
        o.close()
        reset_state(clean_app)


def _timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    start = time.monotonic()
    result = fn(*args, **kwargs)
    return result, time.monotonic() - start


def _rows(app: Flask, openid: str) -> list[Message]:
    with services(app).sessions() as session:
        return list(session.scalars(select(Message).join(Citizen).where(Citizen.openid == openid)
                                    .order_by(Message.id)))


def test_messages_answered_during_an_outage_are_stored_exactly_once_when_it_ends(outage: Outage, clean_app: Flask):
    warm = outage.wechat.text("你好", openid="oSpoolWarm000000000000000001")  # loads the library cache
    assert warm.status == 200 and warm.reply
    complaint_id, fire_id = 880000000000001 + int(time.time()), 880000000000002 + int(time.time())
    with outage.database_down():
        sent, took = _timed(outage.wechat.text, "投诉：楼下饭店油烟太大，熏得家里没法开窗",
                            openid="oSpoolCitizen0000000000001", msg_id=complaint_id)
        assert sent.status == 200 and took < DEADLINE_S
        assert sent.reply and ("已收到" in sent.reply)
        again, _ = _timed(outage.wechat.text, "投诉：楼下饭店油烟太大，熏得家里没法开窗",
                          openid="oSpoolCitizen0000000000001", msg_id=complaint_id)
        assert again.reply == sent.reply  # WeChat's retry gets the same answer
        fire, took = _timed(outage.wechat.text, "楼下着火了，浓烟都冒上来了", openid="oSpoolCitizen0000000000002",
                            msg_id=fire_id)
        assert took < DEADLINE_S and fire.reply and "119" in fire.reply  # the emergency still gets its number
        assert services(outage.app).spool.pending() == 2
    assert _rows(clean_app, "oSpoolCitizen0000000000001") == []  # nothing reached the database yet

    assert drain_into(outage.app) == 2
    assert services(outage.app).spool.pending() == 0
    rows = _rows(clean_app, "oSpoolCitizen0000000000001")
    inbound = [r for r in rows if r.direction is Direction.IN]
    outbound = [r for r in rows if r.direction is Direction.OUT]
    assert len(inbound) == 1 and inbound[0].wechat_msg_id == complaint_id
    # The reply that was actually sent is the one on record, then the owed acknowledgement, queued.
    assert outbound[0].content == sent.reply and outbound[0].delivery_status is None
    with services(clean_app).sessions() as session:
        case = session.scalar(select(Case).where(Case.opening_message_id == inbound[0].id))
    assert case is not None
    owed = [r for r in outbound if r.delivery_status is not None]
    assert len(owed) == 1 and case.number in owed[0].content and owed[0].case_id == case.id
    fire_rows = _rows(clean_app, "oSpoolCitizen0000000000002")
    assert next(r.content for r in fire_rows if r.direction is Direction.OUT) == fire.reply
    # Draining again, or a retry arriving now, stores nothing twice.
    assert drain_into(outage.app) == 0
    late_retry = outage.wechat.text("投诉：楼下饭店油烟太大，熏得家里没法开窗", openid="oSpoolCitizen0000000000001",
                                    msg_id=complaint_id)
    assert late_retry.status == 200
    assert len([r for r in _rows(clean_app, "oSpoolCitizen0000000000001") if r.direction is Direction.IN]) == 1


def test_a_crash_between_commit_and_spool_delete_is_not_stored_twice(outage: Outage, clean_app: Flask):
    with outage.database_down():
        outage.wechat.text("建议在小区门口增设路灯", openid="oSpoolCrash00000000000000001", msg_id=990000000000001)
    spool = services(outage.app).spool
    [item] = spool.oldest()
    assert drain_into(outage.app) == 1
    # Put the same push back, as if the process died after the commit but before the delete.
    spool.put(item.message, item.sent, item.message.create_time)
    assert drain_into(outage.app) == 1 and spool.pending() == 0
    rows = _rows(clean_app, "oSpoolCrash00000000000000001")
    assert len([r for r in rows if r.direction is Direction.IN]) == 1


def test_without_a_cached_library_the_built_in_received_text_goes_out(backend: Backend, clean_app: Flask,
                                                                     tmp_path: Path):
    o = Outage(backend, tmp_path)  # a fresh app: nothing cached yet
    try:
        with o.database_down():
            sent = o.wechat.text("路灯坏了", openid="oSpoolCold000000000000000001", msg_id=990000000000002)
        assert sent.reply == BUILTIN_FALLBACK
        assert drain_into(o.app) == 1
    finally:
        o.close()
        reset_state(clean_app)
