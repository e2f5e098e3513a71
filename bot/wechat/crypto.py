"""Signatures and message encryption, with the current and the previous EncodingAESKey.

wechatpy does the AES work; what it does not do is done here: constant-time signature checks,
trying the previous key when the current one fails (WeChat's key-rotation FAQ), and answering
with the key that worked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import struct

from wechatpy.crypto import PrpCrypto
from wechatpy.exceptions import InvalidAppIdException

log = logging.getLogger(__name__)


def signature(*parts: str) -> str:
    """WeChat's signature: SHA-1 of the sorted parts, concatenated."""
    # SHA-1 is WeChat's protocol, not our choice.
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8"), usedforsecurity=False).hexdigest()


def signature_matches(expected: str, given: str | None) -> bool:
    """Constant-time comparison of a computed and a received signature."""
    # Bytes: compare_digest refuses non-ASCII str, and a forged signature may be anything.
    return given is not None and hmac.compare_digest(expected.encode(), given.strip().lower().encode("utf-8"))


class DecryptError(Exception):
    """No configured key could decrypt the message (or the AppID inside did not match)."""


class MessageCrypto:
    """Encrypt and decrypt messages for one account with an ordered list of keys (current first)."""

    def __init__(self, token: str, app_id: str, keys: list[str]) -> None:
        self.token = token
        self.app_id = app_id
        self.keys = [k for k in keys if k]
        self._ciphers = [PrpCrypto(base64.b64decode(k + "=")) for k in self.keys]

    @property
    def enabled(self) -> bool:
        """Whether any EncodingAESKey is configured."""
        return bool(self._ciphers)

    def check(self, sig: str | None, timestamp: str, nonce: str) -> bool:
        """The query's ``signature`` (token, timestamp, nonce)."""
        return signature_matches(signature(self.token, timestamp, nonce), sig)

    def check_msg(self, msg_sig: str | None, timestamp: str, nonce: str, encrypt: str) -> bool:
        """The query's ``msg_signature`` over the Encrypt element."""
        return signature_matches(signature(self.token, timestamp, nonce, encrypt), msg_sig)

    def decrypt(self, encrypt: str) -> tuple[str, int]:
        """Plaintext XML and the index of the key that worked; :class:`DecryptError` if none did."""
        for index, cipher in enumerate(self._ciphers):
            try:
                return cipher.decrypt(encrypt, self.app_id), index
            except (InvalidAppIdException, ValueError, UnicodeDecodeError, struct.error, IndexError, TypeError) as exc:
                # Wrong key: garbage padding, lengths or AppID. Try the next (previous) key.
                log.debug("key %d failed to decrypt: %s", index, type(exc).__name__)
        raise DecryptError("no EncodingAESKey decrypts this message")

    def encrypt(self, plaintext: str, nonce: str, timestamp: str, key_index: int = 0) -> str:
        """The encrypted reply envelope, signed, with the key at ``key_index``."""
        encrypted = self._ciphers[key_index].encrypt(plaintext, self.app_id).decode("ascii")
        sig = signature(self.token, timestamp, nonce, encrypted)
        return (
            "<xml>\n"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt>\n"
            f"<MsgSignature><![CDATA[{sig}]]></MsgSignature>\n"
            f"<TimeStamp>{timestamp}</TimeStamp>\n"
            f"<Nonce><![CDATA[{cdata_escape(nonce)}]]></Nonce>\n"
            "</xml>"
        )


def cdata_escape(value: str) -> str:
    """Make ``value`` safe inside a CDATA section (``]]>`` would end it)."""
    return value.replace("]]>", "]]]]><![CDATA[>")
