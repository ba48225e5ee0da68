"""Survey results: the suppression rule, figures against a hand count, free text only to the
region's own lead, every region side by side for the admin."""

from __future__ import annotations

import csv
import io
import itertools
import random

import pytest

from buddy import clock
from buddy import surveys as survey_config
from buddy.services import survey_results as results
from buddy.services import surveys as survey_service
from tests.factories import login

REGION, OTHER = "wessex", "london"
INTAKE = "2027-08"


# --- The rule -------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "seen"), [(0, "<5"), (4, "<5"), (5, 5), (6, 6)])
def test_a_figure_alone_is_hidden_below_5(value, seen):
    assert results.shown(value) == seen
    assert results.protect({"a": value}) == {"a": seen}


@pytest.mark.parametrize(("small", "seen"), [(4, "<5"), (5, 5), (6, 6)])
def test_a_small_answer_beside_its_total_cannot_be_worked_out(small, seen):
    values = {"yes": 12, "no": small, "maybe": 7}
    values["total"] = sum(values.values())
    shown = results.protect(values, [("total", ["yes", "no", "maybe"])])
    assert shown["no"] == seen
    if small < 5:
        # 12 + 7 from the total would say the hidden one: the next smallest is hidden too.
        assert shown == {"yes": 12, "no": "<5", "maybe": "hidden", "total": 23}
    else:
        assert shown == values


def _possible(shown: dict, groups: list, key) -> set[int]:
    """Every value `key` could have, given what is shown: "<5" is 0 to 4, "hidden" any."""
    unknown = [k for k, v in shown.items() if not isinstance(v, int)]
    total = max(v for v in shown.values() if isinstance(v, int)) if any(
        isinstance(v, int) for v in shown.values()) else 20
    ranges = [range(5) if shown[k] == "<5" else range(total + 1) for k in unknown]
    found = set()
    for guess in itertools.product(*ranges):
        values = {**shown, **dict(zip(unknown, guess, strict=True))}
        if all(values[t] == sum(values[m] for m in ms) for t, ms in groups):
            found.add(values[key])
    return found


@pytest.mark.parametrize("seed", range(300))
def test_no_small_number_can_be_worked_out_from_any_table(seed):
    """Random small tables (a total and its parts; regions and all regions): every figure
    shown as "<5" could still be at least two numbers, whatever arithmetic a reader does."""
    rng = random.Random(seed)
    parts = [rng.choice([0, 1, 2, 3, 4, 5, 6, 9]) for _ in range(rng.randint(2, 4))]
    values = {f"p{i}": v for i, v in enumerate(parts)}
    values["total"] = sum(parts)
    groups = [("total", [f"p{i}" for i in range(len(parts))])]
    shown = results.protect(values, groups)
    for key, value in shown.items():
        if value == "<5":
            assert len(_possible(shown, groups, key)) > 1, (values, shown)
        if isinstance(value, int):
            assert value == values[key]


# --- Figures against a hand count ------------------------------------------------------------

def _answer(session, person, *, survey="hello", intake=INTAKE, answers=(), sent=True):
    request = survey_service.ensure_request(
        session, person=person, survey=survey, intake=intake, family_id=None,
        audience="newcomer", sent_at=clock.now() if sent else None)
    session.commit()
    for key, value in answers:
        survey_service.answer(session, request=request, question_key=key, value=value)
    return request


FULL = (("help_with", "training"), ("confidence", "4"), ("meet", "online"),
        ("anything_else", ""))


@pytest.fixture
def answered(app, session, factory):
    """Wessex, August 2027: 9 asked; 7 answered every question, 1 stopped after the first,
    1 never began. Noise: another region and another intake."""
    kw = {"region": REGION, "scheme": "wessex:poole"}
    people = [factory.newcomer(**kw) for _ in range(9)]
    with app.app_context():
        for i, person in enumerate(people[:7]):
            answers = list(FULL)
            answers[0] = ("help_with", "training" if i < 6 else "living")
            answers[1] = ("confidence", str(1 + i % 5))
            if i == 0:
                answers[3] = ("anything_else", "Please help me find a nursery")
            _answer(session, person, answers=answers)
        _answer(session, people[7], answers=[("help_with", "people")])
        _answer(session, people[8])
        for person in [factory.newcomer(region=OTHER, scheme="london:barnet") for _ in range(3)]:
            _answer(session, person, answers=FULL)
        # Another intake of the same region.
        late = factory.newcomer(arrival_year="2028", arrival_month="2", arrival_day="3", **kw)
        _answer(session, late, intake="2028-02", answers=FULL)
    return people


def test_the_figures_match_a_hand_count(app, session, answered):
    found = {r.key: r for r in results.region_results(session, region=REGION, intake=INTAKE,
                                                      with_text=True)}
    hello = found["hello"]
    assert (hello.asked, hello.answered) == (9, 7)
    questions = {q.key: q for q in hello.questions}
    # help_with: training 6, living 1, people 1 (the one who stopped): 8 answered it.
    help_with = dict(questions["help_with"].answers)
    assert questions["help_with"].total == 8
    assert help_with["GP training: portfolio, exams and ARCP"] == 6
    assert help_with["Living in the area: housing, schools, transport"] == "<5"
    assert help_with["Meeting people and making friends"] == "<5"
    # The zeros are "<5" too, and nothing left shown lets them be worked out.
    assert help_with["How the NHS and GP practices work"] == "<5"
    # confidence 1..5 over 7 people: 2, 2, 1, 1, 1, every one below 5; the total is shown.
    assert questions["confidence"].total == 7
    assert {n for _, n in questions["confidence"].answers} == {"<5"}
    assert questions["meet"].total == 7
    # Everyone chose "online": showing 7 beside the total would say what each one chose.
    assert dict(questions["meet"].answers)["Online, by video call"] == "hidden"
    assert questions["anything_else"].texts == ["Please help me find a nursery"]
    # Surveys nobody was asked: 0 shown as "<5".
    assert (found["six_months"].asked, found["six_months"].answered) == ("<5", "<5")
    assert (found["hello"].not_asked, found["six_months"].not_asked) == (False, True)


def test_the_page_says_what_nobody_was_asked_and_that_no_outcome_was_uploaded(
        app, session, factory, answered):
    client = app.test_client()
    login(client, factory.staff("lead", region=REGION).email)
    page = client.get(f"/lead/results?intake={INTAKE}").get_data(as_text=True)
    assert "Nobody has been asked this survey about the newcomers of August 2027 yet" in page
    assert page.count("Nobody has been asked this survey") == 2  # eight weeks, six months
    assert 'id="answers-six_months-useful"' not in page and 'id="answers-hello-meet"' in page
    assert "No training outcomes have been uploaded for the newcomers of August 2027" in page


def test_the_lead_sees_the_same_figures_on_the_page_and_in_the_csv(app, session, factory,
                                                                     answered):
    client = app.test_client()
    login(client, factory.staff("lead", region=REGION).email)
    page = client.get(f"/lead/results?intake={INTAKE}").get_data(as_text=True)
    assert "Asked: <strong>9</strong>" in page
    assert "Answered every question: <strong>7</strong> (78%)" in page
    response = client.get(f"/lead/results.csv?intake={INTAKE}")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    figures = {(r["survey"], r["question"], r["answer"]): r["people"] for r in rows}
    hello = "Hello: starting GP training"
    assert figures[(hello, "", "Asked")] == "9"
    assert figures[(hello, "", "Answered every question")] == "7"
    assert figures[(hello, "What would you most like help with in your first weeks?",
                    "GP training: portfolio, exams and ARCP")] == "6"
    assert "nursery" not in response.get_data(as_text=True)


# --- Free text: the region's lead only -------------------------------------------------------

def test_free_text_is_for_the_regions_own_lead_only(app, session, factory, answered):
    text = "Please help me find a nursery"
    lead, other, admin = (app.test_client() for _ in range(3))
    login(lead, factory.staff("lead", region=REGION).email)
    login(other, factory.staff("lead", region=OTHER).email)
    login(admin, factory.staff("admin").email)
    assert text in lead.get(f"/lead/results?intake={INTAKE}").get_data(as_text=True)
    # Another region's lead reads their own region whatever the URL says.
    assert text not in other.get(f"/lead/results?intake={INTAKE}&region={REGION}").get_data(
        as_text=True)
    assert text not in admin.get(f"/lead/results?intake={INTAKE}&region={REGION}").get_data(
        as_text=True)
    assert text not in admin.get(f"/admin/results?intake={INTAKE}").get_data(as_text=True)
    assert text not in lead.get(f"/lead/results.csv?intake={INTAKE}").get_data(as_text=True)
    member = app.test_client()
    login(member, "member-of-nothing@example.org")
    for url in ("/lead/results", "/admin/results", "/lead/results.csv"):
        assert member.get(url).status_code in (302, 404)


def test_members_cannot_reach_results(app, factory, answered):
    person = factory.newcomer(region=REGION, scheme="wessex:poole")
    client = app.test_client()
    login(client, factory.user_of(person).email)
    for url in ("/lead/results", "/lead/results.csv", "/admin/results", "/lead/outcomes/",
                "/admin/analysts.csv", "/lead/figures"):
        assert client.get(url).status_code == 404


# --- Every region, this year beside last year -------------------------------------------------

def test_the_admin_sees_every_region_and_no_region_can_be_worked_out_from_the_total(
        app, session, factory, answered):
    regions = [REGION, OTHER]
    table = results.national_responses(session, regions=regions, intake=INTAKE)["hello"]
    # Wessex 9 asked; London 3 ("<5"): all regions' 12 would give London away beside
    # Wessex's 9 (which Wessex's own page shows), so all regions' figure is hidden.
    assert table[OTHER]["asked"] == "<5"
    assert table[REGION]["asked"] == 9
    assert table[results.ALL_REGIONS]["asked"] == "hidden"
    answers = results.national_answers(session, regions=regions, intake=INTAKE)
    meet = answers[("hello", "meet")]
    # All 10 chose "online" (7 in Wessex, 3 in London): shown beside the zeros, any of the
    # three figures would say what everyone chose; all regions' 10 answered, beside Wessex's
    # 7, would say London's 3.
    assert meet[OTHER]["online"] == "<5"
    assert meet[REGION]["online"] == meet[results.ALL_REGIONS]["online"] == "hidden"
    assert meet[REGION][results.TOTAL] == 7
    assert meet[results.ALL_REGIONS][results.TOTAL] == "hidden"
    # The national row of a region is the region's own page's.
    wessex = {q.key: q for q in next(r for r in results.region_results(
        session, region=REGION, intake=INTAKE, with_text=False) if r.key == "hello").questions}
    assert [n for _, n in wessex["meet"].answers] == [
        meet[REGION][o.key] for o in survey_config.surveys()["hello"].question("meet").options]
    client = app.test_client()
    login(client, factory.staff("admin").email)
    page = client.get(f"/admin/results?intake={INTAKE}").get_data(as_text=True)
    assert "August 2027" in page and "August 2026" in page
    # Nobody was asked in August 2026, nor about eight weeks or six months this year: said
    # in words, with no column or table of "<5" for it.
    assert ('id="not-asked-hello">Nobody has been asked this survey about the newcomers of '
            'August 2026.') in page
    assert "Nobody has been asked this survey about the newcomers of August 2027 or " \
           "August 2026." in page
    assert "Asked, August 2026" not in page and 'id="answers-six_months-useful"' not in page
    assert 'id="responses-hello"' in page and 'id="answers-hello-meet"' in page
    assert "nursery" not in page
    assert "Download the analysts" in page


def test_last_year_is_the_same_month_a_year_before():
    assert results.last_year("2027-08") == "2026-08"
    assert results.last_year("2028-02") == "2027-02"


def test_the_national_indicators_hide_a_region_that_the_total_would_give_away(
        app, session, factory):
    """3 newcomers in London, 9 in Wessex: the all-regions 12 would say London's 3."""
    from datetime import date

    from buddy.services import indicators

    for region, scheme, n in (("london", "london:barnet", 3), (REGION, "wessex:poole", 9)):
        for _ in range(n):
            factory.newcomer(region=region, scheme=scheme)
    today, regions = date(2027, 5, 1), [REGION, OTHER]
    table = indicators.national(session, regions, today, INTAKE)
    total = indicators.series(session, regions, today, [INTAKE])[INTAKE]
    assert (table[OTHER]["signed_up"], total["signed_up"]) == ("<5", 12)
    assert table[REGION]["signed_up"] == "hidden"
    # A region with nobody may be worked out: it says nothing about anyone.
    regions = [REGION, "north-east"]
    table = indicators.national(session, regions, today, INTAKE)
    assert (table[REGION]["signed_up"], table["north-east"]["signed_up"]) == (9, "<5")
    assert indicators.series(session, regions, today, [INTAKE])[INTAKE]["signed_up"] == 9
