"""Pricing for the set-partitioning master: best new family per anchor for given duals.

A family is fixed by its buddy set S = anchor + 0..2 extras. For a fixed S each newcomer's
points are additive, so the best newcomer set is the top-k newcomers by reduced value
(k = the smallest capacity in S). We score all buddy sets of an anchor with numpy:
no extras, every single extra, and pairs. Pairs are pruned with a bound that holds because
the share-coverage points are submodular: rc(b1, b2) <= rc(b1) + delta(b2), where delta(b2)
is the most b2 alone can add. In `exact` mode the pair search runs until that bound proves no
better pair is left, so the anchor's best reduced cost (an over-estimate: the three-stages
bonus is granted whenever the stages could be present, and newcomer-newcomer avoid pairs are
ignored) is a valid input to the Lagrangian bound. In `beam` mode only the best few singles
are extended to pairs: fast, used while generating columns.
"""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import Future, ProcessPoolExecutor

import numpy as np

from .instance import ALL_STAGES, Family, RegionInstance

BIG = 1e9  # added to locked newcomers so that they are always among the chosen
PARALLEL_FROM = 8  # anchors: below this, threads or worker processes cost more than they save
STAGE_BIT = {"ST1": 1, "ST2": 2, "ST3": 4}


def _top_values(vals: np.ndarray, ks: np.ndarray, with_index: bool = False):
    """Per row: best sum over 1..k entries (the top one always taken).

    With `with_index`, also the columns of each row's top entries, best first.
    """
    rows, cols = vals.shape
    kmax = int(ks.max()) if len(ks) else 0
    kk = min(kmax, cols)
    if kk == 0:
        empty = np.zeros((rows, 0), dtype=np.int64)
        return (np.full(rows, -np.inf), empty) if with_index else np.full(rows, -np.inf)
    if with_index:
        part = (
            np.argpartition(-vals, kk - 1, axis=1)[:, :kk]
            if cols > kk
            else np.tile(np.arange(cols), (rows, 1))
        )
        top = np.take_along_axis(vals, part, axis=1)
        order = np.argsort(-top, axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        idx = np.take_along_axis(part, order, axis=1)
    else:
        top = np.partition(vals, cols - kk, axis=1)[:, cols - kk :] if cols > kk else vals
        top = np.sort(top, axis=1)[:, ::-1]
    csum = top[:, :1] + np.concatenate(
        [np.zeros((rows, 1)), np.cumsum(np.maximum(top[:, 1:], 0.0), axis=1)], axis=1
    )
    pick = np.clip(np.minimum(ks, kk) - 1, 0, kk - 1)
    best = csum[np.arange(rows), pick]
    best[ks < 1] = -np.inf
    return (best, idx) if with_index else best


def _row_index(vals_row: np.ndarray, k: int) -> np.ndarray:
    """Columns of the k largest entries of one row, best first."""
    k = min(k, len(vals_row))
    return np.argsort(-vals_row, kind="stable")[:k]


class AnchorPricer:
    """Static data of one anchor's pricing problem (candidates, locked members)."""

    def __init__(self, inst: RegionInstance, a: int):
        self.inst, self.a = inst, a
        s = inst.settings
        k = inst.locked_of_anchor.get(a, -1)
        fam = inst.locked[k] if k >= 0 else None
        self.forced_b = tuple(fam.buddies) if fam else ()
        self.forced_n = tuple(fam.newcomers) if fam else ()
        S0 = (a, *self.forced_b)
        self.k0 = min(int(inst.cap[b]) for b in S0)
        self.slots = s.max_extra_buddies - len(self.forced_b)
        self.sec_slots = s.max_secondary - sum(bool(inst.secondary[b]) for b in self.forced_b)
        nb = len(inst.buddies)
        ok_b = np.zeros(nb, dtype=bool)
        for b in range(nb):
            ok_b[b] = (
                b not in S0
                and inst.owner_b[b] < 0
                and inst.cap[b] >= max(1, len(self.forced_n))
                and not any((b, x) in inst.bb_avoid for x in S0)
                and not (inst.secondary[b] and self.sec_slots < 1)
                and not inst.nb_avoid[list(self.forced_n), b].any()
            )
        self.cand_b = np.flatnonzero(ok_b) if self.slots > 0 else np.zeros(0, dtype=np.int64)
        forced_nn = (
            set().union(*(inst.nn_avoid.get(n, set()) for n in self.forced_n))
            if self.forced_n
            else set()
        )
        ok_n = inst.eligible[:, a] & (inst.owner_n < 0)
        for n in forced_nn:
            ok_n[n] = False
        self.free_n = np.flatnonzero(ok_n)
        self.all_n = np.concatenate([np.array(self.forced_n, dtype=np.int64), self.free_n])
        self.is_forced = np.zeros(len(self.all_n), dtype=bool)
        self.is_forced[: len(self.forced_n)] = True
        A = inst.M[:, a].copy()
        for b in self.forced_b:
            A |= inst.M[:, b]
        self.A = A[self.all_n].astype(np.uint8)
        # Best share mask any extras could give each newcomer (static: tighter than "all").
        self.U = self.A | (
            np.bitwise_or.reduce(inst.M[np.ix_(self.all_n, self.cand_b)], axis=1)
            if len(self.cand_b)
            else 0
        )
        self.cs = inst.w_scheme * inst.scheme[self.all_n, a].astype(np.float64)
        self.Mb = inst.M[np.ix_(self.all_n, self.cand_b)].T  # (cand_b, all_n)
        self.avoid_b = inst.nb_avoid[np.ix_(self.all_n, self.cand_b)].T
        self.has_avoid = bool(self.avoid_b.any())
        self.wqf = inst.wq.astype(np.float64)
        self.Mb = self.Mb.astype(np.uint8)
        self.stages0 = {inst.bstage[b] for b in S0} | {inst.nstage[n] for n in self.forced_n}
        self.n_stages = {inst.nstage[n] for n in self.all_n}
        self.sec0 = any(bool(inst.secondary[b]) for b in S0)
        # Stage bits already possible without extras (anchor, locked members, any newcomer).
        self.bits0 = 0
        for st in self.stages0 | self.n_stages:
            self.bits0 |= STAGE_BIT.get(st, 0)
        self.bbits = np.array(
            [STAGE_BIT.get(inst.bstage[b], 0) for b in self.cand_b], dtype=np.int64
        )
        self.beam_sel = np.arange(len(self.cand_b))
        self.bb_block = (
            np.array(
                [[(int(x), int(y)) in inst.bb_avoid for y in self.cand_b] for x in self.cand_b],
                dtype=bool,
            )
            if inst.bb_avoid and len(self.cand_b)
            else None
        )

    def _bonus(self, bits: np.ndarray, sec: np.ndarray) -> np.ndarray:
        """Family points of buddy sets (vectorised): hospital exact, three stages if possible."""
        inst = self.inst
        hosp = np.where(sec | self.sec0, inst.w_hosp, 0)
        three = np.where((bits | self.bits0) == 7, inst.w_three, 0)
        return (hosp + three).astype(np.float64)

    def price(self, pi: np.ndarray, mu: np.ndarray, exact: bool, beam: int = 3, max_cols: int = 3):
        """Up to max_cols columns with positive reduced cost, and an upper bound on the best one.

        The bound is valid in `exact` mode only (see the module docstring), and there it bounds
        max(0, best reduced cost): what the Lagrangian bound uses.
        """
        inst, a = self.inst, self.a
        nf = len(self.forced_n)
        c = inst.W + self.cs - pi[self.all_n]
        c[self.is_forced] += BIG
        lower = c + inst.wq[self.A]
        upper = c + inst.wq[self.U]
        # Prune newcomers that can never be among the chosen top-k (see module docstring).
        if len(c) == 0:
            return [], -np.inf
        kfree = self.k0
        srt = np.sort(lower)[::-1]
        thr = srt[kfree - 1] if len(srt) >= kfree else -np.inf
        keep = (upper >= thr) & ((upper > 0) | (np.arange(len(c)) == int(np.argmax(upper))))
        keep |= self.is_forced
        keep_idx = np.flatnonzero(keep)
        c, A = c[keep_idx], self.A[keep_idx]
        if exact or len(self.beam_sel) == len(self.cand_b):
            sel = slice(None)
            bb_block = self.bb_block
        else:
            sel = self.beam_sel
            bb_block = self.bb_block[np.ix_(sel, sel)] if self.bb_block is not None else None
        if len(keep_idx) == len(self.all_n):
            Mb, avb = self.Mb[sel], self.avoid_b[sel]
        else:
            Mb, avb = self.Mb[sel][:, keep_idx], self.avoid_b[sel][:, keep_idx]
        bbits = self.bbits[sel]
        # A locked family's buddies are in every one of its families: their duals count too
        # (without them a locked anchor's bound was off by the split between the two duals).
        fixed = -float(mu[a]) - float(mu[list(self.forced_b)].sum()) - BIG * nf
        options: list[tuple[float, tuple[int, ...], np.ndarray]] = []

        # No extra buddy.
        v0 = (c + inst.wq[A])[None, :]
        best0 = _top_values(v0, np.array([self.k0]))
        idx0 = _row_index(v0[0], self.k0)
        rc0 = (
            float(best0[0])
            + fixed
            + float(self._bonus(np.zeros(1, dtype=np.int64), np.zeros(1, dtype=bool))[0])
        )
        options.append((rc0, (), idx0))
        best_rc = rc0
        cb = self.cand_b[sel]
        if len(cb) == 0:
            return self._columns(options, keep_idx, pi, mu, max_cols), best_rc
        # One extra buddy.
        vals1 = c[None, :] + self.wqf[A[None, :] | Mb]
        if self.has_avoid:
            vals1[avb] = -np.inf
        k1 = np.minimum(self.k0, inst.cap[cb])
        best1 = _top_values(vals1, k1)
        sec = inst.secondary[cb]
        bonus1 = self._bonus(bbits, sec)
        rc1 = best1 + fixed - mu[cb] + bonus1
        order = np.argsort(-rc1, kind="stable")
        for j in order[: max(beam, max_cols)]:
            options.append((float(rc1[j]), (int(cb[j]),), _row_index(vals1[j], int(k1[j]))))
        best_rc = max(best_rc, float(rc1.max()))
        if self.slots < 2 or len(cb) < 2:
            return self._columns(options, keep_idx, pi, mu, max_cols), best_rc
        # Two extra buddies.
        gain = inst.wq[A[None, :] | Mb] - inst.wq[A][None, :]
        gain_top = _top_values(gain.astype(np.float64), np.full(len(cb), self.k0))
        # delta: the most a second extra can add to any first one (share points, bonuses).
        base2 = np.maximum(gain_top, 0.0) - mu[cb]
        delta = base2 + inst.w_hosp * sec + inst.w_three
        dmax = float(delta.max())
        full = (bbits | self.bits0) == 7
        # Only pairs that may beat this are searched: the best so far, and never below 0 in
        # exact mode (a family with reduced cost <= 0 neither enters the LP nor moves the bound).
        floor = max(best_rc, 0.0) if exact else best_rc
        done = np.zeros(len(cb), dtype=bool)
        pair_opts = []
        for t, j in enumerate(order):
            if not exact and t >= beam:
                break
            if exact and rc1[j] + dmax <= floor + 1e-9:
                break
            done[j] = True
            b1 = int(cb[j])
            allowed = ~done
            if exact:
                # Pair-specific delta: the bonuses the second extra adds to this first one.
                hosp = inst.w_hosp * (sec & ~(sec[j] | self.sec0))
                three = inst.w_three * (((bbits | bbits[j] | self.bits0) == 7) & ~full[j])
                allowed &= base2 + hosp + three > floor - rc1[j]
                # The same bound the other way round: the second extra first, then this one.
                hosp_r = inst.w_hosp * (sec[j] & ~(sec | self.sec0))
                three_r = inst.w_three * (((bbits | bbits[j] | self.bits0) == 7) & ~full)
                allowed &= rc1 + base2[j] + hosp_r + three_r > floor
            if bb_block is not None:
                allowed &= ~bb_block[j]
            if sec[j]:
                allowed &= ~sec if self.sec_slots < 2 else True
            js = np.flatnonzero(allowed)
            if len(js) == 0:
                continue
            vals2 = c[None, :] + self.wqf[(A | Mb[j])[None, :] | Mb[js]]
            if self.has_avoid:
                vals2[avb[js] | avb[j][None, :]] = -np.inf
            k2 = np.minimum(k1[j], inst.cap[cb[js]])
            best2 = _top_values(vals2, k2)
            bonus2 = self._bonus(bbits[js] | bbits[j], sec[js] | sec[j])
            rc2 = best2 + fixed - mu[b1] - mu[cb[js]] + bonus2
            m = int(np.argmax(rc2))
            if rc2[m] > best_rc:
                best_rc = float(rc2[m])
                floor = max(floor, best_rc)
            for x in np.argsort(-rc2, kind="stable")[:2]:
                pair_opts.append(
                    (
                        float(rc2[x]),
                        tuple(sorted((b1, int(cb[js[x]])))),
                        _row_index(vals2[x], int(k2[x])),
                    )
                )
        pair_opts.sort(key=lambda o: -o[0])
        options.extend(pair_opts[: max_cols * 2])
        if exact:
            best_rc = max(best_rc, 0.0)  # pairs at or below 0 were not searched
        return self._columns(options, keep_idx, pi, mu, max_cols), best_rc

    def _columns(self, options, keep_idx, pi, mu, max_cols) -> list[Family]:
        """Turn scored buddy sets into exact families with positive reduced cost."""
        inst, a = self.inst, self.a
        options.sort(key=lambda o: -o[0])
        out, seen = [], set()
        for rc_est, extras_free, idx in options:
            if rc_est <= 1e-6 or len(out) >= max_cols:
                break
            extras = tuple(sorted(self.forced_b + extras_free))
            limit = min(int(inst.cap[b]) for b in (a, *extras))
            ranked = [int(self.all_n[keep_idx[i]]) for i in idx]
            fam = self._choose(extras, ranked, limit, pi)
            if fam is None or fam in seen:
                continue
            seen.add(fam)
            rc = inst.value(fam) - pi[list(fam[2])].sum() - mu[[a, *extras]].sum()
            if rc > 1e-6 and not inst.family_violations(fam):
                out.append(fam)
        return out

    def _choose(self, extras, ranked, limit, pi) -> Family | None:
        """Best newcomers for a buddy set: ranked ones that fit, then complete the three stages."""
        inst, a = self.inst, self.a
        chosen: list[int] = list(self.forced_n)
        for n in ranked:
            if len(chosen) >= limit:
                break
            if n in chosen or any(m in inst.nn_avoid.get(n, ()) for m in chosen):
                continue
            gain = inst.W + inst.newcomer_points(n, a, extras) - pi[n]
            if chosen and gain <= 0:
                break
            chosen.append(n)
        if not chosen:
            return None
        fam = (a, extras, tuple(sorted(chosen)))
        best, best_v = fam, inst.value(fam) - pi[list(fam[2])].sum()
        stages = {inst.bstage[b] for b in (a, *extras)} | {inst.nstage[n] for n in chosen}
        missing = ALL_STAGES - stages
        if len(missing) == 1 and inst.w_three:
            need = next(iter(missing))
            pool = [n for n in self.free_n if inst.nstage[n] == need and n not in chosen]
            pool = [n for n in pool if not any(m in inst.nn_avoid.get(n, ()) for m in chosen)]
            if pool:
                n_best = max(pool, key=lambda n: (inst.newcomer_points(n, a, extras) - pi[n], -n))
                base = chosen if len(chosen) < limit else chosen[:-1]
                if len(base) >= len(self.forced_n):
                    alt = (a, extras, tuple(sorted([*base, int(n_best)])))
                    v = inst.value(alt) - pi[list(alt[2])].sum()
                    if v > best_v:
                        best = alt
        return best


# -- exact passes in worker processes ---------------------------------------------------------
# Pricing is numpy over small arrays with Python around it: two threads gave no gain (the GIL),
# two processes nearly halve an exact pass.

_WORKER_INST: RegionInstance | None = None
_WORKER_PRICERS: dict[int, AnchorPricer] = {}


def _init_worker(inst: RegionInstance) -> None:
    global _WORKER_INST
    _WORKER_INST = inst
    _WORKER_PRICERS.clear()


def _pricer(a: int) -> AnchorPricer:
    pricer = _WORKER_PRICERS.get(a)
    if pricer is None:
        assert _WORKER_INST is not None, "worker not initialised"
        pricer = _WORKER_PRICERS[a] = AnchorPricer(_WORKER_INST, a)
    return pricer


def _build_pricers(anchors: list[int]) -> int:
    return len([_pricer(a) for a in anchors])


def _price_chunk(anchors: list[int], pi: np.ndarray, mu: np.ndarray, exact: bool, kw: dict):
    return [_pricer(a).price(pi, mu, exact=exact, **kw) for a in anchors]


class PricingPool:
    """Every anchor's pricing split over worker processes; results in anchor order.

    The workers get a copy of the instance (the generation instance, with the final
    eligibility); close the pool when done. `warm` starts the
    processes and builds their pricers in the background (about 2 s of imports and set-up
    that would otherwise delay the first pass); `run` lends a worker to another job while no
    pass is running (the solver's second set dive).
    """

    def __init__(self, inst: RegionInstance, processes: int):
        self.anchors = list(inst.anchors)
        # Interleaved chunks: anchors' pricing costs vary, neighbours in index order alike.
        self.chunks = [self.anchors[i::processes] for i in range(processes)]
        self.pool = ProcessPoolExecutor(
            max_workers=processes,
            mp_context=mp.get_context("spawn"),
            initializer=_init_worker,
            initargs=(inst,),
        )

    def warm(self) -> None:
        """Start every process and build its pricers, without waiting."""
        for _ in self.chunks:
            self.pool.submit(_build_pricers, self.anchors)

    def price(self, pi: np.ndarray, mu: np.ndarray, *, exact: bool, **kw):
        futures = [self.pool.submit(_price_chunk, c, pi, mu, exact, kw) for c in self.chunks]
        by_anchor = {}
        for chunk, fut in zip(self.chunks, futures, strict=True):
            by_anchor.update(zip(chunk, fut.result(), strict=True))
        return [by_anchor[a] for a in self.anchors]

    def run(self, fn, /, *args, **kwargs) -> Future:
        """Any other job for a worker (a set dive); it holds up pricing until it ends."""
        return self.pool.submit(fn, *args, **kwargs)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
