"""Column generation internals: repair columns and pricing with locked buddies."""

import numpy as np

from matching import load_cohort, solve_families, validate
from matching.config import family_settings
from matching.greedy import greedy_region
from matching.instance import RegionInstance
from matching.model import LPMaster, add_repairs, generation_instance, price_all
from matching.pricing import AnchorPricer
from matching.synthetic import region_cohort


def _master(data, region):
    cohort = load_cohort(data)
    inst = generation_instance(RegionInstance(cohort, region, family_settings()))
    master = LPMaster(inst)
    for fam in greedy_region(inst):
        master.add(fam)
    return cohort, inst, master


def test_repairs_are_valid_remainders_of_used_families():
    data = region_cohort("thames-valley", seed=1, newcomers=50)
    cohort, inst, master = _master(data, "thames-valley")
    _, pi, mu = master.solve()
    support = [master.columns[i] for i in np.flatnonzero(master.primal() > 1e-6)]
    first = len(master.columns)
    pricers = [AnchorPricer(inst, a) for a in inst.anchors]
    for cols, _ in price_all(pricers, pi, mu, exact=False):
        for fam in cols:
            master.add(fam)
    assert len(master.columns) > first
    new = master.columns[first:]
    added = add_repairs(inst, master, first, support)
    assert added == len(master.columns) - first - len(new)
    for a, extras, news in master.columns[first + len(new) :]:
        assert news and not inst.family_violations((a, extras, news))
        # A remainder keeps the anchor and a subset of one used family's people.
        assert any(
            s[0] == a
            and set(extras) <= set(s[1])
            and set(news) < set(s[2])
            or s[0] == a
            and set(extras) < set(s[1])
            and set(news) <= set(s[2])
            for s in support
        )
    result = solve_families(cohort, time_limit_s=5, seed=0, workers=1)
    assert validate(cohort, result) == []


def test_pricing_counts_the_duals_of_a_locked_familys_buddies():
    data = region_cohort("thames-valley", seed=3, newcomers=40)
    first = solve_families(load_cohort(data), time_limit_s=5, seed=0, workers=1)
    with_extra = [f for f in first["families"] if f["buddies"]]
    assert with_extra
    fam = with_extra[0]
    data["locked"] = [
        {
            "family": fam["id"],
            "members": [fam["anchor"], *fam["buddies"], *fam["newcomers"]],
            "anchor": fam["anchor"],
        }
    ]
    cohort, inst, _ = _master(data, "thames-valley")
    a = next(iter(inst.locked_of_anchor))
    pricer = AnchorPricer(inst, a)
    assert pricer.forced_b
    pi = np.zeros(len(inst.newcomers))
    mu = np.zeros(len(inst.buddies))
    _, ub = pricer.price(pi, mu, exact=True)
    # Moving dual value between the anchor and its locked buddy changes no family's reduced
    # cost (both are in every family of this anchor), so the bound must not move either.
    mu[a], mu[pricer.forced_b[0]] = -1000.0, 1000.0
    _, ub_shifted = pricer.price(pi, mu, exact=True)
    assert abs(ub - ub_shifted) < 1e-6
    result = solve_families(cohort, time_limit_s=8, seed=0, workers=1)
    assert validate(cohort, result) == []
    assert result["bound"] - result["objective"] <= 0.05 * result["bound"]
