"""Match runs for DA leads: start, watch, review, edit, re-optimise, publish, discard."""

from __future__ import annotations

import re

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlmodel import select

from buddy import clock, intakes, jobs, reference
from buddy.auth import role_required
from buddy.db import get_session
from buddy.models import AuditEvent, Person, User
from buddy.services import NotFound, ServiceError, cohorts, runs
from buddy.services.cohorts import published_families
from buddy.text import parse_int
from buddy.views import form_id, requested_region

bp = Blueprint("runs", __name__)


@bp.get("/")
@role_required("lead", "admin")
def index():
    session, region = get_session(), requested_region()
    following = intakes.next_intake(clock.today(), region)
    # The next intake (the default), then the two before it for late sign-ups and reruns.
    choices = [(intake, cohorts.intake_counts(session, region, intake))
               for intake in [following, *intakes.previous(following, region, 2)]]
    return render_template("runs/index.html", region=region, reference=reference,
                           runs=runs.runs_for(session, current_user.row, region),
                           time_limits=runs.TIME_LIMITS, choices=choices, intakes=intakes)


@bp.post("/")
@role_required("lead", "admin")
def start():
    region = requested_region()
    limit = request.form.get("time_limit", "30")
    try:
        run = runs.start_run(get_session(), lead=current_user.row, region=region,
                             kind=request.form.get("kind", "families"),
                             time_limit_s=parse_int(limit, max_digits=4) or 0,
                             intake=request.form.get("intake") or None)
    except ServiceError as exc:
        for message in exc.errors.values():
            flash(message, "error")
        return redirect(url_for("runs.index", region=region))
    jobs.launch_match_run(run.id)
    return redirect(url_for("runs.show", run_id=run.id))


def _run_or_404(run_id: int):
    try:
        return runs.get_run(get_session(), current_user.row, run_id)
    except NotFound:
        abort(404)


@bp.get("/<int:run_id>")
@role_required("lead", "admin")
def show(run_id: int):
    session = get_session()
    runs.fail_stale_runs(session)
    run = _run_or_404(run_id)
    context = {"run": run, "reference": reference, "review": runs.review(session, run),
               "intakes": intakes}
    if run.kind == "families":
        context["families"] = runs.draft_families(session, run)
        placed = {m.person_id for _, members in context["families"] for m, _ in members}
        published = published_families(session, run.region)
        context["published_codes"] = {f.code for f, _ in published}
        context["published_members"] = {m.person_id for _, ms in published for m, _ in ms}
        context["spare_buddies"] = [
            p for k, p in context["review"]["people"].items()
            if p.role == "buddy" and p.id not in placed]
    else:
        context["pairs"] = runs.draft_pairs(session, run)
    return render_template("runs/show.html", **context)


def _edit(run_id: int, action, success: str):
    _run_or_404(run_id)  # another region's run is a 404 before anything else is read
    try:
        action()
    except NotFound:
        abort(404)
    except ServiceError as exc:
        for message in exc.errors.values():
            flash(message, "error")
    else:
        flash(success, "success")
    # The anchor goes into the Location header: only a plain "#family-12" is kept.
    anchor = request.form.get("anchor", "")
    anchor = anchor if re.fullmatch(r"#[A-Za-z0-9_-]{1,64}", anchor) else ""
    return redirect(url_for("runs.show", run_id=run_id) + anchor)


@bp.post("/<int:run_id>/move")
@role_required("lead", "admin")
def move(run_id: int):
    return _edit(run_id, lambda: runs.move_member(
        get_session(), lead=current_user.row, run_id=run_id, person_id_=form_id("person_id"),
        family_id=form_id("family_id")), "Moved. That family is now locked")


@bp.post("/<int:run_id>/remove")
@role_required("lead", "admin")
def remove(run_id: int):
    return _edit(run_id, lambda: runs.remove_member(
        get_session(), lead=current_user.row, run_id=run_id, person_id_=form_id("person_id")),
        "Removed from the draft. Re-optimising will keep them out")


@bp.post("/<int:run_id>/lock")
@role_required("lead", "admin")
def lock(run_id: int):
    locked = request.form.get("locked") == "1"
    return _edit(run_id, lambda: runs.set_locked(
        get_session(), lead=current_user.row, run_id=run_id, family_id=form_id("family_id"),
        locked=locked), "Family locked" if locked else "Family unlocked")


@bp.post("/<int:run_id>/avoid")
@role_required("lead", "admin")
def avoid(run_id: int):
    return _edit(run_id, lambda: runs.add_avoid(
        get_session(), lead=current_user.row, run_id=run_id, person_a=form_id("person_a"),
        person_b=form_id("person_b")), "Marked never together")


@bp.post("/<int:run_id>/reoptimise")
@role_required("lead", "admin")
def reoptimise(run_id: int):
    try:
        run = runs.reoptimise(get_session(), lead=current_user.row, run_id=run_id)
    except NotFound:
        abort(404)
    except ServiceError as exc:
        for message in exc.errors.values():
            flash(message, "error")
        return redirect(url_for("runs.show", run_id=run_id))
    jobs.launch_match_run(run.id)
    return redirect(url_for("runs.show", run_id=run.id))


@bp.post("/<int:run_id>/publish")
@role_required("lead", "admin")
def publish(run_id: int):
    return _edit(run_id, lambda: runs.publish(get_session(), lead=current_user.row,
                                              run_id=run_id),
                 "Published: members can see their families, and introductions are on their way")


@bp.post("/<int:run_id>/discard")
@role_required("lead", "admin")
def discard(run_id: int):
    try:
        run = runs.discard(get_session(), lead=current_user.row, run_id=run_id)
    except NotFound:
        abort(404)
    except ServiceError as exc:
        flash(exc.errors[""], "error")
        return redirect(url_for("runs.show", run_id=run_id))
    flash("Draft discarded", "success")
    return redirect(url_for("runs.index", region=run.region))


@bp.get("/audit")
@role_required("lead", "admin")
def audit_trail():
    region = requested_region()
    rows = get_session().exec(
        select(AuditEvent, User.full_name, Person.full_name)
        .outerjoin(User, User.id == AuditEvent.actor_id)
        .outerjoin(Person, Person.id == AuditEvent.person_id)
        .where(AuditEvent.region == region)
        .order_by(AuditEvent.id.desc()).limit(200)).all()
    return render_template("runs/audit.html", rows=rows, region=region, reference=reference)
