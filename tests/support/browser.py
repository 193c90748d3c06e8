"""Launching Debian's Chromium through Playwright (never a downloaded browser)."""

from __future__ import annotations

import os
import random
import shutil

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def require_chromium() -> str:
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        message = f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + "; under CI=true this is a failure, not a skip")
        pytest.skip(message)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.fail("playwright is not installed; pip install -e '.[test]'")
    return CHROMIUM


class AssignedFirst(random.Random):
    """A claim rng that always offers a reviewer's assigned (planted) items first, for scripted walks.

    random() is 0.0: the assigned item wins the interleave draw; a reviewer with no canary budget
    (rate 0) is still never served a projected copy.
    """

    def random(self) -> float:
        return 0.0
