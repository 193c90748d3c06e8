"""Logins with flask-login, and the one `role_required` decorator every protected route uses."""

from __future__ import annotations

from dataclasses import dataclass
from functools import wraps
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Blueprint, Flask, abort, flash, redirect, render_template, request, url_for
from flask import session as flask_session
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user

from reviewq.domain import login_throttle as throttle
from reviewq.domain.audit import record_event, user_actor
from reviewq.domain.errors import DomainError
from reviewq.domain.login_throttle import LoginLimits
from reviewq.domain.users import authenticate, change_own_password, end_sessions
from reviewq.lean_sql import Prebuilt
from reviewq.models import Role, User
from reviewq.web.clock import app_now
from reviewq.web.database import commit, db_session, get_database, get_settings
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


# Every request loads its user: five columns by primary key, statement built once, no ORM object.
_USER_SNAPSHOT = Prebuilt(sa.select(User.id, User.name, User.role, User.active, User.session_version).where(
    User.id == sa.bindparam("user_id")
))
# The user's session version at login, kept in the signed session cookie.
SESSION_VERSION_KEY = "_rq_sv"


@login_manager.user_loader
def _load_user(user_id: str) -> LoginUser | None:
    if not user_id.isdigit():
        return None
    params = {"user_id": int(user_id)}
    if request.method in ("GET", "HEAD"):
        # A page that may only read reads its user aside: on SQLite the request's session takes
        # the write lock with its first statement, and every logged-in page (a dashboard's 200 ms
        # too) held it from here to its end, stalling every reviewer's decision meanwhile.
        with get_database().read_engine.connect() as reader:
            row = _USER_SNAPSHOT.run(reader, params).first()
    else:
        # A POST reads the user through its own session (a second connection per call cost the
        # four-reviewer review loop 5-15 % of its decisions per second): the write transaction,
        # or the read session of a view that reads first (role_required). On SQLite it runs on
        # the bare cursor (lean_sql.py).
        row = _USER_SNAPSHOT.run(db_session(), params).first()
    if row is None or not row.active:
        return None
    # Logout, a password or role change and deactivation bump the version: older cookies are void.
    if flask_session.get(SESSION_VERSION_KEY) != row.session_version:
        return None
    return LoginUser(id=row.id, name=row.name, role=Role(row.role), active=row.active)


def start_session(user: User) -> None:
    """Log `user` in on this browser, bound to their current session version."""
    login_user(LoginUser.from_user(user))
    flask_session[SESSION_VERSION_KEY] = user.session_version


@login_manager.unauthorized_handler
def _unauthorized():
    if wants_json():
        return error_response(401, "unauthorized", "log in first")
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def role_required(*roles: Role, json: bool = False, reads_first: bool = False):
    """Let in logged-in users holding one of `roles`: 401/redirect without a login, 403 without the role.

    `json=True` marks an endpoint that only ever answers JSON (the queue page's fetch calls), so
    it refuses with 401/403 JSON whatever the request's Accept header says. `reads_first=True`
    marks a POST that usually only reads: its user is read in a read session, and the view calls
    `begin_writing()` if it must write (on SQLite the write lock is taken only then).
    """
    allowed = frozenset(Role(r) for r in roles)

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if reads_first:
                db_session(readonly=True)  # the user loader reads through it
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


def home_for(user: LoginUser) -> str:
    """Leads and admins land on the dashboard; reviewers on the queue."""
    return url_for("dashboard.index" if user.role in LEADS else "review.queue")


EVERYONE_NAV = [("Queue", "review.queue"), ("My work", "review.me"), ("Disputes", "disputes.mine"),
                ("On call", "notify_views.oncall")]
LEAD_NAV = [("Dashboard", "dashboard.index"), ("Review disputes", "disputes.review"), ("Items", "items.browse"),
            ("Agreement", "agreement.page"), ("Failures", "failures.page"), ("Admin", "admin.index")]


def nav_links(user) -> list[tuple[str, str]]:
    """(label, url) for the top bar: only pages this user's role may open."""
    if not getattr(user, "is_authenticated", False):
        return []
    wanted = EVERYONE_NAV + (LEAD_NAV if user.role in LEADS else [])
    return [(label, url_for(endpoint)) for label, endpoint in wanted]


# --- login throttling: counted in the database (reviewq.domain.login_throttle) ------------------


def _source() -> str:
    # The client's address; behind [server] proxy_count trusted proxies, ProxyFix has put the
    # client's own address here from X-Forwarded-For.
    return request.remote_addr or "unknown"


def login_limits() -> LoginLimits:
    return LoginLimits.from_settings(get_settings().security)


REFUSALS = {
    "pair": "Too many failed logins. Wait a minute, then try again.",
    "source": "Too many failed logins from your network. Wait a minute, then try again.",
    "account": "This account is locked after too many failed logins. A lead can unlock it, "
               "or wait and try again later.",
}


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("login.html", next=request.args.get("next", ""))
    name = request.form.get("name", "").strip()
    password = request.form.get("password", "")
    session = db_session()
    now = app_now()
    limits = login_limits()
    refusal = throttle.reserve_attempt(session=session, name=name, source=_source(), now=now, limits=limits)
    commit()  # the attempt counts for everyone else before the slow password check
    if refusal is not None:
        flash(REFUSALS[refusal.scope], "error")
        page = render_template("login.html", next=request.form.get("next", ""), name=name)
        return page, 429, {"Retry-After": str(refusal.retry_after_s)}
    # The slow password check reads through a read-only session of its own: on the request's
    # session it would hold SQLite's write lock for the whole hash, stalling every reviewer's
    # decision behind each login.
    # Closed, not rolled back, so the user read stays loaded.
    reader = get_database().session(readonly=True)
    try:
        user = authenticate(session=reader, name=name, password=password)
    finally:
        reader.close()
    if user is None:
        throttle.login_failed(session=session, name=name, source=_source(), now=now, limits=limits)
        commit()
        flash("Wrong name or password.", "error")
        return render_template("login.html", next=request.form.get("next", ""), name=name), 401
    throttle.attempt_succeeded(session=session, name=name, source=_source())
    start_session(user)
    record_event(session=session, actor=user_actor(user.name), action="user.login",
                 object_type="user", object_id=user.id, now=now)
    commit()
    return redirect(_safe_next(request.form.get("next")) or home_for(current_user))


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        from reviewq.domain.claims import release_all

        session = db_session()
        user = session.get(User, current_user.id)
        if user is not None:
            end_sessions(session=session, user=user)  # every browser of this user, not just this one
        release_all(session=session, reviewer_id=current_user.id, now=app_now())
        record_event(session=session, actor=user_actor(current_user.name), action="user.logout",
                     object_type="user", object_id=current_user.id, now=app_now())
        commit()
        logout_user()
    flask_session.pop(SESSION_VERSION_KEY, None)
    return redirect(url_for("auth.login"))


@bp.route("/me/password", methods=["GET", "POST"])
@role_required(*ANY_ROLE)
def change_password():
    """Change one's own password: every other session of this user ends, this one stays."""
    if request.method == "GET":
        return render_template("password.html")
    session = db_session()
    user = session.get(User, current_user.id)
    new = request.form.get("password", "")
    if new != request.form.get("confirm", ""):
        flash("The new password and its confirmation differ.", "error")
        return render_template("password.html"), 422
    try:
        change_own_password(session=session, user=user, current=request.form.get("current_password", ""),
                            new=new, now=app_now())
    except DomainError as exc:
        flash(exc.message[:1].upper() + exc.message[1:] + ".", "error")
        return render_template("password.html"), 422
    commit()
    start_session(user)
    flash("Password changed. Your other sessions have been logged out.", "ok")
    return redirect(url_for("auth.change_password"), 303)


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    app.register_blueprint(bp)
    app.jinja_env.globals["nav_links"] = lambda: nav_links(current_user)

    @app.get("/")
    def index():
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login"))
        return redirect(home_for(current_user))
