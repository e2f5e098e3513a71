"""The WeChat edge: turn an HTTP push into an :class:`InboundMessage` and a reply into the HTTP answer.

Order of checks for a POST: timestamp window → signature(s) → decrypt (current key, then previous)
→ clean (illegal characters, DTD) → parse. Anything that is not WeChat's is a 403; anything WeChat
sent that we cannot read is logged and answered ``success`` so the citizen never sees an error.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping

from bot.errors import Forbidden, Refused, Unparseable
from bot.wechat import codec
from bot.wechat.crypto import DecryptError, MessageCrypto
from handlers.types import InboundMessage, OutboundReply

log = logging.getLogger(__name__)

SUCCESS = "success"


@dataclasses.dataclass(frozen=True)
class Push:
    """A verified, decoded push and what is needed to answer it the same way it came."""

    message: InboundMessage
    encrypted: bool
    key_index: int
    nonce: str
    timestamp: str


class Edge:
    """Verification, decryption, parsing and reply encoding for one account."""

    def __init__(
        self, crypto: MessageCrypto, window: int, clock: Callable[[], float] = time.time, *, safe_only: bool = False
    ) -> None:
        self.crypto = crypto
        self.window = window
        self.clock = clock
        # In safe mode WeChat never sends plaintext; a plaintext push then is a forgery built on a
        # captured query (its signature does not cover the body).
        self.safe_only = safe_only

    def _fresh(self, args: Mapping[str, str]) -> tuple[str, str]:
        timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
        # isascii(): str.isdigit() accepts "²" and "①", which int() then refuses.
        if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12 or not nonce or len(nonce) > 64:
            raise Forbidden("missing or malformed timestamp/nonce")
        if abs(self.clock() - int(timestamp)) > self.window:
            raise Forbidden(f"timestamp outside the {self.window}s window")
        return timestamp, nonce

    def verify_url(self, args: Mapping[str, str]) -> str:
        """GET verification: the ``echostr`` to echo back, if the signature is right."""
        timestamp, nonce = self._fresh(args)
        if not self.crypto.check(args.get("signature"), timestamp, nonce):
            raise Forbidden("bad signature")
        echostr = args.get("echostr", "")
        if not echostr or len(echostr) > 512:
            raise Forbidden("missing echostr")
        return echostr

    def decode(self, args: Mapping[str, str], body: bytes) -> Push:
        """Verify and decode a POST; raises Forbidden, Refused or Unparseable."""
        timestamp, nonce = self._fresh(args)
        mode = (args.get("encrypt_type") or "raw").lower()
        if mode not in ("raw", "aes"):
            raise Forbidden(f"unknown encrypt_type {mode!r}")
        encrypted = mode == "aes"
        if self.safe_only and not encrypted:
            raise Forbidden("plaintext push refused: the account runs in safe mode")
        # WeChat sends `signature` in every mode; in aes mode msg_signature also covers the body.
        # Checked before the body is even parsed: an unsigned request learns nothing.
        if not self.crypto.check(args.get("signature"), timestamp, nonce):
            raise Forbidden("bad signature")
        text = _text(body)
        key_index = 0
        if encrypted:
            if not self.crypto.enabled:
                raise Forbidden("encrypted push but no EncodingAESKey is configured")
            envelope = codec.parse_envelope(codec.clean(text))
            encrypt = envelope.get("Encrypt")
            if not isinstance(encrypt, str) or not encrypt.strip():
                raise Forbidden("encrypted push without Encrypt")
            if not self.crypto.check_msg(args.get("msg_signature"), timestamp, nonce, encrypt):
                raise Forbidden("bad msg_signature")
            try:
                text, key_index = self.crypto.decrypt(encrypt)
            except DecryptError as exc:
                # Signed with our token but no key fits: a rotation gone wrong. Loud, and 403.
                log.error("authentic push could not be decrypted: %s", exc)
                raise Forbidden("cannot decrypt") from None
        message = codec.to_inbound(codec.clean(text))
        return Push(message, encrypted, key_index, nonce, timestamp)

    def encode(self, push: Push, reply: OutboundReply | None) -> str:
        """The HTTP body answering ``push``: ``success`` for silence, else the (encrypted) reply XML."""
        if reply is None:
            return SUCCESS
        now = int(self.clock())
        xml = codec.render_reply(reply, push.message, now)
        if push.encrypted:
            return self.crypto.encrypt(xml, push.nonce, str(now), push.key_index)
        return xml


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise Unparseable("body is not UTF-8") from None


__all__ = ["SUCCESS", "Edge", "Push", "Refused"]
