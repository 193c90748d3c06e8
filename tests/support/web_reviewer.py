"""A reviewer working the real web queue over HTTP: log in through the form, claim, decide."""

from __future__ import annotations

import re
import time

import requests

from tests.factories import PASSWORD

_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


class WebReviewer:
    """One logged-in browser-less session of `name` against a live server at `base_url`."""

    def __init__(self, base_url: str, name: str, password: str = PASSWORD):
        self.base_url, self.http = base_url.rstrip("/"), requests.Session()
        token = self._csrf("/login")
        r = self.http.post(f"{self.base_url}/login", data={"name": name, "password": password, "csrf_token": token},
                           timeout=10, allow_redirects=False)
        assert r.status_code in (302, 303), f"login failed: {r.status_code}"
        self.csrf = self._csrf("/queue")

    def _csrf(self, path: str) -> str:
        match = _META.search(self.http.get(f"{self.base_url}{path}", timeout=10).text)
        assert match, f"no csrf-token on {path}"
        return match.group(1)

    def _post(self, path: str, body: dict | None = None) -> dict:
        r = self.http.post(f"{self.base_url}{path}", json=body or {}, timeout=10,
                           headers={"X-CSRFToken": self.csrf, "Accept": "application/json"})
        assert r.status_code == 200, f"{path}: {r.status_code} {r.text[:300]}"
        return r.json()

    def next_item(self, timeout: float = 30.0) -> dict:
        """The next item the queue hands this reviewer, polling (bounded) until one is due."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            item = self._post("/queue/next")["item"]
            if item is not None:
                return item
            time.sleep(0.1)
        raise TimeoutError("nothing arrived in the queue")

    def decide(self, item: dict, verdict: str, *, reason: str | None = None, note: str = "") -> dict:
        body = {"verdict": verdict, "note": note, "active_ms": 1500}
        if verdict == "reject":
            body["reason"] = reason or "policy_violation"
        return self._post(f"/queue/items/{item['id']}/decide", body)


class BackgroundReview:
    """A reviewer thread deciding the next `count` items with `choose(item) -> (verdict, note)`."""

    def __init__(self, reviewer: WebReviewer, count: int, choose):
        import threading

        self.seen: list[dict] = []
        self.errors: list[BaseException] = []

        def run():
            try:
                for _ in range(count):
                    item = reviewer.next_item(timeout=60)
                    self.seen.append(item)
                    verdict, note = choose(item)
                    reviewer.decide(item, verdict, note=note)
            except BaseException as exc:  # reported by join()
                self.errors.append(exc)

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def join(self, timeout: float = 90.0) -> list[dict]:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the reviewer thread did not finish"
        if self.errors:
            raise self.errors[0]
        return self.seen
