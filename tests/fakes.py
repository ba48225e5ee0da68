"""Local stand-ins for Twilio's Messages API and an SMTP server, for tests and the benchmark.

The fake Twilio answers the real twilio client over HTTP: 201 with a MessageSid, 400 with
error 21211 or 21610, 429, 500, a hang, or a connection dropped after the request was read.
It checks WhatsApp as Twilio does: a template (ContentSid) must be one it knows, with valid
ContentVariables (400 with 21655 or 21656); free text (Body) to a number that has not
written within 24 hours is accepted (201) and then fails with error 63016 in its status
callback. The fake SMTP server is aiosmtpd (a test dependency): it accepts, refuses (550,
4xx) or is down. Both record what they received so a caller can count duplicates and losses.
"""

from __future__ import annotations

import json
import re
import secrets
import socket
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages\.json$")
ERRORS = {
    "invalid": (400, 21211, "The 'To' number is not a valid phone number."),
    "opted_out": (400, 21610, "Attempt to send to unsubscribed recipient"),
    "throttled": (429, 20429, "Too Many Requests"),
    "error": (500, 20500, "Internal Server Error"),
}
ACCEPTING = ("ok", "hang", "drop")  # Twilio has the message in these modes
# Refusals of the request itself, whatever the mode (Twilio's synchronous 400s).
REFUSALS = {
    21211: "The 'To' number is not a valid phone number.",
    21617: "The concatenated message body exceeds the 1600 character limit.",
    21619: "A text message body or media urls must be specified.",
    21654: "A ContentSid must be specified if ContentVariables are provided in the request.",
    21655: "The ContentSid is Invalid",
    21656: "The Content Variables parameter is invalid.",
}
OUTSIDE_SESSION = (63016, "Failed to send freeform message because you are outside the allowed "
                          "window. If you are using WhatsApp, please use a Message Template.")
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
SESSION = timedelta(hours=24)


def known_templates() -> dict[str, list[str]]:
    """Content SID -> the template's variable keys ("1", "2" ...), from config/whatsapp.toml."""
    from buddy.messaging.channels import templates_path, whatsapp_templates

    found: dict[str, list[str]] = {}
    for languages in whatsapp_templates(templates_path({})).get("templates", {}).values():
        for entry in languages.values():
            found[entry["content_sid"]] = [str(n) for n in
                                           range(1, len(entry.get("variables", [])) + 1)]
    return found


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (aiosmtpd's controller cannot take port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeTwilio:
    """Twilio's Messages API on 127.0.0.1, in a thread.

    `mode` is the default answer; `modes_by_to` answers per recipient; `script` is a list
    of answers used, in order, before either (one per request). Modes: ok, invalid,
    opted_out, throttled, error, hang (never answers until stop()), drop (reads the
    request, keeps the message, closes the connection without an answer).
    """

    def __init__(self, mode: str = "ok", templates: dict[str, list[str]] | None = None):
        self.mode = mode
        self.modes_by_to: dict[str, str] = {}
        self.script: list[str] = []
        self.received: list[dict] = []  # every request, in order
        # WhatsApp: the templates Twilio knows (content SID -> variable keys), when each
        # number last wrote to us, and the clock that decides the 24 hours.
        self.templates = known_templates() if templates is None else templates
        self.inbound: dict[str, datetime] = {}
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        # Status callbacks Twilio would now make: {"url", "form"}, for a test to deliver.
        self.callbacks: list[dict] = []
        self.lock = threading.Lock()
        self.release = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else delayed ACKs cost 40 ms a request

            def log_message(self, *_args) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if len(raw) < length:
                    # The sender died mid-request (the fault drill SIGKILLs it): a real server
                    # never sees a truncated body as a message, so neither does this fake.
                    self.close_connection = True
                    return
                form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                match = MESSAGES_PATH.match(self.path.split("?", 1)[0])
                if not match:
                    self._answer(404, {"code": 20404, "message": "Not found", "status": 404})
                    return
                sid = "SM" + secrets.token_hex(16)
                refused = fake._refusal(form)
                mode = "refused" if refused else fake._next_mode(form.get("To", ""))
                record = {"sid": sid, "mode": mode, "account": match["sid"], **form}
                with fake.lock:
                    fake.received.append(record)
                if refused:
                    self._answer(400, {"code": refused, "message": REFUSALS[refused],
                                       "status": 400, "more_info":
                                       f"https://www.twilio.com/docs/errors/{refused}"})
                    return
                if mode in ACCEPTING:
                    fake._settle(record)
                if mode == "hang":
                    fake.release.wait(60)
                    self.close_connection = True
                    return
                if mode == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if mode in ERRORS:
                    status, code, message = ERRORS[mode]
                    self._answer(status, {"code": code, "message": message, "status": status,
                                          "more_info": f"https://www.twilio.com/docs/errors/{code}"})
                    return
                self._answer(201, {
                    "sid": sid, "account_sid": match["sid"], "to": form.get("To"),
                    "from": form.get("From"), "body": form.get("Body"), "status": "queued",
                    "num_segments": "1", "direction": "outbound-api", "api_version": "2010-04-01",
                    "date_created": "Mon, 30 Nov 2026 09:00:00 +0000", "error_code": None,
                    "uri": f"/2010-04-01/Accounts/{match['sid']}/Messages/{sid}.json",
                })

            def _answer(self, status: int, payload: dict) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)

    def _refusal(self, form: dict) -> int | None:
        """The error code Twilio answers this request with at once (400), or None."""
        if not E164.fullmatch(form.get("To", "").removeprefix("whatsapp:")):
            return 21211
        sid, variables = form.get("ContentSid"), form.get("ContentVariables")
        if sid is None:
            if variables is not None:
                return 21654
            if not form.get("Body"):
                return 21619
            return 21617 if len(form["Body"]) > 1600 else None
        if sid not in self.templates:
            return 21655
        try:
            values = json.loads(variables or "{}")
        except ValueError:
            return 21656
        if not isinstance(values, dict) or any(
            not isinstance(values.get(key), str) or not values[key].strip()
            for key in self.templates[sid]
        ):
            return 21656
        return None

    def _settle(self, record: dict) -> None:
        """What Twilio does after accepting: deliver, or fail free text outside 24 hours."""
        to = record.get("To", "")
        if to.startswith("whatsapp:") and "ContentSid" not in record:
            wrote = self.inbound.get(to.removeprefix("whatsapp:"))
            if wrote is None or self.clock() - wrote >= SESSION:
                record["error_code"] = OUTSIDE_SESSION[0]
        if record.get("StatusCallback"):
            form = {"MessageSid": record["sid"], "AccountSid": record["account"],
                    "From": record.get("From", ""), "To": to,
                    "MessageStatus": "failed" if record.get("error_code") else "delivered"}
            if record.get("error_code"):
                form["ErrorCode"] = str(record["error_code"])
            with self.lock:
                self.callbacks.append({"url": record["StatusCallback"], "form": form})

    def wrote(self, number: str, at: datetime | None = None) -> None:
        """`number` sent us a WhatsApp message at `at` (now): its 24 hours start then."""
        with self.lock:
            self.inbound[number.removeprefix("whatsapp:")] = at or self.clock()

    def inbound_webhook(self, number: str, body: str, at: datetime | None = None) -> dict:
        """The form Twilio posts to the inbound webhook when `number` writes on WhatsApp."""
        self.wrote(number, at)
        return {"MessageSid": "SM" + secrets.token_hex(16), "AccountSid": "AC" + "0" * 32,
                "From": f"whatsapp:{number.removeprefix('whatsapp:')}",
                "To": "whatsapp:+14155238886", "Body": body, "NumMedia": "0"}

    def _next_mode(self, to: str) -> str:
        with self.lock:
            if self.script:
                return self.script.pop(0)
        return self.modes_by_to.get(to.removeprefix("whatsapp:"), self.mode)

    def start(self) -> FakeTwilio:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def accepted(self) -> list[dict]:
        """Requests Twilio would have kept (answered 201, or may have: hang, drop)."""
        with self.lock:
            return [r for r in self.received if r["mode"] in ACCEPTING]

    def delivered(self) -> list[dict]:
        """Accepted requests that reached the person (not failed afterwards, as 63016 does)."""
        return [r for r in self.accepted() if not r.get("error_code")]

    def duplicates(self) -> dict[str, int]:
        """Status-callback URLs (one per outbox row) that Twilio accepted more than once."""
        counts = Counter(r.get("StatusCallback") or r["sid"] for r in self.accepted())
        return {key: n for key, n in counts.items() if n > 1}


class FakeSMTP:
    """aiosmtpd on a free port: accepts, refuses some recipients (550 or 4xx), or is down.

    `smtputf8` offers SMTPUTF8 (RFC 6531: internationalised addresses), as many servers do.
    """

    def __init__(self, *, smtputf8: bool = True):
        self.smtputf8 = smtputf8
        self.port = free_port()
        self.host = "127.0.0.1"
        self.refuse: dict[str, str] = {}  # address -> SMTP reply, e.g. "550 5.1.1 No such user"
        self.data_reply: str | None = None  # e.g. "451 4.3.0 Try later" for every DATA
        self.received: list[dict] = []
        self.lock = threading.Lock()
        self.controller = None

    def start(self) -> FakeSMTP:
        from aiosmtpd.controller import Controller

        fake = self

        class Handler:
            async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
                reply = fake.refuse.get(address.lower())
                if reply:
                    return reply
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server, session, envelope):
                if fake.data_reply:
                    return fake.data_reply
                with fake.lock:
                    for rcpt in envelope.rcpt_tos:
                        fake.received.append({"from": envelope.mail_from, "to": rcpt,
                                              "content": envelope.content})
                return "250 Message accepted for delivery"

        self.controller = Controller(Handler(), hostname=self.host, port=self.port,
                                     enable_SMTPUTF8=self.smtputf8)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def messages_to(self, address: str) -> list[dict]:
        with self.lock:
            return [m for m in self.received if m["to"] == address]

    def duplicates(self) -> dict[str, int]:
        """Message-IDs received more than once."""
        ids = []
        with self.lock:
            for m in self.received:
                found = re.search(rb"^Message-ID:\s*(\S+)", m["content"], re.M | re.I)
                ids.append(found.group(1).decode() if found else "")
        return {key: n for key, n in Counter(ids).items() if n > 1}
