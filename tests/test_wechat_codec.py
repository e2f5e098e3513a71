"""The passive reply WeChat receives is exactly the XML wechatpy's ``TextReply`` renders.

``bot.wechat.codec.render_reply`` writes the XML itself (issue 21: cheaper than building wechatpy's reply
object per message); WeChat must not see the difference, so the two are compared byte for byte.
"""
from __future__ import annotations

import datetime as dt

import pytest
from wechatpy.replies import TextReply

from bot.wechat.codec import cap_utf8, render_reply
from bot.wechat.crypto import cdata_escape
from handlers.types import InboundMessage, OutboundReply


def _msg(openid: str, account: str) -> InboundMessage:
    return InboundMessage(
        kind="text", openid=openid, account=account, create_time=dt.datetime(2026, 12, 8, tzinfo=dt.UTC),
        dedup_key="m:1", msg_id=1, event=None, event_key=None, text="你好", raw_xml="", parsed_as="TextMessage",
    )


@pytest.mark.parametrize(
    ("text", "openid", "account"),
    [
        ("您好，您反映的问题已受理，编号 2026120800001234。", "oAbCdEfGhIjKlMnOpQrStUvWxYz1", "gh_3c8e1f5a9b2d"),
        ("前]]>后<xml>&amp;", "o]]>x", "gh_]]>"),
        ("长" * 1000, "o-_1", "gh_1"),  # over the 2,000-byte cap
        ("", "o1", "gh_1"),
    ],
)
def test_reply_xml_is_what_wechatpy_renders(text: str, openid: str, account: str) -> None:
    expected = TextReply(
        source=cdata_escape(account), target=cdata_escape(openid), content=cdata_escape(cap_utf8(text)),
        time=1700000000,
    ).render()
    assert render_reply(OutboundReply(text, "t", 1), _msg(openid, account), now=1700000000) == expected
