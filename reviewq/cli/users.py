"""`reviewq user ...`: accounts for reviewers, leads and admins."""

from __future__ import annotations

import sys

import click

from reviewq.cli.common import CommandFailed, open_database
from reviewq.domain.users import create_user, get_user_by_name, set_password
from reviewq.models import Role, UserCreate, utcnow


@click.group("user")
def user_group() -> None:
    """Manage user accounts."""


@user_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice([r.value for r in Role]), default="reviewer", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def add(name: str, role: str, password_stdin: bool) -> None:
    """Create user NAME. The password is prompted for, or read with --password-stdin."""
    password = _read_password(password_stdin)
    database = open_database()
    try:
        with database.session_scope() as session:
            user = create_user(
                session=session,
                data=UserCreate(name=name, role=Role(role), password=password),
                now=utcnow(),
                actor="system:cli",
            )
            click.echo(f"created {user.role.value} {user.name!r} (id {user.id})")
    finally:
        database.dispose()


def _read_password(password_stdin: bool, prompt: str = "Password") -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if sys.stdin.isatty():
        return click.prompt(prompt, hide_input=True, confirmation_prompt=True)
    raise CommandFailed("no terminal to prompt for a password; use --password-stdin", 2)


@user_group.command("set-password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
def set_password_command(name: str, password_stdin: bool) -> None:
    """Set a new password for user NAME (prompted for, or read with --password-stdin)."""
    password = _read_password(password_stdin, "New password")
    database = open_database()
    try:
        with database.session_scope() as session:
            user = get_user_by_name(session=session, name=name)
            if user is None:
                raise CommandFailed(f"no user named {name!r} (see `reviewq user list`)", 1)
            set_password(session=session, user=user, password=password, now=utcnow(), actor="system:cli")
            click.echo(f"password changed for {user.role.value} {user.name!r}")
    finally:
        database.dispose()


@user_group.command("list")
def list_users() -> None:
    """List accounts."""
    from sqlmodel import select

    from reviewq.models import User

    database = open_database()
    try:
        with database.session_scope(readonly=True) as session:
            for user in session.exec(select(User).order_by(User.name)):
                state = "active" if user.active else "disabled"
                click.echo(f"{user.name:24} {user.role.value:9} {state}")
    finally:
        database.dispose()
