"""Welcome guides: public pages anyone reads before joining (/welcome/), and the pages where
a region's DA leads (/lead/guide) and the admin (/admin/guide, the national guide) write,
preview, look back and roll back."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from buddy import reference
from buddy.auth import role_required
from buddy.db import get_session
from buddy.forms import ActionForm
from buddy.services import NotFound, ServiceError, guides
from buddy.services.guides import NATIONAL
from buddy.text import parse_int
from buddy.views import requested_region

bp = Blueprint("guides", __name__)


# --- Public ---------------------------------------------------------------------------------------

@bp.get("/welcome/")
def index():
    """Every region's guide and the national one."""
    updated = guides.updated_on(get_session())
    return render_template("guides/index.html", regions=reference.regions(), updated=updated,
                           national=NATIONAL)


@bp.get("/welcome/<region>")
def show(region: str):
    """A region's guide (or the national one) as anyone sees it, signed in or not."""
    if not guides.is_guide(region):
        abort(404)
    session = get_session()
    current = guides.latest(session, region)
    # Until a region's leads write theirs, its page gives the national guide, so that the
    # link in a message never leads to an empty page.
    fallback = guides.latest(session, NATIONAL) if current is None and region != NATIONAL \
        else None
    shown = current or fallback
    return render_template("guides/show.html", region=region, current=current,
                           fallback=fallback, title=guides.title(region),
                           place=guides.place(region),
                           rendered=guides.render(shown.body) if shown else None,
                           national=NATIONAL)


# --- Writing -------------------------------------------------------------------------------------

def _staff_region() -> str:
    """The region a lead's guide page is about: their own. A lead asking by name for another
    region's gets a 404, not their own page under another name."""
    asked = request.values.get("region")
    if asked and current_user.role == "lead" and asked != current_user.region:
        abort(404)
    return requested_region()


def _editor(region: str, *, body: str | None = None, base: int | None = None,
            errors: dict | None = None, preview: bool = False, newer=None, status: int = 200):
    session = get_session()
    try:
        current = guides.latest(session, region)
        guides.check_editor(current_user.row, region)
    except NotFound:
        abort(404)
    text = body if body is not None else (current.body if current else "")
    base_version = base if base is not None else (current.version if current else 0)
    writer = guides.writers(session, [current])[current.id] if current else None
    return render_template(
        "guides/edit.html", region=region, current=current, writer=writer, text=text,
        base_version=base_version, errors=errors or {}, newer=newer,
        rendered=guides.render(text, 3) if preview and text.strip() else None,
        preview=preview, title=guides.title(region), place=guides.place(region),
        national=NATIONAL, reference=reference, form=ActionForm(),
        newer_rendered=guides.render(newer.body, 3) if newer else None,
        history_url=_history_url(region), public_url=guides.public_url(region),
        action=_edit_url(region),  # the page posts to itself
    ), status


def _history_url(region: str) -> str:
    if region == NATIONAL:
        return url_for("guides.national_history")
    return url_for("guides.history", **({"region": region}
                                        if current_user.role == "admin" else {}))


def _edit_url(region: str) -> str:
    if region == NATIONAL:
        return url_for("guides.national_edit")
    return url_for("guides.edit", **({"region": region} if current_user.role == "admin" else {}))


def _post(region: str):
    """Preview (nothing saved) or save the posted text, as the button pressed says."""
    if not ActionForm().validate_on_submit():
        abort(400)
    body = request.form.get("body", "")
    base = parse_int(request.form.get("base_version", ""), max_digits=9) or 0
    if request.form.get("action") == "preview":
        found = guides.problems(body)
        errors = {("body" if i == 0 else f"body-{i + 1}"): p for i, p in enumerate(found)}
        return _editor(region, body=body, base=base, errors=errors, preview=True)
    session = get_session()
    try:
        row, new = guides.save(session=session, user=current_user.row, region=region,
                               body=body, base_version=base)
    except NotFound:
        abort(404)
    except guides.StaleGuide as exc:
        # The typed text stays; the form now starts from the newer version, so saving again
        # is a choice made after seeing it.
        return _editor(region, body=body, base=exc.latest.version, errors=exc.errors,
                       newer=exc.latest, status=409)
    except ServiceError as exc:
        session.rollback()
        return _editor(region, body=body, base=base, errors=exc.errors, status=400)
    if new:
        flash(f"Saved as version {row.version}. Everyone sees it now on the public page.",
              "success")
    else:
        flash(f"Nothing changed: the guide is already this text (version {row.version}).",
              "info")
    return redirect(_edit_url(region))


@bp.get("/lead/guide")
@role_required("lead", "admin")
def edit():
    return _editor(_staff_region())


@bp.post("/lead/guide")
@role_required("lead", "admin")
def save():
    return _post(_staff_region())


@bp.get("/admin/guide")
@role_required("admin")
def national_edit():
    return _editor(NATIONAL)


@bp.post("/admin/guide")
@role_required("admin")
def national_save():
    return _post(NATIONAL)


def _history(region: str):
    session = get_session()
    try:
        versions = guides.history(session, user=current_user.row, region=region)
    except NotFound:
        abort(404)
    return render_template("guides/history.html", region=region, versions=versions,
                           writers=guides.writers(session, versions),
                           title=guides.title(region), place=guides.place(region),
                           edit_url=_edit_url(region), reference=reference, national=NATIONAL)


@bp.get("/lead/guide/history")
@role_required("lead", "admin")
def history():
    return _history(_staff_region())


@bp.get("/admin/guide/history")
@role_required("admin")
def national_history():
    return _history(NATIONAL)


def _version_page(version_id: int, *, errors: dict | None = None, status: int = 200):
    session = get_session()
    try:
        version = guides.version_for(session, user=current_user.row, version_id=version_id)
    except NotFound:
        abort(404)
    current = guides.latest(session, version.region)
    return render_template(
        "guides/version.html", version=version, current=current,
        writer=guides.writers(session, [version])[version.id],
        rendered=guides.render(version.body, 3), title=guides.title(version.region),
        place=guides.place(version.region), history_url=_history_url(version.region),
        errors=errors or {}, form=ActionForm(),
    ), status


@bp.get("/lead/guide/versions/<int:version_id>")
@role_required("lead", "admin")
def version(version_id: int):
    return _version_page(version_id)


@bp.post("/lead/guide/versions/<int:version_id>/restore")
@role_required("lead", "admin")
def restore(version_id: int):
    """Roll back: the old text becomes the newest version (nothing is deleted)."""
    session = get_session()
    try:
        guides.version_for(session, user=current_user.row, version_id=version_id)
    except NotFound:
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    base = parse_int(request.form.get("base_version", ""), max_digits=9) or 0
    try:
        row = guides.restore(session=session, user=current_user.row, version_id=version_id,
                             base_version=base)
    except NotFound:
        abort(404)
    except ServiceError as exc:
        session.rollback()
        return _version_page(version_id, errors=exc.errors,
                             status=409 if isinstance(exc, guides.StaleGuide) else 400)
    flash(f"Version {row.restored_from} is the guide again, saved as version {row.version}.",
          "success")
    return redirect(_history_url(row.region))
