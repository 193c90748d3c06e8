"""GET /admin/injections: the injection log, for leads and admins only (reviewers must never see it)."""

from __future__ import annotations

from flask import Blueprint, Flask, render_template, request

from reviewq.domain.injection_log import injection_log, outcome_counts
from reviewq.web.auth import LEADS, role_required
from reviewq.web.database import db_session

bp = Blueprint("admin_canaries", __name__)


@bp.get("/admin/injections")
@role_required(*LEADS)
def injections():
    reviewer = (request.args.get("reviewer") or "").strip() or None
    rows = injection_log(session=db_session(), reviewer_name=reviewer)
    return render_template("admin_injections.html", rows=rows, counts=outcome_counts(rows), reviewer=reviewer)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
