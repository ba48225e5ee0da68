"""Trainee lists and invitations: the lead's upload, preview and confirm; the invited
person's page behind their signed link (`/invited/<token>`)."""

from __future__ import annotations

from flask import (
    Blueprint,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user

from buddy import reference
from buddy.auth import role_required
from buddy.db import get_session
from buddy.messaging import tokens
from buddy.services import ServiceError, invitations
from buddy.settings import ROOT
from buddy.views import attempt, requested_region

bp = Blueprint("invitations", __name__)
ROLE_CHOICES = (
    ("newcomer", "New trainees starting GP training (they join as newcomers)"),
    ("volunteer", "Doctors in GP training now, or GPs (they are invited to be buddies)"),
)


def _index(region: str, errors: dict | None = None, role: str = "newcomer"):
    return render_template(
        "invitations/index.html", region=region, reference=reference,
        counts=invitations.counts(get_session(), region=region), errors=errors or {},
        role=role, roles=ROLE_CHOICES, reminder_days=invitations.reminder_days(),
        keep_weeks=invitations.keep_weeks(),
    ), 400 if errors else 200


@bp.get("/lead/invitations/")
@role_required("lead", "admin")
def index():
    """Invitations per intake, and the form to upload a trainee list."""
    return _index(requested_region())


@bp.get("/lead/invitations/sample-trainee-list.csv")
@role_required("lead", "admin")
def sample():
    """The sample list (docs/sample-trainee-list.csv): the columns, filled in as a lead would."""
    return send_file(ROOT / "docs" / "sample-trainee-list.csv", mimetype="text/csv",
                     as_attachment=True, download_name="sample-trainee-list.csv")


@bp.post("/lead/invitations/")
@role_required("lead", "admin")
def upload():
    """Read an uploaded list and show its preview; nothing is imported yet."""
    region = requested_region()
    role = request.form.get("role", "")
    file = request.files.get("file")
    if role not in dict(ROLE_CHOICES):
        return _index(region, {"role": "Choose who is on the list"}, role="")
    if file is None or not file.filename:
        return _index(region, {"file": "Choose the CSV file of your trainee list"}, role=role)
    try:
        kept = invitations.upload(get_session(), lead=current_user.row, region=region,
                                  role=role, filename=file.filename, data=file.read())
    except ServiceError as exc:
        get_session().rollback()
        return _index(region, exc.errors, role=role)
    return redirect(url_for("invitations.preview", upload_id=kept.id))


def _kept(upload_id: str):
    return attempt(lambda: invitations.upload_for(get_session(), lead=current_user.row,
                                                  upload_id=upload_id))


@bp.get("/lead/invitations/uploads/<upload_id>")
@role_required("lead", "admin")
def preview(upload_id: str):
    """Who will be invited, who will not and why, and every row to fix."""
    kept = _kept(upload_id)
    checked = invitations.preview(get_session(), kept=kept)
    return render_template("invitations/preview.html", kept=kept, checked=checked,
                           region_name=reference.regions()[kept.region].name,
                           has_phones=any(t.phone for t in checked.to_invite))


@bp.post("/lead/invitations/uploads/<upload_id>")
@role_required("lead", "admin")
def confirm(upload_id: str):
    """Import every good row and send the invitations, all or none."""
    kept = _kept(upload_id)
    region = kept.region
    invited = attempt(lambda: invitations.confirm(get_session(), lead=current_user.row,
                                                  upload_id=upload_id),
                      back=url_for("invitations.preview", upload_id=upload_id))
    n = len(invited)
    flash(f"{n} {'person is' if n == 1 else 'people are'} invited. The invitations go by "
          "email now." if n else "Nobody new to invite: everyone on the list was skipped.",
          "success")
    query = {"region": region} if current_user.role == "admin" else {}
    return redirect(url_for("invitations.index", **query))


# --- The invited person's page (no sign-in: they have no account yet) ----------------------

def _invitation(token: str):
    try:
        return invitations.from_token(get_session(), token), None
    except tokens.BadLink as exc:
        return None, str(exc)


@bp.get("/invited/<token>")
def landing(token: str):
    """The invitation: join (the sign-up is filled in from the list) or "No, thank you".

    Nothing changes on this GET: mail scanners open every link in an email.
    """
    invitation, problem = _invitation(token)
    if invitation is None:
        return render_template("invitations/bad_link.html", problem=problem), 404
    return render_template("invitations/landing.html", invitation=invitation, token=token,
                           region_name=reference.regions()[invitation.region].name,
                           guide=invitations.guide_url(invitation.region))


@bp.post("/invited/<token>/start")
def start(token: str):
    invitation, problem = _invitation(token)
    if invitation is None:
        return render_template("invitations/bad_link.html", problem=problem), 404
    try:
        path = invitations.start_signup(get_session(), invitation=invitation)
    except ServiceError as exc:
        get_session().rollback()
        flash(exc.errors[""], "error")
        return redirect(url_for("invitations.landing", token=token))
    return redirect(path)


@bp.post("/invited/<token>/no-thank-you")
def decline(token: str):
    invitation, problem = _invitation(token)
    if invitation is None:
        return render_template("invitations/bad_link.html", problem=problem), 404
    invitations.decline(get_session(), invitation=invitation)
    return redirect(url_for("invitations.landing", token=token))
