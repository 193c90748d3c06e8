"""/account/password: every signed-in user changes their own password."""

from __future__ import annotations

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for
from flask_login import current_user

from reviewq.domain.audit import user_actor
from reviewq.domain.errors import DomainError
from reviewq.domain.users import authenticate, set_password
from reviewq.models import utcnow
from reviewq.web.auth import ANY_ROLE, role_required
from reviewq.web.database import commit, db_session

bp = Blueprint("account", __name__)


@bp.get("/account/password")
@role_required(*ANY_ROLE)
def password():
    return render_template("account_password.html", error=None), 200


@bp.post("/account/password")
@role_required(*ANY_ROLE)
def change_password():
    """The current password proves it is the owner at the keyboard; the domain's rules judge the new one."""
    session = db_session()
    current, new, again = (request.form.get(k, "") for k in ("current", "new", "confirm"))
    user = authenticate(session=session, name=current_user.name, password=current)
    if user is None:
        return render_template("account_password.html", error=("current", "Your current password is not right.")), 422
    if new != again:
        return render_template("account_password.html",
                               error=("confirm", "The two new passwords differ. Type the same one twice.")), 422
    try:
        set_password(session=session, user=user, password=new, now=utcnow(), actor=user_actor(user.name))
    except DomainError as exc:
        return render_template("account_password.html", error=("new", exc.message[:1].upper() + exc.message[1:] + ".")
                               ), 422
    commit()
    flash("Your password is changed.", "ok")
    return redirect(url_for("account.password"), 303)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
