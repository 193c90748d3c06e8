"""A deployment shaped unlike the demo, four simulated weeks through the real domain code.

Two agents with other names and categories, JSON outputs, one agent that never asks for an
approval, two reviewers (tests/support/deployment.py). Planted items must come from this
deployment's own traffic, be spread over minutes into session like real work, and pass the
stealth audit read back through the real audit query.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from scipy.stats import ks_2samp
from sqlmodel import SQLModel, select

from reviewq.cli import cli
from reviewq.db import Database
from reviewq.models import Decision, Injection, InjectionKind, Item
from reviewq.stats.stealth_audit import TARGET_AUC, run_audit
from tests.conftest import BACKENDS, make_test_settings
from tests.support.deployment import START, simulate
from tests.support.postgres import postgres_url_for_schema, require_postgres

WEEKS = 4
END = START + timedelta(weeks=WEEKS)


@pytest.fixture(scope="module", params=BACKENDS)
def simulated(request, tmp_path_factory):
    """The four simulated weeks, once per backend for the whole module."""
    schema = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('deployment') / 'deployment.db'}"
    else:
        admin = require_postgres()
        schema = f"rqt_{uuid.uuid4().hex[:12]}"
        engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        url = postgres_url_for_schema(admin, schema)
    # Sampling below 1 fills the reservoir; a richer budget than the default gives the audit power.
    settings = make_test_settings(url, sampling={"default_rate": 0.4},
                                  canaries={"per_reviewer_per_week": 12, "controls_per_reviewer_per_week": 8})
    database = Database.from_settings(settings)
    SQLModel.metadata.create_all(database.engine)
    world = simulate(database, settings, weeks=WEEKS)
    yield database, settings, world
    database.dispose()
    if schema is not None:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        engine.dispose()


def _served(session):
    """(item, injection or None, decision) for every first decision on an item."""
    return session.exec(
        select(Item, Injection, Decision)
        .join(Decision, Decision.item_id == Item.id)
        .join(Injection, Injection.item_id == Item.id, isouter=True)
        .order_by(Decision.id)
    ).all()


def test_every_planted_item_comes_from_this_deployments_traffic(simulated):
    """Each planted item's agent, category and kind occur in real traffic; approvals only from the agent asking."""
    database, _settings, _world = simulated
    with database.session_scope(readonly=True) as s:
        rows = _served(s)
        planted = [(i, inj) for i, inj, _d in rows if inj is not None]
        real = {(i.agent, i.category, i.kind) for i, inj, _d in rows if inj is None}
        assert len(planted) >= 100, len(planted)
        assert {(i.agent, i.category, i.kind) for i, _ in planted} <= real
        assert not [i for i, _ in planted if i.kind.value == "approval" and i.agent == "acme-helpdesk"]
        assert {inj.source.value for _, inj in planted} >= {"projection", "control"}
        assert sum(inj.kind == InjectionKind.CONTROL for _, inj in planted) >= 30
        for item, _inj in planted:
            assert item.token_id is None
            if item.kind.value == "approval":
                assert item.category == item.payload["intent"]
                assert (item.deadline - item.created_at).total_seconds() in (3600, 7200)


def test_planted_items_spread_over_minutes_into_session_like_real_work(simulated):
    """A two-sample Kolmogorov-Smirnov test of minutes into session, planted vs real, does not reject at 1%."""
    database, _settings, _world = simulated
    reviewers = {u.id for u in _world.reviewers}
    with database.session_scope(readonly=True) as s:
        rows = [(inj, d) for _i, inj, d in _served(s) if d.reviewer_id in reviewers]
        planted = [d.minutes_into_session for inj, d in rows if inj is not None and not inj.drill]
        real = [d.minutes_into_session for inj, d in rows if inj is None]
    assert len(planted) >= 100 and len(real) >= 1000
    result = ks_2samp(planted, real)
    assert result.pvalue >= 0.01, (result, sum(planted) / len(planted), sum(real) / len(real))


def test_the_stealth_audit_cannot_tell_planted_from_real(simulated):
    """The cross-validated classifier over the reviewer view scores AUC at most 0.55, and no template is flagged."""
    database, _settings, _world = simulated
    with database.session_scope(readonly=True) as s:
        audit = run_audit(session=s, now=END, weeks=WEEKS)
    assert audit.n_planted >= 100 and audit.auc is not None
    assert audit.auc <= TARGET_AUC, (audit.message, audit.tells, audit.by_template)
    assert not [p for p in audit.by_template if p.flagged], audit.by_template
    assert {p.name for p in audit.by_source} >= {"projection", "control"}


def test_no_real_item_went_unreviewed_because_of_a_copy(simulated):
    """Every real item whose copy stood in for it was put back and is still queued or was decided by someone."""
    database, _settings, _world = simulated
    with database.session_scope(readonly=True) as s:
        sources = s.exec(select(Injection.source_item_id).where(Injection.source_item_id.is_not(None))).all()
        statuses = {i.status.value for i in s.exec(select(Item).where(Item.id.in_(sources))).all()}
        assert statuses <= {"decided"}  # item sources are decided items of other reviewers, never live work
        reviewed = s.exec(select(sa.func.count(sa.distinct(Decision.item_id)))).one()
        assert reviewed >= 1500


def test_audit_command_reads_the_same_database(simulated, monkeypatch):
    """`reviewq canaries audit` prints the AUC, the sources and the tells for this database."""
    database, settings, _world = simulated
    monkeypatch.setenv("REVIEWQ_DATABASE_URL", settings.database.url)
    monkeypatch.setenv("REVIEWQ_SERVER_MODE", "test")
    result = CliRunner().invoke(cli, ["canaries", "audit", "--weeks", "52"])
    assert "planted and" in result.output and "by source:" in result.output, result.output
    assert "strongest single tells" in result.output
