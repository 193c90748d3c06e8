"""`reviewq user ...`: accounts for reviewers, leads and admins."""

from __future__ import annotations

import sys

import click

from reviewq.cli.common import CommandFailed, open_database
from reviewq.domain.login_throttle import clear_lock
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


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    raise CommandFailed("no terminal to prompt for a password; use --password-stdin", 2)


def _existing(session, name: str):
    user = get_user_by_name(session=session, name=name)
    if user is None:
        raise CommandFailed(f"no user {name!r}", 1)
    return user


@user_group.command("password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
def password(name: str, password_stdin: bool) -> None:
    """Set a new password for NAME (e.g. a locked-out admin); every session of NAME ends."""
    new = _read_password(password_stdin)
    database = open_database()
    try:
        with database.session_scope() as session:
            set_password(session=session, user=_existing(session, name), password=new, now=utcnow(),
                         actor="system:cli")
        click.echo(f"password of {name!r} changed; their sessions have ended")
    finally:
        database.dispose()


@user_group.command("unlock")
@click.argument("name")
def unlock(name: str) -> None:
    """Clear NAME's login lock (set after too many failed logins)."""
    database = open_database()
    try:
        with database.session_scope() as session:
            cleared = clear_lock(session=session, name=name, now=utcnow(), actor="system:cli")
        click.echo(f"{name!r} can log in again" if cleared else f"{name!r} was not locked")
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
