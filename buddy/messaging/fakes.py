"""Local stand-ins for Twilio's Messages API and an SMTP server, for tests and the benchmark.

The fake Twilio answers the real twilio client over HTTP: 201 with a MessageSid, 400 with
error 21211 or 21610, 429, 500, a hang, or a connection dropped after the request was read.
The fake SMTP server is aiosmtpd (a test dependency): it accepts, refuses (550, 4xx) or is
down. Both record what they received so a caller can count duplicates and losses.
"""

from __future__ import annotations

import json
import re
import secrets
import socket
import threading
from collections import Counter
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

    def __init__(self, mode: str = "ok"):
        self.mode = mode
        self.modes_by_to: dict[str, str] = {}
        self.script: list[str] = []
        self.received: list[dict] = []  # every request, in order
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
                mode = fake._next_mode(form.get("To", ""))
                sid = "SM" + secrets.token_hex(16)
                record = {"sid": sid, "mode": mode, "account": match["sid"], **form}
                with fake.lock:
                    fake.received.append(record)
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
        """Requests Twilio would have kept (and so delivered)."""
        with self.lock:
            return [r for r in self.received if r["mode"] in ACCEPTING]

    def duplicates(self) -> dict[str, int]:
        """Status-callback URLs (one per outbox row) that Twilio accepted more than once."""
        counts = Counter(r.get("StatusCallback") or r["sid"] for r in self.accepted())
        return {key: n for key, n in counts.items() if n > 1}


class FakeSMTP:
    """aiosmtpd on a free port: accepts, refuses some recipients (550 or 4xx), or is down."""

    def __init__(self):
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

        self.controller = Controller(Handler(), hostname=self.host, port=self.port)
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
