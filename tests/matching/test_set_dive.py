"""Set dive (buddy sets fixed a few at a time, LP re-solved) and pricing in worker processes."""

from __future__ import annotations

import time
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from matching import load_cohort, validate
from matching.assemble import assign_newcomers
from matching.config import family_settings
from matching.flow import max_coverage
from matching.greedy import greedy_region
from matching.instance import RegionInstance
from matching.model import (
    LPMaster,
    fixed_set_columns,
    generate_columns,
    generation_instance,
    price_all,
    set_dive,
)
from matching.phases import set_dive_families, worker_result
from matching.pricing import AnchorPricer, PricingPool
from matching.synthetic import region_cohort

from .test_lns import _as_result


def _generated(data, region):
    """A region's instance at the generation weight, and a master grown by a few rounds."""
    cohort = load_cohort(data)
    inst = generation_instance(RegionInstance(cohort, region, family_settings()))
    coverage, _ = max_coverage(inst)
    master = LPMaster(inst)
    generate_columns(
        inst, master, deadline=time.monotonic() + 5, max_rounds=15, coverage=coverage, prove=False
    )
    return cohort, inst, master


def _with_locked_family(region, seed, newcomers):
    """A region cohort with one of its greedy families (with an extra buddy) locked."""
    data = region_cohort(region, seed=seed, newcomers=newcomers)
    inst = RegionInstance(load_cohort(data), region, family_settings())
    fam = next(f for f in greedy_region(inst) if f[1] and f[2])
    a, extras, news = fam
    data["locked"] = [
        {
            "family": f"{region}-locked",
            "members": [
                inst.buddies[a].id,
                *(inst.buddies[b].id for b in extras),
                inst.newcomers[news[0]].id,
            ],
            "anchor": inst.buddies[a].id,
        }
    ]
    return data


def test_fixed_set_columns_keep_the_set_and_take_the_best_newcomers():
    cohort, inst, master = _generated(region_cohort("wessex", seed=2, newcomers=40), "wessex")
    _, pi, _ = master.solve()
    checked = 0
    for a in inst.anchors[:6]:
        extras = next((c[1] for c in master.columns if c[0] == a and c[1]), ())
        fams = fixed_set_columns(inst, a, extras, pi)
        assert fams
        sizes = [len(f[2]) for f in fams]
        assert sizes == sorted(set(sizes))
        for fam in fams:
            assert fam[0] == a and fam[1] == extras
            assert inst.family_violations(fam) == []
            # Each family is the top of the ranking by reduced value: nobody left out who
            # could have taken a place is worth more than anyone chosen.
            value = {
                n: inst.W + inst.newcomer_points(n, a, extras) - pi[n]
                for n in range(len(inst.newcomers))
                if inst.eligible[n, a] and not any(inst.nb_avoid[n, b] for b in extras)
            }
            chosen = [value[n] for n in fam[2]]
            others = [v for n, v in value.items() if n not in fam[2]]
            assert min(chosen) >= max(others, default=-np.inf) - 1e-9
            checked += 1
    assert checked >= 6


def test_fixed_set_columns_of_a_locked_anchor_keep_its_newcomer():
    data = _with_locked_family("thames-valley", seed=3, newcomers=40)
    cohort = load_cohort(data)
    inst = RegionInstance(cohort, "thames-valley", family_settings())
    a = next(iter(inst.locked_of_anchor))
    locked = inst.locked[inst.locked_of_anchor[a]]
    fams = fixed_set_columns(inst, a, locked.buddies, np.zeros(len(inst.newcomers)))
    assert fams
    for fam in fams:
        assert set(locked.newcomers) <= set(fam[2])
        assert inst.family_violations(fam) == []


def _check_sets(inst, sets):
    """Every buddy in at most one set, every anchor leading a set or in one."""
    seen = [b for a, extras in sets.items() for b in (a, *extras)]
    assert len(seen) == len(set(seen))
    assert set(inst.anchors) <= set(seen)


def test_set_dive_gives_valid_families_restores_the_master_and_is_deterministic():
    data = _with_locked_family("north-east", seed=4, newcomers=70)
    cohort, inst, master = _generated(data, "north-east")
    lp_before, _, _ = master.solve()
    disabled_before = set(master.disabled)
    copies = [master.copy(), master.copy()]
    sets = set_dive(inst, master, deadline=time.monotonic() + 30)
    _check_sets(inst, sets)
    # Every column the dive switched off is on again, and the LP is the same LP.
    assert master.disabled == disabled_before
    assert abs(master.solve()[0] - lp_before) <= 1e-6 * abs(lp_before)
    assert [set_dive(inst, m, deadline=time.monotonic() + 30) for m in copies] == [sets, sets]
    for a, k in inst.locked_of_anchor.items():
        assert set(inst.locked[k].buddies) <= set(sets[a])
    families = [f for f in assign_newcomers(inst, sets) if not inst.family_violations(f)]
    assert sum(len(f[2]) for f in families) == max_coverage(inst)[0]
    assert validate(cohort, _as_result(cohort, inst, families)) == []


def test_set_dive_past_its_deadline_fixes_the_rest_at_once():
    cohort, inst, master = _generated(region_cohort("wessex", seed=5, newcomers=50), "wessex")
    sets = set_dive(inst, master, deadline=time.monotonic() - 1.0)
    _check_sets(inst, sets)
    families = [f for f in assign_newcomers(inst, sets) if not inst.family_violations(f)]
    assert validate(cohort, _as_result(cohort, inst, families)) == []


def test_pricing_in_worker_processes_matches_pricing_in_process():
    cohort, inst, master = _generated(region_cohort("wessex", seed=6, newcomers=40), "wessex")
    _, pi, mu = master.solve()
    pricers = [AnchorPricer(inst, a) for a in inst.anchors]
    here = price_all(pricers, pi, mu, exact=True)
    pool = PricingPool(inst, 2)
    try:
        pool.warm()  # pricers built ahead in the workers give the same results
        there = pool.price(pi, mu, exact=True)
        again = pool.price(pi, mu, exact=True)
    finally:
        pool.close()
    assert again == there
    assert [cols for cols, _ in there] == [cols for cols, _ in here]
    assert np.allclose([ub for _, ub in there], [ub for _, ub in here])


def test_a_set_dive_in_a_worker_process_gives_the_dive_of_this_process():
    # The worker gets the master by pickling (its columns; the LP is rebuilt there).
    data = _with_locked_family("north-east", seed=4, newcomers=70)
    cohort, inst, master = _generated(data, "north-east")
    here = set_dive_families(inst, master.copy(), deadline=time.monotonic() + 30, fraction=0.3)
    pool = PricingPool(inst, 2)
    try:
        there = pool.run(
            set_dive_families, inst, master, deadline=time.monotonic() + 30, fraction=0.3
        ).result()
    finally:
        pool.close()
    assert there == here
    assert sum(len(f[2]) for f in there) == max_coverage(inst)[0]
    assert validate(cohort, _as_result(cohort, inst, there)) == []


def test_a_failed_or_late_worker_dive_counts_as_no_result():
    # The region's other candidates stand: the solve must not fail or wait for it.
    lost = Future()
    lost.set_exception(BrokenProcessPool("a worker died"))
    late = Future()  # still running
    started = time.monotonic()
    assert worker_result(lost, timeout=5.0) is None
    assert worker_result(late, timeout=0.2) is None
    assert worker_result(None, timeout=5.0) is None
    assert time.monotonic() - started < 2.0


def test_generation_goes_on_past_its_deadline_only_while_the_lp_climbs():
    data = region_cohort("wessex", seed=7, newcomers=60)
    runs = {}
    for extend in (False, True):
        cohort = load_cohort(data)
        inst = generation_instance(RegionInstance(cohort, "wessex", family_settings()))
        coverage, _ = max_coverage(inst)
        master = LPMaster(inst)  # empty: the LP climbs for many rounds from here
        now = time.monotonic()
        runs[extend] = generate_columns(
            inst,
            master,
            deadline=now,  # already past
            max_rounds=40,
            coverage=coverage,
            prove=False,
            extend_to=now + 30 if extend else None,
        )
    assert runs[False].rounds == 1
    assert runs[True].rounds > 4
    # It stopped because the LP settled (or the rounds ran out), not at the 30 s limit.
    assert runs[True].seconds < 30
    assert runs[True].lp_value > runs[False].lp_value
