"""Settings: defaults in config/settings.toml, overridden by environment variables."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = Path(os.environ.get("BUDDY_CONFIG_DIR", ROOT / "config"))

ENVIRONMENTS = ("development", "test", "production")
# Values that look like secrets but are not: refusing them outside development stops a
# copied example file from reaching production.
PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "dev", "development"}
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
    if env == "production" and (secret.lower() in PLACEHOLDER_SECRETS or len(secret) < 32):
        raise ConfigError(
            "BUDDY_SECRET_KEY is missing or too weak. Set it in the environment to a random "
            'value of at least 32 characters, e.g. python -c "import secrets; '
            'print(secrets.token_urlsafe(48))"'
        )
    _check_channels(settings, production=env == "production")
    if env == "production":
        _check_production(settings)
    if not secret:
        # Development and tests only: a per-process key means sessions end on restart.
        settings["BUDDY_SECRET_KEY"] = os.urandom(32).hex()
    if not settings["BUDDY_DATABASE_URL"]:
        settings["BUDDY_DATABASE_URL"] = f"sqlite:///{ROOT / 'instance' / 'buddy.sqlite3'}"
    return settings


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
