"""Characters no stored or shown text should carry: C0 controls other than tab and line breaks, DEL, lone
surrogates and the two non-characters. XML 1.0 cannot carry most of them, a spreadsheet cell or a form may, and
none of them is anything a citizen meant to write."""

from __future__ import annotations

import re

CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def without_controls(text: str) -> str:
    """``text`` without the characters above (tabs and line breaks stay)."""
    return CONTROLS.sub("", text)
