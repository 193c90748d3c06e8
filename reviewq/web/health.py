"""GET /healthz (liveness plus a database round trip) and GET /favicon.ico (public, like /static)."""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, jsonify, send_from_directory
from sqlalchemy import text

from reviewq.web.database import db_session

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    try:
        db_session(readonly=True).exec(text("SELECT 1"))
        database = "ok"
    except Exception:  # noqa: BLE001 - reported, not raised: this is the health check
        database = "unreachable"
    status = 200 if database == "ok" else 503
    return jsonify({"status": "ok" if status == 200 else "degraded", "database": database}), status


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for it on every page; answering spares each page a 404 in the console."""
    return send_from_directory(current_app.static_folder, "favicon.ico", mimetype="image/vnd.microsoft.icon",
                               max_age=86400)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
