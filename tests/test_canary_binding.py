"""Library entries bind to this deployment's live traffic only where they fit, and say why not elsewhere."""

from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest
from click.testing import CliRunner

from reviewq.canaries.binding import deployment_profile, fit_library
from reviewq.canaries.library import Entry, Library, load_library
from reviewq.cli import cli
from reviewq.domain import projection
from reviewq.domain.canary_rate import boost_rate
from reviewq.domain.items import enqueue
from reviewq.models import Injection, InjectionSource, ItemCreate, ItemKind, utcnow
from tests.factories import make_user


def acme_output(i: int) -> ItemCreate:
    """acme-helpdesk's traffic: JSON answers with a trace, in categories the shipped library never heard of."""
    return ItemCreate(kind=ItemKind.OUTPUT, trace_id=f"acme-{i:05d}", agent="acme-helpdesk",
                      category="returns" if i % 2 else "orders",
                      payload={"input": f"Where is order ACM-{100000 + i}? I am waiting for it since Monday.",
                               "output": {"reply": f"Order ACM-{100000 + i} is on its way and will arrive soon.",
                                          "order_id": f"ACM-{100000 + i}"},
                               "trace": [{"tool": "orders.lookup", "args": {"order_id": f"ACM-{100000 + i}"}}]})


ACME_ENTRY = Entry(
    id="acme-wrong-order", bucket="hallucinated_fact", category="orders", categories=("orders", "returns"),
    kind="output", agent="", explanation="The reply names order {wrong}; the customer asked about {order}.",
    vars={"order": "bothify:ACM-######", "wrong": "bothify:ACM-######"},
    fault={"type": "contradiction", "truth": "{order}", "claim": "{wrong}", "truth_in": "input",
           "claim_in": "output"},
    payload={"input": "Where is order {order}? I am waiting for it since Monday.",
             "output": {"reply": "Order {wrong} is on its way and will arrive soon.", "order_id": "{wrong}"},
             "trace": [{"tool": "orders.lookup", "args": {"order_id": "{wrong}"}}]},
)


@pytest.fixture
def library(settings):
    return load_library(settings.canary_library_path)


def test_the_shipped_library_does_not_bind_to_a_deployment_unlike_the_demo(session, library, now):
    """With only acme-helpdesk's JSON outputs live, no shipped entry is usable, and each says why."""
    for i in range(30):
        enqueue(session=session, data=acme_output(i), now=now - timedelta(hours=i))
    fits = fit_library(library, deployment_profile(session=session, now=now))
    assert not [f.entry.id for f in fits if f.slots]
    reasons = {f.entry.id: f.reasons for f in fits}
    approval = next(e for e in library.entries if e.kind == "approval")
    assert reasons[approval.id] == ("this deployment sends no approvals",)
    assert all(reasons[e.id] for e in library.entries)  # every unusable entry has a reason


def test_an_entry_written_for_the_deployment_binds_and_is_rendered_onto_its_live_agent(session, settings, now):
    """An entry that fits acme's shape is planted (as a fill-in) under acme's agent and the served category."""
    for i in range(30):
        enqueue(session=session, data=acme_output(i), now=now - timedelta(hours=i))
    lib = Library(entries=(ACME_ENTRY,))
    [fit] = fit_library(lib, deployment_profile(session=session, now=now))
    assert {(s.agent, s.category) for s in fit.slots} == {("acme-helpdesk", "orders"), ("acme-helpdesk", "returns")}
    rita = make_user(session, "rita", now=now)
    boost_rate(session=session, reviewer_id=rita.id, probability=0.5, hours=1, drill=False, reason="",
               created_by="lena", now=now)

    class Always(random.Random):
        def random(self) -> float:
            return 0.0

    copy = projection.claim(session=session, reviewer_id=rita.id, now=now, settings=settings, rng=Always(1),
                            library=lib)
    injection = session.exec(Injection.__table__.select().where(Injection.item_id == copy.id)).one()
    assert injection.source == InjectionSource.LIBRARY.value and injection.library_entry_id == "acme-wrong-order"
    assert copy.agent == "acme-helpdesk" and copy.category in ("orders", "returns")
    assert json.dumps(copy.payload).count("ACM-") >= 3


def test_a_json_entry_with_other_keys_or_a_text_entry_does_not_bind(session, now):
    """Keys, output type and trace presence must match the live slot, or the entry is reported unusable."""
    for i in range(30):
        enqueue(session=session, data=acme_output(i), now=now - timedelta(hours=i))
    other_keys = Entry(**{**ACME_ENTRY.__dict__, "id": "other-keys",
                          "payload": {**ACME_ENTRY.payload, "output": {"answer": "x {wrong}", "id": "{wrong}"}}})
    text = Entry(**{**ACME_ENTRY.__dict__, "id": "as-text",
                    "payload": {**ACME_ENTRY.payload, "output": "Order {wrong} is on its way."}})
    no_trace = Entry(**{**ACME_ENTRY.__dict__, "id": "no-trace",
                        "payload": {k: v for k, v in ACME_ENTRY.payload.items() if k != "trace"}})
    fits = {f.entry.id: f for f in fit_library(Library(entries=(other_keys, text, no_trace)),
                                               deployment_profile(session=session, now=now))}
    assert not any(f.slots for f in fits.values())
    assert "JSON keys" in fits["other-keys"].reasons[0]
    assert "outputs are json" in fits["as-text"].reasons[0]
    assert "`trace`" in fits["no-trace"].reasons[0]


def test_fit_command_reports_usable_and_unusable_entries(database, settings, monkeypatch):
    """`reviewq canaries fit` lists the live slots and, for every entry, where it binds or why not."""
    now = utcnow()
    with database.session_scope() as s:
        for i in range(10):
            enqueue(session=s, data=acme_output(i), now=now - timedelta(hours=i))
    monkeypatch.setenv("REVIEWQ_DATABASE_URL", settings.database.url)
    monkeypatch.setenv("REVIEWQ_SERVER_MODE", "test")
    result = CliRunner().invoke(cli, ["canaries", "fit"])
    assert result.exit_code == 0, result.output
    assert "acme-helpdesk/orders (output)" in result.output
    assert "unusable hf-support-refund-amount" in result.output
    assert "0 of" in result.output and "entries usable here" in result.output
