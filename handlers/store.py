"""The hot path's SQL, built once per database dialect and executed with parameters.

Constructing an ``insert().values(...)`` per message costs more CPU than the database spends
running it; a prebuilt statement with bind parameters hits SQLAlchemy's compiled cache instead.
``INSERT … ON CONFLICT`` keeps the citizen upsert and the exactly-once message insert to one
statement each, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from models import Case, Citizen, Direction, Message

_citizens: Table = Citizen.__table__  # type: ignore[assignment]
_messages: Table = Message.__table__  # type: ignore[assignment]
_cases: Table = Case.__table__  # type: ignore[assignment]


def insert_for(session: Session, table: Any) -> Any:
    """An ``insert()`` construct that supports ``on_conflict_do_*`` for the session's database."""
    return _insert(session.get_bind().dialect.name, table)


def _insert(dialect: str, table: Any) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database dialect: {dialect}")


@dataclasses.dataclass(frozen=True)
class Statements:
    """Prebuilt statements of the message path for one dialect."""

    upsert_citizen: Any
    insert_inbound: Any
    insert_outbound: Any
    insert_case: Any
    set_subscribed: Any
    first_by_dedup: Any
    reply_to: Any


@functools.cache
def statements(dialect: str) -> Statements:
    """The statements for ``dialect`` (built on first use, then shared: they are immutable)."""
    up = _insert(dialect, _citizens).values(
        openid=bindparam("openid"), first_seen_at=bindparam("now"), last_seen_at=bindparam("now"), is_subscribed=True
    )
    upsert_citizen = up.on_conflict_do_update(
        index_elements=[_citizens.c.openid], set_={"last_seen_at": up.excluded.last_seen_at}
    ).returning(_citizens.c.id)
    insert_inbound = (
        _insert(dialect, _messages)
        .values(
            direction=Direction.IN,
            citizen_id=bindparam("citizen_id"),
            dedup_key=bindparam("dedup_key"),
            wechat_msg_id=bindparam("msg_id"),
            msg_type=bindparam("msg_type"),
            event=bindparam("event"),
            event_key=bindparam("event_key"),
            content=bindparam("content"),
            raw_xml=bindparam("raw_xml"),
            created_at=bindparam("created_at"),
            received_at=bindparam("now"),
        )
        .on_conflict_do_nothing(index_elements=[_messages.c.dedup_key])
        .returning(_messages.c.id)
    )
    insert_outbound = _messages.insert().values(
        direction=Direction.OUT,
        citizen_id=bindparam("citizen_id"),
        msg_type=bindparam("msg_type"),
        content=bindparam("content"),
        created_at=bindparam("now"),
        received_at=bindparam("now"),
        in_reply_to_id=bindparam("in_reply_to_id"),
        case_id=bindparam("case_id"),
        template_key=bindparam("template_key"),
        template_version=bindparam("template_version"),
        responder=bindparam("responder"),
    )
    insert_case = _cases.insert().returning(_cases.c.id)
    set_subscribed = (
        update(_citizens).where(_citizens.c.id == bindparam("citizen_id")).values(is_subscribed=bindparam("value"))
    )
    first_by_dedup = select(_messages.c.id).where(_messages.c.dedup_key == bindparam("dedup_key"))
    reply_to = (
        select(_messages.c.content, _messages.c.template_key, _messages.c.template_version, _messages.c.msg_type)
        .where(_messages.c.in_reply_to_id == bindparam("inbound_id"), _messages.c.direction == Direction.OUT)
        .order_by(_messages.c.id)
        .limit(1)
    )
    return Statements(
        upsert_citizen,
        insert_inbound,
        insert_outbound,
        insert_case,
        set_subscribed,
        first_by_dedup,
        reply_to,
    )


def sql(session: Session) -> Statements:
    """The statements for the session's database."""
    return statements(session.get_bind().dialect.name)
