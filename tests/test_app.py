"""The app as a whole: health, settings, security headers, errors, command line."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest
import sqlalchemy as sa

from buddy import create_app
from buddy.settings import ConfigError
from tests.conftest import ROOT


def test_healthz_says_the_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": True}


@pytest.mark.parametrize("url", [
    "postgresql+psycopg://buddy@127.0.0.1:{port}/buddy",  # nothing listens on the port
    "sqlite:///{tmp}",  # a directory: SQLite cannot open it
])
def test_healthz_is_503_when_the_database_does_not_answer(make_app, tmp_path, url):
    """A load balancer takes a worker whose database is down out of service."""
    from tests.fakes import free_port

    app = make_app(BUDDY_DATABASE_URL=url.format(port=free_port(), tmp=tmp_path))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "degraded", "database": False,
                                   "message": "The database is not answering"}


@pytest.mark.parametrize("secret", [None, "", "changeme", "too-short"])
def test_production_refuses_to_start_without_a_real_secret(settings, secret):
    overrides = {**settings, "BUDDY_ENV": "production"}
    overrides.pop("BUDDY_SECRET_KEY")
    if secret is not None:
        overrides["BUDDY_SECRET_KEY"] = secret
    with pytest.raises(ConfigError, match="BUDDY_SECRET_KEY is missing or too weak"):
        create_app(overrides)


WEAK_SECRETS = [
    "a" * 32,
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "0123456789" * 4,
    "abcdefghijklmnopqrstuvwxyz0123456789",
    "password" + "!" * 24,
    "password" * 4,
    "correcthorsebatterystaple0000000",
    "supercalifragilisticexpialidocious",
    "Secret-Secret-Secret-Secret-Secret-Secret",
]


@pytest.mark.parametrize("secret", WEAK_SECRETS)
def test_production_refuses_a_secret_key_of_little_entropy(make_app, secret):
    with pytest.raises(ConfigError) as refused:
        make_app(**{**PRODUCTION, "BUDDY_SECRET_KEY": secret})
    message = str(refused.value)
    assert "BUDDY_SECRET_KEY is missing or too weak" in message
    assert 'python -c "import secrets; print(secrets.token_urlsafe(48))"' in message
    assert secret not in message  # a refused secret is still a secret: never echoed


@pytest.mark.parametrize("make_secret", [lambda: secrets.token_urlsafe(48),
                                         lambda: secrets.token_urlsafe(32),
                                         lambda: secrets.token_hex(32)])
def test_production_accepts_generated_secret_keys(make_app, make_secret):
    for _ in range(50):  # random values: none of many may be refused
        key = make_secret()
        assert make_app(**{**PRODUCTION, "BUDDY_SECRET_KEY": key}).secret_key == key


TEXTS = {"BUDDY_CHANNELS": "email,sms", "TWILIO_ACCOUNT_SID": "AC" + secrets.token_hex(16),
         "TWILIO_FROM_NUMBER": "+15005550006"}


@pytest.mark.parametrize("token", ["t" * 32, "0123456789abcdef" * 2, "deadbeef" * 4])
def test_production_refuses_a_placeholder_twilio_auth_token(make_app, token):
    """The auth token signs Twilio's webhooks: a guessable one lets anyone forge replies."""
    with pytest.raises(ConfigError, match="TWILIO_AUTH_TOKEN looks like a placeholder"):
        make_app(**{**PRODUCTION, **TEXTS, "TWILIO_AUTH_TOKEN": token})


def test_production_accepts_real_twilio_auth_tokens(make_app):
    for _ in range(200):  # Twilio issues 32 random hexadecimal characters
        token = secrets.token_hex(16)
        app = make_app(**{**PRODUCTION, **TEXTS, "TWILIO_AUTH_TOKEN": token})
        assert app.config["TWILIO_AUTH_TOKEN"] == token


def test_bad_number_setting_is_named(make_app):
    with pytest.raises(ConfigError, match="BUDDY_LOGIN_MAX_FAILURES must be a whole number"):
        make_app(BUDDY_LOGIN_MAX_FAILURES="five")


def test_pages_send_security_headers(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script>" not in response.get_data(as_text=True)  # no inline script anywhere


def test_hsts_behind_a_tls_proxy(make_app):
    app = make_app(BUDDY_PROXY_HOPS=1)
    response = app.test_client().get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "max-age=" in response.headers["Strict-Transport-Security"]


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)


def test_nhs_frontend_is_served_from_the_installed_package(client):
    for name in ("nhsuk-frontend.min.css", "nhsuk-frontend.min.js"):
        with client.get(f"/assets/{name}") as response:
            assert response.status_code == 200
            assert len(response.get_data()) > 10_000


def test_sqlite_enforces_foreign_keys(app, session):
    from buddy.messaging.models import Message
    from buddy.models import utcnow

    session.add(Message(user_id=12345, channel="email", kind="x", subject="y", to_address="a",
                        title="", body="", due_at=utcnow()))
    with pytest.raises(sa.exc.IntegrityError):
        session.commit()


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    buddy = os.path.join(os.path.dirname(sys.executable), "buddy")
    return subprocess.run([buddy, *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env={**os.environ, **(env or {})})


def test_cli_init_db_migrates_an_empty_database(tmp_path, db_backend, request):
    if db_backend == "postgresql":
        server = request.getfixturevalue("postgres_server")
        admin = sa.create_engine(server.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("CREATE DATABASE cli_empty"))
        admin.dispose()
        url = server.url("cli_empty")
    else:
        url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    result = run_cli("init-db", env={"BUDDY_DATABASE_URL": url, "BUDDY_ENV": "test"})
    assert result.returncode == 0, result.stderr
    assert "Database is up to date" in result.stdout
    engine = sa.create_engine(url)
    tables = set(sa.inspect(engine).get_table_names())
    engine.dispose()
    assert {"users", "people", "audit_events", "messages", "alembic_version"} <= tables


def test_cli_without_secret_in_production_says_what_to_do():
    result = run_cli("init-db", env={"BUDDY_ENV": "production", "BUDDY_SECRET_KEY": ""})
    assert result.returncode == 1
    assert "Buddy cannot start: BUDDY_SECRET_KEY is missing" in result.stderr
    assert "Traceback" not in result.stderr


def test_migrations_match_the_models(database_url):
    """A model change without its migration fails here, not in production."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    import buddy.messaging.models  # noqa: F401
    import buddy.models  # noqa: F401
    from buddy.db import build_engine

    engine = build_engine(database_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    engine.dispose()
    assert diff == []


PRODUCTION = {
    "BUDDY_ENV": "production",
    "BUDDY_SECRET_KEY": "Qm4v0xq0H1a7bT2kY9cRr3sWnLz8uE5dJpF6gV1hNoC-_iKt",
    "BUDDY_DATABASE_URL": "postgresql+psycopg://buddy@127.0.0.1:1/buddy",
    "BUDDY_PUBLIC_URL": "https://buddy.example.nhs.uk",
    "BUDDY_ARGON2_TIME_COST": 2,
    "BUDDY_ARGON2_MEMORY_KIB": 19456,
    "BUDDY_CHANNELS": "email",
    "BUDDY_SMTP_HOST": "smtp.example.nhs.uk",
    "BUDDY_MAIL_FROM": "buddy@example.nhs.uk",
    "BUDDY_ANALYTICS_KEY": "Zr8qLw2Nc5Xv0Ty7Bm4Hd9Kf1Gs6Jp3Ue-_aWiRoQxEtY",
}


def test_safe_production_settings_start(make_app):
    app = make_app(**PRODUCTION)
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["REMEMBER_COOKIE_SECURE"]


@pytest.mark.parametrize(("memory", "passes"), [(7168, 5), (19456, 2), (47104, 1), (65536, 3)])
def test_production_accepts_every_owasp_argon2_setting(make_app, memory, passes):
    app = make_app(**{**PRODUCTION, "BUDDY_ARGON2_MEMORY_KIB": memory,
                      "BUDDY_ARGON2_TIME_COST": passes})
    assert (app.config["BUDDY_ARGON2_MEMORY_KIB"], app.config["BUDDY_ARGON2_TIME_COST"]) == (
        memory, passes)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"BUDDY_DATABASE_URL": "sqlite:////tmp/x.sqlite3"}, "must point at PostgreSQL"),
        ({"BUDDY_PUBLIC_URL": "http://buddy.example.nhs.uk"},
         "BUDDY_PUBLIC_URL must be the https:// address"),
        ({"BUDDY_ARGON2_TIME_COST": 1}, "weaker than OWASP's argon2id minimum"),
        ({"BUDDY_ARGON2_MEMORY_KIB": 7168, "BUDDY_ARGON2_TIME_COST": 4},
         "BUDDY_ARGON2_MEMORY_KIB=7168 with BUDDY_ARGON2_TIME_COST=4 is weaker"),
        # A fixed clock is for walking a programme year in development and test only.
        ({"BUDDY_NOW": "2027-08-04T09:00:00+01:00"}, "BUDDY_NOW fixes the clock"),
    ],
)
def test_production_refuses_unsafe_settings(make_app, change, message):
    with pytest.raises(ConfigError, match=message):
        make_app(**{**PRODUCTION, **change})


@pytest.mark.parametrize("server_kind", ["buddy serve", "gunicorn"])
def test_server_answers_on_its_port(database_url, server_kind):
    """`make run` ends in `buddy serve`, and production runs gunicorn with
    config/gunicorn.conf.py: each must really serve (Flask ignores app.run() in its own
    command line; a broken hook in the gunicorn settings would stop every worker)."""
    import time
    import urllib.request

    from tests.fakes import free_port

    port = free_port()
    if server_kind == "buddy serve":
        command = [os.path.join(os.path.dirname(sys.executable), "buddy"), "serve",
                   "--port", str(port)]
    else:
        command = [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py",
                   "buddy.wsgi:app"]
    server = subprocess.Popen(command, cwd=ROOT,
                              env={**os.environ, "BUDDY_DATABASE_URL": database_url,
                                   "BUDDY_ENV": "test", "PORT": str(port),
                                   "WEB_CONCURRENCY": "1"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200 and b'"database":true' in r.read()
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise AssertionError(f"{server_kind} did not answer")
    finally:
        server.terminate()
        server.wait(timeout=10)
