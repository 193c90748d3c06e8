"""Logins with flask-login, and the one `role_required` decorator every protected route uses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Blueprint, Flask, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from sqlmodel import Session, select

from reviewq.domain.audit import record_event, user_actor
from reviewq.domain.users import authenticate
from reviewq.models import AuditEvent, Role, User, utcnow
from reviewq.web.database import commit, db_session, get_settings
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


# Every request loads its user: four columns by primary key, statement built once, no ORM object.
_USER_SNAPSHOT = sa.select(User.id, User.name, User.role, User.active).where(User.id == sa.bindparam("user_id"))


@login_manager.user_loader
def _load_user(user_id: str) -> LoginUser | None:
    if not user_id.isdigit():
        return None
    row = db_session().execute(_USER_SNAPSHOT, {"user_id": int(user_id)}).first()
    if row is None or not row.active:
        return None
    return LoginUser(id=row.id, name=row.name, role=Role(row.role), active=row.active)


@login_manager.unauthorized_handler
def _unauthorized():
    if wants_json():
        return error_response(401, "unauthorized", "log in first")
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def role_required(*roles: Role, json: bool = False):
    """Let in logged-in users holding one of `roles`: 401/redirect without a login, 403 without the role.

    `json=True` marks an endpoint that only ever answers JSON (the queue page's fetch calls), so
    it refuses with 401/403 JSON whatever the request's Accept header says.
    """
    allowed = frozenset(Role(r) for r in roles)

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                if json:
                    return error_response(401, "unauthorized", "log in first")
                return login_manager.unauthorized()
            if current_user.role not in allowed:
                if json or wants_json():
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


def endpoint_for_path(path: str) -> str | None:
    """The endpoint serving `path` in this app, if some blueprint registered it."""
    for rule in current_app.url_map.iter_rules():
        if rule.rule == path:
            return rule.endpoint
    return None


def url_if_routed(path: str) -> str | None:
    endpoint = endpoint_for_path(path)
    return url_for(endpoint) if endpoint else None


def home_for(user: LoginUser) -> str:
    """Leads and admins land on the dashboard (or the admin index until it exists); reviewers on the queue."""
    if user.role in LEADS:
        for path in ("/dashboard", "/admin"):
            if target := url_if_routed(path):
                return target
    return url_if_routed("/queue") or url_for("auth.login")


def nav_links(user) -> list[tuple[str, str]]:
    """(label, url) for the top bar: only pages this user's role may open and this app serves."""
    if not getattr(user, "is_authenticated", False):
        return []
    wanted = [("Queue", "/queue"), ("My work", "/me")]
    if user.role in LEADS:
        wanted += [("Dashboard", "/dashboard"), ("Items", "/items"), ("Agreement", "/agreement"),
                   ("Failures", "/failures"), ("Admin", "/admin")]
    return [(label, url) for label, path in wanted if (url := url_if_routed(path))]


# --- login throttling -------------------------------------------------------------------------
# Failed logins are audit events, so the count is shared by every worker process and survives a
# restart: actor "ip:<address>", object_id the attempted name. The check runs before the password
# hash, so a throttled attempt costs no scrypt work and is not counted again.
LOGIN_FAILED = "user.login_failed"
THROTTLE_WINDOW = timedelta(minutes=1)


def _ip_actor() -> str:
    return f"ip:{request.remote_addr or 'unknown'}"[:100]


def login_throttled(*, session: Session, name: str, ip_actor: str, now: datetime, limit: int) -> bool:
    """True once this account or this address has `limit` failed logins within the last minute."""
    recent = (
        select(sa.func.count(AuditEvent.id))
        .where(AuditEvent.action == LOGIN_FAILED, AuditEvent.at > now - THROTTLE_WINDOW)
    )
    if session.exec(recent.where(AuditEvent.actor == ip_actor)).one() >= limit:
        return True
    return bool(name) and session.exec(recent.where(AuditEvent.object_id == name[:64])).one() >= limit


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("login.html", next=request.args.get("next", ""))
    name = request.form.get("name", "").strip()
    password = request.form.get("password", "")
    session = db_session()
    now = utcnow()
    limit = get_settings().security.max_failed_logins_per_minute
    if login_throttled(session=session, name=name, ip_actor=_ip_actor(), now=now, limit=limit):
        flash("Too many failed logins. Wait a minute, then try again.", "error")
        page = render_template("login.html", next=request.form.get("next", ""), name=name)
        return page, 429, {"Retry-After": str(int(THROTTLE_WINDOW.total_seconds()))}
    user = authenticate(session=session, name=name, password=password)
    if user is None:
        record_event(session=session, actor=_ip_actor(), action=LOGIN_FAILED, object_type="user",
                     object_id=name[:64], now=now)
        commit()
        flash("Wrong name or password.", "error")
        return render_template("login.html", next=request.form.get("next", ""), name=name), 401
    login_user(LoginUser.from_user(user))
    record_event(session=session, actor=user_actor(user.name), action="user.login",
                 object_type="user", object_id=user.id, now=now)
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
    app.jinja_env.globals["nav_links"] = lambda: nav_links(current_user)

    @app.get("/")
    def index():
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login"))
        return redirect(home_for(current_user))
