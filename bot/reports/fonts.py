"""The CJK font reports embed: REPORT_FONT if set, else the first of the usual system fonts that exists.

A PDF must carry its Chinese glyphs (a reader without Asian font packs shows boxes otherwise), so the font is
embedded, not referenced. Debian's fonts-wqy-microhei (installed with Chromium for the browser tests) or any
Noto CJK / Source Han font works; a TrueType collection (.ttc) is read at face 0.
"""

from __future__ import annotations

import os
from pathlib import Path

CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.ttc",
    "C:/Windows/Fonts/simhei.ttf",
)


class FontMissing(RuntimeError):
    """No Chinese font to embed; ``str()`` says what to install."""


def cjk_font() -> Path:
    """The font file to embed in reports."""
    configured = os.environ.get("REPORT_FONT")
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise FontMissing(f"REPORT_FONT={configured} 不存在")
        return path
    for candidate in CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    raise FontMissing(
        "没有可嵌入的中文字体：请安装 fonts-wqy-microhei（Debian/Ubuntu），或设置 REPORT_FONT 为字体文件路径"
    )
