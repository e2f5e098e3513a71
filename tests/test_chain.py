"""Tamper evidence: every edit or deletion made with raw SQL behind the application's back is found.

Each tampering runs in a transaction of its own connection, is verified there, and rolled back, so
one test injects many edits into the same sealed data and counts how many ``verify`` detects.
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.orm import Session

from bot.extensions import services
from cases.chain import ANONYMISED, CHAINS, SETTLE, chain_key, seal, verify
from models import AuditEntry, ChainHead, utcnow
from replies import workflow
from tests.conftest import WeChat

KEY = chain_key("test-secret-for-the-chain")


def _seal_everything(app: Flask) -> None:
    later = utcnow() + SETTLE * 2
    with services(app).sessions() as session:
        for chain in CHAINS:
            _rounds(session, chain, [later, later + SETTLE])
        session.commit()


def _rounds(session: Session, chain: Any, times: list[dt.datetime]) -> int:
    """Seal rounds at ``times``, each as the maintenance thread runs one (until a call seals nothing)."""
    sealed = 0
    for now in times:
        while batch := seal(session, KEY, chain, now=now):
            sealed += batch
    return sealed


def _verify(session: Session) -> dict[str, Any]:
    return {chain.name: verify(session, KEY, chain) for chain in CHAINS}


@pytest.fixture
def sealed(clean_app: Flask, wechat: WeChat) -> Flask:
    """Citizens' messages and replies, a reviewed template and audit entries, all sealed."""
    for i, text_ in enumerate(["你好", "建议在小区门口增设路灯", "请问办公时间是几点", "路灯坏了", "谢谢你们"]):
        wechat.text(text_, openid=f"oChainCitizen{i:015d}")
    with services(clean_app).sessions() as session:
        author, reviewer = workflow.Actor("ann"), workflow.Actor("bob")
        key = f"chain_{uuid.uuid4().hex[:10]}"
        workflow.create_template(session, author, key, "faq")
        ver = workflow.draft(session, author, key, "办事指南以官方发布为准，可拨打12345咨询。")
        workflow.submit(session, author, ver)
        workflow.approve(session, reviewer, ver)
        session.commit()
    _seal_everything(clean_app)
    return clean_app


def _ids(conn: Any, table: str, where: str = "1=1") -> list[int]:
    return [r[0] for r in conn.execute(text(f"SELECT id FROM {table} WHERE {where} ORDER BY id"))]


TAMPERINGS: dict[str, Callable[[Any], str]] = {}


def tampering(name: str, chain: str) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
    def register(fn: Callable[[Any], None]) -> Callable[[Any], None]:
        TAMPERINGS[name] = lambda conn: (fn(conn), chain)[1]
        return fn
    return register


@tampering("edit a citizen's words", "messages")
def _edit_text(conn: Any) -> None:
    first = _ids(conn, "messages", "direction = 'in' AND content <> ''")[1]
    conn.execute(text("UPDATE messages SET content = content || '（已改）' WHERE id = :i"), {"i": first})


@tampering("edit a reply's text", "messages")
def _edit_reply(conn: Any) -> None:
    out = _ids(conn, "messages", "direction = 'out'")[0]
    conn.execute(text("UPDATE messages SET content = '我们会尽快处理' WHERE id = :i"), {"i": out})


@tampering("edit the raw XML", "messages")
def _edit_raw(conn: Any) -> None:
    first = _ids(conn, "messages", "raw_xml IS NOT NULL")[0]
    conn.execute(text("UPDATE messages SET raw_xml = raw_xml || ' ' WHERE id = :i"), {"i": first})


@tampering("claim another template version sent a reply", "messages")
def _edit_version(conn: Any) -> None:
    out = _ids(conn, "messages", "direction = 'out'")[1]
    conn.execute(text("UPDATE messages SET template_version = template_version + 1 WHERE id = :i"), {"i": out})


@tampering("move a message in time", "messages")
def _edit_time(conn: Any) -> None:
    first = _ids(conn, "messages")[2]
    conn.execute(text("UPDATE messages SET received_at = created_at WHERE id = :i"), {"i": first})
    conn.execute(text("UPDATE messages SET created_at = received_at WHERE id = :i"), {"i": first})


@tampering("delete a reply in the middle", "messages")
def _delete_middle(conn: Any) -> None:
    out = _ids(conn, "messages", "direction = 'out'")[1]
    conn.execute(text("DELETE FROM messages WHERE id = :i"), {"i": out})


@tampering("delete the last reply", "messages")
def _delete_last(conn: Any) -> None:
    last = _ids(conn, "messages")[-1]
    conn.execute(text("UPDATE messages SET in_reply_to_id = NULL WHERE in_reply_to_id = :i"), {"i": last})
    conn.execute(text("DELETE FROM messages WHERE id = :i"), {"i": last})


@tampering("hide text behind the anonymisation marker, raw XML kept", "messages")
def _fake_anonymise(conn: Any) -> None:
    first = _ids(conn, "messages", "raw_xml IS NOT NULL")[0]
    conn.execute(text("UPDATE messages SET content = :a WHERE id = :i"), {"a": ANONYMISED, "i": first})


@tampering("rewrite an approved template's text", "template_versions")
def _edit_body(conn: Any) -> None:
    last = _ids(conn, "template_versions")[-1]
    conn.execute(text("UPDATE template_versions SET body = '你自己看着办' WHERE id = :i"), {"i": last})


@tampering("change who approved", "template_reviews")
def _edit_reviewer(conn: Any) -> None:
    last = _ids(conn, "template_reviews")[-1]
    conn.execute(text("UPDATE template_reviews SET reviewer = 'ann' WHERE id = :i"), {"i": last})


@tampering("soften an audit entry", "audit_log")
def _edit_audit(conn: Any) -> None:
    first = _ids(conn, "audit_log")[0]
    conn.execute(text("UPDATE audit_log SET detail = 'nothing happened' WHERE id = :i"), {"i": first})


@tampering("delete an audit entry", "audit_log")
def _delete_audit(conn: Any) -> None:
    middle = _ids(conn, "audit_log")[1]
    conn.execute(text("DELETE FROM audit_log WHERE id = :i"), {"i": middle})


@tampering("forge an audit entry with a made-up link", "audit_log")
def _forge_audit(conn: Any) -> None:
    conn.execute(text("INSERT INTO audit_log (at, actor, action, target, detail, source, chain_hash) "
                      "VALUES (:at, 'bob', 'template.approve', 'x@1', '', '', :h)"),
                 {"at": utcnow() - dt.timedelta(days=1), "h": "f" * 64})
    conn.execute(text("UPDATE chain_heads SET last_id = (SELECT max(id) FROM audit_log) WHERE name = 'audit_log'"))


@tampering("slip a row in below the head", "audit_log")
def _slip_in(conn: Any) -> None:
    head = conn.execute(text("SELECT last_id FROM chain_heads WHERE name = 'audit_log'")).scalar()
    conn.execute(text("DELETE FROM audit_log WHERE id = :i"), {"i": head})
    conn.execute(text("INSERT INTO audit_log (id, at, actor, action, target, detail, source) "
                      "VALUES (:i, :at, 'mallory', 'login', 'mallory', '', '')"), {"i": head, "at": utcnow()})


def test_an_untouched_chain_verifies(sealed: Flask) -> None:
    with services(sealed).sessions() as session:
        reports = _verify(session)
    for report in reports.values():
        assert report.ok, report
        assert report.checked > 0 and report.unsealed == 0


def test_every_injected_edit_is_detected(sealed: Flask) -> None:
    engine = services(sealed).engine
    detected = []
    for name, tamper in TAMPERINGS.items():
        with engine.connect() as conn:
            trans = conn.begin()
            chain = tamper(conn)
            with Session(bind=conn) as session:
                report = _verify(session)[chain]
            trans.rollback()
        detected.append((name, not report.ok))
        assert not report.ok, f"not detected: {name}"
    rate = sum(ok for _, ok in detected) / len(detected)
    print(f"\ntampering detected: {sum(ok for _, ok in detected)}/{len(detected)} = {rate:.0%}")
    assert rate == 1.0
    # And after all those rollbacks the real data still verifies.
    with services(sealed).sessions() as session:
        assert all(r.ok for r in _verify(session).values())


def test_retention_style_anonymisation_keeps_the_chain_valid(sealed: Flask) -> None:
    with services(sealed).sessions() as session:
        session.execute(text("UPDATE messages SET content = :a, raw_xml = NULL WHERE direction = 'in'"),
                        {"a": ANONYMISED})
        session.flush()
        assert all(r.ok for r in _verify(session).values())
        session.rollback()


def test_a_wrong_key_cannot_produce_a_valid_chain(sealed: Flask) -> None:
    with services(sealed).sessions() as session:
        report = verify(session, chain_key("another secret"), CHAINS[-1])
        assert not report.ok
        assert session.get(ChainHead, "audit_log") is not None
        assert session.query(AuditEntry).count() > 0


def test_retention_anonymises_old_personal_data_and_the_chain_still_verifies(sealed: Flask) -> None:
    from sqlalchemy import select

    from cases.retention import PSEUDONYM_PREFIX, anonymise
    from models import Citizen, Message

    later = utcnow() + dt.timedelta(days=400)
    with services(sealed).sessions() as session:
        intents_before = sorted(i or "" for i in session.scalars(select(Message.intent)))
        dry = anonymise(session, later, 365, dry_run=True)
        assert dry.messages > 0 and dry.citizens == 5
        report = anonymise(session, later, 365)
        session.commit()
        assert report == dry
        # Messages of cases still open (the reply and the message that opened it) wait for their case.
        from models import Case

        of_open_cases = select(Message.id).where(
            (Message.case_id.is_not(None)) | Message.id.in_(select(Case.opening_message_id))
        )
        kept = set(session.scalars(select(Message.content).where(Message.id.in_(of_open_cases))))
        gone = set(session.scalars(select(Message.content).where(Message.id.not_in(of_open_cases))))
        assert gone == {ANONYMISED} and kept and ANONYMISED not in kept
        assert all(o.startswith(PSEUDONYM_PREFIX) for o in session.scalars(select(Citizen.openid)))
        # The statistics survive: the same intents are still there.
        assert sorted(i or "" for i in session.scalars(select(Message.intent))) == intents_before
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "retention.anonymise")).one()
        assert f"messages={report.messages}" in entry.detail
        assert all(r.ok for r in _verify(session).values())
        assert anonymise(session, later, 365).messages == 0  # idempotent


# -- interleavings: ids and times in any order, commits in any order, never a false alarm ---------------------------

AUDIT = next(c for c in CHAINS if c.name == "audit_log")


def _audit_row(conn: Any, at: dt.datetime, actor: str) -> int:
    return int(conn.execute(
        text("INSERT INTO audit_log (at, actor, action, target, detail, source) "
             "VALUES (:at, :actor, 'login', :actor, '', '') RETURNING id"), {"at": at, "actor": actor}).scalar())


def test_rows_whose_times_run_against_their_ids_are_each_sealed_once(sealed: Flask) -> None:
    """The interleaving that made verify-log cry tamper: a lower id written later than a higher one."""
    t0 = utcnow() + SETTLE * 4
    with services(sealed).sessions() as session:
        conn = session.connection()
        # Under concurrency ids and times interleave: a lower id carries a later time, and so on.
        offsets = [20, 0, 25, 5, 40, 1]
        ids = [_audit_row(conn, t0 + dt.timedelta(seconds=o), f"u{i}") for i, o in enumerate(offsets)]
        session.commit()
        # Rounds every 10 s, as the maintenance thread runs them; the old sealer's cutoff fell between the
        # rows' times at t0 + SETTLE + 10 and skipped the lower ids for ever.
        times = [t0 + SETTLE + dt.timedelta(seconds=10 * k) for k in range(8)]
        sealed_rows = _rounds(session, AUDIT, times)
        session.commit()
        report = verify(session, KEY, AUDIT)
        assert report.ok, report
        assert report.unsealed == 0 and sealed_rows == len(ids)
        head = session.get(ChainHead, "audit_log")
        assert head is not None and head.last_id == max(ids)


def test_a_row_that_commits_after_a_higher_id_is_sealed_in_its_place(sealed: Flask) -> None:
    """Two writers: the lower id commits after the higher one was visible (and settled) — no gap, no alarm."""
    engine = services(sealed).engine
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: ids are handed out in commit order")
    now = utcnow() + SETTLE * 10  # after the rounds of the fixture
    with engine.connect() as slow, engine.connect() as fast:
        slow_tx = slow.begin()
        low = _audit_row(slow, utcnow() - SETTLE * 3, "slow")  # an id handed out, not yet committed
        with fast.begin():
            high = _audit_row(fast, utcnow() - SETTLE * 3, "fast")  # old enough for any time-based cutoff
        assert low < high
        with services(sealed).sessions() as session:
            # A round while `low` is still open: the old sealer linked `high` here and `low` was lost.
            first = _rounds(session, AUDIT, [now])
            session.commit()
        slow_tx.commit()  # within SETTLE, as every transaction of the application does
    with services(sealed).sessions() as session:
        later = _rounds(session, AUDIT, [now + SETTLE, now + SETTLE * 2])
        session.commit()
        report = verify(session, KEY, AUDIT)
    assert report.ok, report
    assert report.unsealed == 0 and first + later >= 2


def test_a_rewound_head_is_detected(sealed: Flask) -> None:
    with services(sealed).sessions() as session:
        head = session.get(ChainHead, "audit_log")
        assert head is not None
        head.last_id -= 1
        session.flush()
        assert not verify(session, KEY, AUDIT).ok
        session.rollback()


def test_postgres_ends_transactions_left_idle_well_within_the_settle_time(clean_app: Flask) -> None:
    """The sealer's horizon assumes an id is committed or rolled back within SETTLE: the server enforces it."""
    engine = services(clean_app).engine
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: ids are handed out in commit order")
    with engine.connect() as conn:
        value = conn.execute(text("SHOW idle_in_transaction_session_timeout")).scalar()
    assert value == "15s" and dt.timedelta(seconds=15) < SETTLE


def test_a_chain_with_nothing_to_seal_verifies(clean_app: Flask) -> None:
    """A table still empty (no review yet) gets a head at the genesis and verifies; deleting every row does not."""
    with services(clean_app).sessions() as session:
        # As in a fresh database: no review written yet, no head (rolled back at the end).
        session.execute(text("DELETE FROM chain_heads"))
        session.execute(text("DELETE FROM template_reviews"))
        now = utcnow() + SETTLE * 2
        empty = CHAINS[2]
        assert _rounds(session, empty, [now, now + SETTLE]) == 0
        assert session.get(ChainHead, empty.name) is not None
        assert verify(session, KEY, empty).ok
        session.rollback()
