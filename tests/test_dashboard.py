"""The DA lead's dashboard, flags and exports, checked against a hand-counted region."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from sqlmodel import select

from buddy import intakes
from buddy.messaging.models import CheckIn, Flag
from buddy.models import AuditEvent, Family, FamilyMember, Person, User
from buddy.services import indicators
from buddy.statuses import FamilyStatus, FlagStatus, PersonStatus
from tests.factories import login

REGION = "wessex"
# The app's clock (BUDDY_NOW): A, B, C and E below belong to the August 2026 intake (the
# current one), D to February 2027.
NOW = datetime(2026, 11, 18, 10, tzinfo=UTC)
TODAY = NOW.date()


@pytest.fixture
def app(make_app):
    return make_app(BUDDY_NOW=NOW.isoformat())


def arrive(session, person, days_ago: int) -> Person:
    person = session.get(Person, person.id)
    person.arrival_date = TODAY - timedelta(days=days_ago)
    intakes.assign(person)  # as the profile page does
    session.add(person)
    session.commit()
    return person


def check_in(session, person, day: int, answer: str | None) -> CheckIn:
    row = CheckIn(person_id=person.id, region=REGION, day=day, channel="sms",
                  sent_at=NOW - timedelta(days=1), answer=answer,
                  answered_at=NOW if answer else None)
    session.add(row)
    session.commit()
    return row


@pytest.fixture
def region(factory, session) -> dict:
    """Five newcomers, three buddies, an ambassador and a pending volunteer, hand-counted:

    A and B arrived and are in a published family with anchor 1; C arrives in 10 days and
    D in 100 days, neither in a family; E arrived but has withdrawn.
    """
    kw = {"region": REGION, "scheme": "wessex:poole"}
    people = {name: factory.newcomer(full_name=f"Newcomer {name}", **kw) for name in "ABCDE"}
    for name, days in (("A", 30), ("B", 60), ("C", -10), ("D", -100), ("E", 30)):
        people[name] = arrive(session, people[name], days)
    e = session.get(Person, people["E"].id)
    e.status = PersonStatus.WITHDRAWN
    session.add(e)
    session.commit()
    people["anchor1"] = factory.volunteer(capacity="2", full_name="Anchor One", **kw)
    people["anchor2"] = factory.volunteer(capacity="2", full_name="Anchor Two", **kw)
    people["st2"] = factory.volunteer(stage="ST2", capacity="3", can_anchor=None, **kw)
    people["ambassador"] = factory.volunteer("ambassador", **kw)
    people["pending"] = factory.volunteer(status=PersonStatus.PENDING, **kw)
    family = Family(code="wessex-001", region=REGION, status=FamilyStatus.PUBLISHED,
                    published_at=NOW)
    session.add(family)
    session.commit()
    for key_, place in (("anchor1", "anchor"), ("A", "newcomer"), ("B", "newcomer")):
        session.add(FamilyMember(family_id=family.id, person_id=people[key_].id, place=place))
    session.commit()
    check_in(session, people["A"], 7, "ok")
    ci = check_in(session, people["B"], 7, "call")
    check_in(session, people["B"], 28, None)
    check_in(session, people["B"], 56, "ok")
    session.add(Flag(person_id=people["B"].id, region=REGION, reason="asked_for_call",
                     text="2", check_in_id=ci.id, created_at=NOW - timedelta(days=3)))
    session.add(Flag(person_id=people["A"].id, region=REGION, reason="unclear_reply",
                     text="??", status=FlagStatus.CONTACTED, created_at=NOW - timedelta(days=5)))
    session.commit()
    # Another region's newcomer, who must never show up in Wessex figures.
    factory.newcomer(region="london", full_name="London Newcomer")
    return people


@pytest.fixture
def lead_client(app, factory):
    factory.staff("lead", region=REGION, email="lead.wessex@example.org")
    client = app.test_client()
    login(client, "lead.wessex@example.org")
    return client


def test_every_figure_matches_the_hand_count(app, session, region):
    with app.app_context():
        summary = indicators.summary(session, REGION, TODAY)
        response = indicators.check_in_response(session, REGION)
        upcoming = indicators.arrivals_without_family(session, REGION, TODAY)
    assert summary == {
        "signed_up": 5, "matched": 2, "arrived": 2, "first_check_in_answered": 2,
        "engaged_8_weeks": 1, "approved_volunteers": 4,
        # anchor 1: 2 - 2, anchor 2: 2 - 0, the ST2 buddy: 3 - 0
        "spare_capacity": 5, "arrivals_without_family": 1, "open_flags": 1,
    }
    assert response == {7: {"sent": 2, "answered": 2}, 28: {"sent": 1, "answered": 0},
                        56: {"sent": 1, "answered": 1}, 91: {"sent": 0, "answered": 0}}
    assert [p.full_name for p in upcoming] == ["Newcomer C"]


def test_dashboard_shows_the_figures_queue_and_charts(lead_client, region):
    page = lead_client.get("/lead/").get_data(as_text=True)
    assert "Who needs you (1)" in page
    assert "Newcomer B</a>: asked for a call, 3 days ago" in page
    assert "The oldest has waited 3 days" in page
    assert '<svg class="app-chart"' in page and "<script>" not in page
    assert "London Newcomer" not in page
    for figure in ('id="approved">4<', 'id="spare">5<', 'id="upcoming-count">1<'):
        assert figure in page


def test_the_funnel_nests_even_for_answers_out_of_order(lead_client, session, region,
                                                       factory):
    """Each step counts some of the newcomers of the step before: a check-in answered by
    someone without a family, or at 8 weeks without the first, does not make a step rise."""
    kw = {"region": REGION, "scheme": "wessex:poole"}
    late = arrive(session, factory.newcomer(full_name="Newcomer F", **kw), 70)
    family = session.exec(select(Family).where(Family.code == "wessex-001")).one()
    session.add(FamilyMember(family_id=family.id, person_id=late.id, place="newcomer"))
    session.commit()
    check_in(session, late, 56, "ok")  # missed the first check-in, answered at 8 weeks
    check_in(session, region["E"], 7, "ok")  # arrived, answered, but never in a family
    check_in(session, region["E"], 56, "ok")
    with lead_client.application.app_context():
        summary = indicators.summary(session, REGION, TODAY)
    steps = [summary[k] for k in indicators.PIPELINE]
    assert steps == [6, 3, 3, 2, 1]  # A, B and F in the family; A and B answered day 7
    page = lead_client.get("/lead/?intake=all").get_data(as_text=True)
    pipeline = page.split('id="pipeline"', 1)[1].split("</table>", 1)[0]
    shown = [int(n) for n in re.findall(r'numeric">(\d+)</td>', pipeline)]
    assert shown == steps
    # The help text says how the steps nest.
    assert indicators.DEFINITIONS["engaged_8_weeks"] in html.unescape(page)
    assert "Each step counts some of the newcomers of the step before" in page


def test_dashboard_lists_the_ten_oldest_open_flags(lead_client, session, region, factory):
    for days in range(12):  # 12 more open flags, newer than Newcomer B's (3 days old)
        person = factory.newcomer(region=REGION, scheme="wessex:poole",
                                  full_name=f"Waiting {days:02d}")
        session.add(Flag(person_id=person.id, region=REGION, reason="help", text="help",
                         created_at=NOW - timedelta(hours=days)))
    session.commit()
    page = lead_client.get("/lead/").get_data(as_text=True)
    assert "Who needs you (13)" in page
    queue = page.split('id="flag-queue"', 1)[1].split("</ul>", 1)[0]
    names = re.findall(r">(Newcomer B|Waiting \d+)</a>", queue)
    assert names == ["Newcomer B"] + [f"Waiting {d:02d}" for d in range(11, 2, -1)]


def test_lead_marks_a_flag_contacted_with_a_note_and_assigns_it(lead_client, session, region,
                                                                factory):
    colleague = factory.staff("lead", region=REGION, full_name="Second Lead")
    flag = session.exec(select(Flag).where(Flag.status == "open")).one()
    page = lead_client.get(f"/lead/flags/{flag.id}").get_data(as_text=True)
    assert "Asked for a call" in page and "Second Lead" in page
    response = lead_client.post(f"/lead/flags/{flag.id}", data={
        "action": "contacted", "note": "Called, will ring back Friday",
        "assign_to": str(colleague.id)})
    assert response.headers["Location"] == "/lead/flags"
    session.expire_all()
    flag = session.get(Flag, flag.id)
    assert (flag.status, flag.assigned_to) == ("contacted", colleague.id)
    assert "Called, will ring back Friday" in flag.note and flag.handled_at
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "flag_updated")).one()
    assert event.detail["status"] == "contacted"
    assert "Who needs you (0)" in lead_client.get("/lead/").get_data(as_text=True)
    contacted = lead_client.get("/lead/flags?status=contacted").get_data(as_text=True)
    assert "Newcomer B" in contacted and "Newcomer A" in contacted


def test_flag_actions_are_checked(lead_client, session, region, factory):
    london_lead = factory.staff("lead", region="london")
    flag = session.exec(select(Flag).where(Flag.status == "open")).one()
    for data, message in [({"assign_to": str(london_lead.id)}, "Choose a colleague"),
                          ({}, "Nothing to change"), ({"action": "delete"}, "Choose contacted")]:
        page = lead_client.post(f"/lead/flags/{flag.id}", data=data,
                                follow_redirects=True).get_data(as_text=True)
        assert message in page
    session.expire_all()
    assert session.get(Flag, flag.id).status == "open"


def test_another_regions_lead_cannot_reach_flags_or_exports(app, session, region, factory):
    factory.staff("lead", region="london", email="lead.london@example.org")
    client = app.test_client()
    login(client, "lead.london@example.org")
    flag = session.exec(select(Flag).where(Flag.status == "open")).one()
    assert client.get(f"/lead/flags/{flag.id}").status_code == 404
    assert client.post(f"/lead/flags/{flag.id}", data={"action": "resolved"}).status_code == 404
    # The region field of a lead's request is ignored: they always get their own region.
    people = client.get("/lead/export/people.csv?region=wessex").get_data(as_text=True)
    assert "Newcomer A" not in people and "London Newcomer" in people
    assert "Newcomer B" not in client.get("/lead/?region=wessex").get_data(as_text=True)
    session.expire_all()
    assert session.get(Flag, flag.id).status == "open"


@pytest.mark.parametrize("name", ["people", "families", "check-ins", "flags", "indicators"])
def test_exports_hold_the_region_only(lead_client, region, name):
    response = lead_client.get(f"/lead/export/{name}.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert rows
    text = response.get_data(as_text=True)
    assert "London Newcomer" not in text


def test_export_figures_match_the_dashboard(lead_client, region):
    rows = list(csv.DictReader(io.StringIO(
        lead_client.get("/lead/export/indicators.csv").get_data().decode("utf-8-sig"))))
    assert rows == [{"Region": "Wessex", "Intake": "All intakes", "Signed up": "5",
                     "Matched": "2", "Arrived": "2", "First check in answered": "2",
                     "Engaged 8 weeks": "1", "Approved volunteers": "4", "Spare capacity": "5",
                     "Arrivals without family": "1", "Open flags": "1"}]


def test_spreadsheet_formulas_in_names_are_neutralised(lead_client, session, region):
    person = session.get(Person, region["A"].id)
    person.full_name = '=HYPERLINK("http://evil.example","click")'
    session.add(person)
    session.commit()
    text = lead_client.get("/lead/export/people.csv").get_data(as_text=True)
    assert "'=HYPERLINK" in text
    assert '\r\n=HYPERLINK' not in text and ',=HYPERLINK' not in text


def test_national_view_suppresses_small_numbers(app, session, region, factory):
    factory.staff("admin", email="admin@example.org")
    client = app.test_client()
    login(client, "admin@example.org")
    page = client.get("/admin/indicators").get_data(as_text=True)
    assert "Definitions" in page and indicators.DEFINITIONS["engaged_8_weeks"] in page
    rows = list(csv.DictReader(io.StringIO(
        client.get("/admin/indicators.csv").get_data().decode("utf-8-sig"))))
    # The current intake (August 2026) and the three before it, for each of the 11 regions.
    assert len(rows) == 44
    assert {r["Intake as YYYY-MM (sorts by date)"] for r in rows} == {
        "2025-02", "2025-08", "2026-02", "2026-08"}
    wessex = next(r for r in rows if (r["Region"], r["Intake"]) == ("Wessex", "August 2026"))
    assert wessex["Signed up"] == "<5" and wessex["Spare capacity"] == "5"
    assert wessex["Matched"] == "<5" and wessex["Open flags"] == "<5"
    # Admins may open any region's dashboard.
    assert "Who needs you (1)" in client.get("/lead/?region=wessex").get_data(as_text=True)


def test_leads_and_members_cannot_see_the_national_view(lead_client, app, session, region):
    assert lead_client.get("/admin/indicators").status_code == 404
    member = app.test_client()
    login(member, session.get(User, region["A"].user_id).email)
    assert member.get("/lead/").status_code == 404
    assert member.get("/lead/export/people.csv").status_code == 404


def test_match_quality_follows_a_publication_at_once_and_sign_ups_within_the_refresh(
        app, session, region, factory):
    """The per-worker cache of the fairness figures (measured: the dashboard's heaviest part)."""
    def counts() -> tuple[int, int]:
        with app.app_context():
            group = indicators.quality_by_group(session, REGION)["country"]["groups"]["other"]
        return group["newcomers"], group["matched"]

    assert counts() == (4, 2)  # A and B of the four active newcomers (E has withdrawn)
    factory.newcomer(full_name="Newcomer F", region=REGION, scheme="wessex:poole")
    assert counts() == (4, 2)  # a sign-up waits for the refresh...
    app.config["BUDDY_NOW"] = (NOW + indicators.QUALITY_REFRESH).isoformat()
    assert counts() == (5, 2)  # ...and is counted after it
    family = Family(code="wessex-002", region=REGION, status=FamilyStatus.PUBLISHED,
                    published_at=NOW)
    session.add(family)
    session.commit()
    for person, place in ((region["anchor2"], "anchor"), (region["C"], "newcomer")):
        session.add(FamilyMember(family_id=family.id, person_id=person.id, place=place))
    session.commit()
    assert counts() == (5, 3)  # a publication shows at once


@pytest.mark.parametrize("url", [*(f"/lead/export/{name}.csv?region={REGION}" for name in
                                   ("people", "families", "check-ins", "flags", "indicators")),
                                 "/admin/indicators.csv"])
def test_every_csv_download_opens_in_excel_with_its_accents(app, session, region, factory, url):
    """Excel reads a CSV without a byte-order mark as the machine's code page: "ZoÃ«"."""
    for key in ("A", "B"):  # in the family, with check-ins and flags
        person = session.get(Person, region[key].id)
        person.full_name = f"Zoë Ñúñez {key}"
        session.add(person)
    session.commit()
    factory.staff("admin", email="admin@example.org")
    client = app.test_client()
    login(client, "admin@example.org")
    response = client.get(url)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf") and not body.startswith(b"\xef\xbb\xbf" * 2)
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][0] in ("Person number (joins the files)", "Family", "Region")
    if "indicators" not in url:
        assert any("Zoë Ñúñez A" in row for row in rows[1:])


class _Tables(HTMLParser):
    """Every table of a page: its caption and its rows of (header or data) cell texts."""

    def __init__(self):
        super().__init__()
        self.tables: list[dict] = []
        self._text: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append({"caption": "", "rows": []})
        elif tag == "tr" and self.tables:
            self.tables[-1]["rows"].append([])
        elif tag in ("caption", "th", "td"):
            self._text = []

    def handle_endtag(self, tag):
        if tag in ("caption", "th", "td") and self._text is not None:
            text = " ".join("".join(self._text).split())
            if tag == "caption":
                self.tables[-1]["caption"] = text
            else:
                self.tables[-1]["rows"][-1].append(text)
            self._text = None

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)


def test_every_chart_has_its_numbers_in_a_table_and_hides_its_drawing(lead_client, region):
    """A screen reader skips the drawing and reaches every bar's number in a table."""
    page = lead_client.get("/lead/").get_data(as_text=True)
    charts = re.findall(r'<svg class="app-chart".*?</svg>', page, re.S)
    assert len(charts) == 3  # activity, check-ins answered, match quality by group
    parser = _Tables()
    parser.feed(page)
    tables = {t["caption"]: t["rows"] for t in parser.tables}
    for chart in charts:
        assert re.match(r'<svg class="app-chart"[^>]* aria-hidden="true"', chart)
        title = html.unescape(re.search(r"<title[^>]*>(.*?)</title>", chart).group(1))
        header, *rows = tables[title]
        cells = {(row[0], name): value
                 for row in rows for name, value in zip(header, row, strict=True)}
        bars = [html.unescape(b) for b in re.findall(r"<rect[^>]*><title>(.*?)</title>", chart)]
        assert bars
        for bar in bars:
            series_label, value = bar.rsplit(": ", 1)
            series, label = series_label.split(", ", 1)
            assert cells[(label, series)] == value, bar
    # The hand-counted check-ins: day 7 two of two answered, day 28 none of one.
    answered = {row[0]: row[1] for row in
                tables["Check-ins answered, by days after arrival"][1:]}
    assert (answered["Day 7"], answered["Day 28"], answered["Day 56"]) == ("100%", "0%", "100%")


def _flag_page(client, session, person) -> str:
    flag = session.exec(select(Flag).where(Flag.person_id == person.id, Flag.status == "open")
                        .order_by(Flag.id.desc())).first()
    return client.get(f"/lead/flags/{flag.id}").get_data(as_text=True)


def test_a_flag_says_what_the_reply_means_and_how_to_reach_the_person(lead_client, session,
                                                                      region):
    person = session.get(Person, region["B"].id)
    page = _flag_page(lead_client, session, person)
    assert "&ldquo;2&rdquo;" in page and "They would like a call from you" in page
    email = session.get(User, person.user_id).email
    assert f'href="mailto:{email}"' in page and f'href="tel:{person.phone}"' in page
    assert "(confirmed: they typed back the code we texted)" in page
    assert "Text message (SMS)" in page
    # 10:00 UTC is 15:30 in India, inside the hours Buddy sends messages in.
    assert "15:30 on Wednesday 18 November, Asia/Kolkata (UTC+5:30)" in page
    assert "Outside 9am to 7pm" not in page


def test_a_flag_warns_before_a_call_at_night_where_the_person_is(lead_client, session, region):
    person = session.get(Person, region["B"].id)
    person.timezone = "America/Los_Angeles"
    session.add(person)
    session.commit()
    page = _flag_page(lead_client, session, person)
    assert "02:00 on Wednesday 18 November, America/Los Angeles (UTC-8)" in page
    assert "Outside 9am to 7pm where they are" in page


@pytest.mark.parametrize(("body", "meaning"), [
    ("2", "They would like a call from you"),
    (" help ", "They asked for help"),
    ("CARRY", "They want their buddy family to carry on (CARRY). No question about their "
              "family was waiting"),
    ("Finish", "They want their buddy family to finish (FINISH). No question"),
    ("NOT AVAILABLE", "They cannot buddy for the next intake (NOT AVAILABLE)"),
    ("when is induction??", "Not one of the replies Buddy understands"),
])
def test_every_reply_on_a_flag_is_said_in_words(app, lead_client, session, region, body,
                                                meaning):
    from buddy.messaging import replies

    person = session.get(Person, region["C"].id)
    with app.app_context():
        replies.receive_text(session, sid=f"SM{abs(hash(body)):032x}"[:34], from_=person.phone,
                             body=body)
    page = _flag_page(lead_client, session, person)
    assert f"&ldquo;{html.escape(body)}&rdquo;" in page
    assert html.escape(meaning) in page
    assert "By text message, 18 Nov 2026" in page


def test_every_reply_code_has_its_words():
    from buddy.messaging.replies import meaning_of
    from buddy.services import flags

    bodies = ["1", "2", "CARRY", "FINISH", "AVAILABLE 2", "NOT AVAILABLE", "STOP", "START",
              "HELP", "what?"]
    assert {meaning_of(b) for b in bodies} == set(flags.REPLY_MEANINGS)


def test_a_call_asked_for_by_the_emailed_link_says_so(app, lead_client, session, region):
    from buddy.messaging import replies

    person = session.get(Person, region["A"].id)
    day_28 = check_in(session, person, 28, None)
    with app.app_context():
        replies.answer_check_in(session, day_28, person, "call", "email")
        session.commit()
    page = _flag_page(lead_client, session, person)
    assert "By the link in the check-in email, 18 Nov 2026" in page
    assert "Day 28 after they arrived" in page and "They would like a call" in page
    assert "What they wrote" not in page  # they wrote nothing: they clicked a link


def _codes() -> set[str]:
    """Every code Buddy stores where a person expects a word."""
    from buddy import reference

    codes = set(reference.regions()) | set(reference.interests()) | set(
        reference.languages()) | set(reference.countries())
    for r in reference.regions().values():
        codes |= set(r.schemes)
    return codes | {"sms", "whatsapp", "email", "newcomer", "buddy", "ambassador", "active",
                    "pending", "paused", "withdrawn", "declined", "open", "contacted",
                    "resolved", "ok", "call", "anchor", "primary", "secondary", "published",
                    "ended", "True", "False", "None", "asked_for_call", "unclear_reply", "help",
                    "message_failed", "qualified", "all"}


@pytest.mark.parametrize("url", [*(f"/lead/export/{name}.csv?region={REGION}&intake={i}"
                                   for name in ("people", "families", "check-ins", "flags",
                                                "indicators") for i in ("all", "2026-08")),
                                 "/admin/indicators.csv"])
def test_every_csv_says_names_where_people_expect_them(app, session, region, factory, url):
    """Region slugs, scheme, interest, language and country codes, channels, statuses and
    intakes are words; a code stays only in a column whose heading says who it is for."""
    a = session.get(Person, region["A"].id)
    a.country, a.languages, a.sensitive_consent_at = "NG", ["yo", "ig"], NOW
    family = session.exec(select(Family)).one()
    family.intake = "2026-08"
    session.add_all([a, family])
    session.commit()
    factory.staff("admin", email="admin@example.org")
    client = app.test_client()
    login(client, "admin@example.org")
    rows = list(csv.DictReader(io.StringIO(client.get(url).get_data().decode("utf-8-sig"))))
    assert rows
    codes = _codes()
    for row in rows:
        for heading, value in row.items():
            if "joins the files" in heading or "sorts by date" in heading:
                continue
            parts = {value, *value.split(", ")}
            assert not parts & codes, f"{heading}: {value!r} is a code"
            assert not re.fullmatch(r"\d{4}-\d{2}", value), f"{heading}: {value!r}"
            assert not re.search(r"\+00:00|T\d\d:", value), f"{heading}: {value!r}"


def test_the_people_csv_says_how_to_reach_each_person_in_words(lead_client, session, region):
    from buddy import phones

    a = session.get(Person, region["A"].id)
    a.country, a.languages, a.sensitive_consent_at = "NG", ["yo", "ig"], NOW
    session.add(a)
    session.commit()
    rows = list(csv.DictReader(io.StringIO(
        lead_client.get("/lead/export/people.csv").get_data().decode("utf-8-sig"))))
    row = next(r for r in rows if r["Name"] == "Newcomer A")
    assert row["Person number (joins the files)"] == str(a.id)
    assert row["Email"] == session.get(User, a.user_id).email
    # A leading "+" starts a formula in a spreadsheet: the cell is neutralised like any other.
    assert (row["Mobile"], row["Mobile confirmed"]) == ("'" + phones.display(a.phone), "Yes")
    assert row["Prefers"] == "Text message (SMS)"
    assert (row["Role"], row["Status"], row["Scheme"], row["Intake"]) == (
        "Newcomer", "Active", "Poole", "August 2026")
    assert row["Country of qualification"] == "Nigeria"
    assert row["Languages besides English"] == "Yoruba, Igbo"
    assert row["Interests"] == "Paediatrics, Medical education"
    anchor = next(r for r in rows if r["Name"] == "Anchor One")
    assert (anchor["Works in"], anchor["Would lead a family"]) == (
        "Primary care (general practice)", "Yes")
