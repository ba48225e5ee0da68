"""Welcome guides: public pages, written by each region's leads (the national one by the
admin) in Markdown that renders safely, previewed without saving, versioned in the audit
trail, rolled back, and refused over a newer version with the typed text kept."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa
from sqlmodel import select

from buddy.messaging.dispatch import dispatch
from buddy.messaging.models import Message
from buddy.models import AuditEvent, GuideVersion
from buddy.services import NotFound, ServiceError, guides
from tests.factories import login
from tests.test_account import edit_form

HOSTILE = """# Living here

<script>alert(1)</script>

<b onclick="alert(2)">bold?</b> <iframe src="https://evil.example"></iframe>

<img src=x onerror=alert(3)>

[click](javascript:alert(4)) [encoded](jav&#x61;script:alert(5)) <javascript:alert(6)>

[data](data:text/html;base64,PHNjcmlwdD5hbGVydCg3KTwvc2NyaXB0Pg==) [vb](vbscript:msgbox(8))

![pic](javascript:alert(9)) ![pic2](https://evil.example/x.png)

<style>body{display:none}</style> {{ 7 * 7 }}
"""
# What readers may get from a guide: these tags, these attributes, links of these kinds.
TAGS = {"h2", "h3", "h4", "h5", "h6", "p", "ul", "ol", "li", "a", "em", "strong", "code",
        "pre", "blockquote", "br", "hr"}
ATTRIBUTES = {"href", "class", "id", "start"}


class Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def elements(html: str) -> list[tuple[str, dict]]:
    parser = Elements()
    parser.feed(html)
    return parser.found


def assert_inert(html: str) -> None:
    """Only the tags and attributes a guide may have; every link to a web page, an email
    address or a phone number."""
    for tag, attrs in elements(html):
        assert tag in TAGS, (tag, attrs)
        assert set(attrs) <= ATTRIBUTES, (tag, attrs)
        if tag == "a":
            assert re.match(r"(https?://[^/@]+\.[^/@]+|mailto:|tel:)", attrs["href"]), attrs


def guide_html(page: str) -> str:
    """The guide's own part of a public page."""
    return page.split('<div class="app-guide">', 1)[1].split("</div>", 1)[0]


# --- Rendering ----------------------------------------------------------------------------------

def test_markup_and_scripts_come_out_as_text():
    html = str(guides.render(HOSTILE).html)
    assert_inert(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(3)&gt;" in html
    assert "&lt;b onclick=&quot;alert(2)&quot;&gt;bold?&lt;/b&gt;" in html
    assert "[click](javascript:alert(4))" in html  # the bad link is text, not a link
    assert "javascript:" not in "".join(a.get("href", "") for _, a in elements(html))
    assert "<img" not in html and "<script" not in html and "<iframe" not in html


@pytest.mark.parametrize("url", [
    "javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,x", "vbscript:x",
    "file:///etc/passwd", "/join/", "//evil.example", "https:evil.example", "#housing",
    "https://www.nhs.uk@evil.example/", "ftp://example.org", "http://localhost",
    "mailto:", "tel:call-me",
])
def test_a_link_that_leads_anywhere_else_is_refused_and_shown_as_text(url):
    body = f"Read [this page]({url})."
    assert guides.problems(body) and url[:20] in guides.problems(body)[0]
    assert "<a " not in str(guides.render(body).html)


@pytest.mark.parametrize("url", [
    "https://www.nhs.uk/nhs-services/gps/", "http://example.org/a?b=c#d",
    "mailto:sarah.jones@example.org", "tel:+44 20 7946 0000".replace(" ", "%20"), "tel:111",
])
def test_web_email_and_phone_links_are_links(url):
    assert guides.problems(f"[here]({url})") == []
    assert str(guides.render(f"[here]({url})").html).count("<a href=") == 1


def test_headings_move_down_so_the_page_keeps_one_h1():
    rendered = guides.render("# Getting around\n\n## By bus\n\n# Housing\n\n# Housing")
    tags = [tag for tag, _ in elements(str(rendered.html))]
    assert tags.count("h2") == 3 and tags.count("h3") == 1 and "h1" not in tags
    assert rendered.contents == (("getting-around", "Getting around"), ("housing", "Housing"),
                                 ("housing-2", "Housing"))
    # A writer who starts at ## keeps h2; one who starts at ### moves up to h2.
    assert "<h2" in str(guides.render("### Deep").html)
    assert "<h3" in str(guides.render("# Under a preview heading", 3).html)


# --- Public pages -------------------------------------------------------------------------------

def _lead_saves(session, lead, region, body, base=None):
    if base is None:
        current = guides.latest(session, region)
        base = current.version if current else 0
    row, _ = guides.save(session=session, user=lead, region=region, body=body,
                         base_version=base)
    return row


def test_anyone_reads_the_guides_without_signing_in(client, session, factory):
    lead = factory.staff("lead", region="wessex")
    admin = factory.staff("admin")
    _lead_saves(session, lead, "wessex", "## Getting around\nBuses in Southampton.\n\n"
                                         "## Contacts\n- Dr Sarah Jones, DA lead")
    _lead_saves(session, admin, guides.NATIONAL, "## The NHS\nFree at the point of use.")
    index = client.get("/welcome/").get_data(as_text=True)
    for name in ("Wessex", "London", "Yorkshire and the Humber",
                 "Starting GP training in England"):
        assert name in index
    page = client.get("/welcome/wessex")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and text.count("<h1") == 1
    assert "Welcome to Wessex" in text and "Buses in Southampton." in text
    assert 'href="#getting-around"' in text and 'href="/welcome/national"' in text
    national = client.get("/welcome/national").get_data(as_text=True)
    assert "Starting GP training in England" in national and "Free at the point of use." in national
    # A region not written yet gives the national guide, never an empty page.
    london = client.get("/welcome/london").get_data(as_text=True)
    assert "still writing this guide" in london and "Free at the point of use." in london
    assert client.get("/welcome/nowhere").status_code == 404
    assert client.get("/welcome/%3Cscript%3E").status_code == 404


def test_a_stored_hostile_guide_is_inert_on_the_public_page(client, session, factory):
    """A text stored without the checks (an old version, a database edit) is still safe."""
    session.add(GuideVersion(region="wessex", version=1, body=HOSTILE))
    session.commit()
    page = client.get("/welcome/wessex").get_data(as_text=True)
    assert_inert(guide_html(page))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_public_url_is_absolute_and_the_pages_link_to_the_guide(app, client, session, factory):
    with app.app_context():
        assert guides.public_url("wessex") == "http://localhost/welcome/wessex"
        assert guides.public_url("national") == "http://localhost/welcome/national"
    factory.newcomer(email="me@example.org", region="wessex", scheme="wessex:poole")
    login(client, "me@example.org")
    for url in ("/account/", "/family/"):
        assert 'href="/welcome/wessex"' in client.get(url).get_data(as_text=True), url


# --- Writing ------------------------------------------------------------------------------------

def test_preview_shows_the_page_and_saves_nothing(client, session, factory):
    factory.staff("lead", region="wessex", email="lead@example.org")
    login(client, "lead@example.org")
    response = client.post("/lead/guide", data={
        "body": "# Housing\nRooms near **Southampton General**.\n\n<script>x</script>",
        "base_version": "0", "action": "preview"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Preview: not saved yet" in page
    assert "<strong>Southampton General</strong>" in page
    assert '<h3 class="nhsuk-heading-s">Housing</h3>' in page  # under the preview's h2
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>x" not in page
    # The typed text is still in the box, as typed.
    assert "# Housing\nRooms near **Southampton General**." in page
    assert session.exec(select(GuideVersion)).all() == []
    assert session.exec(select(AuditEvent).where(AuditEvent.action.like("guide%"))).all() == []


def test_preview_names_a_bad_link_and_saving_refuses_it_keeping_the_text(client, session,
                                                                         factory):
    factory.staff("lead", region="wessex", email="lead@example.org")
    login(client, "lead@example.org")
    body = "See [the council](javascript:alert(1)) and [NHS](https://www.nhs.uk)."
    preview = client.post("/lead/guide", data={"body": body, "base_version": "0",
                                               "action": "preview"}).get_data(as_text=True)
    assert "Change the link &#34;javascript:alert(1)&#34;" in preview \
        or "Change the link &quot;javascript:alert(1)&quot;" in preview
    response = client.post("/lead/guide", data={"body": body, "base_version": "0",
                                                "action": "save"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "There is a problem" in page and "a link must start with https://" in page
    assert "See [the council](javascript:alert(1))" in page
    assert session.exec(select(GuideVersion)).all() == []


@pytest.mark.parametrize(("body", "message"), [
    ("", "Write the guide before saving it"),
    ("   \n\n ", "Write the guide before saving it"),
    ("x" * (guides.MAX_BODY + 1), "keep it under 50,000"),
    ("Line one\nTwo \u202eevil", "text-direction mark on line 2"),
    ("![map](https://example.org/map.png)", 'Remove the picture "map"'),
])
def test_a_text_that_cannot_be_saved_says_what_to_fix(session, factory, body, message):
    lead = factory.staff("lead", region="wessex")
    with pytest.raises(ServiceError) as caught:
        guides.save(session=session, user=lead, region="wessex", body=body, base_version=0)
    assert message in caught.value.errors["body"]
    assert session.exec(select(GuideVersion)).all() == []


def test_every_save_is_a_version_in_the_audit_trail(client, session, factory):
    lead = factory.staff("lead", region="wessex", email="lead@example.org",
                         full_name="Dr Sarah Jones")
    login(client, "lead@example.org")
    first = client.post("/lead/guide", data={"body": "## Housing\nFirst.", "base_version": "0",
                                             "action": "save"})
    assert first.status_code == 302
    assert "Saved as version 1" in client.get("/lead/guide").get_data(as_text=True)
    client.post("/lead/guide", data={"body": "## Housing\r\nSecond.", "base_version": "1",
                                     "action": "save"})
    # The same text again adds no version.
    client.post("/lead/guide", data={"body": "## Housing\nSecond.\n", "base_version": "2",
                                     "action": "save"})
    rows = session.exec(select(GuideVersion).order_by(GuideVersion.version)).all()
    assert [(r.region, r.version, r.body, r.written_by) for r in rows] == [
        ("wessex", 1, "## Housing\nFirst.", lead.id), ("wessex", 2, "## Housing\nSecond.", lead.id)]
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "guide_saved")
                          .order_by(AuditEvent.id)).all()
    assert [(e.actor_id, e.region, e.detail["version"]) for e in events] == [
        (lead.id, "wessex", 1), (lead.id, "wessex", 2)]
    trail = client.get("/lead/runs/audit").get_data(as_text=True)
    assert "Saved version 2 of the Wessex welcome guide" in trail and "Dr Sarah Jones" in trail
    assert "Second." in client.get("/welcome/wessex").get_data(as_text=True)
    history = client.get("/lead/guide/history").get_data(as_text=True)
    assert "Version 2" in history and "Version 1" in history and "Dr Sarah Jones" in history


def test_rollback_is_a_new_version_copying_the_old_one(client, session, factory):
    lead = factory.staff("lead", region="wessex", email="lead@example.org")
    login(client, "lead@example.org")
    one = _lead_saves(session, lead, "wessex", "## Housing\nThe good text.")
    _lead_saves(session, lead, "wessex", "## Housing\nA mistake.")
    page = client.get(f"/lead/guide/versions/{one.id}").get_data(as_text=True)
    assert "The good text." in page and "Restore version 1" in page
    response = client.post(f"/lead/guide/versions/{one.id}/restore", data={"base_version": "2"})
    assert response.status_code == 302
    rows = session.exec(select(GuideVersion).order_by(GuideVersion.version)).all()
    assert [(r.version, r.body, r.restored_from) for r in rows] == [
        (1, "## Housing\nThe good text.", None), (2, "## Housing\nA mistake.", None),
        (3, "## Housing\nThe good text.", 1)]
    [event] = session.exec(select(AuditEvent).where(AuditEvent.action == "guide_restored")).all()
    assert event.actor_id == lead.id and event.detail["version"] == 3
    assert event.detail["from_version"] == 1
    public = client.get("/welcome/wessex").get_data(as_text=True)
    assert "The good text." in public and "A mistake." not in public
    assert "Restored version 1" in client.get("/lead/guide/history").get_data(as_text=True)
    # Restoring the text the guide already has is refused, and says why.
    again = client.post(f"/lead/guide/versions/{one.id}/restore", data={"base_version": "3"})
    assert again.status_code == 400 and "nothing to restore" in again.get_data(as_text=True)
    assert len(session.exec(select(GuideVersion)).all()) == 3


def test_saving_over_a_newer_version_is_refused_and_keeps_the_typed_text(app, session,
                                                                         factory):
    factory.staff("lead", region="wessex", email="a@example.org", full_name="Dr Ann Lee")
    factory.staff("lead", region="wessex", email="b@example.org", full_name="Dr Bo Chan")
    ann, bo = app.test_client(), app.test_client()
    login(ann, "a@example.org")
    login(bo, "b@example.org")
    ann.post("/lead/guide", data={"body": "Version one.", "base_version": "0", "action": "save"})
    # Both open the editor at version 1; Bo saves first.
    assert 'name="base_version" value="1"' in ann.get("/lead/guide").get_data(as_text=True)
    bo.post("/lead/guide", data={"body": "Bo's text.", "base_version": "1", "action": "save"})
    response = ann.post("/lead/guide", data={"body": "Ann's long careful text.",
                                             "base_version": "1", "action": "save"})
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Dr Bo Chan saved a newer version of this guide (version 2" in page
    assert "Nothing was saved" in page
    assert "Ann&#39;s long careful text." in page  # still in the box
    assert "<p>Bo's text.</p>" in page  # the newer version, to compare
    assert 'name="base_version" value="2"' in page
    assert [v.body for v in session.exec(select(GuideVersion)
                                         .order_by(GuideVersion.version)).all()] == [
        "Version one.", "Bo's text."]
    # Having seen it, Ann saves again: now from version 2.
    ann.post("/lead/guide", data={"body": "Ann's long careful text.", "base_version": "2",
                                  "action": "save"})
    assert guides.latest(session, "wessex").body == "Ann's long careful text."
    # A rollback from a stale page is refused the same way.
    first = session.exec(select(GuideVersion).where(GuideVersion.version == 1)).one()
    stale = bo.post(f"/lead/guide/versions/{first.id}/restore", data={"base_version": "2"})
    assert stale.status_code == 409 and "Nothing was restored" in stale.get_data(as_text=True)


def test_one_version_number_is_written_once(session, factory):
    """Two saves that both read version 1 cannot both write version 2: the database refuses
    the second, and the save turns that into the same refusal as a stale form."""
    lead = factory.staff("lead", region="wessex", full_name="Dr Ann Lee")
    session.add(GuideVersion(region="wessex", version=1, body="a"))
    session.commit()
    session.add(GuideVersion(region="wessex", version=1, body="b"))
    with pytest.raises(sa.exc.IntegrityError):
        session.commit()
    session.rollback()
    # The write of a save whose check passed just before another save took version 1.
    with pytest.raises(guides.StaleGuide) as caught:
        guides._add(session, user=lead, region="wessex", body="c", version=1)
    assert "saved a newer version of this guide (version 1" in caught.value.errors["body"]
    assert [v.body for v in session.exec(select(GuideVersion)).all()] == ["a"]
    assert session.exec(select(AuditEvent).where(AuditEvent.action.like("guide%"))).all() == []


# --- Who may write which guide --------------------------------------------------------------------

def test_a_lead_writes_only_their_own_region(app, session, factory):
    factory.staff("lead", region="wessex", email="lead@example.org")
    other = factory.staff("lead", region="london", email="other@example.org")
    london = _lead_saves(session, other, "london", "London's text.")
    client = app.test_client()
    login(client, "lead@example.org")
    assert "Welcome to Wessex" in client.get("/lead/guide").get_data(as_text=True)
    for url in ("/lead/guide?region=london", "/lead/guide/history?region=london",
                f"/lead/guide/versions/{london.id}", "/admin/guide", "/admin/guide/history"):
        assert client.get(url).status_code == 404, url
    assert client.post("/lead/guide?region=london", data={
        "body": "Taken over", "base_version": "1", "action": "save"}).status_code == 404
    assert client.post(f"/lead/guide/versions/{london.id}/restore",
                       data={"base_version": "1"}).status_code == 404
    assert client.post("/admin/guide", data={"body": "x", "base_version": "0",
                                              "action": "save"}).status_code == 404
    with pytest.raises(NotFound):
        guides.save(session=session, user=session.get(type(other), other.id), region="wessex",
                    body="x", base_version=0)
    assert [(v.region, v.body) for v in session.exec(select(GuideVersion)).all()] == [
        ("london", "London's text.")]
    factory.newcomer(email="member@example.org")
    member = app.test_client()
    login(member, "member@example.org")
    assert member.get("/lead/guide").status_code == 404


def test_the_admin_writes_the_national_guide_and_any_region(client, session, factory):
    admin = factory.staff("admin", email="admin@example.org")
    login(client, "admin@example.org")
    assert "Starting GP training in England" in client.get("/admin/guide").get_data(as_text=True)
    client.post("/admin/guide", data={"body": "## The NHS\nFree care.", "base_version": "0",
                                      "action": "save"})
    client.post("/lead/guide?region=london", data={"body": "## Getting around\nThe Tube.",
                                                    "base_version": "0", "action": "save"})
    assert {(v.region, v.written_by) for v in session.exec(select(GuideVersion)).all()} == {
        ("national", admin.id), ("london", admin.id)}
    national = session.exec(select(AuditEvent).where(AuditEvent.action == "guide_saved",
                                                     AuditEvent.region.is_(None))).one()
    assert national.detail["guide"] == "national" and national.actor_id == admin.id
    assert "Version 1" in client.get("/admin/guide/history").get_data(as_text=True)


# --- The message before arrival -------------------------------------------------------------------

@pytest.fixture
def sending_app(make_app, channel_settings):
    return make_app(**channel_settings)


def test_the_pre_arrival_message_links_to_the_region_guide(sending_app, session, fake_smtp,
                                                            fake_twilio):
    from tests.factories import Factory

    factory = Factory(sending_app, session)
    by_email = factory.newcomer(region="wessex", scheme="wessex:poole", channel="email",
                                email="priya@example.org", full_name="Dr Priya Raman")
    by_sms = factory.newcomer(region="london", channel="sms")
    for person in (by_email, by_sms):
        person.email_confirmed_at = datetime(2027, 1, 1, tzinfo=UTC)
        session.add(person)
    session.commit()
    with sending_app.app_context():
        dispatch(now=datetime(2027, 7, 14, 9, tzinfo=UTC))  # 21 days before 4 August 2027
    [email] = [m for m in fake_smtp.messages_to("priya@example.org")
               if b"first weeks" in m["content"]]
    content = message_from_bytes(email["content"], policy=default).get_content()
    assert "Hello Priya," in content
    assert "welcome guide, with what to expect and who to ask: " \
           "http://localhost/welcome/wessex" in content
    [text] = [r for r in fake_twilio.accepted() if r["To"] == by_sms.phone]
    assert text["Body"].endswith("who to ask: http://localhost/welcome/london")
    sent = session.exec(select(Message).where(Message.kind == "what_to_expect",
                                              Message.status == "sent")).all()
    assert len(sent) == 2


def test_a_new_region_moves_the_link_in_the_waiting_message(client, session, factory):
    person = factory.newcomer(email="me@example.org", channel="email")
    login(client, "me@example.org")
    client.post("/account/edit", data={**edit_form(full_name=person.full_name,
                                                   channel="email"),
                                       "region": "wessex", "scheme": "wessex:poole"})
    session.expire_all()
    [waiting] = session.exec(select(Message).where(Message.person_id == person.id,
                                                   Message.kind == "what_to_expect",
                                                   Message.status == "pending")).all()
    assert waiting.body.endswith("http://localhost/welcome/wessex")


# --- Demo data ------------------------------------------------------------------------------------

SECTIONS = ["Getting around", "Housing", "Registering with a GP", "Schools and childcare",
            "Faith and community groups", "Money and banking", "Contacts"]


def test_the_demo_has_a_guide_for_every_region_written_by_its_lead(app, session, factory):
    from buddy import demo, reference

    admin = factory.staff("admin", email="admin@example.org")
    leads = {slug: factory.staff("lead", region=slug, email=f"lead.{slug}@example.org")
             for slug in reference.regions()}
    demo._guides(session, datetime(2026, 12, 4, tzinfo=UTC))
    session.commit()
    for slug, lead in leads.items():
        guide = guides.latest(session, slug)
        assert guide.version == 1 and guide.written_by == lead.id
        assert [h for _, h in guides.render(guide.body).contents] == SECTIONS, slug
        # Each contact has a role, and the region's lead is reachable.
        assert f"(mailto:lead.{slug}@example.org)" in guide.body
        assert "Differential Attainment lead" in guide.body
        assert reference.regions()[slug].name in guide.body
    national = guides.latest(session, guides.NATIONAL)
    assert national.written_by == admin.id
    assert [h for _, h in guides.render(national.body).contents][:3] == [
        "The NHS", "GP training", "Your first weeks"]
    for guide in session.exec(select(GuideVersion)).all():
        assert guides.problems(guide.body) == []
        # No invented phone numbers: only the NHS's own 111 and 999.
        assert re.findall(r"\d[\d ]{5,}\d", guide.body) == [], guide.region
