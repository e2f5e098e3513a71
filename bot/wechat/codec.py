"""XML in and out: clean, refuse, parse WeChat pushes into :class:`InboundMessage`, render replies.

wechatpy parses; this module guards it. The common push (a flat envelope; a citizen's text, image or
voice message) is read with the standard library's C ElementTree into exactly the mapping xmltodict
would give (text stripped, empty as None), and its wechatpy class is looked up in wechatpy's own table:
xmltodict's pure-Python SAX handler cost more CPU than the rest of decoding. Anything else (events,
nested or repeated fields, attributes, namespaces, a DTD, what ElementTree refuses) goes through wechatpy.

Control characters crash expat, DOCTYPE and entity declarations are refused (WeChat never sends them;
an attacker would), a missing ``MsgType`` raises ``KeyError`` inside wechatpy.
On the way out ``]]>`` is escaped and the text capped at 2,000 bytes.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any
from xml.etree import ElementTree

import xmltodict
from wechatpy import parse_message
from wechatpy.messages import MESSAGE_TYPES, UnknownMessage

from bot.errors import Refused, Unparseable
from bot.wechat.crypto import cdata_escape
from handlers.dedupe import dedup_key
from handlers.types import InboundMessage, OutboundReply

MAX_REPLY_BYTES = 2000

# Characters XML 1.0 forbids (C0 controls but tab/LF/CR, lone surrogates, U+FFFE/U+FFFF).
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ROOT_START = re.compile(r"<[A-Za-z_]")
_DTD = re.compile(r"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)", re.IGNORECASE)
_TEXT_FIELDS = {
    "text": "Content",
    "voice": "Recognition",
    "link": "Title",
    "location": "Label",
}


def clean(xml: str) -> str:
    """``xml`` without XML-illegal characters; :class:`Refused` if it declares a DTD or entities.

    Only the prolog (before the root element) can hold a DTD; a citizen who quotes
    "<!DOCTYPE html>" inside a CDATA text is writing words, not declaring anything.
    """
    xml = _ILLEGAL_XML.sub("", xml)
    root = _ROOT_START.search(xml)
    if _DTD.search(xml[: root.start()] if root else xml):
        raise Refused("DTD or entity declarations are not accepted")
    return xml


def flat_fields(xml: str) -> dict[str, str | None] | None:
    """The fields of a flat ``<xml>`` document as xmltodict reads them; None if it is not that simple.

    Flat: no attributes, no field with children or repeated, no text between fields, no namespaces.
    """
    if _DTD.search(xml):
        return None  # never a declaration near expat here: xmltodict, with entities disabled, refuses it
    try:
        root = ElementTree.fromstring(xml)  # noqa: S314 (no DTD can reach it: checked above)
    except ElementTree.ParseError:
        return None  # xmltodict decides what it is (and says why it is not XML)
    if root.tag != "xml" or root.attrib or (root.text or "").strip():
        return None
    fields: dict[str, str | None] = {}
    for child in root:
        tag = child.tag
        if not isinstance(tag, str) or "{" in tag or tag in fields or len(child) or child.attrib:
            return None
        if (child.tail or "").strip():
            return None
        # xmltodict's strip_whitespace: surrounding whitespace dropped, nothing left is None.
        fields[tag] = (child.text or "").strip() or None
    return fields


def parse_envelope(xml: str) -> dict[str, Any]:
    """The top-level fields of a push (plaintext or the ``Encrypt`` envelope)."""
    fields = flat_fields(xml)
    if fields is not None:
        return fields
    try:
        doc = xmltodict.parse(xml, disable_entities=True)
    except Exception as exc:  # noqa: BLE001 (expat errors, ValueError on entities, anything malformed)
        raise Unparseable(f"body is not XML: {type(exc).__name__}") from None
    root = doc.get("xml") if isinstance(doc, dict) else None
    if not isinstance(root, dict):
        raise Unparseable("body has no <xml> root element")
    return root


def to_inbound(xml: str) -> InboundMessage:
    """Parse cleaned plaintext XML into our own message type (:class:`Unparseable` on failure)."""
    fields = flat_fields(xml)
    data: Any = fields
    msg_type = fields.get("MsgType") if fields is not None else None
    flat_type = msg_type.lower() if isinstance(msg_type, str) else None
    if flat_type is not None and flat_type != "event" and not flat_type.startswith("device_"):
        # A flat message (not an event): wechatpy's parse_message would pick its class from this table.
        parsed_as = MESSAGE_TYPES.get(flat_type, UnknownMessage).__name__
    else:
        parsed_as = "UnknownMessage"
        try:
            # One parse: wechatpy runs xmltodict (entities disabled) and picks the message class.
            message = parse_message(xml)
            data = getattr(message, "_data", None)  # the mapping wechatpy parsed (after its own fixes)
            parsed_as = type(message).__name__
        except Exception:  # noqa: BLE001 (wechatpy trips on odd shapes, e.g. an empty <Event/>)
            # Still WeChat's push if it has a sender and a type: store it as unknown rather than lose it.
            # (A flat push was read above already; parse_envelope would read it again the same way.)
            data = fields if fields is not None else parse_envelope(xml)
    if not isinstance(data, dict):
        raise Unparseable("empty push")
    if not isinstance(data.get("MsgType"), str) or not isinstance(data.get("FromUserName"), str):
        raise Unparseable("push without MsgType or FromUserName")
    kind = str(data.get("MsgType", "")).strip().lower()[:40]
    openid = str(data.get("FromUserName") or "").strip()
    if not openid or len(openid) > 64:
        raise Unparseable("FromUserName missing or too long")
    create_raw = _int(data.get("CreateTime")) or int(time.time())
    msg_id = _int(data.get("MsgId") or data.get("MsgID"))
    if msg_id is not None and not 0 < msg_id < 2**63:
        # Not a WeChat MsgId (they fit a signed 64-bit column): dedupe on its text, store no number.
        raw_id, msg_id = str(data.get("MsgId") or data.get("MsgID")).strip()[:64], None
    else:
        raw_id = None
    event = (str(data.get("Event") or "").strip().lower()[:64] or None) if kind == "event" else None
    event_key = _str(data.get("EventKey")) if kind == "event" else None
    try:
        created = dt.datetime.fromtimestamp(create_raw, dt.UTC)
    except (OverflowError, OSError, ValueError):
        raise Unparseable(f"CreateTime out of range: {create_raw}") from None
    text = _str(data.get(_TEXT_FIELDS.get(kind, ""), "")) or ""
    if kind == "link" and data.get("Url"):
        text = f"{text} {_str(data.get('Url'))}".strip()
    return InboundMessage(
        kind=kind or "unknown",
        openid=openid,
        account=str(data.get("ToUserName") or ""),
        create_time=created,
        dedup_key=f"x:{raw_id}"
        if raw_id and not event
        else dedup_key(msg_id if not event else None, openid, create_raw, event, event_key),
        msg_id=msg_id,
        event=event,
        event_key=event_key[:512] if event_key else event_key,
        text=text[:10000],
        raw_xml=xml,
        parsed_as=parsed_as,
    )


def cap_utf8(text: str, limit: int = MAX_REPLY_BYTES) -> str:
    """``text`` cut to at most ``limit`` bytes of UTF-8, never inside a character."""
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    return raw[:limit].decode("utf-8", errors="ignore")


def render_reply(reply: OutboundReply, msg: InboundMessage, now: int | None = None) -> str:
    """The passive-reply XML for ``reply`` to ``msg`` (plaintext; the view encrypts if needed).

    Written out here, byte for byte what wechatpy's ``TextReply(...).render()`` gives (field order included;
    tests/test_wechat_codec.py compares the two): building the reply object through wechatpy's field
    descriptors cost a message more CPU than the XML is worth.
    """
    content = cdata_escape(cap_utf8(reply.text))
    return (
        "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n"
        f"<Content><![CDATA[{content}]]></Content>\n"
        f"<FromUserName><![CDATA[{cdata_escape(msg.account)}]]></FromUserName>\n"
        f"<ToUserName><![CDATA[{cdata_escape(msg.openid)}]]></ToUserName>\n"
        f"<CreateTime>{int(now or time.time())}</CreateTime>\n</xml>"
    )


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        return None
    return str(value)
