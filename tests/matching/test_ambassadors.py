"""Ambassador pairing: at most one ambassador per newcomer who asked, capacity, avoid pairs."""

from matching import load_cohort, solve_ambassadors, validate

from .conftest import ambassador, cohort, newcomer


def test_pairs_respect_rules_and_prefer_country():
    people = [
        newcomer("n-1", wants_ambassador=True, country="EG", region="london"),
        newcomer("n-2", wants_ambassador=True, country="NG", region="london"),
        newcomer("n-3", wants_ambassador=False),
        ambassador("a-1", country="NG", capacity=1),
        ambassador("a-2", country="EG", capacity=1),
    ]
    c = load_cohort(cohort(people))
    result = solve_ambassadors(c)
    assert validate(c, result) == []
    pairs = {p["ambassador"]: p["newcomers"] for p in result["pairs"]}
    assert pairs == {"a-1": ["n-2"], "a-2": ["n-1"]}
    assert result["metrics"]["coverage"] == 1.0 and result["metrics"]["same_country"] == 1.0
    assert result["status"] == "optimal"


def test_capacity_and_avoid_leave_unmatched_with_reason():
    people = [newcomer(f"n-{i}", wants_ambassador=True) for i in range(3)] + [
        ambassador("a-1", capacity=1)
    ]
    c = load_cohort(cohort(people, avoid=[["n-0", "a-1"]]))
    result = solve_ambassadors(c)
    assert validate(c, result) == []
    assert result["metrics"]["matched"] == 1
    reasons = {u["id"]: u["reason"] for u in result["unmatched"]}
    assert "never together" in reasons["n-0"]
    assert "capacity" in reasons[sorted(set(reasons) - {"n-0"})[0]]


def test_validate_flags_broken_pairs():
    people = [
        newcomer("n-1", wants_ambassador=True),
        newcomer("n-2"),
        ambassador("a-1", capacity=1),
    ]
    c = load_cohort(cohort(people, avoid=[["n-1", "a-1"]]))
    bad = {"kind": "ambassadors", "pairs": [{"ambassador": "a-1", "newcomers": ["n-1", "n-2"]}]}
    problems = validate(c, bad)
    assert any("capacity" in p for p in problems)
    assert any("did not ask" in p for p in problems)
    assert any("avoid" in p for p in problems)
