"""The outage suite's own logic (bench/outage.py): fresh signing of retries and the end-of-run checks.

No servers: the suite itself runs with `make outage`, not `make test`.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
import xmltodict

from bot.simulator import Simulator

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture(scope="module")
def outage():
    spec = importlib.util.spec_from_file_location("bench_outage", BENCH / "outage.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_outage"] = module
    spec.loader.exec_module(module)
    return module


def _msg(outage, *attempts):
    m = outage.Message(0, 42, "oUser", "<xml/>", 0, None)
    for kind, start, end, outcome, text in attempts:
        a = outage.Attempt(kind, 0, start)
        a.end, a.outcome, a.text = end, outcome, text
        m.attempts.append(a)
    return m


def test_each_delivery_is_signed_and_encrypted_afresh(outage):
    sim = Simulator(outage.TOKEN, outage.APP_ID, outage.AES_KEY)
    m = outage.Message(0, 123456789, "oUser", sim.text_xml("路灯坏了", "oUser", msg_id=123456789), 0, None)
    (path1, body1), (path2, body2) = outage.signed(sim, m), outage.signed(sim, m)
    q1, q2 = dict(parse_qsl(path1.split("?", 1)[1])), dict(parse_qsl(path2.split("?", 1)[1]))
    assert q1["nonce"] != q2["nonce"] and q1["msg_signature"] != q2["msg_signature"] and body1 != body2
    for q, body in ((q1, body1), (q2, body2)):
        encrypted = xmltodict.parse(body)["xml"]["Encrypt"]
        assert sim.crypto.check_msg(q["msg_signature"], q["timestamp"], q["nonce"], encrypted)
        assert sim.crypto.decrypt(encrypted)[0] == m.xml  # same MsgId, CreateTime and content


def test_reply_is_read_and_checked(outage):
    sim = Simulator(outage.TOKEN, outage.APP_ID, outage.AES_KEY)
    plain = ("<xml><ToUserName><![CDATA[oUser]]></ToUserName><FromUserName><![CDATA[gh]]></FromUserName>"
             "<CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[已受理]]></Content></xml>")
    body = sim.crypto.encrypt(plain, "123", "1714037059")
    assert outage.read_reply(sim, body, "oUser") == "已受理"
    with pytest.raises(ValueError, match="another user"):
        outage.read_reply(sim, body, "oOther")
    with pytest.raises(ValueError, match="MsgSignature"):
        outage.read_reply(sim, body.replace("<TimeStamp>1714037059", "<TimeStamp>1714037060"), "oUser")


def test_same_reply_everywhere_is_consistent(outage):
    m = _msg(outage, ("first", 0.0, 0.1, "reply", "A"), ("resend-after", 1.0, 1.1, "reply", "A"))
    assert outage.reply_mismatch(m) is None


def test_two_different_replies_fail(outage):
    m = _msg(outage, ("first", 0.0, 0.1, "reply", "A"), ("resend-after", 1.0, 1.1, "reply", "B"))
    assert outage.reply_mismatch(m) == "2 different replies"


def test_success_allowed_only_while_another_delivery_is_in_flight(outage):
    concurrent = _msg(outage, ("first", 0.0, 0.5, "reply", "A"), ("resend-now", 0.1, 0.2, "success", None))
    assert outage.reply_mismatch(concurrent) is None
    late = _msg(outage, ("first", 0.0, 0.5, "reply", "A"), ("resend-after", 1.0, 1.1, "success", None))
    assert "resend-after" in outage.reply_mismatch(late)
    first_silent = _msg(outage, ("first", 0.0, 0.5, "success", None), ("resend-now", 0.1, 0.6, "reply", "A"))
    assert "first" in outage.reply_mismatch(first_silent)
    all_silent = _msg(outage, ("first", 0.0, 0.5, "success", None), ("resend-after", 1.0, 1.1, "success", None))
    assert outage.reply_mismatch(all_silent) is None
    unanswered = _msg(outage, ("first", 0.0, 5.0, "error", None), ("retry", 5.0, 5.1, "reply", "A"))
    assert outage.reply_mismatch(unanswered) is None


def test_case_numbers_told_must_be_exported_and_belong_to_the_message(outage):
    m = _msg(outage, ("first", 0.0, 0.1, "reply", "您反映的问题已受理，受理编号：2026041700123，承办部门：城管。"
                      "请于2026年4月24日前留意，热线12345。"))
    told = outage.told_numbers([m])
    assert told == {"2026041700123": {42}}
    assert outage.case_number_problems(told, {"2026041700123"}, {"2026041700123": 42}) == []
    assert "not in `export cases`" in outage.case_number_problems(told, set(), {})[0]
    assert "opened by MsgId 7" in outage.case_number_problems(told, {"2026041700123"}, {"2026041700123": 7})[0]


def test_verify_log_output_is_parsed(outage):
    out = ("messages: ok, 6100 rows checked, 0 not sealed yet\n"
           "audit_log: BROKEN at row 7: the row was changed, or the row before it deleted (6 rows checked before it)\n")
    parsed = outage.parse_verify_log(out)
    assert parsed["messages"][:3] == (True, 6100, 0)
    assert parsed["audit_log"][0] is False
