"""Channels behind one small interface: `send(message, body, content=None) -> Outcome`.

Email over SMTP, SMS and WhatsApp through Twilio's own client (`content`: a WhatsApp
template sent through the Content API), and a log channel for development without settings.
Each channel sorts every failure into one of four outcomes (RELIABILITY.md, Outbox): sent,
failed (permanent), retry, uncertain (the provider may have it). Anything wrong with the one
message (its address, its subject, its text, its number) is a failure with a plain reason.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import smtplib
import ssl
import string
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from email import errors as email_errors
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from buddy.messaging.models import Message
from buddy.settings import CONFIG_DIR, enabled_channels
from buddy.statuses import SendOutcome

log = logging.getLogger(__name__)

TWILIO_API = "https://api.twilio.com"
TIMEOUT_S = 10
# Twilio errors that will never succeed on a retry of the same message: 21655 unknown
# ContentSid, 21656 ContentVariables invalid, 63016 free text outside WhatsApp's 24 hours.
OPTED_OUT = 21610
PERMANENT_TWILIO = {21211, 21212, 21408, 21606, 21612, 21614, 21610, 21655, 21656, 63003,
                    63016}
# What Twilio takes as a To number: E.164 (the sign-up stores numbers so).
E164 = re.compile(r"\+[1-9][0-9]{6,14}")


@dataclass
class Outcome:
    """What became of one send."""

    status: SendOutcome
    provider_id: str | None = None
    error: str | None = None
    code: str | None = None


@dataclass
class Content:
    """A WhatsApp template to send instead of free text: its content SID and variables."""

    sid: str
    variables: dict[str, str] = field(default_factory=dict)  # {"1": ..., "2": ...}
    text: str = ""  # which text of config/messages.toml it carries


class Channel(Protocol):
    name: str

    def send(self, message: Message, body: str, content: Content | None = None) -> Outcome: ...

    def close(self) -> None: ...


class LogChannel:
    """Development without settings: log what would have been sent, and call it sent.

    The page /messages/log shows these messages.
    """

    def __init__(self, name: str):
        self.name = name

    def send(self, message: Message, body: str, content: Content | None = None) -> Outcome:
        if content is not None:
            log.info("[%s log channel] to %s: template %s (%s) %s", self.name,
                     message.to_address, content.sid, content.text, content.variables)
        else:
            log.info("[%s log channel] to %s: %s\n%s", self.name, message.to_address,
                     message.title, body)
        return Outcome(SendOutcome.SENT, provider_id=f"log-{self.name}-{message.id}")

    def close(self) -> None:
        pass


# --- Email ---------------------------------------------------------------------------------

class BadAddress(ValueError):
    """An email address that can never be sent to; the message says why."""


# Characters that end or break a header line: CR, LF, and Unicode's own line and paragraph
# separators (the email package refuses them all, with a message about CR/LF only).
_LINE_BREAKS = {"\r", "\n", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"}


def _codepoint(char: str) -> str:
    return f"U+{ord(char):04X}"


def _header_problem(value: str) -> str | None:
    """Why `value` cannot be an email header, or None when it can."""
    for char in value:
        if char in _LINE_BREAKS:
            return f"contains a line break ({_codepoint(char)})"
        if unicodedata.category(char) in ("Cc", "Cs"):
            return f"contains a control character ({_codepoint(char)})"
    return None


def _bad_character(exc: UnicodeError) -> str:
    bad = getattr(exc, "object", "")[getattr(exc, "start", 0):getattr(exc, "end", 0)]
    if isinstance(bad, str) and bad:
        kind = "an unpaired surrogate" if unicodedata.category(bad[0]) == "Cs" else "a character"
        return f"{kind} ({_codepoint(bad[0])})"
    return "a character that cannot be encoded"


def mail_address(address: str) -> tuple[str, bool]:
    """The address to send to, and whether it needs SMTPUTF8 (a non-ASCII local part).

    A non-ASCII domain alone goes as IDNA (xn--...), which every server takes.
    :raises BadAddress: the address can never work, with the reason.
    """
    problem = _header_problem(address)
    if problem or any(char.isspace() for char in address):
        raise BadAddress(f"The email address {problem or 'contains a space'}: correct it")
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise BadAddress("The email address is not of the form name@domain: correct it")
    utf8 = not local.isascii()
    if not domain.isascii() and not utf8:
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            utf8 = True  # not expressible in IDNA 2003: the server must take it as UTF-8
    # RFC 6531 allows any non-ASCII character where a letter may stand: check the rest of
    # the syntax with the email package, each non-ASCII character read as a letter. With
    # SMTPUTF8 the address goes exactly as the person typed it.
    probe = re.sub(r"[^\x00-\x7f]", "a", f"{local}@{domain}")
    try:
        parsed = Address(addr_spec=probe)
    except (ValueError, IndexError, email_errors.MessageError) as exc:
        raise BadAddress(f"The email package refuses this address ({exc}): correct it") from None
    if parsed.addr_spec != probe:
        raise BadAddress("The email address is not a plain name@domain: correct it")
    return f"{local}@{domain}", utf8


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

    def build(self, message: Message, body: str, to: str) -> EmailMessage:
        """The email for `message` to the checked address `to`.

        :raises ValueError: a header the email package refuses (CR/LF and other line breaks).
        """
        email = EmailMessage()  # its header checks refuse CR/LF injection in any field
        email["From"] = self.mail_from
        email["To"] = to
        email["Subject"] = message.title
        domain = self.mail_from.rsplit("@", 1)[-1].strip("> ") or "localhost"
        # One Message-ID per outbox row: were a row ever delivered twice, mail systems and
        # the tests would see the same ID.
        stamp = int(message.created_at.timestamp()) if message.created_at else 0
        email["Message-ID"] = f"<buddy.{message.id}.{stamp}@{domain}>"
        email.set_content(body, cte="quoted-printable" if not body.isascii() else None)
        return email

    def send(self, message: Message, body: str, content: Content | None = None) -> Outcome:
        # Everything that can be wrong with this one message is found before the server is
        # spoken to, and fails it with a reason; nothing here may stop the dispatch pass.
        try:
            to, utf8 = mail_address(message.to_address)
        except BadAddress as exc:
            return Outcome(SendOutcome.FAILED, error=str(exc))
        problem = _header_problem(message.title)
        if problem:
            return Outcome(SendOutcome.FAILED, error=f"The email subject {problem}: fix the "
                                                     "title or the name it comes from")
        try:
            email = self.build(message, body, to)
            envelope_from = (email["From"].addresses[0].addr_spec
                             if email["From"].addresses else "")
            utf8 = utf8 or not envelope_from.isascii()
            # Encoded now, not during DATA: a body that cannot be encoded (an unpaired
            # surrogate) fails here, before any command reaches the server.
            data = email.as_bytes(policy=SMTP_POLICY.clone(utf8=True) if utf8 else SMTP_POLICY)
        except UnicodeError as exc:
            return Outcome(SendOutcome.FAILED, error="Cannot encode the email: the text contains "
                                         f"{_bad_character(exc)}, which no email can carry")
        except (ValueError, TypeError, IndexError, LookupError, email_errors.MessageError) as exc:
            return Outcome(SendOutcome.FAILED, error=f"Cannot build the email: {exc}")
        # Up to the end of RCPT nothing is delivered: any failure there is safe to retry.
        for fresh in (False, True):
            try:
                if self._smtp is None:
                    self._smtp = self._connect()
                    fresh = True
                smtp = self._smtp
                options: list[str] = []
                if utf8:
                    if not smtp.has_extn("smtputf8"):
                        return Outcome(SendOutcome.FAILED, error=(
                            "This internationalised address needs a mail server that offers "
                            "SMTPUTF8, and ours does not: ask the person for another address "
                            "or use a server with SMTPUTF8"))
                    options = ["SMTPUTF8"] + (["BODY=8BITMIME"] if smtp.has_extn("8bitmime")
                                              else [])
                code, reply = smtp.mail(envelope_from, options)
                if code != 250:
                    self._reset()
                    return self._refused(code, reply, "sender")
                code, reply = smtp.rcpt(to)
                if code not in (250, 251):
                    self._reset()
                    return self._refused(code, reply, "recipient")
                break
            except smtplib.SMTPServerDisconnected as exc:
                self._drop()
                if fresh:
                    return Outcome(SendOutcome.RETRY,
                                   error=f"Mail server closed the connection: {exc}")
            except (OSError, smtplib.SMTPException) as exc:
                self._drop()
                return Outcome(SendOutcome.RETRY,
                               error=f"Mail server unreachable: {exc or type(exc).__name__}")
        try:
            code, reply = smtp.data(data)
            if code != 250:  # the reply to the message itself: smtplib does not raise
                self._reset()
                return self._refused(code, reply, "message")
        except smtplib.SMTPDataError as exc:
            self._reset()
            return self._refused(exc.smtp_code, exc.smtp_error, "message")
        except (OSError, smtplib.SMTPException) as exc:
            # The message went out; whether the server kept it is unknown.
            self._drop()
            return Outcome(SendOutcome.UNCERTAIN,
                           error=f"Mail server stopped answering during DATA: {exc}")
        return Outcome(SendOutcome.SENT, provider_id=email["Message-ID"].strip("<>")[:64])

    @staticmethod
    def _refused(code: int, reply: bytes | str, what: str) -> Outcome:
        text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
        error = f"Mail server refused the {what}: {code} {text}"
        # 4xx is "try again later"; 5xx is final (RFC 5321).
        return Outcome(SendOutcome.RETRY if 400 <= code < 500 else SendOutcome.FAILED,
                       error=error, code=str(code))


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

    def send(self, message: Message, body: str, content: Content | None = None) -> Outcome:
        """Free text, or the WhatsApp template `content` (Twilio's Content API) when given."""
        to = message.to_address or ""
        if not E164.fullmatch(to.removeprefix("whatsapp:")):
            return Outcome(SendOutcome.FAILED,
                           error="The phone number is not in international format "
                                 "(+ and 7 to 15 digits): correct the person's number")
        if self.name == "whatsapp" and not to.startswith("whatsapp:"):
            to = f"whatsapp:{to}"
        kwargs: dict = {"to": to, "from_": self.from_}
        if content is not None:
            kwargs.update(content_sid=content.sid,
                          content_variables=json.dumps(content.variables, ensure_ascii=False))
        else:
            kwargs["body"] = body
        try:
            "".join(str(v) for v in kwargs.values()).encode("utf-8")
        except UnicodeError as exc:
            return Outcome(SendOutcome.FAILED,
                           error=f"Cannot send the text: it contains {_bad_character(exc)}")
        if self.status_callback is not None:
            kwargs["status_callback"] = self.status_callback(message)
        try:
            sent = self.client.messages.create(**kwargs)
        except TwilioRestException as exc:
            code = exc.code
            error = f"Twilio {exc.status}" + (f" error {code}" if code else "") + f": {exc.msg}"
            if exc.status == 429 or code == 20429 or exc.status >= 500:
                return Outcome(SendOutcome.RETRY, error=error, code=str(code or exc.status))
            if code in PERMANENT_TWILIO or 400 <= exc.status < 500:
                return Outcome(SendOutcome.FAILED, error=error, code=str(code or exc.status))
            return Outcome(SendOutcome.RETRY, error=error, code=str(code or exc.status))
        except requests.exceptions.RequestException as exc:
            if _connect_failed(exc):
                return Outcome(SendOutcome.RETRY, error=f"Twilio unreachable: {type(exc).__name__}")
            # Read timeout or a dropped connection after the request went out: Twilio may
            # have accepted it. Never resent automatically; the status callback settles it.
            return Outcome(SendOutcome.UNCERTAIN,
                           error=f"No answer from Twilio: {type(exc).__name__}")
        except TwilioException as exc:
            return Outcome(SendOutcome.UNCERTAIN, error=f"Twilio client error: {exc}")
        return Outcome(SendOutcome.SENT, provider_id=sent.sid)

    def close(self) -> None:
        self.http.close()


# --- WhatsApp templates (config/whatsapp.toml) ------------------------------------------------

# Twilio content SIDs: "HX" and 32 hexadecimal digits.
CONTENT_SID = re.compile(r"HX[0-9a-fA-F]{32}")
# The texts in config/messages.toml are English; their templates are registered in English.
LANGUAGE = "en"


class NoTemplate(Exception):
    """No WhatsApp template can carry this message; the message says why and what to fix."""


def templates_path(config: Mapping) -> Path:
    """The WhatsApp templates file: BUDDY_WHATSAPP_TEMPLATES, else config/whatsapp.toml."""
    return Path(str(config.get("BUDDY_WHATSAPP_TEMPLATES") or CONFIG_DIR / "whatsapp.toml"))


@functools.cache
def whatsapp_templates(path: Path) -> dict:
    """The parsed templates file: {"templates": {text: {language: {content_sid, variables}}}}."""
    with open(path, "rb") as fh:
        return tomllib.load(fh)


@functools.cache
def _pattern(text: str) -> re.Pattern:
    """A regular expression that reads the values back out of `text` once filled in."""
    parts, seen = [], set()
    for literal, name, _spec, _conversion in string.Formatter().parse(text):
        parts.append(re.escape(literal))
        if name is None:
            continue
        parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>.+?)")
        seen.add(name)
    return re.compile("".join(parts), re.DOTALL)


def _variable(value: str) -> str:
    # WhatsApp refuses a template variable with a line break, a tab or more than four
    # spaces in a row, and Twilio one that is empty (error 21656): one space for any run.
    return " ".join(value.split())


def whatsapp_content(*, kind: str, body: str, texts: Mapping[str, Mapping[str, str]],
                     templates: Mapping, language: str = LANGUAGE) -> Content:
    """The template that carries `body` (a message of `kind`), with its variables filled in.

    The body was rendered from one text of config/messages.toml (`kind` itself, or
    `kind_<variant>`); the values are read back from it and put in the order the template
    registered with Twilio numbers them ({{1}}, {{2}} ...).
    :raises NoTemplate: no template for the kind, or none whose text gives this body.
    """
    by_text = templates.get("templates", {})
    names = [name for name in texts if name == kind or name.startswith(f"{kind}_")]
    candidates = [name for name in names if language in by_text.get(name, {})]
    if not candidates:
        raise NoTemplate(f"No WhatsApp template for {kind} ({language}) in "
                         "config/whatsapp.toml: register one with Twilio and add its SID")
    for name in candidates:
        found = _pattern(texts[name]["text"]).fullmatch(body)
        if found is None:
            continue
        entry = by_text[name][language]
        values = {key: _variable(value) for key, value in found.groupdict().items()}
        missing = [v for v in entry.get("variables", []) if not values.get(v)]
        if missing:
            raise NoTemplate(f"The WhatsApp template for {name} needs {', '.join(missing)}, "
                             "which this message does not have")
        return Content(sid=entry["content_sid"], text=name,
                       variables={str(n): values[v]
                                  for n, v in enumerate(entry.get("variables", []), 1)})
    raise NoTemplate(f"This {kind} message does not match the text of its WhatsApp template "
                     f"({', '.join(candidates)}): was config/messages.toml changed after it "
                     "was queued?")


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

