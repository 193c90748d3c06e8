"""The reviewer's queue page, their own page, and the JSON endpoints the page's script calls.

Every JSON endpoint does a bounded, constant number of queries (one claim, at most one decide),
because `reviewq bench` drives exactly these paths with concurrent reviewers.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Flask, jsonify, render_template
from flask_login import current_user

from reviewq.domain import claims, projection
from reviewq.domain import decide as decide_domain
from reviewq.domain import reviewer as reviewer_domain
from reviewq.domain.canary_scoring import due_reveals
from reviewq.domain.errors import DeadlinePassed
from reviewq.domain.notifications import note_opened
from reviewq.domain.projection_bank import NotCached
from reviewq.domain.queue_status import COUNT_CAP, planted_history, planted_totals, queue_counts
from reviewq.domain.reasons import known_reasons, reason_label
from reviewq.domain.skips import skip_item
from reviewq.models import DecisionCreate, InjectionKind, Item, ItemKind, ReasonBucket, ReviewSession
from reviewq.web.api_input import json_body, validate
from reviewq.web.auth import ANY_ROLE, role_required
from reviewq.web.clock import app_now, claim_rng
from reviewq.web.database import begin_writing, commit, db_session, get_database, get_settings
from reviewq.web.errors import ApiError
from reviewq.web.review_view import decision_view, iso, item_view, session_view

log = logging.getLogger(__name__)

bp = Blueprint("review", __name__)

# Keys 1-8 on the page, in ReasonBucket order.
REASON_LABELS = {
    ReasonBucket.HALLUCINATED_FACT: "Hallucinated fact",
    ReasonBucket.SCHEMA_VIOLATION: "Schema violation",
    ReasonBucket.WRONG_REFUSAL: "Wrong refusal",
    ReasonBucket.WRONG_TOOL_CALL: "Wrong tool call",
    ReasonBucket.INFINITE_LOOP: "Infinite loop",
    ReasonBucket.OFF_TOPIC: "Off topic",
    ReasonBucket.POLICY_VIOLATION: "Policy violation",
    ReasonBucket.OTHER: "Other",
}


@bp.get("/queue")
@role_required(*ANY_ROLE)
def queue():
    """The page shell; its script claims the first item at once (POST /queue/next)."""
    settings = get_settings()
    return render_template(
        "queue.html",
        reasons=[(b, REASON_LABELS.get(b) or reason_label(b)) for b in known_reasons(settings)],
        idle_seconds=settings.vigilance.idle_seconds,
        break_nudge_minutes=settings.vigilance.break_nudge_minutes,
        session_gap_minutes=settings.vigilance.session_gap_minutes,
        lease_seconds=settings.queue.lease_seconds,
    )


@bp.post("/queue/next")
@role_required(*ANY_ROLE, json=True, reads_first=True)
def next_item():
    """The item this reviewer holds (after a reload), else a fresh claim; null when nothing is due.

    Read first: the item the last decide claimed is usually held on a fresh lease, and serving it
    needs no write, so on SQLite this request does not queue for the write lock (it did on every
    turn of the review loop, a third of the lock's time with four reviewers).
    """
    now, lease_seconds = app_now(), get_settings().queue.lease_seconds
    item = claims.held_fresh(session=db_session(), reviewer_id=current_user.id, now=now, lease_seconds=lease_seconds)
    if item is not None:
        body = {"item": _view(item), **_session_and_clock(now), "queue": _queue_counts(now)}
        db_session().rollback()
        return jsonify(body)
    session = begin_writing()
    item = claims.resume_held(session=session, reviewer_id=current_user.id, now=now, lease_seconds=lease_seconds)
    if item is None:
        item = _claim(now)
    body = {"item": _view(item), **_session_and_clock(now)}
    commit()
    return jsonify({**body, "queue": _queue_counts_committed(now)})


@bp.get("/queue/status")
@role_required(*ANY_ROLE, json=True)
def status():
    """What is waiting (shared items, approvals due soon) and the session so far, for the page's header."""
    now = app_now()
    db_session(readonly=True)  # every open queue page polls this: it must not queue for the write lock
    return jsonify({"queue": _queue_counts(now), **_session_and_clock(now)})


def _queue_counts(now, session=None) -> dict[str, int]:
    counts = queue_counts(session=session or db_session(), now=now)
    return {"waiting": counts.waiting, "approvals_due_soon": counts.approvals_due_soon, "count_cap": COUNT_CAP}


def _queue_counts_committed(now) -> dict[str, int]:
    """The counts, read after the request's commit through a read session: counting the shared
    queue reads every waiting item, and inside the write transaction every other reviewer's next
    and decide waited for it (with 14,000 items open, 8 % of the server's CPU under the lock)."""
    with get_database().session(readonly=True) as read:
        return _queue_counts(now, read)


@bp.post("/queue/items/<public_id>/decide")
@role_required(*ANY_ROLE, json=True)
def decide(public_id: str):
    """Record the verdict, claim the next item in the same transaction, and answer with both."""
    session, settings, now = db_session(), get_settings(), app_now()
    data = _decision_from(json_body())
    try:
        result = decide_domain.decide(
            session=session, public_id=public_id, reviewer=current_user._get_current_object(), data=data, now=now,
            settings=settings,
        )
    except DeadlinePassed as exc:
        commit()  # the approval expired in this transaction: keep that, refuse the verdict
        raise ApiError(409, exc.code, exc.message, field=exc.field) from None
    nxt = _claim(now)
    body = {
        "decision": decision_view(result.decision, public_id=public_id, settled=result.settled),
        "reveal": result.effects.reveal,
        "next": _view(nxt),
        **_session_and_clock(now, latest=result.review_session),
    }
    commit()
    return jsonify(body)


@bp.post("/queue/items/<public_id>/heartbeat")
@role_required(*ANY_ROLE, json=True)
def heartbeat(public_id: str):
    """Keep the lease while the page is in use; 409 lease_lost once someone else has the item."""
    settings = get_settings()
    claims.renew_lease(session=db_session(), public_id=public_id, reviewer_id=current_user.id,
                       now=app_now(), lease_seconds=settings.queue.lease_seconds)
    commit()
    return jsonify({"ok": True, "lease_seconds": settings.queue.lease_seconds})


@bp.post("/queue/items/<public_id>/skip")
@role_required(*ANY_ROLE, json=True)
def skip(public_id: str):
    """Give the item back and hand over the next one.

    The next item is claimed while the skipped one is still held, so a skip never offers the
    same item straight back.
    """
    session, now = db_session(), app_now()
    nxt = _claim(now)
    # Kept per event (VIGILANCE.md §7: skip rates on real and planted items), with its audit event.
    released = skip_item(session=session, public_id=public_id, reviewer=current_user._get_current_object(), now=now)
    body = {"released": released, "next": _view(nxt), **_session_and_clock(now)}
    commit()
    return jsonify({**body, "queue": _queue_counts_committed(now)})


@bp.get("/me")
@role_required(*ANY_ROLE)
def me():
    """Decisions today and this week, time on task, and the current session."""
    session, settings, now = db_session(), get_settings(), app_now()
    # [canaries] reveal = "end_of_session": planted items of a finished session are revealed here.
    reveals = due_reveals(session=session, reviewer=current_user._get_current_object(), now=now, settings=settings)
    if reveals:
        commit()
    day, week = reviewer_domain.day_and_week_start(now, settings.canaries.timezone)
    current = reviewer_domain.session_now(
        reviewer_domain.latest_session(session=session, reviewer_id=current_user.id),
        now=now, gap_minutes=settings.vigilance.session_gap_minutes,
        nudge_minutes=settings.vigilance.break_nudge_minutes,
    )
    return render_template(
        "me.html",
        today=reviewer_domain.totals_since(session=session, reviewer_id=current_user.id, since=day),
        week=reviewer_domain.totals_since(session=session, reviewer_id=current_user.id, since=week),
        current=current,
        recent=reviewer_domain.recent_decisions(session=session, reviewer_id=current_user.id),
        reveals=reveals,
        planted=planted_totals(session=session, reviewer_id=current_user.id),
        history=planted_history(session=session, reviewer_id=current_user.id),
        reason_labels={k.value: v for k, v in REASON_LABELS.items()},
        settings=settings,
        now=now,
    )


def _claim(now) -> Item | None:
    """The next item, or with the reviewer's canary probability a projected copy (domain/projection.py).

    A canary is chosen and written inside the claim's transaction when nothing has to be built
    first (the agent's value bank is cached): its candidates are read by index in a few
    milliseconds, and a second transaction made the planted claim queue for the write lock twice
    (the review loop's "decide" p95 96 -> 66 ms and p99 117 -> 80 ms at a 140 ms reference loop).
    Otherwise (a control, whose known-good check may read a long window; a bank to build, ~100 ms)
    the real claim and the decision before it commit first, the copy is chosen in a read session,
    and stands in through a second, short transaction: on SQLite every other reviewer's next and
    decide would wait meanwhile. Whatever fails while planting serves the real item: the decision
    before it is kept, and the request must say so, not fail.
    """
    session, settings, rng, reviewer_id = db_session(), get_settings(), claim_rng(), current_user.id
    # The role this request was let in with (role_required read it with the user): no second read.
    item, plan = projection.claim_real(session=session, reviewer_id=reviewer_id, now=now, settings=settings, rng=rng,
                                       role=current_user.role, snapshot=True)
    if plan is not None:
        try:
            copy = _plant_now(item, plan, now)
        except NotCached:
            copy = _plant_after_commit(item, plan, now)
        item = copy or item
    note_opened(session=session, item=item, reviewer_id=reviewer_id, now=now)  # queue health
    return item


def _plant_now(item: Item, plan: projection.PlantPlan, now) -> Item | None:
    """The copy standing in, chosen in this transaction (under a savepoint); None to serve the real
    item. Raises NotCached if choosing would build something first, and for a control (its
    known-good check may read a long window), so the caller chooses after the commit."""
    if plan.kind != InjectionKind.CANARY:
        raise NotCached(plan.kind)
    session = db_session()
    try:
        with session.begin_nested():
            return _stand_in_copy(item, plan, now, choose_in=session, served_there=item, cached_only=True)
    except NotCached:
        raise
    except Exception:
        _log_planting_failed()
        return None


def _plant_after_commit(item: Item, plan: projection.PlantPlan, now) -> Item | None:
    held_until = item.lease_expires_at
    commit()
    try:
        with get_database().session(readonly=True) as read:
            return _stand_in_copy(item, plan, now, choose_in=read, served_there=read.get(Item, item.id),
                                  served_until=held_until)
    except Exception:
        _log_planting_failed()
        db_session().rollback()
        return None


def _stand_in_copy(item: Item, plan: projection.PlantPlan, now, *, choose_in, served_there: Item,
                   cached_only: bool = False, served_until=None) -> Item | None:
    """Choose a copy for `item` through `choose_in` (where `served_there` is the item) and write it
    through the request's session; None when nothing fits or the real item must stay."""
    settings, rng, reviewer_id = get_settings(), claim_rng(), current_user.id
    planted = projection.choose(session=choose_in, served=served_there, reviewer_id=reviewer_id, kind=plan.kind,
                                instead=plan.instead, now=now, settings=settings, rng=rng,
                                library=projection.library_for(settings), cached_only=cached_only)
    return None if planted is None else projection.stand_in(
        session=db_session(), planted=planted, served=item, plan=plan, reviewer_id=reviewer_id, now=now,
        settings=settings, rng=rng, served_until=served_until)


def _log_planting_failed() -> None:
    log.exception("planting a copy for reviewer %s failed; the real item is served", current_user.id)


def _view(item: Item | None) -> dict[str, Any] | None:
    if item is None:
        return None
    # The stored requirement, which settlement uses too (not today's config: the two-person rule may
    # have been switched off since). Planted approvals store it by the same rule as real ones.
    required = item.required_approvals
    given = 0
    if item.kind == ItemKind.APPROVAL and required > 1:
        given = reviewer_domain.approvals_given(session=db_session(), item_id=item.id)
    return item_view(item, approvals_required=required, approvals_given=given)


def _session_and_clock(now, latest: ReviewSession | None = None) -> dict[str, Any]:
    """The running session (`latest`, if the caller has it already) and the server's clock."""
    settings = get_settings()
    if latest is None:
        latest = reviewer_domain.latest_session(session=db_session(), reviewer_id=current_user.id)
    current = reviewer_domain.session_now(
        latest,
        now=now, gap_minutes=settings.vigilance.session_gap_minutes,
        nudge_minutes=settings.vigilance.break_nudge_minutes,
    )
    # The page corrects its countdowns by the server's clock.
    return {"session": session_view(current, settings=settings), "server_time": iso(now)}


def _decision_from(body: object) -> DecisionCreate:
    """Validate the decide body; every refusal names the field at fault (422), never a 500."""
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "send a JSON object", field="body")
    return validate(DecisionCreate, body, context={"reasons": known_reasons(get_settings())})


# The judges' API (api_review.py) serves and validates exactly as this page does.
reviewer_item_view = _view
decision_from = _decision_from


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
