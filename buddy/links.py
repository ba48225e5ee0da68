"""Absolute links for messages, built from BUDDY_PUBLIC_URL (works outside a request)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app


def public_url(endpoint: str, **values) -> str:
    """The address people (and Twilio) reach `endpoint` at, e.g. for a reset link."""
    base = urlsplit(current_app.config["BUDDY_PUBLIC_URL"])
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme or "https"
    )
    return adapter.build(endpoint, values, force_external=True)
