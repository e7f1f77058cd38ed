"""ReLU-splitting branch and bound with optimized bounds: a proof that no input reaches
the goal (or a witness) when every ReLU stays unstable and the input box is too wide to
split, as on the 20-32-32-3 net of bench/exact.py.

A domain is the input box with some unstable neurons fixed: "on" (z >= 0, so σ(z) = z)
or "off" (z <= 0, σ(z) = α z).  Every goal is first written as conditions
f_k(z_L) = z_L @ S_k - h_k >= 0 that any input reaching it meets (branch.necessary_rows).
Over a domain, an upper bound on a combination g = Σ_k λ_k f_k (λ >= 0, not all 0) comes
from back-substitution as in fastmlp.exact.bounds, with three sets of free parameters,
each of which leaves the bound valid whatever its value:

    α   the lower line a >= α z of each unstable neuron (any α between the leaky slope
        and 1 is below σ on its whole interval)
    β   one multiplier >= 0 per fixed neuron: g <= g + β z on a neuron fixed on
        (z >= 0 there), g <= g - β z on one fixed off; this is how the split reaches the
        input layer, where otherwise the bound would still range over the whole box
    λ   the weights of the conditions (one column per condition, and one free column)

and they are optimized by projected gradient steps (Adam) per domain, all domains of a
batch at once, as in α,β-CROWN (Wang et al., "Beta-CROWN", NeurIPS 2021).  For fixed
parameters the bound is attained at a point: the input corner picked by the signs of the
final coefficients, sent forward through the linear pieces the bound used; the gradient
of the bound is read off there (for β_i: ± z_i at that point, for α_i: the coefficient
of a_i times z_i, for λ_k: f_k).  Each domain's bounds of the hidden layers below come
from plain back-substitution with the fixed neurons' intervals clamped at 0.

A domain is ruled out when one column's optimized bound is below 0 (less a margin for
rounding).  Otherwise its optimal corners go through fastmlp's float64 forward pass (a
point that reaches the goal is a witness), and it is split on the unstable neuron whose
chord intercept weighs most in its best column's bound.  When no domain is left, no
input reaches the goal.  Depth first, a batch of domains at a time.
"""
import time

import numpy as np
from scipy.optimize import linprog

from .bounds import _layer_bounds, relaxation
from .branch import necessary_rows
from .piecewise import forward64, piece_affine

STEPS = 8                     # gradient steps on (α, β, λ) per batch of domains
RATE = 0.3                    # Adam's step for α and β (λ: half of it)
MAX_DOMAINS = 200_000         # domains waiting at most
HOPELESS_AFTER, HOPELESS_SHARE = 20_000, 0.01    # this many domains, < 1% ruled out: stop
BATCH_FLOATS = 2 ** 23        # the largest back-substitution array of one batch


def relu_branch_and_bound(net, pl, crit, lo, hi, budget, root_boxes=None, max_domains=None):
    """("unreachable", None, stats) when every domain is ruled out; ("reached", x,
    stats) with x confirmed by the forward pass; ("open", None, stats) when the budget
    (seconds) ran out, the domains became too many, or a domain with no unstable neuron
    left could not be ruled out; then stats["slack_bound"] bounds min_k f_k over all
    inputs (+inf if no domain was bounded).  root_boxes: bounds on every layer's z valid
    for the inputs in question (default: none beyond those computed here); max_domains:
    stop (open) once this many domains were bounded."""
    S, h = necessary_rows(crit)
    K = S.shape[1]
    lam0 = np.vstack([np.eye(K), np.full((1, K), 1.0 / K)]) if K > 1 else np.eye(1)
    free = np.arange(lam0.shape[0]) == K
    sizes = [W.shape[1] for W in pl.Ws[:-1]]
    widest = max(sizes + [lo.size]) * max(sizes) * lam0.shape[0]
    batch = int(np.clip(BATCH_FLOATS // widest, 8, 1024))
    t_end = time.perf_counter() + budget
    # each entry: the splits of a batch of domains, and a bound on min_k f_k over each
    # (its parent's: a part of a domain has no larger bound)
    stack = [([np.zeros((1, n), np.int8) for n in sizes], np.full(1, np.inf))]
    stats = {"domains": 0, "ruled_out": 0, "slack_bound": np.inf}
    while stack:
        splits, inherited = stack.pop()
        if splits[0].shape[0] > batch:
            stack.append(([s[batch:] for s in splits], inherited[batch:]))
            splits, inherited = [s[:batch] for s in splits], inherited[:batch]
        waiting = sum(entry[1].size for entry in stack)
        if (time.perf_counter() > t_end or waiting > MAX_DOMAINS or
                (max_domains is not None and stats["domains"] >= max_domains) or
                (stats["domains"] >= HOPELESS_AFTER and
                 stats["ruled_out"] < HOPELESS_SHARE * stats["domains"])):
            return _open(stats, stack, inherited)
        stats["domains"] += splits[0].shape[0]
        boxes, empty = domain_bounds(pl, lo, hi, splits, root_boxes)
        live = np.flatnonzero(~empty)
        stats["ruled_out"] += splits[0].shape[0] - live.size
        if not live.size:
            continue
        splits, inherited = [s[live] for s in splits], inherited[live]
        bound = OptimizedBound(pl, lo, hi, S, h, [(l[live], u[live]) for l, u in boxes],
                               splits, lam0, free)
        upper, corners = bound.optimize()
        alive = (upper >= 0).all(axis=1)      # no column below 0
        stats["ruled_out"] += int(np.count_nonzero(~alive))
        if not alive.any():
            continue
        idx = np.flatnonzero(alive)
        # each column's λ sums to 1, so Σ λ_k f_k >= min_k f_k: its bound bounds min_k f_k
        slack = np.minimum(upper[idx].min(axis=1), inherited[idx])
        candidates = corners[idx].reshape(-1, lo.size)
        hit = np.flatnonzero(crit.ok(forward64(net, candidates)))
        if hit.size:
            return "reached", candidates[hit[0]], stats
        pick = bound.split_choice(idx, upper[idx].argmin(axis=1))
        for i in np.flatnonzero(pick < 0):     # linear on the domain: one LP decides it
            verdict, x = _linear_piece(pl, lo, hi, [s[idx[i]] for s in splits],
                                       [(l[idx[i]], u[idx[i]]) for l, u in bound.boxes],
                                       S, h)
            if verdict == "ruled out":
                stats["ruled_out"] += 1
            elif verdict == "point" and crit.ok(forward64(net, x))[0]:
                return "reached", x, stats
            else:                               # on the edge: left to the MILP
                return _open(stats, stack, slack)
        split = pick >= 0
        if split.any():
            stack.append((_children([s[idx[split]] for s in splits], pick[split], sizes),
                          np.tile(slack[split], 2)))
    return "unreachable", None, stats


def _open(stats, stack, current):
    """("open", None, stats) with stats["slack_bound"]: an upper bound on min_k f_k over
    every input (the domains still open are all that may hold one with min_k f_k >= 0,
    the others were ruled out), from the bounds of the domains in hand and waiting."""
    bounds = [current] + [entry[1] for entry in stack]
    stats["slack_bound"] = float(max((b.max() for b in bounds if b.size), default=-np.inf))
    return "open", None, stats


def domain_bounds(pl, lo, hi, splits, root_boxes=None):
    """([(l_k, u_k)] of every hidden layer's z on each domain, (B, n_k) each; a mask of
    the domains that are empty: a neuron fixed on whose z is < 0 on all of it, or fixed
    off whose z is > 0).  bounds._layer_bounds, each layer's bounds intersected with
    root_boxes and the fixed neurons' intervals clamped at 0 before the layers above
    use them."""
    B = splits[0].shape[0]
    empty = np.zeros(B, bool)

    def clamp(k, l, u):
        if root_boxes is not None:
            l, u = np.maximum(l, root_boxes[k][0]), np.minimum(u, root_boxes[k][1])
        on, off = splits[k] > 0, splits[k] < 0
        empty[...] |= (on & (u < 0)).any(axis=1) | (off & (l > 0)).any(axis=1)
        return (np.where(on, np.maximum(l, 0), np.where(off, np.minimum(l, 0), l)),
                np.where(off, np.minimum(u, 0), np.where(on, np.maximum(u, 0), u)))

    boxes, _ = _layer_bounds(pl, np.broadcast_to(lo, (B, lo.size)),
                             np.broadcast_to(hi, (B, hi.size)), clamp)
    return boxes, empty


def _linear_piece(pl, lo, hi, split, boxes, S, h):
    """On a domain where no neuron is unstable the network is one affine map: the
    input that maximizes the smallest condition f_k there, by one LP (every neuron's
    sign on the domain as rows: the fixed ones' define it, the others' hold on all of
    it): ("point", x); ("ruled out", None) when even that one has some f_k < 0 (by
    more than the LP's tolerance), i.e. no input of the domain reaches the goal;
    ("open", None) when the LP failed."""
    on = [(l >= 0) | (s > 0) for s, (l, _) in zip(split, boxes)]
    A, c, G, g = piece_affine(pl, on, lo.size)         # z_L = A x + c, G x <= g
    F, f0 = S.T @ A, S.T @ c - h                       # f(x) = F x + f0
    n = lo.size                                        # variables: x, then t <= every f_k
    res = linprog(np.r_[np.zeros(n), -1.0],
                  A_ub=np.vstack([np.hstack([G, np.zeros((len(G), 1))]),
                                  np.hstack([-F, np.ones((len(F), 1))])]),
                  b_ub=np.concatenate([g, f0]),
                  bounds=list(zip(lo, hi)) + [(None, None)], method="highs")
    if res.status == 2 or (res.status == 0 and -res.fun < -1e-7 * (1 + np.abs(f0).max())):
        return "ruled out", None
    if res.status != 0:
        return "open", None
    return "point", np.clip(res.x[:n], lo, hi)


def _children(splits, pick, sizes):
    """Each domain twice: neuron `pick` (counted over all hidden layers) on, then off."""
    on, off = [s.copy() for s in splits], [s.copy() for s in splits]
    rows = np.arange(pick.size)
    start = 0
    for k, n in enumerate(sizes):
        sel = (pick >= start) & (pick < start + n)
        on[k][rows[sel], pick[sel] - start] = 1
        off[k][rows[sel], pick[sel] - start] = -1
        start += n
    return [np.concatenate([a, b]) for a, b in zip(on, off)]


class OptimizedBound:
    """Upper bounds on Σ_k λ_k f_k over each domain of a batch (B domains, M columns of
    λ), minimized over α, β and the free columns' λ.  Arrays are (B, M, n)."""

    def __init__(self, pl, lo, hi, S, h, boxes, splits, lam0, free):
        self.pl, self.lo, self.hi, self.S, self.h = pl, lo, hi, S, h
        self.boxes = boxes
        B, M = boxes[0][0].shape[0], lam0.shape[0]
        self.lam = np.broadcast_to(lam0, (B,) + lam0.shape).copy()
        self.free = free
        self.unstable, self.chord, self.intercept, self.linear = [], [], [], []
        self.alpha, self.beta, self.sign = [], [], []
        for (l, u), a, s in zip(boxes, pl.alphas, splits):
            lam_l, lam_u, mu_u = relaxation(l, u, a)
            # an identity layer (slope 1 both sides) is linear: nothing to split
            self.unstable.append(((l < 0) & (u > 0) & (s == 0) & (a != 1.0))[:, None, :])
            self.chord.append(lam_u[:, None, :])
            self.intercept.append(mu_u[:, None, :])
            self.linear.append(np.where((l >= 0) | (s > 0), 1.0, a)[:, None, :])
            self.alpha.append(np.broadcast_to(lam_l[:, None, :], (B, M, l.shape[1])).copy())
            self.beta.append(np.zeros((B, M, l.shape[1])))
            self.sign.append(s[:, None, :].astype(np.float64))

    def _slopes(self, j, C):
        """The slope of a_j's line in each neuron for coefficients C on a_j, and where
        the chord (with its intercept) is used."""
        chord = self.unstable[j] & (C > 0)
        slope = np.where(self.unstable[j], np.where(chord, self.chord[j], self.alpha[j]),
                         self.linear[j])
        return slope, chord

    def bound(self):
        """(upper bounds (B, M) padded for rounding, the corners that attain them
        (B, M, n_in), the coefficients on each hidden a_j, the gradients of the bound
        in α, β and λ)."""
        pl = self.pl
        C = self.lam @ self.S.T                                   # on z_L
        const = np.einsum("bmo,o->bm", C, pl.bs[-1]) - self.lam @ self.h
        size = np.abs(const)
        C = C @ pl.Ws[-1].T
        on_a = [None] * len(pl.alphas)
        for j in range(len(pl.alphas) - 1, -1, -1):
            on_a[j] = C
            slope, chord = self._slopes(j, C)
            lift = np.where(chord, self.intercept[j] * C, 0.0).sum(axis=2)
            C = slope * C + self.sign[j] * self.beta[j]          # on z_j
            shift = C @ pl.bs[j]
            const = const + lift + shift
            size = size + np.abs(lift) + np.abs(shift)
            C = C @ pl.Ws[j].T
        x = np.where(C > 0, self.hi, self.lo)
        reach = (C * x).sum(axis=2)
        upper = const + reach
        upper = upper + 1e-9 * (1 + size + np.abs(reach) + np.abs(upper))
        # the point that attains it, forward through the same lines: the gradients
        z = x @ pl.Ws[0] + pl.bs[0]
        g_alpha, g_beta = [], []
        for j in range(len(pl.alphas)):
            slope, chord = self._slopes(j, on_a[j])
            g_alpha.append(np.where(self.unstable[j] & ~chord, on_a[j] * z, 0.0))
            g_beta.append(self.sign[j] * z)
            z = (slope * z + np.where(chord, self.intercept[j], 0.0)) @ pl.Ws[j + 1] + pl.bs[j + 1]
        g_lam = z @ self.S - self.h
        return upper, x, on_a, g_alpha, g_beta, g_lam

    def optimize(self, steps=STEPS):
        """The best bound of each (domain, column) over `steps` Adam steps, and its
        corner; self.on_a keeps the coefficients of the last step (for split_choice)."""
        best, corners = None, None
        adam = _Adam()
        for t in range(steps + 1):
            upper, x, self.on_a, g_alpha, g_beta, g_lam = self.bound()
            if best is None:
                best, corners = upper, x
            else:
                better = upper < best
                best = np.where(better, upper, best)
                corners = np.where(better[..., None], x, corners)
            if t == steps:
                break
            for j, alpha in enumerate(self.pl.alphas):
                adam.step(("alpha", j), self.alpha[j], g_alpha[j], RATE, alpha, 1.0)
                adam.step(("beta", j), self.beta[j], g_beta[j], RATE, 0.0, None)
            if self.free.any():
                adam.step("lam", self.lam, np.where(self.free[:, None], g_lam, 0.0),
                          RATE / 2, 0.0, None)
                total = self.lam.sum(axis=2, keepdims=True)
                self.lam = np.where(total > 0, self.lam / np.where(total > 0, total, 1.0),
                                    1.0 / self.lam.shape[2])
        return best, corners

    def split_choice(self, rows, column):
        """Per domain rows[i]: the neuron to split (counted over all hidden layers), the
        unstable one whose chord intercept adds most to the bound of its column
        column[i]; among unstable neurons that add nothing, the widest intercept; -1
        where no neuron is unstable."""
        scores, fallback = [], []
        r = np.arange(rows.size)
        for j in range(len(self.pl.alphas)):
            C = self.on_a[j][rows, column]                      # (b, n_j)
            mu = self.intercept[j][rows, 0]
            unstable = self.unstable[j][rows, 0]
            scores.append(np.where(unstable, mu * np.maximum(C, 0.0), -1.0))
            fallback.append(np.where(unstable, mu, -1.0))
        scores, fallback = np.concatenate(scores, axis=1), np.concatenate(fallback, axis=1)
        pick = scores.argmax(axis=1)
        flat = scores[r, pick] <= 0
        pick[flat] = fallback[flat].argmax(axis=1)
        pick[fallback[r, pick] < 0] = -1
        return pick


class _Adam:
    """Adam steps that minimize, in place, each parameter clipped to [lo, hi]."""

    def __init__(self):
        self.moments, self.t = {}, {}

    def step(self, key, p, g, rate, lo, hi):
        m, v = self.moments.get(key, (0.0, 0.0))
        t = self.t.get(key, 0) + 1
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
        self.moments[key], self.t[key] = (m, v), t
        p -= rate * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-12)
        np.clip(p, lo, hi, out=p)
