"""The lead dashboard: /dashboard, /dashboard/reviewers/<name> and authenticated exports.

Views only parse filters and render; every figure comes from reviewq.stats.
"""

from __future__ import annotations

import json
from datetime import date

from flask import Blueprint, Flask, Response, jsonify, render_template, request, stream_with_context

from reviewq.stats import Filters, build_dashboard, build_reviewer_page
from reviewq.stats.export import DECISION_COLUMNS, METRIC_COLUMNS, decision_rows, metric_rows, to_csv, to_jsonl
from reviewq.web.auth import LEADS, role_required
from reviewq.web.clock import app_now
from reviewq.web.database import db_session, get_database, get_settings
from reviewq.web.errors import error_response

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")


def _filters() -> Filters:
    return Filters.from_args(request.args, now=app_now())


def _data_block(data: dict) -> str:
    """JSON for a <script type="application/json"> block: not executed, so CSP allows it.
    `<`, `>` and `&` are escaped so no text in the data can close the element."""
    text = json.dumps(data, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@bp.get("")
@role_required(*LEADS)
def index():
    now = app_now()
    data = build_dashboard(session=db_session(readonly=True), now=now, filters=_filters(), settings=get_settings(),
                           curve_reviewer=(request.args.get("curve") or "").strip() or None).to_json()
    if request.args.get("format") == "json":
        return jsonify(data)
    return render_template("dashboard.html", d=data, data_json=_data_block(data))


@bp.get("/reviewers/<name>")
@role_required(*LEADS)
def reviewer(name: str):
    now = app_now()
    data = build_reviewer_page(
        session=db_session(readonly=True), name=name, now=now, filters=_filters(), settings=get_settings()
    ).to_json()
    if request.args.get("format") == "json":
        return jsonify(data)
    return render_template("dashboard_reviewer.html", d=data, data_json=_data_block(data))


def _download(body, mimetype: str, filename: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _stamp(filters: Filters) -> str:
    return f"{filters.start.isoformat()}_{filters.end.isoformat()}"


@bp.get("/export/metrics.<fmt>")
@role_required(*LEADS)
def export_metrics(fmt: str):
    if fmt not in ("csv", "json"):
        return error_response(404, "not_found", "metrics come as .csv or .json")
    filters = _filters()
    board = build_dashboard(session=db_session(readonly=True), now=app_now(), filters=filters, settings=get_settings())
    name = f"reviewq-metrics_{_stamp(filters)}.{fmt}"
    if fmt == "json":
        return _download(json.dumps(board.to_json(), default=str, indent=1), "application/json", name)
    return _download("".join(to_csv(metric_rows(board), METRIC_COLUMNS)), "text/csv", name)


@bp.get("/export/decisions.<fmt>")
@role_required(*LEADS)
def export_decisions(fmt: str):
    if fmt not in ("csv", "jsonl"):
        return error_response(404, "not_found", "decisions come as .csv or .jsonl")
    filters = _filters()
    database = get_database()

    def generate():
        # Its own read session: the rows stream after the view (and its request session) is done.
        with database.session(readonly=True) as session:
            rows = decision_rows(session=session, filters=filters)
            yield from (to_csv(rows, DECISION_COLUMNS) if fmt == "csv" else to_jsonl(rows))

    mimetype = "text/csv" if fmt == "csv" else "application/x-ndjson"
    return _download(stream_with_context(generate()), mimetype, f"reviewq-decisions_{_stamp(filters)}.{fmt}")


@bp.app_template_filter("pct")
def _pct(value, digits: int = 0) -> str:
    return "–" if value is None else f"{value * 100:.{digits}f}%"


@bp.app_template_filter("num")
def _num(value, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


@bp.app_template_filter("day")
def _day(value) -> str:
    if not value:
        return "–"
    return str(value)[:16].replace("T", " ") if not isinstance(value, date) else value.isoformat()


@bp.app_template_filter("duration")
def _duration(seconds) -> str:
    """Seconds in the largest units that read naturally: "3 d 4 h", "2 h 5 min", "12 min", "40 s"."""
    if seconds is None:
        return "–"
    s = int(round(float(seconds)))
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
