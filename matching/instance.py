"""One region prepared for the solver: people by index and numpy tables of who fits whom.

A family is `(anchor, extras, newcomers)`, all indices into `buddies` / `newcomers`, kept as
sorted tuples so that every structure built from them is deterministic.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .config import FamilySettings
from .schema import Cohort, NoSolution, Person

LANG, INTEREST, COUNTRY = 1, 2, 4
SHARES_ALL = LANG | INTEREST | COUNTRY  # share mask: language, interest and country all shared
ALL_STAGES = frozenset(("ST1", "ST2", "ST3"))

Family = tuple[int, tuple[int, ...], tuple[int, ...]]  # anchor, extra buddies, newcomers


def shares(n: Person, b: Person) -> int:
    """Bit mask of what newcomer n shares with buddy b: language, interest, country."""
    mask = 0
    if n.languages & b.languages:
        mask |= LANG
    if n.interests & b.interests:
        mask |= INTEREST
    if n.country is not None and n.country == b.country:
        mask |= COUNTRY
    return mask


def gender_ok(n: Person, anchor: Person) -> bool:
    """Rule 6: a newcomer who asked for a same-gender anchor gets one (unknown never matches)."""
    if not n.same_gender_anchor:
        return True
    return n.gender is not None and n.gender == anchor.gender


@dataclass
class LockedInRegion:
    id: str
    anchor: int
    buddies: tuple[int, ...]  # extra buddies kept (without the anchor)
    newcomers: tuple[int, ...]


class RegionInstance:
    """The newcomers and buddies of one region, indexed, with pairwise tables.

    Read-only once built: a step that needs another newcomer weight, eligibility or
    capacities works on a derived copy (`priced`, `without`, `with_capacities`).
    """

    def __init__(self, cohort: Cohort, region: str, settings: FamilySettings):
        self.region = region
        self.settings = settings
        w = settings.weights
        self.w_lang, self.w_int = w.get("language", 0), w.get("interest", 0)
        self.w_scheme, self.w_country = w.get("scheme", 0), w.get("country", 0)
        self.w_three, self.w_hosp = w.get("three_stages", 0), w.get("hospital", 0)
        self.w_spread = w.get("size_spread", 0)
        self.cohort = cohort
        self.newcomers = sorted(
            (p for p in cohort.people if p.role == "newcomer" and p.region == region),
            key=lambda p: p.id,
        )
        # Buddies with capacity 0 can join no family (rule 4 needs at least one newcomer).
        self.buddies = sorted(
            (
                p
                for p in cohort.people
                if p.role == "buddy" and p.region == region and p.capacity > 0
            ),
            key=lambda p: p.id,
        )
        self.nidx = {p.id: i for i, p in enumerate(self.newcomers)}
        self.bidx = {p.id: i for i, p in enumerate(self.buddies)}
        nn, nb = len(self.newcomers), len(self.buddies)
        self.cap = np.array(
            [min(b.capacity, settings.max_newcomers) for b in self.buddies], dtype=np.int64
        )
        self.secondary = np.array([b.secondary for b in self.buddies], dtype=bool)
        self.can_anchor = np.array([b.can_anchor for b in self.buddies], dtype=bool)
        self.bstage = [b.stage for b in self.buddies]
        self.nstage = [n.stage for n in self.newcomers]
        self.M = np.zeros((nn, nb), dtype=np.int64)
        self.scheme = np.zeros((nn, nb), dtype=bool)
        self.nb_avoid = np.zeros((nn, nb), dtype=bool)
        self.gender = np.ones((nn, nb), dtype=bool)
        for i, n in enumerate(self.newcomers):
            for j, b in enumerate(self.buddies):
                self.M[i, j] = shares(n, b)
                self.scheme[i, j] = n.scheme is not None and n.scheme == b.scheme
                self.nb_avoid[i, j] = cohort.avoids(n.id, b.id)
                self.gender[i, j] = gender_ok(n, b)
        self.bb_avoid: set[tuple[int, int]] = set()
        self.nn_avoid: dict[int, set[int]] = {}
        for pair in cohort.avoid:
            x, y = sorted(pair)
            if x in self.bidx and y in self.bidx:
                self.bb_avoid.add((self.bidx[x], self.bidx[y]))
                self.bb_avoid.add((self.bidx[y], self.bidx[x]))
            if x in self.nidx and y in self.nidx:
                self.nn_avoid.setdefault(self.nidx[x], set()).add(self.nidx[y])
                self.nn_avoid.setdefault(self.nidx[y], set()).add(self.nidx[x])
        # Quality points of a newcomer by share mask (language, interest, country).
        self.wq = np.array(
            [
                (self.w_lang if m & LANG else 0)
                + (self.w_int if m & INTEREST else 0)
                + (self.w_country if m & COUNTRY else 0)
                for m in range(8)
            ],
            dtype=np.int64,
        )
        self.locked = self._locked()
        self.owner_n = np.full(nn, -1, dtype=np.int64)
        self.owner_b = np.full(nb, -1, dtype=np.int64)
        self.locked_of_anchor: dict[int, int] = {}
        for k, fam in enumerate(self.locked):
            self.locked_of_anchor[fam.anchor] = k
            self.owner_b[fam.anchor] = k
            self.owner_b[list(fam.buddies)] = k
            self.owner_n[list(fam.newcomers)] = k
        # eligible[n, a]: newcomer n may join the family anchored by buddy a.
        self.eligible = self.gender & ~self.nb_avoid & self.can_anchor[None, :]
        for fam in self.locked:
            for j in fam.buddies:
                self.eligible[self.nb_avoid[:, j], fam.anchor] = False
        self.anchors = [a for a in range(nb) if self.can_anchor[a] and self._anchor_free(a)]
        # The most quality points one newcomer can bring (sharing everything with the family,
        # and the anchor's scheme) and one family can add (three stages, secondary care).
        self.most_newcomer_points = int(self.wq[SHARES_ALL]) + self.w_scheme
        self.most_family_points = self.w_three + self.w_hosp
        # Coverage first: one matched newcomer outweighs all quality points of the region.
        self.W_lexicographic = (
            int(self.quality_ceiling()) + 1 + self.w_spread * settings.max_newcomers
        )
        self.W = self.W_lexicographic  # of a matched newcomer in `value`; see `priced`

    # -- derived instances: the same region with one thing changed --------------------------
    def priced(self, weight: int) -> RegionInstance:
        """This region with `weight` for a matched newcomer in `value` (column generation's)."""
        out = copy.copy(self)
        out.W = weight
        return out

    def without(self, newcomers: Iterable[int]) -> RegionInstance:
        """This region with these newcomers eligible for no family (they wait)."""
        out = copy.copy(self)
        out.eligible = self.eligible.copy()
        out.eligible[list(newcomers), :] = False
        return out

    def with_capacities(self, cap: np.ndarray) -> RegionInstance:
        """This region with other buddy capacities (bounds try narrower family sizes)."""
        out = copy.copy(self)
        out.cap = cap
        return out

    def _anchor_free(self, a: int) -> bool:
        """A buddy locked as an extra in some family cannot anchor another."""
        k = self.owner_b[a]
        return k < 0 or self.locked[k].anchor == a

    def _locked(self) -> list[LockedInRegion]:
        """Locked families of this region, checked against the hard rules.

        :raises NoSolution: when a locked family breaks a rule by itself.
        """
        out = []
        for fam in self.cohort.locked:
            people = [self.cohort.person(m) for m in fam.members]
            regions = {p.region for p in people}
            if self.region not in regions:
                continue
            if len(regions) > 1:
                raise NoSolution(
                    f"locked family {fam.id} mixes regions "
                    f"{', '.join(sorted(map(str, regions)))} (rule 1)"
                )
            anchor_id = self.cohort.locked_anchor(fam)
            if anchor_id is None:
                raise NoSolution(f"locked family {fam.id} has no buddy who can anchor (rule 2)")
            anchor = self.cohort.person(anchor_id)
            if anchor.role != "buddy" or not anchor.can_anchor:
                raise NoSolution(
                    f"locked family {fam.id}: {anchor_id} cannot anchor a family (rule 2)"
                )
            buddies = [p for p in people if p.role == "buddy" and p.id != anchor_id]
            newcomers = [p for p in people if p.role == "newcomer"]
            s = self.settings
            if len(buddies) > s.max_extra_buddies:
                raise NoSolution(
                    f"locked family {fam.id} has {len(buddies)} buddies besides the anchor; "
                    f"at most {s.max_extra_buddies} (rule 3)"
                )
            if sum(b.secondary for b in buddies) > s.max_secondary:
                raise NoSolution(
                    f"locked family {fam.id} has more than {s.max_secondary} extra buddy "
                    "in secondary care (rule 3)"
                )
            limit = min([s.max_newcomers] + [b.capacity for b in buddies + [anchor]])
            if limit < max(1, len(newcomers)):
                raise NoSolution(
                    f"locked family {fam.id} has {len(newcomers)} newcomers "
                    f"but room for {limit} (rule 4)"
                )
            for x in people:
                for y in people:
                    if x.id < y.id and self.cohort.avoids(x.id, y.id):
                        raise NoSolution(
                            f"locked family {fam.id} holds the avoid pair {x.id}, {y.id} (rule 6)"
                        )
            for n in newcomers:
                if not gender_ok(n, anchor):
                    raise NoSolution(
                        f"locked family {fam.id}: {n.id} asked for a same-gender anchor "
                        f"and {anchor_id} is not (rule 6)"
                    )
            out.append(
                LockedInRegion(
                    id=fam.id,
                    anchor=self.bidx[anchor_id],
                    buddies=tuple(sorted(self.bidx[b.id] for b in buddies)),
                    newcomers=tuple(sorted(self.nidx[n.id] for n in newcomers)),
                )
            )
        return out

    # -- values -------------------------------------------------------------------------
    def newcomer_points(self, n: int, anchor: int, extras: tuple[int, ...]) -> int:
        """Quality points of newcomer n in a family with these buddies (without coverage)."""
        mask = int(self.M[n, anchor])
        for b in extras:
            mask |= int(self.M[n, b])
        return int(self.wq[mask]) + (self.w_scheme if self.scheme[n, anchor] else 0)

    def family_points(
        self, anchor: int, extras: tuple[int, ...], newcomers: tuple[int, ...]
    ) -> int:
        """Family-level points: three stages present, a buddy in secondary care."""
        stages = {
            self.bstage[anchor],
            *(self.bstage[b] for b in extras),
            *(self.nstage[n] for n in newcomers),
        }
        points = self.w_three if ALL_STAGES <= stages else 0
        if self.secondary[anchor] or any(self.secondary[b] for b in extras):
            points += self.w_hosp
        return points

    def quality(self, fam: Family) -> int:
        """Quality points of a family (language, interest, scheme, country, stages, hospital)."""
        a, extras, news = fam
        return sum(self.newcomer_points(n, a, extras) for n in news) + self.family_points(
            a, extras, news
        )

    def value(self, fam: Family) -> int:
        """Objective value of a family in the master: coverage weight plus quality."""
        return self.W * len(fam[2]) + self.quality(fam)

    def quality_ceiling(self) -> float:
        """All quality points for every newcomer and family: a bound that holds for any result."""
        return float(
            len(self.newcomers) * self.most_newcomer_points
            + len(self.anchors) * self.most_family_points
        )

    def spread(self, families: list[Family]) -> int:
        sizes = [len(f[2]) for f in families]
        return max(sizes) - min(sizes) if sizes else 0

    def solution_quality(self, families: list[Family]) -> int:
        """Quality of a whole region: family quality minus the size-spread penalty."""
        return sum(self.quality(f) for f in families) - self.w_spread * self.spread(families)

    def score(self, families: list[Family]) -> tuple[int, int]:
        """How results compare: matched newcomers first, then quality (spread included)."""
        return sum(len(f[2]) for f in families), self.solution_quality(families)

    def keeps_locked(self, families: list[Family]) -> bool:
        """Whether every locked family is among `families` (each is fixed by its anchor)."""
        anchors = {f[0] for f in families}
        return all(a in anchors for a in self.locked_of_anchor)

    def ids(self, fam: Family) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
        """A family by person ids: anchor, extra buddies, newcomers."""
        a, extras, news = fam
        return (
            self.buddies[a].id,
            tuple(self.buddies[b].id for b in extras),
            tuple(self.newcomers[n].id for n in news),
        )

    # -- rules on one family (the gate every column passes) -------------------------------
    def family_violations(self, fam: Family) -> list[str]:
        """Rules 1-6 checked on one candidate family; empty when it may be used."""
        out = []
        for check in (
            rule_anchor,
            rule_extra_buddies,
            rule_newcomer_limits,
            rule_locked_members,
            rule_avoid,
            rule_same_gender,
        ):
            msg = check(self, fam)
            if msg:
                out.append(msg)
        return out


# One function per hard rule. Region (rule 1) holds by construction: an instance only
# indexes people of its own region.


def rule_anchor(inst: RegionInstance, fam: Family) -> str | None:
    """Rule 2: exactly one anchor, a buddy with can_anchor, who is not also an extra."""
    a, extras, _ = fam
    if not inst.can_anchor[a]:
        return f"{inst.buddies[a].id} cannot anchor"
    if a in extras:
        return "anchor listed twice"
    return None


def rule_extra_buddies(inst: RegionInstance, fam: Family) -> str | None:
    """Rule 3: at most max_extra_buddies extra buddies, at most max_secondary of them secondary."""
    _, extras, _ = fam
    if len(set(extras)) != len(extras) or len(extras) > inst.settings.max_extra_buddies:
        return "too many buddies"
    if sum(bool(inst.secondary[b]) for b in extras) > inst.settings.max_secondary:
        return "too many secondary-care buddies"
    return None


def rule_newcomer_limits(inst: RegionInstance, fam: Family) -> str | None:
    """Rule 4: 1..max_newcomers newcomers, never more than any buddy's capacity."""
    a, extras, news = fam
    limit = min([int(inst.cap[a])] + [int(inst.cap[b]) for b in extras])
    if not 1 <= len(news) <= limit or len(set(news)) != len(news):
        return "newcomer count outside 1..capacity"
    return None


def rule_locked_members(inst: RegionInstance, fam: Family) -> str | None:
    """Rule 5: a locked family's members stay together, and only with its anchor."""
    a, extras, news = fam
    k = inst.locked_of_anchor.get(a, -1)
    if any(inst.owner_b[b] not in (-1, k) for b in (a, *extras)) or any(
        inst.owner_n[n] not in (-1, k) for n in news
    ):
        return "uses a member of another locked family"
    if k >= 0:
        fam_l = inst.locked[k]
        if not set(fam_l.buddies) <= set(extras) or not set(fam_l.newcomers) <= set(news):
            return "drops a member of its locked family"
    return None


def rule_avoid(inst: RegionInstance, fam: Family) -> str | None:
    """Rule 6: no avoid pair shares the family."""
    a, extras, news = fam
    buddies = (a, *extras)
    if any((x, y) in inst.bb_avoid for x in buddies for y in buddies):
        return "avoid pair among buddies"
    if any(inst.nb_avoid[n, b] for n in news for b in buddies):
        return "avoid pair between newcomer and buddy"
    if any(m in inst.nn_avoid.get(n, ()) for n in news for m in news):
        return "avoid pair among newcomers"
    return None


def rule_same_gender(inst: RegionInstance, fam: Family) -> str | None:
    """Rule 6: same_gender_anchor is honoured."""
    a, _, news = fam
    if not all(inst.gender[n, a] for n in news):
        return "same-gender anchor not honoured"
    return None
