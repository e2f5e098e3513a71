"""A delivery whose worker died after claiming the message (SIGKILL, OOM) must not leave the retry with nothing.

Found by `make outage` (bench/outage.py): a gunicorn worker SIGKILLed mid-request leaves its Redis claim
behind for the claim's TTL (4.5 s). WeChat's retry of the same push found the claim, waited the
deduper's 4 s for the dead worker's reply, then answered 'success' — and nothing had stored the message:
acknowledged to WeChat, never stored. The retry must store (and answer) it itself; the database's
unique dedup key keeps that to one row if the first delivery did commit after all.
"""
from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select

from bot.extensions import services
from bot.wechat.endpoint import endpoint_of
from models import Citizen, Direction, Message
from tests.conftest import WeChat


@pytest.fixture
def short_wait(clean_app: Flask) -> Iterator[None]:
    """The deduper waits 0.3 s instead of 4 s for a first delivery's reply (the claim still lives 4.5 s)."""
    deduper = services(clean_app).deduper
    saved = deduper.wait
    deduper.wait = 0.3
    yield
    deduper.wait = saved


def _inbound(app: Flask, openid: str) -> list[Message]:
    with services(app).sessions() as session:
        return list(session.scalars(select(Message).join(Citizen, Message.citizen_id == Citizen.id).where(
            Citizen.openid == openid, Message.direction == Direction.IN)))


@pytest.mark.parametrize("encrypt", [False, True])
def test_a_retry_after_the_first_delivery_died_holding_its_claim_stores_the_message(
        clean_app: Flask, wechat: WeChat, short_wait: None, encrypt: bool) -> None:
    openid = f"oDeadClaim{int(encrypt)}{int(time.time() * 1000) % 10**17:017d}"
    xml = wechat.sim.text_xml("小区门口路灯坏了好几天了", openid, msg_id=int(time.time() * 1000) + encrypt)
    push = wechat.sim.sign(xml, encrypt=encrypt, openid=openid)
    svc = services(clean_app)
    # The first delivery: decoded and claimed by a worker that is then killed before it stores anything.
    decoded = endpoint_of(clean_app).edge.decode(push.query, push.body)
    claim = svc.deduper.claim(svc.redis, decoded.message, replay_key=f"{decoded.timestamp}:{decoded.nonce}")
    assert claim.token is not None  # the dead worker's claim, pending for 4.5 s

    retry = wechat.post(push)  # WeChat's retry of the very same push

    assert retry.status == 200
    assert retry.reply, f"the retry was answered {retry.body[:80]!r} without a reply"
    assert len(_inbound(clean_app, openid)) == 1  # acknowledged, so stored — once
    again = wechat.post(push)  # a further retry repeats the stored reply and stores nothing
    assert again.reply == retry.reply
    assert len(_inbound(clean_app, openid)) == 1
