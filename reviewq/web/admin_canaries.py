"""Leads' canary pages (reviewers must never see them): the injection log, the stealth audit, rate boosts.

GET /admin/injections (filtered by reviewer, outcome, kind and week, and paginated, so a long-running
team's log stays usable), GET /admin/canaries/audit, POST /admin/canaries/boost,
POST /admin/canaries/retire (retire or reinstate a template the audit flags).
"""

from __future__ import annotations

from datetime import date, datetime, time

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlmodel import select

from reviewq.canaries.binding import deployment_profile, fit_library
from reviewq.domain import retirement
from reviewq.domain.audit import record_event, user_actor
from reviewq.domain.canary_rate import boost_rate
from reviewq.domain.errors import DomainError, ValidationFailed
from reviewq.domain.injection_log import LogFilter, injection_log, log_counts, log_weeks
from reviewq.domain.projection import library_for
from reviewq.models import CanaryRateBoost, InjectionKind, InjectionOutcome, Role, User
from reviewq.stats.stealth_audit import FLAG_AUC, TARGET_AUC, run_audit
from reviewq.web.auth import LEADS, role_required
from reviewq.web.clock import app_now
from reviewq.web.database import commit, db_session, get_settings

bp = Blueprint("admin_canaries", __name__)

PAGE_SIZE = 50


def _choice(name: str, enum):
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return enum(raw)
    except ValueError:
        raise ValidationFailed(f"{name} must be one of {', '.join(e.value for e in enum)}", field=name) from None


def _filter(weeks: list[datetime]) -> LogFilter:
    week = None
    raw_week = (request.args.get("week") or "").strip()
    if raw_week:
        try:
            day = date.fromisoformat(raw_week)
        except ValueError:
            raise ValidationFailed("week must be a date as YYYY-MM-DD", field="week") from None
        week = next((w for w in weeks if w.date() == day), datetime.combine(day, time()))
    return LogFilter(reviewer_name=(request.args.get("reviewer") or "").strip() or None, week_start=week,
                     outcome=_choice("outcome", InjectionOutcome), kind=_choice("kind", InjectionKind))


def _page() -> int:
    raw = request.args.get("page") or "1"
    if not raw.isdigit() or int(raw) < 1:
        raise ValidationFailed("page must be a whole number from 1", field="page")
    return int(raw)


@bp.get("/admin/injections")
@role_required(*LEADS)
def injections():
    session = db_session()
    weeks = log_weeks(session=session)
    where, page = _filter(weeks), _page()
    counts = log_counts(session=session, where=where)
    total = counts[where.outcome.value] if where.outcome else sum(counts.values())
    pages = max(1, -(-total // PAGE_SIZE))
    rows = injection_log(session=session, where=where, limit=PAGE_SIZE, offset=(min(page, pages) - 1) * PAGE_SIZE)
    reviewers = session.exec(select(User.name).where(User.role == Role.REVIEWER).order_by(User.name)).all()
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template(
        "admin_injections.html", rows=rows, counts=counts, total=total, page=min(page, pages), pages=pages,
        page_size=PAGE_SIZE, where=where, args=args, reviewers=reviewers, weeks=weeks,
        outcomes=list(InjectionOutcome), kinds=list(InjectionKind), reviewer=where.reviewer_name,
    )


@bp.get("/admin/canaries/audit")
@role_required(*LEADS)
def audit():
    """The stealth audit over the last weeks, the library's fit to live traffic, and the rate boosts."""
    session, now = db_session(readonly=True), app_now()
    try:
        weeks = min(26, max(1, int(request.args.get("weeks", 4))))
    except ValueError:
        weeks = 4
    result = run_audit(session=session, now=now, weeks=weeks, timezone=get_settings().canaries.timezone)
    library = library_for(get_settings())
    fits = fit_library(library, deployment_profile(session=session, now=now)) if library else []
    boosts = session.exec(
        select(CanaryRateBoost, User).join(User, User.id == CanaryRateBoost.reviewer_id)
        .where(CanaryRateBoost.ends_at > now).order_by(CanaryRateBoost.ends_at)
    ).all()
    reviewers = session.exec(select(User).where(User.role == Role.REVIEWER, User.active.is_(True))
                             .order_by(User.name)).all()
    return render_template("admin_canary_audit.html", audit=result, weeks=weeks, fits=fits, boosts=boosts,
                           reviewers=reviewers, target=TARGET_AUC, flag=FLAG_AUC, now=now,
                           retired=retirement.retired(session=session))


@bp.post("/admin/canaries/boost")
@role_required(*LEADS)
def boost():
    """Raise one reviewer's canary probability for some hours (optionally as a drill, revealed at once)."""
    session, now = db_session(), app_now()
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


@bp.post("/admin/canaries/retire")
@role_required(*LEADS)
def retire():
    """Stop planting a library entry or mutator here (the audit flags it), or plant it again."""
    session, now = db_session(), app_now()
    key = request.form.get("key", "")
    actor = user_actor(current_user.name)
    try:
        if request.form.get("reinstate"):
            retirement.reinstate(session=session, key=key, actor=actor, now=now)
            message = f"{key}: planted again."
        else:
            retirement.retire(session=session, key=key, reason=request.form.get("reason", ""), actor=actor, now=now)
            message = f"{key}: retired; it is not planted again here."
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin_canaries.audit"), 303)
    commit()
    flash(message, "ok")
    return redirect(url_for("admin_canaries.audit"), 303)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
