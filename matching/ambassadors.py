"""Ambassador pairing: a b-matching solved exactly as max flow with min cost.

Newcomers who asked for an ambassador -> ambassadors (capacity each), no avoid pairs, region
free. `solve_max_flow_with_min_cost` gives the most pairs first and, among those, the best
weighted score: the same lexicographic order as families, proved optimal.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .config import ambassador_weights, reference
from .flow import max_flow_min_cost
from .schema import Cohort, NoSolution
from .validate import metrics


def _score(w: dict[str, int], n, a) -> int:
    s = 0
    if n.country is not None and n.country == a.country:
        s += w["same_country"]
    if n.languages & a.languages:
        s += w["language"]
    if n.region is not None and n.region == a.region:
        s += w["same_region"]
    return s


def _reasons(n, a) -> list[str]:
    ref = reference()
    out = []
    if n.country is not None and n.country == a.country:
        out.append(f"qualified in {ref.countries.get(n.country, n.country)}, like {a.id}")
    common = n.languages & a.languages
    if common:
        out.append(
            f"speaks {' and '.join(ref.languages.get(c, c) for c in sorted(common))}, like {a.id}"
        )
    if n.region is not None and n.region == a.region:
        out.append(f"{a.id} is in {ref.region_name(n.region)} too")
    return out or [f"{a.id} had room; no ambassador with room shares a country, language or region"]


def solve_ambassadors(
    cohort: Cohort,
    *,
    time_limit_s: float = 60.0,
    seed: int = 0,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Ambassador pairs as the spec's result dict (status optimal: the flow is exact).

    `time_limit_s` and `seed` are accepted for a uniform API; the flow is exact and fast.

    :raises NoSolution: if the flow solver fails (it cannot be infeasible: no pair is valid).
    """
    start = time.monotonic()
    w = ambassador_weights()
    news = sorted(
        (p for p in cohort.people if p.role == "newcomer" and p.wants_ambassador),
        key=lambda p: p.id,
    )
    ambs = sorted(
        (p for p in cohort.people if p.role == "ambassador" and p.capacity > 0), key=lambda p: p.id
    )
    if progress:
        progress(
            {
                "phase": "ambassadors",
                "objective": None,
                "bound": None,
                "elapsed": 0.0,
                "region": None,
            }
        )
    source, sink = 0, 1
    n0, a0 = 2, 2 + len(news)
    tails, heads, caps, costs, arcs = [], [], [], [], []
    top = max(w.values()) * 3 + 1
    for i in range(len(news)):
        tails.append(source), heads.append(n0 + i), caps.append(1), costs.append(0)
    for i, n in enumerate(news):
        for j, a in enumerate(ambs):
            if cohort.avoids(n.id, a.id):
                continue
            arcs.append((i, j, _score(w, n, a)))
            # Costs are non-negative: top - score (all flows have the same count of such arcs).
            (
                tails.append(n0 + i),
                heads.append(a0 + j),
                caps.append(1),
                costs.append(top - arcs[-1][2]),
            )
    for j, a in enumerate(ambs):
        tails.append(a0 + j), heads.append(sink), caps.append(a.capacity), costs.append(0)
    pairs: dict[str, list[str]] = {}
    objective = 0
    if arcs:
        try:
            flows = max_flow_min_cost(
                tails, heads, caps, costs, source=source, sink=sink, supply=len(news)
            )
        except RuntimeError as exc:
            raise NoSolution(f"ambassador flow failed: {exc}") from None
        first = len(news)
        for (i, j, score), f in zip(arcs, flows[first : first + len(arcs)], strict=True):
            if f > 0:
                pairs.setdefault(ambs[j].id, []).append(news[i].id)
                objective += score
    by_id = cohort.by_id  # type: ignore[attr-defined]
    result_pairs = [
        {
            "ambassador": a_id,
            "newcomers": sorted(ns),
            "reasons": {n: _reasons(by_id[n], by_id[a_id]) for n in sorted(ns)},
        }
        for a_id, ns in sorted(pairs.items())
    ]
    paired = {n for ns in pairs.values() for n in ns}
    unmatched = []
    for n in news:
        if n.id in paired:
            continue
        if not ambs:
            reason = "no ambassador with capacity has signed up; recruit ambassadors"
        elif all(cohort.avoids(n.id, a.id) for a in ambs):
            reason = "every ambassador with room is marked never together with them"
        else:
            reason = "all ambassadors are at capacity; recruit ambassadors or raise capacities"
        unmatched.append({"id": n.id, "reason": reason})
    result = {
        "version": 1,
        "kind": "ambassadors",
        "status": "optimal",
        "objective": objective,
        "bound": objective,
        "seconds": round(time.monotonic() - start, 2),
        "settings": {"weights": dict(w), "seed": seed},
        "pairs": result_pairs,
        "unmatched": unmatched,
    }
    result["metrics"] = metrics(cohort, result)
    if progress:
        progress(
            {
                "phase": "finished",
                "objective": objective,
                "bound": objective,
                "elapsed": result["seconds"],
                "region": None,
            }
        )
    return result
