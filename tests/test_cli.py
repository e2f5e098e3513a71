"""``python -m bot`` in subprocesses: init-db, configuration errors, exports, simulate without a server."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text

from models import Case, Direction, Message
from tests.conftest import ROOT, Backend, WeChat, _postgres_database, count

PYTHON = str(ROOT / ".venv" / "bin" / "python")
if not Path(PYTHON).exists():
    PYTHON = sys.executable

CASE_NUMBER = re.compile(r"受理编号[：:]\s*(\d+)")


def bot(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``python -m bot ARGS`` and wait for it."""
    return subprocess.run([PYTHON, "-m", "bot", *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- init-db --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def empty_database(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The environment of ``backend`` pointed at a database nobody has initialised yet."""
    tmp = tmp_path_factory.mktemp(f"cli-{backend.name}")
    if backend.name == "sqlite":
        yield backend.env(DATABASE_URL=f"sqlite:///{tmp / 'fresh.db'}", EMBEDDED_REDIS_DB=str(tmp / "redis.db"))
        return
    url, drop = _postgres_database(f"minsheng_cli_{uuid.uuid4().hex[:10]}")
    try:
        yield backend.env(DATABASE_URL=url)
    finally:
        drop()


def _template_rows(url: str) -> tuple[int, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            templates = conn.execute(text("SELECT count(*) FROM reply_templates")).scalar_one()
            versions = conn.execute(text("SELECT count(*) FROM template_versions")).scalar_one()
        return int(templates), int(versions)
    finally:
        engine.dispose()


def test_init_db_twice_is_idempotent(empty_database: dict[str, str]):
    added = re.compile(r"database at revision (\S+); (\d+) seed template\(s\) added")

    first = bot("init-db", env=empty_database)
    assert first.returncode == 0, first.stderr
    match = added.search(first.stdout)
    assert match, first.stdout
    revision, seeded = match.group(1), int(match.group(2))
    assert seeded > 0, "a fresh database got no seed reply library"
    rows = _template_rows(empty_database["DATABASE_URL"])
    assert rows[0] == seeded

    second = bot("init-db", env=empty_database)
    assert second.returncode == 0, second.stderr
    match = added.search(second.stdout)
    assert match, second.stdout
    assert match.group(1) == revision
    assert int(match.group(2)) == 0
    assert _template_rows(empty_database["DATABASE_URL"]) == rows


# -- configuration errors -------------------------------------------------------------------------

BAD_CONFIG = {
    "aes-key-42-chars": ("WECHAT_ENCODING_AES_KEY", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1a"),
    "database-not-a-url": ("DATABASE_URL", "not a url"),
    "redis-http-url": ("REDIS_URL", "http://x"),
    "api-base-ftp": ("WECHAT_API_BASE", "ftp:/nope"),
    "timestamp-window-abc": ("WECHAT_TIMESTAMP_WINDOW", "abc"),
}
COMMANDS = ("init-db", "serve")


@pytest.fixture(scope="module")
def config_error_runs(backend: Backend) -> dict[tuple[str, str], tuple[int | None, str, str, float, int | None]]:
    """Every bad setting × command, run at once: (exit status, stdout, stderr, seconds, serve's port)."""
    procs = {}
    for name, (var, value) in BAD_CONFIG.items():
        for command in COMMANDS:
            args = [PYTHON, "-m", "bot", command]
            port = None
            if command == "serve":
                port = _free_port()
                args += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
            proc = subprocess.Popen(args, env=backend.env(**{var: value}), cwd=ROOT, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, start_new_session=True)
            procs[(name, command)] = (proc, time.monotonic(), port)
    results = {}
    for key, (proc, started, port) in procs.items():
        try:
            out, err = proc.communicate(timeout=30)
            status: int | None = proc.returncode
        except subprocess.TimeoutExpired:  # serve started anyway: stop it and report
            os.killpg(proc.pid, signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
            status = None
        results[key] = (status, out, err, time.monotonic() - started, port)
    return results


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("bad", list(BAD_CONFIG))
def test_configuration_error_is_one_line_and_status_2(config_error_runs, bad: str, command: str):
    status, out, err, _, port = config_error_runs[(bad, command)]
    var = BAD_CONFIG[bad][0]
    assert status is not None, f"{command} kept running with {var}={BAD_CONFIG[bad][1]!r}:\n{err[-2000:]}"
    assert "Traceback" not in err and "Traceback" not in out, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert var in lines[0] and "configuration error" in lines[0]
    assert status == 2
    if command == "serve":
        # Failed before gunicorn started: nothing bound, no worker booted.
        assert "gunicorn" not in (out + err).lower() and "Listening at" not in out + err
        with socket.socket() as sock:
            sock.settimeout(1)
            assert sock.connect_ex(("127.0.0.1", port)) != 0, "something listens on serve's port"


# -- exports --------------------------------------------------------------------------------------

MOBILE, MOBILE_MASKED = "13812345678", "138****5678"
ID_NUMBER, ID_MASKED = "11010519491231002X", "1101**********002X"
CITIZEN_A = "oCliExportCitizenAAAA000001"
CITIZEN_B = "oCliExportCitizenBBBB000002"


@pytest.fixture
def traffic(wechat: WeChat) -> dict[str, Any]:
    """Two citizens' messages through the app (one with a mobile number, one with an ID number)."""
    base = int(time.time()) * 1000
    sent = {
        "mobile": wechat.text(f"建议：楼下饭店油烟太大，建议加装油烟净化设备，我的电话{MOBILE}", openid=CITIZEN_A,
                              msg_id=base + 1),
        "id": wechat.text(f"建议小区增设路灯，我的身份证号{ID_NUMBER}", openid=CITIZEN_B,
                          msg_id=base + 2, encrypt=True),
        "inquiry": wechat.text("社保断缴了怎么补缴", openid=CITIZEN_A, msg_id=base + 3),
    }
    for name, s in sent.items():
        assert s.status == 200 and s.reply, (name, s.body)
    numbers = [m.group(1) for s in sent.values() if (m := CASE_NUMBER.search(s.reply or ""))]
    assert len(numbers) >= 2, "the two suggestions should each have opened a case"
    return {"msg_ids": {base + 1, base + 2, base + 3}, "numbers": numbers}


def _assert_no_personal_data(output: str) -> None:
    assert MOBILE not in output, "a mobile number left the database unmasked"
    assert ID_NUMBER not in output and ID_NUMBER[6:14] not in output, "an ID number left the database unmasked"
    for openid in (CITIZEN_A, CITIZEN_B):
        assert openid not in output, "an OpenID left the database unmasked"


def _check_message_records(records: list[dict[str, Any]], db, traffic: dict[str, Any]) -> None:
    assert len(records) == count(db, Message)
    inbound = [r for r in records if r["direction"] == "in"]
    outbound = [r for r in records if r["direction"] == "out"]
    assert len(inbound) + len(outbound) == len(records), {r["direction"] for r in records}
    assert len(inbound) == count(db, Message, Message.direction == Direction.IN) == 3
    assert len(outbound) == count(db, Message, Message.direction == Direction.OUT) == 3
    assert {int(r["msg_id"]) for r in inbound} == traffic["msg_ids"]

    for r in records:
        for field in ("msg_id", "openid", "msg_type", "content", "created_at"):
            assert field in r, field
        assert r["msg_type"] == "text"
        assert r["openid"] and r["openid"] not in (CITIZEN_A, CITIZEN_B)
        assert r["openid"][:4] == "oCli" and "*" in r["openid"]
        dt.datetime.fromisoformat(str(r["created_at"]))
    inbound_ids = {str(r["id"]) for r in inbound}
    for r in outbound:
        assert str(r["template_id"] or "").strip(), r
        assert int(r["template_version"]) >= 1, r
        assert str(r["in_reply_to"]) in inbound_ids
        assert r["content"]
    by_content = {r["content"] for r in inbound}
    assert any(MOBILE_MASKED in c for c in by_content), by_content
    assert any(ID_MASKED in c for c in by_content), by_content
    # Outbound replies carry the case numbers the citizens were given.
    assert all(any(n in r["content"] for r in outbound) for n in traffic["numbers"])


def test_export_messages_jsonl_one_masked_record_per_message(backend: Backend, traffic, db):
    done = bot("export", "messages", "--format", "jsonl", env=backend.env())
    assert done.returncode == 0, done.stderr
    _assert_no_personal_data(done.stdout)
    records = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    _check_message_records(records, db, traffic)
    assert "exported 6 messages" in done.stderr
    # Every export is audited: who (the shell user), what, how many rows.
    from models import AuditEntry

    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "export").order_by(AuditEntry.id.desc())).first()
    assert entry is not None and entry.target == "messages" and entry.detail.startswith("6行，JSONL，已脱敏")
    assert entry.actor.startswith("shell:") and entry.source == "cli"


def test_export_messages_csv_has_header_and_masks_personal_data(backend: Backend, traffic, db, tmp_path: Path):
    out = tmp_path / "messages.csv"
    done = bot("export", "messages", "--format", "csv", "--output", str(out), env=backend.env())
    assert done.returncode == 0, done.stderr
    content = out.read_text(encoding="utf-8")
    _assert_no_personal_data(content)
    reader = csv.DictReader(io.StringIO(content, newline=""))
    assert reader.fieldnames and {"direction", "msg_id", "openid", "msg_type", "content", "created_at",
                                  "template_id", "template_version"} <= set(reader.fieldnames)
    rows = list(reader)
    # Empty cells are empty strings in CSV; the checks above read them as such.
    for row in rows:
        if row["direction"] == "in":
            assert row["template_id"] == "" and row["template_version"] == ""
    _check_message_records([dict(r) for r in rows], db, traffic)


def test_export_cases_csv_one_row_per_case_with_its_number(backend: Backend, traffic, db):
    done = bot("export", "cases", "--format", "csv", env=backend.env())
    assert done.returncode == 0, done.stderr
    _assert_no_personal_data(done.stdout)
    rows = list(csv.DictReader(io.StringIO(done.stdout, newline="")))
    db.expire_all()
    stored = db.execute(select(Case.number).order_by(Case.id)).scalars().all()
    assert [r["number"] for r in rows] == stored
    assert sorted(stored) == sorted(traffic["numbers"])
    for row in rows:
        assert row["openid"] and row["openid"] not in (CITIZEN_A, CITIZEN_B)
        assert row["status"] and row["department"] and row["opened_at"] and row["due_at"]


@pytest.mark.parametrize("written", [
    "+8613812345678",      # with the country code, as contact cards and many phones show it
    "138 1234 5678",       # grouped 3-4-4, the usual way to write a Chinese mobile number
    "138-1234-5678",
    "１３８１２３４５６７８",  # full-width digits, as a Chinese IME in full-width mode types them
], ids=["country-code", "spaces", "dashes", "full-width"])
def test_export_masks_mobile_numbers_as_citizens_write_them(backend: Backend, wechat: WeChat, written: str):
    sent = wechat.text(f"投诉：楼下饭店油烟太大，请打我手机{written}联系", openid=CITIZEN_A)
    assert sent.status == 200 and sent.reply
    done = bot("export", "messages", "--format", "jsonl", env=backend.env())
    assert done.returncode == 0, done.stderr
    inbound = [r for r in map(json.loads, done.stdout.splitlines()) if r["direction"] == "in"]
    assert len(inbound) == 1
    assert written not in inbound[0]["content"], f"exported in clear: {inbound[0]['content']}"


def test_export_of_an_empty_database_is_just_a_header(backend: Backend, clean_app):
    done = bot("export", "messages", "--format", "csv", env=backend.env())
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(io.StringIO(done.stdout, newline="")))
    assert len(rows) == 1 and "direction" in rows[0]
    assert "exported 0 messages" in done.stderr


# -- simulate -------------------------------------------------------------------------------------

def test_simulate_without_a_server_says_so_in_one_line(backend: Backend):
    """`make run` in one terminal, simulate in another — started too early, or on the wrong port."""
    url = f"http://127.0.0.1:{_free_port()}/wechat"
    done = bot("simulate", "小区路灯坏了没人修", "--url", url, env=backend.env(), timeout=60)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr[-1500:]
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "127.0.0.1" in done.stderr


def test_simulate_without_text_or_event_is_a_usage_error(backend: Backend):
    done = bot("simulate", env=backend.env(), timeout=60)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "give the message text" in done.stderr


def test_serve_refuses_an_uninitialised_database_in_one_line(backend: Backend, tmp_path: Path):
    if backend.name == "sqlite":
        env, drop = backend.env(DATABASE_URL=f"sqlite:///{tmp_path / 'never.db'}"), None
    else:
        url, drop = _postgres_database(f"minsheng_cli_{uuid.uuid4().hex[:10]}")
        env = backend.env(DATABASE_URL=url)
    try:
        done = bot("serve", "--port", str(_free_port()), env=env, timeout=60)
    finally:
        if drop:
            drop()
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "init-db" in lines[0] and "Traceback" not in done.stderr
