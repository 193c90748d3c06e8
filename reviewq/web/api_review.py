"""/api/v1/review: an automated judge works the same queue as people, with a `review` token.

The judge is served exactly what a reviewer's page is served (the stealth view of
reviewq.web.review_view), receives planted canaries and controls the same way, and gets the
same reveal after deciding. Its decisions are recorded under its reviewer account.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Flask, jsonify, request

from reviewq.domain import claims, projection
from reviewq.domain import decide as decide_domain
from reviewq.domain.audit import record_event
from reviewq.models import Scope, User
from reviewq.web.api_auth import authenticate
from reviewq.web.clock import app_now, claim_rng
from reviewq.web.database import commit, db_session, get_settings
from reviewq.web.errors import ApiError
from reviewq.web.review import decision_from, reviewer_item_view
from reviewq.web.review_view import decision_view
from reviewq.web.security import csrf

bp = Blueprint("api_review", __name__, url_prefix="/api/v1/review")
csrf.exempt(bp)

@dataclass(frozen=True)
class Judge:
    id: int
    name: str


def _judge() -> Judge:
    caller = authenticate(Scope.REVIEW)
    reviewer_id = caller.token.reviewer_id
    user = db_session().get(User, reviewer_id) if reviewer_id is not None else None
    if user is None or not user.active:
        raise ApiError(403, "forbidden", "this judge's reviewer account is missing or deactivated")
    return Judge(id=user.id, name=user.name)


@bp.post("/next")
def next_item():
    """The item this judge holds, else a fresh claim; {"item": null} when nothing is due."""
    judge, settings, now = _judge(), get_settings(), app_now()
    session = db_session()
    lease = settings.queue.lease_seconds
    item = claims.resume_held(session=session, reviewer_id=judge.id, now=now, lease_seconds=lease)
    if item is None:
        # The same claim as a person's queue page: with the judge's canary probability, a projected copy.
        item = projection.claim(session=session, reviewer_id=judge.id, now=now, settings=settings, rng=claim_rng())
    body = {"item": reviewer_item_view(item), "lease_seconds": lease}
    commit()
    return jsonify(body)


@bp.post("/<public_id>/decide")
def decide(public_id: str):
    """Record the judge's verdict ({"verdict", "reason"?, "note"?}) on the item it holds."""
    judge, settings, now = _judge(), get_settings(), app_now()
    data = decision_from(request.get_json(silent=True))
    result = decide_domain.decide(session=db_session(), public_id=public_id, reviewer=judge, data=data, now=now,
                                  settings=settings)
    body = {"decision": decision_view(result.decision, public_id=public_id, settled=result.settled),
            "reveal": result.effects.reveal}
    commit()
    return jsonify(body)


@bp.post("/<public_id>/skip")
def skip(public_id: str):
    """Give the item back to the queue (the judge cannot tell)."""
    judge, now = _judge(), app_now()
    session = db_session()
    released = claims.release(session=session, public_id=public_id, reviewer_id=judge.id, now=now)
    if released:
        record_event(session=session, actor=f"agent:{judge.name}", action="item.skipped", object_type="item",
                     object_id=public_id, now=now)
    commit()
    return jsonify({"released": released})


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
