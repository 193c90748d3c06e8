"""The lead/admin pages: an index of admin tools, and user management.

Other blueprints serve /admin/webhooks, /admin/injections and the rest the index links to.
"""

from __future__ import annotations

from flask import Blueprint, Flask, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from reviewq.domain import login_throttle as throttle
from reviewq.domain import user_admin
from reviewq.domain.audit import user_actor
from reviewq.domain.errors import DomainError
from reviewq.domain.users import create_user, get_user_by_name, set_password
from reviewq.models import Role, UserCreate
from reviewq.web.auth import LEADS, login_limits, role_required
from reviewq.web.clock import app_now
from reviewq.web.database import commit, db_session

bp = Blueprint("admin", __name__)

ADMIN_PAGES = [
    ("dashboard.index", "Dashboard", "Catch rates, false alarms, time on task and the vigilance decay curve."),
    ("admin.users", "Users", "Create accounts, change roles, deactivate people who left."),
    ("admin_canaries.injections", "Canary injections", "What was planted for whom this week, and how it went."),
    ("admin_webhooks.delivery_log", "Webhooks", "Callback deliveries to agents: pending, retried, failed."),
    ("admin_canaries.audit", "Canary stealth audit",
     "Can planted items be told from real ones? AUC by source and template, the tells, and canary rates."),
    ("notify_views.delivery_log", "Notifications", "Messages to reviewers and leads (email, Slack, webhook, log): "
                                                   "announcements, escalations, updates, retries."),
    ("notify_views.oncall", "On call", "Who is available right now to answer escalated approvals."),
]


@bp.get("/admin")
@role_required(*LEADS)
def index():
    pages = [(url_for(endpoint), title, blurb) for endpoint, title, blurb in ADMIN_PAGES]
    return render_template("admin_index.html", pages=pages)


@bp.get("/admin/users")
@role_required(*LEADS)
def users():
    return _users_page()


def _users_page(status: int = 200, form: dict | None = None):
    session = db_session()
    limits = login_limits()
    locks = throttle.locked_accounts(session=session, now=app_now(), limits=limits)
    page = render_template(
        "admin_users.html",
        users=user_admin.list_users(session=session),
        roles=[r for r in Role if user_admin.may_manage(current_user.role, r, r)],
        all_roles=list(Role),
        may_manage=lambda target: user_admin.may_manage(current_user.role, Role(target.role)),
        form=form or {},
        locks=sorted(locks.items()),
        lock_failures=limits.lock_failures,
        lock_minutes=int(limits.lock_window.total_seconds() // 60),
    )
    return page, status


@bp.post("/admin/users")
@role_required(*LEADS)
def create():
    form = {"name": request.form.get("name", "").strip(), "role": request.form.get("role", Role.REVIEWER.value)}
    try:
        role = Role(form["role"])
    except ValueError:
        flash("Pick a role from the list.", "error")
        return _users_page(422, form)
    if not user_admin.may_manage(current_user.role, role, role):
        abort(403, "Only an admin may create admin accounts.")
    password = request.form.get("password", "")
    try:
        data = UserCreate.model_validate({"name": form["name"], "role": role, "password": password})
    except ValueError:
        flash("A password needs at least 8 characters.", "error")
        return _users_page(422, form)
    try:
        user = create_user(session=db_session(), data=data, now=app_now(), actor=user_actor(current_user.name))
    except DomainError as exc:
        flash(exc.message, "error")
        return _users_page(422 if exc.code == "invalid_field" else 409, form)
    commit()
    flash(f"Created {user.role.value} {user.name}.", "ok")
    return redirect(url_for("admin.users"), 303)


@bp.post("/admin/users/<int:user_id>/role")
@role_required(*LEADS)
def change_role(user_id: int):
    session = db_session()
    user = user_admin.get_user(session=session, user_id=user_id)
    try:
        role = Role(request.form.get("role", ""))
    except ValueError:
        abort(400, "Unknown role.")
    if not user_admin.may_manage(current_user.role, Role(user.role), role):
        abort(403, "Only an admin may change admin accounts or grant the admin role.")
    try:
        changed = user_admin.set_role(session=session, user=user, role=role, actor_id=current_user.id,
                                      actor=user_actor(current_user.name), now=app_now())
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.users"), 303)
    commit()
    if changed:
        flash(f"{user.name} is now {role.value}.", "ok")
    return redirect(url_for("admin.users"), 303)


@bp.post("/admin/users/<int:user_id>/password")
@role_required(*LEADS)
def reset_password(user_id: int):
    """Set someone's password (they forgot it, or it leaked); the domain's password rules apply."""
    session = db_session()
    user = user_admin.get_user(session=session, user_id=user_id)
    if not user_admin.may_manage(current_user.role, Role(user.role)):
        abort(403, "Only an admin may change admin accounts.")
    try:
        set_password(session=session, user=user, password=request.form.get("password", ""), now=app_now(),
                     actor=user_actor(current_user.name))
    except DomainError as exc:
        flash(f"Password for {user.name} not changed: {exc.message}.", "error")
        return _users_page(422)
    commit()
    flash(f"New password set for {user.name}. Tell them through a channel you trust.", "ok")
    return redirect(url_for("admin.users"), 303)


@bp.post("/admin/users/<int:user_id>/deactivate")
@role_required(*LEADS)
def deactivate(user_id: int):
    return _set_active(user_id, False)


@bp.post("/admin/users/<int:user_id>/activate")
@role_required(*LEADS)
def activate(user_id: int):
    return _set_active(user_id, True)


def _set_active(user_id: int, active: bool):
    session = db_session()
    user = user_admin.get_user(session=session, user_id=user_id)
    if not user_admin.may_manage(current_user.role, Role(user.role)):
        abort(403, "Only an admin may change admin accounts.")
    try:
        changed = user_admin.set_active(session=session, user=user, active=active, actor_id=current_user.id,
                                        actor=user_actor(current_user.name), now=app_now())
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.users"), 303)
    commit()
    if changed:
        flash(f"{user.name} {'can log in again' if active else 'is deactivated; their items went back to the queue'}.",
              "ok")
    return redirect(url_for("admin.users"), 303)


@bp.post("/admin/users/unlock")
@role_required(*LEADS)
def unlock():
    """Clear an account's login lock (after too many failed logins from anywhere)."""
    session = db_session()
    name = request.form.get("name", "").strip()
    target = get_user_by_name(session=session, name=name) if name else None
    if target is not None and not user_admin.may_manage(current_user.role, Role(target.role)):
        abort(403, "Only an admin may unlock admin accounts.")
    if throttle.clear_lock(session=session, name=name, now=app_now(), actor=user_actor(current_user.name)):
        commit()
        flash(f"{name} can log in again.", "ok")
    else:
        flash(f"{name} was not locked.", "ok")
    return redirect(url_for("admin.users"), 303)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
