"""Greedy baseline: what a careful coordinator with a spreadsheet would do.

Open a family per anchor; place the hardest-to-place newcomer first (fewest anchors they may
join) in the family where they gain most and that has room; then add buddies one by one where
they help most. Used by `bench` for comparison and as the solver's first solution.
"""

from __future__ import annotations

from .instance import Family, RegionInstance


def _room(inst: RegionInstance, a: int, extras: list[int]) -> int:
    return min([int(inst.cap[a])] + [int(inst.cap[b]) for b in extras])


def greedy_region(inst: RegionInstance) -> list[Family]:
    """A valid set of families for one region, built greedily and deterministically."""
    fams: dict[int, dict] = {}
    for a in inst.anchors:
        k = inst.locked_of_anchor.get(a, -1)
        fam = inst.locked[k] if k >= 0 else None
        fams[a] = {
            "extras": list(fam.buddies) if fam else [],
            "news": list(fam.newcomers) if fam else [],
        }
    free = [n for n in range(len(inst.newcomers)) if inst.owner_n[n] < 0]
    options = {n: [a for a in inst.anchors if inst.eligible[n, a]] for n in free}
    # Hardest to place first: fewest anchors they could join, then by id.
    for n in sorted(free, key=lambda n: (len(options[n]), inst.newcomers[n].id)):
        best, best_key = None, None
        for a in options[n]:
            f = fams[a]
            if len(f["news"]) >= _room(inst, a, f["extras"]):
                continue
            if any(m in inst.nn_avoid.get(n, ()) for m in f["news"]):
                continue
            key = (inst.newcomer_points(n, a, tuple(f["extras"])), -len(f["news"]), -a)
            if best_key is None or key > best_key:
                best, best_key = a, key
        if best is not None:
            fams[best]["news"].append(n)
    used = {a for a in fams} | {b for f in fams.values() for b in f["extras"]}
    open_fams = [a for a in sorted(fams) if fams[a]["news"]]
    # Then buddies: each remaining buddy joins the family where they add most points.
    for b in range(len(inst.buddies)):
        if b in used or inst.owner_b[b] >= 0:
            continue
        best, best_gain = None, 0
        for a in open_fams:
            f = fams[a]
            extras = f["extras"]
            if len(extras) >= inst.settings.max_extra_buddies:
                continue
            if (
                inst.secondary[b]
                and sum(bool(inst.secondary[x]) for x in extras) >= inst.settings.max_secondary
            ):
                continue
            if inst.cap[b] < len(f["news"]):
                continue
            if any((b, x) in inst.bb_avoid for x in (a, *extras)) or any(
                inst.nb_avoid[n, b] for n in f["news"]
            ):
                continue
            before = inst.quality((a, tuple(extras), tuple(f["news"])))
            after = inst.quality((a, tuple(sorted(extras + [b])), tuple(f["news"])))
            if after - before > best_gain:
                best, best_gain = a, after - before
        if best is not None:
            fams[best]["extras"].append(b)
            used.add(b)
    return [
        (a, tuple(sorted(fams[a]["extras"])), tuple(sorted(fams[a]["news"])))
        for a in sorted(fams)
        if fams[a]["news"]
    ]
