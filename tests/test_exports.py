"""A citizen's text that looks like a formula stays text in every export: the shell's CSV and JSONL, the console's
CSV and XLSX — on both backends."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from flask import Flask

from bot.extensions import services
from tests.conftest import Backend
from tests.test_cli import bot
from tests.test_console import login
from tests.test_dashboard import MOBILE, SUP, add_case, dash_accounts  # noqa: F401 (a fixture)

# What a spreadsheet would run: a formula, arithmetic, a function call, and a tab or return before one.
LEADS = ('=HYPERLINK("http://x.example","点我")', "+1+1", "-2+3", "@SUM(A1)", "\t=1+1", "\r=1+1")
MASKED = "138****5678"


def _written(app: Flask) -> list[str]:
    """A case (and its opening message) per formula-looking text; the texts as exported, masked."""
    with services(app).sessions() as db:
        for lead in LEADS:
            add_case(db, summary=f"{lead} 小区噪音，电话{MOBILE}")
        db.commit()
    return sorted(f"{lead} 小区噪音，电话{MASKED}" for lead in LEADS)


@pytest.mark.usefixtures("dash_accounts")
def test_formula_looking_text_stays_text_in_every_export(backend: Backend, clean_app: Flask, tmp_path: Path) -> None:
    texts = _written(clean_app)
    quoted = sorted("'" + t for t in texts)
    # The shell's CSV (to a file: a captured stdout would turn the "\r" into a newline): every such cell quoted.
    for kind, column in (("messages", "content"), ("cases", "summary")):
        out = tmp_path / f"{kind}.csv"
        done = bot("export", kind, "--format", "csv", "--output", str(out), env=backend.env())
        assert done.returncode == 0, done.stderr
        with out.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert sorted(r[column] for r in rows) == quoted, kind
    # JSONL is read by programs, not spreadsheets: the text as the citizen wrote it (masked).
    done = bot("export", "cases", "--format", "jsonl", env=backend.env())
    assert done.returncode == 0, done.stderr
    assert sorted(json.loads(line)["summary"] for line in done.stdout.splitlines()) == texts
    # The console's CSV: quoted the same way.
    client = login(clean_app, SUP)
    body = client.get("/console/cases/export?format=csv&view=all").get_data().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body, newline="")))
    assert rows[0][6] == "诉求摘要" and sorted(r[6] for r in rows[1:]) == quoted
    # The console's XLSX: the text unquoted, in cells typed as text (never a formula).
    from openpyxl import load_workbook

    data = client.get("/console/cases/export?format=xlsx&view=all").get_data()
    sheet = load_workbook(io.BytesIO(data)).active
    summaries = [row[6] for row in sheet.iter_rows(min_row=2)]
    # An XML reader may keep a carriage return (written as &#13;) or normalise it to \n: either way, the text.
    assert sorted(c.value.replace("\r", "\n") for c in summaries) == sorted(t.replace("\r", "\n") for t in texts)
    assert {c.data_type for c in summaries} == {"s"}
