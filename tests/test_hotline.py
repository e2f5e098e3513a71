"""12345 hotline import: CSV (UTF-8 with a BOM, GB18030) and XLSX tickets become cases of channel "hotline".

The same ticket imported twice is one case; bad rows are reported with their reasons while the good ones are
filed; a refused file imports nothing. Through ``import_file`` (what the console and the command line share),
the command line (click's runner on the test app) and the console page (upload, CSRF, who may).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from click.testing import CliRunner
from flask import Flask
from flask.cli import ScriptInfo
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.cli.core import cli
from bot.console.auth import create_user
from bot.console.pages_hotline import UPLOAD_LIMIT
from bot.exporting import export_rows
from bot.extensions import services
from bot.hotline import import_file
from cases import hotline
from cases.sla import deadline_for
from models import AuditEntry, Case, CaseType, Citizen, Direction, Message, User
from tests.conftest import count
from tests.test_console import PASSWORD, login, token

TZ = ZoneInfo("Asia/Shanghai")
# Calls some days ago, at local office hours: every deadline is computed from these, never from the import.
_TODAY = dt.datetime.now(TZ).replace(second=0, microsecond=0)
CALLED = _TODAY.replace(hour=9, minute=30) - dt.timedelta(days=6)
CN = ("工单编号", "来电时间", "来电号码", "诉求内容", "诉求类型", "承办部门")
OPERATOR, REVIEWER = "hotline_op", "hotline_rev"


def at(minutes: int = 0, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A call time ``minutes`` after CALLED, as the export writes it."""
    return (CALLED + dt.timedelta(minutes=minutes)).strftime(fmt)


def csv_bytes(rows: Sequence[Sequence[Any]], header: Sequence[str] = CN, encoding: str = "utf-8-sig") -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows([header, *rows])
    return out.getvalue().encode(encoding)


def xlsx_bytes(rows: Sequence[Sequence[Any]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def cases_by_ticket(db: Session) -> dict[str, Case]:
    db.expire_all()
    found = {}
    for case in db.scalars(select(Case).where(Case.channel == "hotline")):
        ticket = case.summary.rsplit("工单编号：", 1)[1]
        found[ticket] = case
    return found


GOOD = [
    ("HL-001", at(0), "138-1234-5678", "小区垃圾清运不及时，已经一周没人清理了", "投诉", "生态环境部门"),
    ("HL-002", at(5), "+86 138 1234 5678", "请问社保卡丢了在哪里补办", "咨询", ""),
    ("HL-003", at(10), "010-62345678", "有人在路口非法营运拉客", "举报", "transport"),
]


# -- importing ----------------------------------------------------------------------------------------------------


def test_a_utf8_csv_becomes_hotline_cases_with_deadlines_from_the_call(clean_app: Flask, db: Session) -> None:
    report = import_file(clean_app, csv_bytes(GOOD), "tickets.csv")
    assert (len(report.imported), len(report.already), len(report.rejected)) == (3, 0, 0)
    cases = cases_by_ticket(db)
    assert set(cases) == {"HL-001", "HL-002", "HL-003"}
    complaint, inquiry, report_case = cases["HL-001"], cases["HL-002"], cases["HL-003"]
    assert (complaint.case_type, inquiry.case_type, report_case.case_type) == (
        CaseType.COMPLAINT, CaseType.INQUIRY, CaseType.REPORT)  # fmt: skip
    assert (complaint.department, report_case.department) == ("environment", "transport")
    assert not complaint.needs_triage and not complaint.is_urgent
    for ticket, case in cases.items():
        called = CALLED + dt.timedelta(minutes=5 * int(ticket[-1]) - 5)
        assert case.opened_at == called and case.channel == "hotline"
        assert case.due_at == deadline_for(case.case_type, called, TZ).due_at
    assert complaint.summary.startswith("诉求内容：小区垃圾清运不及时")
    assert "来电号码：13812345678" in complaint.summary and f"来电时间：{at(0)}" in complaint.summary
    # One caller (the same mobile written two ways) is one citizen, keyed by a hash, never by the number.
    assert complaint.citizen_id == inquiry.citizen_id != report_case.citizen_id
    openid = db.scalar(select(Citizen.openid).where(Citizen.id == complaint.citizen_id))
    assert openid is not None and openid.startswith("hotline:") and "1381234" not in openid
    message = db.scalar(select(Message).where(Message.dedup_key == "hotline:HL-001"))
    assert message is not None and message.channel == "hotline" and message.msg_type == "form"
    assert message.content == GOOD[0][3] and message.created_at == CALLED
    # The caller was answered on the phone: nothing is recorded as sent.
    assert count(db, Message, Message.direction == Direction.OUT) == 0
    rows, _ = export_rows(clean_app, "cases")
    exported = list(rows)
    assert [r["channel"] for r in exported] == ["hotline"] * 3 and "13812345678" not in str(exported)


def test_a_gb18030_csv_with_other_headers_and_formats(clean_app: Flask, db: Session) -> None:
    header = ("受理时间", "联系电话", "内容", "类别", "工单编号")
    rows = [
        (at(0, "%Y/%-m/%-d %-H:%M:%S"), "13912345678", "建议在幸福公园增加健身器材", "建议", "G-1"),
        (at(1, "%Y年%-m月%-d日 %-H时%M分"), "0755-88889999", "感谢街道工作人员帮忙修好了路灯", "表扬类", "G-2"),
    ]
    data = csv_bytes(rows, header, encoding="gb18030")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # really GB18030, not UTF-8 by chance
    report = import_file(clean_app, data, "导出.csv")
    assert (len(report.imported), len(report.rejected)) == (2, 0)
    cases = cases_by_ticket(db)
    assert cases["G-1"].case_type is CaseType.SUGGESTION and cases["G-2"].case_type is CaseType.PRAISE
    assert cases["G-1"].opened_at == CALLED and "来电号码：075588889999" in cases["G-2"].summary


def test_an_xlsx_with_a_title_row_english_headers_and_excel_cells(clean_app: Flask, db: Session) -> None:
    naive = CALLED.replace(tzinfo=None)  # Excel keeps local wall time
    rows = [
        ("12345热线工单导出", None, None, None, None),
        ("ticket_id", "time", "phone", "text", "category"),
        (20261201001, naive, 13812345670, "家门口的井盖丢了很危险", "Help"),
        (20261201002, naive + dt.timedelta(minutes=3), "13812345671", "咨询公积金提取需要什么材料", "inquiry"),
        (None, None, None, None, None),
        (20261201003, "not a time", "13812345672", "噪音扰民", "complaint"),
    ]
    report = import_file(clean_app, xlsx_bytes(rows), "tickets.xlsx")
    assert [d.row for d in report.imported] == [3, 4]
    assert [(r.row, r.reason) for r in report.rejected] == [
        (6, "来电时间无法识别（应为如 2026-12-01 09:30 的日期和时间）")]  # fmt: skip
    cases = cases_by_ticket(db)
    assert cases["20261201001"].case_type is CaseType.HELP and cases["20261201001"].opened_at == CALLED
    assert cases["20261201002"].case_type is CaseType.INQUIRY


def test_importing_the_same_file_twice_gives_one_case_per_ticket(clean_app: Flask, db: Session) -> None:
    data = csv_bytes(GOOD)
    dry = import_file(clean_app, data, "tickets.csv", dry_run=True)
    assert dry.dry_run and len(dry.imported) == 3 and count(db, Case) == 0
    first = import_file(clean_app, data, "tickets.csv")
    again = import_file(clean_app, data, "tickets.csv")
    assert (len(again.imported), len(again.already), len(again.rejected)) == (0, 3, 0) and again.succeeded
    assert [d.case_number for d in again.already] == [d.case_number for d in first.imported]
    assert count(db, Case) == 3 and count(db, Message) == 3
    assert len(import_file(clean_app, data, "tickets.csv", dry_run=True).already) == 3


BAD = [
    ("B-01", at(0), "13912345678", "路面塌陷了一个大坑", "投诉", ""),  # row 2: good
    ("B-02", at(1), "13912345678", "", "投诉", ""),
    ("B-03", "昨天下午", "13912345678", "楼道灯坏了", "投诉", ""),
    ("B-04", (_TODAY + dt.timedelta(days=2)).strftime("%Y-%m-%d %H:%M"), "13912345678", "停水了", "求助", ""),
    ("B-05", at(2), "12345", "停电了", "求助", ""),
    ("B-06", at(3), "13912345678", "门口有积水", "其他", ""),
    ("", at(4), "13912345678", "垃圾没人收", "投诉", ""),
    ("B-01", at(5), "13912345678", "路面塌陷了一个大坑", "投诉", ""),
    ("B-09", at(6), "13912345678", "小区电梯老是坏", "投诉", "宇宙管理局"),
    ("", "", "", "", "", ""),  # row 11: blank, skipped
    ("B-12", at(7), "13812340000", "建议公交站加装遮阳棚", "建议", "交通运输"),  # row 12: good
]


def test_bad_rows_are_rejected_with_reasons_and_good_rows_still_imported(clean_app: Flask, db: Session) -> None:
    report = import_file(clean_app, csv_bytes(BAD), "tickets.csv")
    assert [d.row for d in report.imported] == [2, 12] and report.succeeded
    reasons = {r.row: r.reason for r in report.rejected}
    assert reasons == {
        3: "缺少诉求内容",
        4: "来电时间无法识别（应为如 2026-12-01 09:30 的日期和时间）",
        5: "来电时间晚于当前时间",
        6: "来电号码格式不正确",
        7: "未知的诉求类型“其他”（应为咨询、求助、投诉、举报、建议或表扬）",
        8: "缺少工单编号",
        9: "工单编号与第2行重复",
        10: "未知的承办部门“宇宙管理局”",
    }
    assert {r.phone for r in report.rejected} == {"139****5678", "*****"}
    cases = cases_by_ticket(db)
    assert set(cases) == {"B-01", "B-12"} and cases["B-12"].department == "transport"


# -- files refused as a whole -------------------------------------------------------------------------------------

_HEADER_ONLY = csv_bytes([])
_NO_PHONE = csv_bytes([("X-1", at(0), "路灯不亮", "投诉")], header=("工单编号", "来电时间", "诉求内容", "诉求类型"))


@pytest.mark.parametrize(
    ("data", "name", "says"),
    [
        (b"", "t.csv", "文件是空的"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "t.pdf", "只能导入 CSV 或 XLSX 文件"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64), "t.xls", "只能导入 CSV 或 XLSX 文件"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64), "t.csv", "旧版 Excel"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "t.csv", "不是文本表格"),
        (b"PK\x03\x04 not really a workbook", "t.xlsx", "不是有效的 XLSX 文件"),
        (b"a,b\n1,2\n", "t.xlsx", "内容不是 XLSX 表格"),
        (b"x" * (hotline.MAX_FILE_BYTES + 1), "t.csv", "文件超过4 MB 上限"),
        (b"name,age\nwang,3\n", "t.csv", "找不到表头"),
        (_NO_PHONE, "t.csv", "缺少必需的列：来电号码（表头在第1行）"),
        (_HEADER_ONLY, "t.csv", "文件中没有工单"),
        (csv_bytes([("X-1", at(0), "13812345678", "很" * 200_000, "投诉", "")]), "t.csv", "有单元格内容过长"),
        (b'\xef\xbb\xbf\xe5\xb7\xa5\x00', "t.csv", "不是文本表格"),
    ],
)
def test_a_file_that_cannot_be_read_as_a_whole_is_refused(data: bytes, name: str, says: str) -> None:
    with pytest.raises(hotline.HotlineFileError) as refused:
        hotline.read_tickets(data, name, timezone="Asia/Shanghai", now=dt.datetime.now(dt.UTC))
    assert says in str(refused.value)


def test_too_many_rows_import_nothing_even_when_each_is_good(clean_app: Flask, db: Session) -> None:
    rows = [(f"M-{i}", at(i % 60), "13812345678", "路灯不亮", "投诉", "") for i in range(hotline.MAX_ROWS + 1)]
    with pytest.raises(hotline.HotlineFileError, match="超过1000行上限"):
        import_file(clean_app, csv_bytes(rows), "big.csv")
    assert count(db, Case) == 0 and count(db, Message) == 0


# -- the parts ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "digits"),
    [("13812345678", "13812345678"), ("+86 138 1234 5678", "13812345678"), ("0086-138-1234-5678", "13812345678"),
     ("（010）6234-5678", "01062345678"), ("0755-88889999-123", "075588889999"), ("13812345678转2", "13812345678"),
     ("62345678", "62345678"), ("1381234567", None), ("12345", None), ("未知", None)],
)  # fmt: skip
def test_phone_numbers_are_normalised_or_refused(raw: str, digits: str | None) -> None:
    assert hotline.normalise_phone(raw) == digits


@pytest.mark.parametrize(
    "raw",
    ["2026-12-01 09:30", "2026/12/1 9:30:00", "2026.12.01 09:30:00.5", "2026年12月1日 9时30分", "2026-12-01T09:30",
     "2026-12-01T01:30:00+00:00", dt.datetime(2026, 12, 1, 9, 30), 46357.395833333336],
)  # fmt: skip
def test_common_time_formats_are_local_call_times(raw: object) -> None:
    assert hotline.parse_time(raw, TZ) == dt.datetime(2026, 12, 1, 9, 30, tzinfo=TZ)


def test_callers_are_keyed_hashes_and_summaries_keep_the_number() -> None:
    key = hotline.caller_key("a" * 40)
    mine = hotline.caller_openid("13812345678", key)
    assert mine == hotline.caller_openid("13812345678", key) != hotline.caller_openid("13812345679", key)
    assert mine != hotline.caller_openid("13812345678", hotline.caller_key("b" * 40)) and len(mine) == 32
    long = hotline.Ticket(2, "L-1", CALLED, "13812345678", "很" * 4000, "complaint", None)
    text = hotline.summary(long, TZ)
    assert len(text) <= hotline.SUMMARY_CHARS and text.endswith("来电号码：13812345678\n工单编号：L-1")
    assert [hotline.category(c) for c in ("投诉类", " Complaint ", "request for help", "紧急")] == [
        "complaint", "complaint", "help", None]  # fmt: skip
    assert [hotline.department_code(d) for d in ("生态环境部门", "生态环境", "health", "")] == [
        "environment", "environment", "health", None]  # fmt: skip


# -- the command line ---------------------------------------------------------------------------------------------


def run(app: Flask, *args: str) -> Any:
    return CliRunner().invoke(cli, ["hotline", "import", *args], obj=ScriptInfo(create_app=lambda: app))


def test_the_command_line_prints_counts_and_masked_rejected_rows(clean_app: Flask, db: Session,
                                                                 tmp_path: Path) -> None:  # fmt: skip
    who = f"hotline-cli-{uuid.uuid4().hex[:8]}"
    path = tmp_path / "tickets.csv"
    path.write_bytes(csv_bytes(BAD[:3]))
    out = tmp_path / "bad-rows.csv"  # (no English code word: the audit page shows file names)
    dry = run(clean_app, str(path), "--dry-run", "--as", who)
    assert dry.exit_code == 0 and "would import 1, already imported 0, rejected 2" in dry.output
    assert count(db, Case) == 0
    result = run(clean_app, str(path), "--rejected-out", str(out), "--as", who)
    assert result.exit_code == 0, result.output
    assert "tickets.csv: 3 rows; imported 1, already imported 0, rejected 2" in result.output
    assert "row 3\tB-02\t139****5678\t缺少诉求内容" in result.output and "13912345678" not in result.output
    written = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert written[0] == ["行号", "工单编号", "来电号码", "原因"] and written[2][0] == "4"
    good = tmp_path / "good.csv"
    good.write_bytes(csv_bytes(BAD[:1]))
    again = run(clean_app, str(good), "--as", who)
    assert again.exit_code == 0 and "imported 0, already imported 1, rejected 0" in again.output
    refused = run(clean_app, str(out), "--as", who)  # the report of rejected rows is no ticket export
    assert refused.exit_code == 2 and "not imported: 缺少必需的列：来电时间、诉求内容、诉求类型" in refused.output
    assert count(db, Case) == 1
    actions = db.scalars(select(AuditEntry.action).where(AuditEntry.actor == who)).all()
    assert sorted(actions) == ["hotline.check", "hotline.import", "hotline.import", "hotline.import"]


# -- the console --------------------------------------------------------------------------------------------------


@pytest.fixture
def users(clean_app: Flask) -> None:
    with services(clean_app).sessions() as session:
        for name, role in ((OPERATOR, "operator"), (REVIEWER, "reviewer")):
            if session.scalar(select(User.id).where(User.username == name)) is None:
                create_user(session, name, PASSWORD, [role], by="tests")
        session.commit()


def upload(client: Any, data: bytes, name: str = "tickets.csv", csrf: str | None = "page", **form: str) -> Any:
    """POST a file to the import page (``csrf``: a token, "page" to take it from the page, None for none)."""
    fields: dict[str, Any] = {"file": (io.BytesIO(data), name), **form}
    if csrf is not None:
        fields["csrf_token"] = token(client, "/console/hotline/import") if csrf == "page" else csrf
    return client.post("/console/hotline/import", data=fields, content_type="multipart/form-data")


def test_an_operator_uploads_a_file_and_reads_the_result(clean_app: Flask, db: Session, users: None) -> None:
    client = login(clean_app, OPERATOR)
    page = client.get("/console/hotline/import").get_data(as_text=True)
    assert "12345热线工单导入" in page and 'enctype="multipart/form-data"' in page and ">热线导入</a>" in page
    resp = upload(client, csv_bytes(BAD[:3]))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert 'id="count-imported">1<' in html and 'id="count-rejected">2<' in html
    assert "139****5678" in html and "13912345678" not in html and "缺少诉求内容" in html
    case = cases_by_ticket(db)["B-01"]
    assert f'href="/console/cases/{case.id}">{case.number}</a>' in html
    assert case.number in client.get("/console/cases?view=all").get_data(as_text=True)
    assert "12345热线" in client.get("/console/dashboard").get_data(as_text=True)
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "hotline.import")
                       .order_by(AuditEntry.id.desc())).first()  # fmt: skip
    assert entry is not None and (entry.actor, entry.target, entry.detail) == (
        OPERATOR, "tickets.csv", "导入1条；此前已导入0条；未导入2条")  # fmt: skip


def test_the_upload_needs_csrf_and_the_permission(clean_app: Flask, db: Session, users: None) -> None:
    operator = login(clean_app, OPERATOR)
    assert upload(operator, csv_bytes(GOOD), csrf=None).status_code == 400
    reviewer = login(clean_app, REVIEWER)
    assert reviewer.get("/console/hotline/import").status_code == 403
    assert upload(reviewer, csv_bytes(GOOD), csrf=token(reviewer, "/console/")).status_code == 403
    assert ">热线导入</a>" not in reviewer.get("/console/").get_data(as_text=True)
    assert count(db, Case) == 0


def test_files_over_the_app_limit_reach_the_check_and_huge_ones_are_refused(clean_app: Flask, db: Session,
                                                                            users: None) -> None:  # fmt: skip
    client = login(clean_app, OPERATOR)
    padded = [(f"X-{i}", "很长的说明" * 20) for i in range(5000)]  # 1.5 MB: over the app's 1 MiB, under our cap
    resp = upload(client, csv_bytes(padded, header=("工单编号", "说明")))
    assert resp.status_code == 400 and "缺少必需的列" in resp.get_data(as_text=True)
    resp = upload(client, b"x" * UPLOAD_LIMIT)
    assert resp.status_code == 413 and "提交的内容过大" in resp.get_data(as_text=True)
    too_many = [(f"M-{i}", at(0), "13812345678", "路灯不亮", "投诉", "") for i in range(hotline.MAX_ROWS + 1)]
    resp = upload(client, csv_bytes(too_many), dry_run="1")
    assert resp.status_code == 400 and "超过1000行上限" in resp.get_data(as_text=True)
    assert count(db, Case) == 0
