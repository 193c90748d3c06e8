"""`reviewq canaries validate|list|inject`: the canary library and the weekly injection by hand."""

from __future__ import annotations

import random
from pathlib import Path

import click

from reviewq.cli.common import CommandFailed, open_database, settings_from_context


@click.group("canaries")
def canaries_group() -> None:
    """The canary library (canaries/*.toml) and the weekly injection."""


def _library_path(library: str | None) -> Path:
    return Path(library) if library else settings_from_context().canary_library_path


@canaries_group.command("validate")
@click.option("--library", type=click.Path(file_okay=False), help="Library folder (default: [canaries] library).")
def validate_command(library: str | None) -> None:
    """Check schema, unique ids, placeholders, payload shapes, and that every fault is really there."""
    from reviewq.canaries.library import LibraryError, validate_library

    path = _library_path(library)
    try:
        lib = validate_library(path)
    except LibraryError as exc:
        raise CommandFailed(f"canary library invalid: {exc}") from None
    click.echo(f"{path}: {len(lib.canaries)} canaries and {len(lib.controls)} controls, all valid")


@canaries_group.command("list")
@click.option("--library", type=click.Path(file_okay=False), help="Library folder (default: [canaries] library).")
def list_command(library: str | None) -> None:
    """One line per entry: id, bucket (or control), category, kind, agent."""
    from reviewq.canaries.library import LibraryError, load_library

    try:
        lib = load_library(_library_path(library))
    except LibraryError as exc:
        raise CommandFailed(f"canary library invalid: {exc}") from None
    for e in lib.entries:
        click.echo(f"{e.id:44} {e.bucket or 'control':18} {e.category:17} {e.kind:8} {e.agent}")


@canaries_group.command("inject")
@click.option("--now", "due_now", is_flag=True,
              help="Top up: add another week's budget now, even if this week was already budgeted.")
@click.option("--reviewer", "reviewers", multiple=True, help="Only this reviewer (repeatable).")
@click.option("--seed", type=int, help="Seed the random choices (for reproducible demos).")
def inject_command(due_now: bool, reviewers: tuple[str, ...], seed: int | None) -> None:
    """Draw this week's canary budgets by hand (the job the scheduler runs); projection spends them."""
    from reviewq.domain.injection import plan_week
    from reviewq.models import User, utcnow

    settings = settings_from_context()
    rng = random.Random(seed) if seed is not None else random.SystemRandom()
    database = open_database()
    try:
        with database.session_scope() as session:
            budgets = plan_week(session=session, settings=settings, now=utcnow(), rng=rng,
                                reviewer_names=list(reviewers) or None, top_up=due_now)
            lines = [f"  {session.get(User, b.reviewer_id).name}: {b.canaries} canaries, {b.controls} controls "
                     f"over about {b.expected_claims} claims" for b in budgets]
    finally:
        database.dispose()
    if not budgets:
        click.echo("nothing budgeted (no active reviewer, or this week already has budgets; --now tops up)")
        return
    click.echo(f"budgets for {len(budgets)} reviewer(s) this week; each claim may serve a planted copy:")
    click.echo("\n".join(lines))


@canaries_group.command("fit")
@click.option("--days", type=int, default=14, show_default=True, help="Recent traffic to profile.")
def fit_command(days: int) -> None:
    """Which library entries bind to this deployment's live traffic, and why the others do not."""
    from reviewq.canaries.binding import deployment_profile, fit_library
    from reviewq.canaries.library import LibraryError, load_library
    from reviewq.models import utcnow

    settings = settings_from_context()
    try:
        lib = load_library(settings.canary_library_path)
    except LibraryError as exc:
        raise CommandFailed(f"canary library invalid: {exc}") from None
    database = open_database()
    try:
        with database.session_scope(readonly=True) as session:
            profile = deployment_profile(session=session, now=utcnow(), days=days)
    finally:
        database.dispose()
    live = sorted(f"{a}/{c} ({k})" for a, c, k in profile.slots)
    click.echo(f"live traffic, last {days} days: {', '.join(live) or 'none'}")
    fits = fit_library(lib, profile)
    for fit in fits:
        if fit.slots:
            where = ", ".join(f"{s.agent}/{s.category}" for s in fit.slots)
            click.echo(f"usable   {fit.entry.id:44} -> {where}")
        else:
            click.echo(f"unusable {fit.entry.id:44} {fit.reasons[0] if fit.reasons else 'no live traffic'}")
    usable = sum(1 for f in fits if f.slots)
    click.echo(f"{usable} of {len(fits)} entries usable here; unusable ones are never planted")


@canaries_group.command("audit")
@click.option("--weeks", type=int, default=4, show_default=True, help="Served items of the last N weeks.")
def audit_command(weeks: int) -> None:
    """Can a classifier tell planted items from real ones by what reviewers see? (AUC, tells, flagged templates)"""
    from reviewq.models import utcnow
    from reviewq.stats.stealth_audit import FLAG_AUC, run_audit

    database = open_database()
    try:
        with database.session_scope(readonly=True) as session:
            audit = run_audit(session=session, now=utcnow(), weeks=weeks,
                              timezone=settings_from_context().canaries.timezone)
    finally:
        database.dispose()
    click.echo(f"{audit.n_planted} planted and {audit.n_real} real items served in the last {weeks} weeks")
    click.echo(audit.message)
    if audit.auc is None:
        return
    click.echo(f"logistic {audit.auc_logistic:.3f}, boosting {audit.auc_boosting:.3f}")
    click.echo("by source:")
    for part in audit.by_source:
        click.echo(f"  {part.name:12} n={part.n:<5} AUC {part.auc:.3f}" if part.auc is not None
                   else f"  {part.name:12} n={part.n:<5} too few")
    click.echo(f"by template (flagged above {FLAG_AUC}):")
    for part in audit.by_template:
        auc = f"{part.auc:.3f}" if part.auc is not None else "too few"
        flag = (f"  FLAGGED: reviewq canaries retire {part.key}" if part.key else "  FLAGGED: the confirmed-good "
                "pool differs from live traffic") if part.flagged else ""
        click.echo(f"  {part.name:44} n={part.n:<5} AUC {auc}{flag}")
    click.echo("strongest single tells (feature: its own AUC):")
    for name, auc in audit.tells:
        click.echo(f"  {name:40} {auc:.3f}")
    if audit.auc > 0.55:
        raise CommandFailed("planted items are separable from real ones (AUC above 0.55)")


@canaries_group.command("boost")
@click.argument("reviewer")
@click.option("--probability", type=float, default=0.1, show_default=True, help="Canary probability per claim.")
@click.option("--hours", type=float, default=8, show_default=True, help="For how long.")
@click.option("--drill", is_flag=True, help="Reveal each planted item at once (a training drill).")
@click.option("--reason", default="", help="Why (kept in the audit log).")
def boost_command(reviewer: str, probability: float, hours: float, drill: bool, reason: str) -> None:
    """Raise one reviewer's canary rate for a while."""
    from sqlmodel import select

    from reviewq.domain.audit import SYSTEM_ACTOR, record_event
    from reviewq.domain.canary_rate import boost_rate
    from reviewq.domain.errors import ValidationFailed
    from reviewq.models import User, utcnow

    database = open_database()
    try:
        with database.session_scope() as session:
            user = session.exec(select(User).where(User.name == reviewer)).first()
            if user is None:
                raise CommandFailed(f"no user {reviewer!r}")
            now = utcnow()
            try:
                boost = boost_rate(session=session, reviewer_id=user.id, probability=probability, hours=hours,
                                   drill=drill, reason=reason, created_by="cli", now=now)
            except ValidationFailed as exc:
                raise CommandFailed(str(exc)) from None
            record_event(session=session, actor=SYSTEM_ACTOR, action="canaries.boosted", object_type="user",
                         object_id=reviewer, now=now,
                         details={"probability": probability, "hours": hours, "drill": drill, "reason": reason})
            until = boost.ends_at
    finally:
        database.dispose()
    click.echo(f"{reviewer}: canary probability {probability:.0%} per claim until {until:%Y-%m-%d %H:%M} UTC"
               + (" (drill: revealed at once)" if drill else ""))


@canaries_group.command("retire")
@click.argument("key")
@click.option("--reason", default="", help="Why (kept in the audit log; required to retire).")
@click.option("--reinstate", is_flag=True, help="Plant it again.")
def retire_command(key: str, reason: str, reinstate: bool) -> None:
    """Stop planting a library entry ("library:<id>") or a mutator ("mutator:<name>") here, e.g. one the audit flags."""
    from reviewq.domain import retirement
    from reviewq.domain.audit import SYSTEM_ACTOR
    from reviewq.domain.errors import DomainError
    from reviewq.models import utcnow

    database = open_database()
    try:
        with database.session_scope() as session:
            try:
                if reinstate:
                    retirement.reinstate(session=session, key=key, actor=SYSTEM_ACTOR, now=utcnow())
                else:
                    retirement.retire(session=session, key=key, reason=reason, actor=SYSTEM_ACTOR, now=utcnow())
            except DomainError as exc:
                raise CommandFailed(str(exc)) from None
    finally:
        database.dispose()
    click.echo(f"{key}: {'planted again' if reinstate else 'retired; it is not planted again here'}")
