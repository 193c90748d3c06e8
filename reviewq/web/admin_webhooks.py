"""GET /admin/webhooks: the webhook delivery log, for leads and admins."""

from __future__ import annotations

from flask import Blueprint, Flask, render_template, request
from sqlmodel import select

from reviewq.models import ApiToken, DeliveryStatus, Item, WebhookDelivery
from reviewq.web.auth import LEADS, role_required
from reviewq.web.database import db_session

bp = Blueprint("admin_webhooks", __name__)
PAGE_SIZE = 200


@bp.get("/admin/webhooks")
@role_required(*LEADS)
def delivery_log():
    status = request.args.get("status", "")
    query = (
        select(WebhookDelivery, Item.public_id, ApiToken.agent)
        .join(Item, Item.id == WebhookDelivery.item_id)
        .join(ApiToken, ApiToken.id == WebhookDelivery.token_id)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
        .limit(PAGE_SIZE)
    )
    if status in {s.value for s in DeliveryStatus}:
        query = query.where(WebhookDelivery.status == DeliveryStatus(status))
    rows = db_session(readonly=True).exec(query).all()
    return render_template(
        "admin_webhooks.html", rows=rows, status=status, statuses=[s.value for s in DeliveryStatus],
        page_size=PAGE_SIZE,
    )


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
