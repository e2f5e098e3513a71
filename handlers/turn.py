"""The state of one inbound message as it moves through the stages."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from handlers.triage import Triage
from handlers.types import InboundMessage


@dataclasses.dataclass
class Turn:
    """One message's trip through the pipeline: what stages learned and decided so far."""

    msg: InboundMessage
    session: Session
    now: dt.datetime
    generation: int | None = None
    citizen_id: int | None = None
    inbound_id: int | None = None
    triage: Triage | None = None
    case_id: int | None = None
    case_number: str | None = None
    # What to answer: a template key and its variables (respond renders it).
    reply_key: str | None = None
    variables: dict[str, Any] = dataclasses.field(default_factory=dict)
    deadline_with_time: bool = False
