"""Structured logs: one JSON line per record, one line per request, optional error reporting.

Every process (gunicorn workers, `buddy serve`, `buddy scheduler`, `buddy dispatch`, match-run
jobs) calls `setup_process` once at start and writes to its standard error, which systemd's
journal collects; a match-run job inherits the standard error of the web worker that started
it. Request lines carry the route rule and endpoint, never the raw path or query string
(signed links carry tokens in the path), and the user's number, never a name or an address.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import traceback
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import IO

from flask import Flask, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-ID"
# What a proxy's request id may look like; anything else (too long, spaces, CR/LF, quotes) is
# replaced, so a client cannot write into our log lines or response headers.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@+=-]{8,128}")
# The attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRIBUTES = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}

# Libraries whose information lines we do not want: Werkzeug's access log writes the raw
# path and query string (our request line replaces it); twilio writes six lines per message
# (our provider_call line replaces them); APScheduler two a minute; Alembic a dozen about
# its plugins at every start.
QUIET_LOGGERS = ("werkzeug", "twilio.http_client", "apscheduler", "alembic.runtime.plugins")

log = logging.getLogger("buddy.request")


class JsonFormatter(logging.Formatter):
    """Format a record as one line of JSON, with the caller's `extra` fields and request id."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                line[key] = value
        if "request_id" not in line and has_request_context() and "request_id" in g:
            line["request_id"] = g.request_id
        if record.exc_info:
            line["exception"] = traceback_without_values(record.exc_info[1])
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def traceback_without_values(exc: BaseException | None) -> str:
    """The traceback's frames and exception types, without the exceptions' messages.

    Messages carry data: a database error quotes the row's values, smtplib the address it
    could not encode. Frames and types say where and what; the row says who.
    """
    if exc is None:
        return ""
    parts: list[str] = []
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        frames = traceback.extract_tb(exc.__traceback__)
        parts.insert(0, "".join(f'  File "{f.filename}", line {f.lineno}, in {f.name}\n'
                                for f in frames)
                     + f"{type(exc).__module__}.{type(exc).__qualname__} "
                       "(message left out: it may hold personal data)\n")
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return "\nDuring or because of the above:\n".join(parts)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a record comes (a test runner swaps it)."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr


def configure(*, level: int | str = logging.INFO, stream: IO[str] | None = None) -> None:
    """Send every record of this process to `stream` (standard error) as JSON; idempotent."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "buddy_json", False)]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(stream) if stream else _StderrHandler()
    handler.setFormatter(JsonFormatter())
    handler.buddy_json = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def init_error_reporting(*, dsn: str, environment: str) -> bool:
    """Send unhandled errors to Sentry when `dsn` is set; returns whether it was set up."""
    if not dsn.strip():
        return False
    import sentry_sdk
    from sentry_sdk.integrations.flask import FlaskIntegration

    sentry_sdk.init(
        dsn=dsn.strip(),
        environment=environment,
        integrations=[FlaskIntegration(transaction_style="url")],
        # Only what we list: auto-enabled integrations would trace every query.
        auto_enabling_integrations=False,
        # No personal data (what send_default_pii=False meant before sentry-sdk 2.7x
        # deprecated it, and more): no user, IP or cookies, no form bodies (names, emails,
        # free text), no query, no local variables of the failing frames; the path becomes
        # the route (below).
        data_collection={
            "user_info": False,
            "cookies": {"mode": "off"},
            "http_headers": {"request": {"mode": "allowlist",
                                         "terms": ["user-agent", "content-type"]}},
            "http_bodies": [],
            "url_query_params": {"mode": "off"},
            "database_query_data": False,
            "queues": False,
            "stack_frame_variables": False,
        },
        max_request_body_size="never",
        # Breadcrumbs would carry earlier log lines' text, such as a provider's refusal
        # that quotes an address.
        max_breadcrumbs=0,
        before_send=_scrub,
    )
    return True


def _scrub(event: dict, _hint: dict) -> dict:
    """Replace the request's URL by its route rule: signed links carry tokens in the path."""
    # Exception messages quote data (a database error its row's values): types and frames
    # are enough to find the fault.
    for value in (event.get("exception") or {}).get("values") or []:
        value["value"] = "(message left out: it may hold personal data)"
    req = event.get("request")
    if req:
        req.pop("query_string", None)
        req.pop("data", None)
        req.pop("cookies", None)
        req["url"] = event.get("transaction") or ""
        req["headers"] = {k: v for k, v in (req.get("headers") or {}).items()
                          if k.lower() in ("user-agent", "content-type", "x-request-id")}
    return event


def setup_process(settings: Mapping[str, object]) -> None:
    """Configure logging and, when BUDDY_SENTRY_DSN is set, error reporting: once, at start."""
    configure()
    init_error_reporting(dsn=str(settings.get("BUDDY_SENTRY_DSN") or ""),
                         environment=str(settings.get("BUDDY_ENV") or "development"))


def init_app(app: Flask) -> None:
    """Give each request an id (echoed in X-Request-ID) and log one line when it ends."""
    app.before_request(_start_request)
    app.after_request(_log_request)
    # Flask's own message for an unhandled error names the raw path: log the route instead.
    app.log_exception = _log_exception  # type: ignore[method-assign]


def _start_request() -> None:
    g.request_started = time.perf_counter()
    given = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = given if SANE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def request_fields() -> dict[str, object]:
    """The route, endpoint and method of the current request: never its path or query."""
    rule = request.url_rule
    return {"route": rule.rule if rule else None, "endpoint": request.endpoint,
            "method": request.method}


def _user_id() -> int | None:
    # Only a user the request already loaded: logging must not cost a query.
    user = g.get("_login_user")
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    user_id = getattr(user, "id", None)
    return user_id if isinstance(user_id, int) else None


def _log_request(response):
    if "request_id" not in g:  # a request that failed before our first hook
        _start_request()
    response.headers[REQUEST_ID_HEADER] = g.request_id
    started = g.get("request_started", time.perf_counter())
    log.info("request", extra={
        "request_id": g.request_id, **request_fields(), "status": response.status_code,
        "ms": round((time.perf_counter() - started) * 1000, 1), "user_id": _user_id()})
    return response


def _log_exception(exc_info) -> None:
    logging.getLogger("buddy.error").error("unhandled exception", exc_info=exc_info,
                                           extra=request_fields())
