"""Redis outages at the edge: messages are still stored once and answered in time, in one turn.

Redis is a real server reached through a TCP proxy that the test takes down and brings back.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from bot import create_app
from bot.services import REDIS_BACKOFF_S, services
from bot.simulator import Simulator
from models import Case, Citizen, Direction, Message
from tests.conftest import AES_KEY, APP_ID, REDIS_URL, TOKEN, Backend, WeChat, _unavailable, reset_state
from tests.outage import Proxy

DEADLINE_S = 4.5


@pytest.fixture
def redis_proxy_app(clean_app: Flask, backend: Backend, tmp_path: Path) -> Iterator[tuple[Flask, Proxy]]:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        _unavailable("Redis", exc)
    target = redis.Redis.from_url(REDIS_URL).connection_pool.connection_kwargs
    proxy = Proxy((target.get("host", "127.0.0.1"), int(target.get("port", 6379))))
    app = create_app(backend.config(REDIS_URL=f"redis://127.0.0.1:{proxy.port}/0",
                                    SPOOL_PATH=str(tmp_path / "spool.db"), SPOOL_DRAIN_SECONDS=0))
    app.config["TESTING"] = True
    try:
        yield app, proxy
    finally:
        proxy.down()
        svc = services(app)
        svc.engine.dispose()
        if svc.message_engine is not None:
            svc.message_engine.dispose()
        reset_state(clean_app)


def _count(app: Flask, openid: str, direction: Direction) -> int:
    with services(app).sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Message).join(Citizen)
                                  .where(Citizen.openid == openid, Message.direction == direction)) or 0)


def test_without_redis_messages_are_stored_once_and_answered_in_one_turn(redis_proxy_app: tuple[Flask, Proxy]):
    app, proxy = redis_proxy_app
    wechat = WeChat(app.test_client(), Simulator(TOKEN, APP_ID, AES_KEY))
    assert wechat.text("你好", openid="oRedisOutage00000000000000A").reply  # Redis up: normal path
    proxy.down()
    openid = "oRedisOutage00000000000000B"
    msg_id = 770000000000000 + int(time.time())
    start = time.monotonic()
    first = wechat.text("投诉：小区门口路灯坏了三个月没人修，天黑看不见路", openid=openid, msg_id=msg_id)
    took = time.monotonic() - start
    assert first.status == 200 and took < DEADLINE_S
    # No conversation state without Redis: the complaint is filed at once, with its number.
    assert first.reply and "受理编号" in first.reply
    # WeChat's retry: caught by the database's unique key, answered with the same reply.
    start = time.monotonic()
    retry = wechat.text("投诉：小区门口路灯坏了三个月没人修，天黑看不见路", openid=openid, msg_id=msg_id)
    assert retry.reply == first.reply and time.monotonic() - start < 1.0  # Redis is skipped while it is down
    assert _count(app, openid, Direction.IN) == 1 and _count(app, openid, Direction.OUT) == 1
    with services(app).sessions() as session:
        assert session.scalar(select(func.count()).select_from(Case).join(Citizen)
                              .where(Citizen.openid == openid)) == 1
    proxy.up()
    time.sleep(REDIS_BACKOFF_S + 0.2)
    back = wechat.text("建议在公园增加健身器材", openid="oRedisOutage00000000000000C")
    assert back.reply and "受理编号" in back.reply
    # The message handled while Redis was down was never claimed there; the one after it was.
    keys = [k.decode() for k in services(app).redis.scan_iter(f"{app.config['REDIS_NAMESPACE']}:dedup:*")]
    assert keys and not [k for k in keys if k.endswith(f":m:{msg_id}")]


def test_without_redis_the_reply_library_is_not_read_again_for_every_message(redis_proxy_app: tuple[Flask, Proxy]):
    """Redis down: answers come from the worker's cached library, re-read every few seconds, not per message.

    Reading the library and rebuilding its indexes for each message cost about 10 ms of CPU: a Redis outage
    under load made every answer slow (make outage: p50 147 ms while Redis was stopped).
    """
    from sqlalchemy import event

    from replies.library import LOCAL_GENERATION_S

    app, proxy = redis_proxy_app
    wechat = WeChat(app.test_client(), Simulator(TOKEN, APP_ID, AES_KEY))
    proxy.down()
    reads: list[str] = []
    engines = {services(app).engine, services(app).message_engine}

    def spy(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if "FROM reply_templates" in statement or "JOIN template_versions" in statement:
            reads.append(statement)

    for engine in engines:
        event.listen(engine, "before_cursor_execute", spy)
    try:
        start = time.monotonic()
        texts = ["你好", "社保断缴了怎么补缴", "小区门口路灯坏了三个月没人修", "谢谢", "请问办居住证要带什么材料"]
        for i, text in enumerate(texts):
            answer = wechat.text(text, openid=f"oRedisOutageLib{i:013d}")
            assert answer.status == 200 and answer.reply
        took = time.monotonic() - start
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", spy)
    # One read per LOCAL_GENERATION_S window the burst touched (the first message reads it afresh).
    assert len(reads) <= 1 + int(took // LOCAL_GENERATION_S) + 1, reads
