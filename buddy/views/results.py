"""Survey results and outcomes for the region's lead; every region for the admin; the
analysts' file. Figures come from services/survey_results.py and services/outcomes.py."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_login import current_user

from buddy import clock, intakes, reference, surveys
from buddy.auth import role_required
from buddy.db import get_session
from buddy.services import ServiceError, analysts, guides, indicators, outcomes
from buddy.services import survey_results as results
from buddy.settings import ROOT
from buddy.views import attempt, requested_region
from buddy.views.dashboard import requested_intake

bp = Blueprint("results", __name__)


def _intake(region: str | None) -> str:
    # "All intakes" is no choice here: results are read for one intake at a time.
    return requested_intake(region) or indicators.current_intake(clock.today(), region)


def _csv(body: str, filename: str) -> Response:
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})


@bp.get("/lead/results")
@role_required("lead", "admin")
def region_page():
    """One region's intake: each survey's response and answers, and outcomes if uploaded."""
    session, region, today = get_session(), requested_region(), clock.today()
    intake = _intake(region)
    # Free text is for the region's own lead: the admin reads the figures only.
    own = current_user.role == "lead" and current_user.region == region
    return render_template(
        "results/region.html", region=region, intake=intake, intakes=intakes,
        reference=reference, choices=indicators.intake_choices(today, region),
        all_intakes=None, own=own,
        results=results.region_results(session, region=region, intake=intake, with_text=own),
        outcomes=outcomes.shown(session, region=region, intake=intake, today=today),
        outcome_words=outcomes.kinds(), groups=outcomes.GROUP_WORDS, rate=results.rate,
        definitions=results.DEFINITIONS, labels=results.LABELS)


@bp.get("/lead/results.csv")
@role_required("lead", "admin")
def region_csv():
    region = requested_region()
    intake = _intake(region)
    return _csv(results.region_csv(get_session(), region=region, intake=intake),
                f"buddy-{region}-survey-results-{intake}.csv")


# --- Outcomes: upload, preview, confirm -------------------------------------------------------

def _outcomes_page(region: str, error: str | None = None):
    return render_template("results/outcomes.html", region=region, reference=reference,
                           kinds=outcomes.kinds(), error=error), 400 if error else 200


@bp.get("/lead/outcomes/")
@role_required("lead", "admin")
def outcomes_page():
    return _outcomes_page(requested_region())


@bp.post("/lead/outcomes/")
@role_required("lead", "admin")
def outcomes_upload():
    region = requested_region()
    file = request.files.get("file")
    if file is None or not file.filename:
        return _outcomes_page(region, "Choose the CSV file of the outcomes")
    try:
        kept = outcomes.upload(get_session(), lead=current_user.row, region=region,
                               filename=file.filename, data=file.read())
    except ServiceError as exc:
        get_session().rollback()
        return _outcomes_page(region, next(iter(exc.errors.values())))
    return redirect(url_for("results.outcomes_preview", outcome_upload_id=kept.id))


def _kept(upload_id: str):
    return attempt(lambda: outcomes.upload_for(get_session(), lead=current_user.row,
                                               upload_id=upload_id))


@bp.get("/lead/outcomes/uploads/<outcome_upload_id>")
@role_required("lead", "admin")
def outcomes_preview(outcome_upload_id: str):
    """What will be stored, every row to fix, and the rows of people not in Buddy."""
    kept = _kept(outcome_upload_id)
    return render_template("results/outcomes_preview.html", kept=kept,
                           checked=outcomes.preview(get_session(), kept=kept),
                           words=outcomes.kinds(),
                           region_name=reference.regions()[kept.region].name)


@bp.post("/lead/outcomes/uploads/<outcome_upload_id>")
@role_required("lead", "admin")
def outcomes_confirm(outcome_upload_id: str):
    """Store every good row, all or none."""
    kept = _kept(outcome_upload_id)
    region = kept.region
    stored = attempt(lambda: outcomes.confirm(get_session(), lead=current_user.row,
                                              upload_id=outcome_upload_id),
                     back=url_for("results.outcomes_preview",
                                  outcome_upload_id=outcome_upload_id))
    flash(f"{stored} {'outcome is' if stored == 1 else 'outcomes are'} stored. Results show "
          "them only as counts of 5 or more." if stored else
          "Nothing new to store: Buddy had every outcome of this file already.", "success")
    query = {"region": region} if current_user.role == "admin" else {}
    return redirect(url_for("results.region_page", **query))


# --- The admin: every region, this year beside last year; the analysts' file ------------------

@bp.get("/admin/results")
@role_required("admin")
def national_page():
    session, today = get_session(), clock.today()
    regions = list(reference.regions())
    intake = _intake(None)
    before = results.last_year(intake)
    return render_template(
        "results/national.html", intake=intake, before=before, intakes=intakes,
        reference=reference, regions=regions, region=None, all_intakes=None,
        choices=indicators.intake_choices(today), surveys=surveys.surveys(),
        responses=results.national_responses(session, regions=regions, intake=intake),
        responses_before=results.national_responses(session, regions=regions, intake=before),
        asked=results.asked_at_all(session, regions=regions, intake=intake),
        asked_before=results.asked_at_all(session, regions=regions, intake=before),
        answers=results.national_answers(session, regions=regions, intake=intake),
        ALL=results.ALL_REGIONS, TOTAL=results.TOTAL, rate=results.rate,
        definitions={k: v for k, v in results.DEFINITIONS.items()
                     if k not in ("free_text", "outcomes_by_participation")},
        labels=results.LABELS)


@bp.get("/admin/analysts.csv")
@role_required("admin")
def analysts_csv():
    intake = _intake(None)
    body = analysts.csv_file(get_session(), actor=current_user.row, intake=intake,
                             today=clock.today())
    return _csv(body, f"buddy-analysts-{intake}.csv")


@bp.get("/lead/figures")
@role_required("lead", "admin")
def definitions():
    """docs/indicators.md as a page: how every figure is counted, in a lead's words."""
    text = (ROOT / "docs" / "indicators.md").read_text(encoding="utf-8")
    # The page has its own h1: the file's title line is left out.
    body = text.split("\n", 1)[1] if text.startswith("# ") else text
    return render_template("results/definitions.html", rendered=guides.render(body))
