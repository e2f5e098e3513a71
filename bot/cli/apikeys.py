"""``api-key``: keys for Open311 clients (create prints the key once; list; revoke).

``create`` prints what the key is for, then the key alone on its last line — the only time it is shown (only its
SHA-256 is stored), so a script can take it with ``tail -n 1``. Creating and revoking are audited (source ``cli``).
"""

from __future__ import annotations

import click
from flask.cli import AppGroup

from bot.console.audit import record
from bot.services import services
from cases.open311 import ApiKeyError, create_key, list_keys, revoke_key


@click.group("api-key", cls=AppGroup)
def api_key() -> None:
    """Keys of Open311 GeoReport v2 clients (city apps, FixMyStreet)."""


@api_key.command("create")
@click.option("--name", required=True, help="Who uses the key, e.g. the app's name (shown in the console).")
@click.option("--as", "by", default="cli", show_default=True, help="Who creates it, for the audit log.")
def create_cmd(name: str, by: str) -> None:
    """Create a key; it is printed once, alone on the last line."""
    with services().sessions() as session:
        try:
            row, key = create_key(session, name, by)
        except ApiKeyError as exc:
            raise click.UsageError(str(exc)) from None
        record(session, by, "apikey.create", f"接口密钥#{row.id}", row.name, "cli")
        session.commit()
        click.echo(f"API key #{row.id} for {row.name} (prefix {row.prefix}); store it now, it is not shown again:")
        click.echo(key)


@api_key.command("list")
def list_cmd() -> None:
    """Every key: id, prefix, name, created, last used, revoked."""
    with services().sessions() as session:
        for row in list_keys(session):
            stamps = [
                f"created {row.created_at:%Y-%m-%d %H:%M}Z by {row.created_by or '-'}",
                f"last used {row.last_used_at:%Y-%m-%d %H:%M}Z" if row.last_used_at else "never used",
                f"REVOKED {row.revoked_at:%Y-%m-%d %H:%M}Z by {row.revoked_by}" if row.revoked_at else "active",
            ]
            click.echo(f"{row.id}\t{row.prefix}…\t{row.name}\t" + "\t".join(stamps))


@api_key.command("revoke")
@click.argument("key_id", type=int)
@click.option("--as", "by", default="cli", show_default=True, help="Who revokes it, for the audit log.")
def revoke_cmd(key_id: int, by: str) -> None:
    """Revoke a key at once: its next request is refused (403)."""
    with services().sessions() as session:
        try:
            row = revoke_key(session, key_id, by)
        except ApiKeyError as exc:
            raise click.UsageError(str(exc)) from None
        record(session, by, "apikey.revoke", f"接口密钥#{row.id}", row.name, "cli")
        session.commit()
    click.echo(f"API key #{row.id} ({row.name}) revoked")


COMMANDS: list[click.Command] = [api_key]
