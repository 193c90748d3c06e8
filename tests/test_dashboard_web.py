"""Dashboard pages and exports over HTTP: who may open them, and what the downloads hold."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from reviewq.models import Decision, InjectionKind, Role, Verdict
from tests.factories import make_user
from tests.support.dashboard_seed import review_one
from tests.support.web import login

RANGE = "from=2026-10-01&to=2026-11-02"
ROUTES = [
    f"/dashboard?{RANGE}",
    f"/dashboard/reviewers/rita?{RANGE}",
    f"/dashboard/export/metrics.csv?{RANGE}",
    f"/dashboard/export/metrics.json?{RANGE}",
    f"/dashboard/export/decisions.csv?{RANGE}",
    f"/dashboard/export/decisions.jsonl?{RANGE}",
]


@pytest.fixture
def seeded(database, now, settings):
    """rita reviews canaries, controls and real items (one with a formula-like note); a lead and an admin."""
    with database.session_scope() as s:
        rita = make_user(s, "rita", now=now)
        make_user(s, "lena", Role.LEAD, now=now)
        make_user(s, "ada", Role.ADMIN, now=now)
        t = now - timedelta(days=2)
        for i in range(14):
            kind = (InjectionKind.CANARY, InjectionKind.CONTROL, None)[i % 3]
            verdict = Verdict.REJECT if (kind == InjectionKind.CANARY and i % 2) else Verdict.APPROVE
            review_one(s, rita, verdict=verdict, now=t, active_s=3 + i, settings=settings, kind=kind,
                       bucket="hallucinated_fact" if kind == InjectionKind.CANARY else None)
            t += timedelta(seconds=30)
    return database


@pytest.mark.parametrize("route", ROUTES)
def test_route_by_role(client, seeded, route):
    """Anonymous users are sent to log in, reviewers get 403, leads and admins get 200."""
    r = client.get(route)
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    login(client, "rita")
    assert client.get(route).status_code == 403
    client.post("/logout", data={"csrf_token": _token(client)})
    for name in ("lena", "ada"):
        login(client, name)
        assert client.get(route).status_code == 200, name
        client.post("/logout", data={"csrf_token": _token(client)})


def _token(client):
    html = client.get(f"/dashboard?{RANGE}").get_data(as_text=True)
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    return match.group(1) if match else ""


def test_dashboard_page_passes_data_without_inline_script(client, seeded):
    """The page carries its chart data as a JSON block, loads plotly from this origin, and runs no inline script."""
    login(client, "lena")
    html = client.get(f"/dashboard?{RANGE}").get_data(as_text=True)
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S)
    for attrs, body in scripts:
        assert 'type="application/json"' in attrs or ("src=" in attrs and not body.strip())
    assert '/static/vendor/plotly.min.js"' in html and "cdn" not in html.lower()
    block = re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>', html, re.S).group(1)
    data = json.loads(block)
    rita = next(r for r in data["scoreboard"] if r["reviewer"] == "rita")
    assert (rita["canaries"], rita["caught"], rita["controls"]) == (5, 2, 5)
    assert 'id="chart-decay"' in html and "first 20 min" in html
    vendor = client.get("/static/vendor/plotly.min.js")
    assert vendor.status_code == 200 and b"plotly" in vendor.data[:200]


def test_exports_hold_the_same_numbers(client, seeded):
    """Metrics CSV/JSON match the page's data; raw decisions CSV/JSONL hold every decision once."""
    login(client, "lena")
    with seeded.session_scope(readonly=True) as s:
        n_decisions = s.execute(sa.select(sa.func.count()).select_from(Decision)).scalar_one()
    data = client.get(f"/dashboard?{RANGE}&format=json").get_json()
    r = client.get(f"/dashboard/export/metrics.json?{RANGE}")
    assert r.headers["Content-Disposition"].startswith("attachment;")
    assert json.loads(r.data)["scoreboard"] == data["scoreboard"]
    metrics_csv = client.get(f"/dashboard/export/metrics.csv?{RANGE}").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(metrics_csv)))
    rita = next(row for row in rows if row["reviewer"] == "rita")
    assert (rita["canaries"], rita["caught"], rita["decisions"]) == ("5", "2", "14")
    r = client.get(f"/dashboard/export/decisions.csv?{RANGE}")
    assert r.mimetype == "text/csv" and "attachment" in r.headers["Content-Disposition"]
    decisions = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert len(decisions) == n_decisions == 14
    assert sum(d["planted"] == "canary" for d in decisions) == 5
    lines = client.get(f"/dashboard/export/decisions.jsonl?{RANGE}").get_data(as_text=True).splitlines()
    assert len(lines) == 14 and json.loads(lines[0])["reviewer"] == "rita"
    empty = client.get("/dashboard/export/decisions.jsonl?from=2020-01-01&to=2020-01-02").get_data(as_text=True)
    assert empty == ""


def test_bad_filters_and_unknown_reviewer(client, seeded):
    """A malformed date is a 422 naming the field, an unknown reviewer a 404, an unknown format a 404."""
    login(client, "lena")
    r = client.get("/dashboard?from=yesterday", headers={"Accept": "application/json"})
    assert r.status_code == 422 and r.get_json()["error"]["field"] == "from"
    assert client.get("/dashboard?from=2026-11-02&to=2026-10-01").status_code == 422
    assert client.get("/dashboard/reviewers/nobody").status_code == 404
    assert client.get("/dashboard/export/metrics.xml").status_code == 404


def test_csv_cells_cannot_start_formulas():
    """Free text beginning with = + - @ is prefixed so a spreadsheet shows it, not runs it."""
    from reviewq.stats.export import to_csv

    text = "".join(to_csv([{"note": "=HYPERLINK(1)", "n": 3}], ("note", "n")))
    assert "'=HYPERLINK(1)" in text and ",3" in text


def test_cli_export_writes_decisions_and_metrics(seeded, settings, tmp_path, monkeypatch):
    """`reviewq export` writes every decision as JSONL and the scoreboard as CSV, like the download."""
    from reviewq.cli import main

    monkeypatch.setenv("REVIEWQ_DATABASE_URL", settings.database.url)
    monkeypatch.setenv("REVIEWQ_SERVER_MODE", "test")
    out = tmp_path / "d.jsonl"
    assert main(["export", "decisions", "--format", "jsonl", "--from", "2026-10-01", "--to", "2026-11-02",
                 "-o", str(out)]) == 0
    assert len(out.read_text().splitlines()) == 14
    metrics = tmp_path / "m.csv"
    assert main(["export", "metrics", "--from", "2026-10-01", "--to", "2026-11-02", "-o", str(metrics)]) == 0
    rita = next(r for r in csv.DictReader(metrics.open()) if r["reviewer"] == "rita")
    assert rita["canaries"] == "5"
    assert main(["export", "decisions", "--format", "json"]) != 0  # decisions come as csv or jsonl
