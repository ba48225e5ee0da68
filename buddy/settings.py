"""Settings: defaults in config/settings.toml, overridden by environment variables."""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = Path(os.environ.get("BUDDY_CONFIG_DIR", ROOT / "config"))

ENVIRONMENTS = ("development", "test", "production")
# Values that look like secrets but are not: refusing them outside development stops a
# copied example file from reaching production.
PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "dev", "development"}
# Words people type when asked for a secret; they count for nothing in the estimate below.
SECRET_WORDS = ("password", "secret", "changeme", "letmein", "qwerty", "admin", "buddy",
                "example", "default", "test", "production")
# BUDDY_SECRET_KEY signs sessions, reset and check-in links: at least 128 bits estimated.
SECRET_KEY_MIN_BITS = 128
# Twilio issues auth tokens of 32 random hexadecimal characters (128 bits). Estimated from
# the characters seen, real ones score 95-130 (not every hex digit appears in 32), so the
# bar here only refuses placeholders and patterns.
TWILIO_TOKEN_MIN_BITS = 80
GOOD_SECRET = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'
INT_KEYS = {
    "BUDDY_LOGIN_MAX_FAILURES",
    "BUDDY_LOGIN_WINDOW_MINUTES",
    "BUDDY_REMEMBER_DAYS",
    "BUDDY_RESET_MINUTES",
    "BUDDY_ARGON2_TIME_COST",
    "BUDDY_ARGON2_MEMORY_KIB",
    "BUDDY_ARGON2_PARALLELISM",
    "BUDDY_PROXY_HOPS",
    "BUDDY_SMTP_PORT",
    "BUDDY_CHECKIN_LINK_DAYS",
    "BUDDY_CONFIRM_LINK_DAYS",
}
# What each message channel needs in production (buddy/messaging/channels.py).
CHANNEL_SETTINGS = {
    "email": ("BUDDY_SMTP_HOST", "BUDDY_MAIL_FROM"),
    "sms": ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER"),
    "whatsapp": ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_WHATSAPP_FROM"),
}


def read_toml(path: Path) -> dict:
    """A TOML file (of the config folder), as read: callers cache what they keep."""
    with open(path, "rb") as fh:
        return tomllib.load(fh)


class ConfigError(RuntimeError):
    """A setting is missing or unsafe; the message says which and how to fix it."""


def load_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, object] | None = None
) -> dict[str, object]:
    """Return the settings dict: file defaults < environment < explicit overrides.

    :raises ConfigError: when a value is malformed or a secret is missing outside development.
    """
    environ = os.environ if environ is None else environ
    with open(CONFIG_DIR / "settings.toml", "rb") as fh:
        settings: dict[str, object] = dict(tomllib.load(fh))
    for key, value in environ.items():
        if key.startswith(("BUDDY_", "TWILIO_")):
            settings[key] = value
    settings.update(overrides or {})

    for key in INT_KEYS:
        try:
            settings[key] = int(settings[key])  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ConfigError(f"{key} must be a whole number, not {settings[key]!r}") from None

    env = settings["BUDDY_ENV"]
    if env not in ENVIRONMENTS:
        raise ConfigError(f"BUDDY_ENV must be one of {', '.join(ENVIRONMENTS)}, not {env!r}")
    secret = str(settings.get("BUDDY_SECRET_KEY", "")).strip()
    if env == "production" and (secret.lower() in PLACEHOLDER_SECRETS or len(secret) < 32
                                or secret_bits(secret) < SECRET_KEY_MIN_BITS):
        raise ConfigError(
            "BUDDY_SECRET_KEY is missing or too weak (it needs at least 32 characters and "
            f"about {SECRET_KEY_MIN_BITS} bits of randomness: no repeats, runs like 0123 or "
            "words). Set it in the environment to a value made by " + GOOD_SECRET
        )
    _public_url(settings, environ, production=env == "production")
    _check_channels(settings, production=env == "production")
    token = str(settings.get("TWILIO_AUTH_TOKEN") or "").strip()
    texts = {"sms", "whatsapp"} & set(enabled_channels(settings))
    if env == "production" and texts and secret_bits(token) < TWILIO_TOKEN_MIN_BITS:
        raise ConfigError(
            "TWILIO_AUTH_TOKEN looks like a placeholder: it checks the signature of every "
            "webhook from Twilio. Copy the auth token of your account from the Twilio console "
            "(32 hexadecimal characters)"
        )
    _check_sentry_dsn(settings)
    _check_clock(settings, production=env == "production")
    if env == "production":
        _check_production(settings)
    if not secret:
        # Development and tests only: a per-process key means sessions end on restart.
        settings["BUDDY_SECRET_KEY"] = os.urandom(32).hex()
    _analytics_key(settings, production=env == "production")
    if not settings["BUDDY_DATABASE_URL"]:
        settings["BUDDY_DATABASE_URL"] = f"sqlite:///{ROOT / 'instance' / 'buddy.sqlite3'}"
    return settings


# The team's address where none is set, outside production (example.org never delivers).
DEVELOPMENT_CONTACT = "buddy-team@example.org"


def contact_email(settings: Mapping[str, object]) -> str:
    """Where people write to the team that runs Buddy: BUDDY_CONTACT_EMAIL, else the address
    of BUDDY_MAIL_FROM, else (development and test) a placeholder that never delivers."""
    from email.utils import parseaddr

    for value in (settings.get("BUDDY_CONTACT_EMAIL"), settings.get("BUDDY_MAIL_FROM")):
        address = parseaddr(str(value or ""))[1]
        if "@" in address:
            return address
    return DEVELOPMENT_CONTACT


# Where `buddy serve` listens by default (`make run`: PORT, default 5000).
DEVELOPMENT_PORT = 5000
# Set when BUDDY_PUBLIC_URL was worked out from the port: `buddy serve --port` then moves it.
FOLLOWS_PORT = "BUDDY_PUBLIC_URL_FOLLOWS_PORT"


def development_url(port: int) -> str:
    """The address of a development server on this machine's `port`."""
    return f"http://127.0.0.1:{port}"


def _public_url(settings: dict[str, object], environ: Mapping[str, str], *,
                production: bool) -> None:
    """BUDDY_PUBLIC_URL as set; unset, in development and test, the address the app serves on
    (PORT), so that links in messages work on whatever port `make run` uses."""
    if str(settings.get("BUDDY_PUBLIC_URL") or "").strip():
        settings[FOLLOWS_PORT] = False
        return
    if production:
        raise ConfigError(
            "BUDDY_PUBLIC_URL must be set in production: the https:// address people and "
            "Twilio reach Buddy at (links in messages and webhooks use it)")
    port = str(environ.get("PORT") or DEVELOPMENT_PORT).strip()
    if not re.fullmatch(r"[0-9]{1,5}", port) or not 0 < int(port) < 65536:
        raise ConfigError(f"PORT must be a port number from 1 to 65535, not {port!r}")
    settings["BUDDY_PUBLIC_URL"] = development_url(int(port))
    settings[FOLLOWS_PORT] = True


def secret_bits(value: str) -> float:
    """Estimated randomness of `value` in bits: length times log2 of its distinct characters,
    after dropping common words, a repeated block and characters that continue a run."""
    for word in SECRET_WORDS:
        value = re.sub(re.escape(word), "", value, flags=re.IGNORECASE)
    # "abcabcabc" carries no more than "abc".
    for period in range(1, len(value) // 2 + 1):
        if all(value[i] == value[i - period] for i in range(period, len(value))):
            value = value[:period]
            break
    # "aaaa", "0123", "2468": a character that keeps the step of the two before it is
    # guessable. A random token loses about one character in its alphabet's size to this.
    core = value[:2] + "".join(
        c for i, c in enumerate(value[2:], start=2)
        if ord(c) - ord(value[i - 1]) != ord(value[i - 1]) - ord(value[i - 2]))
    distinct = len(set(core))
    return len(core) * math.log2(distinct) if distinct > 1 else 0.0


# OWASP's argon2id minimums (memory KiB, passes), one lane each: "an equal level of defense,
# the only difference is a trade off between CPU and RAM usage".
ARGON2_MINIMUMS = ((47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5))


def _check_production(settings: dict[str, object]) -> None:
    """Refuse settings that are fine on a laptop and unsafe for a region to rely on."""
    url = str(settings["BUDDY_DATABASE_URL"])
    if not url.startswith("postgresql"):
        raise ConfigError(
            "BUDDY_DATABASE_URL must point at PostgreSQL in production, e.g. "
            "postgresql+psycopg://buddy@db.example/buddy (SQLite is for development)"
        )
    memory, passes = settings["BUDDY_ARGON2_MEMORY_KIB"], settings["BUDDY_ARGON2_TIME_COST"]
    if not any(memory >= m and passes >= t for m, t in ARGON2_MINIMUMS):  # type: ignore[operator]
        choices = ", ".join(f"{m} KiB with {t}" for m, t in ARGON2_MINIMUMS)
        raise ConfigError(
            f"BUDDY_ARGON2_MEMORY_KIB={memory} with BUDDY_ARGON2_TIME_COST={passes} is weaker "
            f"than OWASP's argon2id minimum: in production use at least {choices} passes"
        )


def _analytics_key(settings: dict[str, object], *, production: bool) -> None:
    """BUDDY_ANALYTICS_KEY keys the pseudonyms of the analysts' file (services/analysts.py):
    required and strong in production, where it must stay the same so that a person keeps
    their code from one download to the next; random per process in development and test."""
    key = str(settings.get("BUDDY_ANALYTICS_KEY") or "").strip()
    if production and (key.lower() in PLACEHOLDER_SECRETS or len(key) < 32
                       or secret_bits(key) < SECRET_KEY_MIN_BITS
                       or key == str(settings.get("BUDDY_SECRET_KEY") or "").strip()):
        raise ConfigError(
            "BUDDY_ANALYTICS_KEY is missing, too weak or the same as BUDDY_SECRET_KEY. It "
            "keys the codes that stand for people in the analysts' file. Set it once in the "
            "environment to a value made by " + GOOD_SECRET + ", and keep it: a new key gives "
            "everyone a new code")
    settings["BUDDY_ANALYTICS_KEY"] = key or os.urandom(32).hex()


def _check_clock(settings: dict[str, object], *, production: bool) -> None:
    """BUDDY_NOW fixes the clock for walking a programme year; never in production."""
    from buddy import clock

    value = str(settings.get("BUDDY_NOW") or "").strip()
    if value and production:
        raise ConfigError("BUDDY_NOW fixes the clock for development and tests: unset it in "
                          "production")
    if value:
        try:
            clock.parse(value)
        except clock.BadClock as exc:
            raise ConfigError(str(exc)) from None
    settings["BUDDY_NOW"] = value


def _check_sentry_dsn(settings: dict[str, object]) -> None:
    """An error-reporting DSN is a URL with a key and a project; refuse anything else now."""
    from urllib.parse import urlsplit

    dsn = str(settings.get("BUDDY_SENTRY_DSN") or "").strip()
    parts = urlsplit(dsn)
    if dsn and not (parts.scheme in ("http", "https") and parts.username and parts.hostname
                    and parts.path.strip("/").rsplit("/", 1)[-1].isdigit()):
        raise ConfigError(
            "BUDDY_SENTRY_DSN must be the DSN your error-reporting project shows, like "
            "https://KEY@o1.ingest.sentry.io/123 (or leave it empty to send no errors)"
        )
    settings["BUDDY_SENTRY_DSN"] = dsn


def enabled_channels(settings: Mapping[str, object]) -> list[str]:
    """The channels listed in BUDDY_CHANNELS, in order."""
    raw = str(settings.get("BUDDY_CHANNELS", "email") or "")
    return [c.strip().lower() for c in raw.split(",") if c.strip()]


def _check_channels(settings: dict[str, object], *, production: bool) -> None:
    channels = enabled_channels(settings)
    unknown = [c for c in channels if c not in CHANNEL_SETTINGS]
    if unknown:
        raise ConfigError(
            f"BUDDY_CHANNELS lists {', '.join(unknown)}: use email, sms and whatsapp only"
        )
    if not production:
        return
    if "email" not in channels:
        raise ConfigError("BUDDY_CHANNELS must include email: it is the fallback channel")
    for channel in channels:
        missing = [k for k in CHANNEL_SETTINGS[channel] if not str(settings.get(k) or "").strip()]
        if missing:
            raise ConfigError(
                f"The {channel} channel needs {', '.join(missing)}. Set them in the environment, "
                f"or remove {channel} from BUDDY_CHANNELS"
                + (" (people who chose it then get email)." if channel != "email" else ".")
            )
    public = str(settings.get("BUDDY_PUBLIC_URL") or "")
    if not public.startswith("https://"):
        raise ConfigError(
            "BUDDY_PUBLIC_URL must be the https:// address people and Twilio reach Buddy at "
            f"(links in messages and webhooks use it), not {public!r}"
        )
    if "whatsapp" in channels:
        _check_whatsapp_templates(settings)


def _check_whatsapp_templates(settings: dict[str, object]) -> None:
    """WhatsApp outside a 24-hour session takes only approved templates: real SIDs needed."""
    path = Path(str(settings.get("BUDDY_WHATSAPP_TEMPLATES") or CONFIG_DIR / "whatsapp.toml"))
    try:
        with open(path, "rb") as fh:
            templates = tomllib.load(fh).get("templates", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"WhatsApp templates cannot be read from {path}: {exc}") from None
    bad = sorted(
        f"{text} ({language})" for text, languages in templates.items()
        for language, entry in languages.items()
        if not re.fullmatch(r"HX[0-9a-fA-F]{32}", str(entry.get("content_sid", "")))
        or str(entry["content_sid"])[2:].startswith("0" * 16)
    )
    if bad or not templates:
        raise ConfigError(
            f"WhatsApp templates in {path} have placeholder content SIDs: "
            f"{', '.join(bad) or 'none listed'}. Register the templates with Twilio "
            "(DEPLOYMENT.md, WhatsApp templates) and put their HX... SIDs there, or remove "
            "whatsapp from BUDDY_CHANNELS"
        )
