"""Every real-world WeChat sample from the peer libraries' test suites, through the /wechat endpoint.

The samples (../shared/fixtures/wechat/) are what wechatpy and WeRoBot test against: every kind of
message and event an official account receives. Each one must be stored once, answered with
``success`` or a reply to its sender (plaintext and encrypted alike), and answered identically
when WeChat delivers it again. Runs on both backends.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import xmltodict
from wechatpy import parse_message

from bot.wechat import codec
from models import Direction, Message
from tests.conftest import SHARED, WeChat, count, shared_path

INDEX = ("fixtures", "wechat", "index.json")
WECOM_PREFIXES = ("test_work_parser__", "test_crypto__")


def _wanted(record: dict[str, Any]) -> bool:
    file = record["file"]
    return (
        not record["templated"] and not record["encrypted"] and record["well_formed"]
        and file.startswith(("wechatpy/xml/", "werobot/xml/"))
        and not Path(file).name.startswith(WECOM_PREFIXES)
    )


def _sample_files() -> list[str]:
    path = SHARED.joinpath(*INDEX)
    if not path.exists():
        return ["index-absent"]  # the `sample` fixture skips
    return [r["file"] for r in json.loads(path.read_text("utf-8")) if _wanted(r)]


SAMPLES = _sample_files()


@pytest.fixture
def sample(request: pytest.FixtureRequest) -> tuple[dict[str, Any], str]:
    """(index record, XML text) of the sample named by the parameter."""
    records = {r["file"]: r for r in json.loads(shared_path(*INDEX).read_text("utf-8"))}
    record = records[request.param]
    return record, shared_path("fixtures", "wechat", *record["file"].split("/")).read_text("utf-8")


def _fields(xml: str) -> dict[str, Any]:
    return xmltodict.parse(xml)["xml"]


def _expected_event(fields: dict[str, Any]) -> str | None:
    """The event name a citizen's action maps to (wechatpy's renaming of scene follows included)."""
    if str(fields.get("MsgType", "")).lower() != "event":
        return None
    event = str(fields.get("Event") or "").lower()
    key = fields.get("EventKey")
    if event == "subscribe" and isinstance(key, str):
        if key.startswith(("scanbarcode|", "scanimage|")):
            return "subscribe_scan_product"
        if key.startswith("qrscene_"):
            return "subscribe_scan"
    return event


def _reply_fields(wechat: WeChat, body: str) -> dict[str, Any]:
    """The plaintext reply XML fields, decrypting (and checking the signature of) an encrypted reply."""
    doc = _fields(body)
    if "Encrypt" in doc:
        assert wechat.sim.read_reply(body) is not None  # checks MsgSignature, decrypts
        plain, _ = wechat.sim.crypto.decrypt(doc["Encrypt"])  # type: ignore[union-attr]
        doc = _fields(plain)
    return doc


def _inbound(db) -> list[Any]:
    db.expire_all()
    return db.execute(Message.__table__.select().where(Message.direction == Direction.IN)
                      .order_by(Message.id)).all()


def _check_delivery(wechat: WeChat, db, xml: str, *, encrypt: bool, stored_before: int) -> None:
    """Deliver ``xml`` (then WeChat's retry of it) and check the answer and what was stored."""
    fields = _fields(xml)
    sender = str(fields.get("FromUserName") or "").strip()

    first = wechat.xml(xml, encrypt=encrypt)
    assert first.status == 200, first.body
    if first.body != "success":
        reply = _reply_fields(wechat, first.body)
        assert reply["ToUserName"] == sender
        assert reply["MsgType"] == "text" and reply["Content"]
        if encrypt:
            assert "<Content>" not in first.body
    if sender and fields.get("MsgType"):
        rows = _inbound(db)
        assert len(rows) == stored_before + 1
        assert rows[-1].msg_type == str(fields["MsgType"]).strip().lower()
        assert rows[-1].event == _expected_event(fields)

    stored = count(db, Message)
    again = wechat.xml(xml, encrypt=encrypt)  # WeChat's retry: a new nonce/signature, the same message
    assert again.status == 200
    assert again.reply == first.reply
    assert (again.body == "success") == (first.body == "success")
    assert count(db, Message) == stored


def _next_delivery(xml: str) -> str:
    """The same sample as a new message: next MsgId and CreateTime (so it is not a duplicate)."""
    def bump(m: re.Match[str]) -> str:
        return f"{m.group(1)}{int(m.group(2)) + 1}{m.group(3)}"

    xml = re.sub(r"(<CreateTime>\s*)(\d+)(\s*</CreateTime>)", bump, xml)
    return re.sub(r"(<MsgI[dD]>\s*)(\d+)(\s*</MsgI[dD]>)", bump, xml)


@pytest.mark.parametrize("sample", SAMPLES, indirect=True)
def test_sample_is_stored_once_and_answered_plain_and_encrypted(wechat: WeChat, db, sample):
    _record, xml = sample
    _check_delivery(wechat, db, xml, encrypt=False, stored_before=0)
    # The same kind of message in safe mode (one test, so one database reset per sample).
    _check_delivery(wechat, db, _next_delivery(xml), encrypt=True, stored_before=len(_inbound(db)))


@pytest.mark.parametrize("sample", SAMPLES, indirect=True)
def test_sample_parses_as_wechatpy_class(sample):
    record, xml = sample
    expected = record.get("wechatpy_1_8_18_parsed_as")
    if expected is None:
        pytest.skip("the index records no wechatpy class for this sample")
    # The class is kept in InboundMessage.parsed_as only (no column stores it), so ask the codec.
    message = codec.to_inbound(codec.clean(xml))
    assert message.parsed_as == expected
    assert message.kind == str(_fields(xml)["MsgType"]).strip().lower()


# -- bodies quoted in public bug reports -------------------------------------------------------------

def _issue(name: str) -> str:
    return shared_path("fixtures", "wechat", "from_issues", name).read_text("utf-8")


@pytest.mark.parametrize("encrypt", [False, True], ids=["plain", "aes"])
def test_control_character_text_is_stored_clean_and_answered(wechat: WeChat, db, encrypt):
    xml = _issue("werobot_420_control_char_in_text.xml")
    assert "\x1d" in xml
    sent = wechat.xml(xml, encrypt=encrypt)
    assert sent.status == 200
    assert sent.reply  # a real answer, not silence: the citizen wrote something
    [row] = _inbound(db)
    assert row.msg_type == "text"
    assert row.content == "c"
    assert "\x1d" not in (row.raw_xml or "")


@pytest.mark.parametrize("encrypt", [False, True], ids=["plain", "aes"])
def test_voice_without_recognition_asks_for_text(wechat: WeChat, db, encrypt):
    sent = wechat.xml(_issue("wechat_community_voice_empty_recognition.xml"), encrypt=encrypt)
    assert sent.status == 200
    assert sent.reply and "文字" in sent.reply
    [row] = _inbound(db)
    assert (row.msg_type, row.content, row.wechat_msg_id) == ("voice", "", 7250021412600020992)
    assert _reply_fields(wechat, sent.body)["ToUserName"] == "oDO796opXuEu2mWrn53BqlVW0u9I"


@pytest.mark.parametrize("name, event, event_key", [
    ("wechatpy_389_view_miniprogram_event.xml", "view_miniprogram", "pages/index"),
    ("weixinmpsdk_2339_subscribe_msg_popup_event.xml", "subscribe_msg_popup_event", None),
], ids=["view_miniprogram", "subscribe_msg_popup_event"])
@pytest.mark.parametrize("encrypt", [False, True], ids=["plain", "aes"])
def test_unhandled_events_are_stored_and_answered_success(wechat: WeChat, db, name, event, event_key, encrypt):
    xml = _issue(name)
    sent = wechat.xml(xml, encrypt=encrypt)
    assert (sent.status, sent.body) == (200, "success")
    [row] = _inbound(db)
    assert (row.msg_type, row.event, row.event_key) == ("event", event, event_key)
    assert row.raw_xml and event in row.raw_xml
    again = wechat.xml(xml, encrypt=encrypt)
    assert (again.status, again.body) == (200, "success")
    assert len(_inbound(db)) == 1


@pytest.mark.parametrize("sample", SAMPLES, indirect=True)
def test_fast_reading_of_flat_samples_is_what_xmltodict_reads(sample):
    """The C ElementTree path gives wechatpy's mapping exactly, or steps aside for xmltodict."""
    _record, xml = sample
    xml = codec.clean(xml)
    fast = codec.flat_fields(xml)
    if fast is not None:
        assert fast == dict(_fields(xml))
    fields = _fields(xml)
    message = codec.to_inbound(xml)
    if str(fields.get("MsgType", "")).lower() != "event":
        assert message.parsed_as == type(parse_message(xml)).__name__
