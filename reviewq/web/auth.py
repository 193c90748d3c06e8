"""Logins with flask-login, and the one `role_required` decorator every protected route uses."""

from __future__ import annotations

from dataclasses import dataclass
from functools import wraps
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, flash, redirect, render_template, request, url_for
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user

from reviewq.domain.audit import record_event, user_actor
from reviewq.domain.users import authenticate
from reviewq.models import Role, User, utcnow
from reviewq.web.database import commit, db_session
from reviewq.web.errors import error_response, wants_json

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.session_protection = "strong"


@dataclass
class LoginUser(UserMixin):
    """What a request knows of its user: a snapshot, so no ORM object outlives its session."""

    id: int
    name: str
    role: Role
    active: bool

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        return str(self.id)

    @classmethod
    def from_user(cls, user: User) -> LoginUser:
        return cls(id=user.id, name=user.name, role=Role(user.role), active=user.active)

    def db_user(self) -> User:
        return db_session().get(User, self.id)


@login_manager.user_loader
def _load_user(user_id: str) -> LoginUser | None:
    if not user_id.isdigit():
        return None
    user = db_session().get(User, int(user_id))
    return LoginUser.from_user(user) if user is not None and user.active else None


@login_manager.unauthorized_handler
def _unauthorized():
    if wants_json():
        return error_response(401, "unauthorized", "log in first")
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def role_required(*roles: Role):
    """Let in logged-in users holding one of `roles`: 401/redirect without a login, 403 without the role."""
    allowed = frozenset(Role(r) for r in roles)

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role not in allowed:
                if wants_json():
                    return error_response(403, "forbidden", "your role may not use this")
                abort(403, "Your role may not open this page.")
            return view(*args, **kwargs)

        return wrapped

    return decorator


ANY_ROLE = (Role.REVIEWER, Role.LEAD, Role.ADMIN)
LEADS = (Role.LEAD, Role.ADMIN)


def _safe_next(target: str | None) -> str | None:
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def home_for(user: LoginUser) -> str:
    return url_for("review.queue") if "review" in _blueprints() else "/"


def _blueprints():
    from flask import current_app

    return current_app.blueprints


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("login.html", next=request.args.get("next", ""))
    name = request.form.get("name", "").strip()
    password = request.form.get("password", "")
    session = db_session()
    user = authenticate(session=session, name=name, password=password)
    if user is None:
        flash("Wrong name or password.", "error")
        return render_template("login.html", next=request.form.get("next", ""), name=name), 401
    login_user(LoginUser.from_user(user))
    record_event(session=session, actor=user_actor(user.name), action="user.login",
                 object_type="user", object_id=user.id, now=utcnow())
    commit()
    return redirect(_safe_next(request.form.get("next")) or home_for(current_user))


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        from reviewq.domain.queue import release_all

        session = db_session()
        release_all(session=session, reviewer_id=current_user.id, now=utcnow())
        record_event(session=session, actor=user_actor(current_user.name), action="user.logout",
                     object_type="user", object_id=current_user.id, now=utcnow())
        commit()
        logout_user()
    return redirect(url_for("auth.login"))


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    app.register_blueprint(bp)

    @app.get("/")
    def index():
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login"))
        return redirect(home_for(current_user))
