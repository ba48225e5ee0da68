"""Exact pricing against brute force: its bound on an anchor's best reduced cost must hold.

The Lagrangian bound the solver reports is only proved if, for every anchor, the exact
pricing returns at least the best reduced cost of any valid family of that anchor.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from matching import load_cohort, solve_families, validate
from matching.config import family_settings
from matching.instance import RegionInstance
from matching.model import generation_instance
from matching.pricing import AnchorPricer
from matching.synthetic import region_cohort


def _small_cohort(locked: bool) -> dict:
    data = region_cohort("wessex", seed=1, newcomers=8)
    news = [p for p in data["people"] if p["role"] == "newcomer"]
    buddies = [p for p in data["people"] if p["role"] == "buddy"]
    # Mixed stages and settings so that the three-stage and hospital bonuses both vary.
    for p, stage in zip(
        news, ["ST1", "ST2", "ST3", "ST1", "ST2", "ST1", "ST3", "ST1"], strict=True
    ):
        p["stage"] = stage
    for i, b in enumerate(buddies):
        b["capacity"] = [4, 3, 2, 4, 1, 3, 4][i % 7]
    buddies[0].update(stage="ST3", setting="primary", can_anchor=True)
    buddies[1].update(stage="qualified", setting="primary", can_anchor=True)
    buddies[2].update(stage="qualified", setting="secondary", can_anchor=False)
    data["avoid"] = [
        [news[0]["id"], buddies[3]["id"]],
        [buddies[4]["id"], buddies[5]["id"]],
        [news[1]["id"], news[2]["id"]],
    ]
    if locked:
        data["locked"] = [
            {
                "family": "wessex-900",
                "anchor": buddies[1]["id"],
                "members": [buddies[1]["id"], buddies[6]["id"], news[3]["id"]],
            }
        ]
    return data


def _best_rc(inst: RegionInstance, a: int, pi: np.ndarray, mu: np.ndarray) -> float:
    """Best reduced cost over every valid family of anchor a (brute force)."""
    others = [b for b in range(len(inst.buddies)) if b != a]
    best = -np.inf
    free_n = [n for n in range(len(inst.newcomers))]
    for r in range(inst.settings.max_extra_buddies + 1):
        for extras in itertools.combinations(others, r):
            for k in range(1, inst.settings.max_newcomers + 1):
                for news in itertools.combinations(free_n, k):
                    fam = (a, extras, news)
                    if inst.family_violations(fam):
                        continue
                    rc = inst.value(fam) - pi[list(news)].sum() - mu[[a, *extras]].sum()
                    best = max(best, float(rc))
    return best


@pytest.mark.parametrize("locked", [False, True])
def test_exact_pricing_never_underestimates_an_anchors_best_reduced_cost(locked):
    cohort = load_cohort(_small_cohort(locked))
    inst = generation_instance(RegionInstance(cohort, "wessex", family_settings()))
    rng = np.random.default_rng(7)
    pricers = [AnchorPricer(inst, a) for a in inst.anchors]
    assert pricers
    for draw in range(6):
        # Duals around the scale of a newcomer's worth, some negative for locked anchors.
        pi = rng.uniform(0, 1.5 * inst.W, len(inst.newcomers))
        mu = (
            rng.uniform(0, 0.8 * inst.W, len(inst.buddies)) if draw else np.zeros(len(inst.buddies))
        )
        for pricer in pricers:
            cols, ub = pricer.price(pi, mu, exact=True)
            truth = _best_rc(inst, pricer.a, pi, mu)
            assert ub >= truth - 1e-6, (draw, pricer.a, ub, truth)
            for fam in cols:
                assert not inst.family_violations(fam)
                assert inst.value(fam) - pi[list(fam[2])].sum() - mu[[fam[0], *fam[1]]].sum() > 0
    result = solve_families(cohort, time_limit_s=5, seed=0, workers=1)
    assert validate(cohort, result) == []
    assert result["bound"] >= result["objective"]
