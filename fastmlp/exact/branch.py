"""Input-space branch and bound: a proof that no input reaches the goal, or a witness,
without a MILP, for networks with few free inputs.

The goal is first written as conditions c_j · z_L >= h_j that every input reaching it
must meet (`necessary_rows`): for a target value t_k within tol, z_k >= t_k - tol and
-z_k >= -(t_k + tol); for a logit margin m over class c, z_c - z_j >= m for every j ≠ c
(for a probability, the margin it needs).  A box of inputs is then ruled out as soon as
one condition fails on all of it, i.e. the certified upper bound of c_j · z_L on the box
(fastmlp.exact.bounds.spec_bounds: back-substitution through the relaxed ReLUs, with the
intermediate bounds recomputed for the box, so that they shrink with it) is below h_j.

The boxes that stay are halved along the input whose range contributes most to the
bound closest to ruling the box out (|coefficient| × width, for the condition with the
smallest upper bound - h_j), a batch of boxes at a time, depth first so that memory
stays small.  When no box is left, no input reaches the goal.  At each box, three points
(its centre, and the corners that maximize and minimize the linear bound of that
condition) go through fastmlp's float64 forward pass, and a point that reaches the goal
ends the search as a witness.  For a target on one output, two points whose outputs lie
on either side of it are enough: bisection on the segment between them finds a witness
(SAMPLES random points of the box start the search for such a pair).

The bounds loosen with the number of inputs that vary, so the search is tried only for
up to MAX_FREE_INPUTS free inputs; it gives up (answer "open") after its time or box
budget, or when after HOPELESS_AFTER boxes it has ruled out almost none (the bounds are
too loose for this goal), and the MILP takes over.  fastmlp.invert tries PROBE_BOXES
boxes before its local search (a proof on a small net costs milliseconds, less than the
search), and the rest after it, unless the probe found the bounds hopeless.
"""
import time

import numpy as np

from .bounds import relaxations, spec_bounds
from .piecewise import forward64

MAX_FREE_INPUTS = 64
BATCH = 256                 # boxes bounded at once
MAX_BOXES = 200_000         # boxes waiting at most (memory: 2 · n_in floats each)
PROBE_BOXES = 512           # the quick try before the local search
HOPELESS_AFTER, HOPELESS_SHARE = 4096, 0.01    # this many boxes, < 1% ruled out: stop
SAMPLES = 64                # random points to start a one-output bracket with
BISECTIONS = 12             # rounds of 32 segments each: down to 2^-60 of the segment


def necessary_rows(crit):
    """(S, h): every input that reaches the goal has z_L @ S >= h (elementwise)."""
    n = crit.n_out
    if crit.kind == "values":
        k = crit.specified
        eye = np.eye(n)[:, k]
        return (np.hstack([eye, -eye]),
                np.concatenate([crit.t[k] - crit.tol, -(crit.t[k] + crit.tol)]))
    others = np.delete(np.arange(n), crit.c)
    S = np.zeros((n, others.size))
    S[crit.c] = 1.0
    S[others, np.arange(others.size)] = -1.0
    level = crit.margin if crit.kind == "margin" else crit.necessary
    return S, np.full(others.size, level)


def bound_corners(pl, relax, crit, lo, hi):
    """(k, n_in): for each condition of the goal, the corner of the box that maximizes
    its linear upper bound (one back-substitution over the whole box, whose relaxations
    `relax` are, as bounds.tighten_and_relax gives them).  On a ReLU net these are often
    near the best inputs there are, like a signed-gradient step to the edge of the box:
    fastmlp.invert starts part of its local search from them."""
    S, h = necessary_rows(crit)
    L, H = lo[None].astype(np.float64), hi[None].astype(np.float64)
    _, C = spec_bounds(pl, relax, L, H, S, -h)
    return np.where(C[0].T > 0, H, L)


def branch_and_bound(net, pl, crit, lo, hi, budget, max_boxes=None):
    """("unreachable", None, stats) when every box is ruled out; ("reached", x, stats)
    with x confirmed by the forward pass; ("open", None, stats) when the budget (seconds,
    and max_boxes bounded) ran out first.  lo, hi: the box (a fixed feature has lo = hi).
    stats: boxes bounded, ruled out, and the best point seen ("x_best", by crit.score)."""
    S, h = necessary_rows(crit)
    t_end = time.perf_counter() + budget
    stack_lo, stack_hi = [lo[None].astype(np.float64)], [hi[None].astype(np.float64)]
    stats = {"boxes": 0, "ruled_out": 0, "x_best": 0.5 * (lo + hi), "best": None}
    if crit.kind == "values" and crit.specified.size == 1:     # points to bracket t with
        X = lo + np.random.default_rng(0).random((SAMPLES, lo.size)) * (hi - lo)
        x = _bracket(net, crit, stats, X, forward64(net, X), lo, hi)
        if x is not None:
            return "reached", x, stats
    while True:
        L, H = np.concatenate(stack_lo), np.concatenate(stack_hi)
        if L.shape[0] == 0:
            return "unreachable", None, stats
        if (L.shape[0] > MAX_BOXES or time.perf_counter() > t_end or
                (max_boxes is not None and stats["boxes"] >= max_boxes) or
                (stats["boxes"] >= HOPELESS_AFTER and hopeless(stats))):
            return "open", None, stats
        L, H, stack_lo, stack_hi = L[-BATCH:], H[-BATCH:], [L[:-BATCH]], [H[:-BATCH]]
        stats["boxes"] += L.shape[0]
        up, C = spec_bounds(pl, relaxations(pl, L, H), L, H, S, -h)
        alive = (up >= 0).all(axis=1)      # no condition ruled out on all of the box
        stats["ruled_out"] += int(np.count_nonzero(~alive))
        if not alive.any():
            continue
        L, H, up, C = L[alive], H[alive], up[alive], C[alive]
        rows = np.arange(L.shape[0])
        closest = up.argmin(axis=1)
        coef = C[rows, :, closest]                                # (B, n_in)
        candidates = np.concatenate([np.where(coef > 0, H, L), np.where(coef > 0, L, H),
                                     0.5 * (L + H)])
        Z = forward64(net, candidates)
        _keep_best(stats, crit, candidates, Z)
        hit = np.flatnonzero(crit.ok(Z))
        if hit.size:
            return "reached", candidates[hit[0]], stats
        x = _bracket(net, crit, stats, candidates, Z, lo, hi)
        if x is not None:
            return "reached", x, stats
        dim = _split_dimension(coef, C, H - L)
        if not (H[rows, dim] > L[rows, dim]).all():     # a box that is a point
            return "open", None, stats
        mid = 0.5 * (L[rows, dim] + H[rows, dim])
        upper_lo, lower_hi = L.copy(), H.copy()
        upper_lo[rows, dim] = mid
        lower_hi[rows, dim] = mid
        stack_lo += [L, upper_lo]
        stack_hi += [lower_hi, H]


def _bracket(net, crit, stats, X, Z, lo, hi):
    """A target on ONE output: once two points seen have outputs on either side of it,
    the point between them that reaches it, by bisection on the segment (the network is
    continuous); None until then."""
    if crit.kind != "values" or crit.specified.size != 1:
        return None
    k = crit.specified[0]
    for side, i in (("below", np.argmin(Z[:, k])), ("above", np.argmax(Z[:, k]))):
        seen = stats.get(side)
        if seen is None or (Z[i, k] < seen[0] if side == "below" else Z[i, k] > seen[0]):
            stats[side] = (Z[i, k], X[i].copy())
    if not stats["below"][0] <= crit.t[k] <= stats["above"][0]:
        return None
    a, b = stats["below"][1], stats["above"][1]
    s_lo, s_hi = 0.0, 1.0
    for _ in range(BISECTIONS):
        s = np.linspace(s_lo, s_hi, 33)
        P = np.clip(a + s[:, None] * (b - a), lo, hi)
        Zs = forward64(net, P)
        ok = np.flatnonzero(crit.ok(Zs))
        if ok.size:
            return P[ok[0]]
        above = Zs[:, k] >= crit.t[k]
        change = np.flatnonzero(above[:-1] != above[1:])
        if not change.size:
            return None
        s_lo, s_hi = s[change[0]], s[change[0] + 1]
    return None


def _split_dimension(coef, C, width):
    """Per box, the input to halve: the largest |coefficient| × width in the bound
    closest to ruling the box out; where that bound does not depend on x, in all the
    bounds; where none does, the widest input."""
    score = np.abs(coef) * width
    flat = score.max(axis=1) <= 0
    if flat.any():
        score[flat] = np.abs(C[flat]).sum(axis=2) * width[flat]
        flat = score.max(axis=1) <= 0
        score[flat] = width[flat]
    return score.argmax(axis=1)


def _keep_best(stats, crit, X, Z):
    score = crit.score(Z)
    sign = 1.0 if crit.kind == "values" else -1.0      # smaller sign · score is better
    i = int(np.argmin(sign * score))
    if stats["best"] is None or sign * score[i] < sign * stats["best"]:
        stats["best"], stats["x_best"] = float(score[i]), X[i].copy()


def hopeless(stats):
    """Whether the bounds are too loose for this goal: almost no box was ruled out."""
    return stats["ruled_out"] < HOPELESS_SHARE * stats["boxes"]


def worth_trying(lo, hi):
    """Whether the search has a chance: few enough inputs vary."""
    return np.count_nonzero(hi > lo) <= MAX_FREE_INPUTS
