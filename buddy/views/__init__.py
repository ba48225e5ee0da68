"""Blueprints: form -> service -> flash/redirect, and nothing else."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_login import current_user
from werkzeug.routing import IntegerConverter

from buddy.services import NotFound, ServiceError
from buddy.text import DB_INT_MAX, parse_id


class IdConverter(IntegerConverter):
    """`<int:...>` in every route: ASCII digits up to the largest id the database holds.

    Werkzeug's own reads any Unicode digit and any size; an id past the INTEGER range is an
    error in both databases, so here it matches no route: 404, like any missing record.
    """

    regex = r"[0-9]{1,10}"

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", DB_INT_MAX)
        super().__init__(map, *args, **kwargs)


def form_id(name: str) -> int:
    """The record id posted in field `name`: 400 when it is not a number, 404 when it is
    past the database's range (no such record)."""
    value = request.form.get(name, "")
    if parse_id(value) is None:
        abort(404 if value.isascii() and value.isdigit() else 400)
    return int(value)


def attempt(call, *, back: str | None = None):
    """What a service call returns. NotFound is a 404 (a missing record, or one of another
    region: nothing to probe); with `back`, a refusal (ServiceError) flashes its messages
    and goes back there."""
    try:
        return call()
    except NotFound:
        abort(404)
    except ServiceError as exc:
        if back is None:
            raise
        for message in exc.errors.values():
            flash(message, "error")
        abort(redirect(back))


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
    admin's choice (`?region=`), else the first region. Another region, or one that does
    not exist (it would reach page titles, file names and headers), is a 404."""
    from buddy import reference, scoping
    from buddy.services import NotFound

    region = current_user.region or request.values.get("region") or next(iter(reference.regions()))
    if region not in reference.regions():
        abort(404)
    try:
        return scoping.check_region(current_user.row, region)
    except NotFound:
        abort(404)
