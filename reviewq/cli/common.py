"""What every command shares: settings, sessions, and turning errors into one clear line."""

from __future__ import annotations

import sys
from collections.abc import Callable

import click
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError

from reviewq.config import ConfigError, Settings, load_settings
from reviewq.db import Database
from reviewq.domain.errors import DomainError


class CommandFailed(Exception):
    """A command that cannot do what it was asked; its message is the whole story."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


def settings_from_context() -> Settings:
    ctx = click.get_current_context()
    root = ctx.find_root()
    cached = root.meta.get("reviewq.settings")
    if cached is None:
        cached = load_settings()
        root.meta["reviewq.settings"] = cached
    return cached


def open_database() -> Database:
    return Database.from_settings(settings_from_context())


def run_guarded(call: Callable[[], object]) -> int:
    """Run the CLI; config, domain and connection errors become `reviewq: ...` and an exit code."""
    try:
        result = call()
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 1
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except ConfigError as exc:
        click.echo(f"reviewq: config error: {exc}", err=True)
        return 2
    except DomainError as exc:
        where = f" ({exc.field})" if exc.field else ""
        click.echo(f"reviewq: {exc.message}{where}", err=True)
        return 1
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "input"
        click.echo(f"reviewq: {where}: {first['msg']}", err=True)
        return 1
    except CommandFailed as exc:
        click.echo(f"reviewq: {exc}", err=True)
        return exc.exit_code
    except OperationalError as exc:
        first = str(exc.orig or exc).strip().splitlines()[0]
        click.echo(f"reviewq: database error: {first}", err=True)
        return 1
    except KeyboardInterrupt:
        return 130
    return result if isinstance(result, int) else 0


def echo_err(message: str) -> None:
    click.echo(message, err=True)


def stdin_is_tty() -> bool:
    return sys.stdin.isatty()
