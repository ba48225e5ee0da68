"""Survey results: every figure the results pages and their CSV show, from one place.

The definitions are in docs/indicators.md ("Survey figures"); tests/test_survey_results.py
checks the figures against a hand count and the suppression rule at 4, 5 and 6.

Small numbers: any count below indicators.SMALL (5) is shown as "<5", for the region's own
lead too (answers are people's opinions of their lead's programme). A count shown beside a
total it adds up to could give a hidden one away by subtraction ("20 answered: 12, <5, 5"
says the hidden one is 3), so `protect` hides more ("hidden") until no hidden count can be
worked out from the figures shown. Free text is listed for the region's lead only, never
with a name, never in the national view and never in a CSV.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlmodel import Session, func, select

from buddy import surveys
from buddy.models import SurveyAnswer, SurveyRequest
from buddy.services import exports, indicators
from buddy.services.indicators import SMALL

# The survey figures, as docs/indicators.md words them (tests/test_indicators_doc.py checks
# that the document holds each text as it is here); the results pages show them.
DEFINITIONS = {
    "survey_asked": "People a survey was sent to for the intake (by email, text or WhatsApp), "
                    "and people who opened it from their account page without a message. "
                    "Counted in the region the person was in when they were asked.",
    "survey_answered": "Of those asked, people who answered every question they were asked. "
                       "Someone who stopped halfway is not counted here, but their answers "
                       "are counted in each question's figures.",
    "question_answers": "For each choice or scale question: how many people gave each "
                        "answer, and how many answered the question at all (partial answers "
                        "included). The words are those of the latest questions; an answer "
                        "kept from an earlier edition keeps its own words.",
    "free_text": "Written answers, for the region's own DA lead only: without names, in "
                 "alphabetical order. Never on the national page and never in a CSV file.",
    "outcomes_by_participation": "Newcomers of the intake with each training outcome their "
                                 "DA lead uploaded, counted once a person: those still "
                                 "engaged at 8 weeks (the dashboard's step of that name), "
                                 "those who were not, and all of them.",
}
LABELS = {"survey_asked": "Asked", "survey_answered": "Answered every question",
          "question_answers": "Answers to each question", "free_text": "Written answers",
          "outcomes_by_participation": "Outcomes by participation"}
# The suppression rule lives beside the indicators' (indicators.protect): one rule for all.
SUPPRESSED, HIDDEN, protect = indicators.SUPPRESSED, indicators.HIDDEN, indicators.protect
TOTAL = "total"  # the key of a question's total (people who answered it) in its counts


def shown(value: int) -> int | str:
    """One figure with no total beside it: "<5" below SMALL."""
    return SUPPRESSED if value < SMALL else value


def rate(answered: int | str, asked: int | str) -> float | None:
    """answered / asked when both are shown (a rate of a hidden count would give it away)."""
    if isinstance(answered, int) and isinstance(asked, int) and asked:
        return answered / asked
    return None


# --- Counting -------------------------------------------------------------------------------

def _asked():
    # Asked: the message went out, or they opened it from their account page and answered.
    return sa.or_(SurveyRequest.sent_at.is_not(None), SurveyRequest.started_at.is_not(None))


def response_counts(session: Session, *, intake: str, regions: list[str] | None = None
                    ) -> dict[tuple[str, str], dict[str, int]]:
    """{(region, survey): {"asked", "answered"}} for `intake`: asked as defined in
    docs/indicators.md, answered = every question answered."""
    query = (select(SurveyRequest.region, SurveyRequest.survey, func.count(),
                    func.count(SurveyRequest.answered_at))
             .where(SurveyRequest.intake == intake, _asked())
             .group_by(SurveyRequest.region, SurveyRequest.survey))
    if regions is not None:
        query = query.where(SurveyRequest.region.in_(regions))
    return {(region, survey): {"asked": asked, "answered": answered}
            for region, survey, asked, answered in session.exec(query).all()}


def answer_counts(session: Session, *, intake: str, regions: list[str] | None = None
                  ) -> dict[tuple[str, str, str], dict[str, int]]:
    """{(region, survey, question): {answer: people}} for the choice and scale questions of
    `intake`, partial answers included."""
    query = (select(SurveyRequest.region, SurveyRequest.survey, SurveyAnswer.question,
                    SurveyAnswer.answer, func.count())
             .join(SurveyRequest, SurveyRequest.id == SurveyAnswer.request_id)
             .where(SurveyRequest.intake == intake, SurveyAnswer.kind.in_(("choice", "scale")))
             .group_by(SurveyRequest.region, SurveyRequest.survey, SurveyAnswer.question,
                       SurveyAnswer.answer))
    if regions is not None:
        query = query.where(SurveyRequest.region.in_(regions))
    out: dict[tuple[str, str, str], dict[str, int]] = {}
    for region, survey, question, answer, n in session.exec(query).all():
        out.setdefault((region, survey, question), {})[answer] = n
    return out


def free_text(session: Session, *, region: str, intake: str
              ) -> dict[tuple[str, str], list[str]]:
    """{(survey, question): texts} of one region's intake, for that region's lead only:
    in alphabetical order, so their order says nothing about who wrote them or when."""
    rows = session.exec(
        select(SurveyRequest.survey, SurveyAnswer.question, SurveyAnswer.answer)
        .join(SurveyRequest, SurveyRequest.id == SurveyAnswer.request_id)
        .where(SurveyRequest.region == region, SurveyRequest.intake == intake,
               SurveyAnswer.kind == "text", SurveyAnswer.answer != "")).all()
    out: dict[tuple[str, str], list[str]] = {}
    for survey, question, text in rows:
        out.setdefault((survey, question), []).append(text)
    return {k: sorted(v, key=str.casefold) for k, v in out.items()}


# --- What the pages show ---------------------------------------------------------------------

@dataclass
class QuestionResult:
    """One question's answers: each answer's people, shown with the suppression rule."""

    key: str
    text: str
    kind: str
    answers: list[tuple[str, int | str]]  # (the answer's words, people or "<5"/"hidden")
    total: int | str  # people who answered the question
    texts: list[str] = field(default_factory=list)  # free text (the region's lead only)


@dataclass
class SurveyResult:
    key: str
    title: str
    asked: int | str
    answered: int | str
    questions: list[QuestionResult]
    # Nobody was asked it about this intake yet (a 0 asked says nothing about anyone).
    not_asked: bool = False

    @property
    def rate(self) -> float | None:
        return rate(self.answered, self.asked)


def _choice_question(question: surveys.Question, counts: Mapping[str, int]) -> QuestionResult:
    choices = question.choices()
    # Answers given to an earlier edition's option that this one dropped still count.
    extra = sorted(set(counts) - {o.key for o in choices})
    keys = [o.key for o in choices] + extra
    values = {k: counts.get(k, 0) for k in keys}
    values[TOTAL] = sum(values.values())
    seen = protect(values, [(TOTAL, keys)])
    return QuestionResult(key=question.key, text=question.text, kind=question.kind,
                          answers=[(question.words_for(k), seen[k]) for k in keys],
                          total=seen[TOTAL])


def region_results(session: Session, *, region: str, intake: str, with_text: bool
                   ) -> list[SurveyResult]:
    """Each survey's figures for one region's intake; free text only when `with_text` (the
    region's own lead)."""
    responses = response_counts(session, intake=intake, regions=[region])
    answers = answer_counts(session, intake=intake, regions=[region])
    texts = free_text(session, region=region, intake=intake) if with_text else {}
    out = []
    for survey in surveys.surveys().values():
        r = responses.get((region, survey.key), {"asked": 0, "answered": 0})
        questions = []
        for question in survey.questions:
            if question.kind == "text":
                found = texts.get((survey.key, question.key), [])
                questions.append(QuestionResult(
                    key=question.key, text=question.text, kind="text", answers=[],
                    total=shown(len(found)) if with_text else "", texts=found))
            else:
                questions.append(_choice_question(
                    question, answers.get((region, survey.key, question.key), {})))
        out.append(SurveyResult(key=survey.key, title=survey.title, asked=shown(r["asked"]),
                                answered=shown(r["answered"]), questions=questions,
                                not_asked=r["asked"] == 0))
    return out


def last_year(intake: str) -> str:
    """The same intake a year before ("2026-08" for "2027-08")."""
    year, month = intake.split("-")
    return f"{int(year) - 1}-{month}"


ALL_REGIONS = "all"


def national_responses(session: Session, *, regions: list[str], intake: str
                       ) -> dict[str, dict[str, dict[str, int | str]]]:
    """{survey: {region or ALL_REGIONS: {"asked", "answered"}}} for `intake`, every region
    beside the others and their sum, protected so no region's hidden count can be worked out
    from the national one."""
    found = response_counts(session, intake=intake, regions=regions)
    out = {}
    for survey in surveys.surveys():
        values: dict[tuple[str, str], int] = {}
        for measure in ("asked", "answered"):
            for region in regions:
                values[(region, measure)] = found.get((region, survey), {}).get(measure, 0)
            values[(ALL_REGIONS, measure)] = sum(values[(r, measure)] for r in regions)
        # Each region's page shows its own figures: only all regions' may be hidden more.
        seen = protect(values, [((ALL_REGIONS, m), [(r, m) for r in regions])
                                for m in ("asked", "answered")],
                       hide_only=[(ALL_REGIONS, m) for m in ("asked", "answered")])
        out[survey] = {r: {m: seen[(r, m)] for m in ("asked", "answered")}
                       for r in [*regions, ALL_REGIONS]}
    return out


def asked_at_all(session: Session, *, regions: list[str], intake: str) -> set[str]:
    """The surveys anyone in `regions` was asked about `intake` (nobody asked says nothing
    about anyone, so the page may say it)."""
    return {survey for (_region, survey), r in response_counts(
        session, intake=intake, regions=regions).items() if r["asked"]}


def national_answers(session: Session, *, regions: list[str], intake: str
                     ) -> dict[tuple[str, str], dict[str, dict[str, int | str]]]:
    """{(survey, question): {region or ALL_REGIONS: {answer key or TOTAL: people}}} for the
    choice and scale questions of `intake`, protected across regions and answers."""
    found = answer_counts(session, intake=intake, regions=regions)
    out = {}
    for survey in surveys.surveys().values():
        for question in survey.questions:
            if question.kind == "text":
                continue  # free text is never in the national view
            keys = [o.key for o in question.choices()]
            keys += sorted({a for r in regions
                            for a in found.get((r, survey.key, question.key), {})} - set(keys))
            values: dict[tuple[str, str], int] = {}
            for region in regions:
                counts = found.get((region, survey.key, question.key), {})
                for k in keys:
                    values[(region, k)] = counts.get(k, 0)
                values[(region, TOTAL)] = sum(values[(region, k)] for k in keys)
            for k in [*keys, TOTAL]:
                values[(ALL_REGIONS, k)] = sum(values[(r, k)] for r in regions)
            rows = [*regions, ALL_REGIONS]
            groups = [((r, TOTAL), [(r, k) for k in keys]) for r in rows]
            groups += [((ALL_REGIONS, k), [(r, k) for r in regions]) for k in [*keys, TOTAL]]
            # A region's row is hidden as its own page hides it; only all regions' row may be
            # hidden more, or the region's page beside this one would give a figure away.
            on_pages = set()
            for region in regions:
                row = {k: values[(region, k)] for k in [*keys, TOTAL]}
                shown_row = protect(row, [(TOTAL, keys)])
                on_pages |= {(region, k) for k, v in shown_row.items() if v == HIDDEN}
            seen = protect(values, groups, hidden=on_pages,
                           hide_only=[(ALL_REGIONS, k) for k in [*keys, TOTAL]])
            out[(survey.key, question.key)] = {
                r: {k: seen[(r, k)] for k in [*keys, TOTAL]} for r in rows}
    return out


def region_csv(session: Session, *, region: str, intake: str) -> str:
    """The lead's results as CSV: the page's figures (suppressed the same way), no free text."""
    rows = []
    for result in region_results(session, region=region, intake=intake, with_text=False):
        rows.append([region, intake, result.title, "", "Asked", result.asked])
        rows.append([region, intake, result.title, "", "Answered every question",
                     result.answered])
        for question in result.questions:
            if question.kind == "text":
                continue
            for words, people in question.answers:
                rows.append([region, intake, result.title, question.text, words, people])
            rows.append([region, intake, result.title, question.text,
                         "Answered this question", question.total])
    return exports._csv(["region", "intake", "survey", "question", "answer", "people"],
                            rows)
