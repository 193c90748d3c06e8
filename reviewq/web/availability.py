"""On call (/oncall): a reviewer marks themselves available or away; leads see who is on now.

Also the notification pages: the queue opened on one item from a notification's link
(/queue/items/<id>), and the notification delivery log for leads (/admin/notifications).
"""

from __future__ import annotations

from flask import Blueprint, Flask, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlmodel import select

from reviewq.domain.availability import my_availability, on_call_board, set_availability
from reviewq.domain.open_item import open_item
from reviewq.models import (
    ApprovalWatch,
    Availability,
    DeliveryStatus,
    Item,
    Notification,
    NotificationDelivery,
)
from reviewq.web.auth import ANY_ROLE, LEADS, role_required
from reviewq.web.clock import app_now
from reviewq.web.database import commit, db_session, get_settings
from reviewq.web.errors import ApiError

bp = Blueprint("notify_views", __name__)
PAGE_SIZE = 200


@bp.get("/queue/items/<public_id>")
@role_required(*ANY_ROLE)
def open_page(public_id: str):
    """The queue page, told to open this item first (the link in a notification)."""
    from reviewq.web.review import REASON_LABELS

    settings = get_settings()
    return render_template(
        "queue.html", reasons=list(REASON_LABELS.items()), idle_seconds=settings.vigilance.idle_seconds,
        break_nudge_minutes=settings.vigilance.break_nudge_minutes,
        session_gap_minutes=settings.vigilance.session_gap_minutes, lease_seconds=settings.queue.lease_seconds,
        open_item=public_id[:64],
    )


@bp.post("/queue/items/<public_id>/open")
@role_required(*ANY_ROLE, json=True)
def open_json(public_id: str):
    """Lease this approval to me out of queue order; 404/409 JSON saying why when it cannot be."""
    from reviewq.web.review import _session_and_clock, _view

    session, now = db_session(), app_now()
    item = open_item(session=session, public_id=public_id, reviewer=current_user._get_current_object(), now=now,
                     settings=get_settings())
    body = {"item": _view(item), **_session_and_clock(now)}
    commit()
    return jsonify(body)


@bp.get("/oncall")
@role_required(*ANY_ROLE)
def oncall():
    session, now = db_session(), app_now()
    mine = my_availability(session=session, user_id=current_user.id)
    board = None
    if current_user.role in LEADS:
        board = on_call_board(session=session, now=now, gap_minutes=get_settings().vigilance.session_gap_minutes)
    return render_template("oncall.html", mine=mine, board=board, now=now)


@bp.post("/oncall")
@role_required(*ANY_ROLE)
def set_oncall():
    value = request.form.get("status", "")
    try:
        status = Availability(value)
    except ValueError:
        if request.accept_mimetypes.best == "application/json":
            raise ApiError(422, "invalid_field", 'status must be "available" or "away"', field="status") from None
        flash('Pick "available" or "away".', "error")
        return redirect(url_for("notify_views.oncall"), 303)
    changed = set_availability(session=db_session(), user_id=current_user.id, status=status, now=app_now())
    commit()
    if changed:
        flash("You are on call: escalations may come your way." if status == Availability.AVAILABLE
              else "You are marked away.", "ok")
    return redirect(url_for("notify_views.oncall"), 303)


@bp.get("/admin/notifications")
@role_required(*LEADS)
def delivery_log():
    status = request.args.get("status", "")
    query = (
        select(NotificationDelivery, Notification, Item.public_id)
        .join(Notification, Notification.id == NotificationDelivery.notification_id)
        .outerjoin(ApprovalWatch, ApprovalWatch.id == Notification.watch_id)
        .outerjoin(Item, Item.id == ApprovalWatch.item_id)
        .order_by(NotificationDelivery.created_at.desc(), NotificationDelivery.id.desc())
        .limit(PAGE_SIZE)
    )
    if status in {s.value for s in DeliveryStatus}:
        query = query.where(NotificationDelivery.status == DeliveryStatus(status))
    rows = db_session(readonly=True).exec(query).all()
    return render_template("admin_notifications.html", rows=rows, status=status,
                           statuses=[s.value for s in DeliveryStatus], page_size=PAGE_SIZE,
                           channels=sorted(get_settings().notify.channels))


@bp.app_template_filter("fromjson")
def _fromjson(text: str):
    import json

    try:
        return json.loads(text)
    except ValueError:
        return {}


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
