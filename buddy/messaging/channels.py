"""Channels behind one small interface: `send(message, body) -> Outcome`.

Email over SMTP, SMS and WhatsApp through Twilio's own client, and a log channel for
development without settings. Each channel sorts every failure into one of four outcomes
(RELIABILITY.md, Outbox): sent, failed (permanent), retry, uncertain (the provider may have it).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from typing import Protocol
from urllib.parse import urlsplit

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from buddy.messaging.models import Message
from buddy.settings import enabled_channels

log = logging.getLogger(__name__)

SENT, FAILED, RETRY, UNCERTAIN = "sent", "failed", "retry", "uncertain"
TWILIO_API = "https://api.twilio.com"
TIMEOUT_S = 10
# Twilio errors that will never succeed on a retry of the same message.
OPTED_OUT = 21610
PERMANENT_TWILIO = {21211, 21212, 21408, 21606, 21612, 21614, 21610, 63003, 63016}


@dataclass
class Outcome:
    """What became of one send."""

    status: str  # sent | failed | retry | uncertain
    provider_id: str | None = None
    error: str | None = None
    code: str | None = None


class Channel(Protocol):
    name: str

    def send(self, message: Message, body: str) -> Outcome: ...

    def close(self) -> None: ...


class LogChannel:
    """Development without settings: log what would have been sent, and call it sent.

    The page /messages/log shows these messages.
    """

    def __init__(self, name: str):
        self.name = name

    def send(self, message: Message, body: str) -> Outcome:
        log.info("[%s log channel] to %s: %s\n%s", self.name, message.to_address,
                 message.title, body)
        return Outcome(SENT, provider_id=f"log-{self.name}-{message.id}")

    def close(self) -> None:
        pass


# --- Email ---------------------------------------------------------------------------------

class EmailChannel:
    """Plain SMTP, one message per recipient, one connection reused for a dispatch pass."""

    name = "email"

    def __init__(self, *, host: str, port: int, user: str = "", password: str = "",
                 mail_from: str, timeout: float = TIMEOUT_S):
        self.host, self.port, self.user, self.password = host, port, user, password
        self.mail_from, self.timeout = mail_from, timeout
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if self.user:
                smtp.login(self.user, self.password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()

    def _reset(self) -> None:
        try:
            if self._smtp is not None:
                self._smtp.rset()
        except (OSError, smtplib.SMTPException):
            self._drop()

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    def build(self, message: Message, body: str) -> EmailMessage:
        email = EmailMessage()  # its header checks refuse CR/LF injection in any field
        email["From"] = self.mail_from
        email["To"] = message.to_address
        email["Subject"] = message.title
        domain = self.mail_from.rsplit("@", 1)[-1].strip("> ") or "localhost"
        # One Message-ID per outbox row: were a row ever delivered twice, mail systems and
        # the tests would see the same ID.
        stamp = int(message.created_at.timestamp()) if message.created_at else 0
        email["Message-ID"] = f"<buddy.{message.id}.{stamp}@{domain}>"
        email.set_content(body, cte="quoted-printable" if not body.isascii() else None)
        return email

    def send(self, message: Message, body: str) -> Outcome:
        try:
            email = self.build(message, body)
        except (ValueError, TypeError) as exc:
            return Outcome(FAILED, error=f"Cannot build the email: {exc}")
        envelope_from = email["From"].addresses[0].addr_spec if email["From"].addresses else ""
        # Up to the end of RCPT nothing is delivered: any failure there is safe to retry.
        for fresh in (False, True):
            try:
                if self._smtp is None:
                    self._smtp = self._connect()
                    fresh = True
                smtp = self._smtp
                code, reply = smtp.mail(envelope_from)
                if code != 250:
                    self._reset()
                    return self._refused(code, reply, "sender")
                code, reply = smtp.rcpt(message.to_address)
                if code not in (250, 251):
                    self._reset()
                    return self._refused(code, reply, "recipient")
                break
            except smtplib.SMTPServerDisconnected as exc:
                self._drop()
                if fresh:
                    return Outcome(RETRY, error=f"Mail server closed the connection: {exc}")
            except (OSError, smtplib.SMTPException) as exc:
                self._drop()
                return Outcome(RETRY, error=f"Mail server unreachable: {exc or type(exc).__name__}")
        try:
            code, reply = smtp.data(email.as_bytes(policy=SMTP_POLICY))
            if code != 250:  # the reply to the message itself: smtplib does not raise
                self._reset()
                return self._refused(code, reply, "message")
        except smtplib.SMTPDataError as exc:
            self._reset()
            return self._refused(exc.smtp_code, exc.smtp_error, "message")
        except (OSError, smtplib.SMTPException) as exc:
            # The message went out; whether the server kept it is unknown.
            self._drop()
            return Outcome(UNCERTAIN, error=f"Mail server stopped answering during DATA: {exc}")
        return Outcome(SENT, provider_id=email["Message-ID"].strip("<>")[:64])

    @staticmethod
    def _refused(code: int, reply: bytes | str, what: str) -> Outcome:
        text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
        error = f"Mail server refused the {what}: {code} {text}"
        # 4xx is "try again later"; 5xx is final (RFC 5321).
        return Outcome(RETRY if 400 <= code < 500 else FAILED, error=error, code=str(code))


# --- Twilio --------------------------------------------------------------------------------

class BuddyTwilioHttpClient(TwilioHttpClient):
    """Twilio's HTTP client with a timeout and, for tests and local runs, another API host.

    Rewriting the host in a subclass is the approach Twilio's maintainers suggested.
    """

    def __init__(self, api_url: str = "", timeout: float = TIMEOUT_S):
        super().__init__(timeout=timeout)
        self.api_url = api_url.rstrip("/")

    def request(self, method, url, *args, **kwargs):
        if self.api_url:
            parts = urlsplit(url)
            url = self.api_url + parts.path + (f"?{parts.query}" if parts.query else "")
        return super().request(method, url, *args, **kwargs)

    def close(self) -> None:
        if self.session is not None:
            self.session.close()


def _connect_failed(exc: BaseException) -> bool:
    """True when the request never reached the provider (refused or connect timeout)."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, NewConnectionError | ConnectTimeoutError | ConnectionRefusedError
                      | requests.exceptions.ConnectTimeout):
            return True
        stack += [a for a in getattr(item, "args", ()) if isinstance(a, BaseException)]
        for attr in ("reason", "__cause__", "__context__"):
            nested = getattr(item, attr, None)
            if isinstance(nested, BaseException):
                stack.append(nested)
    return False


class TwilioChannel:
    """SMS or WhatsApp through twilio's client; the status callback carries the outbox id."""

    def __init__(self, *, name: str, account_sid: str, auth_token: str, from_: str,
                 api_url: str = "", status_callback=None, timeout: float = TIMEOUT_S):
        self.name = name
        self.http = BuddyTwilioHttpClient(api_url, timeout=timeout)
        self.client = Client(account_sid, auth_token, http_client=self.http)
        if name == "whatsapp" and not from_.startswith("whatsapp:"):
            from_ = f"whatsapp:{from_}"
        self.from_ = from_
        self.status_callback = status_callback

    def send(self, message: Message, body: str) -> Outcome:
        to = message.to_address
        if self.name == "whatsapp" and not to.startswith("whatsapp:"):
            to = f"whatsapp:{to}"
        kwargs = {"to": to, "from_": self.from_, "body": body}
        if self.status_callback is not None:
            kwargs["status_callback"] = self.status_callback(message)
        try:
            sent = self.client.messages.create(**kwargs)
        except TwilioRestException as exc:
            code = exc.code
            error = f"Twilio {exc.status}" + (f" error {code}" if code else "") + f": {exc.msg}"
            if exc.status == 429 or code == 20429 or exc.status >= 500:
                return Outcome(RETRY, error=error, code=str(code or exc.status))
            if code in PERMANENT_TWILIO or 400 <= exc.status < 500:
                return Outcome(FAILED, error=error, code=str(code or exc.status))
            return Outcome(RETRY, error=error, code=str(code or exc.status))
        except requests.exceptions.RequestException as exc:
            if _connect_failed(exc):
                return Outcome(RETRY, error=f"Twilio unreachable: {type(exc).__name__}")
            # Read timeout or a dropped connection after the request went out: Twilio may
            # have accepted it. Never resent automatically; the status callback settles it.
            return Outcome(UNCERTAIN, error=f"No answer from Twilio: {type(exc).__name__}")
        except TwilioException as exc:
            return Outcome(UNCERTAIN, error=f"Twilio client error: {exc}")
        return Outcome(SENT, provider_id=sent.sid)

    def close(self) -> None:
        self.http.close()


def build_channels(config, status_callback=None) -> dict[str, Channel]:
    """The channels of this deployment, from settings; a channel without settings logs.

    (In production load_settings has already refused to start without them.)
    """
    channels: dict[str, Channel] = {}
    for name in enabled_channels(config):
        if name == "email":
            if config.get("BUDDY_SMTP_HOST"):
                channels[name] = EmailChannel(
                    host=config["BUDDY_SMTP_HOST"], port=int(config["BUDDY_SMTP_PORT"]),
                    user=config.get("BUDDY_SMTP_USER", ""),
                    password=config.get("BUDDY_SMTP_PASSWORD", ""),
                    mail_from=config.get("BUDDY_MAIL_FROM") or "buddy@localhost",
                )
            else:
                channels[name] = LogChannel(name)
            continue
        from_ = config.get("TWILIO_FROM_NUMBER" if name == "sms" else "TWILIO_WHATSAPP_FROM")
        if config.get("TWILIO_ACCOUNT_SID") and config.get("TWILIO_AUTH_TOKEN") and from_:
            channels[name] = TwilioChannel(
                name=name, account_sid=config["TWILIO_ACCOUNT_SID"],
                auth_token=config["TWILIO_AUTH_TOKEN"], from_=from_,
                api_url=config.get("BUDDY_TWILIO_API_URL", ""), status_callback=status_callback,
            )
        else:
            channels[name] = LogChannel(name)
    if "email" not in channels:
        channels["email"] = LogChannel("email")
    return channels

