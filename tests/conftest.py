"""Fixtures: app -> session -> client / runner, a fresh database per test.

`--db sqlite` (default) or `--db postgresql` picks the database; PostgreSQL runs on a
throwaway server started here. A missing PostgreSQL fails the run, it never skips.
"""

from __future__ import annotations

import itertools
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from buddy import create_app, migrate
from tests.fakes import FakeSMTP, FakeTwilio
from tests.postgres import PostgresServer

TEST_SETTINGS = {
    "BUDDY_ENV": "test",
    "BUDDY_SECRET_KEY": "test-secret-key-test-secret-key-0123456789",
    "BUDDY_PUBLIC_URL": "http://localhost",
    # Cheap hashing keeps the suite fast; production uses config/settings.toml's cost.
    "BUDDY_ARGON2_TIME_COST": 1,
    "BUDDY_ARGON2_MEMORY_KIB": 8,
    "BUDDY_ARGON2_PARALLELISM": 1,
    "WTF_CSRF_ENABLED": False,
}
_counter = itertools.count()
# The local fake of Twilio's API checks these (tests/messaging and every test that sends).
AUTH_TOKEN = "test-twilio-auth-token"
ACCOUNT_SID = "AC" + "0" * 32
FROM_NUMBER = "+15005550006"


def pytest_addoption(parser):
    parser.addoption("--db", choices=["sqlite", "postgresql"], default="sqlite",
                     help="database the app tests run on")


@pytest.fixture(scope="session")
def db_backend(request) -> str:
    return request.config.getoption("--db")


@pytest.fixture(scope="session")
def postgres_server():
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def template_database(db_backend, tmp_path_factory, request):
    """A migrated database that each test copies: migrations run once per session."""
    if db_backend == "postgresql":
        server = request.getfixturevalue("postgres_server")
        admin = sa.create_engine(server.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("CREATE DATABASE buddy_template"))
        admin.dispose()
        migrate.upgrade(server.url("buddy_template"))
        return server.url("buddy_template")
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    migrate.upgrade(f"sqlite:///{path}")
    return str(path)


@contextmanager
def copied_database(db_backend: str, template_database: str, directory: Path, request):
    """A database copied from the migrated template (its URL), dropped afterwards."""
    if db_backend == "postgresql":
        server = request.getfixturevalue("postgres_server")
        name = f"test_{next(_counter)}"
        admin = sa.create_engine(server.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name} TEMPLATE buddy_template"))
        try:
            yield server.url(name)
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            admin.dispose()
    else:
        path = directory / "buddy.sqlite3"
        shutil.copy(template_database, path)
        yield f"sqlite:///{path}"


@pytest.fixture
def database_url(db_backend, template_database, tmp_path, request):
    """A fresh database for one test."""
    with copied_database(db_backend, template_database, tmp_path, request) as url:
        yield url


@pytest.fixture
def settings(database_url) -> dict:
    return {**TEST_SETTINGS, "BUDDY_DATABASE_URL": database_url}


@pytest.fixture
def make_app(settings):
    """Build extra apps (say, a second worker) on the test's database; disposed after."""
    apps = []

    def make(**overrides):
        app = create_app({**settings, **overrides})
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["buddy.engine"].dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def session(app):
    """A session of the test's own, outside any app context.

    Requests made by the test client then get their own app context (and `g`), as in
    production; the test reads what they committed through this session.
    """
    with Session(app.extensions["buddy.engine"], expire_on_commit=False) as s:
        yield s


@pytest.fixture
def app_context(app):
    """For tests that call services directly (they read settings from current_app)."""
    with app.app_context():
        yield


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def factory(app, session):
    from tests.factories import Factory

    return Factory(app, session)


ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def fake_twilio():
    """A local fake of Twilio's Messages API, driven by Twilio's own client over HTTP."""
    server = FakeTwilio().start()
    yield server
    server.stop()


@pytest.fixture
def fake_smtp():
    """A real SMTP server (aiosmtpd) on a free local port."""
    server = FakeSMTP().start()
    yield server
    server.stop()


@pytest.fixture
def channel_settings(fake_twilio, fake_smtp) -> dict:
    """Settings that send email to fake_smtp and texts to fake_twilio."""
    return {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": FROM_NUMBER,
        "TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886",
        "BUDDY_TWILIO_API_URL": fake_twilio.url,
        "BUDDY_SMTP_HOST": fake_smtp.host,
        "BUDDY_SMTP_PORT": fake_smtp.port,
        "BUDDY_MAIL_FROM": "Buddy <buddy@example.org>",
    }
