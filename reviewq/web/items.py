"""/items: the lead's items browser and export, and /items/<id>: one item, for leads and for the
reviewers who decided it (their own part only, see reviewq.stats.item_detail)."""

from __future__ import annotations

import json

from flask import (
    Blueprint,
    Flask,
    Response,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user

from reviewq.domain.errors import DomainError, ValidationFailed
from reviewq.domain.overturn import overturn_item
from reviewq.domain.reasons import known_reasons, reason_label
from reviewq.models import Verdict
from reviewq.stats.export import to_csv, to_jsonl
from reviewq.stats.item_detail import lead_view, own_history, reviewer_view
from reviewq.stats.item_search import EXPORT_COLUMNS, ItemQuery, export_row, iter_items, search_items
from reviewq.web.auth import ANY_ROLE, LEADS, role_required
from reviewq.web.clock import app_now
from reviewq.web.database import commit, db_session, get_database, get_settings
from reviewq.web.errors import error_response, wants_json

bp = Blueprint("items", __name__)


def _query() -> ItemQuery:
    return ItemQuery.from_args(request.args, reasons=known_reasons(get_settings()))


@bp.get("/items")
@role_required(*LEADS)
def browse():
    query = _query()
    page = search_items(session=db_session(readonly=True), query=query)
    if request.args.get("format") == "json":
        return jsonify({"items": page.rows, "next_cursor": page.next_cursor, "filters": query.as_args()})
    return render_template("items.html", page=page, args=query.as_args(), reasons=known_reasons(get_settings()),
                           reason_label=reason_label)


@bp.get("/items.<fmt>")
@role_required(*LEADS)
def export(fmt: str):
    if fmt not in ("csv", "jsonl"):
        return error_response(404, "not_found", "items export as .csv or .jsonl")
    query = _query()
    database = get_database()

    def generate():
        # Its own read session: the rows stream after the request's session is gone.
        with database.session(readonly=True) as session:
            rows = iter_items(session=session, query=query)
            if fmt == "csv":
                yield from to_csv((export_row(r) for r in rows), EXPORT_COLUMNS)
            else:
                yield from to_jsonl(rows)

    mimetype = "text/csv" if fmt == "csv" else "application/x-ndjson"
    response = Response(stream_with_context(generate()), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="reviewq-items.{fmt}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/items/<public_id>")
@role_required(*ANY_ROLE)
def item(public_id: str):
    session = db_session(readonly=True)
    if current_user.role in LEADS:
        data = lead_view(session=session, public_id=public_id)
        template = "item.html"
    else:
        data = reviewer_view(session=session, public_id=public_id, reviewer_id=current_user.id)
        template = "item_reviewer.html"
    if request.args.get("format") == "json":
        return jsonify(data)
    return render_template(template, d=data, reasons=known_reasons(get_settings()), reason_label=reason_label)


@bp.get("/me/history")
@role_required(*ANY_ROLE)
def history():
    """Every decision of the signed-in user, newest first, 50 a page, each linking to its item."""
    before_text = (request.args.get("before") or "").strip()
    if before_text and not before_text.isdigit():
        raise ValidationFailed("before must be a decision number from this page's link", field="before")
    rows, next_before = own_history(session=db_session(readonly=True), reviewer_id=current_user.id,
                                    before=int(before_text) if before_text else None)
    if request.args.get("format") == "json":
        return jsonify({"decisions": rows, "next_before": next_before})
    return render_template("history.html", rows=rows, next_before=next_before, reason_label=reason_label)


@bp.post("/items/<public_id>/overturn")
@role_required(*LEADS)
def overturn(public_id: str):
    body = request.get_json(silent=True) if request.is_json else request.form
    body = body if isinstance(body, dict) or hasattr(body, "get") else {}
    verdict = body.get("verdict")
    try:
        if verdict not in (Verdict.APPROVE.value, Verdict.REJECT.value):
            raise ValidationFailed('verdict must be "approve" or "reject"', field="verdict")
        row = overturn_item(
            session=db_session(), public_id=public_id, lead=current_user, verdict=Verdict(verdict),
            reason=(body.get("reason") or None), note=str(body.get("note") or ""),
            known_reasons=known_reasons(get_settings()), now=app_now(),
        )
        commit()
    except DomainError as exc:
        if wants_json():
            raise
        flash(f"Not overturned: {exc.message}", "error")
        return redirect(url_for("items.item", public_id=public_id))
    if wants_json():
        return jsonify({"item": public_id, "verdict": row.verdict.value, "reason": row.reason,
                        "agent_acted": row.agent_acted})
    flash("Overturned. The canary score, if any, is unchanged.", "ok")
    return redirect(url_for("items.item", public_id=public_id))


@bp.app_template_filter("pretty_json")
def _pretty_json(value) -> str:
    """Indented JSON as plain text; the template autoescapes it, so agent output never runs."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
