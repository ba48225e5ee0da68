"""Survey requests and answers (config/surveys.toml, buddy/surveys.py; README.md, "Surveys").

- A person is asked a survey by a message the cadence plans (buddy/messaging/cadence.py:
  kind "survey" for hello and eight weeks; the six-month message close_continue carries the
  six-month survey). Its link is signed for that one person, survey and intake, and works
  until its own last day, without signing in; the account page lists the surveys waiting.
- One SurveyRequest per person, survey and intake (unique): nobody is asked twice. It is
  made when the message has gone (the daily step) or when its link is first opened.
- Each page saves its answer at once, so a survey left halfway goes on where it stopped.
  The six-month carry-on question records through endings.record_answer, the one way to
  answer it. Answers are the person's own: nothing here shows them to family members.
- The daily step sends at most `reminders` reminders, and stops asking once answered, after
  STOP, or when the person leaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from buddy import clock, intakes
from buddy import surveys as config
from buddy.links import public_url
from buddy.messaging import cadence, outbox, tokens
from buddy.messaging.models import Message
from buddy.models import (
    Family,
    FamilyAnswer,
    FamilyMember,
    Person,
    SurveyAnswer,
    SurveyRequest,
    User,
)
from buddy.services import ServiceError, endings
from buddy.services.members import members_of
from buddy.statuses import FamilyStatus, MessageStatus, PersonStatus

# The outbox kinds: the planned asking message, and the daily step's reminders.
ASK, REMIND = "survey", "survey_reminder"
NO_ANSWER_WORDS = "(no answer)"


@dataclass(frozen=True)
class Ask:
    """What a survey link is for: one person's one survey of one intake."""

    person_id: int
    survey: str
    intake: str
    family_id: int | None
    audience: str  # newcomer | volunteer
    until: date  # the link's last day


def audience_of(place_or_role: str) -> str:
    """newcomer for newcomers; volunteer for buddies, ambassadors, anchors."""
    return "newcomer" if place_or_role == "newcomer" else "volunteer"


def hello_intake(person: Person) -> str:
    """The intake a newcomer's hello survey belongs to: theirs, else the next one."""
    return person.intake or intakes.next_intake(clock.today(), person.region)


def family_intake(family: Family, members: list[tuple[Person, str]], person: Person) -> str:
    """The intake a family's surveys belong to: the family's, else its newcomers' earliest,
    else the person's own hello intake."""
    found = sorted(p.intake for p, place in members if place == "newcomer" and p.intake)
    return family.intake or (found[0] if found else hello_intake(person))


def subject(survey: str, intake: str) -> str:
    """The outbox subject of a survey's asking message: one per survey and intake, and hello
    once per person (a moved arrival date must not ask it again for the new intake)."""
    return survey if survey == "hello" else f"{survey}:{intake}"


def sign(ask: Ask) -> str:
    """The signed token of `ask`: for that person and survey only, until its day. Short
    (plain values, not JSON), so that a text message with the link stays two segments."""
    return tokens.sign_fields(tokens.SURVEY, [
        str(ask.person_id), ask.survey, ask.intake,
        str(ask.family_id) if ask.family_id is not None else "-", ask.audience,
        ask.until.isoformat()])


def link(ask: Ask) -> str:
    """The signed address of `ask`'s survey, for a message."""
    return public_url("surveys.start", token=sign(ask))


def read_link(token: str) -> Ask:
    """The Ask of a valid, unexpired survey link (no write).

    :raises tokens.BadLink: tampered, expired, or for a survey that no longer exists.
    """
    values = tokens.verify_fields(tokens.SURVEY, token)
    try:
        person, survey, intake, family, audience, until = values
        ask = Ask(person_id=int(person), survey=survey, intake=intake,
                  family_id=None if family == "-" else int(family),
                  audience=audience, until=date.fromisoformat(until))
    except (TypeError, ValueError):
        raise tokens.BadLink("This link is not valid") from None
    if ask.survey not in config.surveys() or ask.audience not in config.AUDIENCES:
        raise tokens.BadLink("This link is not valid")
    if clock.today() > ask.until:
        raise tokens.BadLink("This link has expired")
    return ask


# --- Requests ---------------------------------------------------------------------------------

def _find(session: Session, person_id: int, survey: str, intake: str) -> SurveyRequest | None:
    query = select(SurveyRequest).where(SurveyRequest.person_id == person_id,
                                        SurveyRequest.survey == survey)
    if survey != "hello":
        query = query.where(SurveyRequest.intake == intake)
    # A newcomer whose arrival moved to another intake is not asked hello a second time.
    return session.exec(query.order_by(SurveyRequest.id)).first()


def ensure_request(session: Session, *, person: Person, survey: str, intake: str,
                   family_id: int | None, audience: str,
                   sent_at: datetime | None = None) -> SurveyRequest:
    """The person's request for `survey` and `intake`, made if new; the caller commits."""
    found = _find(session, person.id, survey, intake)
    if found is None:
        try:
            with session.begin_nested():  # two first opens at once: the second finds the first
                found = SurveyRequest(
                    person_id=person.id, survey=survey, edition=config.surveys()[survey].edition,
                    intake=intake, region=person.region, family_id=family_id,
                    audience=audience, sent_at=sent_at)
                session.add(found)
        except sa.exc.IntegrityError:
            found = _find(session, person.id, survey, intake)
    elif sent_at is not None and found.sent_at is None:
        found.sent_at = sent_at
        session.add(found)
    return found


def request_for_link(session: Session, *, token: str) -> SurveyRequest:
    """The request a survey link opens, made on first open; commits.

    :raises tokens.BadLink: a bad link, or one for someone no longer in Buddy.
    """
    ask = read_link(token)
    person = session.get(Person, ask.person_id)
    if (person is None or person.anonymised_at is not None
            or person.status == PersonStatus.WITHDRAWN):
        raise tokens.BadLink("This link is not valid")
    found = ensure_request(session, person=person, survey=ask.survey, intake=ask.intake,
                           family_id=ask.family_id, audience=ask.audience)
    session.commit()
    return found


def waiting_for(session: Session, *, person: Person) -> list[SurveyRequest]:
    """The person's surveys not yet finished and still asked, newest first."""
    return list(session.exec(
        select(SurveyRequest).where(SurveyRequest.person_id == person.id,
                                    SurveyRequest.answered_at.is_(None),
                                    SurveyRequest.stopped_at.is_(None))
        .order_by(SurveyRequest.created_at.desc(), SurveyRequest.id.desc())).all())


def _fresh(request: SurveyRequest) -> Ask:
    return Ask(person_id=request.person_id, survey=request.survey, intake=request.intake,
               family_id=request.family_id, audience=request.audience,
               until=clock.today() + timedelta(days=config.asking().link_days))


def fresh_token(request: SurveyRequest) -> str:
    """A new signed token for `request`'s survey (the account page)."""
    return sign(_fresh(request))


def fresh_link(request: SurveyRequest) -> str:
    """A new signed link to `request`'s survey (reminders)."""
    return link(_fresh(request))


# --- Questions and answers ----------------------------------------------------------------------

def _family_question(session: Session, request: SurveyRequest) -> Family | None:
    """The family whose six-month question is open for this request's person, or None."""
    family = session.get(Family, request.family_id) if request.family_id else None
    if (family is None or family.status != FamilyStatus.PUBLISHED
            or family.carry_on_until is not None):
        return None
    members = members_of(session, family.id)
    if request.person_id not in {p.id for p, _ in members}:
        return None
    if not endings.is_open(family, endings.question_of(family, members),
                           endings.england_day(clock.now())):
        return None
    return family


def questions(session: Session, *, request: SurveyRequest) -> tuple[config.Question, ...]:
    """The questions this request asks, in order.

    The carry-on question is asked only while the family's question is open: after that
    an answer could no longer change what happens.
    """
    survey = config.surveys()[request.survey]
    asked = survey.questions_for(request.audience)
    if any(q.records for q in asked) and _family_question(session, request) is None:
        answered = set(answers_of(session, request=request))
        asked = tuple(q for q in asked if not q.records or q.key in answered)
    return asked


def answers_of(session: Session, *, request: SurveyRequest) -> dict[str, SurveyAnswer]:
    """The request's answers by question key."""
    return {a.question: a for a in session.exec(
        select(SurveyAnswer).where(SurveyAnswer.request_id == request.id)).all()}


def current_answer(session: Session, *, request: SurveyRequest,
                   question: config.Question) -> str | None:
    """The answer to show as chosen: the saved one; for carry-on the family's answer, which
    may have been given another way since (a reply CARRY, the family page): the latest counts."""
    if question.records and request.family_id:
        given = session.exec(select(FamilyAnswer.answer).where(
            FamilyAnswer.family_id == request.family_id,
            FamilyAnswer.person_id == request.person_id)).first()
        if given is not None:
            return given
    saved = answers_of(session, request=request).get(question.key)
    return saved.answer if saved is not None else None


def first_unanswered(session: Session, *, request: SurveyRequest) -> str | None:
    """The key of the first question without an answer, or None when all are answered."""
    done = answers_of(session, request=request)
    return next((q.key for q in questions(session, request=request) if q.key not in done), None)


def _check(question: config.Question, value: str) -> tuple[str, str]:
    """(answer, its words) for `value`, or ServiceError saying what to do."""
    value = (value or "").strip()
    if question.kind == "text":
        value = value.replace("\r\n", "\n")
        if len(value) > question.max_length:
            raise ServiceError({"answer": f"Your answer must be {question.max_length} "
                                          f"characters or fewer: it has {len(value)}"})
        return value, value or NO_ANSWER_WORDS
    if value not in {o.key for o in question.choices()}:
        raise ServiceError({"answer": "Choose one answer" if question.kind == "choice"
                            else "Choose a number from 1 to 5"})
    return value, question.words_for(value)


def answer(session: Session, *, request: SurveyRequest, question_key: str, value: str,
           now: datetime | None = None) -> str | None:
    """Save one answer (or change it) and commit: the key of the next unanswered question,
    or None when the survey is done.

    :raises ServiceError: no such question here, or an answer that breaks its rule (nothing
        is saved then).
    """
    now = now or clock.now()
    question = next((q for q in questions(session, request=request) if q.key == question_key),
                    None)
    if question is None:
        raise ServiceError("This question is not part of your survey")
    if request.stopped_at is not None and request.stop_reason == "left":
        raise ServiceError("This survey is closed")
    stored, words = _check(question, value)
    if question.records:
        family = _family_question(session, request)
        person = session.get(Person, request.person_id)
        if family is None or person is None:
            raise ServiceError("The six-month question of your family is closed: your "
                               "answer can no longer change what happens")
        endings.record_answer(session, family, person, stored, "web", now)
    existing = session.exec(select(SurveyAnswer).where(
        SurveyAnswer.request_id == request.id, SurveyAnswer.question == question.key)).first()
    if existing is None:
        existing = SurveyAnswer(request_id=request.id, question=question.key, kind=question.kind,
                                wording=question.text, answer=stored, answer_words=words,
                                answered_at=now)
    else:
        # A changed answer keeps the words of the question as asked now.
        existing.answer, existing.answer_words = stored, words
        existing.wording, existing.answered_at = question.text, now
    session.add(existing)
    request.started_at = request.started_at or now
    session.flush()
    following = first_unanswered(session, request=request)
    if following is None and request.answered_at is None:
        request.answered_at = now
        _cancel_reminders(session, request, now)
    session.add(request)
    session.commit()
    return following


def _cancel_reminders(session: Session, request: SurveyRequest, now: datetime) -> None:
    person = session.get(Person, request.person_id)
    if person is None:
        return
    session.execute(
        sa.update(Message).where(
            Message.person_id == person.id, Message.kind == REMIND,
            Message.subject.startswith(f"{subject(request.survey, request.intake)}:"),
            Message.status == MessageStatus.PENDING)
        .values(status=MessageStatus.CANCELLED, updated_at=now))


# --- The daily step -----------------------------------------------------------------------------

def _asked_by(session: Session, message: Message) -> tuple[str, str, int | None, str] | None:
    """(survey, intake, family id, audience) a sent asking message was for, or None."""
    person = session.get(Person, message.person_id) if message.person_id else None
    if person is None:
        return None
    if message.kind == ASK:
        survey, _, intake = message.subject.partition(":")
        if survey not in config.surveys():
            return None
        intake = intake or hello_intake(person)
        family_id = None
        if survey != "hello":
            family_id = next((f.id for f in session.exec(
                select(Family).join(FamilyMember, FamilyMember.family_id == Family.id)
                .where(FamilyMember.person_id == person.id).order_by(Family.id)).all()
                if family_intake(f, members_of(session, f.id), person) == intake),
                None)
        return survey, intake, family_id, audience_of(person.role)
    six = config.at("six_months")
    kind, _, number = message.subject.partition(":")
    if six is None or kind != "family" or not number.isdigit():
        return None
    family = session.get(Family, int(number))
    place = session.exec(select(FamilyMember.place).where(
        FamilyMember.family_id == int(number), FamilyMember.person_id == person.id)).first()
    if family is None or place is None:
        return None
    intake = family_intake(family, members_of(session, family.id), person)
    return six.key, intake, family.id, audience_of(place)


def daily(session: Session, *, now: datetime) -> dict[str, int]:
    """Record who was asked, stop asking those who left or said STOP, send reminders."""
    counts = {"surveys asked": 0, "surveys stopped": 0, "survey reminders": 0}
    today = clock.today()
    settings = config.asking()
    # 1. Every asking message that went has its request (a catch-up finds all of them).
    asked = session.exec(
        select(Message).where(Message.kind.in_((ASK, "close_continue")),
                              Message.status == MessageStatus.SENT,
                              Message.person_id.is_not(None),
                              # Older ones were recorded by an earlier run, or can no
                              # longer be answered: a catch-up of a long stop still finds all.
                              Message.sent_at >= now - timedelta(days=settings.link_days))).all()
    known = {(r.person_id, r.survey, r.intake): r for r in session.exec(
        select(SurveyRequest).where(SurveyRequest.person_id.in_(
            {m.person_id for m in asked}))).all()} if asked else {}
    for message in asked:
        found = _asked_by(session, message)
        if found is None:
            continue
        survey, intake, family_id, audience = found
        request = known.get((message.person_id, survey, intake))
        if request is not None and request.sent_at is not None:
            continue
        person = session.get(Person, message.person_id)
        request = ensure_request(session, person=person, survey=survey, intake=intake,
                                 family_id=family_id, audience=audience,
                                 sent_at=message.sent_at or now)
        known[(person.id, survey, intake)] = request
        counts["surveys asked"] += 1
    session.commit()
    # 2. Stop asking people who left or told us STOP; 3. remind the others, at most N times.
    open_requests = session.exec(select(SurveyRequest, Person).join(
        Person, Person.id == SurveyRequest.person_id).where(
        SurveyRequest.answered_at.is_(None), SurveyRequest.stopped_at.is_(None),
        SurveyRequest.sent_at.is_not(None))).all()
    for request, person in open_requests:
        reason = ("left" if person.status != PersonStatus.ACTIVE or person.anonymised_at is not None
                  else "stop" if person.sms_opted_out else None)
        if reason:
            request.stopped_at, request.stop_reason = now, reason
            session.add(request)
            _cancel_reminders(session, request, now)
            counts["surveys stopped"] += 1
            continue
        if request.reminders_sent >= settings.reminders:
            continue
        sent_day = request.sent_at.astimezone(clock.ENGLAND).date()
        if today < sent_day + timedelta(days=settings.reminder_days * (request.reminders_sent + 1)):
            continue
        request.reminders_sent += 1
        session.add(request)
        _queue_reminder(session, request, person, now)
        counts["survey reminders"] += 1
    session.commit()
    return counts


def _queue_reminder(session: Session, request: SurveyRequest, person: Person,
                    now: datetime) -> None:
    user = session.get(User, person.user_id)
    if user is None:
        return
    survey = config.surveys()[request.survey]
    channel = cadence.channel_for(person)
    title, body = cadence.compose(
        "survey_reminder", person=person, channel=channel,
        # The intake tells two years' surveys apart (a buddy may lead a family every year).
        values={"survey": f"{survey.title} ({intakes.label(request.intake)})",
                "time": cadence.minutes_words(survey.minutes),
                "link": fresh_link(request)})
    outbox.enqueue(
        session, user=user, channel=channel, kind=REMIND,
        subject=f"{subject(request.survey, request.intake)}:{request.reminders_sent}",
        to_address=cadence.address_for(person, user, channel), title=title, body=body,
        due_at=now, person=person, timezone=person.timezone,
        # A reminder not sent before the next one would be due is no longer worth sending.
        expires_at=now + timedelta(days=config.asking().reminder_days))


# --- For the lead -------------------------------------------------------------------------------

def hello_for(session: Session, *, viewer: User, person: Person) -> list[tuple[str, str]]:
    """A newcomer's hello answers for the lead reviewing their match: (question as asked,
    answer's words). Free text only for the person's own region's lead; nothing for others."""
    request = session.exec(select(SurveyRequest).where(
        SurveyRequest.person_id == person.id, SurveyRequest.survey == "hello")
        .order_by(SurveyRequest.id)).first()
    if request is None or viewer.role not in ("lead", "admin"):
        return []
    own_lead = viewer.role == "lead" and viewer.region == person.region
    return [(a.wording, a.answer_words) for a in session.exec(
        select(SurveyAnswer).where(SurveyAnswer.request_id == request.id)
        .order_by(SurveyAnswer.id)).all() if a.kind != "text" or (own_lead and a.answer)]
