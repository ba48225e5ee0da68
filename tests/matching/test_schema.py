"""Bad cohorts are refused with a message naming the field path and the person."""

import copy

import pytest

from matching import CohortError, load_cohort

from .conftest import buddy, cohort, newcomer


def good():
    return cohort([newcomer("n-1", languages=["ar"]), buddy("b-1")])


def test_good_cohort_loads_with_defaults():
    c = load_cohort(good())
    b = c.person("b-1")
    assert b.can_anchor is True  # qualified, primary care
    assert load_cohort(cohort([buddy("b-2", stage="ST2")])).person("b-2").can_anchor is False
    assert c.person("n-1").languages == {"ar"}


def _with(change):
    data = good()
    change(data)
    return data


BAD = [
    ("not an object", lambda d: d["people"].__setitem__(0, "x"), "people[0]"),
    ("missing id", lambda d: d["people"][0].pop("id"), "people[0].id"),
    ("id wrong type", lambda d: d["people"][0].__setitem__("id", 7), "people[0].id"),
    ("duplicate id", lambda d: d["people"][1].__setitem__("id", "n-1"), "people[1].id"),
    ("unknown role", lambda d: d["people"][0].__setitem__("role", "mentor"), "people[0].role"),
    ("missing region", lambda d: d["people"][0].pop("region"), "people[0].region"),
    ("unknown region", lambda d: d["people"][0].__setitem__("region", "mars"), "people[0].region"),
    ("region wrong type", lambda d: d["people"][0].__setitem__("region", 3), "people[0].region"),
    (
        "unknown scheme",
        lambda d: d["people"][0].__setitem__("scheme", "oxford"),
        "people[0].scheme",
    ),
    ("bad stage", lambda d: d["people"][0].__setitem__("stage", "ST9"), "people[0].stage"),
    (
        "bad setting",
        lambda d: d["people"][1].__setitem__("setting", "hospital"),
        "people[1].setting",
    ),
    ("missing setting", lambda d: d["people"][1].pop("setting"), "people[1].setting"),
    (
        "language name",
        lambda d: d["people"][0].__setitem__("languages", ["Arabic"]),
        'people[0].languages[0]: "Arabic" is not an ISO 639-1 code',
    ),
    (
        "languages not list",
        lambda d: d["people"][0].__setitem__("languages", "ar"),
        "people[0].languages",
    ),
    (
        "bad interest",
        lambda d: d["people"][0].__setitem__("interests", ["golf"]),
        "people[0].interests[0]",
    ),
    ("bad country", lambda d: d["people"][0].__setitem__("country", "EGY"), "people[0].country"),
    (
        "capacity negative",
        lambda d: d["people"][1].__setitem__("capacity", -1),
        "people[1].capacity",
    ),
    ("capacity bool", lambda d: d["people"][1].__setitem__("capacity", True), "people[1].capacity"),
    ("capacity missing", lambda d: d["people"][1].pop("capacity"), "people[1].capacity"),
    (
        "can_anchor string",
        lambda d: d["people"][1].__setitem__("can_anchor", "yes"),
        "people[1].can_anchor",
    ),
    (
        "bad arrival",
        lambda d: d["people"][0].__setitem__("arrival", "4/8/2027"),
        "people[0].arrival",
    ),
    (
        "same_gender not bool",
        lambda d: d["people"][0].__setitem__("same_gender_anchor", 1),
        "people[0].same_gender_anchor",
    ),
    (
        "wants_ambassador not bool",
        lambda d: d["people"][0].__setitem__("wants_ambassador", "y"),
        "people[0].wants_ambassador",
    ),
    ("version", lambda d: d.__setitem__("version", 2), "version"),
    ("people not list", lambda d: d.__setitem__("people", {}), "people"),
    (
        "locked unknown person",
        lambda d: d.__setitem__("locked", [{"family": "f1", "members": ["b-1", "zz"]}]),
        "locked[0].members[1]",
    ),
    (
        "locked twice",
        lambda d: d.__setitem__(
            "locked", [{"family": "f1", "members": ["b-1"]}, {"family": "f2", "members": ["b-1"]}]
        ),
        "locked[1].members[0]",
    ),
    (
        "locked no family id",
        lambda d: d.__setitem__("locked", [{"members": ["b-1"]}]),
        "locked[0].family",
    ),
    (
        "locked anchor not member",
        lambda d: d.__setitem__("locked", [{"family": "f1", "members": ["n-1"], "anchor": "b-1"}]),
        "locked[0].anchor",
    ),
    ("avoid unknown person", lambda d: d.__setitem__("avoid", [["n-1", "nobody"]]), "avoid[0][1]"),
    ("avoid not a pair", lambda d: d.__setitem__("avoid", [["n-1"]]), "avoid[0]"),
    ("avoid self", lambda d: d.__setitem__("avoid", [["n-1", "n-1"]]), "avoid[0]"),
]


@pytest.mark.parametrize(("label", "change", "expected"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_names_field(label, change, expected):
    with pytest.raises(CohortError) as err:
        load_cohort(_with(change))
    assert expected in str(err.value)


def test_message_names_the_person():
    data = good()
    data["people"][0]["country"] = "XX"
    with pytest.raises(CohortError, match=r"people\[0\]\.country: .* \(person n-1\)"):
        load_cohort(data)


def test_not_a_dict():
    with pytest.raises(CohortError):
        load_cohort([1, 2])


def test_unknown_fields_are_ignored_and_english_is_implicit():
    data = good()
    data["people"][0]["favourite_colour"] = "blue"
    data["people"][0]["languages"] = ["en", "ar"]
    c = load_cohort(copy.deepcopy(data))
    assert c.person("n-1").languages == {"ar"}
