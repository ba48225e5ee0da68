"""Upper bound on coverage: max flow newcomers -> eligible anchors, ignoring quality.

The flow relaxes the family rules (it ignores extra buddies, which can only lower a family's
capacity, and avoid pairs between two newcomers), so no valid result can match more newcomers
than it does. The solver's coverage is checked against it.
"""

from __future__ import annotations

import numpy as np
from ortools.graph.python import max_flow, min_cost_flow

from .instance import RegionInstance


def anchor_room(inst: RegionInstance, a: int) -> int:
    """Newcomers an anchor's family can still take beyond its locked newcomers."""
    k = inst.locked_of_anchor.get(a, -1)
    if k < 0:
        return int(inst.cap[a])
    fam = inst.locked[k]
    limit = min([int(inst.cap[a])] + [int(inst.cap[b]) for b in fam.buddies])
    return max(0, limit - len(fam.newcomers))


def max_coverage(inst: RegionInstance) -> tuple[int, dict[int, int]]:
    """Most newcomers of the region that any valid result can match, and one flow assignment.

    :raises RuntimeError: if the max-flow solver does not report optimal.
    """
    free = [n for n in range(len(inst.newcomers)) if inst.owner_n[n] < 0]
    locked_count = sum(len(f.newcomers) for f in inst.locked)
    anchors = inst.anchors
    if not free or not anchors:
        return locked_count, {}
    source, sink = 0, 1
    n_node = {n: 2 + i for i, n in enumerate(free)}
    a_node = {a: 2 + len(free) + i for i, a in enumerate(anchors)}
    tails, heads, caps = [], [], []
    for n in free:
        tails.append(source), heads.append(n_node[n]), caps.append(1)
    arcs_na = []
    for n in free:
        for a in anchors:
            if inst.eligible[n, a]:
                arcs_na.append((n, a))
                tails.append(n_node[n]), heads.append(a_node[a]), caps.append(1)
    for a in anchors:
        tails.append(a_node[a]), heads.append(sink), caps.append(anchor_room(inst, a))
    solver = max_flow.SimpleMaxFlow()
    solver.add_arcs_with_capacity(
        np.array(tails, dtype=np.int32),
        np.array(heads, dtype=np.int32),
        np.array(caps, dtype=np.int64),
    )
    status = solver.solve(source, sink)
    if status != solver.OPTIMAL:
        raise RuntimeError(f"max flow failed with status {status}")
    flows = solver.flows(np.arange(len(free), len(free) + len(arcs_na), dtype=np.int32))
    assignment = {n: a for (n, a), f in zip(arcs_na, flows, strict=True) if f > 0}
    return locked_count + int(solver.optimal_flow()), assignment


def spread_lower_bound(inst: RegionInstance, coverage: int) -> int:
    """Smallest size spread any result matching `coverage` newcomers can have.

    A window [lo, hi] of family sizes is possible only if the max flow with anchor
    capacities cut to hi (anchors below lo removed) still reaches the coverage.
    """
    if coverage == 0 or not inst.w_spread:
        return 0
    kmax = inst.settings.max_newcomers
    for width in range(kmax):
        for lo in range(1, kmax - width + 1):
            hi = lo + width
            window = inst.with_capacities(np.where(inst.cap >= lo, np.minimum(inst.cap, hi), 0))
            if any(window.cap[a] == 0 for a in inst.locked_of_anchor):
                continue
            if max_coverage(window)[0] >= coverage:
                return width
    return kmax - 1


def fair_selection(inst: RegionInstance, seed: int) -> set[int]:
    """Newcomers to match when not all can be: a maximum set, earliest arrival first.

    Min-cost max flow with cost = rank, the rank blind to quality: arrival date (unknown
    last), then a lottery seeded by `seed` and the id. Every maximum-coverage result needs
    such a set, so coverage is unchanged; only who waits is decided fairly.
    """
    import hashlib

    free = [n for n in range(len(inst.newcomers)) if inst.owner_n[n] < 0]

    def order(n: int):
        p = inst.newcomers[n]
        lottery = hashlib.sha256(f"{seed}:{p.id}".encode()).hexdigest()
        return (p.arrival is None, p.arrival.isoformat() if p.arrival else "", lottery)

    rank = {n: r for r, n in enumerate(sorted(free, key=order))}
    anchors = inst.anchors
    source, sink = 0, 1
    n_node = {n: 2 + i for i, n in enumerate(free)}
    a_node = {a: 2 + len(free) + i for i, a in enumerate(anchors)}
    tails, heads, caps, costs, arcs = [], [], [], [], []
    for n in free:
        tails.append(source), heads.append(n_node[n]), caps.append(1), costs.append(rank[n])
    for n in free:
        for a in anchors:
            if inst.eligible[n, a]:
                arcs.append((n, a))
                tails.append(n_node[n]), heads.append(a_node[a]), caps.append(1), costs.append(0)
    for a in anchors:
        (
            tails.append(a_node[a]),
            heads.append(sink),
            caps.append(anchor_room(inst, a)),
            costs.append(0),
        )
    if not arcs:
        return set()
    flows = max_flow_min_cost(tails, heads, caps, costs, source=source, sink=sink, supply=len(free))
    return {n for n, f in zip(free, flows[: len(free)], strict=True) if f > 0}


def max_flow_min_cost(
    tails: list[int],
    heads: list[int],
    caps: list[int],
    costs: list[int],
    *,
    source: int,
    sink: int,
    supply: int,
) -> np.ndarray:
    """The flow on every arc (in order) that sends as much as it can, up to `supply`, from
    `source` to `sink`, at the least cost among maximum flows.

    :raises RuntimeError: when the solver does not report an optimal flow.
    """
    mcf = min_cost_flow.SimpleMinCostFlow()
    mcf.add_arcs_with_capacity_and_unit_cost(
        np.array(tails, dtype=np.int32),
        np.array(heads, dtype=np.int32),
        np.array(caps, dtype=np.int64),
        np.array(costs, dtype=np.int64),
    )
    mcf.set_node_supply(source, supply)
    mcf.set_node_supply(sink, -supply)
    status = mcf.solve_max_flow_with_min_cost()
    if status != mcf.OPTIMAL:
        raise RuntimeError(f"min cost flow failed with status {status}")
    return mcf.flows(np.arange(len(tails), dtype=np.int32))
