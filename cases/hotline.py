"""12345 hotline tickets from a CSV or XLSX export: read the file, check every row, file the good ones as cases.

Hotline systems export tickets with a time, the caller's number, what was said, a category and a ticket number
(工单编号), under Chinese or English headers, as CSV (UTF-8, with or without a BOM, or GB18030 — what Excel and
most hotline systems write on Chinese Windows) or XLSX. :func:`read_tickets` turns the file into checked
:class:`Ticket` rows and :class:`Rejected` ones, each with its row number as a spreadsheet shows it and a reason
in Chinese; a file that cannot be read as a whole (wrong type, empty, too large, a required column missing) raises
:class:`HotlineFileError` before anything is imported.

Filing goes through the pipeline like every other door, but the pipeline sits above this layer: the caller
(bot/) hands :func:`import_tickets` a ``file`` callable that files one ticket and commits it. One commit per
ticket, not one per file: on SQLite a long write transaction would hold the database's only write lock and push
the WeChat messages arriving meanwhile into the spool, and on PostgreSQL the message path writes each filing in
one autocommitted statement anyway. A refused row therefore never undoes the others, and an import cut short
(the database went away) is simply run again: the ticket number is the filing's dedup key, so a ticket already
filed comes back as "already imported", never as a second case.

The caller is known to the case only as a keyed hash of the normalised number (:func:`caller_openid`): all of
one caller's tickets form one thread, and the number itself is never a key. It is kept, as the chat form keeps
a 回访电话, in the case summary, for the person who phones back.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import datetime as dt
import hashlib
import hmac
import io
import itertools
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import PurePath
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Case, Message, channel_identity
from replies.variables import CASE_TYPE_NAMES, DEPARTMENT_NAMES
from text.controls import without_controls
from text.pii import mask_text

CHANNEL = "hotline"
# A day's export of a district's hotline is hundreds of tickets, well under a megabyte. Filing one costs about
# 3.5 ms (classifier and write, SQLite or PostgreSQL): the console's cap keeps an import inside one request
# (gunicorn restarts a worker after 10 s); the command line, which has no such clock, takes larger files.
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_ROWS = 1000
CLI_MAX_FILE_BYTES = 32 * 1024 * 1024
CLI_MAX_ROWS = 20000
# An XLSX is a zip: what it unpacks to is capped too (a zip bomb is small on the wire).
MAX_UNPACKED_BYTES = 64 * 1024 * 1024
MAX_TICKET_CHARS = 64
MAX_TEXT_CHARS = 5000
# The case summary's cap (handlers/act.py cuts it at 2,000): the text is shortened so the labelled lines after
# it — number and ticket, what staff need to phone back — always fit. The message keeps the whole text.
SUMMARY_CHARS = 2000
# The hotline's clock and ours may differ a little; a call further in the future than this is a wrong time.
FUTURE_SLACK = dt.timedelta(minutes=10)
# How far down a title block above the header may reach.
HEADER_SEARCH_ROWS = 10

# Field → accepted headers, the preferred first: when an export has both 来电时间 and 受理时间 the call time wins
# (the deadline runs from the call), when it has both 来电号码 and 联系电话 the caller's own number does.
COLUMNS: dict[str, tuple[str, ...]] = {
    "time": ("来电时间", "受理时间", "time", "call_time"),
    "phone": ("来电号码", "联系电话", "phone", "caller_phone"),
    "text": ("诉求内容", "内容", "text"),
    "category": ("诉求类型", "类别", "诉求类别", "category"),
    "ticket": ("工单编号", "工单号", "ticket_id", "ticket"),
    "department": ("承办部门", "部门", "承办单位", "department"),
}
REQUIRED = ("time", "phone", "text", "category", "ticket")
FIELD_NAMES = {field: aliases[0] for field, aliases in COLUMNS.items()}  # 来电时间, 来电号码 …
_HEADERS = {
    alias.replace("_", ""): (field, rank) for field, aliases in COLUMNS.items() for rank, alias in enumerate(aliases)
}

# 咨询/求助/投诉/举报/建议/表扬 and their English names → CaseType values (emergencies are the hotline's to route).
CATEGORIES: dict[str, str] = {
    **{name: code for code, name in CASE_TYPE_NAMES.items() if code != "emergency"},
    **{code: code for code in CASE_TYPE_NAMES if code != "emergency"},
    "enquiry": "inquiry",
    "consultation": "inquiry",
    "request for help": "help",
    "commendation": "praise",
    "意见建议": "suggestion",
    "感谢": "praise",
}
CATEGORY_CHOICES = "咨询、求助、投诉、举报、建议或表扬"
_DEPARTMENTS = {
    **{code: code for code in DEPARTMENT_NAMES},
    **{name: code for code, name in DEPARTMENT_NAMES.items()},
    # Spreadsheets often drop the generic ending: 生态环境 for 生态环境部门.
    **{name.removesuffix("部门"): code for code, name in DEPARTMENT_NAMES.items() if name.endswith("部门")},
}

_FULLWIDTH = str.maketrans("０１２３４５６７８９＋－（）：　", "0123456789+-(): ")
# 2026-12-01 09:30, 2026/12/1 9:30:00, 2026.12.01 09:30:00.5, 2026年12月1日 9时30分
_TIME = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?\s*T?\s*"
    r"(\d{1,2})\s*[:时]\s*(\d{1,2})\s*(?:[:分]\s*(?:(\d{1,2})(?:\.\d+)?\s*秒?)?)?"
)
# Earlier than this is a wrong cell (a small number read as an Excel date), not a call.
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_MOBILE = re.compile(r"1[3-9]\d{9}")
# With its area code (010…, 0755…) or, within the city, without one.
_LANDLINE = re.compile(r"0\d{9,11}|[2-9]\d{6,7}")
_EXTENSION = re.compile(r"(?:转|分机|ext\.?|#).*$", re.IGNORECASE)


class HotlineFileError(ValueError):
    """The file as a whole cannot be imported (nothing was); ``str()`` says why, in Chinese."""


class RowRefused(Exception):
    """Raised by a ``file`` callable: this ticket could not be filed (the others go on); ``str()`` is Chinese."""


class ImportInterrupted(Exception):
    """Raised by a ``file`` callable: stop here (the database went away); what was filed stays filed."""


@dataclasses.dataclass(frozen=True)
class Ticket:
    """One checked row: ready to be filed as a case of channel ``hotline``."""

    row: int
    ticket: str
    called_at: dt.datetime  # aware
    phone: str  # normalised digits
    text: str
    case_type: str  # a CaseType value
    department: str | None  # a department code, or None for the classifier to decide


@dataclasses.dataclass(frozen=True)
class Rejected:
    """A row that was not imported: its row number, ticket number, masked phone and the reason, in Chinese."""

    row: int
    ticket: str
    phone: str
    reason: str


@dataclasses.dataclass
class Sheet:
    """What :func:`read_tickets` found: the good rows and the rejected ones."""

    tickets: list[Ticket]
    rejected: list[Rejected]

    @property
    def rows(self) -> int:
        """Data rows read (blank rows not counted)."""
        return len(self.tickets) + len(self.rejected)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What filing one ticket gave (the ``file`` callable's answer): its case, and whether it was filed before."""

    case_id: int | None
    case_number: str | None
    duplicate: bool


@dataclasses.dataclass(frozen=True)
class Done:
    """A ticket that has a case: filed now, or already by an earlier import."""

    row: int
    ticket: str
    case_id: int | None
    case_number: str | None


@dataclasses.dataclass
class Report:
    """The outcome of one import (or of a dry run: nothing filed, ``imported`` lists what would be)."""

    rows: int
    imported: list[Done] = dataclasses.field(default_factory=list)
    already: list[Done] = dataclasses.field(default_factory=list)
    rejected: list[Rejected] = dataclasses.field(default_factory=list)
    dry_run: bool = False
    # Set when the import stopped early (the rows after it were not tried; run it again).
    interrupted: str | None = None
    not_tried: int = 0

    @property
    def succeeded(self) -> bool:
        """True when every ticket the file holds has its case, or at least one row was imported."""
        return self.interrupted is None and (bool(self.imported) or not self.rejected)


# -- reading the file ---------------------------------------------------------------------------------------------


def read_tickets(
    data: bytes,
    filename: str,
    *,
    timezone: str,
    now: dt.datetime,
    max_bytes: int = MAX_FILE_BYTES,
    max_rows: int = MAX_ROWS,
) -> Sheet:
    """Read and check a CSV or XLSX export; :class:`HotlineFileError` if the file as a whole cannot be imported."""
    if not data or not data.strip():
        raise HotlineFileError("文件是空的")
    if len(data) > max_bytes:
        raise HotlineFileError(f"文件超过{max_bytes // (1024 * 1024)} MB 上限，请分批导出后导入")
    suffix = PurePath(filename or "").suffix.lower()
    if suffix not in ("", ".csv", ".xlsx"):
        raise HotlineFileError("只能导入 CSV 或 XLSX 文件")
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise HotlineFileError("这是旧版 Excel（.xls）文件：请在 Excel 中另存为 .xlsx 或 CSV 后导入")
    if data.startswith(b"PK\x03\x04"):
        rows = _xlsx_rows(data)
    elif suffix == ".xlsx":
        raise HotlineFileError("文件扩展名是 .xlsx，但内容不是 XLSX 表格")
    else:
        rows = _csv_rows(data)
    return _check(rows, ZoneInfo(timezone), now, max_rows)


def _xlsx_rows(data: bytes) -> Iterator[tuple[int, Sequence[Any]]]:
    import openpyxl  # only here: loading it costs every other command start-up time

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            unpacked = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise HotlineFileError("不是有效的 XLSX 文件（文件已损坏或不是表格）") from None
    if "xl/workbook.xml" not in names:
        raise HotlineFileError("不是有效的 XLSX 文件（压缩包中没有工作簿）")
    if unpacked > MAX_UNPACKED_BYTES:
        raise HotlineFileError("表格解压后过大，请分批导出后导入")
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 (openpyxl raises many kinds for a broken file; none is ours to tell apart)
        raise HotlineFileError("不是有效的 XLSX 文件（无法读取工作簿）") from None
    sheet = book.worksheets[0] if book.worksheets else None
    if sheet is None:
        raise HotlineFileError("表格中没有工作表")
    # Some exporters write a wrong "used range"; without it read-only mode reads the rows that are really there.
    sheet.reset_dimensions()
    return _numbered(sheet.iter_rows(), book.close)


def _numbered(rows: Iterable[Sequence[Any]], close: Callable[[], None]) -> Iterator[tuple[int, Sequence[Any]]]:
    """XLSX rows with their numbers as Excel shows them (a cell knows its row; empty rows may be skipped)."""
    number = 0
    try:
        for cells in rows:
            number = next((c.row for c in cells if getattr(c, "row", None)), number + 1)
            yield number, [c.value for c in cells]
    finally:
        close()


def _decode(data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")  # Excel's "Unicode text"
        except UnicodeDecodeError:
            raise HotlineFileError("无法识别文件编码：请另存为 UTF-8 或 GB18030（GBK）编码的 CSV") from None
    if b"\x00" in data[:4096]:
        raise HotlineFileError("只能导入 CSV 或 XLSX 文件（这不是文本表格）")
    # Chinese text in GBK is almost never valid UTF-8, so strict UTF-8 first is a reliable test; GB18030 is a
    # superset of GBK and GB2312, which is what "ANSI" means on Chinese Windows.
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise HotlineFileError("无法识别文件编码：请另存为 UTF-8 或 GB18030（GBK）编码的 CSV")


def _csv_rows(data: bytes) -> Iterator[tuple[int, Sequence[Any]]]:
    text = _decode(data)
    head = text[:4096]
    # Comma by default; a tab- or semicolon-separated export says so by using it more often in its first lines.
    delimiter = max((",", "\t", ";"), key=head.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        # The record's position is its row in a spreadsheet (a quoted line break stays inside one cell).
        yield from enumerate(reader, 1)
    except csv.Error as exc:
        if "field limit" in str(exc):  # the csv module's cap on one cell, far beyond any ticket's text
            raise HotlineFileError("有单元格内容过长（超过13万字），请检查文件是否为工单导出") from None
        raise HotlineFileError("CSV 格式有误（引号不成对或行内有非法字符），请检查后重新导出") from None


def _header_key(value: Any) -> str:
    # 工单编号*, 来电时间：, Ticket ID, ticket-id and ticket_id are the same column.
    text = str(value or "").replace("\ufeff", "").translate(_FULLWIDTH)
    return re.sub(r"[\s*:_\-]+", "", text).lower()


def _header(cells: Sequence[Any]) -> dict[str, int]:
    """Field → column index for a header row (the preferred header of a field when it has several)."""
    best: dict[str, tuple[int, int]] = {}
    for index, cell in enumerate(cells):
        found = _HEADERS.get(_header_key(cell))
        if found is None:
            continue
        field, rank = found
        if field not in best or rank < best[field][0]:
            best[field] = (rank, index)
    return {field: index for field, (_, index) in best.items()}


def _blank(cells: Sequence[Any]) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


def _check(rows: Iterator[tuple[int, Sequence[Any]]], tz: ZoneInfo, now: dt.datetime, max_rows: int) -> Sheet:
    # The header is the row among the first few that names the most known columns (a title may sit above it).
    first = list(itertools.islice(rows, HEADER_SEARCH_ROWS))
    found = [_header(cells) for _, cells in first]
    best = max(range(len(first)), key=lambda i: (len(found[i]), -i), default=None)
    if best is None or not found[best]:
        raise HotlineFileError(
            "找不到表头：第一行应为列名，如 工单编号、来电时间、来电号码、诉求内容、诉求类型"
            "（或 ticket_id、time、phone、text、category）"
        )
    header_row, columns = first[best][0], found[best]
    missing = [FIELD_NAMES[f] for f in REQUIRED if f not in columns]
    if missing:
        raise HotlineFileError(f"缺少必需的列：{'、'.join(missing)}（表头在第{header_row}行）")
    sheet = Sheet([], [])
    seen: dict[str, int] = {}
    for number, cells in itertools.chain(first[best + 1 :], rows):
        if _blank(cells):
            continue
        if sheet.rows >= max_rows:
            raise HotlineFileError(f"工单超过{max_rows}行上限，请分批导出后导入")
        values = {f: cells[i] if i < len(cells) else None for f, i in columns.items()}
        checked = _row(number, values, tz, now)
        # A ticket number seen before, on a good row or a rejected one, makes this row ambiguous: it is not filed.
        first_row = seen.setdefault(checked.ticket, number) if checked.ticket else number
        if first_row != number:
            phone = mask_phone(checked.phone) if isinstance(checked, Ticket) else checked.phone
            checked = Rejected(number, checked.ticket, phone, f"工单编号与第{first_row}行重复")
        if isinstance(checked, Ticket):
            sheet.tickets.append(checked)
        else:
            sheet.rejected.append(checked)
    if not sheet.rows:
        raise HotlineFileError("文件中没有工单（只有表头）")
    return sheet


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a number typed into a spreadsheet cell: 20261201001.0 is ticket 20261201001
    return without_controls(str(value)).strip()


def _row(number: int, values: dict[str, Any], tz: ZoneInfo, now: dt.datetime) -> Ticket | Rejected:
    reasons: list[str] = []
    ticket = _text(values.get("ticket"))
    if not ticket:
        reasons.append("缺少工单编号")
    elif len(ticket) > MAX_TICKET_CHARS:
        reasons.append(f"工单编号超过{MAX_TICKET_CHARS}个字符")
    raw_phone = _text(values.get("phone"))
    phone = normalise_phone(raw_phone)
    if not raw_phone:
        reasons.append("缺少来电号码")
    elif phone is None:
        reasons.append("来电号码格式不正确")
    called_at = None
    raw_time = values.get("time")
    if raw_time is None or not _text(raw_time):
        reasons.append("缺少来电时间")
    else:
        called_at = parse_time(raw_time, tz)
        if called_at is None or called_at < EARLIEST:
            reasons.append("来电时间无法识别（应为如 2026-12-01 09:30 的日期和时间）")
        elif called_at > now + FUTURE_SLACK:
            reasons.append("来电时间晚于当前时间")
    text = _text(values.get("text")).replace("\r\n", "\n")
    if not text:
        reasons.append("缺少诉求内容")
    elif len(text) > MAX_TEXT_CHARS:
        reasons.append(f"诉求内容超过{MAX_TEXT_CHARS}字")
    raw_category = _text(values.get("category"))
    case_type = category(raw_category)
    if not raw_category:
        reasons.append("缺少诉求类型")
    elif case_type is None:
        reasons.append(f"未知的诉求类型“{_quoted(raw_category)}”（应为{CATEGORY_CHOICES}）")
    raw_department = _text(values.get("department"))
    department = department_code(raw_department)
    if raw_department and department is None:
        reasons.append(f"未知的承办部门“{_quoted(raw_department)}”")
    if reasons:
        shown = mask_phone(phone or raw_phone)
        return Rejected(number, ticket[:MAX_TICKET_CHARS], shown, "；".join(reasons))
    assert phone is not None and called_at is not None and case_type is not None
    return Ticket(number, ticket, called_at, phone, text, case_type, department)


def _quoted(value: str, limit: int = 20) -> str:
    """A cell's value inside a reason: masked (it may hold personal data) and short."""
    value = mask_text(value)
    return value if len(value) <= limit else value[: limit - 1] + "…"


def normalise_phone(raw: str) -> str | None:
    """A caller's number as digits (mobile, landline with area code, or a local landline), or None if it is none."""
    value = _EXTENSION.sub("", raw.translate(_FULLWIDTH)).strip()
    parts = [p for p in re.split(r"[\s\-()]+", value) if p]
    # 0755-8888-9999 is one number; 0755-88889999-123 ends with an extension.
    candidates = (
        ["".join(parts), "".join(parts[:-1])] if len(parts) >= 3 and parts[0].startswith("0") else ["".join(parts)]
    )
    for digits in candidates:
        for prefix in ("+86", "0086", "86"):
            if digits.startswith(prefix) and _MOBILE.fullmatch(digits[len(prefix) :]):
                digits = digits[len(prefix) :]
        if _MOBILE.fullmatch(digits) or _LANDLINE.fullmatch(digits):
            return digits
    return None


def mask_phone(phone: str) -> str:
    """A number as reports show it: masked by text/pii.py, and landlines (which it leaves) in the same way."""
    masked = mask_text(phone)
    if masked != phone:
        return masked
    digits = re.sub(r"\D", "", phone)
    if len(digits) < 7:
        return "*" * len(phone)
    head = digits[:3] if len(digits) >= 10 else ""  # an area code says little about who called
    return head + "*" * (len(digits) - len(head) - 4) + digits[-4:]


def parse_time(value: Any, tz: ZoneInfo) -> dt.datetime | None:
    """A call time as an aware datetime: text in common formats or an Excel date, local to ``tz`` unless marked."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        # An Excel serial date in a cell not formatted as a date (days since 1899-12-30).
        if not 1 <= value < 2958466:
            return None
        moment = dt.datetime(1899, 12, 30) + dt.timedelta(days=float(value))
        moment = moment.replace(microsecond=0)
    else:
        text = _text(value).translate(_FULLWIDTH)
        m = _TIME.fullmatch(text)
        try:
            if m:
                year, month, day, hour, minute, second = (int(g or 0) for g in m.groups())
                moment = dt.datetime(year, month, day, hour, minute, second)
            elif ":" in text:  # ISO 8601 with an offset (2026-12-01T09:30:00+08:00); a date alone is no call time
                moment = dt.datetime.fromisoformat(text)
            else:
                return None
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment


def category(value: str) -> str | None:
    """The CaseType value of a category (咨询, 投诉类, Complaint …), or None if it is not one."""
    key = re.sub(r"\s+", " ", value.strip().lower())
    return CATEGORIES.get(key) or CATEGORIES.get(key.removesuffix("类"))


def department_code(value: str) -> str | None:
    """A department's code from its Chinese name or its code, or None (also for an empty value)."""
    key = value.strip()
    return (_DEPARTMENTS.get(key) or _DEPARTMENTS.get(key.lower())) if key else None


# -- what a ticket is filed as ------------------------------------------------------------------------------------


def caller_key(secret: str) -> bytes:
    """The key of callers' hashes, derived from SECRET_KEY (a hash of a phone number alone could be reversed)."""
    return hmac.new(secret.encode(), b"minsheng hotline caller v1", hashlib.sha256).digest()


def caller_openid(phone: str, key: bytes) -> str:
    """The citizen key of the caller of ``phone`` (normalised): ``hotline:`` and 24 hex digits of a keyed hash."""
    return channel_identity(CHANNEL, hmac.new(key, phone.encode(), hashlib.sha256).hexdigest()[:24])


def dedup_key(ticket: str) -> str:
    """The filing's dedup key: a ticket is filed once, however often its file is imported."""
    return f"{CHANNEL}:{ticket}"


def summary(ticket: Ticket, tz: ZoneInfo) -> str:
    """The case summary, labelled like the chat form's (what was said first: the case list shows its start)."""
    called = ticket.called_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    tail = f"\n来电时间：{called}\n来电号码：{ticket.phone}\n工单编号：{ticket.ticket}"
    room = SUMMARY_CHARS - len(tail) - len("诉求内容：")
    text = ticket.text if len(ticket.text) <= room else ticket.text[: room - 1] + "…"
    return f"诉求内容：{text}{tail}"


# -- importing ----------------------------------------------------------------------------------------------------


def filed_before(session: Session, tickets: Iterable[Ticket]) -> dict[str, Done]:
    """The tickets among ``tickets`` filed by an earlier import, with their cases, by ticket number.

    Asked once per file rather than learnt from the pipeline row by row: a repeat still runs the classifier
    before the database turns it away, so importing yesterday's file again would cost as much as the first time.
    The pipeline's dedup key still guards two imports of one file running at once.
    """
    rows = {t.ticket: t.row for t in tickets}
    keys = {dedup_key(ticket): ticket for ticket in rows}
    found: dict[str, Done] = {}
    chunk = list(keys)
    for start in range(0, len(chunk), 500):
        query = (
            select(Message.dedup_key, Case.id, Case.number)
            .outerjoin(Case, Case.opening_message_id == Message.id)
            .where(Message.dedup_key.in_(chunk[start : start + 500]))
        )
        for key, case_id, number in session.execute(query):
            ticket = keys[str(key)]
            found[ticket] = Done(rows[ticket], ticket, case_id, number)
    return found


def import_tickets(
    sheet: Sheet, file: Callable[[Ticket], Outcome] | None, *, known: dict[str, Done] | None = None
) -> Report:
    """File every good ticket not ``known`` (filed before) through ``file``, which commits each; no ``file``: a dry run.

    Tickets are filed in call order, so a caller's thread and the case numbers follow the calls. ``file`` raises
    :class:`RowRefused` for one ticket it cannot file, :class:`ImportInterrupted` to stop the import.
    """
    known = known or {}
    report = Report(rows=sheet.rows, rejected=list(sheet.rejected), dry_run=file is None)
    ordered = sorted(sheet.tickets, key=lambda t: (t.called_at, t.row))
    for position, ticket in enumerate(ordered):
        if ticket.ticket in known:
            report.already.append(known[ticket.ticket])
            continue
        if file is None:
            report.imported.append(Done(ticket.row, ticket.ticket, None, None))
            continue
        try:
            filed = file(ticket)
        except RowRefused as exc:
            report.rejected.append(Rejected(ticket.row, ticket.ticket, mask_phone(ticket.phone), str(exc)))
            continue
        except ImportInterrupted as exc:
            report.interrupted = str(exc)
            report.not_tried = len(ordered) - position
            break
        if filed.case_id is None:
            # The pipeline stored the call but its rules failed (it raised an alert): a person opens the case.
            reason = "工单已记录，但未能自动立案（系统已告警），请人工立案"
            report.rejected.append(Rejected(ticket.row, ticket.ticket, mask_phone(ticket.phone), reason))
            continue
        done = Done(ticket.row, ticket.ticket, filed.case_id, filed.case_number)
        (report.already if filed.duplicate else report.imported).append(done)
    for rows in (report.imported, report.already, report.rejected):
        rows.sort(key=lambda item: item.row)
    return report
