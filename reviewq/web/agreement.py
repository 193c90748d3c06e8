"""/agreement: agreement between reviewers on overlap items and between the agents' judges and
people (VIGILANCE.md §8), and the adjudication of disagreements. Leads and admins only."""

from __future__ import annotations

import random

from flask import Blueprint, Flask, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from reviewq.domain.errors import DomainError, ValidationFailed
from reviewq.domain.overlap import adjudicate
from reviewq.domain.reasons import known_reasons, reason_label
from reviewq.models import Verdict
from reviewq.stats.agreement_queries import build_agreement
from reviewq.stats.filters import Filters
from reviewq.web.auth import LEADS, role_required
from reviewq.web.clock import app_now
from reviewq.web.database import commit, db_session, get_settings
from reviewq.web.errors import wants_json

bp = Blueprint("agreement", __name__)

# Bootstrap intervals drawn from a fixed seed: the same data shows the same interval on every load.
BOOTSTRAP_SEED = 8


@bp.get("/agreement")
@role_required(*LEADS)
def page():
    settings = get_settings()
    filters = Filters.from_args(request.args, now=app_now())
    data = build_agreement(session=db_session(readonly=True), filters=filters, settings=settings,
                           rng=random.Random(BOOTSTRAP_SEED), reasons=known_reasons(settings))
    if request.args.get("format") == "json":
        return jsonify(data)
    return render_template("agreement.html", d=data, reasons=known_reasons(settings), reason_label=reason_label,
                           overlap=settings.overlap)


@bp.post("/agreement/<public_id>/adjudicate")
@role_required(*LEADS)
def settle(public_id: str):
    body = request.get_json(silent=True) if request.is_json else request.form
    body = body if hasattr(body, "get") else {}
    try:
        verdict = body.get("verdict")
        if verdict not in (Verdict.APPROVE.value, Verdict.REJECT.value):
            raise ValidationFailed('verdict must be "approve" or "reject"', field="verdict")
        row = adjudicate(session=db_session(), original_public_id=public_id, lead=current_user,
                         verdict=Verdict(verdict), reason=body.get("reason") or None, note=str(body.get("note") or ""),
                         known_reasons=known_reasons(get_settings()), now=app_now())
        commit()
    except DomainError as exc:
        if wants_json():
            raise
        flash(f"Not adjudicated: {exc.message}", "error")
        return redirect(url_for("agreement.page"))
    if wants_json():
        return jsonify({"item": public_id, "verdict": row.adjudicated_verdict.value, "reason": row.adjudicated_reason})
    flash("Adjudicated.", "ok")
    return redirect(url_for("agreement.page", **request.args))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
