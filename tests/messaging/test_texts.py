"""Every message a person reads: greeted by their name, true about their family, every blank
filled, short enough for a text, and the same words in its WhatsApp template.

The checks loop over config/messages.toml, so a new text is covered the day it is added.
"""

from __future__ import annotations

import re
import tomllib
from datetime import date
from string import Formatter
from types import SimpleNamespace

import pytest
from sqlmodel import select

from buddy.messaging import cadence, texts
from buddy.messaging.channels import LANGUAGE, whatsapp_content
from buddy.messaging.models import Message
from buddy.models import User
from buddy.services import accounts, confirmations, surveys, training_year
from buddy.settings import CONFIG_DIR
from buddy.statuses import PersonStatus
from tests.messaging.conftest import publish_family, publish_pair, rows

TEXTS = cadence.texts()
with open(CONFIG_DIR / "whatsapp.toml", "rb") as _fh:
    TEMPLATES = tomllib.load(_fh)


@pytest.mark.parametrize(("full_name", "greeted"), [
    ("Dr Priya Raman", "Priya"),
    ("Dr. Priya Raman", "Priya"),
    ("DR PRIYA RAMAN", "PRIYA"),
    ("dr.Priya Raman", "Priya"),
    ("Prof.Dr.Priya Raman", "Priya"),
    ("Prof. Sir John Smith", "John"),
    ("Professor Adaeze Okafor", "Adaeze"),
    ("  Miss   Chloé  Dupont ", "Chloé"),
    ("Mx Sam Lee", "Sam"),
    ("Mrs. Doubtfire", "Doubtfire"),
    ("Dame Ngozi", "Ngozi"),
    ("Adebayo", "Adebayo"),
    ("Dr Adebayo", "Adebayo"),
    ("Mary-Jane O'Neil", "Mary-Jane"),
    ("Zoë Ångström", "Zoë"),
    ("Драган Петровић", "Драган"),
    ("Drew Barry", "Drew"),  # a name that starts like a title is a name
    ("Missy Elliott", "Missy"),
    ("Dr J. Smith", "J. Smith"),  # an initial alone greets nobody
    ("Priya, Raman", "Priya"),
    ("(Dr) Priya Raman", "Priya"),
    ("", "there"),
    ("   ", "there"),
    (None, "there"),
    ("Dr", "there"),
    ("Dr.", "there"),
])
def test_greeting_name(full_name, greeted):
    assert texts.greeting_name(full_name) == greeted


# The people every text is rendered for: a name with a title, a name of one word, both, none.
NAMES = ["Dr Priya Raman", "Adebayo", "Dr Adebayo", ""]


def _person(pid, full_name, role, stage, setting=None, arrival=None):
    return SimpleNamespace(id=pid, full_name=full_name, role=role, stage=stage,
                           setting=setting, arrival_date=arrival)


HOSPITAL_ANCHOR = _person(101, "Dr Ngozi Nwosu", "buddy", "qualified", "secondary")
GP_BUDDY = _person(102, "Lucy Smith", "buddy", "qualified", "primary")
TRAINEE = _person(103, "Tom Okafor", "buddy", "ST2", "secondary")
FELLOW = _person(104, "Mr Ahmed Khan", "newcomer", "ST1", arrival=date(2027, 9, 1))


def _family(recipient):
    return [(HOSPITAL_ANCHOR, "anchor"), (GP_BUDDY, "buddy"), (TRAINEE, "buddy"),
            (FELLOW, "newcomer"), (recipient, recipient.role == "newcomer" and "newcomer"
                                   or "buddy")]


def sample_values(recipient) -> dict:
    """A value for every placeholder config/messages.toml uses, made the way senders make
    them. A text with a new placeholder fails below until it has a sample here."""
    family = _family(recipient)
    return {
        "others": texts.family_others(family, recipient),
        "members": texts.family_lines(family, recipient),
        "other": HOSPITAL_ANCHOR.full_name, "other_is": texts.doctor(HOSPITAL_ANCHOR),
        "arrival": texts.long_date(date(2027, 8, 4)), "starts": texts.starts(None),
        "link": "https://buddy.example.nhs.uk/account/", "when": "a week ago",
        "newcomer": FELLOW.full_name, "days": 7, "code": "123456", "minutes": 15,
        "until": "2 August 2028", "intake": "August 2027", "region": "Thames Valley",
        "role": "a buddy", "contact": "Dr Sarah Jones, the DA lead, at sarah.jones@example.org",
        # A member's account and region (buddy/services/email_change.py, people.py).
        "hours": 24, "password_link": "https://buddy.example.nhs.uk/account/password",
        "help": "https://buddy.example.nhs.uk/help", "person": "Dr Priya Raman",
        "family": "wessex-004", "from_region": "Wessex", "to_region": "London",
        "family_now": "The family has 2 newcomers and 2 buddies now.",
        "next_step": "Start a match run to find them a family.",
        # An invitation from a trainee list (buddy/services/invitations.py).
        "guide": "https://buddy.example.nhs.uk/welcome/thames-valley",
        # Surveys (buddy/services/surveys.py).
        "time": "2 minutes", "survey": "Six months of your buddy family",
    }


def _placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in Formatter().parse(text) if field}


@pytest.mark.parametrize("channel", ["email", "sms"])
@pytest.mark.parametrize("full_name", NAMES)
@pytest.mark.parametrize("name", sorted(TEXTS))
def test_every_text_greets_by_name_and_fills_every_blank(name, full_name, channel):
    recipient = _person(1, full_name, "newcomer", "ST1", arrival=date(2027, 8, 4))
    values = sample_values(recipient)
    missing = (_placeholders(TEXTS[name]["text"]) | _placeholders(TEXTS[name].get("email", ""))
               | _placeholders(TEXTS[name]["title"])) - set(values) - {"name"}
    assert not missing, f"add a sample value for {missing} to sample_values()"
    title, body = cadence.compose(name, person=recipient, channel=channel, values=values)
    for words in (title, body):
        assert "{" not in words and "}" not in words, words
        assert not re.search(r"Hello\s*,", words), words
        greeted = re.findall(r"\bHello\s+([^\s,]+)", words)
        assert not [g for g in greeted if g.rstrip(".").lower() in texts.TITLES], words
        assert "GP trainees" not in words, words
    if "{name}" in (TEXTS[name].get("email", "") if channel == "email" else TEXTS[name]["text"]):
        assert f"Hello {texts.greeting_name(full_name)}," in body


def test_name_is_only_ever_a_greeting():
    """{name} is the first word after titles, which reads right only after "Hello"."""
    for name, text in TEXTS.items():
        for variant in ("text", "email", "title"):
            words = text.get(variant, "")
            assert words.count("{name}") == words.count("Hello {name},"), (name, variant)


LONG = "Christabel-Alexandrina Montgomery-Featherstonehaugh"
GSM = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRS"
          "TUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
# A full family (an anchor, two more buddies, four newcomers) with names of usual length.
FULL_FAMILY = [
    (_person(201, "Oluwaseun Adeyemi", "buddy", "qualified", "primary"), "anchor"),
    (_person(202, "Margaret Thompson", "buddy", "ST3", "primary"), "buddy"),
    (_person(203, "Rajesh Krishnan", "buddy", "qualified", "secondary"), "buddy"),
    (_person(204, "Fatima Al-Sayed", "newcomer", "ST1"), "newcomer"),
    (_person(205, "Chukwuemeka Obi", "newcomer", "ST1"), "newcomer"),
    (_person(206, "Maria Gonzalez", "newcomer", "ST1"), "newcomer"),
    (_person(207, "Ayesha Siddiqui", "newcomer", "ST1"), "newcomer"),
]


@pytest.fixture
def signed_links(app) -> dict[str, str]:
    """The signed links texts carry, made by the senders' own functions with six-digit ids
    on an address as long as a real one: the texts whose name starts with a key carry it."""
    app.config["BUDDY_PUBLIC_URL"] = "https://buddy.example.nhs.uk"
    someone = SimpleNamespace(id=999_999)
    with app.app_context():
        survey = surveys.link(surveys.Ask(
            person_id=999_999, survey="six_months", intake="2027-08", family_id=999_999,
            audience="volunteer", until=date(2028, 12, 31)))
        return {"survey_": survey, "close_continue": survey,
                "availability_": confirmations.answer_link(someone, "2027-08"),
                "volunteer_invite": training_year.invite_link(someone)}


@pytest.mark.parametrize("name", sorted(set(TEXTS) - set(TEMPLATES["email_only"])))
def test_every_text_fits_two_sms_segments_in_plain_gsm(name, signed_links):
    recipient = _person(1, "Christabel Jones", "newcomer", "ST1")
    link = next((url for prefix, url in signed_links.items() if name.startswith(prefix)),
                sample_values(recipient)["link"])
    values = {**sample_values(recipient), "link": link, "other": LONG, "newcomer": LONG,
              "until": "30 September 2028", "intake": "September 2027",
              "arrival": "30 September 2027", "when": "13 weeks in"}
    # The anchor, a buddy and a newcomer, each for the texts they get.
    readers = [p for p, place in FULL_FAMILY[:4]
               if not name.endswith("_volunteer") or place != "newcomer"
               if not name.endswith("_newcomer") or place == "newcomer"]
    for recipient in readers:
        values["others"] = texts.family_others(FULL_FAMILY, recipient)
        _title, filled = cadence.compose(name, person=recipient, channel="sms", values=values)
        assert set(filled) <= GSM, set(filled) - GSM
        assert len(filled) <= 306, (len(filled), filled)


@pytest.mark.parametrize("name", sorted(set(TEXTS) - set(TEMPLATES["email_only"])
                                        - set(TEMPLATES["no_whatsapp"])))
def test_every_text_reads_back_into_its_whatsapp_template(name):
    """The dispatcher finds the template's variables in a rendered text (WhatsApp outside a
    24-hour session), whatever the names in it."""
    recipient = _person(1, "Dr Priya Raman", "newcomer", "ST1", arrival=date(2027, 8, 4))
    values = sample_values(recipient)
    _title, body = cadence.compose(name, person=recipient, channel="whatsapp", values=values)
    content = whatsapp_content(kind=name, body=body, texts=TEXTS, templates=TEMPLATES)
    entry = TEMPLATES["templates"][name][LANGUAGE]
    expected = {"name": "Priya", **{k: " ".join(str(v).split()) for k, v in values.items()}}
    assert content.variables == {str(n): expected[v]
                                 for n, v in enumerate(entry["variables"], 1)}


def _bodies(session, person_id) -> dict[str, str]:
    return {m.kind: m.body for m in rows(session, person_id=person_id)}


def test_a_family_with_a_hospital_doctor_anchor_is_described_as_it_is(app, session, factory):
    anchor = factory.volunteer(full_name="Dr Ngozi Nwosu", stage="qualified",
                               setting="secondary", channel="email")
    gp = factory.volunteer(full_name="Lucy Smith", stage="qualified", setting="primary")
    trainee = factory.volunteer(full_name="Tom Okafor", stage="ST2", setting="primary")
    priya = factory.newcomer(full_name="Dr Priya Raman", channel="email")
    adebayo = factory.newcomer(full_name="Adebayo", channel="sms")
    publish_family(app, session, [(anchor, "anchor"), (gp, "buddy"), (trainee, "buddy"),
                                  (priya, "newcomer"), (adebayo, "newcomer")])

    email = _bodies(session, priya.id)["family_intro"]
    assert email.startswith("Hello Priya,\n")
    assert "- Dr Ngozi Nwosu: a hospital doctor, and the family's main contact" in email
    assert "- Lucy Smith: a GP\n" in email and "- Tom Okafor: a GP trainee (ST2)" in email
    assert "- Adebayo: new to GP training, like you" in email

    text = _bodies(session, adebayo.id)["family_intro"]
    assert text.startswith("Hello Adebayo, welcome to your buddy family: ")
    assert "Dr Ngozi Nwosu (hospital doctor, main contact); Lucy Smith (GP); " \
           "Tom Okafor (GP trainee, ST2); also new, like you: Dr Priya Raman." in text

    to_anchor = _bodies(session, anchor.id)["family_intro"]
    assert to_anchor.startswith("Hello Ngozi,\n")
    assert "- Dr Priya Raman: new to GP training, starts on 4 August 2027" in to_anchor
    for person in (anchor, gp, trainee, priya, adebayo):
        for body in _bodies(session, person.id).values():
            assert "Hello Dr" not in body and "GP trainees" not in body


def test_every_sender_greets_by_the_first_name(app, session, factory):
    """Sign-up, ambassador and family messages, decisions on volunteers and account emails."""
    priya = factory.newcomer(full_name="Dr Priya Raman", channel="email", wants_ambassador="y")
    ambassador = factory.volunteer(role="ambassador", full_name="Prof. Adaeze Okafor",
                                   stage="ST3", channel="email")
    anchor = factory.volunteer(full_name="Dr Adebayo", stage="qualified", setting="secondary")
    pending = factory.volunteer(full_name="Mr. Sam Lee", status=PersonStatus.PENDING)
    lead = factory.staff("lead", region="london", full_name="Dr Sarah Jones")
    publish_pair(app, session, ambassador, priya)
    session.commit()
    with app.app_context():
        from buddy.services import volunteers

        volunteers.decide(session=session, lead=lead, person_id=pending.id, approve=False)
        accounts.request_password_reset(session=session, email=factory.user_of(priya).email)
    publish_family(app, session, [(anchor, "anchor"), (priya, "newcomer")])

    greeted = {"Dr Priya Raman": "Priya", "Prof. Adaeze Okafor": "Adaeze",
               "Dr Adebayo": "Adebayo", "Mr. Sam Lee": "Sam"}
    kinds = set()
    for message in session.exec(select(Message, User).join(User)).all():
        row, user = message
        if row.kind == "phone_code":
            continue
        kinds.add(row.kind)
        assert f"Hello {greeted[user.full_name]}," in row.body, (row.kind, row.body)
    assert {"email_confirm", "what_to_expect", "ambassador_intro", "family_intro", "checkin",
            "close_continue", "volunteer_declined", "password_reset"} <= kinds


@pytest.mark.parametrize(("stage", "setting", "long", "short"), [
    ("qualified", "secondary", "a hospital doctor", "hospital doctor"),
    ("qualified", "primary", "a GP", "GP"),
    ("qualified", None, "a GP", "GP"),
    ("ST2", "primary", "a GP trainee (ST2)", "GP trainee, ST2"),
    ("ST3", "secondary", "a GP trainee (ST3), now working in a hospital",
     "GP trainee, ST3, in hospital"),
])
def test_each_volunteer_is_described_as_what_they_are(stage, setting, long, short):
    volunteer = _person(9, "Dr Ngozi Nwosu", "buddy", stage, setting)
    newcomer = _person(1, "Adebayo", "newcomer", "ST1")
    assert texts.doctor(volunteer) == long
    assert texts.family_others([(volunteer, "buddy"), (newcomer, "newcomer")], newcomer) == (
        f"Dr Ngozi Nwosu ({short})")
    assert texts.family_lines([(volunteer, "buddy"), (newcomer, "newcomer")], newcomer) == (
        f"- Dr Ngozi Nwosu: {long}")
