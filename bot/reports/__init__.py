"""Reports for leaders as files: PDF (ReportLab) and DOCX (python-docx), with charts drawn by Matplotlib.

``render(report, "pdf" | "docx")`` turns a cases.report.Report (already masked) into the file's bytes. Both
formats draw the same blocks (content.py), so a PDF and a DOCX of one period say the same thing.
"""

from __future__ import annotations

from cases.report import Report

FORMATS = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


def render(report: Report, fmt: str) -> bytes:
    """The report as a ``fmt`` file (see :data:`FORMATS`)."""
    from bot.reports import content

    blocks = content.blocks(report)
    if fmt == "pdf":
        from bot.reports.pdf import to_pdf

        return to_pdf(blocks, report.title)
    if fmt == "docx":
        from bot.reports.word import to_docx

        return to_docx(blocks, report.title)
    raise ValueError(f"unknown report format {fmt!r}")
