"""`reviewq token ...`: bearer tokens for agents."""

from __future__ import annotations

import click

from reviewq.cli.common import open_database
from reviewq.domain.tokens import create_token, list_tokens, revoke_token
from reviewq.models import ALL_SCOPES, utcnow


@click.group("token")
def token_group() -> None:
    """Manage agent API tokens."""


@token_group.command("create")
@click.argument("agent")
@click.option(
    "--scopes",
    default=",".join(ALL_SCOPES),
    show_default=True,
    help=f"Comma-separated scopes from: {', '.join(ALL_SCOPES)}.",
)
def create(agent: str, scopes: str) -> None:
    """Create a token for AGENT. The token and webhook secret are shown once, here."""
    database = open_database()
    try:
        with database.session_scope() as session:
            issued = create_token(session=session, agent=agent, scopes=scopes, now=utcnow(),
                                  actor="system:cli")
            token_id, token_scopes = issued.token.id, issued.token.scopes
        click.echo(f"token id:        {token_id}")
        click.echo(f"agent:           {agent}")
        click.echo(f"scopes:          {token_scopes}")
        click.echo(f"token:           {issued.plaintext}")
        click.echo(f"webhook secret:  {issued.webhook_secret}")
        click.echo("Store both now: they are not shown again.", err=True)
    finally:
        database.dispose()


@token_group.command("list")
def list_() -> None:
    """List tokens (never their secrets)."""
    database = open_database()
    try:
        with database.session_scope(readonly=True) as session:
            for t in list_tokens(session=session):
                state = "revoked" if t.revoked_at else "live"
                used = t.last_used_at.isoformat(timespec="seconds") if t.last_used_at else "never"
                click.echo(f"{t.id:4} {t.prefix}…  {t.agent:20} {state:8} last used {used}  [{t.scopes}]")
    finally:
        database.dispose()


@token_group.command("revoke")
@click.argument("token_id", type=int)
def revoke(token_id: int) -> None:
    """Revoke token TOKEN_ID: its agent gets 401 from then on."""
    database = open_database()
    try:
        with database.session_scope() as session:
            token = revoke_token(session=session, token_id=token_id, now=utcnow(), actor="system:cli")
            click.echo(f"revoked token {token.id} of {token.agent}")
    finally:
        database.dispose()
