"""Shared by the examples: where reviewq is and which agent token to use (from the environment)."""

from __future__ import annotations

import os
import sys

from reviewq.client import ReviewQ

URL = os.environ.get("REVIEWQ_URL", "http://127.0.0.1:8000")


def token() -> str:
    value = os.environ.get("REVIEWQ_TOKEN")
    if not value:
        sys.exit("set REVIEWQ_TOKEN to an agent token (reviewq token create my-agent)")
    return value


def client() -> ReviewQ:
    return ReviewQ(URL, token(), actor="jane@example.com")
