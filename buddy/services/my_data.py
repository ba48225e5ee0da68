"""A member's data in words: the readable companion of the JSON download.

The JSON file (accounts.export_data) keeps its shape for anyone who wants to read it with a
program; it holds codes and account numbers. This gives the same facts in sentences a person
reads without a manual ("Country where you qualified: Nigeria"), and a key that says what
each code of the JSON file means.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from buddy import clock, intakes, phones, reference, timezones
from buddy import surveys as survey_config
from buddy.messaging.models import CheckIn, Flag, InboundMessage, Message
from buddy.models import (
    AuditEvent,
    FamilyAnswer,
    Person,
    StageMove,
    SurveyAnswer,
    SurveyRequest,
    User,
    VolunteerConfirmation,
)
from buddy.services import endings
from buddy.services.members import ambassador_of, members_of
from buddy.services.profiles import CHANNELS, GENDERS, SETTINGS, SUPPORT_NEEDS
from buddy.statuses import FlagStatus, MessageStatus, PersonStatus

ROLES = {"newcomer": "Newcomer (new to GP training in England)",
         "buddy": "Volunteer buddy", "ambassador": "Ambassador"}
STATUSES = {PersonStatus.ACTIVE: "Taking part",
            PersonStatus.PENDING: "Waiting for your DA lead to approve you",
            PersonStatus.PAUSED: "Paused", PersonStatus.WITHDRAWN: "Left the scheme",
            PersonStatus.DECLINED: "Not approved this time"}
STAGES = {"ST1": "ST1 (first year of GP training)", "ST2": "GP trainee, ST2",
          "ST3": "GP trainee, ST3", "qualified": "Qualified doctor"}
PLACES = {"anchor": "Anchor (leads the family)", "buddy": "Buddy",
          "newcomer": "New to GP training"}
HOW = {"sms": "Text message", "whatsapp": "WhatsApp", "email": "Email",
       "web": "On the Buddy website"}
MESSAGE_STATUSES = {MessageStatus.PENDING: "Waiting to be sent",
                    MessageStatus.SENDING: "Being sent", MessageStatus.SENT: "Sent",
                    MessageStatus.FAILED: "Could not be delivered",
                    MessageStatus.UNCERTAIN: "We are not sure it was delivered",
                    MessageStatus.CANCELLED: "Not sent: no longer needed",
                    MessageStatus.EXPIRED: "Not sent: it was too late to be useful"}
CHECK_IN_ANSWERS = {"ok": "All is going well", "call": "You asked for a call"}
REPLY_MEANINGS = {
    "ok": "All is going well (answer 1 to a check-in)",
    "call": "You would like a call (answer 2 to a check-in)",
    "carry_on": "Your family should carry on (CARRY)",
    "finish": "Your family should finish (FINISH)",
    "available": "You can be a buddy for the next intake (AVAILABLE)",
    "not_available": "You cannot be a buddy for the next intake (NOT AVAILABLE)",
    "stop": "No more text messages, please (STOP)",
    "start": "Text messages again, please (START)",
    "help": "You asked for help (HELP)",
    "unclear": "We could not tell what you meant",
}
FLAG_REASONS = {"asked_for_call": "You asked for a call",
                "unclear_reply": "We could not tell what your reply meant",
                "help": "You asked for help",
                "message_failed": "A message to you could not be delivered"}
FLAG_STATUSES = {FlagStatus.OPEN: "Waiting for your DA lead",
                 FlagStatus.CONTACTED: "Your DA lead contacted you",
                 FlagStatus.RESOLVED: "Dealt with"}
FAMILY_ANSWERS = {"carry_on": "Carry on", "finish": "Finish"}
# What each entry of the activity list means, in words; the JSON file has the codes.
ACTIVITY = {
    "signed_up_newcomer": "You joined Buddy as a newcomer",
    "signed_up_buddy": "You offered to be a buddy",
    "signed_up_ambassador": "You offered to be an ambassador",
    "profile_updated": "You changed your details",
    "region_changed": "Your region changed",
    "family_left": "You left your buddy family",
    "member_pause": "You paused",
    "member_resume": "You came back from a pause",
    "member_withdraw": "You left the scheme",
    "member_rejoin": "You rejoined the scheme",
    "volunteer_approved": "Your DA lead approved you as a volunteer",
    "volunteer_declined": "Your DA lead did not approve you this time",
    "sensitive_consent_withdrawn": "You withdrew consent for your country, languages, gender "
                                   "and support needs, and we deleted them",
    "password_changed": "Your password was changed",
    "email_confirmed": "You confirmed your email address",
    "email_change_requested": "You asked to change your email address",
    "email_changed": "Your email address changed",
    "phone_verified": "You confirmed your mobile number",
    "phone_verification_dropped": "Your mobile number needs confirming again",
    "texts_stopped": "You asked for no more text messages",
    "help_asked": "You asked for help",
    "flag_updated": "Your DA lead updated a request for help",
    "availability_answered": "You said whether you can be a buddy for an intake",
    "availability_recorded": "Your DA lead recorded whether you can be a buddy for an intake",
    "became_volunteer": "You became a volunteer",
    "stages_moved": "Your training stage moved up",
    "family_chat_added": "You added your family's group chat link",
    "family_chat_changed": "You changed your family's group chat link",
    "family_chat_removed": "You removed your family's group chat link",
}
# Names of the details a person changes, for "You changed your details: ...".
FIELDS = {
    "full_name": "name", "arrival_date": "arrival date", "region": "region", "stage": "stage",
}
# The JSON file's field names that are not plain words, with what they hold.
JSON_FIELDS = {
    "id": "a number that identifies a record inside Buddy",
    "user_id": "the number of your account inside Buddy",
    "person_id": "the number of your profile inside Buddy",
    "role": "how you joined (see 'You joined as' below)",
    "status": "whether you are taking part (see 'Status' below)",
    "decided_by": "the account number of the DA lead who approved you, or did not",
    "approved_region": "the region whose DA lead approved you as a volunteer",
    "intake": "the intake you belong to, as year-month: 2027-08 is August 2027",
    "country": "the country where you qualified, as a two-letter code",
    "phone_country": "the country of your mobile number, as a two-letter code",
    "languages": "languages you speak besides English, as codes",
    "interests": "your interests in medicine, as codes",
    "support_needs": "what you would like help with, as codes",
    "scheme": "your training scheme, as a code",
    "region": "your region, as a code",
    "channel": "how we contact you, as a code",
    "timezone": "your time zone, by its international name",
    "same_gender_anchor": "true if you would prefer an anchor of your gender",
    "share_email": "true if your family may see your email address",
    "share_phone": "true if your family may see your mobile number",
    "can_anchor": "true if you would lead a family",
    "capacity": "how many newcomers you can support",
    "sms_opted_out": "true if you asked us to stop text messages",
    "stage_corrected_at": "when you last set your training stage yourself",
    "sensitive_consent_at": "when you agreed we may use your country, languages, gender "
                            "and support needs",
    "contact_consent_at": "when you agreed we may contact you",
    "anonymised_at": "when your details were removed (empty while we keep them)",
    "day": "a check-in's day, counted from your arrival",
    "answer": "a check-in's answer: ok (all good) or call (you asked for a call)",
    "meaning": "what we understood from a text you sent (see the list below)",
    "reason": "why your DA lead was asked to look (see the list below)",
    "kind": "which message it was",
    "action": "what happened (see the list below)",
    "detail": "more about what happened, in codes",
    "surveys": "the surveys we asked you, with your answers",
    "survey": "which survey it was, as a code: hello, eight_weeks or six_months",
    "edition": "which year's questions you were asked, e.g. 2026-27",
    "question": "a survey question, as a code; 'wording' is the question as you saw it",
    "answer_words": "your answer to a survey question, in the words you saw or typed",
    "stopped_at": "when we stopped asking you a survey you had not answered",
}


@dataclass
class Section:
    """A heading with rows of (label, value), or lines of text."""

    title: str
    rows: list[tuple[str, str]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    empty: str = "Nothing."


def _day(moment: datetime | date | None) -> str:
    if moment is None:
        return ""
    if isinstance(moment, datetime):
        moment = moment.astimezone(clock.ENGLAND).date()
    return f"{moment.day} {intakes.MONTHS[moment.month - 1]} {moment.year}"


def _when(moment: datetime | None) -> str:
    if moment is None:
        return ""
    local = moment.astimezone(clock.ENGLAND)
    return f"{_day(local.date())} at {local:%H:%M} UK time"


def _yes(value: bool) -> str:
    return "Yes" if value else "No"


def _region(slug: str | None) -> str:
    region = reference.regions().get(slug or "")
    return region.name if region else (slug or "")


def _zone(name: str | None) -> str:
    return timezones.label(name) if name and timezones.is_zone(name) else (name or "")


def _names(codes, names: dict[str, str]) -> str:
    return ", ".join(names.get(c, c) for c in codes or [])


def _given(rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, v if v not in (None, "") else "Not given") for k, v in rows]


def _decision(session: Session, person: Person) -> list[tuple[str, str]]:
    """Who approved (or did not approve) a volunteer, and when, in words."""
    event = session.exec(select(AuditEvent).where(
        AuditEvent.person_id == person.id,
        AuditEvent.action.in_(("volunteer_approved", "volunteer_declined")))
        .order_by(AuditEvent.id.desc())).first()
    lead = session.get(User, person.decided_by) if person.decided_by else None
    if event is None and lead is None:
        return []
    label = ("Approved by" if event is None or event.action == "volunteer_approved"
             else "Not approved by")
    region = _region(event.region if event else person.approved_region)
    who = f"the DA lead for {region}" if region else "your DA lead"
    if lead is not None:
        who += f" ({lead.full_name})"
    return [(label, who + (f", {_day(event.at)}" if event else ""))]


def _profile(session: Session, person: Person) -> Section:
    rows = [
        ("You joined as", ROLES.get(person.role, person.role)),
        ("Status", STATUSES.get(person.status, person.status)),
        ("Mobile number", phones.display(person.phone) if person.phone else ""),
        ("Country of your mobile number",
         reference.countries().get(person.phone_country or "", "")),
        ("Mobile number confirmed", _day(person.phone_verified_at) or "Not yet"),
        ("Email address confirmed", _day(person.email_confirmed_at) or "Not yet"),
        ("Text messages stopped at your request", _yes(person.sms_opted_out)),
        ("How we contact you", CHANNELS.get(person.channel, person.channel)),
        ("Your time zone", _zone(person.timezone)),
        ("Region", _region(person.region)),
        ("Training scheme", reference.scheme_name(person.region, person.scheme)
         if person.scheme else ""),
        ("Training stage", STAGES.get(person.stage, person.stage)),
    ]
    if person.stage_corrected_at:
        rows.append(("You last set your training stage yourself", _day(
            person.stage_corrected_at)))
    if person.role == "newcomer":
        rows += [("Arrival or start date", _day(person.arrival_date)),
                 ("Intake", intakes.label(person.intake) if person.intake else ""),
                 ("You would like an ambassador", _yes(person.wants_ambassador))]
    else:
        rows += [("Where you work", SETTINGS.get(person.setting or "", "")),
                 ("Newcomers you can support", str(person.capacity or "")),
                 ("You would lead a family (be its anchor)", _yes(person.can_anchor)),
                 ("GMC number", person.gmc_number or "")]
        rows += _decision(session, person)
    rows += [
        ("Interests", _names(person.interests, reference.interests())),
        ("Your family can see your email address", _yes(person.share_email)),
        ("Your family can see your mobile number", _yes(person.share_phone)),
        ("You agreed we may contact you", _day(person.contact_consent_at)),
        ("You agreed we may use your country, languages, gender and support needs",
         _day(person.sensitive_consent_at) or "No"),
        ("Country where you qualified", reference.countries().get(person.country or "", "")),
        ("Languages you speak besides English",
         _names(person.languages, reference.languages())),
        ("Gender", GENDERS.get(person.gender or "", "")),
        ("You would prefer an anchor of your gender", _yes(person.same_gender_anchor)),
        ("What you would like help with", _names(person.support_needs, SUPPORT_NEEDS)),
        ("Your details last changed", _day(person.updated_at)),
    ]
    return Section("Your details", rows=_given(rows))


def _families(session: Session, person: Person) -> Section:
    section = Section("Your buddy families", empty="You have not been in a buddy family.")
    answers = {a.family_id: a for a in session.exec(
        select(FamilyAnswer).where(FamilyAnswer.person_id == person.id))}
    for family in endings.families_of(session, person):
        members = members_of(session, family.id)
        mine = next((place for p, place in members if p.id == person.id), "")
        others = ", ".join(f"{p.full_name} ({PLACES.get(place, place).split(' (')[0]})"
                           for p, place in members if p.id != person.id)
        text = (f"In {_region(family.region)}, {endings.period(family)}. "
                f"Your place: {PLACES.get(mine, mine)}. With: {others or 'nobody else'}.")
        if family.ended_at:
            text += f" It ended on {_day(family.ended_at)}"
            text += f": {family.end_reason}." if family.end_reason else "."
        if family.id in answers:
            a = answers[family.id]
            text += (f" Your answer to 'carry on or finish?': "
                     f"{FAMILY_ANSWERS.get(a.answer, a.answer)} "
                     f"({HOW.get(a.channel, a.channel).lower()}, {_day(a.answered_at)}).")
        section.lines.append(text)
    for _pair, other in ambassador_of(session, person):
        section.lines.append(f"Ambassador pairing with {other.full_name}." if person.role ==
                             "newcomer" else f"You are the ambassador of {other.full_name}.")
    return section


def _volunteering(session: Session, person: Person) -> Section:
    section = Section("Your answers about being a buddy", empty="No answers.")
    for row in session.exec(select(VolunteerConfirmation).where(
            VolunteerConfirmation.person_id == person.id).order_by(VolunteerConfirmation.id)):
        said = (f"yes, for {row.capacity} newcomer{'s' if row.capacity != 1 else ''}"
                if row.available and row.capacity else "yes" if row.available else "no")
        section.lines.append(f"For the {intakes.label(row.intake)} intake: {said} "
                             f"({HOW.get(row.channel, row.channel).lower()}, "
                             f"{_day(row.answered_at)}).")
    for move in session.exec(select(StageMove).where(StageMove.person_id == person.id)
                             .order_by(StageMove.id)):
        section.lines.append(f"On {_day(move.due_on)} your training stage moved from "
                             f"{STAGES.get(move.from_stage, move.from_stage)} to "
                             f"{STAGES.get(move.to_stage, move.to_stage)}.")
    return section


def _check_ins(session: Session, person: Person) -> Section:
    section = Section("Check-ins", empty="No check-ins yet.")
    for row in session.exec(select(CheckIn).where(CheckIn.person_id == person.id)
                            .order_by(CheckIn.id)):
        weeks = f"{row.day // 7} weeks" if row.day % 7 == 0 and row.day != 7 else (
            "1 week" if row.day == 7 else f"{row.day} days")
        answer = (f"{CHECK_IN_ANSWERS.get(row.answer, row.answer)} "
                  f"({HOW.get(row.answer_channel or '', 'by link').lower()}, "
                  f"{_day(row.answered_at)})" if row.answer else "No answer")
        section.lines.append(f"{weeks.capitalize()} after you arrived: sent "
                             f"{_day(row.sent_at) or 'not yet'}. Your answer: {answer}.")
    return section


def _surveys(session: Session, person: Person) -> Section:
    """Each survey we asked, and the answers given, with the questions as they were asked."""
    section = Section("Your survey answers", empty="We have not asked you a survey.")
    requests = session.exec(select(SurveyRequest).where(SurveyRequest.person_id == person.id)
                            .order_by(SurveyRequest.id)).all()
    answers: dict[int, list[SurveyAnswer]] = {}
    for answer in session.exec(select(SurveyAnswer).where(SurveyAnswer.request_id.in_(
            [r.id for r in requests])).order_by(SurveyAnswer.id)):
        answers.setdefault(answer.request_id, []).append(answer)
    for request in requests:
        survey = survey_config.surveys().get(request.survey)
        title = survey.title if survey else request.survey.replace("_", " ").capitalize()
        given = answers.get(request.id, [])
        text = f"{title} ({intakes.label(request.intake)} intake)"
        text += f", asked {_day(request.sent_at)}." if request.sent_at else "."
        if given:
            text += " " + " ".join(f"{a.wording} \u2013 {a.answer_words or 'No answer'}."
                                   for a in given)
        else:
            text += " You did not answer it."
        section.lines.append(text)
    return section


def _replies(session: Session, person: Person) -> Section:
    section = Section("Messages you sent us", empty="None.")
    for row in session.exec(select(InboundMessage).where(
            InboundMessage.person_id == person.id).order_by(InboundMessage.id)):
        section.lines.append(f"{_when(row.received_at)}, by {HOW.get(row.channel, '').lower()}"
                             f": \u201c{row.body}\u201d. We understood: "
                             f"{REPLY_MEANINGS.get(row.meaning, row.meaning)}.")
    for flag in session.exec(select(Flag).where(Flag.person_id == person.id)
                             .order_by(Flag.id)):
        text = (f"{_day(flag.created_at)}: your DA lead was asked to look. Why: "
                f"{FLAG_REASONS.get(flag.reason, flag.reason)}. Now: "
                f"{FLAG_STATUSES.get(flag.status, flag.status)}.")
        if flag.note:
            text += f" Your DA lead's note: {flag.note}"
        section.lines.append(text)
    return section


def _messages(session: Session, user: User) -> Section:
    section = Section("Messages we sent you, or will send", empty="None.")
    for m in session.exec(select(Message).where(Message.user_id == user.id)
                          .order_by(Message.due_at, Message.id)):
        title = m.title or "A text message"
        section.lines.append(f"{_day(m.due_at)}, {HOW.get(m.channel, m.channel).lower()}: "
                             f"{title}. {MESSAGE_STATUSES.get(m.status, m.status)}.")
    return section


def _activity(session: Session, user: User, person: Person | None) -> Section:
    section = Section("What happened on your account", empty="Nothing yet.")
    events = session.exec(select(AuditEvent).where(sa.or_(
        AuditEvent.actor_id == user.id,
        AuditEvent.person_id == (person.id if person else -1))).order_by(AuditEvent.id))
    for e in events:
        words = ACTIVITY.get(e.action) or e.action.replace("_", " ").capitalize()
        changed = [FIELDS.get(f, "other details") for f in (e.detail or {}).get("changed", [])]
        if e.action == "profile_updated" and changed:
            words += ": " + ", ".join(dict.fromkeys(changed))
        if e.action == "region_changed":
            words += (f" from {_region(e.detail.get('from'))} to {_region(e.region)}"
                      if e.detail.get("from") else "")
        section.lines.append(f"{_when(e.at)}: {words}.")
    return section


def readable(*, session: Session, user: User) -> list[Section]:
    """Everything the JSON download holds about `user`, in words, section by section."""
    person = session.exec(select(Person).where(Person.user_id == user.id)).first()
    account = Section("Your account", rows=_given([
        ("Name", user.full_name), ("Email address", user.email),
        ("Joined Buddy", _day(user.created_at)),
        ("Last signed in", _when(user.last_login_at) or "Not yet")]))
    sections = [account]
    if person is not None:
        sections += [_profile(session, person), _families(session, person),
                     _volunteering(session, person), _check_ins(session, person),
                     _surveys(session, person), _replies(session, person)]
    sections += [_messages(session, user), _activity(session, user, person)]
    return sections


def key(*, session: Session, user: User) -> list[Section]:
    """What the codes of the JSON file mean: its field names, then each list of codes,
    with this person's own codes for countries, languages, schemes and interests."""
    person = session.exec(select(Person).where(Person.user_id == user.id)).first()
    sections = [Section("Field names", rows=list(JSON_FIELDS.items())),
                Section("role: how you joined", rows=list(ROLES.items())),
                Section("status", rows=list(STATUSES.items())),
                Section("stage", rows=list(STAGES.items())),
                Section("channel", rows=list(CHANNELS.items())),
                Section("setting", rows=list(SETTINGS.items())),
                Section("gender", rows=list(GENDERS.items())),
                Section("support_needs", rows=list(SUPPORT_NEEDS.items())),
                Section("region", rows=[(slug, r.name) for slug, r in
                                        reference.regions().items()])]
    if person is not None:
        codes = [c for c in (person.country, person.phone_country) if c]
        sections += [
            Section("country and phone_country (yours)",
                    rows=[(c, reference.countries().get(c, c)) for c in dict.fromkeys(codes)]),
            Section("languages (yours)", rows=[(c, reference.languages().get(c, c))
                                               for c in person.languages or []]),
            Section("interests (yours)", rows=[(c, reference.interests().get(c, c))
                                               for c in person.interests or []]),
            Section("scheme (yours)", rows=[(person.scheme, reference.scheme_name(
                person.region, person.scheme))] if person.scheme else []),
        ]
    sections += [Section("Message status", rows=list(MESSAGE_STATUSES.items())),
                 Section("Check-in answer", rows=list(CHECK_IN_ANSWERS.items())),
                 Section("meaning: what we understood from your text",
                         rows=list(REPLY_MEANINGS.items())),
                 Section("reason: why your DA lead was asked to look",
                         rows=list(FLAG_REASONS.items())),
                 Section("action: what happened", rows=list(ACTIVITY.items()))]
    for section in sections:
        section.empty = "None."
    return sections
