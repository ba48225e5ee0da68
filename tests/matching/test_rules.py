"""One feasible and one infeasible test per hard rule (spec/matching.md, family rules 1-6).

Feasible: the solver honours the rule where it binds, and `validate` agrees.
Infeasible: a locked family that breaks the rule gives NoSolution naming the rule, and
`validate` flags a hand-made result that breaks it.
"""

import pytest

from matching import NoSolution, load_cohort, solve_families, validate

from .conftest import buddy, cohort, family_of, newcomer, solve_valid, unmatched_reason


def result_with(families, unmatched=()):
    return {
        "version": 1,
        "kind": "families",
        "settings": {"max_newcomers": 4, "max_extra_buddies": 2, "max_secondary": 1},
        "families": [
            {
                "id": f"f{i}",
                "region": f.get("region", "wessex"),
                "anchor": f["anchor"],
                "buddies": f.get("buddies", []),
                "newcomers": f["newcomers"],
            }
            for i, f in enumerate(families)
        ],
        "unmatched": [{"id": u, "reason": "test"} for u in unmatched],
    }


def no_solution(data, match):
    with pytest.raises(NoSolution, match=match):
        solve_families(load_cohort(data), time_limit_s=2, workers=1)


# Rule 1: all members of a family are in the same region.
def test_region_feasible():
    data = cohort(
        [
            newcomer("n-1", region="wessex"),
            buddy("b-1", region="london"),
            newcomer("n-2", region="london"),
        ]
    )
    _, result = solve_valid(data)
    assert family_of(result, "n-2")["anchor"] == "b-1"
    assert family_of(result, "n-1") is None
    assert "Wessex" in unmatched_reason(result, "n-1")


def test_region_infeasible():
    data = cohort(
        [newcomer("n-1", region="wessex"), buddy("b-1", region="london")],
        locked=[{"family": "x", "members": ["b-1", "n-1"]}],
    )
    no_solution(data, "rule 1")
    c = load_cohort(cohort([newcomer("n-1", region="wessex"), buddy("b-1", region="london")]))
    assert any(
        "rule 1" in v for v in validate(c, result_with([{"anchor": "b-1", "newcomers": ["n-1"]}]))
    )


# Rule 2: exactly one anchor, a buddy with can_anchor.
def test_anchor_feasible():
    data = cohort(
        [newcomer("n-1"), buddy("b-st2", stage="ST2", capacity=2), buddy("b-anchor", capacity=2)]
    )
    _, result = solve_valid(data)
    fam = family_of(result, "n-1")
    assert fam["anchor"] == "b-anchor"
    assert "b-st2" not in [f["anchor"] for f in result["families"]]


def test_anchor_infeasible():
    people = [newcomer("n-1"), buddy("b-st2", stage="ST2")]
    _, result = solve_valid(cohort(people))
    assert result["families"] == []
    assert "no buddy who can anchor" in unmatched_reason(result, "n-1")
    no_solution(cohort(people, locked=[{"family": "x", "members": ["b-st2", "n-1"]}]), "rule 2")
    c = load_cohort(cohort(people))
    assert any(
        "rule 2" in v for v in validate(c, result_with([{"anchor": "b-st2", "newcomers": ["n-1"]}]))
    )


# Rule 3: at most 2 more buddies, at most 1 of them in secondary care.
def test_buddy_limits_feasible():
    people = [newcomer("n-1", languages=["ar"], interests=["research"], country="EG")]
    people.append(buddy("b-a"))
    # Four helpful extras, three in secondary care: only two fit, one of them secondary.
    people += [
        buddy(f"b-s{i}", stage="qualified", setting="secondary", languages=["ar"], can_anchor=False)
        for i in range(3)
    ]
    people.append(buddy("b-p", stage="ST2", interests=["research"], country="EG"))
    _, result = solve_valid(cohort(people))
    fam = family_of(result, "n-1")
    assert len(fam["buddies"]) == 2
    assert sum(b.startswith("b-s") for b in fam["buddies"]) == 1


def test_buddy_limits_infeasible():
    people = [
        newcomer("n-1"),
        buddy("b-a"),
        buddy("b-1", stage="ST2"),
        buddy("b-2", stage="ST2"),
        buddy("b-3", stage="ST2"),
    ]
    no_solution(
        cohort(people, locked=[{"family": "x", "members": ["b-a", "b-1", "b-2", "b-3", "n-1"]}]),
        "rule 3",
    )
    people += [buddy("b-s1", setting="secondary"), buddy("b-s2", setting="secondary")]
    c = load_cohort(cohort(people))
    bad = result_with([{"anchor": "b-a", "buddies": ["b-s1", "b-s2"], "newcomers": ["n-1"]}])
    assert any("secondary" in v and "rule 3" in v for v in validate(c, bad))


# Rule 4: 1 to 4 newcomers, never more than any buddy's capacity.
def test_newcomer_limits_feasible():
    people = [newcomer(f"n-{i}") for i in range(6)] + [
        buddy("b-a", capacity=2),
        buddy("b-x", stage="ST2", capacity=1, languages=["ar"]),
    ]
    _, result = solve_valid(cohort(people))
    assert len(result["families"]) == 1
    fam = result["families"][0]
    assert (
        len(fam["newcomers"]) == 2 and fam["buddies"] == []
    )  # b-x (capacity 1) would cut the family to 1
    assert (
        "no anchor with free capacity" in unmatched_reason(result, "n-5")
        or len(result["unmatched"]) == 4
    )


def test_newcomer_limits_infeasible():
    people = [newcomer(f"n-{i}") for i in range(3)] + [buddy("b-a", capacity=2)]
    no_solution(
        cohort(people, locked=[{"family": "x", "members": ["b-a", "n-0", "n-1", "n-2"]}]), "rule 4"
    )
    c = load_cohort(cohort(people))
    assert any(
        "capacity" in v
        for v in validate(c, result_with([{"anchor": "b-a", "newcomers": ["n-0", "n-1", "n-2"]}]))
    )
    assert any(
        "rule 4" in v
        for v in validate(
            c, result_with([{"anchor": "b-a", "newcomers": []}], unmatched=["n-0", "n-1", "n-2"])
        )
    )


# Rule 5: each person in at most one family; locked families keep their members and id.
def test_locked_feasible():
    people = [newcomer(f"n-{i}") for i in range(4)] + [
        buddy("b-1", capacity=2),
        buddy("b-2", capacity=2),
    ]
    locked = [{"family": "wessex-001", "members": ["b-2", "n-3"]}]
    _, result = solve_valid(cohort(people, locked=locked))
    fam = {f["id"]: f for f in result["families"]}
    assert fam["wessex-001"]["anchor"] == "b-2" and "n-3" in fam["wessex-001"]["newcomers"]
    ids = [f["id"] for f in result["families"]]
    assert len(ids) == len(set(ids)) and "wessex-002" in ids  # new ids skip the locked one


def test_locked_infeasible():
    # The only newcomer avoids the locked anchor, so the locked family can get no newcomer.
    people = [newcomer("n-1"), buddy("b-1")]
    no_solution(
        cohort(people, locked=[{"family": "x", "members": ["b-1"]}], avoid=[["n-1", "b-1"]]),
        "rule 4",
    )
    people = [newcomer("n-1"), buddy("b-1"), buddy("b-2")]
    c = load_cohort(cohort(people, locked=[{"family": "x", "members": ["b-1", "n-1"]}]))
    twice = result_with(
        [{"anchor": "b-1", "newcomers": ["n-1"]}, {"anchor": "b-2", "newcomers": ["n-1"]}]
    )
    problems = validate(c, twice)
    assert any("also in family" in v for v in problems)
    assert any("locked family x is missing" in v for v in problems)


# Rule 6: no avoid pair shares a family.
def test_avoid_feasible():
    people = [newcomer("n-1", languages=["ar"]), buddy("b-1", languages=["ar"]), buddy("b-2")]
    _, result = solve_valid(cohort(people, avoid=[["n-1", "b-1"]]))
    fam = family_of(result, "n-1")
    assert fam["anchor"] == "b-2" and "b-1" not in fam["buddies"]


def test_avoid_infeasible():
    people = [newcomer("n-1"), buddy("b-1")]
    no_solution(
        cohort(people, locked=[{"family": "x", "members": ["b-1", "n-1"]}], avoid=[["b-1", "n-1"]]),
        "rule 6",
    )
    c = load_cohort(cohort(people, avoid=[["b-1", "n-1"]]))
    assert any(
        "avoid" in v for v in validate(c, result_with([{"anchor": "b-1", "newcomers": ["n-1"]}]))
    )


# Rule 6: same_gender_anchor is honoured.
def test_same_gender_feasible():
    people = [
        newcomer("n-1", gender="M", same_gender_anchor=True, languages=["ar"]),
        buddy("b-f", gender="F", languages=["ar"]),
        buddy("b-m", gender="M"),
    ]
    _, result = solve_valid(cohort(people))
    assert family_of(result, "n-1")["anchor"] == "b-m"


def test_same_gender_infeasible():
    people = [newcomer("n-1", gender="M", same_gender_anchor=True), buddy("b-f", gender="F")]
    _, result = solve_valid(cohort(people))
    assert unmatched_reason(result, "n-1").startswith("asked for a same-gender anchor")
    no_solution(cohort(people, locked=[{"family": "x", "members": ["b-f", "n-1"]}]), "rule 6")
    c = load_cohort(cohort(people))
    assert any(
        "same-gender" in v
        for v in validate(c, result_with([{"anchor": "b-f", "newcomers": ["n-1"]}]))
    )


def test_every_newcomer_accounted_for():
    people = [newcomer("n-1"), newcomer("n-2"), buddy("b-1")]
    c = load_cohort(cohort(people))
    assert any(
        "neither in a family nor in unmatched" in v
        for v in validate(c, result_with([{"anchor": "b-1", "newcomers": ["n-1"]}]))
    )
