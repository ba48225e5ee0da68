"""DA lead pages: volunteers of the lead's own region (the dashboard is views/dashboard.py)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from buddy import clock, intakes, reference, scoping
from buddy.auth import role_required
from buddy.db import get_session
from buddy.forms import ActionForm
from buddy.messaging import cadence
from buddy.services import NotFound, ServiceError, confirmations, contacts, volunteers
from buddy.statuses import PersonStatus
from buddy.views import requested_region

bp = Blueprint("lead", __name__)
STATUSES = {PersonStatus.PENDING: "Waiting for approval", PersonStatus.ACTIVE: "Approved",
            PersonStatus.DECLINED: "Declined"}


@bp.get("/volunteers")
@role_required("lead", "admin")
def volunteer_list():
    status = request.args.get("status", PersonStatus.PENDING)
    if status not in STATUSES:
        status = PersonStatus.PENDING
    session = get_session()
    people = volunteers.volunteers(session, lead=current_user.row, status=status)
    region = requested_region()
    overview = confirmations.overview(session, lead=current_user.row, region=region)
    return render_template("lead/volunteers.html", people=people, status=status,
                           statuses=STATUSES, reference=reference, overview=overview,
                           region=region)


@bp.get("/volunteers/<int:person_id>")
@role_required("lead", "admin")
def volunteer(person_id: int):
    try:
        person = scoping.person_for(get_session(), current_user.row, person_id)
    except NotFound:
        abort(404)
    if person.role not in ("buddy", "ambassador"):
        abort(404)
    intake = intakes.next_intake(clock.today(), person.region)
    answer = confirmations.current_answer(get_session(), person, intake)
    return render_template("lead/volunteer.html", person=person, form=ActionForm(),
                           reference=reference, intake=intake, label=intakes.label(intake),
                           answer=answer,
                           contact=contacts.for_lead(get_session(), person, clock.now()))


@bp.post("/volunteers/<int:person_id>/availability")
@role_required("lead", "admin")
def record_availability(person_id: int):
    """Record a volunteer's answer for an intake that they gave by phone or in person."""
    try:
        confirmations.record_for(get_session(), lead=current_user.row, person_id=person_id,
                                 intake=request.form.get("intake", ""),
                                 available=request.form.get("available", ""),
                                 capacity=request.form.get("capacity", ""))
    except NotFound:
        abort(404)
    except (ServiceError, intakes.BadIntake) as exc:
        get_session().rollback()
        flash(str(exc), "error")
        return redirect(url_for("lead.volunteer", person_id=person_id))
    flash("Their answer has been recorded", "success")
    return redirect(url_for("lead.volunteer", person_id=person_id))


@bp.post("/volunteers/<int:person_id>/decision")
@role_required("lead", "admin")
def decide(person_id: int):
    approve = request.form.get("decision") == "approve"
    try:
        person = volunteers.decide(session=get_session(), lead=current_user.row,
                                   person_id=person_id, approve=approve)
    except NotFound:
        abort(404)
    except ServiceError as exc:
        flash(exc.errors[""], "error")
        return redirect(url_for("lead.volunteer", person_id=person_id))
    flash(f"{person.full_name} has been {'approved' if approve else 'declined'}. We will tell "
          f"them by {cadence.CHANNEL_WORDS[cadence.channel_for(person)]}", "success")
    return redirect(url_for("lead.volunteer_list"))
