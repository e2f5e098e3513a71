"""Outbound XML: ``]]>`` cannot break the CDATA, replies are capped at 2,000 bytes, the guard bites."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import xmltodict

from bot.wechat.codec import cap_utf8, render_reply
from handlers.types import InboundMessage, OutboundReply
from replies.guard import check_text
from replies.library import fill, guard_preview, load_seed
from text.pii import luhn_valid


def _msg() -> InboundMessage:
    return InboundMessage(kind="text", openid="o]]>x", account="gh_acc", create_time=dt.datetime.now(dt.UTC),
                          dedup_key="m:1", msg_id=1, text="hi")


def test_cdata_terminator_in_reply_is_escaped():
    xml = render_reply(OutboundReply("前]]>后<xml>&", "t", 1), _msg(), now=1700000000)
    doc = xmltodict.parse(xml)["xml"]
    assert doc["Content"] == "前]]>后<xml>&"
    assert doc["ToUserName"] == "o]]>x"


def test_reply_is_capped_at_2000_bytes_on_a_character_boundary():
    text = "政" * 1000  # 3,000 bytes
    capped = cap_utf8(text)
    assert len(capped.encode("utf-8")) <= 2000 and capped == "政" * 666
    xml = render_reply(OutboundReply(text, "t", 1), _msg(), now=1700000000)
    assert len(xmltodict.parse(xml)["xml"]["Content"].encode("utf-8")) <= 2000


def test_guard_flags_incident_phrases_vague_promises_and_personal_data():
    rules = {v.rule for v in check_text("你不说话没人把你当哑巴")}
    assert "offensive" in rules
    assert "vague_promise" in {v.rule for v in check_text("我们会尽快为您处理的")}
    assert "personal_data" in {v.rule for v in check_text("请联系13812345678")}
    assert "unfilled_placeholder" in {v.rule for v in check_text("编号{case_number}")}
    assert "too_long" in {v.rule for v in check_text("字" * 700)}


def test_every_seed_template_passes_the_guard_as_rendered():
    for item in load_seed():
        assert check_text(guard_preview(item["body"]), has_deadline=True) == [], item["key"]


def test_seed_has_the_required_templates():
    keys = {item["key"] for item in load_seed()}
    assert {"welcome", "default", "complaint_ack", "inquiry_ack", "emergency", "safe_fallback"} <= keys
    welcome = next(i for i in load_seed() if i["key"] == "welcome")["body"]
    assert "个人信息" in welcome


def test_long_case_numbers_that_pass_luhn_are_not_mistaken_for_bank_cards():
    number = "2026112812345675"  # 16 digits and Luhn-valid: the shape of a bank card
    assert luhn_valid(number)
    text = fill("受理编号：{case_number}", {"case_number": number}, ZoneInfo("Asia/Shanghai"))
    assert number in text
    assert check_text(text, trusted=(number,)) == []
    assert {v.rule for v in check_text(text)} == {"personal_data"}


def test_case_numbers_in_a_status_list_are_not_mistaken_for_bank_cards(db):
    from replies.library import Library

    number = "2026112812345675"  # Luhn-valid, 16 digits
    due = dt.datetime(2026, 12, 18, 15, 59, tzinfo=dt.UTC)
    rendered = Library().render(db, "status_list", {"case_list": ((number, "accepted", due),)})
    assert not rendered.is_fallback and number in rendered.text
