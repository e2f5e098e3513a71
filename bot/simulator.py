"""A stand-in for WeChat's servers: builds signed (and encrypted) pushes and reads the replies.

Used by ``python -m bot simulate``, by the console's try-it page later, and by the tests.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode
from xml.sax.saxutils import escape

import xmltodict

from bot.wechat.crypto import MessageCrypto, signature

ACCOUNT = "gh_minsheng_demo"


@dataclasses.dataclass(frozen=True)
class Request:
    """One push as WeChat would send it."""

    query: dict[str, str]
    body: bytes

    @property
    def query_string(self) -> str:
        """The query, URL-encoded."""
        return urlencode(self.query)


@dataclasses.dataclass(frozen=True)
class Result:
    """What the server answered, and the reply text decoded from it."""

    status: int
    body: str
    reply: str | None


class Simulator:
    """Signs and encrypts like WeChat for one account (token, AppID, AES key)."""

    def __init__(self, token: str, app_id: str, aes_key: str, url: str = "", account: str = ACCOUNT) -> None:
        self.token = token
        self.app_id = app_id
        self.crypto = MessageCrypto(token, app_id, [aes_key]) if aes_key else None
        self.url = url
        self.account = account

    @classmethod
    def from_config(cls, config: Mapping[str, Any], url: str = "") -> Simulator:
        """A simulator using the app's configured credentials."""
        return cls(config["WECHAT_TOKEN"], config["WECHAT_APP_ID"], config["WECHAT_ENCODING_AES_KEY"], url)

    # -- building ----------------------------------------------------------------------------------

    def text_xml(self, text: str, openid: str, msg_id: int | None = None, create_time: int | None = None) -> str:
        """The XML of a text message."""
        msg_id = msg_id if msg_id is not None else secrets.randbelow(2**62) + 1
        return (
            f"<xml><ToUserName><![CDATA[{self.account}]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{create_time or int(time.time())}</CreateTime>"
            f"<MsgType><![CDATA[text]]></MsgType>"
            f"<Content>{escape(text)}</Content>"
            f"<MsgId>{msg_id}</MsgId></xml>"
        )

    def event_xml(self, event: str, openid: str, event_key: str = "", create_time: int | None = None) -> str:
        """The XML of an event."""
        return (
            f"<xml><ToUserName><![CDATA[{self.account}]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{create_time or int(time.time())}</CreateTime>"
            f"<MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[{event}]]></Event>"
            f"<EventKey>{escape(event_key)}</EventKey></xml>"
        )

    def sign(
        self,
        xml: str,
        *,
        encrypt: bool = False,
        openid: str | None = None,
        timestamp: int | None = None,
        nonce: str | None = None,
        compat: bool = False,
    ) -> Request:
        """The signed push carrying ``xml``: plaintext, or encrypted (safe mode; ``compat`` keeps plaintext too)."""
        ts = str(timestamp if timestamp is not None else int(time.time()))
        nonce = nonce or str(secrets.randbelow(10**10))
        query = {"signature": signature(self.token, ts, nonce), "timestamp": ts, "nonce": nonce}
        if openid:
            query["openid"] = openid
        if not encrypt:
            return Request(query, xml.encode("utf-8"))
        if self.crypto is None:
            raise ValueError("no EncodingAESKey configured: cannot encrypt")
        envelope = xmltodict.parse(self.crypto.encrypt(xml, nonce, ts))["xml"]
        encrypted = envelope["Encrypt"]
        query.update(encrypt_type="aes", msg_signature=signature(self.token, ts, nonce, encrypted))
        if compat:
            body = xml.replace("</xml>", f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>")
        else:
            body = (
                f"<xml><ToUserName><![CDATA[{self.account}]]></ToUserName>"
                f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
            )
        return Request(query, body.encode("utf-8"))

    # -- reading -----------------------------------------------------------------------------------

    def read_reply(self, body: str) -> str | None:
        """The text of a passive reply (decrypting and checking its signature if encrypted); None for silence."""
        if body.strip() in ("", "success"):
            return None
        doc = xmltodict.parse(body)["xml"]
        if "Encrypt" in doc:
            if self.crypto is None:
                raise ValueError("encrypted reply but no EncodingAESKey configured")
            expected = signature(self.token, doc["TimeStamp"], doc["Nonce"], doc["Encrypt"])
            if expected != doc["MsgSignature"]:
                raise ValueError("reply MsgSignature does not match")
            plain, _ = self.crypto.decrypt(doc["Encrypt"])
            doc = xmltodict.parse(plain)["xml"]
        return str(doc.get("Content") or "")

    # -- sending (over HTTP) -----------------------------------------------------------------------

    def post(self, request: Request, timeout: float = 10.0) -> Result:
        """POST ``request`` to the server's URL."""
        import requests

        resp = requests.post(
            f"{self.url}?{request.query_string}",
            data=request.body,
            headers={"Content-Type": "text/xml"},
            timeout=timeout,
        )
        resp.encoding = "utf-8"
        reply = self.read_reply(resp.text) if resp.status_code == 200 else None
        return Result(resp.status_code, resp.text, reply)

    def send_text(self, text: str, *, openid: str, encrypt: bool = False) -> Result:
        """Send a text message and read the reply."""
        return self.post(self.sign(self.text_xml(text, openid), encrypt=encrypt, openid=openid))

    def send_event(self, event: str, *, openid: str, event_key: str = "", encrypt: bool = False) -> Result:
        """Send an event and read the reply."""
        return self.post(self.sign(self.event_xml(event, openid, event_key), encrypt=encrypt, openid=openid))
