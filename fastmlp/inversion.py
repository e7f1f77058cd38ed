"""Input inversion: which inputs x make a trained network give a desired output?

    result = fastmlp.invert(net, target=[0.5, 1.2], fixed={2: 0.7})
    result.x, result.output, result.residual, result.success, result.solutions

The search minimizes, over the free features of x (in the user's own units),

    regression target t:   ½ Σ_k m_k (f_k(x) - t_k)²        (m: the specified outputs)
    class c (classifier):  -log softmax(z(x))_c,  or a logit margin
                           softplus(max_{j≠c} z_j - z_c + margin)
    plus, optionally,      ½ reg · Σ_i ((x_i - x_ref_i) / s_i)²

with L-BFGS inside box bounds (by default the training data's range, when the model
knows it).  All restarts are stacked into ONE batch: every evaluation is one compiled
forward + vector-Jacobian product for all of them at once, and the compiled, batched,
box-constrained L-BFGS of fastmlp._search gives each restart its own history, step
and convergence (finished restarts leave the batch).  The search runs in the network's
standardized coordinates, so features in very different units are no harder.  The
inverse is rarely unique: the distinct solutions found are returned, sorted by
residual.
"""
from dataclasses import dataclass, field

import numpy as np

from . import _invert_box as _box, _invert_models, _threads
from ._invert_box import fixed_features, search_box, training_vector
from ._search import distinct_rows, minimize_rows
from ._validation import as_array, check_allocation, check_scalar, check_size, make_rng


@dataclass
class InversionResult:
    """The answer of invert().

    x: the best input found (user's units); output: the network's output there;
    residual: max |f_k(x) - t_k| over the specified outputs (regression), or
    1 - p_c (class target); success: whether the target was reached (see invert);
    solutions: every distinct solution, best first, as (x, output, residual) tuples.
    status: "reached" (x reaches the target), "unreachable" (method="exact" proved that
    no input within the bounds does) or "unknown" (not reached, nothing proven);
    bound: a certified bound from method="exact" — on the achievable max error (a lower
    bound) or logit margin (an upper bound), or with objective="nearest" on the distance
    (a lower bound) — else None; gap: how far x is from that bound; stats: what the
    exact method did (ReLUs, unstable ones before and after bound tightening, times).
    """
    x: np.ndarray
    output: np.ndarray
    residual: float
    success: bool
    message: str
    n_iter: int
    n_evaluations: int
    solutions: list = field(default_factory=list)
    status: str = "unknown"
    bound: float = None
    gap: float = None
    stats: dict = field(default_factory=dict)

    def __repr__(self):
        return (f"InversionResult(status={self.status!r}, residual={self.residual:.3g}, "
                f"{len(self.solutions)} distinct solution(s), message={self.message!r})")


def invert(net, target=None, *, class_index=None, target_class=None, min_prob=0.99,
           objective="cross_entropy", margin=2.0, mask=None, fixed=None, bounds="training",
           x0=None, reg=0.0, x_ref=None, n_restarts=16, starts=None, max_iter=500, tol=1e-15,
           gtol=1e-10, atol=1e-4, rtol=1e-3, seed=None, distinct_tol=1e-3, method="local",
           time_limit=60.0, norm="l1", n_threads=None):
    """Search for inputs x with net(x) ≈ target (or of class `class_index`).

    net: a Network, a fitted MLPClassifier / MLPRegressor (fastmlp.sklearn or
        scikit-learn's), or a scikit-learn Pipeline whose steps before the MLP are
        StandardScaler / MinMaxScaler / MaxAbsScaler: then bounds, fixed values, x0
        and the answers are in the Pipeline's raw input units.
    target: n_out values for regression; NaN entries (or mask == False) are free.
    class_index: for a softmax network or a one-output logistic one (a binary
        classifier: class 1 is p, class 0 is 1 - p), the output index of the class to
        reach with probability >= min_prob, by objective "cross_entropy" or "margin"
        (the winning logit ahead of the others by `margin`); a non-integer is taken as
        a class label.  target_class: the class by its label ("setosa", 7), for a
        model that knows its labels (classes_, or training["classes"]).
    fixed: {feature index or feature name: value} or a boolean mask over the features
        (their values then come from x0); fixed features keep their values exactly.
        Names come from a DataFrame-fitted model or a command-line model.
    bounds: "training" (the training data's range if the model has it, else none),
        None, a (lo, hi) pair for every feature, or an (n_in, 2) array; +-inf allowed.
    x0: a starting point (also the source of masked fixed values); reg > 0 pulls x
        toward x_ref (default x0, else the training mean), in units of the training
        spread (the scaler's, if any).
    n_restarts: starting points, all optimized as one batch: x0 (if given), then the
        rows of `starts` (e.g. training samples), then (method="exact") the corners of
        the box that maximize the target's certified linear bounds, then random points
        within the bounds.
    max_iter, tol, gtol: per restart, the iteration limit, the relative decrease of
        the objective below which it stops, and the projected-gradient size at which
        it stops.  A class search stops each restart as soon as it reaches min_prob.
    success: regression, max |f - t| <= atol + rtol · max|t| on the specified outputs;
        class, p_c >= min_prob (with objective="margin" and method="exact", the logit
        margin).
    method: "local" (this search), "exact" (the search, then a mixed-integer program
        that finds a point, proves that none exists, or runs out of `time_limit`
        seconds: see fastmlp.exact; needs relu / leaky_relu / identity hidden layers
        and finite bounds) or "auto" (exact only when the search fails and the
        network qualifies).  With "exact": objective="closest" (the globally closest
        achievable output, or the largest logit margin) or "nearest" (the input
        nearest to x_ref, in `norm` "l1" or "linf" distance, that reaches the target).
    n_threads: BLAS threads for the search (None: chosen from n_restarts and the
        layer sizes, see fastmlp._threads).
    """
    n_threads = _threads.check_threads(n_threads)
    net, classes, names = _invert_models.resolve(net)
    class_index = _class_index(class_index, target_class, classes)
    n_in, n_out = net.sizes[0], net.sizes[-1]
    n_restarts = check_size(n_restarts, "n_restarts")
    max_iter = check_size(max_iter, "max_iter")
    reg = check_scalar(reg, "reg", minimum=0.0)
    # tolerances: finite and >= 0 (an infinite atol would call anything a success)
    tol, gtol, atol, rtol, distinct_tol = (
        check_scalar(v, name, minimum=0.0) for v, name in
        ((tol, "tol"), (gtol, "gtol"), (atol, "atol"), (rtol, "rtol"),
         (distinct_tol, "distinct_tol")))
    rng = make_rng(seed)
    exact_objective = _exact_request(net, method, objective, norm, time_limit)
    goal = _Goal(net, target, class_index, min_prob,
                 "margin" if exact_objective in ("closest", "nearest") else objective,
                 margin, mask, atol, rtol)
    goal.classes = classes
    lo, hi = search_box(net, bounds, n_in)
    x0 = None if x0 is None else _vector(x0, "x0", n_in)
    fixed_mask, fixed_values = fixed_features(net, fixed, x0, lo, hi, names)
    free = ~fixed_mask
    if not free.any():
        raise ValueError("every feature is fixed: nothing is left to search over")
    # per restart: the search's float64 state (10 (s, y) pairs and 6 more vectors over
    # the free features), the inputs in 4 forms, the outputs, the plan's workspaces
    n_free = int(free.sum())
    check_allocation(n_restarts * (8 * 26 * n_free + 8 * 4 * n_in + 16 * n_out)
                     + net._workspace_bytes(n_restarts),
                     f"invert with n_restarts={n_restarts}")
    probed = None
    if method == "exact":
        from .exact.model import finite_box
        finite_box(lo, hi, fixed_mask, fixed_values)       # raises on an infinite bound
        from .exact.solve import probe    # a proof before the search if it is cheap,
        answer, probed = probe(                  # and starting points for the search
            net, goal, lo, hi, fixed_mask, fixed_values, time_limit,
            search=exact_objective in ("feasible", "nearest"))
        if answer is not None and (answer.status == "unreachable" or
                                   exact_objective == "feasible"):
            return answer
        time_limit = max(time_limit - probed["seconds"], 0.0)
    center, spread = ((net.scaler.mean, net.scaler.scale) if net.scaler is not None
                      else (np.zeros(n_in), np.ones(n_in)))
    if reg > 0 or exact_objective == "nearest":
        x_ref = _reference(net, x_ref, x0, n_in)

    X = _box.starts(net, n_restarts, x0, starts, lo, hi, rng,   # (R, n_in), user units
                None if probed is None else probed["starts"])
    X[:, fixed_mask] = fixed_values[fixed_mask]

    # The search runs in the network's standardized units, where the search variables
    # u are the free features' inputs themselves: each evaluation writes u into the
    # free columns of Xs (the fixed ones are set once), runs the compiled goal, and
    # hands back ∂/∂u as the free columns of ∂/∂Xs.
    def standardized(V):
        return V if net.scaler is None else (V - center) / spread

    free_cols = slice(None) if free.all() else free         # a view when nothing is fixed
    X_std = standardized(X)
    Xs = X_std.astype(net.dtype)
    dXs = np.empty_like(Xs)
    if reg > 0:
        # ½ reg Σ_i ((x_i - x_ref_i) / spread_i)²: in these units, ½ reg ‖xs - xs_ref‖²
        u_ref = standardized(x_ref)[free]
        pull_fixed = 0.5 * reg * np.sum(
            (standardized(fixed_values) - standardized(x_ref))[fixed_mask] ** 2)

    # one evaluation: the forward pass (logits for a class goal), the goal's value and
    # ∂/∂output, and the backward pass to the inputs only when some row still needs
    # its gradient (at the last step, every row has reached the goal)
    plan, logits = net._plan, goal.kind != "values"
    Z = np.empty((len(X), n_out), net.dtype)

    def fg(U, rows, G):
        k = len(rows)
        Xs[:k, free_cols] = U
        with net._lock:
            plan.forward(Xs[:k], Z[:k], logits)
            value, reached, dZ = goal.evaluate(Z[:k].astype(np.float64))
            if reg > 0 or goal.kind == "values":
                reached[:] = False        # the pull toward x_ref, or a full solve, to the end
            needed = not reached.all()
            if needed:                    # class goals: a fused loss's logits, reused
                plan.vjp(Xs[:k], dZ.astype(net.dtype), dXs[:k], logits,
                         after_forward=logits)
        if needed:
            G[:] = dXs[:k, free_cols]
        else:
            G[:] = 0                      # every row leaves: no gradient is read
        if reg > 0:
            d = U - u_ref
            value += 0.5 * reg * np.einsum("kn,kn->k", d, d) + pull_fixed
            G += reg * d
        return value, reached

    # A class search has a known goal, -log p_c <= -log(min_prob), and -log p_c is far
    # from quadratic (it decays exponentially along a good direction): each step is
    # lengthened to where the log of the objective, extrapolated linearly, reaches
    # half the goal value, so that it lands inside the goal region, not on its edge.
    aim = 0.5 * -np.log(goal.min_prob) if goal.kind == "cross_entropy" and reg == 0 else 0.0
    with np.errstate(over="ignore", under="ignore"), net._blas_threads(len(X), n_threads):
        U, iterations, calls = minimize_rows(
            fg, X_std[:, free_cols], standardized(lo)[free_cols], standardized(hi)[free_cols],
            max_iter=max_iter, ftol=tol, gtol=gtol, aim=aim)
    if net.scaler is not None:
        U = center[free_cols] + spread[free_cols] * U
    X[:, free_cols] = U
    X = _box.inside(net, X, lo, hi)
    result = _result(net, goal, X, int(iterations.max()), calls, distinct_tol, lo, hi, spread,
                     reg)
    if exact_objective is None or (method == "auto" and (result.success or reg > 0 or not (
            np.isfinite(lo[free]).all() and np.isfinite(hi[free]).all()))):
        return result
    from .exact.model import WideBoxError
    from .exact.solve import exact_invert
    try:
        return exact_invert(net, goal, lo, hi, fixed_mask, fixed_values, result,
                            objective=exact_objective, x_ref=x_ref, spread=spread,
                            norm=norm, time_limit=time_limit, probed=probed)
    except WideBoxError:
        if method == "auto":        # as for infinite bounds: the search's answer
            return result
        raise


def _exact_request(net, method, objective, norm, time_limit):
    """Validate method= and its options; the exact objective ("feasible", "closest",
    "nearest") or None.  "auto" on a network that is not piecewise linear is "local"."""
    if method not in ("local", "exact", "auto"):
        raise ValueError(f"method must be 'local', 'exact' or 'auto', got {method!r}")
    if objective in ("closest", "nearest") and method != "exact":
        raise ValueError(f"objective={objective!r} needs method='exact'")
    if method == "local":
        return None
    from .exact.piecewise import check_piecewise_linear
    why = check_piecewise_linear(net)
    if why is not None and method == "exact":
        raise ValueError(f"method='exact' needs a piecewise-linear network: {why}")
    if norm not in ("l1", "linf"):
        raise ValueError(f"norm must be 'l1' or 'linf', got {norm!r}")
    check_scalar(time_limit, "time_limit", minimum=0.0)
    if why is not None:
        return None
    return objective if objective in ("closest", "nearest") else "feasible"


# -- the goal -----------------------------------------------------------------------

class _Goal:
    """The output-side objective, its gradient w.r.t. the inputs, and success."""

    def __init__(self, net, target, class_index, min_prob, objective, margin, mask, atol, rtol):
        self.net = net
        self.binary, self.classes = False, None
        n_out = net.sizes[-1]
        if (target is None) == (class_index is None):
            raise ValueError("give exactly one of target (output values) or class_index")
        if class_index is not None:
            self.binary = net.loss_name == "binary_cross_entropy" and n_out == 1
            if net.loss_name != "cross_entropy" and not self.binary:
                raise ValueError("class_index needs a cross_entropy (softmax) network or a "
                                 "binary classifier (one logistic output); this one has "
                                 f"loss {net.loss_name!r} with {n_out} outputs")
            n_classes = 2 if self.binary else n_out
            if isinstance(class_index, bool) or not isinstance(class_index, (int, np.integer)) \
                    or not 0 <= class_index < n_classes:
                raise ValueError(f"class_index must be an integer in [0, {n_classes}) or "
                                 f"one of the model's class labels, got {class_index!r}")
            if objective not in ("cross_entropy", "margin"):
                raise ValueError(f"objective must be 'cross_entropy' or 'margin', "
                                 f"got {objective!r}")
            self.min_prob = check_scalar(min_prob, "min_prob", minimum=0.0)
            if self.min_prob >= 1:
                raise ValueError(f"min_prob must be below 1, got {min_prob}")
            self.margin = check_scalar(margin, "margin", minimum=0.0)
            self.kind, self.c = objective, int(class_index)
            return
        t = as_array(target, "target", np.float64).ravel()
        if t.shape != (n_out,):
            raise ValueError(f"target must have {n_out} values (one per output; NaN = free), "
                             f"got {np.shape(target)}")
        m = ~np.isnan(t)
        if mask is not None:
            mask = as_array(mask, "mask", bool)
            if mask.shape != (n_out,):
                raise ValueError(f"mask must have {n_out} entries, got {mask.shape}")
            m &= mask
        if not m.any():
            raise ValueError("no output is specified: target is all NaN or mask is all "
                             "False")
        if not np.all(np.isfinite(t[m])):
            raise ValueError("target contains infinity")
        self.kind, self.t, self.m = "values", np.where(m, t, 0.0), m
        self.tolerance = atol + rtol * np.abs(self.t[m]).max()

    def evaluate(self, z):
        """From the network's output z (its logits for a class goal), per row: the
        objective, whether the goal is reached, and ∂objective/∂z."""
        if self.kind == "values":
            dz = (z - self.t) * self.m
            return 0.5 * np.sum(dz * dz, axis=1), self.reached(np.abs(dz).max(axis=1)), dz
        if self.binary:
            return self._evaluate_binary(z[:, 0])
        log_p = z - _logsumexp(z)[:, None]
        reached = np.exp(log_p[:, self.c]) >= self.min_prob
        if self.kind == "cross_entropy":                    # -log p_c
            dz = np.exp(log_p)
            dz[:, self.c] -= 1
            return -log_p[:, self.c], reached, dz
        # logit margin: softplus(u), u = the best other logit - z_c + margin
        rows = np.arange(len(z))
        others = z.copy()
        others[:, self.c] = -np.inf
        j = others.argmax(axis=1)
        u = others[rows, j] - z[:, self.c] + self.margin
        sig = 0.5 * (1 + np.tanh(0.5 * u))                   # sigmoid(u) = softplus'(u)
        dz = np.zeros_like(z)
        dz[rows, j] = sig
        dz[:, self.c] -= sig
        return np.logaddexp(0, u), reached, dz

    def _evaluate_binary(self, z):
        """One logistic output z: p_1 = σ(z), p_0 = σ(-z).  With u = z for class 1 and
        -z for class 0: -log p_c = softplus(-u); the margin objective softplus(margin - u)."""
        sign = 1.0 if self.c == 1 else -1.0
        u = sign * z
        reached = -np.logaddexp(0, -u) >= np.log(self.min_prob)
        shift = 0.0 if self.kind == "cross_entropy" else self.margin
        value = np.logaddexp(0, shift - u)
        dvalue_du = -0.5 * (1 + np.tanh(0.5 * (shift - u)))      # -σ(shift - u)
        return value, reached, (sign * dvalue_du)[:, None]

    def residuals(self, outputs):
        if self.kind == "values":
            return np.abs((outputs - self.t) * self.m).max(axis=1)
        if self.binary:
            return 1.0 - outputs[:, 0] if self.c == 1 else outputs[:, 0]
        return 1.0 - outputs[:, self.c]

    def reached(self, residuals):
        if self.kind == "values":
            return residuals <= self.tolerance
        return residuals <= 1 - self.min_prob

    def describe(self):
        if self.kind == "values":
            return f"outputs {np.where(self.m, self.t, np.nan).tolist()} (NaN = free)"
        label = f" ({self.classes[self.c]!r})" if self.classes is not None else ""
        return f"class {self.c}{label} with probability >= {self.min_prob}"


def _logsumexp(z):
    m = z.max(axis=1)
    return m + np.log(np.exp(z - m[:, None]).sum(axis=1))


# -- constraints and starting points ------------------------------------------------

def _vector(v, name, n):
    arr = as_array(v, name, np.float64).ravel()
    if arr.shape != (n,):
        raise ValueError(f"{name} must have {n} values (one per feature), got {np.shape(v)}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinity")
    return arr


def _class_index(class_index, target_class, classes):
    """The output index of the class asked for by index, or by label."""
    if target_class is not None:
        if class_index is not None:
            raise ValueError("give class_index or target_class, not both")
        if classes is None:
            raise ValueError("target_class needs a model that knows its class labels (a "
                             "fitted classifier's classes_, or training['classes']); give "
                             "class_index instead")
        if target_class not in classes:
            raise ValueError(f"target_class {target_class!r} is not one of the model's "
                             f"classes {classes[:20]}")
        return classes.index(target_class)
    if class_index is not None and not isinstance(class_index, (int, np.integer)) \
            and classes is not None and class_index in classes:
        return classes.index(class_index)
    return class_index


def _reference(net, x_ref, x0, n_in):
    if x_ref is not None:
        return _vector(x_ref, "x_ref", n_in)
    if x0 is not None:
        return x0
    if "input_mean" in net.training:
        return training_vector(net, "input_mean", n_in)
    return net.scaler.mean if net.scaler is not None else np.zeros(n_in)


# -- the answer -----------------------------------------------------------------------

def _result(net, goal, X, n_iter, n_evaluations, distinct_tol, lo, hi, spread, reg):
    # X lies inside the inputs the network takes (_invert_box.inside); its output can
    # still overflow inside the network far out in a wide box: such rows are dropped
    outputs = net._forward_prepared(net._inputs(X), check=False).astype(np.float64)
    finite = np.isfinite(outputs).all(axis=1)
    if not finite.any():
        raise FloatingPointError(
            f"the network's output overflows {net.dtype.name} at every point the search "
            f"reached (|x| up to {np.abs(X).max():.3g}): narrow the bounds, or use float64")
    with np.errstate(invalid="ignore"):
        residuals = np.where(finite, goal.residuals(outputs), np.inf)
    order = np.argsort(residuals, kind="stable")
    order = order[finite[order]]
    # two solutions are the same when they differ by less than distinct_tol of each
    # feature's scale (the bounds' width where finite, else the training spread)
    with np.errstate(over="ignore"):      # a box wider than the float64 range
        width = np.where(np.isfinite(hi - lo), hi - lo, spread)
    width = np.where(width > 0, width, 1.0)
    kept = distinct_rows(X / width, order.astype(np.intp), distinct_tol)
    solutions = [(X[i].copy(), outputs[i], float(residuals[i])) for i in kept]
    best = kept[0]
    success = bool(goal.reached(residuals[best]))
    n_ok = int(goal.reached(residuals[kept]).sum())
    if success:
        message = (f"reached {goal.describe()}; {n_ok} distinct solution(s) of "
                   f"{len(X)} restarts reach it")
    elif reg > 0:
        message = (f"not reached with reg={reg}: {goal.describe()} is traded against the "
                   f"pull toward x_ref (residual {residuals[best]:.3g}); reg=0 may reach it")
    else:
        message = (f"unreachable within the bounds: {goal.describe()} was not reached; "
                   f"x is the closest point found (residual {residuals[best]:.3g})")
    return InversionResult(x=X[best].copy(), output=outputs[best], residual=float(residuals[best]),
                           success=success, message=message, n_iter=n_iter,
                           n_evaluations=n_evaluations, solutions=solutions,
                           status="reached" if success else "unknown")
