"""Blueprints: form -> service -> flash/redirect, and nothing else."""

from __future__ import annotations

from flask import abort, request, url_for
from flask_login import current_user


def home_for(user) -> str:
    """Where a signed-in user lands."""
    return {
        "admin": url_for("admin.index"),
        "lead": url_for("dashboard.index"),
    }.get(user.role, url_for("account.index"))


def safe_next(target: str | None) -> str | None:
    """`target` when it is a plain local path; None for anything that could leave the site.

    `https:evil.example`, `//evil`, `/\\evil` and `javascript:` all pass the usual netloc
    check, so accept only a path that starts with exactly one slash (RELIABILITY.md).
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return None
    return target


def requested_region() -> str:
    """The region a staff page is about: a lead's own (whatever the request says), or the
    admin's choice (`?region=`), else the first region. Another region is a 404."""
    from buddy import reference, scoping
    from buddy.services import NotFound

    region = current_user.region or request.values.get("region") or next(iter(reference.regions()))
    try:
        return scoping.check_region(current_user.row, region)
    except NotFound:
        abort(404)
