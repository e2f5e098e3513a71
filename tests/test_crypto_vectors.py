"""MessageCrypto and signature() against the published WeChat message-crypto vectors, and key rotation.

The vectors (../shared/fixtures/wechat/crypto_vectors/) come from Tencent's own samples: if our
encryption drifts from them, WeChat cannot read our replies and we cannot read its pushes.
Pure unit tests: no app, no database.
"""
from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
import xmltodict

from bot.wechat.crypto import DecryptError, MessageCrypto, signature
from tests.conftest import SHARED, shared_path

VECTORS_FILE = ("fixtures", "wechat", "crypto_vectors", "wechat_msg_crypto_vectors.json")


def _vector_ids() -> list[str]:
    path = SHARED.joinpath(*VECTORS_FILE)
    if not path.exists():
        return []
    return [v["id"] for v in json.loads(path.read_text("utf-8"))["vectors"]]


ALL_IDS = _vector_ids()


def _ids(*prefixes: str) -> list[str]:
    """Vector ids whose prefix (before the first ``_``) is one of ``prefixes``; a skipping stand-in if none."""
    found = [i for i in ALL_IDS if i.split("_", 1)[0] in prefixes]
    # Without ../shared the stand-in id reaches the `vector` fixture, which skips.
    return found or [f"{'/'.join(prefixes)}-absent"]


@pytest.fixture
def vector(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The vector named by the test's ``vector_id`` parameter."""
    path = shared_path(*VECTORS_FILE)
    vectors = {v["id"]: v for v in json.loads(path.read_text("utf-8"))["vectors"]}
    return vectors[request.param]


def _fixed_prefix(crypto: MessageCrypto, prefix: str) -> MessageCrypto:
    """Make every cipher of ``crypto`` use ``prefix`` as its 16 'random' bytes."""
    assert len(prefix.encode()) == 16
    for cipher in crypto._ciphers:
        cipher.get_random_string = lambda prefix=prefix: prefix  # type: ignore[method-assign]
    return crypto


def _envelope(xml: str) -> dict[str, str]:
    return xmltodict.parse(xml)["xml"]


def test_every_vector_is_covered():
    """A vector added to the shared file without a test here would silently go unchecked."""
    shared_path(*VECTORS_FILE)
    covered = {p for ids in (_ids("A1", "A2", "W2"), _ids("C", "D", "E"), _ids("F"), _ids("W1", "B")) for p in ids}
    assert set(ALL_IDS) <= covered
    assert len(ALL_IDS) == 9


@pytest.mark.parametrize("vector", _ids("A1", "A2", "W2"), indirect=True)
def test_encrypt_with_fixed_random_prefix_matches_vector(vector):
    receiver = vector.get("appid") or vector["receive_id"]
    crypto = _fixed_prefix(MessageCrypto(vector["token"], receiver, [vector["encoding_aes_key"]]),
                           vector["random_prefix"])
    timestamp, nonce = vector.get("timestamp", "1409735669"), vector.get("nonce", "1320562132")
    envelope = _envelope(crypto.encrypt(vector["plaintext"], nonce, timestamp))
    assert envelope["Encrypt"] == vector["expected_encrypt"]
    if "expected_msg_signature" in vector:
        assert envelope["MsgSignature"] == vector["expected_msg_signature"]
    assert envelope["TimeStamp"] == timestamp and envelope["Nonce"] == nonce
    # And what we encrypted reads back (a reply WeChat can open is one we can open too).
    assert crypto.decrypt(envelope["Encrypt"]) == (vector["plaintext"], 0)


@pytest.mark.parametrize("vector", _ids("C", "D", "E"), indirect=True)
def test_decrypt_vector_and_verify_msg_signature(vector):
    crypto = MessageCrypto(vector["token"], vector["appid"], [vector["encoding_aes_key"]])
    query = vector["query"]
    encrypt = _envelope(vector["body"])["Encrypt"]
    assert crypto.check_msg(query["msg_signature"], query["timestamp"], query["nonce"], encrypt)
    # The plain `signature` rule (token, timestamp, nonce) must not be what verifies the body.
    assert not crypto.check(query["msg_signature"], query["timestamp"], query["nonce"])
    # A different nonce is a different request: the signature no longer fits.
    assert not crypto.check_msg(query["msg_signature"], query["timestamp"], query["nonce"] + "1", encrypt)
    assert crypto.decrypt(encrypt) == (vector["expected_plaintext"], 0)


@pytest.mark.parametrize("vector", _ids("E"), indirect=True)
def test_official_doc_reply_encrypts_to_documented_envelope(vector):
    reply = vector["reply"]
    crypto = _fixed_prefix(MessageCrypto(vector["token"], vector["appid"], [vector["encoding_aes_key"]]),
                           reply["random_prefix"])
    envelope = _envelope(crypto.encrypt(reply["plaintext"], reply["nonce"], reply["timestamp"]))
    assert envelope["Encrypt"] == reply["expected_encrypt"]
    assert envelope["MsgSignature"] == reply["expected_msg_signature"]
    assert envelope["TimeStamp"] == reply["timestamp"]
    assert envelope["Nonce"] == reply["nonce"]


@pytest.mark.parametrize("vector", _ids("F"), indirect=True)
def test_plain_signature_matches_documented_example(vector):
    query = vector["query"]
    assert "".join(sorted([vector["token"], query["timestamp"], query["nonce"]])) == vector["sorted_concat"]
    assert signature(vector["token"], query["timestamp"], query["nonce"]) == query["signature"]
    crypto = MessageCrypto(vector["token"], "wx0000000000000000", [])
    assert crypto.check(query["signature"], query["timestamp"], query["nonce"])
    assert crypto.check(query["signature"].upper(), query["timestamp"], query["nonce"])
    assert not crypto.check(query["signature"], query["timestamp"], str(int(query["nonce"]) + 1))
    assert not crypto.check(None, query["timestamp"], query["nonce"])


@pytest.mark.parametrize("vector", _ids("W1", "B"), indirect=True)
def test_wecom_echostr_decrypts(vector):
    # WeCom encrypts echostr with the same algorithm; its receive-id plays the AppID's part.
    crypto = MessageCrypto(vector["token"], vector["receive_id"], [vector["encoding_aes_key"]])
    query = vector["query"]
    assert crypto.check_msg(query["msg_signature"], query["timestamp"], query["nonce"], query["echostr"])
    assert crypto.decrypt(query["echostr"]) == (vector["expected_echostr_plain"], 0)
    negative = vector.get("negative_case")
    if negative:
        assert negative["nonce"] != query["nonce"]
        assert not crypto.check_msg(query["msg_signature"], query["timestamp"], negative["nonce"], query["echostr"])


# -- key rotation ----------------------------------------------------------------------------------

TOKEN = "rotationtoken"
APP_ID = "wx1234567890abcdef"
K1 = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"      # the previous EncodingAESKey
K2 = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"      # the current one
K3 = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"      # a key this account never had
PLAIN = ("<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[oRotate]]></FromUserName>"
         "<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>"
         "<Content><![CDATA[路灯坏了]]></Content><MsgId>42</MsgId></xml>")


def _encrypt(key: str, plaintext: str = PLAIN, app_id: str = APP_ID) -> str:
    return _envelope(MessageCrypto(TOKEN, app_id, [key]).encrypt(plaintext, "123", "1700000000"))["Encrypt"]


def test_message_from_previous_key_decrypts_with_index_1():
    rotated = MessageCrypto(TOKEN, APP_ID, [K2, K1])
    assert rotated.decrypt(_encrypt(K1)) == (PLAIN, 1)
    assert rotated.decrypt(_encrypt(K2)) == (PLAIN, 0)


def test_reply_with_key_index_1_is_readable_with_previous_key_only():
    rotated = MessageCrypto(TOKEN, APP_ID, [K2, K1])
    encrypted = _envelope(rotated.encrypt(PLAIN, "123", "1700000000", key_index=1))["Encrypt"]
    assert MessageCrypto(TOKEN, APP_ID, [K1]).decrypt(encrypted) == (PLAIN, 0)
    with pytest.raises(DecryptError):
        MessageCrypto(TOKEN, APP_ID, [K2]).decrypt(encrypted)


def test_message_from_unknown_key_raises_decrypt_error():
    rotated = MessageCrypto(TOKEN, APP_ID, [K2, K1])
    # Many messages: a wrong key yields random padding/lengths, every one of which must be a DecryptError.
    for n in range(200):
        text = PLAIN.replace("路灯坏了", "路" * n + secrets.token_hex(n % 7))
        with pytest.raises(DecryptError):
            rotated.decrypt(_encrypt(K3, text))


@pytest.mark.parametrize("garbage", ["", "not base64 at all!", "AAAA", "QUJD" * 3, "A" * 44, "=" * 8])
def test_garbage_encrypt_value_raises_decrypt_error(garbage):
    with pytest.raises(DecryptError):
        MessageCrypto(TOKEN, APP_ID, [K2, K1]).decrypt(garbage)


def test_wrong_app_id_inside_raises_decrypt_error():
    foreign = _encrypt(K2, app_id="wxffffffffffffffff")
    with pytest.raises(DecryptError):
        MessageCrypto(TOKEN, APP_ID, [K2, K1]).decrypt(foreign)
    # The AppID is checked exactly, not as a prefix.
    with pytest.raises(DecryptError):
        MessageCrypto(TOKEN, APP_ID, [K2]).decrypt(_encrypt(K2, app_id=APP_ID + "x"))
