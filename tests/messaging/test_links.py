"""Links in messages reach the app: in development and test, when BUDDY_PUBLIC_URL is not set,
they follow the port the app serves on (PORT, `buddy serve --port`); production needs it set.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from sqlmodel import select

from buddy.jobs import SHARED_SETTINGS
from buddy.messaging.models import Message
from buddy.models import User
from buddy.settings import ConfigError, load_settings
from tests.conftest import TEST_SETTINGS
from tests.fakes import free_port
from tests.messaging.test_pages import PRODUCTION

ROOT = Path(__file__).resolve().parent.parent.parent
BUDDY = os.path.join(os.path.dirname(sys.executable), "buddy")


@pytest.mark.parametrize(("environ", "url"), [
    ({}, "http://127.0.0.1:5000"),
    ({"PORT": "5077"}, "http://127.0.0.1:5077"),
    ({"PORT": " 5077 "}, "http://127.0.0.1:5077"),
    ({"PORT": "5077", "BUDDY_PUBLIC_URL": "http://buddy.test:8000"}, "http://buddy.test:8000"),
    ({"BUDDY_ENV": "test", "PORT": "6001"}, "http://127.0.0.1:6001"),
])
def test_the_public_url_follows_the_port_unless_set(environ, url):
    assert load_settings(environ=environ)["BUDDY_PUBLIC_URL"] == url


@pytest.mark.parametrize("port", ["abc", "0", "70000", "٥٠٧٧", "50 77"])
def test_a_port_that_is_not_one_says_so(port):
    with pytest.raises(ConfigError, match=f"PORT must be a port number from 1 to 65535, not "
                                          f"{re.escape(repr(port.strip()))}"):
        load_settings(environ={"PORT": port})


def test_production_needs_the_public_url_set():
    config = {**PRODUCTION, "BUDDY_CHANNELS": "email", "BUDDY_PUBLIC_URL": "",
              "BUDDY_DATABASE_URL": "postgresql+psycopg://buddy@db.example/buddy"}
    with pytest.raises(ConfigError, match="BUDDY_PUBLIC_URL must be set in production"):
        load_settings(environ={"PORT": "5077"}, overrides=config)


@pytest.fixture
def settings(settings, monkeypatch):
    """The test settings with no BUDDY_PUBLIC_URL, and the app run with PORT=5077."""
    monkeypatch.delenv("BUDDY_PUBLIC_URL", raising=False)
    monkeypatch.setenv("PORT", "5077")
    return {k: v for k, v in settings.items() if k != "BUDDY_PUBLIC_URL"}


def test_an_app_on_port_5077_writes_links_to_it(app, session, factory):
    person = factory.newcomer(channel="email")
    bodies = [m.body for m in session.exec(select(Message).where(
        Message.person_id == person.id)).all()]
    links = [link for body in bodies for link in re.findall(r"https?://\S+", body)]
    assert links and all(link.startswith("http://127.0.0.1:5077/") for link in links), links
    # A match run's job process is started with the same address.
    assert "BUDDY_PUBLIC_URL" in SHARED_SETTINGS
    assert app.config["BUDDY_PUBLIC_URL"] == "http://127.0.0.1:5077"


def _env(settings, **more) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("BUDDY_PUBLIC_URL", "PORT")}
    return {**env, **{k: str(v) for k, v in {**TEST_SETTINGS, **settings}.items()
                      if k != "BUDDY_PUBLIC_URL" and k.startswith("BUDDY_")}, **more}


def test_the_scheduler_process_writes_the_same_links(settings, session, factory):
    """`make run` exports PORT to the scheduler beside the web server: the daily jobs it runs
    (here the question to volunteers before an intake) link to the same port."""
    volunteer = factory.volunteer(channel="email")
    done = subprocess.run([BUDDY, "daily"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=_env(settings, PORT="5077",
                                                BUDDY_NOW="2027-05-23T10:00:00+01:00"))
    assert done.returncode == 0, done.stderr
    session.expire_all()
    asked = session.exec(select(Message).where(Message.person_id == volunteer.id,
                                               Message.kind == "availability_ask")).one()
    assert "http://127.0.0.1:5077/" in asked.body


def test_buddy_serve_on_a_port_links_to_that_port(settings, session, factory):
    """`buddy serve --port N` without PORT: the reset link in the email points at N."""
    user = session.get(User, factory.volunteer().user_id)
    port = free_port()
    server = subprocess.Popen([BUDDY, "serve", "--port", str(port)], cwd=ROOT,
                              env=_env(settings), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    try:
        for _ in range(150):
            try:
                page = opener.open(f"{base}/forgot-password", timeout=2).read().decode()
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise AssertionError("buddy serve did not answer")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
        form = urllib.parse.urlencode({"csrf_token": token, "email": user.email}).encode()
        opener.open(f"{base}/forgot-password", data=form, timeout=10).read()
    finally:
        server.terminate()
        server.wait(timeout=10)
    session.expire_all()
    reset = session.exec(select(Message).where(Message.user_id == user.id,
                                               Message.kind == "password_reset")).one()
    assert f"{base}/reset-password/" in reset.body
