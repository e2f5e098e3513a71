"""Reports for leaders (PDF, DOCX) and the wall screen: figures, masking, scope, audit, the CLI — on both backends.

The PDFs are read back with PDFium: the Chinese text must extract as written (the font is embedded and
mapped), and a page must render to an image with ink on it.
"""
from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from bot.extensions import services
from cases import report
from cases.loop import Worker
from models import AuditEntry, Campaign, CampaignStatus, CampaignTheme, CaseStatus, Message, utcnow
from replies.variables import DEPARTMENT_NAMES
from tests import test_dashboard
from tests.conftest import ROOT
from tests.test_console import login
from tests.test_dashboard import ENV, ENV_OP, MOBILE, SUP, TZ, add_case

DAY = dt.timedelta(days=1)
dash_accounts = test_dashboard.dash_accounts  # the dashboard's accounts fixture, shared


def _fonts_or_skip() -> None:
    from bot.reports.fonts import FontMissing, cjk_font

    try:
        cjk_font()
    except FontMissing as exc:
        if os.environ.get("MINSHENG_REQUIRE_SERVICES") == "1":
            pytest.fail(str(exc))
        pytest.skip(str(exc))


def _period() -> tuple[dt.date, dt.date]:
    today = utcnow().astimezone(TZ).date()
    return today - dt.timedelta(days=6), today


def _cases(db: Session) -> None:
    # This period: three 积水 complaints on 人民路 (one quoting a mobile number), one overdue and unanswered.
    for i in range(3):
        add_case(db, department="urban_construction", opened_ago=dt.timedelta(days=2, hours=i),
                 summary=f"人民路下雨积水严重{'，电话' + MOBILE if i == 0 else ''}")
    add_case(db, department="urban_construction", opened_ago=dt.timedelta(days=4), due_in=DAY,
             summary="人民路井盖缺失", status=CaseStatus.ASSIGNED)
    add_case(db, department="environment", opened_ago=dt.timedelta(days=1), summary="化工园区夜里有异味",
             status=CaseStatus.CLOSED, answered_after=dt.timedelta(hours=5), closed_after=DAY, rating=5)
    # The period before: one 积水 complaint.
    add_case(db, department="urban_construction", opened_ago=dt.timedelta(days=9), summary="人民路积水")
    db.commit()


def test_a_report_counts_compares_and_masks(db: Session) -> None:
    _cases(db)
    first, last = _period()
    built = report.build(db, Worker("t"), first, last, TZ, now=utcnow(), unit="某区人民政府",
                         department_names=DEPARTMENT_NAMES)
    assert built.title.startswith("某区人民政府") and built.scope == "全部部门"
    assert (built.board.totals.total, built.previous.total) == (5, 1)
    top = built.themes[0]
    assert (top.label, top.count, top.previous) == ("城市建设管理部门 · 积水", 3, 1)
    assert [t.label for t in built.rising][:1] == ["城市建设管理部门 · 积水"]
    assert built.places[0].label == "人民路" and built.places[0].count == 4
    examples = " ".join(e for t in built.themes + built.places for e in t.examples)
    assert MOBILE not in examples and MOBILE[:3] + "****" + MOBILE[-4:] in examples
    # Late now, whenever opened (the previous period's 积水 case is late too), the most overdue first.
    assert built.overdue_cases == 2 and [c.summary for c in built.late] == ["人民路积水", "人民路井盖缺失"]
    # A department's staff get their department's report only.
    env = report.build(db, ENV, first, last, TZ, now=utcnow(), unit="某区", department_names=DEPARTMENT_NAMES)
    assert env.board.totals.total == 1 and env.scope == "生态环境部门" and env.overdue_cases == 0
    with pytest.raises(ValueError):
        report.build(db, ENV, last, first, TZ, now=utcnow(), unit="某区", department_names=DEPARTMENT_NAMES)


def test_a_unit_report_lists_the_campaigns_of_its_period(db: Session) -> None:
    _fonts_or_skip()
    from bot.reports import render

    now = utcnow()
    campaign = Campaign(title="社区治理金点子征集", questions="", join_keyword="金点子测试", starts_at=now - 3 * DAY,
                        ends_at=now + 3 * DAY, intro_key="default", thanks_key="default",
                        status=CampaignStatus.OPEN, created_by="t", opened_at=now - 3 * DAY)
    db.add(campaign)
    db.flush()
    try:
        db.add(CampaignTheme(campaign_id=campaign.id, position=0, label="增设停车位", size=3, share=0.6,
                             adopted=True))
        db.add(CampaignTheme(campaign_id=campaign.id, position=1, label="老年助餐", size=2, share=0.4))
        for _ in range(5):
            case = add_case(db, opened_ago=DAY, summary="建议小区增设停车位")
            db.get(Message, case.opening_message_id).campaign_id = campaign.id  # type: ignore[union-attr]
        db.commit()
        first, last = _period()
        built = report.build(db, Worker("t"), first, last, TZ, now=utcnow(), unit="某区",
                             department_names=DEPARTMENT_NAMES)
        # Other tests' campaigns may be open too: this one is found by its title.
        [line] = [c for c in built.campaigns if c.title == "社区治理金点子征集"]
        assert (line.title, line.opinions, line.adopted, line.not_adopted, line.outcome_sent) == (
            "社区治理金点子征集", 5, 1, 0, False)
        assert line.themes == ("增设停车位（60%）", "老年助餐（40%）")
        text, _ = _pdf_text(render(built, "pdf"))
        assert "五、意见征集" in text and "社区治理金点子征集" in text
        # A department's report has no campaigns: they are the unit's.
        assert report.build(db, ENV, first, last, TZ, now=utcnow(), unit="某区",
                            department_names=DEPARTMENT_NAMES).campaigns == []
    finally:
        db.rollback()
        db.execute(update(Message).where(Message.campaign_id == campaign.id).values(campaign_id=None))
        db.execute(delete(CampaignTheme).where(CampaignTheme.campaign_id == campaign.id))
        db.execute(delete(Campaign).where(Campaign.id == campaign.id))
        db.commit()


def test_report_kinds_and_default_periods() -> None:
    assert report.kind_of(dt.date(2026, 11, 30), dt.date(2026, 12, 6)) == "周报"
    assert report.kind_of(dt.date(2026, 11, 1), dt.date(2026, 11, 30)) == "月报"
    assert report.kind_of(dt.date(2026, 11, 3), dt.date(2026, 11, 9)) == "统计报告"
    assert report.last_week(dt.date(2026, 12, 9)) == (dt.date(2026, 11, 30), dt.date(2026, 12, 6))
    assert report.last_month(dt.date(2026, 1, 15)) == (dt.date(2025, 12, 1), dt.date(2025, 12, 31))


def _pdf_text(data: bytes) -> tuple[str, int]:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(data)
    text = "".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    image = pdf[0].render(scale=0.5).to_pil().convert("L")
    dark = sum(image.histogram()[:128])
    return text, dark


def test_the_pdf_and_docx_say_the_same_in_chinese(db: Session) -> None:
    _fonts_or_skip()
    from docx import Document

    from bot.reports import render

    _cases(db)
    first, last = _period()
    built = report.build(db, Worker("t"), first, last, TZ, now=utcnow(), unit="某区人民政府",
                         department_names=DEPARTMENT_NAMES)
    text, dark = _pdf_text(render(built, "pdf"))
    flat = "".join(text.split())
    assert "一、总体情况" in flat and "城市建设管理部门·积水" in flat and "人民路井盖缺失" in flat
    assert MOBILE not in flat and dark > 500  # glyphs drawn, not empty boxes or a blank page
    doc = Document(io.BytesIO(render(built, "docx")))
    paragraphs = "\n".join(p.text for p in doc.paragraphs)
    cells = "\n".join(c.text for t in doc.tables for row in t.rows for c in row.cells)
    assert built.title in paragraphs and "四、未办结与超期诉求" in paragraphs
    assert "城市建设管理部门 · 积水" in cells and MOBILE not in cells + paragraphs
    assert len(doc.inline_shapes) >= 2  # the charts
    fonts = doc.styles["Normal"].element.rPr.rFonts
    assert fonts.get("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}eastAsia") == "微软雅黑"


@pytest.mark.usefixtures("dash_accounts")
def test_console_reports_are_scoped_audited_and_the_screen_refreshes(clean_app: Flask) -> None:
    _fonts_or_skip()
    with services(clean_app).sessions() as db:
        _cases(db)
    first, last = _period()
    sup = login(clean_app, SUP)
    page = sup.get("/console/reports").get_data(as_text=True)
    assert "上周周报" in page and "上月月报" in page
    got = sup.get(f"/console/reports/file?from={first}&to={last}&format=pdf")
    assert got.status_code == 200 and got.mimetype == "application/pdf"
    assert "attachment" in got.headers["Content-Disposition"]
    text, _ = _pdf_text(got.data)
    assert "全部部门" in text
    env = login(clean_app, ENV_OP).get(f"/console/reports/file?from={first}&to={last}&format=pdf")
    env_text, _ = _pdf_text(env.data)
    assert "生态环境部门" in env_text and "人民路" not in env_text
    assert sup.get(f"/console/reports/file?from={last}&to={first}&format=pdf").status_code == 400
    assert sup.get(f"/console/reports/file?from=yesterday&to={last}").status_code == 400
    assert sup.get(f"/console/reports/file?from={first}&to={last}&format=exe").status_code == 400
    with services(clean_app).sessions() as db:
        audits = db.scalars(select(AuditEntry).where(AuditEntry.action == "report.download")).all()
        assert sorted(a.actor for a in audits) == sorted([SUP, ENV_OP])
    screen = sup.get("/console/screen").get_data(as_text=True)
    assert 'http-equiv="refresh"' in screen and "<script" not in screen and "超期未答复" in screen


def test_the_report_command_writes_a_file_and_refuses_bad_dates(tmp_path: Path) -> None:
    _fonts_or_skip()
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "MPLCONFIGDIR": str(tmp_path / "mpl")}
    subprocess.run([sys.executable, "-m", "bot", "init-db"], env=env, cwd=ROOT, check=True, capture_output=True)
    out = tmp_path / "week.docx"
    done = subprocess.run([sys.executable, "-m", "bot", "report", "--period", "week", "--format", "docx", "-o",
                           str(out)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "周报" in done.stdout and out.stat().st_size > 10_000
    bad = subprocess.run([sys.executable, "-m", "bot", "report", "--from", "2026-13-01", "--to", "2026-12-01",
                          "-o", str(tmp_path / "x.pdf")], env=env, cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr and not (tmp_path / "x.pdf").exists()
