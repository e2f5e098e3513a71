"""A report as DOCX (python-docx): headings, paragraphs, tables and charts, the East Asian font set explicitly.

Word picks the font of Chinese characters from the ``w:eastAsia`` attribute, not from the font name; without it
a document opened on a machine set to English shows Chinese in a fallback face.
"""

from __future__ import annotations

import io

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor

from bot.reports.content import Block, Chart, Heading, Para, Table

EAST_ASIA = "微软雅黑"
TEXT_WIDTH_CM = 16.0


def _east_asian(style: object) -> None:
    font = style.font  # type: ignore[attr-defined]
    font.name = EAST_ASIA
    style.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), EAST_ASIA)  # type: ignore[attr-defined]


def to_docx(blocks: list[Block], title: str) -> bytes:
    """The blocks as a DOCX document."""
    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    section.left_margin = section.right_margin = Cm(2.5)
    for name in ("Normal", "Title", "Heading 1", "Heading 2", "Caption", "Table Grid"):
        _east_asian(doc.styles[name])
    doc.styles["Normal"].font.size = Pt(10.5)
    doc.core_properties.title = title
    doc.core_properties.author = "民声政务消息平台"
    heading = doc.add_heading(title, level=0)
    heading.alignment = WD_ALIGN_PARAGRAPH.CENTER
    for block in blocks:
        if isinstance(block, Heading):
            doc.add_heading(block.text, level=block.level)
        elif isinstance(block, Para):
            paragraph = doc.add_paragraph(block.text)
            if block.small:
                for run in paragraph.runs:
                    run.font.size = Pt(9)
                    run.font.color.rgb = RGBColor(0x51, 0x56, 0x5D)
        elif isinstance(block, Table):
            _table(doc, block)
        elif isinstance(block, Chart):
            doc.add_picture(io.BytesIO(block.png), width=Cm(TEXT_WIDTH_CM * block.width))
            doc.paragraphs[-1].alignment = WD_ALIGN_PARAGRAPH.CENTER
            caption = doc.add_paragraph(block.caption, style="Caption")
            caption.alignment = WD_ALIGN_PARAGRAPH.CENTER
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def _table(doc: object, block: Table) -> None:
    table = doc.add_table(rows=1, cols=len(block.header))  # type: ignore[attr-defined]
    table.style = "Table Grid"
    total = sum(block.widths)
    for cell, text in zip(table.rows[0].cells, block.header, strict=True):
        cell.text = text
        for run in cell.paragraphs[0].runs:
            run.font.bold = True
    for row in block.rows:
        cells = table.add_row().cells
        for cell, text in zip(cells, row, strict=True):
            cell.text = text
    for i, width in enumerate(block.widths):
        for cell in table.columns[i].cells:
            cell.width = Cm(TEXT_WIDTH_CM * width / total)
    doc.add_paragraph()  # type: ignore[attr-defined]
