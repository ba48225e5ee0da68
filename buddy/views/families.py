"""DA lead pages: the region's running and ended families; ending or extending one by hand."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlmodel import select

from buddy import clock, intakes, reference
from buddy.auth import role_required
from buddy.db import get_session
from buddy.forms import ActionForm
from buddy.models import Family
from buddy.services import NotFound, ServiceError, endings
from buddy.services.members import members_of
from buddy.statuses import MATCHED_FAMILY_STATUSES, FamilyStatus
from buddy.text import parse_int
from buddy.views import requested_region

bp = Blueprint("families", __name__)


@bp.get("/")
@role_required("lead", "admin")
def index():
    """The region's published families: running first, then ended, newest first."""
    region = requested_region()
    rows = get_session().exec(
        select(Family).where(Family.region == region,
                             Family.status.in_(MATCHED_FAMILY_STATUSES))
        .order_by(Family.ended_at.is_not(None), Family.intake.desc(), Family.code)
    ).all()
    running = [f for f in rows if f.status == FamilyStatus.PUBLISHED]
    ended = [f for f in rows if f.status == FamilyStatus.ENDED]
    return render_template("families/index.html", region=region, running=running, ended=ended,
                           reference=reference, period=endings.period, label=intakes.label,
                           long_date=endings.long_date)


def _family(family_id: int) -> Family:
    try:
        return endings.family_for(get_session(), current_user.row, family_id)
    except NotFound:
        abort(404)


@bp.get("/<int:family_id>")
@role_required("lead", "admin")
def show(family_id: int, errors: dict | None = None, values: dict | None = None):
    session = get_session()
    family = _family(family_id)
    members = members_of(session, family.id)
    question = endings.question_of(family, members)
    today = clock.today()
    return render_template(
        "families/show.html", family=family, members=members, question=question,
        answers=endings.answers_of(session, family.id), period=endings.period(family),
        open_now=endings.is_open(family, question, today), form=ActionForm(),
        latest=endings.extend_limit(today, family.region), long_date=endings.long_date,
        errors=errors or {}, values=values or {}, reference=reference,
    ), 400 if errors else 200


def _until() -> date | None:
    parts = [parse_int(request.form.get(f"until_{name}", "")) for name in ("day", "month", "year")]
    if None in parts:
        return None
    try:
        return date(parts[2], parts[1], parts[0])
    except ValueError:
        return None


@bp.post("/<int:family_id>/end")
@role_required("lead", "admin")
def end(family_id: int):
    _family(family_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        endings.end_by_lead(get_session(), lead=current_user.row, family_id=family_id,
                            reason=request.form.get("reason"))
    except ServiceError as exc:
        return show(family_id, errors={("end_" + k if k else "end"): v
                                       for k, v in exc.errors.items()},
                    values=request.form)
    flash("The family has ended. Its members see it as history and get no more messages.",
          "success")
    return redirect(url_for("families.show", family_id=family_id))


@bp.post("/<int:family_id>/extend")
@role_required("lead", "admin")
def extend(family_id: int):
    _family(family_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        family = endings.extend_by_lead(get_session(), lead=current_user.row,
                                        family_id=family_id, until=_until(),
                                        reason=request.form.get("reason"))
    except ServiceError as exc:
        return show(family_id, errors={("extend_" + k if k else "extend"): v
                                       for k, v in exc.errors.items()},
                    values=request.form)
    flash(f"The family carries on until {endings.long_date(family.carry_on_until)}.", "success")
    return redirect(url_for("families.show", family_id=family_id))
