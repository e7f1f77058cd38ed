"""invert(..., method="exact"): a witness, a proof that none exists, or a bound.

    feasible   (default)  a point that reaches the goal, or a proof that none does
    closest               the globally closest achievable output (min max-error, or
                          max logit margin), with its optimality gap
    nearest               among the points that reach the goal, the nearest to x_ref
                          (L1 or L∞, each feature in units of the training spread)

probe() runs before the batched local search: the corners that maximize the goal's
certified linear bounds (extra starting points for the search) and, when few inputs
vary, a first round of input-space branch and bound (fastmlp.exact.branch), which may
already prove the goal unreachable or find a witness; the rest of that search runs
after the local search, then ReLU-splitting branch and bound (fastmlp.exact.relu_branch,
for any number of inputs), and then the MILP.  A point the local search finds that fastmlp's float64 forward pass
confirms ends a feasibility question at once, and its best score is a cutoff for
`closest`.  Every point returned as "reached" has been checked by that forward pass;
a point from HiGHS that fails the check is polished by an LP on its linear piece
(which is exact arithmetic away from the solver's tolerances) and checked again.
"""
import time

import numpy as np

from ..inversion import InversionResult
from .branch import PROBE_BOXES, bound_corners, branch_and_bound, hopeless, worth_trying
from .goal import SLACK, Criterion
from .model import Model, dual_bound, finite_box
from .piecewise import forward64
from .relu_branch import relu_branch_and_bound

FEASIBLE, INFEASIBLE, TIME_LIMIT = 0, 2, 1           # scipy.optimize.milp statuses
SOLUTION_LIMIT = 4         # HiGHS stopped at its first point (scipy: "not recognized")
TIGHTENING_SHARE = 1 / 3
BRANCH_SHARE = 1 / 4
RELU_BRANCH_SHARE = 1 / 3


def probe(net, goal, lo, hi, fixed_mask, fixed_values, time_limit, search=True):
    """Before the local search: the network's Model over the box (stats["model"], for
    exact_invert after the search).  Always: stats["starts"], the corners of the box
    that maximize the linear bounds of the goal's conditions (starting points for the
    local search).  With search, when few inputs vary: PROBE_BOXES boxes of input-space
    branch and bound (the rest is skipped later when these found the bounds hopeless).
    (an InversionResult, stats): a proof or a witness; (None, stats): undecided."""
    lo, hi = finite_box(lo, hi, fixed_mask, fixed_values)
    crit = Criterion(goal, net.sizes[-1])
    model = Model(net, lo, hi, time_limit)
    stats = {"model": model, "seconds": 0.0,
             "starts": bound_corners(model.pl, model.relax, crit, lo, hi)}
    if not (search and worth_trying(lo, hi)):
        return None, stats
    status, x = _branch(model, crit, PROBE_BOXES)
    model.skip_branch = hopeless(model.branch)
    stats["seconds"] = model.stats["branch_seconds"]
    if status not in ("reached", "unreachable"):
        return None, stats
    x_best = model.branch["x_best"] if x is None else x
    searched = _NoSearch(x_best, 2 * model.branch["boxes"])
    if status == "reached":
        return _reached_by_branch(model, goal, searched, x, crit), stats
    return _unreachable(model, goal, searched, x_best, crit, _necessary(crit)), stats


class _NoSearch:
    """Stands for the local search when the probe answered before it ran."""
    n_iter = 0

    def __init__(self, x, n_evaluations):
        self.x, self.n_evaluations = x, n_evaluations


def exact_invert(net, goal, lo, hi, fixed_mask, fixed_values, local, *, objective,
                 x_ref, spread, norm, time_limit, probed=None):
    """probed: probe()'s stats (None: no probe ran; its Model is used, with the clock
    started again)."""
    lo, hi = finite_box(lo, hi, fixed_mask, fixed_values)
    crit = Criterion(goal, net.sizes[-1])
    X_local = np.array([x for x, _, _ in local.solutions])
    Z_local = forward64(net, X_local)
    scores = crit.score(Z_local)
    best = int(np.argmin(scores) if crit.kind == "values" else np.argmax(scores))
    reached_locally = np.flatnonzero(crit.ok(Z_local))
    if objective == "feasible" and reached_locally.size:
        i = reached_locally[0]
        return _answer(net, goal, local, X_local[i], "reached",
                       f"reached {crit.describe()}: found by the local search and confirmed "
                       f"by the float64 forward pass", None, None, {"solver": "local search"})
    if probed is None:
        model = Model(net, lo, hi, time_limit)
    else:
        model = probed["model"]
        model.start_clock(time_limit)
    if objective == "closest":
        return _closest(model, crit, goal, local, X_local[best], scores[best])
    if objective == "nearest":
        return _nearest(model, crit, goal, local, x_ref, spread, norm)
    return _feasible(model, crit, goal, local, X_local[best], scores[best])


# -- feasibility ------------------------------------------------------------------------

def _feasible(model, crit, goal, local, x_best, s_best):
    for search in (_branch, _relu_branch):
        status, x = search(model, crit)
        if status == "reached":
            return _reached_by_branch(model, goal, local, x, crit)
        if status == "unreachable":
            return _unreachable(model, goal, local, x_best, crit, _necessary(crit))
    if crit.kind == "prob":
        # the necessary margin, relaxed by the slack: infeasible is a proof
        level = crit.necessary - SLACK * (1 + abs(crit.necessary))
        status, x = _find(model, crit, level)
        if status == INFEASIBLE:
            return _unreachable(model, goal, local, x_best, crit,
                                f"no input has logit margin >= {level:.6g} over every other "
                                f"class, which probability {crit.q} needs")
        if status == FEASIBLE and x is not None:
            return _reached(model, goal, local, x, crit)
        if status == FEASIBLE:            # found, but not confirmed: the sufficient margin
            status, x = _find(model, crit, crit.asked(crit.sufficient))
            if x is not None:
                return _reached(model, goal, local, x, crit)
    else:
        level = crit.asked()
        status, x = _find(model, crit, level)
        if status == INFEASIBLE:
            what = (f"max error <= {level:.6g}" if crit.kind == "values"
                    else f"logit margin >= {level:.6g}")
            return _unreachable(model, goal, local, x_best, crit,
                                f"no input gives {what} on the target")
        if x is not None:
            return _reached(model, goal, local, x, crit)
    bound, source = _relaxation_bound(model, crit), "LP relaxation"
    searched = _searched_bound(model, crit)
    if searched is not None and (bound is None or (searched > bound if crit.kind == "values"
                                                   else searched < bound)):
        bound, source = searched, "ReLU-splitting branch and bound"
    why = ("the time limit ran out" if status == TIME_LIMIT else
           "the solver's point failed the forward-pass check")
    return _unknown(model, goal, local, x_best, crit, bound, why, source)


def _searched_bound(model, crit):
    """The bound the ReLU-splitting search proved before it stopped, in the goal's
    terms (or None): each condition is f_k >= 0, and no input has min_k f_k above the
    search's slack bound s.  For values min_k f_k = tol - max error, so the max error
    is at least tol - s; for margins min_k f_k = margin - level, so the margin is at
    most level + s."""
    slack = model.stats.get("relu_branch_slack")
    if slack is None or not np.isfinite(slack):
        return None
    if crit.kind == "values":
        return crit.tol - slack
    return (crit.margin if crit.kind == "margin" else crit.necessary) + slack


def _branch(model, crit, max_boxes=None):
    """Input-space branch and bound (fastmlp.exact.branch) within a quarter of the time
    left, when few inputs vary and the probe did not find it hopeless: (status,
    witness)."""
    if model.skip_branch or not worth_trying(model.lo, model.hi):
        return "skipped", None
    t0 = time.perf_counter()
    status, x, stats = branch_and_bound(model.net, model.pl, crit, model.lo, model.hi,
                                        BRANCH_SHARE * model.remaining(), max_boxes)
    model.branch = stats
    _record(model, status, t0, "branch", "input-space branch and bound", stats["boxes"],
            "boxes", "a certified bound")
    return status, x


def _relu_branch(model, crit):
    """ReLU-splitting branch and bound with optimized bounds (fastmlp.exact.relu_branch)
    within a third of the time left: (status, witness)."""
    t0 = time.perf_counter()
    status, x, stats = relu_branch_and_bound(model.net, model.pl, crit, model.lo, model.hi,
                                             RELU_BRANCH_SHARE * model.remaining(),
                                             model.box_bounds)
    model.stats["relu_branch_slack"] = stats["slack_bound"]
    _record(model, status, t0, "relu_branch", "ReLU-splitting branch and bound",
            stats["domains"], "domains", "an optimized certified bound")
    return status, x


def _record(model, status, t0, key, name, count, unit, bound):
    """A search's statistics in model.stats (key_unit, key_seconds, found_by), and its
    proof when it proved the goal unreachable."""
    model.stats[f"{key}_{unit}"] = count
    model.stats[f"{key}_seconds"] = time.perf_counter() - t0
    model.stats["found_by"] = name
    if status == "unreachable":
        model.stats["proof"] = f"{name}: {count} {unit}, each ruled out by {bound}"


def _reached_by_branch(model, goal, local, x, crit):
    how = model.stats.get("found_by", "input-space branch and bound")
    message = (f"reached {crit.describe()}: found by {how} and "
               f"confirmed by the float64 forward pass; {model.describe()}")
    return _answer(model.net, goal, local, x, "reached", message, None, None, model.stats)


def _necessary(crit):
    """What branch_and_bound proved impossible."""
    if crit.kind == "values":
        return f"no input gives every specified output within {crit.tol:.6g} of its target"
    if crit.kind == "margin":
        return f"no input has logit margin >= {crit.margin:.6g} over every other class"
    return (f"no input has logit margin >= {crit.necessary:.6g} over every other class, "
            f"which probability {crit.q} needs")


def _find(model, crit, level):
    """Solve for a point at `level`; (status, a confirmed point or None).

    The MILP optimizes the score (the margin, or the max error) with `level` as its
    bound, rather than asking only for a point that meets the level: HiGHS then prunes
    with the relaxation's bound on the score and branches where the score is decided,
    and proves the unreachable far sooner (20-32-32-3, margin 3.94: 3.3-4.6 s over four
    solver seeds against 10-44 s; margin 2.5: infeasible in 20 s against a time limit
    at 60 s).  It stops at the first point that meets the level."""
    if not _tightened(model, lambda f, z: crit.add_target(f, z, level)):
        return INFEASIBLE, None
    f, x, z = model.formulation()
    s, cost = crit.add_score(f, z, cutoff=level)
    f.cost[int(s[0])] = cost
    res = model.solve(f, first_point=True)
    model.stats["proof"] = "the MILP (branch and bound)"
    if res.x is None or res.status not in (FEASIBLE, SOLUTION_LIMIT):
        return res.status, None
    return FEASIBLE, _confirmed(model, crit, _clip(model, res.x[x]))


def _confirmed(model, crit, x):
    """x if the forward pass confirms the goal there, else the best point of its linear
    piece if that one is confirmed, else None."""
    if crit.ok(forward64(model.net, x))[0]:
        return x
    f, xv, z = model.piece(x)
    s, cost = crit.add_score(f, z)
    f.cost[int(s[0])] = cost
    res = model.solve(f, relaxed=True, time_limit=max(model.remaining(), 5.0))
    if res.status == FEASIBLE and res.x is not None:
        x = _clip(model, res.x[xv])
        if crit.ok(forward64(model.net, x))[0]:
            return x
    return None


def _relaxation_bound(model, crit):
    """A certified bound on the best score from the LP relaxation: a lower bound on the
    max error (values), an upper bound on the margin (classes); None if it fails.
    The bounds used are those valid for every input, not those tightened for the goal
    (which say nothing about inputs that miss it)."""
    f, x, z = model.formulation(model.box_bounds)
    s, cost = crit.add_score(f, z)
    f.cost[int(s[0])] = cost
    res = model.solve(f, relaxed=True, time_limit=max(model.remaining(), 5.0))
    if res.status != FEASIBLE:
        return None
    return float(cost * res.fun)


def _tightened(model, add_goal):
    """LP bound tightening for this question, within a third of the time left; False
    when it proves the question infeasible."""
    model.stats["proof"] = "LP bound tightening: the LP relaxation is infeasible"
    return model.tighten_for(add_goal, budget=TIGHTENING_SHARE * model.remaining())


# -- closest ------------------------------------------------------------------------------

def _closest(model, crit, goal, local, x_best, s_best):
    cutoff = s_best + 1e-9 * (1 + abs(s_best)) * (1 if crit.kind == "values" else -1)
    if _tightened(model, lambda f, z: crit.add_score(f, z, cutoff=cutoff)):
        f, x, z = model.formulation()
        s, cost = crit.add_score(f, z, cutoff=cutoff)
        f.cost[int(s[0])] = cost
        res = model.solve(f)
    else:                                   # nothing beats the local point: it is optimal
        res = _Infeasible()
        cost = 1.0 if crit.kind == "values" else -1.0
    x_opt, bound = x_best, None
    if res.x is not None:
        x_milp = _clip(model, res.x[x])
        candidates = [x_best, x_milp, _piece_best(model, crit, x_milp)]
        scores = [crit.score(forward64(model.net, c))[0] for c in candidates if c is not None]
        pick = int(np.argmin(scores) if crit.kind == "values" else np.argmax(scores))
        x_opt = [c for c in candidates if c is not None][pick]
    if res.status == INFEASIBLE:            # nothing beats the local point (to 1e-9)
        bound = s_best - 1e-9 * (1 + abs(s_best)) * (1 if crit.kind == "values" else -1)
    elif dual_bound(res) is not None:
        bound = float(cost * dual_bound(res))
    score = crit.score(forward64(model.net, x_opt))[0]
    if bound is not None:             # the proven bound never claims past a known point
        bound = min(bound, score) if crit.kind == "values" else max(bound, score)
    gap = None if bound is None else abs(score - bound)
    optimal = res.status in (FEASIBLE, INFEASIBLE)
    what = "max error" if crit.kind == "values" else "logit margin"
    head = (f"the closest achievable output: {what} {score:.6g}" if optimal else
            f"time limit: the best {what} found is {score:.6g}")
    head += f", proven bound {bound:.6g}" if bound is not None else ", no bound proven"
    if crit.ok(forward64(model.net, x_opt))[0]:
        status = "reached"
    elif bound is not None and (bound > crit.tol if crit.kind == "values"
                                else bound < crit.margin):
        status = "unreachable"
    else:
        status = "unknown"
    message = f"{status}: {crit.describe()}; {head}; {model.describe()}"
    return _answer(model.net, goal, local, x_opt, status, message, bound, gap, model.stats)


class _Infeasible:
    status, x, mip_dual_bound = INFEASIBLE, None, None


def _piece_best(model, crit, x_at):
    f, xv, z = model.piece(x_at)
    s, cost = crit.add_score(f, z)
    f.cost[int(s[0])] = cost
    res = model.solve(f, relaxed=True, time_limit=max(model.remaining(), 5.0))
    return _clip(model, res.x[xv]) if res.status == FEASIBLE and res.x is not None else None


# -- nearest -------------------------------------------------------------------------------

def _nearest(model, crit, goal, local, x_ref, spread, norm):
    if _branch(model, crit)[0] == "unreachable":
        return _unreachable(model, goal, local, None, crit, _necessary(crit))
    level = crit.asked()
    res = _Infeasible()
    if _tightened(model, lambda f, z: crit.add_target(f, z, level)):
        f, x, z = model.formulation()
        crit.add_target(f, z, level)
        _add_distance(f, x, x_ref, 1.0 / spread, norm)
        res = model.solve(f)
        model.stats["proof"] = "the MILP (branch and bound)"
    if res.status == INFEASIBLE:
        return _unreachable(model, goal, local, None, crit,
                            f"no input reaches the target at level {level:.6g}")
    x_found = None if res.x is None else _clip(model, res.x[x])
    if x_found is not None and not crit.ok(forward64(model.net, x_found))[0]:
        fp, xp, zp = model.piece(x_found)          # polish: the nearest on its piece
        crit.add_target(fp, zp, level)
        _add_distance(fp, xp, x_ref, 1.0 / spread, norm)
        rp = model.solve(fp, relaxed=True, time_limit=max(model.remaining(), 5.0))
        x_found = None
        if rp.status == FEASIBLE and rp.x is not None:
            x_try = _clip(model, rp.x[xp])
            x_found = x_try if crit.ok(forward64(model.net, x_try))[0] else None
    if x_found is None:
        why = ("the time limit ran out" if res.status == TIME_LIMIT else
               "the solver's point failed the forward-pass check")
        return _unknown(model, goal, local, None, crit, None, why)
    w = 1.0 / spread
    dist = _distance(x_found, x_ref, w, norm)
    bound = dual_bound(res)
    if bound is not None:
        bound = min(bound, dist)
    gap = None if bound is None else dist - bound
    message = (f"reached {crit.describe()}: the nearest input to x_ref in {norm} distance "
               f"{dist:.6g} (in training-spread units), proven bound {bound:.6g}; "
               f"{model.describe()}" if bound is not None else
               f"reached {crit.describe()} at {norm} distance {dist:.6g}; no bound proven")
    return _answer(model.net, goal, local, x_found, "reached", message, bound, gap, model.stats)


def _add_distance(f, x, x_ref, w, norm):
    """Cost: Σ w_i |x_i - r_i| (l1) or max_i w_i |x_i - r_i| (linf)."""
    n = x.size
    e = f.add_variables(np.zeros(1 if norm == "linf" else n), np.inf)
    r = np.arange(n)
    ei = np.broadcast_to(e, n) if norm == "linf" else e
    f.add_rows(-w * x_ref, np.inf, (r, ei, 1.0), (r, x, -w))     # e >= w (x - r)
    f.add_rows(w * x_ref, np.inf, (r, ei, 1.0), (r, x, w))       # e >= w (r - x)
    for i in e:
        f.cost[int(i)] = 1.0


def _distance(x, x_ref, w, norm):
    d = np.abs(w * (x - x_ref))
    return float(d.max() if norm == "linf" else d.sum())


# -- answers ----------------------------------------------------------------------------------

def _clip(model, x):
    return np.clip(x, model.lo, model.hi)


def _reached(model, goal, local, x, crit):
    message = (f"reached {crit.describe()}: found by the MILP and confirmed by the float64 "
               f"forward pass; {model.describe()}")
    return _answer(model.net, goal, local, x, "reached", message, None, None, model.stats)


def _unreachable(model, goal, local, x_best, crit, why):
    message = (f"unreachable: {crit.describe()} is not reached by any input within the bounds "
               f"(proof by {model.stats.get('proof', 'the MILP')}: {why}); {model.describe()}")
    x = x_best if x_best is not None else local.x
    return _answer(model.net, goal, local, x, "unreachable", message, None, None, model.stats)


def _unknown(model, goal, local, x_best, crit, bound, why, source="LP relaxation"):
    what = ("the max error is at least" if crit.kind == "values"
            else "the logit margin is at most")
    known = f"; {what} {bound:.6g} ({source})" if bound is not None else ""
    message = (f"unknown: {why} before {crit.describe()} was reached or disproved{known}; "
               f"x is the best point found; {model.describe()}")
    x = x_best if x_best is not None else local.x
    return _answer(model.net, goal, local, x, "unknown", message, bound, None, model.stats)


def _answer(net, goal, local, x, status, message, bound, gap, stats):
    x = np.asarray(x, np.float64)
    out = (net if net.dtype == np.float64 else net.astype(np.float64)).forward(x[None])[0]
    residual = float(goal.residuals(out[None])[0])
    return InversionResult(x=x.copy(), output=out, residual=residual,
                           success=status == "reached", message=message,
                           n_iter=local.n_iter, n_evaluations=local.n_evaluations,
                           solutions=[(x.copy(), out, residual)], status=status, bound=bound,
                           gap=gap, stats=dict(stats))
