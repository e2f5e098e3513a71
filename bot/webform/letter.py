"""A letter as the web form takes it: its fields, their checks (messages in Chinese), its photos, its summary.

The fields are the chat form's (``handlers/forms.toml`` [complaint]: what happened, where, when, whether to call
back, the number), with their labels read from there so the case summary is written the same way whichever door
a complaint came through. A long form on a phone is tiring to fill twice: every check names its field, and the
page shows the letter again as typed.

Photos are checked here before anything is filed — how many, how large, and that Pillow reads them as a picture
of a format ``bot.media`` takes — so a bad one is a clear message beside the form, not a letter lost. The full
preparation (the staff's copy, the thumbnail) happens once, when ``bot.media.keep`` stores them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import secrets
import unicodedata
from collections.abc import Iterable, Mapping

from werkzeug.datastructures import FileStorage

from bot.media.images import MediaRejected, opened
from handlers.converse import (
    phone_number,  # the chat form's phone rule, so both doors agree
    shipped_forms,
)
from text.controls import without_controls

# The request types a citizen chooses from (CaseType values), in the order shown; the first is the default.
KINDS: tuple[tuple[str, str], ...] = (
    ("complaint", "投诉"),
    ("help", "求助"),
    ("inquiry", "咨询"),
    ("suggestion", "建议"),
    ("report", "举报"),
    ("praise", "表扬"),
)
KIND_NAMES = dict(KINDS)
# Where and when something happened are asked for a problem to be handled; a question, a suggestion or a
# thank-you often has neither.
PLACE_REQUIRED = frozenset({"complaint", "help", "report"})

MIN_WHAT = 10
MAX_WHAT = 5000
MAX_WHERE = 200
MAX_WHEN = 100
MAX_PHONE = 30
MAX_PHOTOS = 6
MAX_PHOTO_BYTES = 10 * 1024 * 1024
# The whole request: every photo at its largest, plus the text fields and the multipart framing.
MAX_REQUEST_BYTES = MAX_PHOTOS * MAX_PHOTO_BYTES + 1024 * 1024

_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,64}")
_PHONE_CHARS = re.compile(r"[\d\s+\-()（）]+")


def _labels() -> dict[str, str]:
    form = shipped_forms()["complaint"]
    return {field.code: field.label for field in form.fields}


@dataclasses.dataclass
class Letter:
    """What a citizen typed (kept as typed, to show the form again when a check fails)."""

    kind: str = "complaint"
    what: str = ""
    where: str = ""
    when: str = ""
    callback: str = ""  # "yes" / "no" / "" (not chosen)
    phone: str = ""
    token: str = ""

    @property
    def kind_name(self) -> str:
        """The request type in Chinese."""
        return KIND_NAMES.get(self.kind, KIND_NAMES["complaint"])

    @property
    def place_required(self) -> bool:
        """True when where and when must be given for this request type."""
        return self.kind in PLACE_REQUIRED


def _clean(value: str | None) -> str:
    text = (value or "").replace("\r\n", "\n").replace("\r", "\n")
    return without_controls(text).strip()


def _length(text: str) -> int:
    """Characters a person wrote: spaces and line breaks do not count."""
    return sum(1 for c in text if not c.isspace())


def parse(form: Mapping[str, str]) -> Letter:
    """The letter in a posted form (nothing checked yet)."""
    kind = form.get("kind") or "complaint"
    callback = form.get("callback") or ""
    return Letter(
        kind=kind if kind in KIND_NAMES else "complaint",
        what=_clean(form.get("what")),
        where=_clean(form.get("where")),
        when=_clean(form.get("when")),
        callback=callback if callback in ("yes", "no") else "",
        phone=_clean(form.get("phone")),
        token=form.get("token") or "",
    )


def check(letter: Letter) -> dict[str, str]:
    """What is wrong with ``letter``, by field (empty: it can be filed); the phone is normalised in place."""
    errors: dict[str, str] = {}
    what = _length(letter.what)
    if what < MIN_WHAT:
        errors["what"] = f"请至少用{MIN_WHAT}个字说明问题（现有{what}个字）：发生了什么、影响到什么。"
    elif what > MAX_WHAT:
        errors["what"] = f"问题描述请控制在{MAX_WHAT}字以内（现有{what}个字），内容较多可分几次提交。"
    if letter.place_required and _length(letter.where) < 2:
        errors["where"] = "请填写发生地点，例如：某某区某某路某号、某某小区某栋。"
    elif len(letter.where) > MAX_WHERE:
        errors["where"] = f"发生地点请控制在{MAX_WHERE}字以内。"
    if letter.place_required and _length(letter.when) < 1:
        errors["when"] = "请填写发生时间，例如：今天上午、最近一个月、每天晚上。"
    elif len(letter.when) > MAX_WHEN:
        errors["when"] = f"发生时间请控制在{MAX_WHEN}字以内。"
    if letter.callback not in ("yes", "no"):
        errors["callback"] = "请选择是否需要工作人员回访。"
    elif letter.callback == "yes":
        number = phone_number(letter.phone) if len(letter.phone) <= MAX_PHONE else None
        if number is None or not _PHONE_CHARS.fullmatch(letter.phone):
            errors["phone"] = "请填写正确的电话号码：11位手机号，或带区号的固定电话（如 010-12345678）。"
        else:
            letter.phone = number
    else:
        letter.phone = ""  # no call-back wanted: a number typed before changing one's mind is not kept
    return errors


def summary(letter: Letter, photos: int = 0) -> str:
    """The case summary: labelled lines, as the chat form writes them (handlers/converse.py)."""
    labels = _labels()
    lines = [f"{labels['what']}：{letter.what}"]
    if letter.where:
        lines.append(f"{labels['where']}：{letter.where}")
    if letter.when:
        lines.append(f"{labels['when']}：{letter.when}")
    lines.append(f"{labels['callback']}：{'是' if letter.callback == 'yes' else '否'}")
    if letter.callback == "yes" and letter.phone:
        lines.append(f"{labels['phone']}：{letter.phone}")
    if photos:
        lines.append(f"附件：{photos}张照片（见诉求附件）")
    return "\n".join(lines)


def message_text(letter: Letter) -> str:
    """The letter as one message: what the classifier reads and the thread shows (the summary, photos aside)."""
    return summary(letter)


# -- the one-time form token --------------------------------------------------------------------------


def new_token() -> str:
    """A fresh random token for one showing of the form."""
    return secrets.token_urlsafe(18)


def token_ok(token: str) -> bool:
    """True when ``token`` looks like one :func:`new_token` made."""
    return bool(_TOKEN.fullmatch(token))


def dedup_key(citizen: str, token: str) -> str:
    """The message's dedup key: the same form posted twice by the same citizen files once.

    Keyed on the citizen too, so a token seen by someone else (a shared screenshot of the page source) cannot
    fetch another person's filing.
    """
    digest = hashlib.sha256(f"{citizen}\n{token}".encode()).hexdigest()[:40]
    return f"web:{digest}"


# -- photos -------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Photo:
    """One photo as uploaded: its bytes and what the browser said it was."""

    name: str
    data: bytes
    content_type: str | None


def _probe(data: bytes) -> None:
    """Raise MediaRejected unless Pillow reads ``data`` as a whole picture in a format bot.media takes.

    A cheap look (header, and a reduced-size decode that still reads every byte) rather than bot.media's full
    preparation, which keep() does once when storing.
    """
    with opened(data) as image:
        image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))
        image.load()


def _shown_name(name: str) -> str:
    name = unicodedata.normalize("NFC", name).rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    return name if len(name) <= 30 else name[:27] + "…"


def read_photos(uploads: Iterable[FileStorage]) -> tuple[list[Photo], str | None]:
    """The photos of a post, or the reason they are refused (one message naming each bad photo)."""
    photos: list[Photo] = []
    problems: list[str] = []
    for upload in uploads:
        data = upload.stream.read(MAX_PHOTO_BYTES + 1)
        if not upload.filename and not data:
            continue  # a photo field left empty
        photos.append(Photo(_shown_name(upload.filename or "照片"), data, upload.mimetype or None))
    if len(photos) > MAX_PHOTOS:
        return [], f"最多可上传{MAX_PHOTOS}张照片（这次选了{len(photos)}张），请删减后重新选择。"
    for number, photo in enumerate(photos, 1):
        if len(photo.data) > MAX_PHOTO_BYTES:
            problems.append(f"第{number}张（{photo.name}）超过{MAX_PHOTO_BYTES // (1024 * 1024)}MB")
            continue
        try:
            if not photo.data:
                raise MediaRejected("文件为空")
            _probe(photo.data)
        except MediaRejected as exc:
            problems.append(f"第{number}张（{photo.name}）：{exc}")
    if problems:
        return [], "以下照片无法上传：" + "；".join(problems) + "。请去掉或更换这些照片后重新选择（文字内容已保留）。"
    return photos, None
