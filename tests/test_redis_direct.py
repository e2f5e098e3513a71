"""The Redis client's direct connection: one per thread and process, reconnecting after a failure.

minsheng's client (``bot.redis_store.DirectRedis``) sends commands on a connection of its own instead of
checking one out of the pool for every command. These tests hold it to what the pool gave: answers,
pipelines and scripts as redis-py's, a fresh connection after the server dropped the old one (the
failing command still raises, so the message path degrades as before), and no socket shared with a
forked gunicorn worker.
"""
from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator

import pytest
import redis

from bot.redis_store import DirectRedis, client_for
from tests.conftest import REDIS_URL, _unavailable


@pytest.fixture
def client() -> Iterator[DirectRedis]:
    c = client_for(REDIS_URL)
    try:
        c.ping()
    except redis.RedisError as exc:
        _unavailable("redis", exc)
    assert isinstance(c, DirectRedis)
    yield c
    c.close()


def _key() -> str:
    return f"minsheng-test:direct:{uuid.uuid4().hex}"


def test_commands_pipelines_and_scripts_answer_as_redis_py(client: DirectRedis):
    key = _key()
    assert client.set(key, "a", nx=True, ex=60) is True
    assert client.set(key, "b", nx=True, ex=60) is None  # taken: redis-py's answer, not an error
    assert client.mget(key, _key()) == [b"a", None]
    for transaction in (False, True):
        pipe = client.pipeline(transaction=transaction)
        pipe.set(key, "c", ex=60)
        pipe.get(key)
        pipe.delete(key)
        assert pipe.execute() == [True, b"c", 1]
    script = client.register_script(
        "return redis.call('SET', KEYS[1], ARGV[1], 'EX', 60) and redis.call('GET', KEYS[1])")
    assert script(keys=[key], args=["d"], client=client) == b"d"
    client.delete(key)


def test_a_dropped_connection_fails_one_command_then_reconnects(client: DirectRedis):
    key = _key()
    client.set(key, "1", ex=60)
    own_id = client.client_id()
    admin = redis.Redis.from_url(REDIS_URL)
    admin.client_kill_filter(_id=own_id)  # the server drops our connection, as a restart would
    with pytest.raises(redis.ConnectionError):
        client.get(key)  # said, not hidden: the caller goes on without Redis for a while
    assert client.get(key) == b"1"  # and the next command has a fresh connection
    assert client.client_id() != own_id
    client.delete(key)
    admin.close()


def test_each_thread_has_its_own_connection(client: DirectRedis):
    ids: list[int] = []
    threads = [threading.Thread(target=lambda: ids.append(client.client_id())) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({*ids, client.client_id()}) == 4


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_worker_does_not_share_its_parents_socket(client: DirectRedis):
    parent_id = client.client_id()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a gunicorn worker forked from a master that had used the client
        try:
            os.write(write, str(client.client_id()).encode())
        finally:
            os._exit(0)
    os.close(write)
    child_id = int(os.read(read, 64) or b"0")
    os.waitpid(pid, 0)
    assert child_id and child_id != parent_id
    assert client.client_id() == parent_id  # the parent's connection was left alone
