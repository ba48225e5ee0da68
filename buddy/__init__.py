"""Buddy: peer buddying and ambassador matching for GP specialty training in England."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta

from flask import Flask, abort, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.middleware.proxy_fix import ProxyFix

from buddy import db, options, text
from buddy.extensions import csrf, login_manager
from buddy.settings import ROOT, load_settings


def create_app(config: Mapping[str, object] | None = None) -> Flask:
    """Build the app from config/ defaults, the environment and `config` overrides.

    No database, network or scheduler work happens here (STYLE.md pattern 1).
    :raises ConfigError: for missing or unsafe settings.
    """
    settings = load_settings(overrides=config)
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder="static",
        instance_path=str(ROOT / "instance"),
    )
    configure(app, settings)
    register_request_log(app)
    register_extensions(app)
    register_blueprints(app)
    register_template_helpers(app)
    register_errorhandlers(app)
    register_commands(app)
    register_security_headers(app)
    return app


def configure(app: Flask, settings: dict) -> None:
    app.config.update(settings)
    production = settings["BUDDY_ENV"] == "production"
    app.config.update(
        SECRET_KEY=settings["BUDDY_SECRET_KEY"],
        TESTING=settings["BUDDY_ENV"] == "test",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=production,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=production,
        REMEMBER_COOKIE_DURATION=timedelta(days=min(settings["BUDDY_REMEMBER_DAYS"], 14)),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        WTF_CSRF_TIME_LIMIT=3600 * 4,
        MAX_CONTENT_LENGTH=1024 * 1024,
    )
    if settings["BUDDY_PROXY_HOPS"]:
        hops = settings["BUDDY_PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    if settings["BUDDY_ENV"] == "development":
        # The outbox logs each queued message at debug level: readable here, not in production.
        logging.getLogger("buddy.messaging.outbox").setLevel(logging.DEBUG)


def register_request_log(app: Flask) -> None:
    # First, so that every request, even one refused by a later hook, gets an id and a line.
    # Logging itself is configured by each process at start (buddy.logs.setup_process).
    from buddy import logs

    logs.init_app(app)


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Sign in to see this page"
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    from buddy import auth  # noqa: F401  (registers the user loader)


def register_blueprints(app: Flask) -> None:
    from buddy.messaging import views as messaging
    from buddy.views import (
        IdConverter,
        account,
        admin,
        auth,
        dashboard,
        families,
        family,
        guides,
        invitations,
        lead,
        main,
        programme,
        results,
        runs,
        signup,
        surveys,
    )

    # Before any route is added: every <int:...> in a URL is then an id the database can hold.
    app.url_map.converters["int"] = IdConverter
    app.register_blueprint(main.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(signup.bp, url_prefix="/join")
    app.register_blueprint(account.bp, url_prefix="/account")
    app.register_blueprint(lead.bp, url_prefix="/lead")
    app.register_blueprint(dashboard.bp, url_prefix="/lead")
    app.register_blueprint(admin.bp, url_prefix="/admin")
    app.register_blueprint(runs.bp, url_prefix="/lead/runs")
    app.register_blueprint(family.bp, url_prefix="/family")
    app.register_blueprint(families.bp, url_prefix="/lead/families")
    app.register_blueprint(messaging.bp, url_prefix="/messages")
    app.register_blueprint(programme.bp)  # /volunteer/..., /available/..., /account/volunteer
    app.register_blueprint(invitations.bp)  # /lead/invitations/..., /invited/<token>
    app.register_blueprint(guides.bp)  # /welcome/..., /lead/guide..., /admin/guide...
    app.register_blueprint(surveys.bp, url_prefix="/surveys")
    app.register_blueprint(results.bp)  # /lead/results, /lead/outcomes/..., /admin/results


def register_template_helpers(app: Flask) -> None:
    from buddy import phones, reference, timezones
    from buddy.services.cohorts import readable

    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.globals.update(options=options.options, checkbox_items=options.checkbox_items)
    app.jinja_env.filters["phone"] = phones.display
    app.jinja_env.filters["timezone"] = timezones.words
    app.jinja_env.globals["timezone_mismatch"] = timezones.saved_mismatch
    app.jinja_env.filters["longdate"] = lambda d: f"{d.day} {d:%B %Y}" if d else ""
    app.jinja_env.filters["interest"] = lambda slug: reference.interests().get(slug, slug)
    app.jinja_env.filters["language"] = lambda code: reference.languages().get(code, code)
    app.jinja_env.filters["percent"] = lambda v: "not applicable" if v is None else f"{v:.0%}"
    app.jinja_env.filters["datetime"] = lambda d: f"{d:%-d %b %Y, %H:%M} UTC" if d else ""
    app.jinja_env.filters["readable"] = readable
    app.jinja_env.filters["age"] = age


def age(delta) -> str:
    """A time span in plain words: "3 days", "5 hours", "12 minutes"."""
    seconds = max(0, int(delta.total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return "less than a minute"


def register_errorhandlers(app: Flask) -> None:
    def page(template: str, status: int, **context):
        db.rollback_session()
        return render_template(template, **context), status

    from buddy.services import NotFound

    app.register_error_handler(404, lambda e: page("errors/404.html", 404))
    # A record that is missing or outside the user's region is a 404, wherever it is raised.
    app.register_error_handler(NotFound, lambda e: page("errors/404.html", 404))
    app.register_error_handler(413, lambda e: page("errors/413.html", 413))
    app.register_error_handler(500, lambda e: page("errors/500.html", 500))
    app.register_error_handler(400, lambda e: page("errors/400.html", 400, reason=e.description))
    app.register_error_handler(db.ValueTooLong, lambda e: page("errors/400.html", 400,
                                                               reason=str(e)))

    @app.before_request
    def refuse_control_characters():
        # One check for every field, query parameter and path: NUL (PostgreSQL refuses it in
        # text), escape codes and other controls are in no answer a person types. Twilio's
        # webhooks are not a person typing: a text may hold a GSM form feed, and a 400 would
        # lose it, so replies.receive_text replaces such characters instead.
        if request.endpoint in TWILIO_WEBHOOKS:
            return
        values = [request.path, *request.args.keys(), *request.form.keys()]
        values += [*request.args.values(), *(v for _, v in request.form.items(multi=True))]
        if any(text.has_control(value) for value in values):
            abort(400, "Something you sent contains a control character (such as a NUL byte),"
                       " which no answer can contain. Go back, type the answer again and resend")

    @app.errorhandler(CSRFError)
    def csrf_error(_e):
        db.rollback_session()
        # A form left open too long: explain, and offer the way back, instead of a bare 400.
        return render_template("errors/csrf.html", back=request.path), 400


def register_commands(app: Flask) -> None:
    from buddy.cli import register

    register(app)


TWILIO_WEBHOOKS = frozenset({"messaging.twilio_inbound", "messaging.twilio_status"})

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)


def register_security_headers(app: Flask) -> None:
    @app.after_request
    def headers(response):
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        # Any page may show personal data (account, family, lead pages, exports, signed
        # links, a signed-in header): none is kept by a browser or proxy; static files may be.
        if request.endpoint not in ("static", "main.assets"):
            response.headers["Cache-Control"] = "no-store"
            response.headers["Pragma"] = "no-cache"
        if request.is_secure:
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        return response
