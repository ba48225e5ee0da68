"""Invitations from a trainee list: the lead's upload, preview and confirm, the messages
through the local fakes of SMTP and Twilio, the signed link, reminders, STOP and "No, thank
you", bounces, expiry and deletion, the command line, region scoping
(buddy/services/invitations.py)."""

from __future__ import annotations

import io
import re
from contextlib import contextmanager
from datetime import date

import pytest
import sqlalchemy as sa
from sqlmodel import select

from buddy import clock, phones
from buddy.messaging.dispatch import dispatch
from buddy.messaging.models import Message
from buddy.models import AuditEvent, Invitation, TraineeUpload
from buddy.services import invitations, trainee_lists
from tests.conftest import AUTH_TOKEN
from tests.factories import login, mobile

NOW = "2027-05-03T10:00:00+01:00"  # a Monday, three months before the August intake
REGION = "wessex"
PHONE = mobile("GB", 7)
E164 = phones.normalise_mobile(PHONE, None)
LIST = ("Name,Email,Start date,Scheme,Mobile,GMC number\r\n"
        f"Dr Priya Raman,priya@example.org,04/08/2027,Poole,{PHONE},7123456\r\n"
        "Zoë Ndiaye,zoe@example.org,4 Aug 2027,,,\r\n"
        "Bad Date,bad@example.org,31/02/2027,,,\r\n"
        "Zoë again,ZOE@example.org,04/08/2027,,,\r\n")
INBOUND = "http://localhost/messages/twilio/inbound"


@pytest.fixture
def app(make_app, channel_settings):
    return make_app(**channel_settings, BUDDY_NOW=NOW)


@contextmanager
def at(app, moment: str):
    app.config["BUDDY_NOW"] = moment
    with app.app_context():
        yield clock.now()


def lead_client(app, factory, region=REGION):
    lead = factory.staff(region=region)
    client = app.test_client()
    login(client, lead.email)
    return lead, client


def upload(client, text: str = LIST, *, role="newcomer", name="list.csv", data=None,
           **extra):
    body = {"role": role, "file": (io.BytesIO(data if data is not None else text.encode()),
                                   name), **extra}
    return client.post("/lead/invitations/", data=body, content_type="multipart/form-data")


def imported(app, factory, session, text: str = LIST):
    lead, client = lead_client(app, factory)
    response = upload(client, text)
    assert response.status_code == 302, response.text
    assert client.post(response.location).status_code == 302
    return lead, client


def invitation(session, email: str) -> Invitation:
    session.expire_all()
    return session.exec(select(Invitation).where(Invitation.email == email)).one()


def messages(session, inv: Invitation) -> list[Message]:
    session.expire_all()
    return list(session.exec(select(Message).where(Message.invitation_id == inv.id)
                             .order_by(Message.id)))


def token_of(message: Message) -> str:
    return re.search(r"/invited/([^\s]+)", message.body)[1]


def run(app, moment: str):
    with at(app, moment) as now:
        return dispatch(now=now)


def daily(app, session, moment: str) -> dict[str, int]:
    with at(app, moment) as now:
        return invitations.daily(session, now=now)


# --- The lead's page --------------------------------------------------------------------------

def test_the_preview_names_bad_rows_duplicates_and_people_in_buddy_and_imports_nothing(
        app, session, factory):
    factory.newcomer(email="priya@example.org", region=REGION, scheme="wessex:poole")
    lead, client = lead_client(app, factory)
    response = upload(client)
    assert response.status_code == 302
    page = client.get(response.location)
    assert page.status_code == 200
    text = page.text
    assert "<strong>1 person</strong> will be invited as newcomers" in text
    assert "31/02/2027" in text and "is not a real date" in text  # row 4, Start date
    assert re.search(r"<td[^>]*>4</td>\s*<td[^>]*>Start date</td>", text)
    assert "Already in Buddy (same email address)" in text and "Dr Priya Raman" in text
    assert "Same email address as row 3" in text
    assert session.exec(select(Invitation)).all() == []
    assert session.exec(select(Message).where(Message.invitation_id.is_not(None))).all() == []


def test_confirm_imports_the_good_rows_and_queues_one_invitation_each(app, session, factory):
    lead, client = lead_client(app, factory)
    preview = upload(client).location
    response = client.post(preview, follow_redirects=True)
    assert "2 people are invited" in response.text
    priya, zoe = invitation(session, "priya@example.org"), invitation(session, "zoe@example.org")
    assert (priya.full_name, priya.intake, priya.role, priya.phone, priya.gmc_number,
            priya.scheme, priya.start_date, priya.status, priya.imported_by) == (
        "Dr Priya Raman", "2027-08", "newcomer", E164, "7123456", "poole", date(2027, 8, 4),
        "invited", lead.id)
    assert priya.next_reminder_on == date(2027, 5, 10) and priya.batch_id == zoe.batch_id
    email, sms = messages(session, priya)
    assert (email.channel, email.kind, email.to_address) == ("email", "invitation",
                                                             "priya@example.org")
    assert "/invited/" in email.body and "http://localhost/welcome/wessex" in email.body
    assert email.body.startswith("Hello Priya,") and lead.email in email.body
    # The text goes to a number nobody has confirmed: no link, nothing but a first name.
    assert sms.channel == "sms" and sms.to_address == E164 and "http" not in sms.body
    assert sms.body.startswith("Hello Priya,") and "Reply STOP" in sms.body
    assert [m.channel for m in messages(session, zoe)] == ["email"]
    # The upload is used up: the same preview cannot import twice.
    assert session.exec(select(TraineeUpload)).all() == []
    assert client.post(preview).status_code == 404
    page = client.get("/lead/invitations/")
    assert re.search(r"August 2027</th>\s*<td[^>]*>2</td>\s*<td[^>]*>0</td>\s*<td[^>]*>2</td>",
                     page.text)
    event = session.exec(select(AuditEvent).where(
        AuditEvent.action == "invitations_imported")).one()
    assert event.actor_id == lead.id and event.detail["invited"] == 2


def test_the_invitations_go_once_through_smtp_and_twilio(app, session, factory, fake_smtp,
                                                         fake_twilio):
    imported(app, factory, session)
    counts = run(app, NOW)
    assert counts["sent"] == 3
    assert run(app, "2027-05-03T11:00:00+01:00") == {}  # nothing twice
    [text] = fake_twilio.accepted()
    assert text["To"] == E164 and "look in your email" in text["Body"]
    assert len(fake_smtp.messages_to("priya@example.org")) == 1
    assert len(fake_smtp.messages_to("zoe@example.org")) == 1
    assert b"Your invitation to Buddy" in fake_smtp.messages_to("zoe@example.org")[0]["content"]


def test_texts_wait_for_daytime_in_the_uk(app, session, factory, fake_twilio, fake_smtp):
    imported(app, factory, session)
    run(app, "2027-05-03T21:00:00+01:00")
    assert fake_twilio.accepted() == [] and len(fake_smtp.received) == 2
    run(app, "2027-05-04T09:30:00+01:00")
    assert len(fake_twilio.accepted()) == 1


def test_a_second_import_of_the_same_list_invites_nobody_twice(app, session, factory):
    lead, client = imported(app, factory, session)
    response = client.get(upload(client).location)
    assert "<strong>0 people</strong> will be invited" in response.text
    assert "Already invited (same email address)" in response.text
    assert len(session.exec(select(Invitation)).all()) == 2


def test_all_or_nothing_a_clash_on_the_last_row_leaves_no_invitation_and_no_message(
        app, session, factory):
    parsed = trainee_lists.read(b"Name,Email,Start date\n" + b"".join(
        f"Person {n},p{n}@example.org,04/08/2027\n".encode() for n in range(50)),
        region=REGION)
    # The last row clashes with the first on the open-invitation key, as a list imported at
    # the same moment by another lead would.
    rows = parsed.rows + [trainee_lists.Trainee(row=99, full_name="Late", email="p0@example.org",
                                                start_date=date(2027, 8, 4))]
    with app.app_context(), pytest.raises(sa.exc.IntegrityError):
        invitations.import_rows(session, trainees=rows, region=REGION, role="newcomer",
                                actor=None, source="cli")
        session.commit()
    session.rollback()
    assert session.exec(select(sa.func.count()).select_from(Invitation)).one() == 0
    assert session.exec(select(sa.func.count()).select_from(Message)).one() == 0
    assert session.exec(select(AuditEvent).where(
        AuditEvent.action == "invitations_imported")).all() == []


@pytest.mark.parametrize(("data", "says"), [
    (b"", "The file is empty"),
    (b"Name,Email\nSam,sam@example.org\n", "no Start date column"),
])
def test_a_file_that_cannot_be_read_is_an_error_on_the_page(app, session, factory, data, says):
    lead, client = lead_client(app, factory)
    response = upload(client, data=data)
    assert response.status_code == 400
    assert "There is a problem" in response.text and says in response.text
    assert 'href="#file"' in response.text and 'value="newcomer" checked' in response.text
    assert session.exec(select(TraineeUpload)).all() == []


def test_missing_file_or_role_says_what_to_do(app, session, factory):
    lead, client = lead_client(app, factory)
    response = client.post("/lead/invitations/", data={"role": "newcomer"},
                           content_type="multipart/form-data")
    assert response.status_code == 400 and "Choose the CSV file" in response.text
    response = upload(client, role="nobody")
    assert response.status_code == 400 and "Choose who is on the list" in response.text


def test_volunteers_are_invited_to_be_buddies(app, session, factory):
    lead, client = lead_client(app, factory)
    response = upload(client, "Name,Email\nSam Jones,sam@example.org\n", role="volunteer")
    client.post(response.location)
    sam = invitation(session, "sam@example.org")
    assert sam.role == "volunteer" and sam.intake == "2027-08" and sam.start_date is None
    [email] = messages(session, sam)
    assert email.title == "Would you be a buddy for doctors starting GP training in Wessex?"


def test_the_sample_file_downloads(app, session, factory):
    lead, client = lead_client(app, factory)
    with client.get("/lead/invitations/sample-trainee-list.csv") as response:
        assert response.status_code == 200 and response.mimetype == "text/csv"
        assert response.data.startswith(b"Name,Email,Start date")


# --- Region scoping ---------------------------------------------------------------------------

def test_another_regions_lead_gets_404_for_an_upload(app, session, factory):
    lead, client = lead_client(app, factory)
    preview = upload(client).location
    other, other_client = lead_client(app, factory, region="london")
    assert other_client.get(preview).status_code == 404
    assert other_client.post(preview).status_code == 404
    assert session.exec(select(Invitation)).all() == []
    # A lead's page is their own region's, whatever the request asks for.
    client.post(preview)
    assert "August 2027" not in other_client.get("/lead/invitations/?region=wessex").text
    assert other_client.get("/lead/invitations/?region=wessex").status_code == 200


def test_the_admin_imports_for_a_chosen_region(app, session, factory):
    admin = factory.staff(role="admin", region=None)
    client = app.test_client()
    login(client, admin.email)
    response = upload(client, region="london")
    client.post(response.location)
    assert {i.region for i in session.exec(select(Invitation))} == {"london"}


def test_members_and_strangers_cannot_reach_the_lead_pages(app, session, factory):
    member = factory.newcomer()
    client = app.test_client()
    assert client.get("/lead/invitations/").status_code in (302, 401)
    login(client, factory.user_of(member).email)
    assert client.get("/lead/invitations/").status_code in (403, 404)


# --- The link ---------------------------------------------------------------------------------

def test_the_link_opens_a_filled_in_sign_up_and_reuse_continues_it(app, session, factory):
    imported(app, factory, session)
    priya = invitation(session, "priya@example.org")
    token = token_of(messages(session, priya)[0])
    client = app.test_client()
    page = client.get(f"/invited/{token}")
    assert page.status_code == 200 and "Dr Priya Raman, you are invited to Buddy" in page.text
    assert "http://localhost/welcome/wessex" in page.text
    assert session.exec(select(Message).where(Message.kind == "signup_link")).all() == []
    first = client.post(f"/invited/{token}/start")
    assert first.status_code == 302
    # The same link on another device continues the same sign-up.
    second = app.test_client().post(f"/invited/{token}/start")
    assert second.location == first.location
    from buddy.models import SignupDraft

    [draft] = session.exec(select(SignupDraft)).all()
    assert draft.invitation_id == priya.id and draft.role == "newcomer"
    assert draft.answers["full_name"] == "Dr Priya Raman"
    # The GMC number is not asked of newcomers: joined() keeps it on the person.
    assert draft.answers["scheme"] == "wessex:poole"
    assert (draft.answers["arrival_day"], draft.answers["arrival_month"]) == ("4", "8")
    assert invitation(session, "priya@example.org").status == "invited"  # no consent yet


def test_a_joined_invitation_stops_and_its_link_says_so(app, session, factory, fake_smtp):
    imported(app, factory, session)
    priya = invitation(session, "priya@example.org")
    token = token_of(messages(session, priya)[0])
    person = factory.newcomer(email="priya@example.org", region=REGION, scheme="wessex:poole")
    person.gmc_number = None
    with app.app_context():
        invitations.joined(session, invitation_id=priya.id, person=person)
        session.commit()
    priya = invitation(session, "priya@example.org")
    assert (priya.status, priya.person_id, person.gmc_number) == ("joined", person.id,
                                                                  "7123456")
    assert {m.status for m in messages(session, priya)} == {"cancelled"}
    client = app.test_client()
    assert "You have joined Buddy" in client.get(f"/invited/{token}").text
    response = client.post(f"/invited/{token}/start", follow_redirects=True)
    assert "You have already joined Buddy" in response.text
    assert daily(app, session, "2027-05-20T10:00:00+01:00")["invitations_reminded"] == 1  # Zoë


@pytest.mark.parametrize("tamper", [
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
    lambda t: "x" + t,
    lambda t: "not-a-token",
])
def test_a_tampered_link_is_refused(app, session, factory, tamper):
    imported(app, factory, session)
    token = token_of(messages(session, invitation(session, "zoe@example.org"))[0])
    client = app.test_client()
    for response in (client.get(f"/invited/{tamper(token)}"),
                     client.post(f"/invited/{tamper(token)}/start"),
                     client.post(f"/invited/{tamper(token)}/no-thank-you")):
        assert response.status_code == 404 and "This link is not valid" in response.text
    assert invitation(session, "zoe@example.org").status == "invited"


def test_a_link_for_another_purpose_is_refused(app, session, factory):
    imported(app, factory, session)
    zoe = invitation(session, "zoe@example.org")
    from buddy.messaging import tokens

    with app.app_context():
        forged = tokens.sign(tokens.CONFIRM, {"i": zoe.id, "e": zoe.email})
    assert app.test_client().get(f"/invited/{forged}").status_code == 404


def test_an_expired_link_is_refused(app, session, factory):
    imported(app, factory, session)
    token = token_of(messages(session, invitation(session, "zoe@example.org"))[0])
    app.config["BUDDY_NOW"] = "2027-07-03T10:00:00+01:00"  # 61 days later
    response = app.test_client().get(f"/invited/{token}")
    assert response.status_code == 404 and "This link has expired" in response.text


def test_a_deleted_invitations_link_is_refused(app, session, factory):
    imported(app, factory, session)
    zoe = invitation(session, "zoe@example.org")
    token = token_of(messages(session, zoe)[0])
    session.delete(zoe)
    session.commit()
    response = app.test_client().get(f"/invited/{token}")
    assert response.status_code == 404 and "no longer open" in response.text


# --- Reminders, STOP, "No, thank you", bounces --------------------------------------------------

def test_at_most_two_reminders_once_each_even_when_run_twice(app, session, factory):
    imported(app, factory, session)
    zoe = invitation(session, "zoe@example.org")
    assert daily(app, session, "2027-05-09T10:00:00+01:00")["invitations_reminded"] == 0
    assert daily(app, session, "2027-05-10T10:00:00+01:00")["invitations_reminded"] == 2
    assert daily(app, session, "2027-05-10T10:00:00+01:00")["invitations_reminded"] == 0
    assert daily(app, session, "2027-05-23T10:00:00+01:00")["invitations_reminded"] == 0
    assert daily(app, session, "2027-05-24T10:00:00+01:00")["invitations_reminded"] == 2
    for day in ("2027-06-01", "2027-06-30", "2027-07-20"):
        assert daily(app, session, f"{day}T10:00:00+01:00")["invitations_reminded"] == 0
    reminders = [m for m in messages(session, zoe) if m.kind == "invitation_reminder"]
    assert [m.subject for m in reminders] == [f"invitation:{zoe.id}:1", f"invitation:{zoe.id}:2"]
    assert "/invited/" in reminders[0].body and token_of(reminders[0]) != token_of(
        messages(session, zoe)[0])
    assert invitation(session, "zoe@example.org").reminders_sent == 2


def test_after_days_without_a_run_one_reminder_goes_not_two(app, session, factory):
    imported(app, factory, session)
    assert daily(app, session, "2027-06-01T10:00:00+01:00")["invitations_reminded"] == 2
    zoe = invitation(session, "zoe@example.org")
    assert zoe.reminders_sent == 1 and zoe.next_reminder_on == date(2027, 6, 15)


def test_no_thank_you_ends_the_reminders(app, session, factory):
    imported(app, factory, session)
    zoe = invitation(session, "zoe@example.org")
    token = token_of(messages(session, zoe)[0])
    client = app.test_client()
    page = client.post(f"/invited/{token}/no-thank-you", follow_redirects=True)
    assert "You told us you are not interested" in page.text
    client.post(f"/invited/{token}/no-thank-you")  # twice: still one answer
    zoe = invitation(session, "zoe@example.org")
    assert zoe.status == "declined" and zoe.next_reminder_on is None
    assert daily(app, session, "2027-05-10T10:00:00+01:00")["invitations_reminded"] == 1  # Priya
    assert [m.kind for m in messages(session, zoe)] == ["invitation"]
    assert len(session.exec(select(AuditEvent).where(
        AuditEvent.action == "invitation_declined")).all()) == 1


def test_stop_from_the_number_ends_the_invitation(app, session, factory, fake_twilio):
    from tests.messaging.conftest import sign

    imported(app, factory, session)
    form = fake_twilio.inbound_webhook(E164, "STOP")
    response = app.test_client().post(INBOUND, data=form, headers=sign(INBOUND, form))
    assert response.status_code == 200
    priya = invitation(session, "priya@example.org")
    assert priya.status == "declined"
    # The invitation already queued is not sent now.
    assert {m.status for m in messages(session, priya)} == {"cancelled"}
    assert AUTH_TOKEN


def test_twilio_error_21610_ends_the_invitation_like_stop(app, session, factory, fake_twilio):
    imported(app, factory, session)
    fake_twilio.mode = "opted_out"
    run(app, NOW)
    assert invitation(session, "priya@example.org").status == "declined"
    assert invitation(session, "zoe@example.org").status == "invited"


def test_a_hard_bounce_marks_the_invitation_bounced(app, session, factory, fake_smtp):
    imported(app, factory, session)
    fake_smtp.refuse["zoe@example.org"] = "550 5.1.1 No such user"
    run(app, NOW)
    zoe = invitation(session, "zoe@example.org")
    assert zoe.status == "bounced" and zoe.next_reminder_on is None
    assert daily(app, session, "2027-05-10T10:00:00+01:00")["invitations_reminded"] == 1
    with at(app, NOW):
        assert invitations.counts(session, region=REGION)[0].bounced == 1


# --- Expiry and deletion ------------------------------------------------------------------------

def test_unanswered_invitations_expire_at_the_start_and_go_weeks_after_the_intake(
        app, session, factory):
    imported(app, factory, session)
    priya = invitation(session, "priya@example.org")
    person = factory.newcomer(email="priya@example.org", region=REGION, scheme="wessex:poole")
    with app.app_context():
        invitations.joined(session, invitation_id=priya.id, person=person)
        session.commit()
    counts = daily(app, session, "2027-08-04T10:00:00+01:00")
    assert counts["invitations_expired"] == 1
    assert invitation(session, "zoe@example.org").status == "expired"
    # keep_weeks_after_start = 6: the intake started on 1 August 2027.
    assert daily(app, session, "2027-09-11T10:00:00+01:00")["invitations_deleted"] == 0
    assert daily(app, session, "2027-09-12T10:00:00+01:00")["invitations_deleted"] == 1
    session.expire_all()
    assert [i.email for i in session.exec(select(Invitation))] == ["priya@example.org"]
    assert session.exec(select(Message).where(Message.to_address == "zoe@example.org")).all() \
        == []
    assert daily(app, session, "2027-09-12T10:00:00+01:00")["invitations_deleted"] == 0


def test_an_upload_left_unconfirmed_is_deleted_after_a_day(app, session, factory):
    lead, client = lead_client(app, factory)
    upload(client)
    assert daily(app, session, "2027-05-03T22:00:00+01:00")["trainee_uploads_deleted"] == 0
    assert daily(app, session, "2027-05-04T10:30:00+01:00")["trainee_uploads_deleted"] == 1


def test_the_daily_step_is_wired_into_buddy_daily():
    from buddy.services import daily as daily_jobs

    assert invitations.daily in [step for _name, step in daily_jobs.STEPS]


# --- The command line ---------------------------------------------------------------------------

def _cli(app, *args):
    return app.test_cli_runner().invoke(args=["import-trainees", *args])


def test_cli_exits_non_zero_naming_the_rows_and_imports_nothing(app, session, tmp_path):
    path = tmp_path / "list.csv"
    path.write_bytes(LIST.encode("cp1252"))
    result = _cli(app, REGION, str(path))
    assert result.exit_code == 1
    assert "Row 4, column Start date: \"31/02/2027\" is not a real date" in result.output
    assert "nothing was imported" in result.output and "--skip-bad" in result.output
    assert "Row 5, Zoë again: skipped, same email address as row 3" in result.output
    assert "read as Windows-1252" in result.output
    assert session.exec(select(Invitation)).all() == []


def test_cli_dry_run_and_skip_bad(app, session, tmp_path):
    path = tmp_path / "list.csv"
    path.write_text(LIST, encoding="utf-8")
    result = _cli(app, REGION, str(path), "--dry-run", "--skip-bad")
    assert result.exit_code == 0, result.output
    assert "Dry run: 2 would be invited, 1 skipped, 1 rows with problems left out." in \
        result.output
    assert session.exec(select(Invitation)).all() == []
    result = _cli(app, REGION, str(path), "--skip-bad")
    assert result.exit_code == 0 and "Invited 2 newcomers, skipped 1" in result.output
    assert len(session.exec(select(Invitation)).all()) == 2
    event = session.exec(select(AuditEvent).where(
        AuditEvent.action == "invitations_imported")).one()
    assert event.actor_id is None and "buddy import-trainees" in event.detail["text"]
    result = _cli(app, REGION, str(path), "--skip-bad")
    assert "Invited 0 newcomers, skipped 3" in result.output


def test_cli_as_volunteers_and_bad_arguments(app, session, tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("Name;Email\nSam Jones;sam@example.org\n", encoding="utf-8-sig")
    result = _cli(app, REGION, str(path), "--as", "volunteers")
    assert result.exit_code == 0 and "Invited 1 volunteers" in result.output
    assert invitation(session, "sam@example.org").role == "volunteer"
    assert _cli(app, "atlantis", str(path)).exit_code == 2
    assert _cli(app, REGION, str(tmp_path / "missing.csv")).exit_code == 2
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    result = _cli(app, REGION, str(empty))
    assert result.exit_code == 1 and "The file is empty" in result.output
    result = _cli(app, REGION, str(path))  # newcomers need a start date column
    assert result.exit_code == 1 and "no Start date column" in result.output
