"""Console accounts from a shell: ``create-user`` and ``ensure-admin``.

Passwords come from stdin (never from the command line, where ``ps`` and shell history see them).
"""

from __future__ import annotations

import secrets
import sys

import click
from flask.cli import with_appcontext
from sqlalchemy import func, select

from bot.services import services
from models import ROLES, User


@click.command("create-user")
@click.option("--username", required=True)
@click.option("--role", "roles", multiple=True, required=True, type=click.Choice(ROLES), help="Repeat for several.")
@click.option("--display-name", default="")
@with_appcontext
def create_user_cmd(username: str, roles: tuple[str, ...], display_name: str) -> None:
    """Create a console account; the password is read from stdin (one line)."""
    from bot.console.auth import AccountError, create_user

    password = sys.stdin.readline().rstrip("\r\n")
    with services().sessions() as session:
        try:
            create_user(session, username, password, list(roles), by="cli", display_name=display_name)
        except AccountError as exc:
            click.echo(f"create-user: {exc}", err=True)
            sys.exit(1)
        session.commit()
    click.echo(f"user {username} created with role(s) {', '.join(roles)}")


@click.command("ensure-admin")
@with_appcontext
def ensure_admin_cmd() -> None:
    """Create a first admin account with a random password if there are no accounts yet (make run)."""
    from bot.console.auth import create_user

    with services().sessions() as session:
        if session.scalar(select(func.count()).select_from(User)):
            return
        password = secrets.token_urlsafe(12)
        create_user(session, "admin", password, ["admin"], by="make run", display_name="管理员")
        session.commit()
    click.echo(
        "\n  A first console account was created (shown once; change it after signing in):\n"
        f"    用户名 admin    密码 {password}\n"
        "  Add colleagues on the 账号 page or with: python -m bot create-user --username NAME --role operator\n"
    )


COMMANDS = (create_user_cmd, ensure_admin_cmd)
