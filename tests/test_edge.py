"""The /wechat endpoint through Flask's test client: verification, modes, keys, refusals."""
from __future__ import annotations

import time

from bot.simulator import Simulator
from bot.wechat.crypto import signature
from models import Citizen, Direction, Message
from tests.conftest import AES_KEY, APP_ID, OLD_AES_KEY, TOKEN, WeChat, count


def test_get_verification_echoes_echostr(client):
    ts, nonce = str(int(time.time())), "123456"
    resp = client.get("/wechat", query_string={
        "signature": signature(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce, "echostr": "8899aabb"})
    assert resp.status_code == 200
    assert resp.get_data(as_text=True) == "8899aabb"
    assert resp.mimetype == "text/plain"


def test_get_verification_with_wrong_signature_is_forbidden(client):
    ts = str(int(time.time()))
    resp = client.get("/wechat", query_string={"signature": "0" * 40, "timestamp": ts, "nonce": "1", "echostr": "x"})
    assert resp.status_code == 403
    assert "html" not in resp.get_data(as_text=True).lower()


def test_plaintext_suggestion_opens_case_and_replies_with_number(wechat: WeChat, db):
    # A suggestion is filed in one turn (a complaint starts a guided intake: tests/test_conversation.py).
    sent = wechat.text("建议在小区门口增设路灯")
    assert sent.status == 200
    assert sent.reply is not None and "受理编号" in sent.reply
    inbound = db.execute(Message.__table__.select().where(Message.direction == Direction.IN)).one()
    assert inbound.content == "建议在小区门口增设路灯"
    assert "<Content>" in inbound.raw_xml


def test_safe_mode_reply_is_encrypted_and_readable(wechat: WeChat):
    sent = wechat.text("社保断缴了怎么补缴", encrypt=True)
    assert sent.status == 200
    assert "<Encrypt>" in sent.body and "社保" not in sent.body
    assert sent.reply is not None and "人力资源和社会保障部门" in sent.reply  # the FAQ answer


def test_compatible_mode_is_answered_encrypted(wechat: WeChat):
    xml = wechat.sim.text_xml("建议小区门口增加公交站点", "oCompat000000000000000000001")
    sent = wechat.post(wechat.sim.sign(xml, encrypt=True, compat=True))
    assert sent.status == 200
    assert "<Encrypt>" in sent.body
    assert sent.reply is not None and "受理编号" in sent.reply


def test_previous_key_is_tried_and_reply_uses_it(wechat: WeChat, db):
    old = Simulator(TOKEN, APP_ID, OLD_AES_KEY)
    push = old.sign(old.text_xml("建议在幸福路口增设一个红绿灯", "oOldKey000000000000000000001"), encrypt=True)
    sent = wechat.post(push, reader=old)
    assert sent.status == 200
    assert sent.reply is not None and "受理编号" in sent.reply
    # The current key cannot read that reply: it was encrypted with the key that worked.
    current = Simulator(TOKEN, APP_ID, AES_KEY)
    try:
        current.read_reply(sent.body)
        readable_with_current = True
    except Exception:
        readable_with_current = False
    assert not readable_with_current
    assert count(db, Message, Message.direction == Direction.IN) == 1


def test_unknown_key_is_forbidden_and_stores_nothing(wechat: WeChat, db):
    stranger = Simulator(TOKEN, APP_ID, "Z" * 43)
    sent = wechat.post(stranger.sign(stranger.text_xml("你好", "oX"), encrypt=True))
    assert sent.status == 403
    assert count(db, Message) == 0


def test_stale_and_future_timestamps_are_forbidden(wechat: WeChat, db):
    now = int(time.time())
    assert wechat.text("你好", timestamp=now - 301).status == 403
    assert wechat.text("你好", timestamp=now + 301).status == 403
    assert wechat.text("你好", timestamp=now - 250).status == 200
    assert count(db, Message, Message.direction == Direction.IN) == 1


def test_bad_signature_and_bad_msg_signature_are_forbidden(wechat: WeChat, db):
    push = wechat.sim.sign(wechat.sim.text_xml("你好", "oA"), encrypt=False)
    push.query["signature"] = "f" * 40
    assert wechat.post(push).status == 403
    push = wechat.sim.sign(wechat.sim.text_xml("你好", "oA"), encrypt=True)
    push.query["msg_signature"] = "f" * 40
    assert wechat.post(push).status == 403
    push = wechat.sim.sign(wechat.sim.text_xml("你好", "oA"), encrypt=True)
    del push.query["msg_signature"]
    assert wechat.post(push).status == 403
    assert count(db, Message) == 0


def test_unknown_encrypt_type_is_forbidden(wechat: WeChat):
    push = wechat.sim.sign(wechat.sim.text_xml("你好", "oA"))
    push.query["encrypt_type"] = "rot13"
    assert wechat.post(push).status == 403


def test_body_over_one_mebibyte_is_413(wechat: WeChat, db):
    xml = wechat.sim.text_xml("长" * (400 * 1024), "oBig")
    sent = wechat.xml(xml)
    assert sent.status == 413
    assert "html" not in sent.body.lower()
    assert count(db, Message) == 0


def test_doctype_and_entities_are_refused(wechat: WeChat, db):
    evil = ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            '<xml><ToUserName>a</ToUserName><FromUserName>oEvil</FromUserName><CreateTime>1</CreateTime>'
            '<MsgType>text</MsgType><Content>&x;</Content><MsgId>1</MsgId></xml>')
    sent = wechat.xml(evil)
    assert sent.status == 400
    assert "root:" not in sent.body
    assert count(db, Message) == 0
    sent = wechat.xml(evil, encrypt=True)
    assert sent.status == 400
    assert count(db, Message) == 0


def test_control_characters_are_stripped_before_parsing(wechat: WeChat, db):
    sent = wechat.text("建议在路口\x1d安装\x00红绿灯")
    assert sent.status == 200 and sent.reply and "受理编号" in sent.reply
    inbound = db.execute(Message.__table__.select().where(Message.direction == Direction.IN)).one()
    assert inbound.content == "建议在路口安装红绿灯"


def test_unparseable_authentic_bodies_are_answered_success(wechat: WeChat, db):
    for body in ("not xml at all", "<xml><ToUserName>a</ToUserName>", "<xml><FromUserName>o</FromUserName></xml>",
                 "<root><a/></root>", ""):
        sent = wechat.xml(body)
        assert sent.status == 200, body
        assert sent.body == "success"
    assert count(db, Message) == 0


def test_unknown_event_is_stored_and_answered_success(wechat: WeChat, db):
    xml = ("<xml><ToUserName>gh_x</ToUserName><FromUserName>oUnknownEvt</FromUserName>"
           "<CreateTime>1700000000</CreateTime>"
           "<MsgType>event</MsgType><Event>brand_new_event</Event></xml>")
    sent = wechat.xml(xml)
    assert (sent.status, sent.body) == (200, "success")
    row = db.execute(Message.__table__.select()).one()
    assert (row.msg_type, row.event) == ("event", "brand_new_event")


def test_unknown_message_type_is_stored_and_answered_success(wechat: WeChat, db):
    xml = ("<xml><ToUserName>gh_x</ToUserName><FromUserName>oHolo</FromUserName><CreateTime>1700000000</CreateTime>"
           "<MsgType>hologram</MsgType><MsgId>77</MsgId></xml>")
    sent = wechat.xml(xml)
    assert (sent.status, sent.body) == (200, "success")
    assert count(db, Message, Message.msg_type == "hologram") == 1


def test_follow_welcomes_and_unfollow_is_silent(wechat: WeChat, db):
    sent = wechat.event("subscribe", openid="oFollower")
    assert sent.reply is not None and "个人信息" in sent.reply
    sent = wechat.event("unsubscribe", openid="oFollower")
    assert (sent.status, sent.body) == (200, "success")
    citizen = db.execute(Citizen.__table__.select().where(Citizen.openid == "oFollower")).one()
    assert citizen.is_subscribed is False


def test_wrong_method_gets_plain_text(client):
    resp = client.put("/wechat")
    assert resp.status_code == 405
    assert "html" not in resp.get_data(as_text=True).lower()


def test_a_signature_replayed_with_another_message_is_forbidden(wechat: WeChat, db):
    first = wechat.sim.sign(wechat.sim.text_xml("路灯坏了没人修", "oReal000000000000000000001", msg_id=5001))
    assert wechat.post(first).status == 200
    forged_xml = wechat.sim.text_xml("假冒的投诉", "oVictim00000000000000000001", msg_id=5002)
    forged = type(first)(dict(first.query), forged_xml.encode("utf-8"))
    assert wechat.post(forged).status == 403
    assert count(db, Message, Message.direction == Direction.IN) == 1
    # The very same request again is a retry, not a forgery: same reply, nothing new.
    again = wechat.post(first)
    assert again.status == 200 and again.reply is not None
    assert count(db, Message, Message.direction == Direction.IN) == 1


def test_safe_mode_refuses_plaintext_pushes(backend):
    from bot import create_app
    from bot.simulator import Simulator

    app = create_app(backend.config(WECHAT_MESSAGE_MODE="safe"))
    sim = Simulator(TOKEN, APP_ID, AES_KEY)
    client = app.test_client()
    push = sim.sign(sim.text_xml("你好", "oSafe"), encrypt=False)
    resp = client.post(f"/wechat?{push.query_string}", data=push.body, content_type="text/xml")
    assert resp.status_code == 403
