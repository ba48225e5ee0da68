"""Admin pages: DA leads and their regions, national indicators, the queue of unbelieved texts."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from buddy import clock, intakes, reference
from buddy.auth import role_required
from buddy.db import get_session
from buddy.forms import ActionForm, RegionForm, StaffForm, apply_errors
from buddy.messaging import replies as inbound
from buddy.models import User
from buddy.services import NotFound, ServiceError, accounts, exports, indicators
from buddy.services import leads as leads_service
from buddy.views.dashboard import requested_intake

bp = Blueprint("admin", __name__)


@bp.route("/", methods=["GET", "POST"])
@role_required("admin")
def index():
    session = get_session()
    form = StaffForm()
    if form.validate_on_submit():
        try:
            lead = accounts.create_staff(
                session=session, actor=current_user.row, email=form.email.data,
                full_name=form.full_name.data, role="lead", region=form.region.data,
            )
        except ServiceError as exc:
            session.rollback()
            apply_errors(form, exc.errors)
        else:
            flash(f"{lead.full_name} is now a DA lead for "
                  f"{reference.regions()[lead.region].name}. We have emailed them a link to "
                  "set their password", "success")
            return redirect(url_for("admin.index"))
    return render_template("admin/index.html", form=form,
                           leads=leads_service.current_leads(session),
                           former=leads_service.former_leads(session),
                           unled=leads_service.regions_without_lead(session),
                           reference=reference)


def _lead_or_404(lead_id: int) -> User:
    try:
        return leads_service.get(get_session(), lead_id)
    except NotFound:
        abort(404)


def _none_left(region: str) -> None:
    """Tell the admin when a change leaves a region without a DA lead."""
    if not leads_service.leads_of(get_session(), region):
        flash(f"{reference.regions()[region].name} now has no DA lead: nobody sees its flags "
              "or approves its volunteers until you add one", "error")


def _move_form(form: RegionForm) -> RegionForm:
    form.region.label.text = "Region they will lead"
    return form


@bp.get("/leads/<int:lead_id>")
@role_required("admin")
def lead(lead_id: int):
    """One DA lead: move them to another region, or remove them."""
    person = _lead_or_404(lead_id)
    form = _move_form(RegionForm(data={"region": person.region}))
    return render_template("admin/lead.html", lead=person, form=form, reference=reference,
                           impact=leads_service.impact(get_session(), person))


@bp.post("/leads/<int:lead_id>/region")
@role_required("admin")
def lead_region(lead_id: int):
    """Move a lead: the first post shows what changes, the second (confirm=yes) does it."""
    session, person = get_session(), _lead_or_404(lead_id)
    form = _move_form(RegionForm())
    form.validate_on_submit()
    region = form.region.data or ""
    try:
        leads_service.check_move(person, region)
    except ServiceError as exc:
        apply_errors(form, exc.errors)
        return render_template("admin/lead.html", lead=person, form=form, reference=reference,
                               impact=leads_service.impact(session, person)), 400
    if request.form.get("confirm") != "yes":
        return render_template("admin/lead_move.html", lead=person, region=region,
                               reference=reference,
                               impact=leads_service.impact(session, person))
    before = person.region
    try:
        moved = leads_service.move(session=session, actor=current_user.row, lead_id=lead_id,
                                   region=region)
    except ServiceError as exc:
        session.rollback()
        flash(exc.errors["region"], "error")
        return redirect(url_for("admin.lead", lead_id=lead_id))
    flash(f"{moved.full_name} now leads {reference.regions()[moved.region].name}", "success")
    if before:
        _none_left(before)
    return redirect(url_for("admin.index"))


@bp.route("/leads/<int:lead_id>/remove", methods=["GET", "POST"])
@role_required("admin")
def remove_lead(lead_id: int):
    """Remove a lead: the page says what changes; its button does it."""
    session, person = get_session(), _lead_or_404(lead_id)
    form = ActionForm()
    if not form.validate_on_submit():
        return render_template("admin/lead_remove.html", lead=person, form=form,
                               reference=reference, impact=leads_service.impact(session, person))
    removed = leads_service.remove(session=session, actor=current_user.row, lead_id=lead_id)
    flash(f"{removed.full_name} is no longer a DA lead and can no longer sign in. What they "
          "did in Buddy keeps their name", "success")
    if removed.region:
        _none_left(removed.region)
    return redirect(url_for("admin.index"))


@bp.get("/replies")
@role_required("admin")
def replies():
    """Texts from numbers without one verified owner: nobody's record was touched."""
    session = get_session()
    return render_template("admin/replies.html", waiting=inbound.reply_queue(session),
                           handled=inbound.reply_queue(session, handled=True, limit=50),
                           form=ActionForm())


@bp.post("/replies/<int:reply_id>/handled")
@role_required("admin")
def reply_handled(reply_id: int):
    try:
        inbound.mark_reply_handled(session=get_session(), reply_id=reply_id,
                                   actor=current_user.row)
    except NotFound:
        abort(404)
    flash("Marked as handled", "success")
    return redirect(url_for("admin.replies"))


def _series_intakes(intake: str) -> list[str]:
    """The time series: the chosen intake beside the three before it, oldest first."""
    return [*reversed(intakes.previous(intake, None, 3)), intake]


@bp.get("/indicators")
@role_required("admin")
def indicators_table():
    session, today = get_session(), clock.today()
    regions = list(reference.regions())
    intake = requested_intake(None) or indicators.current_intake(today)
    table, series = indicators.national_with_series(session, regions, today,
                                                    _series_intakes(intake))
    return render_template("admin/indicators.html", reference=reference, intake=intake,
                           table=table, series=series, intakes=intakes,
                           figures=indicators.INTAKE_FIGURES,
                           choices=indicators.intake_choices(today), all_intakes=None,
                           definitions=indicators.DEFINITIONS, region=None)


@bp.get("/indicators.csv")
@role_required("admin")
def indicators_csv():
    today = clock.today()
    intake = requested_intake(None) or indicators.current_intake(today)
    body = exports.national_csv(get_session(), today, _series_intakes(intake))
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="buddy-national-{intake}.csv"',
        "Cache-Control": "no-store"})
