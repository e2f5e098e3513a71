"""A report as PDF (ReportLab platypus), A4, with the CJK font embedded and Chinese line breaking."""

from __future__ import annotations

import io
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, TableStyle
from reportlab.platypus import Table as PdfTable

from bot.reports.content import Block, Chart, Heading, Para, Table
from bot.reports.fonts import cjk_font

FONT = "MinshengCJK"
_registered = False


def _font() -> str:
    global _registered
    if not _registered:
        pdfmetrics.registerFont(TTFont(FONT, str(cjk_font()), subfontIndex=0))
        _registered = True
    return FONT


def _styles() -> dict[str, ParagraphStyle]:
    font = _font()
    # wordWrap="CJK": Chinese has no spaces; without it a long line of Chinese would not break.
    base = ParagraphStyle("body", fontName=font, fontSize=10.5, leading=16, wordWrap="CJK")
    return {
        "title": ParagraphStyle("title", parent=base, fontSize=18, leading=26, alignment=TA_CENTER, spaceAfter=6),
        # keepWithNext: a heading never ends a page without what it heads.
        "h1": ParagraphStyle("h1", parent=base, fontSize=14, leading=20, spaceBefore=10, spaceAfter=6, keepWithNext=1),
        "h2": ParagraphStyle("h2", parent=base, fontSize=12, leading=18, spaceBefore=6, spaceAfter=4, keepWithNext=1),
        "body": base,
        "small": ParagraphStyle("small", parent=base, fontSize=9, leading=13, textColor=colors.HexColor("#51565d")),
        "cell": ParagraphStyle("cell", parent=base, fontSize=9, leading=12.5),
        "caption": ParagraphStyle("caption", parent=base, fontSize=9, alignment=TA_CENTER, spaceAfter=8),
    }


def to_pdf(blocks: list[Block], title: str) -> bytes:
    """The blocks as an A4 PDF."""
    styles = _styles()
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm, bottomMargin=16 * mm,
        title=title, author="民声政务消息平台",
    )  # fmt: skip
    story: list[object] = [Paragraph(escape(title), styles["title"])]
    for block in blocks:
        if isinstance(block, Heading):
            story.append(Paragraph(escape(block.text), styles["h1" if block.level == 1 else "h2"]))
        elif isinstance(block, Para):
            story.append(Paragraph(escape(block.text), styles["small" if block.small else "body"]))
        elif isinstance(block, Table):
            story.append(_table(block, doc.width, styles["cell"]))
            story.append(Spacer(1, 6))
        elif isinstance(block, Chart):
            image = Image(io.BytesIO(block.png))
            scale = doc.width * block.width / image.imageWidth
            image.drawWidth, image.drawHeight = image.imageWidth * scale, image.imageHeight * scale
            story += [image, Paragraph(escape(block.caption), styles["caption"])]
    doc.build(story, onFirstPage=_footer, onLaterPages=_footer)
    return out.getvalue()


def _table(block: Table, width: float, style: ParagraphStyle) -> PdfTable:
    total = sum(block.widths)
    rows = [[Paragraph(escape(cell), style) for cell in row] for row in (block.header, *block.rows)]
    table = PdfTable(rows, colWidths=[width * w / total for w in block.widths], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f3f4f6")),
                ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#c9cdd4")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def _footer(canvas: object, doc: SimpleDocTemplate) -> None:
    canvas.saveState()  # type: ignore[attr-defined]
    canvas.setFont(FONT, 8)  # type: ignore[attr-defined]
    canvas.drawCentredString(A4[0] / 2, 9 * mm, f"第 {doc.page} 页")  # type: ignore[attr-defined]
    canvas.restoreState()  # type: ignore[attr-defined]
