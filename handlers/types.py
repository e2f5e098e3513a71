"""The small frozen dataclasses that cross the edge: what a citizen sent and what we answer."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any


@dataclasses.dataclass(frozen=True)
class Filed:
    """What a citizen filed through a form (the web form, Open311, a hotline ticket) beyond its words.

    A filed message always becomes a case (an emergency still comes first): of ``case_type`` (a CaseType
    value) and for ``department`` when the channel says so, else as the classifier reads the text.
    ``summary`` is the case summary (labelled fields, as the chat form writes it); ``acknowledge`` False
    records no reply (a hotline ticket: the caller was answered on the phone).
    """

    case_type: str | None = None
    department: str | None = None
    summary: str | None = None
    acknowledge: bool = True


@dataclasses.dataclass(frozen=True)
class InboundMessage:
    """One message or event as the pipeline sees it, independent of WeChat's library objects.

    ``kind`` is the message type (text, image, voice, video, shortvideo, location, link), ``form``
    for a request filed through another channel (``filed``), or ``event``; ``event`` is the lower-case
    event name for events (subscribe, subscribe_scan, ...);
    ``text`` is what a person could read (text content, voice recognition, a link's title).
    """

    kind: str
    openid: str
    account: str
    create_time: dt.datetime
    dedup_key: str
    msg_id: int | None = None
    event: str | None = None
    event_key: str | None = None
    text: str = ""
    raw_xml: str = ""
    # The wechatpy message class it parsed as (every other field stays in ``raw_xml``).
    parsed_as: str = "UnknownMessage"
    # The door it came through: wechat, web (the mobile form), open311, hotline (models/citizen.py).
    channel: str = "wechat"
    # Set on kind "form": what the citizen filed (see :class:`Filed`).
    filed: Filed | None = None

    @property
    def is_event(self) -> bool:
        """True for events (follow, menu click, scan...), false for messages a citizen wrote."""
        return self.kind == "event"


@dataclasses.dataclass(frozen=True)
class OutboundReply:
    """A passive reply: the text that goes back, and the template version that produced it."""

    text: str
    template_key: str
    template_version: int
    kind: str = "text"

    def to_json(self) -> str:
        """Serialise for the dedup cache, so retries get the very same reply."""
        return json.dumps(
            {
                "text": self.text,
                "template_key": self.template_key,
                "template_version": self.template_version,
                "kind": self.kind,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> OutboundReply:
        """Inverse of :meth:`to_json`."""
        data: dict[str, Any] = json.loads(raw)
        return cls(**data)
