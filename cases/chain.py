"""Tamper evidence: keyed hash chains over messages, template versions, reviews and the audit log.

Each row's link is HMAC-SHA256(key, previous link ‖ the row's immutable fields); a message's fields
include a digest of its text and raw XML. A sealer links new rows in id order about half a minute after they are written
(not on the message path, which stays one statement); ``verify`` walks a chain and reports the first
row whose link does not follow. An edit of a sealed row changes its link; a deleted row breaks the
next one; rows deleted at the end fall short of the recorded head; a row slipped in below the head
has no link. The key (derived from SECRET_KEY) is not in the database, so someone who can write to
the database cannot recompute the links after an edit.

Retention anonymises old messages by replacing text and raw XML with :data:`ANONYMISED`; their digest
stays in the chain, so the rest of the row is still checked.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import Session

from models import AuditEntry, ChainHead, Message, TemplateReview, TemplateVersion, utcnow

GENESIS = "0" * 64
ANONYMISED = "[已按保存期限匿名化]"
# How long after a horizon is taken the rows below it are sealed: a transaction that holds an id
# handed out before the horizon has committed or rolled back by then (the message path's statements
# are bounded by a 2.5 s timeout, and its transaction by the 5 s WeChat waits for an answer).
SETTLE = dt.timedelta(seconds=30)


@dataclasses.dataclass(frozen=True)
class Chain:
    """One chained table: its immutable fields and the column that says when a row was written."""

    name: str
    table: Table
    fields: tuple[str, ...]
    written_at: str


CHAINS = (
    Chain(
        "messages",
        Message.__table__,  # type: ignore[arg-type]
        ("id", "direction", "citizen_id", "dedup_key", "wechat_msg_id", "msg_type", "event", "event_key",
         "content_hash", "created_at", "received_at", "in_reply_to_id", "template_key", "template_version",
         "responder"),
        "received_at",
    ),
    Chain(
        "template_versions",
        TemplateVersion.__table__,  # type: ignore[arg-type]
        ("id", "template_id", "version", "body", "triggers", "match_mode", "author", "created_at"),
        "created_at",
    ),
    Chain(
        "template_reviews",
        TemplateReview.__table__,  # type: ignore[arg-type]
        ("id", "version_id", "level", "reviewer", "decision", "comment", "created_at"),
        "created_at",
    ),
    Chain(
        "audit_log",
        AuditEntry.__table__,  # type: ignore[arg-type]
        ("id", "at", "actor", "action", "target", "detail", "source"),
        "at",
    ),
)  # fmt: skip


@dataclasses.dataclass
class Report:
    """What ``verify`` found in one chain."""

    name: str
    checked: int = 0
    unsealed: int = 0
    broken_id: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        """True when every sealed row follows from the one before and the head matches."""
        return self.broken_id is None and not self.problem


def chain_key(secret: str) -> bytes:
    """The chain's HMAC key, derived from the application's secret."""
    return hmac.new(secret.encode(), b"minsheng hash chain v1", hashlib.sha256).digest()


def content_digest(content: str | None, raw_xml: str | None) -> str:
    """The digest of a message's text and raw XML kept in the chain."""
    return hashlib.sha256(f"{content or ''}\0{raw_xml or ''}".encode()).hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(timespec="microseconds")
    return value


def link(key: bytes, previous: str, chain: Chain, row: Any) -> str:
    """The link of ``row`` after ``previous``."""
    fields = [_plain(getattr(row, name)) for name in chain.fields]
    payload = previous.encode() + json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


def seal(session: Session, key: bytes, chain: Chain, *, now: dt.datetime | None = None, batch: int = 2000) -> int:
    """Link, in id order, the rows below the horizon taken at least ``SETTLE`` ago; returns how many (flushes only).

    The caller holds the chain's lock (one sealer at a time): see bot's maintenance thread. Each round first
    seals up to the horizon (the highest id visible when it was taken); once everything below it is linked, it
    takes a new horizon for a later round. A row is never passed over: ids come from a sequence, so every id up
    to the horizon was handed out before the horizon was taken, and a transaction holding one has committed or
    rolled back ``SETTLE`` later (message-path transactions last seconds). The times written in the rows play no
    part, so any interleaving of ids and times seals every row exactly once, in id order.
    """
    now = now or utcnow()
    head = session.get(ChainHead, chain.name)
    if head is None:
        head = ChainHead(name=chain.name, last_id=0, last_hash=GENESIS, sealed_at=now)
        session.add(head)
    t = chain.table
    count = 0
    if head.horizon_id is not None and head.horizon_at is not None and head.horizon_at <= now - SETTLE:
        count = _seal_up_to(session, key, chain, head, head.horizon_id, now, batch)
        if count == batch:
            session.flush()
            return count  # more below the horizon: the caller comes back for them
    if head.horizon_id is None or head.horizon_at is None or head.horizon_at <= now - SETTLE:
        head.horizon_id = session.execute(select(func.max(t.c.id))).scalar() or head.last_id
        head.horizon_at = now
    session.flush()
    return count


def _seal_up_to(
    session: Session, key: bytes, chain: Chain, head: ChainHead, horizon: int, now: dt.datetime, batch: int
) -> int:
    t = chain.table
    columns = [t.c[name] for name in chain.fields if name != "content_hash"]
    if chain.name == "messages":
        columns += [t.c.content, t.c.raw_xml]
    rows = session.execute(
        select(*columns).where(t.c.id > head.last_id, t.c.id <= horizon).order_by(t.c.id).limit(batch)
    ).all()
    if not rows:
        return 0
    previous = head.last_hash
    updates: list[dict[str, Any]] = []
    for row in rows:
        values = row._asdict()
        if chain.name == "messages":
            values["content_hash"] = content_digest(values.pop("content"), values.pop("raw_xml"))
        previous = link(key, previous, chain, _Row(values))
        updates.append(
            {
                "row_id": values["id"],
                "chain_hash": previous,
                **({"digest": values["content_hash"]} if chain.name == "messages" else {}),
            }
        )
    stmt = update(t).where(t.c.id == bindparam("row_id")).values(chain_hash=bindparam("chain_hash"))
    if chain.name == "messages":
        stmt = stmt.values(content_hash=bindparam("digest"))
    session.connection().execute(stmt, updates)
    head.last_id, head.last_hash, head.sealed_at = updates[-1]["row_id"], previous, now
    return len(updates)


class _Row:
    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


def verify(session: Session, key: bytes, chain: Chain) -> Report:
    """Walk ``chain`` from its first row; the report names the first row that does not follow."""
    report = Report(chain.name)
    head = session.get(ChainHead, chain.name)
    last_id = head.last_id if head else 0
    previous = GENESIS
    last_sealed: tuple[int, str] | None = None
    for row in _rows(session, chain):
        if row.chain_hash is None:
            if row.id <= last_id:
                # Below the head every row was sealed: this one was slipped in afterwards.
                return _broken(
                    report,
                    row.id,
                    "row without a link inside the sealed chain (inserted behind the application's back?)",
                )
            report.unsealed += 1
            continue
        report.checked += 1
        if chain.name == "messages" and row.content != ANONYMISED:
            if content_digest(row.content, row.raw_xml) != row.content_hash:
                return _broken(report, row.id, "the message's text or raw XML was changed")
        if chain.name == "messages" and row.content == ANONYMISED and row.raw_xml not in (None, ""):
            return _broken(report, row.id, "anonymised text with raw XML left in place")
        expected = link(key, previous, chain, row)
        if not hmac.compare_digest(expected, row.chain_hash):
            return _broken(report, row.id, "the row was changed, or the row before it deleted")
        previous = row.chain_hash
        last_sealed = (row.id, row.chain_hash)
    # A head at (0, GENESIS) is a chain with nothing sealed yet (its table may be empty): no rows are missing.
    if head is not None and (last_sealed or (0, GENESIS)) != (head.last_id, head.last_hash):
        at = last_sealed[0] if last_sealed else 0
        return _broken(
            report, at, f"the chain ends before its recorded head (row {head.last_id}): rows deleted at the end"
        )
    return report


def _rows(session: Session, chain: Chain) -> Iterator[Any]:
    t = chain.table
    columns = [t.c[name] for name in chain.fields] + [t.c.chain_hash]
    if chain.name == "messages":
        columns += [t.c.content, t.c.raw_xml]
    result = session.execute(select(*columns).order_by(t.c.id).execution_options(yield_per=5000))
    yield from result


def _broken(report: Report, row_id: int, problem: str) -> Report:
    report.broken_id, report.problem = row_id, problem
    return report
