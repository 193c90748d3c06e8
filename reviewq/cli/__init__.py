"""The `reviewq` command line. Each command group lives in its own module.

Command modules are imported only when their command runs: `reviewq serve` becomes the
gunicorn master, and a master that imported every command (the ORM, the canary library, the
demo) would carry all of it in memory for the server's whole life.
"""

from __future__ import annotations

import importlib
import sys

import click

from reviewq.cli.common import run_guarded

# command name -> (module, attribute), in the order `reviewq --help` lists them
COMMANDS = {
    "bench": ("reviewq.cli.bench", "bench_command"),
    "canaries": ("reviewq.cli.canaries", "canaries_group"),
    "db": ("reviewq.cli.db", "db_group"),
    "demo": ("reviewq.cli.demo", "demo_command"),
    "export": ("reviewq.cli.export", "export_command"),
    "mcp": ("reviewq.cli.mcp", "mcp_group"),
    "gold": ("reviewq.cli.gold", "gold_group"),
    "scheduler": ("reviewq.cli.scheduler", "scheduler_command"),
    "serve": ("reviewq.cli.serve", "serve_command"),
    "token": ("reviewq.cli.tokens", "token_group"),
    "user": ("reviewq.cli.users", "user_group"),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attribute = target
        return getattr(importlib.import_module(module), attribute)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="reviewq")
def cli() -> None:
    """reviewq: a human-review queue for AI agents, with canaries that measure the reviewers."""


def main(argv: list[str] | None = None) -> int:
    return run_guarded(lambda: cli.main(args=argv, prog_name="reviewq", standalone_mode=False))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
