"""A network over an input box, ready for exact questions: its certified bounds, its
MILP, HiGHS (scipy.optimize.milp) with a time budget, and the linear piece through a
point (to polish a solution HiGHS returns within its own tolerances)."""
import time
import warnings

import numpy as np
from scipy.optimize import milp

from .bounds import count_unstable, interval, tighten_and_relax
from .formulation import Formulation, network_milp
from .piecewise import pattern_affine, piecewise_linear

# HiGHS options scipy passes through verbatim: tighter feasibility tolerances than the
# defaults (1e-7, 1e-6), so that a returned point is closer to what the net computes
HIGHS = {"mip_feasibility_tolerance": 1e-9, "primal_feasibility_tolerance": 1e-9}


def finite_box(lo, hi, fixed_mask, fixed_values):
    """The box with fixed features pinned (lo = hi = value); every bound finite."""
    lo, hi = lo.copy(), hi.copy()
    lo[fixed_mask] = hi[fixed_mask] = fixed_values[fixed_mask]
    bad = np.flatnonzero(~(np.isfinite(lo) & np.isfinite(hi)))
    if bad.size:
        raise ValueError(f"exact answers need finite bounds for every free feature; feature "
                         f"{bad[0]} has [{lo[bad[0]]}, {hi[bad[0]]}] (give bounds=(lo, hi) "
                         f"or an (n_in, 2) array)")
    return lo, hi


class WideBoxError(ValueError):
    """The box is too wide for exact answers: its width or the interval bounds of some
    layer over it overflow float64, so every bound derived from it would be infinite."""


class Model:
    def __init__(self, net, lo, hi, time_limit):
        self.net, self.pl, self.lo, self.hi = net, piecewise_linear(net), lo, hi
        self.start_clock(time_limit)
        self.skip_branch = False       # the input-space search is not worth trying
        self.branch = None             # its statistics, once it ran
        t0 = time.perf_counter()
        # valid for every input in the box; relax: what they give (for spec_bounds)
        with np.errstate(over="ignore", invalid="ignore"):
            self.boxes, self.relax = tighten_and_relax(self.pl, lo, hi)
            width = hi - lo
        wide = [k for k, (l, u) in enumerate(self.boxes)
                if not (np.isfinite(l).all() and np.isfinite(u).all())]
        if wide or not np.isfinite(width).all():
            where = f"layer {wide[0]}'s bounds" if wide else "its width"
            raise WideBoxError(f"bounds: the box is too wide for exact answers ({where} "
                               f"overflow float64 over it; |bound| up to "
                               f"{max(np.abs(lo).max(), np.abs(hi).max()):.3g}); narrow it")
        self.box_bounds = [(l.copy(), u.copy()) for l, u in self.boxes]
        n_relu = sum(W.shape[1] for W, a in zip(self.pl.Ws, self.pl.alphas) if a != 1.0)
        self.stats = {"relus": n_relu,
                      "unstable_interval": count_unstable(self.pl, interval(self.pl, lo, hi)),
                      "unstable_backsub": count_unstable(self.pl, self.boxes),
                      "unstable": count_unstable(self.pl, self.boxes),
                      "bounds_seconds": time.perf_counter() - t0,
                      "build_seconds": 0.0, "solve_seconds": 0.0, "milp_calls": 0, "nodes": 0}

    def describe(self):
        s = self.stats
        return (f"{s['unstable']} of {s['relus']} ReLUs unstable after bound tightening "
                f"({s['unstable_interval']} by interval arithmetic, {s['unstable_backsub']} "
                f"after back-substitution)")

    def start_clock(self, time_limit):
        """The time budget starts now."""
        self.deadline = time.perf_counter() + time_limit

    def remaining(self):
        return self.deadline - time.perf_counter()

    def formulation(self, boxes=None):
        """(Formulation, x indices, output indices) of the network over the box, with
        `boxes` (default self.boxes) as the neurons' bounds."""
        t0 = time.perf_counter()
        f, x, zs, _ = network_milp(self.pl, self.lo, self.hi,
                                   self.boxes if boxes is None else boxes)
        self.stats["build_seconds"] += time.perf_counter() - t0
        self.layer_z = zs
        return f, x, zs[-1]

    def tighten_for(self, add_goal, budget):
        """LP-based bound tightening for ONE question: each unstable neuron's z is
        minimized and maximized over the LP relaxation with the goal's rows added
        (add_goal(f, z_out)), layer by layer, each layer's new bounds used for the next.
        The bounds then hold only for inputs that reach the goal, which is all the
        question needs (self.box_bounds keeps the ones valid for every input).  Returns False when the relaxation is infeasible: a proof that
        no input reaches the goal.  Stops after `budget` seconds."""
        t_end = time.perf_counter() + budget
        t0 = time.perf_counter()
        for k, alpha in enumerate(self.pl.alphas):
            if alpha == 1.0:
                continue
            f, _, z_out = self.formulation()
            add_goal(f, z_out)
            problem = f.problem()                 # built once; only the cost changes
            l, u = self.boxes[k]
            for j in np.flatnonzero((l < 0) & (u > 0)):
                if time.perf_counter() > t_end:
                    break
                for sign in (1.0, -1.0):
                    c = np.zeros_like(problem[0])
                    c[self.layer_z[k][j]] = sign
                    res = self.solve((c,) + problem[1:], relaxed=True,
                                     time_limit=max(t_end - time.perf_counter(), 0.1))
                    if res.status == 2:
                        self.stats["lp_tightening_seconds"] = time.perf_counter() - t0
                        return False
                    if res.status != 0:
                        continue
                    v = sign * res.fun
                    pad = 1e-7 * (1 + abs(v))
                    if sign > 0:
                        l[j] = max(l[j], v - pad)
                    else:
                        u[j] = min(u[j], v + pad)
                    if l[j] >= 0 or u[j] <= 0:
                        break
        self.stats["unstable"] = count_unstable(self.pl, self.boxes)
        self.stats["lp_tightening_seconds"] = time.perf_counter() - t0
        return True

    def piece(self, x_at):
        """The LP of the linear piece through x_at: (Formulation, x, output indices)."""
        A, c, G, h = pattern_affine(self.pl, x_at)
        f = Formulation()
        x = f.add_variables(self.lo, self.hi)
        z = f.add_variables(np.full(len(c), -np.inf), np.inf)
        r, i = np.nonzero(A)
        f.add_rows(c, c, (np.arange(z.size), z, 1.0), (r, x[i], -A[r, i]))
        if G.size:
            r, i = np.nonzero(G)
            f.add_rows(-np.inf, h, (r, x[i], G[r, i]))
        return f, x, z

    def solve(self, f, relaxed=False, gap=1e-6, time_limit=None, first_point=False):
        """scipy.optimize.milp on f (a Formulation, or its problem()) within the time
        left; the OptimizeResult.  relaxed: the LP relaxation (binaries in [0, 1]);
        first_point: stop at the first feasible point (status 4, with res.x)."""
        left = self.remaining() if time_limit is None else time_limit
        c, integrality, bounds, constraints = f if isinstance(f, tuple) else f.problem()
        options = {"time_limit": max(left, 1e-3), "mip_rel_gap": gap}
        if first_point:
            options["mip_max_improving_sols"] = 1
        if relaxed:
            integrality = np.zeros_like(integrality)
        else:
            options.update(HIGHS)
        t0 = time.perf_counter()
        with warnings.catch_warnings():          # "passed to HiGHS verbatim"
            warnings.simplefilter("ignore", RuntimeWarning)
            res = milp(c, integrality=integrality, bounds=bounds, constraints=constraints,
                       options=options)
        self.stats["solve_seconds"] += time.perf_counter() - t0
        self.stats["milp_calls"] += 1
        self.stats["nodes"] += int(res.mip_node_count or 0)
        return res


def dual_bound(res):
    """HiGHS's proven lower bound on the objective (the optimum itself when the program
    had no binary left, i.e. was an LP), or None."""
    if res.mip_dual_bound is not None and np.isfinite(res.mip_dual_bound):
        return float(res.mip_dual_bound)
    if res.status == 0 and res.fun is not None:
        return float(res.fun)
    return None
