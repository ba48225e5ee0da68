"""Every route, as every role: who may see what (RELIABILITY.md items 13 and 14).

A new route must be added to ACCESS, so that nobody adds a page without deciding who may
reach it.
"""

from __future__ import annotations

import pytest

from buddy.messaging.models import Flag
from buddy.models import Family, VolunteerConfirmation
from buddy.services import guides, invitations, outcomes, runs
from buddy.statuses import FamilyStatus, PersonStatus
from tests.factories import login

REGION = "wessex"
# public: anyone | signed_in: any account | member: newcomers and volunteers |
# staff: DA leads (own region) and admins | admin | token: a signed link | twilio: webhook
ACCESS = {
    "main.index": "public", "main.privacy": "public", "main.healthz": "public",
    "main.help_page": "public", "main.accessibility": "public", "main.ask_lead": "member",
    "admin.lead": "admin", "admin.remove_lead": "admin",
    "main.assets": "public", "static": "public", "signup.choose": "public",
    "signup.form": "public", "signup.time_zone": "public", "signup.done": "member",
    "signup.question": "public", "signup.check": "public", "signup.resume": "token",
    "auth.login": "public",
    "auth.logout": "public", "auth.forgot_password": "public", "auth.reset_password": "token",
    "account.index": "member", "account.edit": "member", "account.status": "member",
    "account.withdraw_consent": "member", "account.password": "signed_in",
    "account.export": "signed_in", "account.delete": "signed_in", "family.show": "member",
    "dashboard.index": "staff", "dashboard.flag_queue": "staff", "dashboard.flag": "staff",
    "dashboard.update_flag": "staff", "dashboard.export": "staff",
    "lead.volunteer_list": "staff", "lead.volunteer": "staff", "lead.decide": "staff",
    "runs.index": "staff", "runs.start": "staff", "runs.show": "staff", "runs.move": "staff",
    "runs.remove": "staff", "runs.lock": "staff", "runs.avoid": "staff",
    "runs.person": "staff", "runs.swap": "staff", "runs.new_family": "staff",
    "runs.separate": "staff", "runs.unavoid": "staff",
    "runs.reoptimise": "staff", "runs.publish": "staff", "runs.discard": "staff",
    "runs.audit_trail": "staff", "messaging.problems": "staff", "messaging.outbox_log": "staff",
    "admin.index": "admin", "admin.indicators_table": "admin", "admin.indicators_csv": "admin",
    "admin.lead_region": "admin", "admin.replies": "admin", "admin.reply_handled": "admin",
    "account.phone": "member", "account.send_code": "member", "messaging.checkin_answer": "token",
    "messaging.confirm_email": "token", "messaging.twilio_inbound": "twilio",
    "messaging.twilio_status": "twilio",
    "messaging.family_answer": "token", "family.answer": "member", "families.index": "staff",
    "families.show": "staff", "families.end": "staff", "families.extend": "staff",
    "programme.volunteer_by_link": "token", "programme.availability_by_link": "token",
    "programme.volunteer": "member", "lead.record_availability": "staff",
    "account.email": "member", "account.confirm_email_change": "token",
    "account.data": "signed_in",
    # The family's anchor may post here too (tests/test_family_chat.py); nobody else may.
    "family.chat": "staff",
    # Welcome guides: read by anyone; a region's by its leads, the national one by the admin.
    "guides.index": "public", "guides.show": "public", "guides.edit": "staff",
    "guides.save": "staff", "guides.history": "staff", "guides.version": "staff",
    "guides.restore": "staff", "guides.national_edit": "admin",
    "guides.national_save": "admin", "guides.national_history": "admin",
    # Trainee lists and invitations: the lead's pages; the invited person's signed link.
    "invitations.index": "staff", "invitations.upload": "staff", "invitations.sample": "staff",
    "invitations.preview": "staff", "invitations.confirm": "staff",
    "invitations.landing": "token", "invitations.start": "token", "invitations.decline": "token",
    # Surveys: one person's signed link (the account page makes a fresh one).
    "surveys.start": "token", "surveys.question": "token", "surveys.done": "token",
    # Survey results and outcomes: the region's lead (and the admin); every region and the
    # analysts' file: the admin only.
    "results.region_page": "staff", "results.region_csv": "staff", "results.definitions": "staff",
    "results.outcomes_page": "staff", "results.outcomes_upload": "staff",
    "results.outcomes_preview": "staff", "results.outcomes_confirm": "staff",
    "results.national_page": "admin", "results.analysts_csv": "admin",
}


@pytest.fixture
def world(app, session, factory):
    return build_world(app, session, factory)


def build_world(app, session, factory) -> dict:
    """Staff of two regions, volunteers, a member, a draft run and a flag: the ids of each
    (tests/test_properties.py builds the same world once per module)."""
    kw = {"region": REGION, "scheme": "wessex:poole"}
    lead = factory.staff("lead", region=REGION, email="lead.a@example.org")
    factory.staff("lead", region="london", email="lead.b@example.org")
    factory.staff("admin", email="admin@example.org")
    volunteer = factory.volunteer(capacity="2", **kw)
    pending = factory.volunteer(status=PersonStatus.PENDING, **kw)
    member = factory.newcomer(email="member@example.org", **kw)
    # The newcomer's intake (arrival 4 August 2027), and a volunteer who confirmed for it.
    session.add(VolunteerConfirmation(person_id=volunteer.id, intake="2027-08", available=True,
                                      channel="web"))
    with app.app_context():
        run = runs.start_run(session, lead=lead, region=REGION, time_limit_s=5,
                             intake="2027-08")
        runs.execute_run(session, run.id)
    flag = Flag(person_id=member.id, region=REGION, reason="help", text="HELP")
    session.add(flag)
    family = Family(code=f"{REGION}-900", region=REGION, status=FamilyStatus.PUBLISHED)
    session.add(family)
    session.commit()
    guide, _ = guides.save(session=session, user=lead, region=REGION, body="## Housing",
                           base_version=0)
    with app.app_context():
        upload = invitations.upload(session, lead=lead, region=REGION, role="newcomer",
                                    filename="list.csv",
                                    data=b"Name,Email,Start date\nSam,sam@example.org,4/8/2027\n")
    with app.app_context():
        outcome_upload = outcomes.upload(
            session, lead=lead, region=REGION, filename="outcomes.csv",
            data=b"Email,Outcome,Date\nmember@example.org,ARCP 1,30/06/2026\n")
    return {"person_id": pending.id, "run_id": run.id, "flag_id": flag.id,
            "family_id": family.id,
            "lead_id": lead.id, "message_id": 1, "reply_id": 1, "filename": "app.css",
            "role": "buddy", "name": "people", "token": "not-a-real-token", "page": "name",
            "region": REGION, "version_id": guide.id, "upload_id": upload.id,
            "outcome_upload_id": outcome_upload.id, "key": "help_with"}


def url_for_rule(rule, world) -> str:
    if rule.endpoint == "main.assets":
        return "/assets/nhsuk-frontend.min.css"
    url = rule.rule
    for arg in rule.arguments:
        url = url.replace(f"<int:{arg}>", str(world[arg])).replace(
            f"<path:{arg}>", str(world[arg])).replace(f"<{arg}>", str(world[arg]))
    return url


def clients(app):
    out = {"anonymous": app.test_client()}
    for who, email in [("member", "member@example.org"), ("lead", "lead.a@example.org"),
                       ("other_lead", "lead.b@example.org"), ("admin", "admin@example.org")]:
        out[who] = app.test_client()
        login(out[who], email)
    return out


def expected_get(access: str, who: str, rule: str) -> set[int]:
    # A trainee list upload is its lead's (and the admin's) only, like a region's record.
    region_specific = "<int:" in rule or "<upload_id>" in rule or "<outcome_upload_id>" in rule
    if access == "public":
        return {200, 302}
    if access == "token":
        return {400, 404}
    if who == "anonymous":
        return {302}
    if access == "signed_in":
        return {200}
    if access == "member":
        return {200} if who == "member" else {404}
    if access == "admin":
        return {200} if who == "admin" else {404}
    # staff
    if who in ("member",):
        return {404}
    if who == "other_lead" and region_specific:
        return {404}
    return {200}


def test_every_route_is_classified(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints == set(ACCESS), "classify new routes in ACCESS"


def every_page(app, world):
    """(role, rule, url, response) for a GET of every page as every role, sign-out left out."""
    for who, client in clients(app).items():
        for rule in app.url_map.iter_rules():
            if "GET" not in rule.methods or rule.endpoint == "auth.logout":
                continue
            url = url_for_rule(rule, world)
            response = client.get(url)
            response.close()
            yield who, rule, url, response


def test_get_every_page_as_every_role(app, world):
    wrong = []
    for who, rule, url, response in every_page(app, world):
        want = expected_get(ACCESS[rule.endpoint], who, rule.rule)
        if response.status_code not in want:
            wrong.append(f"{who} GET {url}: {response.status_code}, expected {want}")
        if who == "anonymous" and want == {302}:
            assert response.headers["Location"].startswith("/login")
    assert wrong == []


def test_post_is_refused_to_those_who_may_not(app, world, session):
    wrong = []
    for who, client in clients(app).items():
        for rule in app.url_map.iter_rules():
            access = ACCESS[rule.endpoint]
            if "POST" not in rule.methods or access in ("public", "token"):
                continue
            allowed = (access == "signed_in" and who != "anonymous") or (
                access == "member" and who == "member") or (
                access == "admin" and who == "admin") or (
                access == "staff" and (who in ("lead", "admin")
                                       or (who == "other_lead" and "<int:" not in rule.rule)))
            if allowed:
                continue  # refusals only: allowed actions have their own tests
            url = url_for_rule(rule, world)
            status = client.post(url, data={}).status_code
            want = {403} if access == "twilio" else ({302} if who == "anonymous" else {404})
            if status not in want:
                wrong.append(f"{who} POST {url}: {status}, expected {want}")
    assert wrong == []
    session.expire_all()
    assert session.get(Flag, world["flag_id"]).status == "open"
    assert session.get(runs.MatchRun, world["run_id"]).status == "draft"
