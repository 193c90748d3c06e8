"""Disputes (VIGILANCE.md §7): a reviewer disputes a revealed planted item; a lead upholds or rejects.

/disputes is the reviewer's list of their revealed planted items with a dispute form each;
/disputes/review is the leads' queue of open disputes. JSON on request for both POSTs.
"""

from __future__ import annotations

from flask import Blueprint, Flask, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from reviewq.domain import disputes as domain
from reviewq.domain.errors import DomainError, ValidationFailed
from reviewq.models import InjectionKind, InjectionOutcome
from reviewq.web.auth import ANY_ROLE, LEADS, role_required
from reviewq.web.clock import app_now
from reviewq.web.database import commit, db_session
from reviewq.web.errors import domain_status, error_response, wants_json

bp = Blueprint("disputes", __name__)


def _field(name: str) -> str:
    body = request.get_json(silent=True) if request.is_json else None
    if isinstance(body, dict):
        value = body.get(name)
        return value if isinstance(value, str) else ""
    return request.form.get(name, "")


def _fail(exc: DomainError, page: str):
    if wants_json() or request.is_json:
        return error_response(domain_status(exc), exc.code, exc.message, field=exc.field)
    flash(exc.message, "error")
    return redirect(url_for(page), 303)


@bp.get("/disputes")
@role_required(*ANY_ROLE)
def mine():
    """This reviewer's revealed planted items of the last 60 days, each disputable once."""
    now = app_now()
    rows = domain.disputable(session=db_session(readonly=True), reviewer_id=current_user.id, now=now)
    items = [{
        "item": public_id, "category": category, "kind": inj.kind.value, "outcome": inj.outcome.value,
        "bucket": inj.bucket, "explanation": inj.explanation, "revealed_at": inj.revealed_at,
        "voided": inj.voided_at is not None,
        "claim": domain.dispute_wording(InjectionKind(inj.kind), InjectionOutcome(inj.outcome)),
        "dispute": dispute,
    } for inj, public_id, category, dispute in rows]
    return render_template("disputes.html", items=items, window=domain.DISPUTE_WINDOW_DAYS,
                           max_note=domain.MAX_NOTE)


@bp.post("/disputes")
@role_required(*ANY_ROLE)
def open_():
    try:
        dispute = domain.open_dispute(session=db_session(), item_public_id=_field("item"),
                                      reviewer=current_user._get_current_object(), note=_field("note"), now=app_now())
    except DomainError as exc:
        return _fail(exc, "disputes.mine")
    commit()
    if wants_json() or request.is_json:
        return jsonify({"dispute": dispute.public_id, "status": dispute.status.value}), 201
    flash("Dispute sent: a lead will uphold or reject it.", "ok")
    return redirect(url_for("disputes.mine"), 303)


@bp.get("/disputes/review")
@role_required(*LEADS)
def review():
    session = db_session(readonly=True)
    return render_template("disputes_review.html", open=domain.open_disputes(session=session),
                           resolved=domain.recent_resolved(session=session), template_key=domain.template_key)


@bp.post("/disputes/<public_id>/resolve")
@role_required(*LEADS)
def resolve(public_id: str):
    decision = _field("decision")
    if decision not in ("uphold", "reject"):
        return _fail(ValidationFailed("decision must be uphold or reject", field="decision"), "disputes.review")
    try:
        result = domain.resolve_dispute(session=db_session(), dispute_public_id=public_id,
                                        lead=current_user._get_current_object(), uphold=decision == "uphold",
                                        note=_field("resolution_note"), now=app_now())
    except DomainError as exc:
        return _fail(exc, "disputes.review")
    commit()
    if wants_json() or request.is_json:
        return jsonify({"dispute": public_id, "status": result.dispute.status.value, "voided": result.voided,
                        "retired": result.retired})
    if decision == "uphold":
        flash(f"Upheld: {result.voided} planted item(s) removed from every score"
              f"{', ' + result.retired + ' retired' if result.retired else ''}.", "ok")
    else:
        flash("Rejected: the score stands.", "ok")
    return redirect(url_for("disputes.review"), 303)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
