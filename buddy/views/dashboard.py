"""The DA lead's dashboard, flags queue and CSV exports, region by region."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from buddy import charts, clock, intakes, reference
from buddy.auth import role_required
from buddy.db import get_session
from buddy.models import utcnow
from buddy.services import NotFound, contacts, exports, flags, indicators
from buddy.services import invitations as invitation_service
from buddy.services import volunteers as volunteer_service
from buddy.statuses import FlagStatus
from buddy.text import parse_id
from buddy.views import attempt, requested_region

bp = Blueprint("dashboard", __name__)
ALL = "all"


def requested_intake(region: str | None) -> str | None:
    """The intake a page's figures are for: `?intake=YYYY-MM`, "all" (None: every intake),
    or by default the current one. A value that is not an intake is said so, and the
    default is shown instead."""
    value = request.args.get("intake", "").strip()
    if value == ALL:
        return None
    if value:
        try:
            return intakes.parse(value, region)
        except intakes.BadIntake as exc:
            flash(str(exc), "error")
    return indicators.current_intake(clock.today(), region)


@bp.get("/")
@role_required("lead", "admin")
def index():
    session, region, today = get_session(), requested_region(), clock.today()
    intake = requested_intake(region)
    upcoming = indicators.arrivals_without_family(session, region, today, intake)
    summary = indicators.summary(session, region, today, intake)
    weeks = indicators.weekly_activity(session, region, today)
    response = indicators.check_in_response(session, region, intake)
    fairness = indicators.quality_by_group(session, region)
    charts_ = {
        "activity": charts.bar_chart(
            "Sign-ups and newcomers matched, week by week",
            [f"{w:%d %b}" for w, _, _ in weeks],
            [("Signed up", [s for _, s, _ in weeks]), ("Matched", [m for _, _, m in weeks])],
            label_every=4, label_header="Week starting"),
        "response": charts.bar_chart(
            "Check-ins answered, by days after arrival",
            [f"Day {d}" for d in response],
            [("Answered", [r["answered"] / r["sent"] if r["sent"] else 0
                           for r in response.values()])], percent=True,
            label_header="Days after arrival"),
    }
    if fairness:
        groups = fairness["country"]["groups"]
        charts_["fairness"] = charts.bar_chart(
            "Share of matched newcomers who share a language or interest, by country group",
            [reference.countries().get(g, g.capitalize()) for g in groups],
            [("Language", [v["language"] or 0 for v in groups.values()]),
             ("Interest", [v["interest"] or 0 for v in groups.values()])], percent=True,
            label_header="Country group")
    return render_template(
        "dashboard/index.html", region=region, summary=summary, weeks=weeks,
        intake=intake, intakes=intakes, all_intakes=ALL,
        choices=indicators.intake_choices(today, region),
        response=response, fairness=fairness, charts=charts_,
        definitions=indicators.DEFINITIONS, reference=reference,
        pending=volunteer_service.pending_count(session, region),
        upcoming=upcoming,
        queue=flags.queue(session, current_user.row, region, limit=10),
        oldest=indicators.oldest_open_flag_age(session, region, utcnow()),
        now=utcnow(), reasons=flags.REASONS,
        invited=invitation_service.counts(session, region=region))


@bp.get("/flags")
@role_required("lead", "admin")
def flag_queue():
    region = requested_region()
    status = request.args.get("status", FlagStatus.OPEN)
    if status not in list(FlagStatus):
        status = FlagStatus.OPEN
    rows = flags.queue(get_session(), current_user.row, region, status=status)
    return render_template("dashboard/flags.html", rows=rows, status=status, region=region,
                           reasons=flags.REASONS, now=utcnow(), reference=reference)


@bp.get("/flags/<int:flag_id>")
@role_required("lead", "admin")
def flag(flag_id: int):
    session = get_session()
    try:
        item, person = flags.get(session, current_user.row, flag_id)
    except NotFound:
        abort(404)
    now = utcnow()
    return render_template("dashboard/flag.html", flag=item, person=person,
                           reasons=flags.REASONS, now=now, reply=flags.reply(session, item),
                           contact=contacts.for_lead(session, person, now),
                           colleagues=flags.colleagues(session, item.region))


@bp.post("/flags/<int:flag_id>")
@role_required("lead", "admin")
def update_flag(flag_id: int):
    assign = request.form.get("assign_to", "")
    attempt(lambda: flags.act(
        get_session(), lead=current_user.row, flag_id=flag_id,
        action=request.form.get("action") or None, note=request.form.get("note"),
        # 0 is nobody's id: a value that is not an id is "not a colleague".
        assign_to=(parse_id(assign) or 0) if assign else None),
        back=url_for("dashboard.flag", flag_id=flag_id))
    flash("Flag updated", "success")
    return redirect(url_for("dashboard.flag_queue"))


@bp.get("/export/<name>.csv")
@role_required("lead", "admin")
def export(name: str):
    if name not in exports.REGION_EXPORTS:
        abort(404)
    region = requested_region()
    # Without ?intake= (a bookmarked link from before intakes), every intake, as it was.
    intake = requested_intake(region) if request.args.get("intake") else None
    body = exports.REGION_EXPORTS[name](get_session(), region, clock.today(), intake)
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition":
            f'attachment; filename="buddy-{region}-{name}-{intake or ALL}.csv"',
        "Cache-Control": "no-store"})
