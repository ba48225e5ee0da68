"""Admin pages: DA leads and their regions, national indicators, the queue of unbelieved texts."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlmodel import select

from buddy import reference
from buddy.auth import role_required
from buddy.db import get_session
from buddy.forms import ActionForm, RegionForm, StaffForm, apply_errors
from buddy.messaging import replies as inbound
from buddy.models import User
from buddy.services import NotFound, ServiceError, accounts

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
    leads = session.exec(select(User).where(User.role == "lead")
                         .order_by(User.region, User.full_name)).all()
    return render_template("admin/index.html", form=form, leads=leads,
                           region_form=RegionForm(), reference=reference)


@bp.post("/leads/<int:lead_id>/region")
@role_required("admin")
def lead_region(lead_id: int):
    form = RegionForm()
    form.validate_on_submit()
    try:
        lead = accounts.set_lead_region(session=get_session(), actor=current_user.row,
                                        lead_id=lead_id, region=form.region.data)
    except NotFound:
        abort(404)
    except ServiceError as exc:
        flash(exc.errors["region"], "error")
    else:
        flash(f"{lead.full_name} now leads {reference.regions()[lead.region].name}", "success")
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


@bp.get("/indicators")
@role_required("admin")
def indicators_table():
    from buddy import clock, intakes
    from buddy.services import indicators
    from buddy.views.dashboard import requested_intake

    session, today = get_session(), clock.today()
    regions = list(reference.regions())
    intake = requested_intake(None) or indicators.current_intake(today)
    # The time series: the chosen intake beside the three before it, oldest on the left.
    series = indicators.series(session, regions, today,
                               [*reversed(intakes.previous(intake, None, 3)), intake])
    return render_template("admin/indicators.html", reference=reference, intake=intake,
                           table=indicators.national(session, regions, today, intake),
                           series=series, intakes=intakes, figures=indicators.INTAKE_FIGURES,
                           choices=indicators.intake_choices(today), all_intakes=None,
                           definitions=indicators.DEFINITIONS, region=None)


@bp.get("/indicators.csv")
@role_required("admin")
def indicators_csv():
    from flask import Response

    from buddy import clock, intakes
    from buddy.services import exports, indicators
    from buddy.views.dashboard import requested_intake

    today = clock.today()
    intake = requested_intake(None) or indicators.current_intake(today)
    body = exports.national_csv(get_session(), today,
                                [*reversed(intakes.previous(intake, None, 3)), intake])
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="buddy-national-{intake}.csv"',
        "Cache-Control": "no-store"})
