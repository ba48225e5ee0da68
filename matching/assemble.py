"""Integer families from the LP: pick buddy sets, then place newcomers exactly by min-cost flow.

Once each family's buddy set (anchor + extras) is fixed, placing newcomers is a transportation
problem: newcomer -> family arcs where the rules allow (gender, avoid, locked), family
capacity = the smallest capacity of its buddies. `solve_max_flow_with_min_cost` places as many
newcomers as possible and, among those placements, maximises their quality points: the same
lexicographic order as the whole problem, solved exactly for the chosen buddy sets.
"""

from __future__ import annotations

import numpy as np

from .flow import max_flow_min_cost
from .instance import Family, RegionInstance


def assign_newcomers(inst: RegionInstance, sets: dict[int, tuple[int, ...]]) -> list[Family]:
    """Optimal newcomer placement for fixed buddy sets (anchor -> extras).

    :raises RuntimeError: if the flow solver does not report optimal.
    """
    anchors = sorted(sets)
    placed: dict[int, list[int]] = {a: [] for a in anchors}
    room: dict[int, int] = {}
    for a in anchors:
        k = inst.locked_of_anchor.get(a, -1)
        if k >= 0:
            placed[a] = list(inst.locked[k].newcomers)
        room[a] = min(int(inst.cap[b]) for b in (a, *sets[a])) - len(placed[a])
    free = [n for n in range(len(inst.newcomers)) if inst.owner_n[n] < 0]
    top = inst.most_newcomer_points + 1  # costs stay positive: top - points >= 1
    tails, heads, caps, costs, arcs = [], [], [], [], []
    source, sink = 0, 1
    n_node = {n: 2 + i for i, n in enumerate(free)}
    a_node = {a: 2 + len(free) + i for i, a in enumerate(anchors)}
    for n in free:
        tails.append(source), heads.append(n_node[n]), caps.append(1), costs.append(0)
    for a in anchors:
        extras = sets[a]
        if room[a] <= 0:
            continue
        for n in free:
            if not inst.eligible[n, a] or any(inst.nb_avoid[n, b] for b in extras):
                continue
            if any(m in inst.nn_avoid.get(n, ()) for m in placed[a]):
                continue
            arcs.append((n, a))
            tails.append(n_node[n]), heads.append(a_node[a]), caps.append(1)
            costs.append(top - inst.newcomer_points(n, a, extras))
    for a in anchors:
        tails.append(a_node[a]), heads.append(sink), caps.append(max(0, room[a])), costs.append(0)
    if arcs:
        flows = max_flow_min_cost(
            tails, heads, caps, costs, source=source, sink=sink, supply=len(free)
        )
        for (n, a), f in zip(arcs, flows[len(free) : len(free) + len(arcs)], strict=True):
            if f > 0:
                placed[a].append(n)
    families = []
    for a in anchors:
        news = placed[a]
        # Two newcomers who must not meet: keep the first (rare; the flow ignores these pairs).
        kept: list[int] = []
        for n in sorted(news):
            if not any(m in inst.nn_avoid.get(n, ()) for m in kept):
                kept.append(n)
        if kept:
            families.append((a, tuple(sorted(sets[a])), tuple(sorted(kept))))
    return families


def sets_from_lp(
    inst: RegionInstance, columns: list[Family], xs: np.ndarray
) -> dict[int, tuple[int, ...]]:
    """Buddy sets chosen by LP weight: heaviest (anchor, extras) first, each buddy once."""
    weight: dict[tuple[int, tuple[int, ...]], float] = {}
    for (a, extras, _), x in zip(columns, xs, strict=True):
        if x > 1e-6:
            weight[(a, extras)] = weight.get((a, extras), 0.0) + float(x)
    # Locked families keep their own buddies: reserve all of them first, so that no other
    # locked family's LP column can take one of them as an extra (rule 5: one family each).
    used: set[int] = {
        b for a, k in inst.locked_of_anchor.items() for b in (a, *inst.locked[k].buddies)
    }
    sets: dict[int, tuple[int, ...]] = {}
    for a in sorted(inst.locked_of_anchor):
        own = set(inst.locked[inst.locked_of_anchor[a]].buddies)
        best = max(
            (k for k in weight if k[0] == a and own <= set(k[1]) and not (set(k[1]) - own) & used),
            key=lambda k: (weight[k], k[1]),
            default=(a, tuple(sorted(own))),
        )
        sets[a] = best[1]
        used.update((a, *best[1]))
    for (a, extras), _ in sorted(weight.items(), key=lambda kv: (-kv[1], kv[0])):
        if a in sets or a in used or used & set(extras):
            continue
        sets[a] = extras
        used.update((a, *extras))
    # Every other free anchor keeps a family of its own, so no capacity is lost.
    for a in inst.anchors:
        if a not in used:
            sets[a] = ()
            used.add(a)
    return sets


def add_free_buddies(inst: RegionInstance, families: list[Family]) -> list[Family]:
    """Each unused buddy joins the family where they add most points (rules permitting)."""
    fams = {f[0]: [list(f[1]), list(f[2])] for f in families}
    used = {b for f in families for b in (f[0], *f[1])}
    for b in range(len(inst.buddies)):
        if b in used or inst.owner_b[b] >= 0:
            continue
        best, best_gain = None, 0
        for a, (extras, news) in fams.items():
            cand = (a, tuple(sorted([*extras, b])), tuple(news))
            if inst.family_violations(cand):
                continue
            gain = inst.quality(cand) - inst.quality((a, tuple(extras), tuple(news)))
            if gain > best_gain:
                best, best_gain = a, gain
        if best is not None:
            fams[best][0].append(b)
            used.add(b)
    return sorted((a, tuple(sorted(e)), tuple(sorted(n))) for a, (e, n) in fams.items())


def swap_buddies(inst: RegionInstance, families: list[Family]) -> list[Family]:
    """Local search on extras: replace an extra by an unused buddy when that adds points."""
    fams = {f[0]: [list(f[1]), list(f[2])] for f in families}
    used = {b for f in families for b in (f[0], *f[1])}
    free = [b for b in range(len(inst.buddies)) if b not in used and inst.owner_b[b] < 0]
    for a in sorted(fams):
        extras, news = fams[a]
        for old in list(extras):
            if inst.owner_b[old] >= 0:
                continue
            base = inst.quality((a, tuple(sorted(extras)), tuple(news)))
            best, best_gain = None, 0
            for b in free:
                cand = (a, tuple(sorted([*(e for e in extras if e != old), b])), tuple(news))
                if inst.family_violations(cand):
                    continue
                gain = inst.quality(cand) - base
                if gain > best_gain:
                    best, best_gain = b, gain
            if best is not None:
                extras.remove(old)
                extras.append(best)
                free.remove(best)
                free.append(old)
    return sorted((a, tuple(sorted(e)), tuple(sorted(n))) for a, (e, n) in fams.items())


def improve(inst: RegionInstance, families: list[Family], rounds: int = 3) -> list[Family]:
    """Alternate buddy moves (add, swap) and exact newcomer placement; keep the best seen."""

    def replace(fams):
        used = {b for f in fams for b in (f[0], *f[1])}
        sets = {a: e for a, e, _ in fams} | {a: () for a in inst.anchors if a not in used}
        return [f for f in assign_newcomers(inst, sets) if not inst.family_violations(f)]

    best = families
    for _ in range(rounds):
        start = inst.score(best)
        for step in (add_free_buddies, replace, swap_buddies, replace):
            cand = step(inst, best) if step is not replace else step(best)
            if inst.score(cand) > inst.score(best):
                best = cand
        if inst.score(best) <= start:
            break
    return best


def round_lp(inst: RegionInstance, columns: list[Family], xs: np.ndarray) -> list[Family]:
    """A full integer solution from an LP solution: buddy sets, exact placement, local search."""
    sets = sets_from_lp(inst, columns, xs)
    fams = [f for f in assign_newcomers(inst, sets) if not inst.family_violations(f)]
    return improve(inst, fams)
