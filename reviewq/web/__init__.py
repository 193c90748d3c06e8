"""The Flask app factory: it only wires the pieces together."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from reviewq.config import Settings, check_secret_key, load_settings, secure_cookies
from reviewq.web.json_responses import OrjsonProvider


def create_app(settings: Settings | None = None, *, clock: Callable[[], datetime] | None = None,
               claim_rng: random.Random | None = None) -> Flask:
    """`clock` and `claim_rng` default to the wall clock and the system's randomness (web/clock.py)."""
    settings = settings or load_settings()
    check_secret_key(settings)
    app = Flask(__name__)
    app.json = OrjsonProvider(app)
    if settings.server.proxy_count:
        # Trust exactly this many proxies' X-Forwarded-For/-Proto/-Host/-Port: the login throttle
        # then sees each client's own address, and the https check sees the client's scheme.
        n = settings.server.proxy_count
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)
    secure = secure_cookies(settings)
    app.config.update(
        SECRET_KEY=settings.server.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=secure,
        MAX_CONTENT_LENGTH=settings.api.max_body_bytes,
        WTF_CSRF_TIME_LIMIT=None,
        TESTING=settings.server.mode == "test",
    )
    app.extensions["reviewq.settings"] = settings

    from reviewq.web import auth, database, errors, health, security
    from reviewq.web import clock as app_clock

    app_clock.init_app(app, clock=clock, claim_rng=claim_rng)
    database.init_app(app, settings)
    errors.init_app(app)
    security.init_app(app, settings)
    auth.init_app(app)
    health.init_app(app)

    from reviewq.web import admin_webhooks, api

    api.init_app(app)
    admin_webhooks.init_app(app)

    from reviewq.web import admin, review

    review.init_app(app)
    admin.init_app(app)

    from reviewq.web import dashboard

    dashboard.init_app(app)

    from reviewq.web import admin_canaries

    admin_canaries.init_app(app)

    from reviewq.web import disputes

    disputes.init_app(app)
    from reviewq.web import availability

    availability.init_app(app)


    from reviewq.web import items

    items.init_app(app)

    from reviewq.web import agreement

    agreement.init_app(app)

    from reviewq.web import failures

    failures.init_app(app)

    from reviewq.web import api_review

    api_review.init_app(app)
    return app
