"""GET /admin/injections: the injection log, for leads and admins only (reviewers must never see it).

Filtered by reviewer, outcome, kind and week, and paginated, so a long-running team's log stays usable.
"""

from __future__ import annotations

from datetime import date, datetime, time

from flask import Blueprint, Flask, render_template, request
from sqlmodel import select

from reviewq.domain.errors import ValidationFailed
from reviewq.domain.injection_log import LogFilter, injection_log, log_counts, log_weeks
from reviewq.models import InjectionKind, InjectionOutcome, Role, User
from reviewq.web.auth import LEADS, role_required
from reviewq.web.database import db_session

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


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
