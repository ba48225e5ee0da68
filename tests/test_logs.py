"""Logs an operator can read: one JSON line per request without personal data, the same
format in every process (gunicorn workers, match-run jobs), and error reporting to a real
HTTP endpoint."""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from buddy import logs
from buddy.settings import ConfigError, load_settings
from tests.conftest import TEST_SETTINGS
from tests.factories import login
from tests.fakes import free_port

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "SIGNEDtoken0123456789"
EMAIL = "zoe.nunez@example.org"


@pytest.fixture
def log_lines():
    """The JSON lines this process logs during the test, parsed (logging as a process has it)."""
    stream = io.StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    quiet = {name: logging.getLogger(name).level for name in logs.QUIET_LOGGERS}
    logs.configure(stream=stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, was in quiet.items():
        logging.getLogger(name).setLevel(was)


def request_lines(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["logger"] == "buddy.request"]


def test_each_request_is_one_line_with_route_status_time_and_user_number(
        app, factory, log_lines):
    client = app.test_client()
    client.get(f"/reset-password/{TOKEN}?email={EMAIL}")
    lead = factory.staff("lead", region="wessex", email=EMAIL, full_name="Zoë Ñúñez")
    login(client, EMAIL)
    client.get("/lead/")
    client.get(f"/no/such/{TOKEN}")

    lines = request_lines(log_lines())
    assert [(line["route"], line["endpoint"], line["method"], line["status"])
            for line in lines] == [
        ("/reset-password/<token>", "auth.reset_password", "GET", 400),
        ("/login", "auth.login", "POST", 302),
        ("/lead/", "dashboard.index", "GET", 200),
        (None, None, "GET", 404),
    ]
    # The sign-in request is the first with a user.
    assert [line["user_id"] for line in lines] == [None, lead.id, lead.id, lead.id]
    assert all(isinstance(line["ms"], float) and line["ms"] >= 0 for line in lines)
    assert all(line["level"] == "INFO" and line["message"] == "request" for line in lines)
    text = json.dumps(log_lines(), ensure_ascii=False)
    # Neither the path's token, the query, the form's address nor the name reach the log.
    for secret in (TOKEN, "zoe", "nunez", "Zoë", "Ñúñez", "email="):
        assert secret not in text


def test_request_id_is_taken_from_a_proxy_when_sane_and_echoed(app, log_lines):
    client = app.test_client()
    given = "3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"
    sane = client.get("/healthz", headers={"X-Request-ID": given})
    refused = [client.get("/healthz", headers={"X-Request-ID": bad}) for bad in
               ("short", "has spaces in it", "x" * 129, '"quoted";alert(1)', "é" * 10)]
    missing = client.get("/healthz")

    assert sane.headers["X-Request-ID"] == given
    ids = [r.headers["X-Request-ID"] for r in (*refused, missing)]
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids) and len(set(ids)) == len(ids)
    assert [line["request_id"] for line in request_lines(log_lines())] == [given, *ids]


def test_callers_extra_fields_are_in_the_line(app, log_lines):
    logging.getLogger("buddy.provider").info("provider_call", extra={
        "kind": "sms", "channel": "sms", "outcome": "sent", "ms": 182.4,
        "message_id": 41})
    with app.test_request_context(headers={"X-Request-ID": "proxy-request-0001"}):
        app.preprocess_request()
        logging.getLogger("buddy.provider").warning("provider_call", extra={"outcome": "retry"})
    first, second = log_lines()
    assert first["logger"] == "buddy.provider" and first["message"] == "provider_call"
    assert {k: first[k] for k in ("kind", "channel", "outcome", "ms", "message_id")} == {
        "kind": "sms", "channel": "sms", "outcome": "sent", "ms": 182.4, "message_id": 41}
    assert "request_id" not in first
    # A line logged during a request carries that request's id.
    assert (second["level"], second["outcome"], second["request_id"]) == (
        "WARNING", "retry", "proxy-request-0001")


class _Collector(BaseHTTPRequestHandler):
    """A stand-in for an error-reporting service: keeps every envelope posted to it."""

    received: list[tuple[str, bytes]] = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "br":
            import brotli

            body = brotli.decompress(body)
        self.received.append((self.path, body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *_args):
        pass


@pytest.fixture
def error_service():
    _Collector.received = []
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    import sentry_sdk

    client = sentry_sdk.get_client()
    client.close()
    sentry_sdk.get_global_scope().set_client(None)
    server.shutdown()
    server.server_close()


def test_an_unhandled_error_reaches_the_error_service_without_personal_data(
        make_app, error_service, log_lines):
    import sentry_sdk

    dsn = f"http://publickey@127.0.0.1:{error_service.server_port}/1"
    app = make_app(BUDDY_SENTRY_DSN=dsn, PROPAGATE_EXCEPTIONS=False)
    assert logs.init_error_reporting(dsn=app.config["BUDDY_SENTRY_DSN"], environment="test")

    def broken(token):
        # Exception messages quote data, as a database error quotes its row's values.
        raise LookupError(f"no check-in for Zoë Ñúñez <{EMAIL}>")

    app.add_url_rule("/broken/<token>", "broken", broken, methods=["POST"])
    response = app.test_client().post(f"/broken/{TOKEN}?email={EMAIL}",
                                      data={"full_name": "Zoë Ñúñez", "email": EMAIL},
                                      headers={"Cookie": "session=private-cookie"})
    assert response.status_code == 500
    sentry_sdk.flush(timeout=10)

    envelopes = [body.decode() for path, body in _Collector.received
                 if path == "/api/1/envelope/"]
    events = [json.loads(item) for body in envelopes for item in body.splitlines()
              if '"exception"' in item]
    assert len(events) == 1
    event = events[0]
    assert event["exception"]["values"][-1]["type"] == "LookupError"
    assert event["transaction"] == "/broken/<token>" and event["environment"] == "test"
    assert event["request"]["url"] == "/broken/<token>"
    # Source lines of the frames are code (here, this test's own): everything else must be
    # free of the path's token, the query, the form, the cookie and the name.
    for exception in event["exception"]["values"]:
        for frame in exception["stacktrace"]["frames"]:
            for key in ("pre_context", "context_line", "post_context"):
                frame.pop(key, None)
    everything = json.dumps(event, ensure_ascii=False)
    for secret in (TOKEN, "zoe", "Zoë", "Ñúñez", "private-cookie", "/broken/SIGNED"):
        assert secret not in everything
    # The log has the error too, with its route and traceback, and no path.
    error = next(line for line in log_lines() if line["logger"] == "buddy.error")
    assert error["route"] == "/broken/<token>" and "LookupError" in error["exception"]
    assert "in broken" in error["exception"]  # the frame that raised
    logged = json.dumps(log_lines(), ensure_ascii=False)
    for secret in (TOKEN, EMAIL, "Zoë", "Ñúñez"):
        assert secret not in logged


def test_error_reporting_stays_off_without_a_dsn_and_refuses_a_malformed_one():
    assert logs.init_error_reporting(dsn="", environment="test") is False
    for bad in ("sentry", "https://o1.ingest.sentry.io/123", "ftp://key@host/1"):
        with pytest.raises(ConfigError, match="BUDDY_SENTRY_DSN must be the DSN"):
            load_settings(environ={}, overrides={**TEST_SETTINGS, "BUDDY_SENTRY_DSN": bad})


def _env(database_url: str, **more: str) -> dict:
    return {**os.environ, **{k: str(v) for k, v in TEST_SETTINGS.items()},
            "BUDDY_DATABASE_URL": database_url, **more}


@pytest.mark.parametrize("server_kind", ["gunicorn", "buddy serve"])
def test_servers_log_json_request_lines_and_no_raw_paths(database_url, server_kind):
    """Production's gunicorn workers and `make run`'s `buddy serve`, as started there."""
    port = free_port()
    command = ([sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py",
                "buddy.wsgi:app"] if server_kind == "gunicorn" else
               [os.path.join(os.path.dirname(sys.executable), "buddy"), "serve",
                "--port", str(port)])
    server = subprocess.Popen(
        command, cwd=ROOT, env=_env(database_url, PORT=str(port), WEB_CONCURRENCY="1"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).close()
                break
            except OSError:
                time.sleep(0.2)
        try:
            urllib.request.urlopen(
                f"http://127.0.0.1:{port}/reset-password/{TOKEN}?email={EMAIL}", timeout=5)
        except urllib.error.HTTPError as refused:  # an unknown token: 400
            answered = refused
            refused.close()
        assert answered.status == 400 and len(answered.headers["X-Request-ID"]) == 32
    finally:
        server.terminate()
        output, errors = server.communicate(timeout=30)
    text = output + errors
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    reset = [line for line in lines if line.get("endpoint") == "auth.reset_password"]
    assert len(reset) == 1 and reset[0]["route"] == "/reset-password/<token>"
    assert reset[0]["request_id"] == answered.headers["X-Request-ID"]
    assert TOKEN not in text and EMAIL not in text


def test_a_match_run_job_logs_json_to_the_standard_error_of_the_process_that_started_it(
        database_url):
    """The web worker starts the job and forgets it; the job's lines reach the worker's
    standard error (the journal in production)."""
    starter = (
        "import threading\n"
        "from buddy import create_app\n"
        "from buddy.jobs import launch_match_run\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        "    launch_match_run(987654)\n"
        "for thread in threading.enumerate():\n"
        "    if thread.name.startswith('match-run-'):\n"
        "        thread.join(60)\n"
    )
    done = subprocess.run([sys.executable, "-c", starter], cwd=ROOT, env=_env(database_url),
                          capture_output=True, text=True, timeout=90)
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert [(line["logger"], line["message"], line["run_id"], line["status"])
            for line in lines] == [("buddy.jobs", "match_run", 987654, "not_queued")], \
        done.stderr
