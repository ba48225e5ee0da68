"""Surveys (config/surveys.toml): asking through the outbox, answering by signed link or the
account page, one request per person and survey, reminders that stop, the six-month question."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlmodel import select

from buddy import surveys as config
from buddy.messaging import cadence, tokens
from buddy.messaging.models import Message
from buddy.models import FamilyAnswer, Person, SurveyAnswer, SurveyRequest
from buddy.services import endings, surveys
from tests.factories import login
from tests.messaging.conftest import at, publish_family, rows, run

JOINED = at(2027, 6, 1, 9)  # two months before the factory's newcomers arrive (4 August 2027)
LINK = re.compile(r"http://localhost(/surveys/[^/\s]+)")


@pytest.fixture
def app(make_app, channel_settings):
    return make_app(**channel_settings, BUDDY_NOW=JOINED.isoformat())


def _now(app, moment):
    app.config["BUDDY_NOW"] = moment.isoformat()


def _link(message: Message) -> str:
    return LINK.search(message.body).group(1)


def _hello(app, session, factory, **kw) -> tuple[Person, str]:
    """A newcomer who joined, and the path of the hello survey in the message sent them."""
    person = factory.newcomer(**kw)
    run(app, at(2027, 6, 2, 6))  # 10:00 the next day in India
    [message] = rows(session, person_id=person.id, kind="survey", status="sent")
    return person, _link(message)


def _requests(session, **where) -> list[SurveyRequest]:
    session.expire_all()
    query = select(SurveyRequest).order_by(SurveyRequest.id)
    for key, value in where.items():
        query = query.where(getattr(SurveyRequest, key) == value)
    return list(session.exec(query).all())


def _answers(session, request_id) -> dict[str, tuple[str, str, str]]:
    session.expire_all()
    return {a.question: (a.answer, a.answer_words, a.wording) for a in session.exec(
        select(SurveyAnswer).where(SurveyAnswer.request_id == request_id)).all()}


def _daily(app, session, moment):
    _now(app, moment)
    with app.app_context():
        return surveys.daily(session, now=moment)


# --- The surveys as data ----------------------------------------------------------------------

def test_the_three_shipped_surveys_are_short_and_complete():
    found = config.surveys()
    assert list(found) == ["hello", "eight_weeks", "six_months"]
    assert {s.moment for s in found.values()} == set(config.MOMENTS)
    for survey in found.values():
        assert survey.edition == "2026-27"
        # Under two minutes on a phone: a few questions, said in the message.
        assert survey.minutes <= 2
        for audience in survey.audience:
            assert 3 <= len(survey.questions_for(audience)) <= 6
    six = found["six_months"]
    assert [q.key for q in six.questions_for("newcomer")] == [
        "carry_on", "useful", "belonging", "become_buddy", "comments"]
    assert [q.key for q in six.questions_for("volunteer")] == [
        "carry_on", "useful", "belonging", "time_given", "again", "comments"]
    scale = found["hello"].question("confidence")
    assert [o.words for o in scale.choices()] == [
        "1 - Not at all confident", "2", "3", "4", "5 - Very confident"]


@pytest.mark.parametrize(("raw", "says"), [
    ({"key": "q", "kind": "stars", "text": "?"}, "kind must be one of choice, scale, text"),
    ({"key": "q", "kind": "scale", "text": "?", "low": "no"}, "words for both ends"),
    ({"key": "q", "kind": "choice", "text": "?", "options": [{"key": "a", "words": "A"}]},
     "at least two options"),
    ({"key": "q", "kind": "text", "text": "?"}, "needs max_length"),
    ({"key": "q", "kind": "choice", "text": "?", "records": "family_answer",
      "options": [{"key": "a", "words": "A"}, {"key": "b", "words": "B"}]}, "carry_on"),
])
def test_a_mistake_in_the_file_is_named(raw, says):
    with pytest.raises(config.BadSurveys, match=says) as caught:
        config._question("hello", raw)
    assert "survey 'hello', question 'q'" in str(caught.value)


# --- Asking -----------------------------------------------------------------------------------

def test_a_newcomer_is_asked_hello_the_day_after_joining_and_volunteers_are_not(
        app, session, factory):
    person = factory.newcomer()
    volunteer = factory.volunteer()
    [message] = rows(session, person_id=person.id, kind="survey", status="pending")
    assert (message.subject, message.channel, message.status) == ("hello", "sms", "pending")
    assert message.due_at == at(2027, 6, 2, 4, 30)  # 10:00 in India
    assert message.body.startswith("Hello Newcomer")
    assert "it takes 1 minute: http://localhost/surveys/" in message.body
    assert rows(session, person_id=volunteer.id, kind="survey") == []


def test_family_members_are_asked_at_eight_weeks_and_six_months(app, session, factory):
    anchor, newcomer = factory.volunteer(), factory.newcomer()
    family = publish_family(app, session, [(anchor, "anchor"), (newcomer, "newcomer")])
    for person in (anchor, newcomer):
        [eight] = rows(session, person_id=person.id, kind="survey", subject="eight_weeks:2027-08")
        assert eight.due_at.date() == date(2027, 8, 4) + timedelta(days=57)
        [close] = rows(session, person_id=person.id, kind="close_continue")
        # The six-month message links to the person's own six-month survey, not a dead page.
        path = _link(close)
        with app.test_request_context():
            ask = surveys.read_link(path.rsplit("/", 1)[1])
        assert (ask.survey, ask.family_id, ask.person_id) == ("six_months", family.id,
                                                              person.id)
        assert ask.audience == ("newcomer" if person is newcomer else "volunteer")


def test_nobody_is_asked_twice(app, session, factory, client):
    person, path = _hello(app, session, factory)
    _now(app, at(2027, 6, 3, 9))
    assert _daily(app, session, at(2027, 6, 3, 9))["surveys asked"] == 1
    assert _daily(app, session, at(2027, 6, 3, 10))["surveys asked"] == 0
    client.get(path)
    client.get(path)
    assert len(_requests(session, person_id=person.id)) == 1
    # A moved arrival date (another intake) re-plans messages: hello was asked, not again.
    with app.app_context():
        fresh = session.get(Person, person.id)
        fresh.arrival_date, fresh.intake = date(2028, 2, 10), "2028-02"
        session.add(fresh)
        cadence.person_changed(session, fresh)
        session.commit()
    run(app, at(2027, 6, 4, 6))
    assert [m.subject for m in rows(session, person_id=person.id, kind="survey",
                                    status="sent")] == ["hello"]
    _daily(app, session, at(2027, 6, 5, 9))
    assert [(r.survey, r.intake) for r in _requests(session, person_id=person.id)] == [
        ("hello", "2027-08")]


# --- Answering --------------------------------------------------------------------------------

def test_hello_journey_saves_each_page_with_its_wording(app, session, factory, client):
    person, path = _hello(app, session, factory)
    _now(app, at(2027, 6, 2, 12))
    first = client.get(path)
    assert first.status_code == 302 and first.location.endswith("/help_with")
    page = client.get(first.location)
    assert "Question 1 of 4" in page.text and "Hello: starting GP training" in page.text
    # Nothing chosen: a clear message, nothing saved.
    error = client.post(first.location, data={})
    assert error.status_code == 400 and "Choose one answer" in error.text
    assert "Error: What would you most like help with" in error.text
    [request] = _requests(session, person_id=person.id)
    assert _answers(session, request.id) == {}
    assert client.post(first.location, data={"answer": "nothing_listed"}).status_code == 400
    saved = client.post(first.location, data={"answer": "living"})
    assert saved.location.endswith("/confidence")
    assert client.post(saved.location, data={"answer": "6"}).status_code == 400
    client.post(saved.location, data={"answer": "2"})
    client.post(path + "/meet", data={"answer": "in_person"})
    too_long = client.post(path + "/anything_else", data={"answer": "x" * 301})
    assert too_long.status_code == 400
    assert "300 characters or fewer: it has 301" in too_long.text
    assert "x" * 301 in too_long.text  # what was typed is kept
    done = client.post(path + "/anything_else", data={"answer": "  My family joins in May. "})
    assert done.location.endswith("/done")
    assert "Thank you" in client.get(done.location).text
    assert _answers(session, request.id) == {
        "help_with": ("living", "Living in the area: housing, schools, transport",
                      "What would you most like help with in your first weeks?"),
        "confidence": ("2", "2", "How confident do you feel about starting work in the NHS?"),
        "meet": ("in_person", "In person", "How would you prefer to meet your buddies?"),
        "anything_else": ("My family joins in May.", "My family joins in May.",
                          "Is there anything else you would like your DA lead to know?"),
    }
    [request] = _requests(session, person_id=person.id)
    assert request.answered_at is not None and request.started_at is not None
    assert request.edition == "2026-27" and request.intake == "2027-08"


def test_a_text_question_may_be_left_blank(app, session, factory, client):
    person, path = _hello(app, session, factory)
    for key, value in (("help_with", "people"), ("confidence", "5"), ("meet", "any")):
        client.post(f"{path}/{key}", data={"answer": value})
    assert client.post(f"{path}/anything_else", data={"answer": " "}).location.endswith("/done")
    [request] = _requests(session, person_id=person.id)
    assert _answers(session, request.id)["anything_else"][:2] == ("", "(no answer)")
    assert request.answered_at is not None


def test_partial_answers_are_kept_and_resumed_from_the_account_page(app, session, factory,
                                                                    client):
    person, path = _hello(app, session, factory)
    client.post(path + "/help_with", data={"answer": "training"})
    # Opening the link again goes on at the first question not answered.
    assert client.get(path).location.endswith("/confidence")
    # Back on the first page, the saved answer is chosen.
    assert 'value="training" checked' in client.get(path + "/help_with").text
    login(client, factory.user_of(person).email)
    account = client.get("/account/")
    assert "Surveys waiting for you" in account.text
    # A fresh link of its own, which goes on where they stopped.
    fresh = re.search(r'href="(/surveys/[^"]+)"', account.text).group(1)
    assert client.get(fresh).location.endswith("/confidence")
    for key, value in (("confidence", "4"), ("meet", "online"), ("anything_else", "")):
        client.post(f"{path}/{key}", data={"answer": value})
    assert "Surveys waiting for you" not in client.get("/account/").text


# --- The signed links -------------------------------------------------------------------------

def test_a_tampered_link_opens_nothing(app, session, factory, client):
    _person, path = _hello(app, session, factory)
    token = path.rsplit("/", 1)[1]
    tampered = token[:-3] + ("abc" if not token.endswith("abc") else "xyz")
    page = client.get(f"/surveys/{tampered}")
    assert page.status_code == 400 and "This link is not valid" in page.text
    assert client.post(f"/surveys/{tampered}/help_with",
                       data={"answer": "living"}).status_code == 400
    assert session.exec(select(SurveyAnswer)).all() == []
    # The values are readable: another person's number with this signature opens nothing.
    person_id, rest = token.split(".", 1)
    other_person = f"{int(person_id) + 1}.{rest}"
    assert client.get(f"/surveys/{other_person}").status_code == 400


def test_an_expired_link_says_so(app, session, factory, client):
    _person, path = _hello(app, session, factory)
    _now(app, at(2027, 9, 2, 12))  # four weeks after arrival: the hello link's last day has gone
    page = client.get(path)
    assert page.status_code == 400 and "This link has expired" in page.text


def test_a_link_cannot_be_used_for_another_survey_or_the_account(app, session, factory,
                                                                 client):
    person, path = _hello(app, session, factory)
    # Another survey's question through this link: not part of this survey.
    assert client.get(path + "/met").status_code == 404
    assert client.post(path + "/useful", data={"answer": "5"}).status_code == 404
    # The same token on other signed-link pages: refused as not theirs.
    token = path.rsplit("/", 1)[1]
    assert client.get(f"/messages/family-answer/{token}").status_code in (400, 404)
    # It signs nobody in.
    client.get(path)
    assert client.get("/account/").status_code == 302
    # And a link signed for another purpose does not open a survey.
    with app.test_request_context():
        other = tokens.sign(tokens.FAMILY, {"p": person.id, "s": "hello", "i": "2027-08",
                                            "f": None, "a": "newcomer", "u": "2027-09-01"})
    assert client.get(f"/surveys/{other}").status_code == 400
    with app.test_request_context():
        other = tokens.sign_fields(tokens.FAMILY, token.split(".")[:6])
    assert client.get(f"/surveys/{other}").status_code == 400
    assert _requests(session, person_id=person.id)[0].survey == "hello"


# --- Reminders --------------------------------------------------------------------------------

def test_one_reminder_then_none_and_it_stops_on_answer(app, session, factory, client):
    person, path = _hello(app, session, factory)
    assert _daily(app, session, at(2027, 6, 5, 9))["survey reminders"] == 0
    assert _daily(app, session, at(2027, 6, 9, 9))["survey reminders"] == 1
    [reminder] = rows(session, person_id=person.id, kind="survey_reminder")
    assert reminder.status == "pending" and "/surveys/" in reminder.body
    assert _daily(app, session, at(2027, 6, 16, 9))["survey reminders"] == 0  # at most one
    assert _daily(app, session, at(2027, 6, 30, 9))["survey reminders"] == 0
    for key, value in (("help_with", "people"), ("confidence", "3"), ("meet", "any"),
                       ("anything_else", "")):
        client.post(f"{path}/{key}", data={"answer": value})
    [reminder] = rows(session, person_id=person.id, kind="survey_reminder")
    assert reminder.status == "cancelled"


def test_stop_stops_the_reminders(app, session, factory):
    person, _path = _hello(app, session, factory)
    _daily(app, session, at(2027, 6, 3, 9))
    fresh = session.get(Person, person.id)
    fresh.sms_opted_out = True
    session.add(fresh)
    session.commit()
    counts = _daily(app, session, at(2027, 6, 9, 9))
    assert counts["surveys stopped"] == 1 and counts["survey reminders"] == 0
    [request] = _requests(session, person_id=person.id)
    assert (request.stop_reason, request.reminders_sent) == ("stop", 0)
    assert rows(session, person_id=person.id, kind="survey_reminder") == []


def test_a_reminder_already_queued_is_cancelled_by_stop(app, session, factory):
    person, _path = _hello(app, session, factory)
    _daily(app, session, at(2027, 6, 9, 9))
    fresh = session.get(Person, person.id)
    fresh.sms_opted_out = True
    session.add(fresh)
    session.commit()
    _daily(app, session, at(2027, 6, 9, 10))
    assert [m.status for m in rows(session, person_id=person.id,
                                   kind="survey_reminder")] == ["cancelled"]


# --- The six-month survey and the family's question ---------------------------------------------

ASKED = date(2027, 8, 4) + timedelta(days=182)


def _six_months(app, session, factory):
    anchor, newcomer = factory.volunteer(), factory.newcomer()
    family = publish_family(app, session, [(anchor, "anchor"), (newcomer, "newcomer")])
    _now(app, at(ASKED.year, ASKED.month, ASKED.day, 12))
    paths = {}
    for who, person in (("anchor", anchor), ("newcomer", newcomer)):
        [close] = rows(session, person_id=person.id, kind="close_continue")
        paths[who] = _link(close)
    return family, anchor, newcomer, paths


def test_carry_on_in_the_survey_is_the_family_answer(app, session, factory, client):
    family, anchor, newcomer, paths = _six_months(app, session, factory)
    assert client.get(paths["newcomer"]).location.endswith("/carry_on")
    page = client.get(paths["newcomer"] + "/carry_on")
    assert "Would you like your buddy family to carry on or finish?" in page.text
    assert "Question 1 of 5" in page.text
    client.post(paths["newcomer"] + "/carry_on", data={"answer": "carry_on"})
    session.expire_all()
    [given] = session.exec(select(FamilyAnswer)).all()
    assert (given.family_id, given.person_id, given.answer, given.channel) == (
        family.id, newcomer.id, "carry_on", "web")
    # The same row the existing path writes: a later answer either way changes it.
    with app.app_context():
        endings.record_answer(session, family, session.get(Person, newcomer.id), "finish",
                              "sms")
    session.commit()
    assert 'value="finish" checked' in client.get(paths["newcomer"] + "/carry_on").text
    client.post(paths["newcomer"] + "/carry_on", data={"answer": "carry_on"})
    session.expire_all()
    [given] = session.exec(select(FamilyAnswer)).all()
    assert (given.answer, given.channel) == ("carry_on", "web")
    # Volunteers are asked their own questions; newcomers theirs.
    client.post(paths["anchor"] + "/carry_on", data={"answer": "carry_on"})
    anchor_page = client.get(paths["anchor"] + "/useful")
    assert "Question 2 of 6" in anchor_page.text
    assert client.get(paths["anchor"] + "/become_buddy").status_code == 404
    assert client.get(paths["newcomer"] + "/time_given").status_code == 404


def test_a_carry_on_answered_by_text_is_shown_chosen(app, session, factory, client):
    family, _anchor, newcomer, paths = _six_months(app, session, factory)
    with app.app_context():
        endings.record_answer(session, family, session.get(Person, newcomer.id), "carry_on",
                              "sms")
    session.commit()
    assert 'value="carry_on" checked' in client.get(paths["newcomer"] + "/carry_on").text


def test_after_the_question_closes_the_survey_skips_it(app, session, factory, client):
    _family, _anchor, _newcomer, paths = _six_months(app, session, factory)
    _now(app, at(ASKED.year, ASKED.month, ASKED.day, 12) + timedelta(days=31))
    assert client.get(paths["newcomer"]).location.endswith("/useful")
    assert client.get(paths["newcomer"] + "/carry_on").status_code == 404
    assert "Question 1 of 4" in client.get(paths["newcomer"] + "/useful").text


def test_answers_are_never_shown_to_the_family(app, session, factory, client):
    _family, anchor, _newcomer, paths = _six_months(app, session, factory)
    for key, value in (("carry_on", "finish"), ("useful", "1"), ("belonging", "2"),
                       ("become_buddy", "no"), ("comments", "Zanzibar-unique remark")):
        client.post(f"{paths['newcomer']}/{key}", data={"answer": value})
    login(client, factory.user_of(anchor).email)
    family_page = client.get("/family/")
    assert family_page.status_code == 200
    assert "Zanzibar-unique remark" not in family_page.text


# --- Demo data --------------------------------------------------------------------------------

def test_demo_data_has_real_looking_answers(app, session):
    from buddy import demo

    with app.app_context():
        counts = demo.load(session=session, seed=2027, password="demo password 123")
    assert counts["survey answers"] > 0
    requests = _requests(session)
    for key, rate in (("hello", 0.60), ("eight_weeks", 0.45), ("six_months", 0.35)):
        asked = [r for r in requests if r.survey == key]
        answered = [r for r in asked if r.answered_at is not None]
        assert len(asked) > 50, key
        assert abs(len(answered) / len(asked) - rate) < 0.1, key
    # Some stopped halfway, their answers kept; nobody asked twice.
    assert any(r.started_at and not r.answered_at for r in requests)
    assert len({(r.person_id, r.survey, r.intake) for r in requests}) == len(requests)
    session.expire_all()
    answers = session.exec(select(SurveyAnswer)).all()
    scale = [a.answer for a in answers if a.kind == "scale"]
    # Skewed positive, not uniformly: every point used, 4 and 5 the most.
    assert set(scale) == set("12345")
    assert scale.count("4") + scale.count("5") > len(scale) / 2
    # The six-month carry-on answers are the family answers.
    given = {(f.family_id, f.person_id): f.answer for f in session.exec(
        select(FamilyAnswer)).all()}
    by_id = {r.id: r for r in requests}
    for a in answers:
        if a.question == "carry_on":
            request = by_id[a.request_id]
            assert given[(request.family_id, request.person_id)] == a.answer
