"""The analysts' file: one CSV per intake of pseudonymous rows, for the national evaluation.

One row per person who took part in the intake: its newcomers, and the volunteers asked a
survey about it. A person is a keyed hash (HMAC-SHA256 with BUDDY_ANALYTICS_KEY), the same
in every download while the key stays, so files of several intakes and years join; without
the key nobody can turn a code back into a person or test a guess. No names, email
addresses, phone numbers, GMC numbers, schemes or free text. The columns are documented in
docs/indicators.md ("The analysts' file"); tests/test_analysts.py keeps the two in step.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date

import sqlalchemy as sa
from flask import current_app
from sqlmodel import Session, select

from buddy import surveys
from buddy.models import Person, SurveyAnswer, SurveyRequest, User
from buddy.services import audit, exports, indicators, outcomes

# The fixed columns, in order; then one per survey question (`survey.question`: the answer's
# key, never free text), one per survey saying whether it was answered, and one per outcome.
COLUMNS = ("person", "region", "intake", "role", "stage", "setting", "country",
           "languages", "gender", *indicators.PIPELINE)
SURVEY_STATES = ("answered", "partly", "not_answered")


def pseudonym(person_id: int, key: str | None = None) -> str:
    """The person's code: HMAC-SHA256 of their id under BUDDY_ANALYTICS_KEY (hex, 128 bits)."""
    secret = (key or current_app.config["BUDDY_ANALYTICS_KEY"]).encode()
    return hmac.new(secret, f"buddy-person:{person_id}".encode(), hashlib.sha256).hexdigest()[:32]


def survey_columns() -> list[str]:
    """`survey.question` for every choice and scale question, and `survey` for its state."""
    out = []
    for survey in surveys.surveys().values():
        out.append(survey.key)
        out += [f"{survey.key}.{q.key}" for q in survey.questions if q.kind != "text"]
    return out


def outcome_columns() -> list[str]:
    return [f"outcome.{key}" for key in outcomes.kinds()]


def header() -> list[str]:
    return [*COLUMNS, *survey_columns(), *outcome_columns()]


def rows(session: Session, *, intake: str, today: date) -> list[dict[str, str]]:
    """The file's rows for `intake`, every region, ordered by code (not by sign-up)."""
    requests = session.exec(select(SurveyRequest).where(SurveyRequest.intake == intake)).all()
    # Subqueries, not lists of ids: an intake has thousands (SQLite may allow 999 parameters).
    asked = select(SurveyRequest.person_id).where(SurveyRequest.intake == intake)
    people = {p.id: p for p in session.exec(select(Person).where(
        sa.or_(Person.intake == intake, Person.id.in_(asked)))).all()}
    regions = sorted({p.region for p in people.values()})
    steps = {figure: set() for figure in indicators.PIPELINE}
    for region in regions:
        for figure in indicators.PIPELINE:
            steps[figure] |= set(session.exec(
                indicators.people_at(figure, region, today, intake)).all())
    answers: dict[int, dict[str, str]] = {}
    states: dict[int, dict[str, str]] = {}
    by_request = {r.id: r for r in requests}
    for r in requests:
        states.setdefault(r.person_id, {})[r.survey] = (
            "answered" if r.answered_at else "partly" if r.started_at else "not_answered")
    for answer in session.exec(
            select(SurveyAnswer).join(SurveyRequest, SurveyRequest.id == SurveyAnswer.request_id)
            .where(SurveyRequest.intake == intake, SurveyAnswer.kind != "text")).all():
        request = by_request[answer.request_id]
        answers.setdefault(request.person_id, {})[
            f"{request.survey}.{answer.question}"] = answer.answer
    given = outcomes.of_intake(session, intake=intake)
    out = []
    for person in people.values():
        consented = person.sensitive_consent_at is not None
        row = {
            "person": pseudonym(person.id), "region": person.region, "intake": intake,
            # Newcomers of this intake; the others are the volunteers asked about it.
            "role": "newcomer" if person.intake == intake else person.role,
            "stage": person.stage, "setting": person.setting or "",
            # Sensitive answers only with the person's consent (UK GDPR art. 9).
            "country": (person.country or "") if consented else "",
            "languages": ";".join(person.languages) if consented else "",
            "gender": (person.gender or "") if consented else "",
        }
        for figure in indicators.PIPELINE:
            row[figure] = ("yes" if person.id in steps[figure] else "no") \
                if person.intake == intake else ""
        for survey in surveys.surveys():
            row[survey] = states.get(person.id, {}).get(survey, "not_asked")
        row.update(answers.get(person.id, {}))
        for outcome, on in given.get(person.id, []):
            row.setdefault(f"outcome.{outcome}", on.isoformat())
        out.append(row)
    return sorted(out, key=lambda r: r["person"])


def csv_file(session: Session, *, actor: User, intake: str, today: date) -> str:
    """The analysts' file of `intake` as CSV; the download is in the audit trail (commits)."""
    columns = header()
    found = rows(session, intake=intake, today=today)
    audit.record(session, actor=actor, action="analysts_file_downloaded",
                 detail={"intake": intake, "rows": len(found)})
    session.commit()
    return exports._csv(columns, ([r.get(c, "") for c in columns] for r in found))
