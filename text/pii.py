"""Personal data in Chinese text: find and mask mobiles, ID numbers, bank cards; mask landlines and e-mails.

Used wherever text leaves the database: rendered replies, pages, log lines and exports.
"""

from __future__ import annotations

import dataclasses
import re

# Mobiles as people write them: 13812345678, 138 1234 5678, 138-1234-5678, +86 138…, 0086…;
# not glued to other digits ("123813812345678" is an order number, not a mobile).
_MOBILE = re.compile(r"(?<![\d+])((?:\+|00)?86[ -]?)?(1[3-9]\d)[ -]?(\d{4})[ -]?(\d{4})(?!\d)")
# Full-width digits (１３８…) are the same digits: detection runs on a copy with ASCII digits,
# which has the same length, so spans found there apply to the original text.
_FULLWIDTH = str.maketrans("０１２３４５６７８９＋－　", "0123456789+- ")
_ID18 = re.compile(r"(?<![\dA-Za-z])(\d{6})(\d{8})(\d{3})([\dXx])(?![\dA-Za-z])")
_CARD = re.compile(r"(?<!\d)(\d{4})[ -]?(\d{4})[ -]?(\d{4})[ -]?(\d{4})((?:[ -]?\d){0,3})(?!\d)")

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


@dataclasses.dataclass(frozen=True)
class Finding:
    """One piece of personal data found in a text."""

    kind: str  # "mobile", "id_number", "bank_card"
    start: int
    end: int


def id_number_valid(value: str) -> bool:
    """ISO 7064 MOD 11-2 check of an 18-character resident ID number."""
    if len(value) != 18 or not value[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == value[17].upper()


def luhn_valid(digits: str) -> bool:
    """Luhn checksum, as bank card numbers carry."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def find_personal_data(text: str) -> list[Finding]:
    """Every mobile number, valid ID number and Luhn-valid bank card in ``text``, in order."""
    text = text.translate(_FULLWIDTH)
    findings: list[Finding] = []
    taken: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in taken)

    for m in _ID18.finditer(text):
        if id_number_valid(m.group(0)):
            findings.append(Finding("id_number", m.start(), m.end()))
            taken.append((m.start(), m.end()))
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))
        if 16 <= len(digits) <= 19 and luhn_valid(digits) and free(m.start(), m.end()):
            findings.append(Finding("bank_card", m.start(), m.end()))
            taken.append((m.start(), m.end()))
    for m in _MOBILE.finditer(text):
        if free(m.start(), m.end()):
            findings.append(Finding("mobile", m.start(), m.end()))
            taken.append((m.start(), m.end()))
    findings.sort(key=lambda f: f.start)
    return findings


def _mask_one(kind: str, value: str) -> str:
    value = value.translate(_FULLWIDTH)
    if kind == "mobile":
        m = _MOBILE.fullmatch(value)
        assert m is not None
        prefix, head, _, tail = m.groups()
        return (prefix or "") + head + "****" + tail
    if kind == "id_number":
        # Region code stays, birth date and sequence never do.
        return value[:4] + "*" * 10 + value[-4:]
    digits = re.sub(r"\D", "", value)
    return f"{digits[:4]} **** **** {digits[-4:]}"


# For masking (not for the reply guard) anything shaped like an ID number counts, valid or not:
# an ID with a typo, a spaced one, or a 15-digit first-generation one is still someone's ID.
_ID18_LOOSE = r"(?<![\dA-Za-z])(\d{6})[ ]?(\d{8})[ ]?(\d{3}[\dXx])(?![\dA-Za-z])"  # 18 characters, spaced or not
_ID15 = r"(?<!\d)\d{8}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])\d{3}(?!\d)"  # 15 digits with a birth date inside
_ID_LOOSE = re.compile(f"{_ID18_LOOSE}|{_ID15}")
# A landline labelled as the citizen's own (来电号码：010-62345678, as hotline tickets and the intake forms write
# them): masked on the way out. An unlabelled landline is usually a unit's office number ("咨询电话010-…"), which
# stays readable, and the reply guard never flags landlines.
_LANDLINE = re.compile(
    r"((?:来电号码|来电电话|主叫号码|回访电话|联系电话|联系方式|电话号码)[：:]?[ ]*)"
    r"((?:[(（]?0\d{2,3}[)）]?[ -]?)?)(\d{3,4})[ -]?(\d{4})(?:[ -]?(?:转|-|ext\.?)[ ]?\d{1,5})?(?!\d)"
)
# E-mail addresses (Open311 clients send the citizen's): the first character and the domain stay.
_EMAIL = re.compile(r"(?<![\w.+-])([\w.+-])[\w.+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")


def mask_text(text: str) -> str:
    """``text`` with every piece of personal data masked (``138****1234``, ``1101**********123X``)."""
    if not text:
        return text
    text = _ID_LOOSE.sub(lambda m: _mask_one("id_number", re.sub(r"\s", "", m.group(0))), text)
    out: list[str] = []
    pos = 0
    for f in find_personal_data(text):
        out.append(text[pos : f.start])
        out.append(_mask_one(f.kind, text[f.start : f.end]))
        pos = f.end
    out.append(text[pos:])
    masked = _LANDLINE.sub(lambda m: m.group(1) + m.group(2) + "****" + m.group(4), "".join(out))
    return _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", masked) if "@" in masked else masked


def mask_openid(openid: str) -> str:
    """An OpenID shortened for logs and pages: enough to tell two apart, not enough to address one."""
    if len(openid) <= 8:
        return "*" * len(openid)
    return openid[:4] + "****" + openid[-4:]
