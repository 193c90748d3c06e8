"""`python -m reviewq.serving.master FD`: the process `reviewq serve` execs into.

FD is an inherited file holding the ServeSpec (reviewq.server). This module imports only what
gunicorn's master needs; the workers it forks parse the settings and build the app.
"""

from __future__ import annotations

import sys

from reviewq.server import read_spec, run_master


def main(argv: list[str]) -> None:
    if len(argv) != 1 or not argv[0].isdigit():
        sys.exit("usage: python -m reviewq.serving.master FD (started by `reviewq serve`)")
    run_master(read_spec(int(argv[0])))


if __name__ == "__main__":
    main(sys.argv[1:])
