"""Leads' canary pages (reviewers must never see them): the injection log, the stealth audit, rate boosts.

GET /admin/injections, GET /admin/canaries/audit, POST /admin/canaries/boost.
"""

from __future__ import annotations

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlmodel import select

from reviewq.canaries.binding import deployment_profile, fit_library
from reviewq.domain.audit import record_event, user_actor
from reviewq.domain.canary_rate import boost_rate
from reviewq.domain.errors import ValidationFailed
from reviewq.domain.injection_log import injection_log, outcome_counts
from reviewq.domain.projection import library_for
from reviewq.models import CanaryRateBoost, Role, User, utcnow
from reviewq.stats.stealth_audit import FLAG_AUC, TARGET_AUC, run_audit
from reviewq.web.auth import LEADS, role_required
from reviewq.web.database import commit, db_session, get_settings

bp = Blueprint("admin_canaries", __name__)


@bp.get("/admin/injections")
@role_required(*LEADS)
def injections():
    reviewer = (request.args.get("reviewer") or "").strip() or None
    rows = injection_log(session=db_session(), reviewer_name=reviewer)
    return render_template("admin_injections.html", rows=rows, counts=outcome_counts(rows), reviewer=reviewer)


@bp.get("/admin/canaries/audit")
@role_required(*LEADS)
def audit():
    """The stealth audit over the last weeks, the library's fit to live traffic, and the rate boosts."""
    session, now = db_session(readonly=True), utcnow()
    try:
        weeks = min(26, max(1, int(request.args.get("weeks", 4))))
    except ValueError:
        weeks = 4
    result = run_audit(session=session, now=now, weeks=weeks)
    library = library_for(get_settings())
    fits = fit_library(library, deployment_profile(session=session, now=now)) if library else []
    boosts = session.exec(
        select(CanaryRateBoost, User).join(User, User.id == CanaryRateBoost.reviewer_id)
        .where(CanaryRateBoost.ends_at > now).order_by(CanaryRateBoost.ends_at)
    ).all()
    reviewers = session.exec(select(User).where(User.role == Role.REVIEWER, User.active.is_(True))
                             .order_by(User.name)).all()
    return render_template("admin_canary_audit.html", audit=result, weeks=weeks, fits=fits, boosts=boosts,
                           reviewers=reviewers, target=TARGET_AUC, flag=FLAG_AUC, now=now)


@bp.post("/admin/canaries/boost")
@role_required(*LEADS)
def boost():
    """Raise one reviewer's canary probability for some hours (optionally as a drill, revealed at once)."""
    session, now = db_session(), utcnow()
    name = (request.form.get("reviewer") or "").strip()
    user = session.exec(select(User).where(User.name == name)).first()
    try:
        if user is None:
            raise ValidationFailed(f"no reviewer {name!r}", field="reviewer")
        probability = float(request.form.get("probability", "")) / 100
        hours = float(request.form.get("hours", ""))
        reason = (request.form.get("reason") or "").strip()
        drill = request.form.get("drill") == "on"
        boost_rate(session=session, reviewer_id=user.id, probability=probability, hours=hours, drill=drill,
                   reason=reason, created_by=current_user.name, now=now)
    except ValueError:
        flash("Probability and hours must be numbers.", "error")
        return redirect(url_for("admin_canaries.audit"), 303)
    except ValidationFailed as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin_canaries.audit"), 303)
    record_event(session=session, actor=user_actor(current_user.name), action="canaries.boosted",
                 object_type="user", object_id=user.name, now=now,
                 details={"probability": probability, "hours": hours, "drill": drill, "reason": reason})
    commit()
    flash(f"{user.name}: canary probability {probability:.0%} per claim for {hours:g} h"
          + (", each revealed at once (drill)." if drill else "."), "ok")
    return redirect(url_for("admin_canaries.audit"), 303)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
