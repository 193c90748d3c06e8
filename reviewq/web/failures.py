"""/failures: real rejects by reason bucket over weeks, agents and categories, with notes and export."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, jsonify, render_template, request, stream_with_context

from reviewq.domain.errors import ValidationFailed
from reviewq.domain.reasons import known_reasons, reason_label
from reviewq.stats.export import to_csv, to_jsonl
from reviewq.stats.failures import FAILURE_COLUMNS, NOTES_SHOWN, FailureFilters, failure_counts, failure_rows
from reviewq.stats.filters import Filters
from reviewq.web.auth import LEADS, role_required
from reviewq.web.clock import app_now
from reviewq.web.database import db_session, get_database, get_settings
from reviewq.web.errors import error_response

bp = Blueprint("failures", __name__)
DEFAULT_DAYS = 84  # twelve weeks: enough to see a bucket grow


def _filters() -> FailureFilters:
    args = request.args
    now = app_now()
    base = Filters.default(now, days=DEFAULT_DAYS)
    merged = {"from": args.get("from") or base.start.isoformat(), "to": args.get("to") or base.end.isoformat(),
              "category": args.get("category")}
    reason = (args.get("reason") or "").strip() or None
    if reason is not None and reason not in known_reasons(get_settings()):
        raise ValidationFailed("unknown reason bucket", field="reason")
    agent = (args.get("agent") or "").strip() or None
    if agent is not None and len(agent) > 64:
        raise ValidationFailed("agent is too long", field="agent")
    return FailureFilters(range=Filters.from_args(merged, now=now), agent=agent, reason=reason)


def _args(f: FailureFilters) -> dict[str, str]:
    out = f.range.as_args()
    if f.agent:
        out["agent"] = f.agent
    if f.reason:
        out["reason"] = f.reason
    return out


@bp.get("/failures")
@role_required(*LEADS)
def page():
    filters = _filters()
    session = db_session(readonly=True)
    data = failure_counts(session=session, filters=filters)
    data["latest"] = list(failure_rows(session=session, filters=filters, limit=NOTES_SHOWN))
    data["filters"] = _args(filters)
    if request.args.get("format") == "json":
        return jsonify(data)
    return render_template("failures.html", d=data, args=_args(filters), reasons=known_reasons(get_settings()),
                           reason_label=reason_label, notes_shown=NOTES_SHOWN)


@bp.get("/failures.<fmt>")
@role_required(*LEADS)
def export(fmt: str):
    if fmt not in ("csv", "jsonl"):
        return error_response(404, "not_found", "failures export as .csv or .jsonl")
    filters = _filters()
    database = get_database()

    def generate():
        with database.session(readonly=True) as session:
            rows = failure_rows(session=session, filters=filters)
            yield from (to_csv(rows, FAILURE_COLUMNS) if fmt == "csv" else to_jsonl(rows))

    mimetype = "text/csv" if fmt == "csv" else "application/x-ndjson"
    response = Response(stream_with_context(generate()), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="reviewq-failures.{fmt}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
