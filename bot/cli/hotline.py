"""``hotline import``: 12345 hotline tickets (CSV or XLSX) become cases of channel "hotline".

The same import as the console's 热线导入 page (``bot.console.pages_hotline.import_file``): every good row is
filed through the pipeline and committed on its own, a ticket imported before is reported, not filed again, and
each rejected row is printed with its row number and reason (phones masked). Exit status 0 when the file was
read and at least one row was imported (or every ticket already had its case), 1 when no row could be imported
or the import was cut short, 2 when the file itself was refused (nothing imported).
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from bot.hotline import import_file, summary_line
from bot.services import services
from cases import hotline


@click.group("hotline", cls=AppGroup)
def group() -> None:
    """12345 hotline tickets."""


@group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the file and say what would be imported; file nothing.")
@click.option(
    "--rejected-out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Also write the rejected rows (row, ticket, masked phone, reason) to this CSV file.",
)
@click.option("--as", "who", default="cli", show_default=True, help="Who imports (written to the audit log).")
def import_cmd(path: Path, dry_run: bool, rejected_out: Path | None, who: str) -> None:
    """Import a hotline export (CSV in UTF-8 or GB18030, or XLSX) as cases of channel "hotline"."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    size = path.stat().st_size
    # Read one byte past the cap: a larger file is refused by the reader without being read whole.
    with path.open("rb") as handle:
        data = handle.read(min(size, hotline.CLI_MAX_FILE_BYTES + 1))
    action = "hotline.check" if dry_run else "hotline.import"
    try:
        report = import_file(app, data, path.name, dry_run=dry_run, large=True)
    except hotline.HotlineFileError as exc:
        _audit(who, action, path.name, f"文件未导入：{exc}")
        click.echo(f"{path.name}: not imported: {exc}", err=True)
        sys.exit(2)
    _audit(who, action, path.name, summary_line(report))
    verb = "would import" if dry_run else "imported"
    click.echo(
        f"{path.name}: {report.rows} rows; {verb} {len(report.imported)}, "
        f"already imported {len(report.already)}, rejected {len(report.rejected)}"
    )
    for item in report.rejected:
        click.echo(f"row {item.row}\t{item.ticket}\t{item.phone}\t{item.reason}")
    if rejected_out is not None:
        rejected_out.write_text(_rejected_csv(report.rejected), encoding="utf-8")
        click.echo(f"rejected rows written to {rejected_out}")
    if report.interrupted:
        click.echo(f"interrupted: {report.interrupted} ({report.not_tried} rows not tried)", err=True)
    sys.exit(0 if report.succeeded else 1)


def _rejected_csv(rejected: list[hotline.Rejected]) -> str:
    """The rejected rows for staff, in Chinese, UTF-8 with a BOM so that Excel opens it as such; phones masked."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(("行号", "工单编号", "来电号码", "原因"))
    writer.writerows((item.row, item.ticket, item.phone, item.reason) for item in rejected)
    return out.getvalue()


def _audit(who: str, action: str, target: str, detail: str) -> None:
    from bot.console.audit import record

    with services().sessions() as session:
        record(session, who.strip() or "cli", action, target, detail, "cli")
        session.commit()


COMMANDS = [group]
