"""'Download your data' in words beside the machine-readable file: no codes or ids in the
words, every code of the JSON file in the key."""

from __future__ import annotations

import html
import json
import re

import pytest

from buddy.messaging.models import CheckIn, Flag, InboundMessage
from buddy.models import (
    FamilyAnswer,
    SurveyAnswer,
    SurveyRequest,
    VolunteerConfirmation,
    utcnow,
)
from buddy.statuses import PersonStatus
from tests.factories import login
from tests.messaging.conftest import publish_family

SENSITIVE = {"sensitive_consent": "y", "country": "NG", "languages": ["yo", "ig"],
             "gender": "female"}


@pytest.fixture
def everything(app, session, factory):
    """A newcomer and an approved volunteer with every field filled, in a family, with a
    check-in answered, a text received and a flag."""
    lead = factory.staff("lead", region="wessex", email="lead.wessex@example.org",
                         full_name="Helen Price")
    kw = {"region": "wessex", "scheme": "wessex:poole"}
    volunteer = factory.volunteer(status=PersonStatus.PENDING, email="vol@example.org",
                                  share_email="y", share_phone="y", phone_country="GB",
                                  phone="07400 123456", channel="sms",
                                  interests=["education", "paediatrics"], **SENSITIVE, **kw)
    client = app.test_client()
    login(client, "lead.wessex@example.org")
    client.post(f"/lead/volunteers/{volunteer.id}/decision", data={"decision": "approve"})
    newcomer = factory.newcomer(email="me@example.org", wants_ambassador="y",
                                same_gender_anchor="y", support_needs=["housing", "visa"],
                                share_email="y", share_phone="y", **SENSITIVE, **kw)
    family = publish_family(app, session, [(volunteer, "anchor"), (newcomer, "newcomer")],
                            region="wessex")
    now = utcnow()
    check_in = CheckIn(person_id=newcomer.id, region="wessex", day=7, channel="sms",
                       sent_at=now, answer="call", answered_at=now, answer_channel="sms")
    session.add(check_in)
    session.flush()
    session.add_all([
        InboundMessage(message_sid="SM" + "1" * 32, person_id=newcomer.id, channel="sms",
                       from_address=newcomer.phone, body="2", meaning="call",
                       check_in_id=check_in.id),
        Flag(person_id=newcomer.id, region="wessex", reason="asked_for_call", text="2",
             check_in_id=check_in.id, note="Rang on Tuesday"),
        FamilyAnswer(family_id=family.id, person_id=newcomer.id, answer="carry_on",
                     channel="web"),
        VolunteerConfirmation(person_id=volunteer.id, intake="2027-08", available=True,
                              capacity=2, channel="email"),
    ])
    hello = SurveyRequest(person_id=newcomer.id, survey="hello", edition="2026-27",
                          intake="2027-08", region="wessex", audience="newcomer", sent_at=now,
                          answered_at=now)
    session.add(hello)
    session.flush()
    session.add_all([
        SurveyAnswer(request_id=hello.id, question="confidence", kind="scale",
                     wording="How confident do you feel about starting work in the NHS?",
                     answer="2", answer_words="2 - a little confident"),
        SurveyAnswer(request_id=hello.id, question="anything_else", kind="text",
                     wording="Is there anything else?", answer="Help with the portfolio",
                     answer_words="Help with the portfolio")])
    session.commit()
    return {"newcomer": newcomer, "volunteer": volunteer, "lead": lead}


def words_of(page: str) -> str:
    """The readable part of the page (before the key), as text."""
    part = page.split('<div id="in-words">', 1)[1].split('<div id="key">', 1)[0]
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", part)))


def codes_of(document: dict) -> set[str]:
    """Every code the JSON file holds about the person: what the words must not show.

    Codes that are also plain English words ("buddy", "call", "housing") are left out:
    the words use them as words.
    """
    profile = document["profile"]
    codes = {*profile.keys(), *document["account"].keys(), profile["scheme"],
             *profile["interests"], *profile.get("support_needs", [])}
    codes |= {e["action"] for e in document["activity"]}
    codes |= {m["kind"] for m in document["messages"]}
    codes |= {t["meaning"] for t in document["texts_received"]}
    codes |= {f["reason"] for f in document["flags"]}
    coded = {c for c in codes if isinstance(c, str) and re.search(r"[_:/-]", c)}
    # Short codes and slugs, whatever they look like.
    return coded | {c for c in (profile["country"], profile["phone_country"], profile["region"],
                                profile["scheme"],
                                profile["timezone"], *profile["languages"]) if c}


@pytest.mark.parametrize("who", ["me@example.org", "vol@example.org"])
def test_the_words_hold_no_codes_and_the_key_explains_them(app, everything, who):
    client = app.test_client()
    login(client, who)
    page = client.get("/account/data").get_data(as_text=True)
    document = json.loads(client.get("/account/export").get_data(as_text=True))
    words = words_of(page)
    # Codes are whole words of their own (a code such as "ig" inside "Nigeria" is fine).
    found = sorted(c for c in codes_of(document)
                   if re.search(rf"(?<![\w@.]){re.escape(c)}(?![\w@])", words))
    assert found == []
    # Records are named by what they are, never by a number of Buddy's own.
    assert not re.search(r"\b(id|ids|user|person|account number)\b", words, re.IGNORECASE)
    assert not re.search(r"#\s*\d", words)
    key = page.split('<div id="key">', 1)[1]
    for field in ("decided_by", "approved_region", "same_gender_anchor", "intake"):
        assert field in key


def test_the_newcomer_reads_their_data_in_words(app, everything):
    client = app.test_client()
    login(client, "me@example.org")
    account = client.get("/account/").get_data(as_text=True)
    assert 'href="/account/data"' in account and 'href="/account/export"' in account
    words = words_of(client.get("/account/data").get_data(as_text=True))
    for expected in ("Country where you qualified Nigeria",
                     "Languages you speak besides English Yoruba, Igbo",
                     "Region Wessex", "Training scheme Poole",
                     "What you would like help with Finding somewhere to live, Visa and",
                     "Your time zone India (India time, UTC+5:30)",
                     "Intake August 2027", "You would prefer an anchor of your gender Yes",
                     "Your place: New to GP training",
                     "Your answer to 'carry on or finish?': Carry on (on the buddy website",
                     "Your answer: You asked for a call",
                     "We understood: You would like a call (answer 2 to a check-in)",
                     "Your DA lead's note: Rang on Tuesday",
                     "You joined Buddy as a newcomer",
                     "Hello: starting GP training (August 2027 intake), asked",
                     "How confident do you feel about starting work in the NHS? \u2013 "
                     "2 - a little confident.",
                     "Is there anything else? \u2013 Help with the portfolio."):
        assert expected in words, expected


def test_the_volunteer_sees_who_approved_them(app, everything):
    client = app.test_client()
    login(client, "vol@example.org")
    words = words_of(client.get("/account/data").get_data(as_text=True))
    assert re.search(r"Approved by the DA lead for Wessex \(Helen Price\), \d+ \w+ \d{4}", words)
    assert "For the August 2027 intake: yes, for 2 newcomers" in words
    assert "Where you work Primary care (general practice)" in words


def test_the_readable_file_downloads_and_the_json_keeps_its_shape(app, everything):
    client = app.test_client()
    login(client, "me@example.org")
    download = client.get("/account/data?download=1")
    assert download.headers["Content-Disposition"] == 'attachment; filename="my-buddy-data.html"'
    assert download.headers["Cache-Control"] == "no-store"
    document = json.loads(client.get("/account/export").get_data(as_text=True))
    assert set(document) == {"exported_at", "account", "profile", "messages", "activity",
                             "check_ins", "texts_received", "flags", "surveys"}
    assert [(s["survey"], s["intake"], [(a["question"], a["answer"]) for a in s["answers"]])
            for s in document["surveys"]] == [
        ("hello", "2027-08", [("confidence", "2"), ("anything_else", "Help with the portfolio")])]
    assert document["profile"]["country"] == "NG"
