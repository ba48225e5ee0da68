"""Solver behaviour: coverage first, determinism, time limits, progress, ids and reasons."""

import json

from matching import load_cohort, metrics, solve_families, validate
from matching.config import family_settings
from matching.flow import max_coverage
from matching.instance import RegionInstance
from matching.synthetic import region_cohort

from .conftest import buddy, cohort, newcomer, solve_valid


def test_small_region_matches_everyone_the_flow_allows(small_region):
    c, result = solve_valid(small_region, time_limit_s=5)
    inst = RegionInstance(c, "wessex", family_settings())
    best, _ = max_coverage(inst)
    assert result["coverage_max"] == best
    assert result["metrics"]["matched"] == best
    assert result["objective"] <= result["bound"]
    assert result["status"] in ("optimal", "feasible")
    assert result["settings"]["weights"] == family_settings().weights


def test_deterministic_for_seed_and_workers(small_region):
    c = load_cohort(small_region)
    a = solve_families(c, time_limit_s=5, seed=3, workers=1)
    b = solve_families(c, time_limit_s=5, seed=3, workers=1)

    def strip(r):
        return json.dumps(
            {k: v for k, v in r.items() if k not in ("seconds", "regions")}, sort_keys=True
        )

    assert strip(a) == strip(b)
    assert validate(c, a) == []


def test_time_limit_returns_feasible_with_bound():
    data = region_cohort("north-east", seed=2, newcomers=80)
    c = load_cohort(data)
    result = solve_families(c, time_limit_s=0.3, workers=1)
    assert validate(c, result) == []
    assert result["status"] in ("feasible", "optimal")
    assert result["bound"] >= result["objective"]
    assert result["metrics"]["matched"] == result["coverage_max"]


def test_quality_beats_or_equals_greedy(small_region):
    _, result = solve_valid(small_region, time_limit_s=5)
    region = result["regions"]["wessex"]
    assert (region["matched"], region["objective"]) >= (
        region["greedy_matched"],
        region["greedy_quality"],
    )


def test_prefers_shared_language_and_scheme():
    people = [
        newcomer("n-1", languages=["ur"], scheme="poole"),
        newcomer("n-2", languages=["yo"], scheme="salisbury"),
        buddy("b-1", languages=["yo"], scheme="salisbury", capacity=1),
        buddy("b-2", languages=["ur"], scheme="poole", capacity=1),
    ]
    _, result = solve_valid(cohort(people))
    by_anchor = {f["anchor"]: f["newcomers"] for f in result["families"]}
    assert by_anchor == {"b-1": ["n-2"], "b-2": ["n-1"]}
    reasons = result["families"][0]["reasons"]
    text = " ".join(sum(reasons.values(), []))
    assert "speaks" in text and "same scheme as" in text
    assert result["status"] == "optimal"


def test_every_newcomer_has_reasons(small_region):
    _, result = solve_valid(small_region, time_limit_s=5)
    for fam in result["families"]:
        assert set(fam["reasons"]) == set(fam["newcomers"])
        assert all(fam["reasons"][n] for n in fam["newcomers"])
    assert all(u["reason"] for u in result["unmatched"])


def test_progress_is_reported(small_region):
    events = []
    solve_valid(small_region, time_limit_s=3, progress=events.append)
    assert events and events[-1]["phase"] == "finished"
    assert {"phase", "objective", "bound", "elapsed", "region"} <= set(events[0])


def test_two_regions_in_parallel_processes():
    data = region_cohort("wessex", seed=5, newcomers=12)
    other = region_cohort("north-east", seed=5, newcomers=12)
    data["people"] += [p for p in other["people"] if p["role"] != "ambassador"]
    events = []
    c, result = solve_valid(data, time_limit_s=4, workers=2, progress=events.append)
    assert set(result["regions"]) == {"wessex", "north-east"}
    assert {e["region"] for e in events if e["region"]} == {"wessex", "north-east"}
    assert metrics(c, result)["size_spread_by_region"].keys() == {"wessex", "north-east"}


def test_empty_cohort():
    c, result = solve_valid(cohort([]))
    assert result["families"] == [] and result["unmatched"] == []
    assert result["status"] == "optimal"


def test_fairness_reports_groups_and_gaps(small_region):
    c, result = solve_valid(small_region, time_limit_s=3)
    fair = result["metrics"]["fairness"]
    assert set(fair) == {"country", "language"}
    assert fair["country"]["groups"]


def test_who_waits_is_chosen_by_arrival_not_quality():
    # One anchor with room for one: the earlier arrival is matched although the later one
    # shares a language and the scheme with the anchor.
    people = [
        newcomer("n-late", arrival="2027-08-05", languages=["ar"], scheme="poole"),
        newcomer("n-early", arrival="2027-02-01"),
        buddy("b-1", capacity=1, languages=["ar"], scheme="poole"),
    ]
    _, result = solve_valid(cohort(people))
    assert result["families"][0]["newcomers"] == ["n-early"]
    assert (
        "no anchor with free capacity"
        in {u["id"]: u["reason"] for u in result["unmatched"]}["n-late"]
    )
    assert result["settings"]["choose_unmatched"] == "arrival"


def test_quality_choice_when_configured():
    from dataclasses import replace

    people = [
        newcomer("n-late", arrival="2027-08-05", languages=["ar"], scheme="poole"),
        newcomer("n-early", arrival="2027-02-01"),
        buddy("b-1", capacity=1, languages=["ar"], scheme="poole"),
    ]
    settings = replace(family_settings(), choose_unmatched="quality")
    _, result = solve_valid(cohort(people), settings=settings)
    assert result["families"][0]["newcomers"] == ["n-late"]


def test_lp_failure_falls_back_to_a_valid_result(small_region, monkeypatch):
    import matching.phases as phases_module
    from matching.model import SolverFailure

    def broken(*args, **kwargs):
        raise SolverFailure("the LP solver returned status 4")

    monkeypatch.setattr(phases_module, "generate_columns", broken)
    _, result = solve_valid(small_region, time_limit_s=2)
    region = result["regions"]["wessex"]
    assert region["status"] == "feasible" and "LP solver" in region["picked"]
    assert region["matched"] == region["coverage_max"]
