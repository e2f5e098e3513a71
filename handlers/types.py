"""The small frozen dataclasses that cross the edge: what a citizen sent and what we answer."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any


@dataclasses.dataclass(frozen=True)
class InboundMessage:
    """One message or event as the pipeline sees it, independent of WeChat's library objects.

    ``kind`` is the message type (text, image, voice, video, shortvideo, location, link) or
    ``event``; ``event`` is the lower-case event name for events (subscribe, subscribe_scan, ...);
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
