"""Writing a turn: the citizen, the inbound message, the case and the reply, exactly once.

Two implementations of one contract, chosen by the database:

* :class:`SqlStore` (SQLite) inserts the message when it is recorded and the rest when the turn
  is persisted — statements are in-process function calls there.
* :class:`PgStore` (PostgreSQL) writes everything in **one** statement (data-modifying CTEs) when
  the turn is persisted. Each statement on the message path costs more client and server CPU than
  the work it does, so one statement instead of four is what lets a worker keep up with WeChat.
  A case number needs the message id before the reply is rendered, so that id is reserved from
  the table's sequence when (and only when) a case is opened.

Either way ``INSERT … ON CONFLICT DO NOTHING`` on the message's dedup key is the final guard
against storing a delivery twice; a conflict raises :class:`Duplicate` with the first reply.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

from sqlalchemy import Engine, Table, bindparam, func, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from handlers.dedupe import loggable
from handlers.turn import Turn
from handlers.types import OutboundReply
from models import Case, CaseEvent, Citizen, Direction, Message
from replies.variables import CASE_TYPE_NAMES, DEPARTMENT_NAMES
from text.pii import mask_openid

log = logging.getLogger(__name__)

_citizens: Table = Citizen.__table__  # type: ignore[assignment]
_messages: Table = Message.__table__  # type: ignore[assignment]
_cases: Table = Case.__table__  # type: ignore[assignment]
_case_events: Table = CaseEvent.__table__  # type: ignore[assignment]


class StoreError(Exception):
    """The database failed while writing a turn (not a bug in the rules: never answered with a fallback).

    ``transient``: the database was unreachable, too slow or restarting — the message is worth
    keeping and storing later (the edge spools it). Otherwise the row itself was refused.
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class Duplicate(Exception):
    """The message was stored before: carry the reply it got, if any."""

    def __init__(self, reply: OutboundReply | None) -> None:
        super().__init__("duplicate delivery")
        self.reply = reply


class Store(Protocol):
    """What the pipeline needs from the database."""

    def record(self, turn: Turn) -> None:
        """Stage: remember the message (or raise :class:`Duplicate`)."""

    def message_id(self, turn: Turn) -> int:
        """The inbound message's id (reserved if it is not written yet)."""

    def persist(self, turn: Turn) -> OutboundReply | None:
        """Stage: write what the turn decided; returns the reply to send."""

    def release(self, turn: Turn) -> None:
        """Give back anything the turn held (always called, after the last stage)."""


# Reads shared by both stores: the reply an earlier delivery of the same message got.
_first_by_dedup = select(_messages.c.id).where(_messages.c.dedup_key == bindparam("dedup_key"))
_reply_to = (
    select(_messages.c.content, _messages.c.template_key, _messages.c.template_version, _messages.c.msg_type)
    .where(_messages.c.in_reply_to_id == bindparam("inbound_id"), _messages.c.direction == Direction.OUT)
    .order_by(_messages.c.id)
    .limit(1)
)


def stored_reply(session: Session, dedup_key: str) -> OutboundReply | None:
    """The reply recorded for an earlier delivery of the same message (None if it got none)."""
    conn = session.connection()
    first_id = conn.execute(_first_by_dedup, {"dedup_key": dedup_key}).scalar_one()
    row = conn.execute(_reply_to, {"inbound_id": first_id}).first()
    if row is None:
        return None
    return OutboundReply(row.content, row.template_key or "", row.template_version or 0, row.msg_type)


def _duplicate(turn: Turn) -> Duplicate:
    # Redis lost (or never had) the claim and the database caught the repeat.
    log.info(
        "duplicate delivery of %s from %s; repeating the stored reply",
        loggable(turn.msg.dedup_key),
        mask_openid(turn.msg.openid),
    )
    return Duplicate(stored_reply(turn.session, turn.msg.dedup_key))


def _inbound_values(turn: Turn) -> dict[str, Any]:
    msg = turn.msg
    return {
        "dedup_key": msg.dedup_key,
        "msg_id": msg.msg_id,
        "msg_type": msg.kind,
        "event": msg.event,
        "event_key": msg.event_key,
        "content": msg.text,
        "raw_xml": msg.raw_xml,
        "channel": msg.channel,
        "created_at": msg.create_time,
        "now": turn.now,
    }


def _triage_values(turn: Turn) -> dict[str, Any]:
    t = turn.triage
    if t is None:
        return {**dict.fromkeys(_TRIAGE_FIELDS), "campaign_id": turn.campaign_id}
    return {
        "campaign_id": turn.campaign_id,
        "intent": t.intent,
        "department": t.department,
        "confidence_intent": round(t.confidence_intent, 4),
        "confidence_department": round(t.confidence_department, 4),
        "emergency_kind": t.emergency_kind if t.emergency else None,
        "reasons": json.dumps(list(t.reasons), ensure_ascii=False),
    }


_TRIAGE_FIELDS = ("intent", "department", "confidence_intent", "confidence_department", "emergency_kind", "reasons")
# Decided with the triage, written with it: the campaign (征集) an opinion belongs to.
_DECIDED_FIELDS = (*_TRIAGE_FIELDS, "campaign_id")


def _accepted(turn: Turn) -> str:
    """The detail of the first event of a case the bot opened: what it was filed as, and why."""
    case = turn.case or {}
    triage = "，分类不确定，待人工分拣" if case.get("needs_triage") else ""
    if not case:
        return ""
    kind, department = case["case_type"].value, case["department"]
    # In Chinese: the case history is read by staff, not by code (the codes are on the case itself).
    return f"自动受理：{CASE_TYPE_NAMES.get(kind, kind)}，{DEPARTMENT_NAMES.get(department, department)}{triage}"


def _reply_values(turn: Turn) -> dict[str, Any]:
    reply = turn.reply
    return {
        "has_reply": reply is not None,
        "reply_type": reply.kind if reply else None,
        "reply_text": reply.text if reply else None,
        "template_key": reply.template_key if reply else None,
        "template_version": reply.template_version if reply else None,
    }


class SqlStore:
    """SQLite: message first (its id numbers the case), then case and reply."""

    def __init__(self) -> None:
        up = sqlite.insert(_citizens).values(
            openid=bindparam("openid"),
            first_seen_at=bindparam("now"),
            last_seen_at=bindparam("now"),
            is_subscribed=bindparam("is_subscribed"),
        )
        self._upsert_citizen = up.on_conflict_do_update(
            index_elements=[_citizens.c.openid],
            # Never backwards: a backdated filing (an old hotline ticket) must not make a citizen look idle.
            set_={"last_seen_at": func.max(_citizens.c.last_seen_at, up.excluded.last_seen_at)},
        ).returning(_citizens.c.id)
        self._set_subscribed = (
            _citizens.update().where(_citizens.c.id == bindparam("citizen_id")).values(is_subscribed=bindparam("value"))
        )
        self._insert_inbound = (
            sqlite.insert(_messages)
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
                channel=bindparam("channel"),
                created_at=bindparam("created_at"),
                received_at=bindparam("now"),
            )
            .on_conflict_do_nothing(index_elements=[_messages.c.dedup_key])
            .returning(_messages.c.id)
        )
        self._insert_case = _cases.insert().returning(_cases.c.id)
        self._set_triage = (
            _messages.update()
            .where(_messages.c.id == bindparam("inbound_id"))
            .values({name: bindparam(name) for name in _DECIDED_FIELDS})
        )
        self._insert_outbound = _messages.insert().values(
            direction=Direction.OUT,
            citizen_id=bindparam("citizen_id"),
            msg_type=bindparam("reply_type"),
            content=bindparam("reply_text"),
            created_at=bindparam("now"),
            received_at=bindparam("now"),
            in_reply_to_id=bindparam("in_reply_to_id"),
            case_id=bindparam("case_id"),
            template_key=bindparam("template_key"),
            template_version=bindparam("template_version"),
            responder=bindparam("responder"),
            channel=bindparam("channel"),
        )

    def record(self, turn: Turn) -> None:
        """Upsert the citizen and insert the message now; a repeat raises :class:`Duplicate`."""
        conn = turn.session.connection()
        turn.citizen_id = conn.execute(
            self._upsert_citizen, {"openid": turn.msg.openid, "now": turn.now, "is_subscribed": True}
        ).scalar_one()
        inserted = conn.execute(
            self._insert_inbound, {"citizen_id": turn.citizen_id, **_inbound_values(turn)}
        ).scalar_one_or_none()
        if inserted is None:
            raise _duplicate(turn)
        turn.inbound_id = inserted

    def message_id(self, turn: Turn) -> int:
        """Already written by :meth:`record`."""
        assert turn.inbound_id is not None
        return turn.inbound_id

    def persist(self, turn: Turn) -> OutboundReply | None:
        """Follow state, case and reply."""
        conn = turn.session.connection()
        if turn.subscribed is not None:
            conn.execute(self._set_subscribed, {"citizen_id": turn.citizen_id, "value": turn.subscribed})
        if turn.triage is not None or turn.campaign_id is not None:
            conn.execute(self._set_triage, {"inbound_id": turn.inbound_id, **_triage_values(turn)})
        case_id = None
        if turn.case is not None:
            case_id = conn.execute(self._insert_case, turn.case).scalar_one()
            conn.execute(
                _case_events.insert(),
                {
                    "case_id": case_id,
                    "at": turn.now,
                    "actor": "bot",
                    "action": "accept",
                    "from_status": None,
                    "to_status": "accepted",
                    "detail": _accepted(turn),
                },
            )
        if turn.reply is not None:
            conn.execute(
                self._insert_outbound,
                {
                    "citizen_id": turn.citizen_id,
                    "now": turn.now,
                    "in_reply_to_id": turn.inbound_id,
                    "case_id": case_id,
                    "responder": "bot",
                    "channel": turn.msg.channel,
                    **_reply_values(turn),
                },
            )
        return turn.reply

    def release(self, turn: Turn) -> None:
        """Nothing held outside the session."""


# One statement per message on PostgreSQL. Casts are explicit: parameters in INSERT … SELECT
# lists are not typed from the target columns.
_PG_WRITE = """
WITH c AS (
    INSERT INTO citizens (openid, first_seen_at, last_seen_at, is_subscribed)
    VALUES (%(openid)s, %(now)s, %(now)s, COALESCE(%(subscribed)s::boolean, true))
    ON CONFLICT (openid) DO UPDATE
        SET last_seen_at = GREATEST(citizens.last_seen_at, EXCLUDED.last_seen_at),
            is_subscribed = COALESCE(%(subscribed)s::boolean, citizens.is_subscribed)
    RETURNING id
), m AS (
    INSERT INTO messages (id, direction, citizen_id, dedup_key, wechat_msg_id, msg_type, event, event_key,
                          content, raw_xml, channel, created_at, received_at, intent, department,
                          confidence_intent, confidence_department, emergency_kind, reasons, campaign_id)
    SELECT COALESCE(%(inbound_id)s::integer, nextval('messages_id_seq')::integer), 'in', c.id,
           %(dedup_key)s, %(msg_id)s::bigint, %(msg_type)s, %(event)s, %(event_key)s,
           %(content)s, %(raw_xml)s, %(channel)s, %(created_at)s::timestamptz, %(now)s::timestamptz, %(intent)s,
           %(department)s, %(confidence_intent)s::float8, %(confidence_department)s::float8, %(emergency_kind)s,
           %(reasons)s, %(campaign_id)s::integer
    FROM c
    ON CONFLICT (dedup_key) DO NOTHING
    RETURNING id, citizen_id
), k AS (
    INSERT INTO cases (number, case_type, status, department, is_urgent, emergency_kind, needs_triage,
                       citizen_id, opening_message_id, summary, opened_at, due_at, sla_amount, sla_unit,
                       owner_department, channel)
    SELECT %(number)s, %(case_type)s, %(status)s, %(department)s, %(is_urgent)s::boolean, %(emergency_kind)s,
           %(needs_triage)s::boolean, m.citizen_id, m.id, %(summary)s, %(opened_at)s::timestamptz,
           %(due_at)s::timestamptz, %(sla_amount)s::integer, %(sla_unit)s, %(owner_department)s,
           %(channel)s
    FROM m WHERE %(has_case)s::boolean
    RETURNING id
), e AS (
    INSERT INTO case_events (case_id, at, actor, action, from_status, to_status, detail)
    SELECT id, %(now)s::timestamptz, 'bot', 'accept', NULL, 'accepted', %(accept_detail)s FROM k
), o AS (
    INSERT INTO messages (direction, citizen_id, msg_type, content, created_at, received_at, in_reply_to_id,
                          case_id, template_key, template_version, responder, channel)
    SELECT 'out', m.citizen_id, %(reply_type)s, %(reply_text)s, %(now)s::timestamptz, %(now)s::timestamptz, m.id,
           (SELECT id FROM k), %(template_key)s, %(template_version)s::integer, 'bot', %(channel)s
    FROM m WHERE %(has_reply)s::boolean
)
SELECT (SELECT id FROM m) AS inbound_id, (SELECT id FROM c) AS citizen_id
"""

_NO_CASE = dict.fromkeys(
    (
        "number", "case_type", "status", "department", "is_urgent", "emergency_kind", "needs_triage",
        "summary", "opened_at", "due_at", "sla_amount", "sla_unit", "owner_department",
    )
)  # fmt: skip


class PgStore:
    """PostgreSQL: the whole turn in one statement at persist time."""

    def record(self, turn: Turn) -> None:
        """Nothing to do yet: the message is written with everything else."""

    def message_id(self, turn: Turn) -> int:
        """Reserve the message's id from its sequence (a case number is built from it)."""
        if turn.inbound_id is None:
            turn.inbound_id = int(_execute(turn, "SELECT nextval('messages_id_seq')", None)[0])
        return turn.inbound_id

    def persist(self, turn: Turn) -> OutboundReply | None:
        """Citizen, message, case and reply in one statement; a repeat raises :class:`Duplicate`."""
        params: dict[str, Any] = {
            "openid": turn.msg.openid,
            "subscribed": turn.subscribed,
            "inbound_id": turn.inbound_id,
            "has_case": turn.case is not None,
            **_inbound_values(turn),
            **_triage_values(turn),
            **_reply_values(turn),
        }
        params["accept_detail"] = _accepted(turn)
        if turn.case is not None:
            params.update({k: turn.case[k] for k in _NO_CASE})
            params["case_type"] = turn.case["case_type"].value
            params["status"] = turn.case["status"].value
        else:
            params.update(_NO_CASE)
        inbound_id, citizen_id = _execute(turn, _PG_WRITE, params)
        if inbound_id is None:
            raise _duplicate(turn)
        turn.inbound_id, turn.citizen_id = inbound_id, citizen_id
        return turn.reply

    def release(self, turn: Turn) -> None:
        """Return the pooled connection the turn used; a broken one is discarded, not pooled again."""
        raw, turn.raw_connection = turn.raw_connection, None
        if raw is None:
            return
        driver = raw.driver_connection
        if driver is None or driver.closed or driver.broken:
            raw.invalidate()
        else:
            raw.close()


def _execute(turn: Turn, sql: str, params: dict[str, Any] | None) -> Any:
    try:
        return _driver(turn).execute(sql, params).fetchone()
    except StoreError:
        raise
    except Exception as exc:  # noqa: BLE001 (re-raised as StoreError, without the driver's message)
        # psycopg's message can quote the failing row (a citizen's words): name the error only.
        raise StoreError(f"message write failed: {type(exc).__name__}", transient=is_transient(exc)) from None


def _driver(turn: Turn) -> Any:
    # psycopg's own connection, from the pool of the session's (autocommit) engine: the write is
    # one fixed statement, and a Session's transaction bookkeeping and SQLAlchemy's result
    # machinery cost more CPU than PostgreSQL spends running it. The session itself stays free
    # for what is rare (a library reload, an alert, a duplicate's stored reply).
    if turn.raw_connection is None:
        bind = turn.session.get_bind()
        assert isinstance(bind, Engine)
        turn.raw_connection = bind.raw_connection()
        if not turn.raw_connection.driver_connection.autocommit:
            # The write commits by itself: on a transactional connection it would be rolled back
            # when the connection returns to the pool, after the citizen was told it was filed.
            raise StoreError("PgStore needs a session on the autocommit message engine")
    return turn.raw_connection.driver_connection


def is_transient(exc: BaseException) -> bool:
    """True for a database that is down, unreachable, restarting, locked or too slow (worth retrying)."""
    import sqlite3

    import psycopg
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, StoreError):
        return exc.transient
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        exc = exc.orig if exc.orig is not None else exc
    if isinstance(exc, sa_exc.TimeoutError | sa_exc.DisconnectionError):
        return True  # the pool found no usable connection in time
    if isinstance(exc, psycopg.errors.QueryCanceled):  # statement_timeout
        return True
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return True
    return isinstance(exc, sqlite3.OperationalError)  # locked, busy, disk I/O


def store_for(dialect: str) -> SqlStore | PgStore:
    """The store for a database dialect."""
    if dialect == "postgresql":
        return PgStore()
    if dialect == "sqlite":
        return SqlStore()
    raise RuntimeError(f"unsupported database dialect: {dialect}")
