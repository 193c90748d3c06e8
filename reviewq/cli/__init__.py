"""The `reviewq` command line. Each command group lives in its own module."""

from __future__ import annotations

import sys

import click

from reviewq.cli.bench import bench_command
from reviewq.cli.canaries import canaries_group
from reviewq.cli.common import run_guarded
from reviewq.cli.db import db_group
from reviewq.cli.demo import demo_command
from reviewq.cli.export import export_command
from reviewq.cli.scheduler import scheduler_command
from reviewq.cli.serve import serve_command
from reviewq.cli.tokens import token_group
from reviewq.cli.users import user_group


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="reviewq")
def cli() -> None:
    """reviewq: a human-review queue for AI agents, with canaries that measure the reviewers."""


cli.add_command(db_group)
cli.add_command(user_group)
cli.add_command(token_group)
cli.add_command(serve_command)
cli.add_command(scheduler_command)
cli.add_command(canaries_group)
cli.add_command(export_command)
cli.add_command(demo_command)
cli.add_command(bench_command)


def main(argv: list[str] | None = None) -> int:
    return run_guarded(lambda: cli.main(args=argv, prog_name="reviewq", standalone_mode=False))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
