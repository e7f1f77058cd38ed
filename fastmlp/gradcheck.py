"""The numerical-gradient fallback: central differences, to verify every analytic gradient.

    g_k ≈ Σ_s w_s L(θ + s·h e_k) / h,   s = ±1, ±2, ±3,  w = (45, -9, 1)/60 (odd)

(the sixth-order central stencil: its truncation error is O(h⁶), so h can stay
large enough, 1e-2, that rounding does not swamp the difference).  Each coordinate's step
is scaled so that the pre-activation it feeds moves by about h: a weight that
multiplies inputs as large as |x| is moved by h / max(1, |x|).

Speed comes from where a perturbation acts.  Changing W_l[i, j] by δ changes only
column j of layer l's pre-activation, by δ · A_{l-1}[:, i]; changing b_l[j] shifts
that column by δ; changing X[r, i] changes row r of Z_0 by δ · W_0[i, :].  So the
layers below are computed once, and many perturbed copies of Z_l are stacked into
one large batch that goes through the compiled forward kernels of the layers above.

The losses are differenced in float64 from the output layer's logits, without the
cancellation of lse - z_y (a confident row's loss is log1p of a small sum): the
kernels' own loss, fine for training, rounds at eps · |z| and would swamp the
gradient of a well-trained network.

Under dropout (dropout_step=k) the loss is that of training step k, whose masks are
fixed: each hidden layer's output is multiplied by the same mask m (from
fastmlp.dropout.dropout_mask) in every perturbed copy of a row.

At a ReLU-type kink the loss is not differentiable and a difference quotient that
straddles one is meaningless: such coordinates are flagged and left out of the error,
not failed.  The test is exact: a perturbation of W_l[i, j] moves column j of Z_l by
s·h·A_{l-1}[:, i] (b_l[j]: by s·h; X[r, i]: row r of Z_0 by s·h·W_0[i, :]), linearly in
s, so a pre-activation crosses 0 within the stencil exactly when its sign differs at
s = -3 and s = +3; the layers above are flagged when any unit's on/off state differs
across the stencil points.

Large networks can be checked on a random sample of coordinates (n_coords per weight
matrix and per bias vector, drawn with a seed), with a progress callback.
"""
import time
from dataclasses import dataclass, field

import numpy as np
from scipy.special import log_expit, xlogy

from . import _kernels, _rounding
from ._validation import check_scalar, check_size, make_rng
from .activations import ACTIVATIONS
from .dropout import check_step, dropout_mask

_STENCIL = np.array([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0])            # multiples of h
_WEIGHTS = np.array([-1.0, 9.0, -45.0, 45.0, -9.0, 1.0]) / 60.0   # then divided by h
_KINKED = {"relu", "leaky_relu", "elu"}   # elu: its 2nd derivative jumps at 0
_BUDGET = 1 << 22                                     # floats per stacked batch
# float32 backprop against float64 (relative error, floor 1e-3 of the largest entry):
# float32 rounds at 6e-8, accumulated over sums of hundreds of terms and a few layers;
# trained networks on digits/MNIST measure 1e-4 to 1.2e-3
FLOAT32_LIMIT = 1e-2


def _check_net(net):
    from .network import Network
    if not isinstance(net, Network):
        raise TypeError(f"net must be a fastmlp Network, got {type(net).__name__}")


def _check_eps(eps, dtype):
    """A step in [the dtype's machine epsilon, 1]: the stencil reaches 3·eps, and a
    longer one means nothing; a shorter one leaves most values unchanged, and the
    difference quotient of one rounding step overflows (eps = 5e-324 gave -inf)."""
    eps = check_scalar(eps, "eps", minimum=0.0, allow_zero=False)
    if eps > 1:
        raise ValueError(f"eps must be at most 1 (a difference step), got {eps}")
    tiny = float(np.finfo(dtype).eps)
    if eps < tiny:
        raise ValueError(f"eps must be at least {tiny:.3g} ({np.dtype(dtype).name}'s "
                         f"machine epsilon: a shorter step changes nothing), got {eps}")
    return eps


def default_eps(net):
    """1e-2, or 1e-3 where kinks make a long stencil likely to straddle one."""
    return 1e-3 if any(l.activation in _KINKED for l in net.layers) else 1e-2


def numerical_gradient(net, X, y, eps=None, wrt="params", n_coords=None, seed=None,
                       progress=None, dropout_step=None):
    """Central-difference gradient of net.loss(X, y, dropout_step).

    wrt="params" gives a flat vector laid out like net.params (W0, b0, W1, ...);
    wrt="inputs" gives ∂L/∂X with the shape of X.  eps defaults to 1e-2, or 1e-3
    for networks with ReLU-type kinks; a given eps lies between the dtype's machine
    epsilon and 1.  Computed in the network's own dtype.
    n_coords: difference only that many coordinates, drawn at random (seed) from each
    weight matrix and each bias vector (wrt="inputs": from X); the others are NaN.
    progress: a callable f(done, total, seconds) called as coordinates are finished.
    dropout_step=k: with the dropout masks of training step k held fixed.
    """
    return _numerical(net, X, y, eps, wrt, n_coords, seed, progress, dropout_step)[0]


def _masks(net, B, dropout_step):
    """Each layer's dropout multipliers for training step dropout_step (None: none)."""
    if dropout_step is None:
        return [None] * len(net.layers)
    step = check_step(dropout_step)
    return [dropout_mask(net.dropout_key, step, l, layer.dropout, (B, layer.n_out), net.dtype)
            if layer.dropout else None for l, layer in enumerate(net.layers)]


def _numerical(net, X, y, eps, wrt, n_coords=None, seed=None, progress=None,
               dropout_step=None):
    """(gradient, kinked, checked): kinked flags coordinates whose stencil crosses a
    kink, checked those that were differenced (all, unless n_coords samples)."""
    _check_net(net)
    if not isinstance(wrt, str) or wrt not in ("params", "inputs"):
        raise ValueError(f"wrt must be 'params' or 'inputs', got {wrt!r}")
    h = default_eps(net) if eps is None else _check_eps(eps, net.dtype)
    X = net._inputs(X)
    T, labels = net._targets(y, X.shape[0])
    if n_coords is not None:
        n_coords = check_size(n_coords, "n_coords")
    rng = make_rng(seed)
    masks = _masks(net, X.shape[0], dropout_step)
    fwd = _Forward(net, X, T, labels, masks)      # X here is after the network's scaler
    if wrt == "inputs":
        coords = _sample(X.size, n_coords, rng)
        tick = _Progress(progress, coords.size)
        grad, kinked = fwd.input_gradient(h, coords, tick)
        checked = np.zeros(X.size, bool)
        checked[coords] = True
        _check_quotients(grad.ravel()[coords], h)
        return net._to_user_units(grad), kinked, checked.reshape(X.shape)
    blocks = []
    for l, layer in enumerate(net.layers):
        for is_bias in (False, True):
            n = layer.n_out if is_bias else layer.n_in * layer.n_out
            blocks.append((l, is_bias, _sample(n, n_coords, rng)))
    tick = _Progress(progress, sum(c.size for *_, c in blocks))
    grad = np.full(net.n_params, np.nan)
    kinked = np.zeros(net.n_params, bool)
    checked = np.zeros(net.n_params, bool)
    offset = 0
    for l, is_bias, coords in blocks:
        layer = net.layers[l]
        g, k = fwd.layer_gradient(l, is_bias, h, coords, tick)
        if not is_bias and net.l2:
            # the penalty ½·l2·w², differenced like the rest
            w = layer.W.astype(np.float64).ravel()[coords]
            g += 0.5 * net.l2 * (_WEIGHTS @ (w[None] + h * _STENCIL[:, None]) ** 2) / h
        grad[offset + coords] = g
        kinked[offset + coords] = k
        checked[offset + coords] = True
        offset += layer.n_out if is_bias else layer.n_in * layer.n_out
    _check_quotients(grad[checked], h)
    return grad.astype(net.dtype), kinked, checked


def _check_quotients(values, h):
    """No silent inf: finite losses whose difference over 2·eps overflows raise."""
    if not np.all(np.isfinite(values)):
        raise FloatingPointError(f"the difference quotients over eps = {h:g} overflow "
                                 "(the loss is too large for a step this short)")


def _sample(n, n_coords, rng):
    """All of range(n), or n_coords of them drawn without replacement, sorted."""
    if n_coords is None or n_coords >= n:
        return np.arange(n)
    return np.sort(rng.choice(n, n_coords, replace=False))


class _Progress:
    """Counts finished coordinates and reports them to a callback f(done, total, s)."""

    def __init__(self, callback, total):
        if callback is not None and not callable(callback):
            raise TypeError("progress must be a callable f(done, total, seconds) or None")
        self.callback, self.total, self.done = callback, total, 0
        self.t0 = time.perf_counter()

    def __call__(self, n):
        self.done += n
        if self.callback is not None:
            self.callback(self.done, self.total, time.perf_counter() - self.t0)


def progress_line(done, total, seconds):
    """'gradient check: 1,200/53,000 coordinates (2%), 3 s, ETA 120 s'."""
    eta = seconds / done * (total - done) if done else float("nan")
    return (f"gradient check: {done:,}/{total:,} coordinates ({done / total:.0%}), "
            f"{seconds:.0f} s, ETA {eta:.0f} s")


def row_losses(loss_name, out, T, labels):
    """Each row's loss in float64 from the output layer's logits (fused losses) or
    outputs (mse), without cancellation: the confident row's cross-entropy is
    (m - z_y) + log1p(Σ_{k≠argmax} e^{z_k - m}), m = max z, and the binary one is
    t·softplus(-z) + (1 - t)·softplus(z)."""
    out = out.astype(np.float64, copy=False)
    if loss_name == "cross_entropy":
        rows = np.arange(out.shape[0])
        top = out.argmax(axis=1)
        m = out[rows, top][:, None]
        e = np.exp(out - m)
        e[rows, top] = 0.0
        lse_m = np.log1p(e.sum(axis=1))                       # lse - m
        if labels is not None:
            return (m[:, 0] - out[rows, labels]) + lse_m
        return (T * ((m - out) + lse_m[:, None])).sum(axis=1)
    if loss_name == "binary_cross_entropy":
        return -(T * log_expit(out) + (1 - T) * log_expit(-out)).sum(axis=1)
    if loss_name == "poisson":                       # e^z - y z + y log y - y
        return (np.exp(out) - T * out + xlogy(T, T) - T).sum(axis=1)
    d = out - T
    return 0.5 * (d * d).sum(axis=1)


class _Forward:
    """A network's forward pass kept layer by layer, to restart from any layer.
    A[l] is layer l's output after its dropout mask masks[l] (if not None)."""

    def __init__(self, net, X, T, labels, masks):
        self.net, self.X, self.T, self.labels = net, X, T, labels
        self.masks = masks
        self.B = X.shape[0]
        self.codes = [layer._code for layer in net.layers]
        if net._loss.output_activation is not None:       # the loss takes logits
            self.codes[-1] = ACTIVATIONS["identity"].code
        self.Z, self.A = [], []
        inp = X
        for layer, code in zip(net.layers, self.codes):
            Z = np.empty((self.B, layer.n_out), net.dtype)
            np.matmul(inp, layer.W, out=Z)
            Z += layer.b
            A = np.empty_like(Z)
            _kernels.activate(Z, A, code, layer.alpha)
            if self.masks[len(self.A)] is not None:
                A *= self.masks[len(self.A)]
            self.Z.append(Z)
            self.A.append(A)
            inp = A

    def _row_losses(self, l, Zp, rows, patterns=()):
        """Per-row losses when layer l's pre-activation is Zp (N×n_l); rows[i] is the
        original batch row each stacked row stands for.  Also the kink patterns."""
        net = self.net
        patterns = list(patterns)
        A = Zp
        for m in range(l, len(net.layers)):
            layer = net.layers[m]
            if m > l:
                Zm = np.empty((A.shape[0], layer.n_out), net.dtype)
                np.matmul(A, layer.W, out=Zm)
                Zm += layer.b
            else:
                Zm = A
            _kernels.activate(Zm, Zm, self.codes[m], layer.alpha)
            if self._kinked(m):
                patterns.append(Zm > 0)
            if self.masks[m] is not None:
                Zm *= self.masks[m][rows]
            A = Zm
        T = None if self.T is None else self.T[rows]
        labels = None if self.labels is None else self.labels[rows]
        return row_losses(net.loss_name, A, T, labels), patterns

    def _kinked(self, m):
        layer = self.net.layers[m]
        return layer.activation in _KINKED and self.codes[m] == layer._code

    def _chunk(self, rows_per_item):
        widest = max(self.net.sizes[1:])
        return max(1, _BUDGET // (len(_STENCIL) * rows_per_item * widest))

    def layer_gradient(self, l, is_bias, h, coords, tick):
        """Numerical gradient of W_l (flattened) or b_l at the indices `coords`, with
        kink flags."""
        net = self.net
        layer = net.layers[l]
        last = l == len(net.layers) - 1
        n = coords.size
        A_prev = self.X if l == 0 else self.A[l - 1]
        scale = np.maximum(1.0, np.abs(A_prev).max(axis=0))   # per input feature
        S, B = len(_STENCIL), self.B
        grad = np.empty(n)
        kinked = np.zeros(n, bool)
        chunk = self._chunk(B)
        for start in range(0, n, chunk):
            k = coords[start:start + chunk]
            P = k.size
            i, j = divmod(k, layer.n_out)
            if is_bias:
                j = k
            hp = np.full(P, h) if is_bias else h / scale[i]
            steps = (hp[:, None] * _STENCIL).astype(net.dtype)[:, :, None]  # (P, S, 1)
            # column j_p of Z_l, moved by steps (bias) or steps·A_prev[:, i_p] (weight)
            moved = steps if is_bias else steps * A_prev[:, i].T[:, None, :]
            zj = self.Z[l][:, j].T[:, None, :] + moved                     # (P, S, B)
            if last:
                Zp = np.broadcast_to(self.Z[l], (P, S, B, layer.n_out)).copy()
                Zp[np.arange(P), :, :, j] = zj
                r, patterns = self._row_losses(l, Zp.reshape(P * S * B, -1),
                                               np.tile(np.arange(B), P * S))
            else:
                # only a_j changes, so Z_{l+1} moves by a rank-one term
                aj = zj.reshape(-1, 1).copy()
                _kernels.activate(aj, aj, self.codes[l], layer.alpha)
                aj = aj.reshape(P, S, B)
                if self.masks[l] is not None:
                    aj *= self.masks[l][:, j].T[:, None, :]
                d_aj = aj - self.A[l][:, j].T[:, None, :]
                W_next = net.layers[l + 1].W
                Zp = self.Z[l + 1][None, None] + d_aj[..., None] * W_next[j][:, None, None, :]
                own = [zj.reshape(P * S * B, 1) > 0] if self._kinked(l) else []
                r, patterns = self._row_losses(l + 1, Zp.reshape(P * S * B, -1),
                                               np.tile(np.arange(B), P * S), own)
            losses = r.reshape(P, S, B).sum(axis=2) / B
            grad[start:start + P] = losses @ _WEIGHTS / hp
            kinked[start:start + P] = self._crosses(patterns, P, S)
            tick(P)
        return grad, kinked

    def input_gradient(self, h, coords, tick):
        """Numerical ∂L/∂X at the flat indices `coords` (NaN elsewhere) with kink
        flags, both shaped like X."""
        B, n_in = self.X.shape
        W0 = self.net.layers[0].W
        scale = np.maximum(1.0, np.abs(W0).max(axis=1))   # per input feature
        S, n = len(_STENCIL), B * n_in
        grad = np.full(n, np.nan)
        kinked = np.zeros(n, bool)
        chunk = self._chunk(1)
        for start in range(0, coords.size, chunk):
            k = coords[start:start + chunk]
            P = k.size
            row, i = divmod(k, n_in)
            hp = h / scale[i]
            steps = (hp[:, None] * _STENCIL).astype(self.net.dtype)[:, :, None]  # (P, S, 1)
            # copy (p, s) is row `row_p` of Z_0 moved by steps[p, s]·W_0[i_p, :]
            Zp = self.Z[0][row][:, None, :] + steps * W0[i][:, None, :]
            r, patterns = self._row_losses(0, Zp.reshape(P * S, -1), np.repeat(row, S))
            grad[k] = r.reshape(P, S) @ _WEIGHTS / (hp * B)
            kinked[k] = self._crosses(patterns, P, S)
            tick(P)
        return grad.reshape(B, n_in).astype(self.net.dtype), kinked.reshape(B, n_in)

    @staticmethod
    def _crosses(patterns, P, S):
        """True for each perturbation whose on/off pattern changes across the stencil."""
        out = np.zeros(P, bool)
        for pat in patterns:
            pat = pat.reshape(P, S, -1)
            out |= (pat != pat[:, :1]).any(axis=(1, 2))
        return out


@dataclass
class GradientReport:
    """Analytic against numerical gradients, layer by layer, in float64.

    rel_error = |a - n| / max(|a|, |n|, floor), floor = max(rel_floor · max|n|,
    allowance / tolerance): rel_floor keeps coordinates far below the gradient's
    scale from being judged by their noise, and the allowance (fastmlp._rounding) is
    the float64 rounding both computations can make at that coordinate, so that a
    coordinate passes when |a - n| <= tolerance · max(|a|, |n|, rel_floor · max|n|)
    or |a - n| <= allowance.
    Coordinates whose stencil crosses a ReLU kink are counted in `flagged` and left out.
    With n_coords, only that many random coordinates (seed) of each W and b are
    checked; `checked` counts them.
    For a float32 network, float32_rel_error is how far its float32 gradient lies
    from the float64 one (information: float32 rounding, not a failure).
    """
    dtype: str
    tolerance: float
    rows: list = field(default_factory=list)   # (name, max_rel_error, n_checked, n_flagged)
    max_rel_error: float = 0.0
    n_flagged: int = 0
    float32_rel_error: float | None = None
    n_coords: int | None = None
    seed: int | None = None
    n_params: int = 0

    @property
    def ok(self):
        return self.max_rel_error <= self.tolerance

    @property
    def float32_ok(self):
        """Whether the float32 gradient is as close to the float64 one as float32
        rounding makes it (information only: it does not change `ok`)."""
        return self.float32_rel_error is None or self.float32_rel_error <= FLOAT32_LIMIT

    @property
    def n_checked(self):
        return sum(r[2] for r in self.rows)

    def __str__(self):
        copy = ", on a float64 copy of the float32 network" if self.dtype == "float32" else ""
        lines = [f"gradient check: backprop vs central differences, float64{copy}"]
        if self.n_coords is not None:
            lines.append(f"sampled: up to {self.n_coords} random coordinates of each W and b "
                         f"(seed {self.seed}), {self.n_checked + self.n_flagged:,} of "
                         f"{self.n_params:,} parameters")
        lines.append(f"{'parameter':<10} {'max rel error':>14} {'checked':>9} {'at kinks':>9}")
        for name, err, n, k in self.rows:
            lines.append(f"{name:<10} {err:>14.3e} {n:>9d} {k:>9d}")
        verdict = "OK" if self.ok else "FAILED"
        lines.append(f"{'overall':<10} {self.max_rel_error:>14.3e}   "
                     f"tolerance {self.tolerance:.0e}: {verdict}")
        if self.float32_rel_error is not None:
            verdict = ("as expected from float32 rounding" if self.float32_ok else
                       "MORE than float32 rounding explains: check the float32 path")
            lines.append(f"float32 backprop vs float64 backprop: max rel error "
                         f"{self.float32_rel_error:.3e} ({verdict}, limit "
                         f"{FLOAT32_LIMIT:.0e})")
        return "\n".join(lines)


def relative_error(a, n, rel_floor, allowance=None):
    """|a - n| / max(|a|, |n|, floor): floor = rel_floor · max|n|, raised per coordinate
    to `allowance` where given."""
    a = np.asarray(a, np.float64)
    n = np.asarray(n, np.float64)
    floor = rel_floor * max(np.abs(n).max(initial=0.0), np.finfo(np.float64).tiny)
    if allowance is not None:
        floor = np.maximum(floor, allowance)
    return np.abs(a - n) / np.maximum(np.maximum(np.abs(a), np.abs(n)), floor)


def check_gradients(net, X, y, eps=None, tolerance=None, rel_floor=None, n_coords=None,
                    seed=None, progress=None, dropout_step=None):
    """Compare backprop (net.gradient) with the numerical gradient, per W and b;
    with dropout_step, both under the dropout masks of that training step.

    Both are computed in float64: on the network itself, or on a float64 copy of a
    float32 network.  rel_floor (default 1e-5) keeps the comparison of coordinates
    far below the gradient's scale above the numerical gradient's own rounding
    noise; tolerance defaults to 1e-6; a difference within both computations'
    float64 rounding (see GradientReport) passes too.  n_coords: check only that many
    coordinates of each W and b, drawn at random with `seed`.  progress: a callable
    f(done, total, seconds) (progress_line formats one).  Returns a GradientReport;
    report.ok is max_rel_error <= tolerance.
    """
    _check_net(net)
    tolerance = check_scalar(1e-6 if tolerance is None else tolerance, "tolerance",
                             minimum=0.0, allow_zero=False)
    rel_floor = check_scalar(1e-5 if rel_floor is None else rel_floor, "rel_floor",
                             minimum=0.0)
    if eps is not None:
        _check_eps(eps, np.float64)
    ref = net if net.dtype == np.float64 else net.astype(np.float64)
    fixed = {} if dropout_step is None else {"dropout_step": dropout_step}
    _, analytic = ref.gradient(X, y, **fixed)
    numeric, kinked, checked = _numerical(ref, X, y, eps, "params", n_coords, seed, progress,
                                          dropout_step)
    Xs = ref._inputs(X)
    T, labels = ref._targets(y, Xs.shape[0])
    h = default_eps(ref) if eps is None else float(eps)
    masks = _masks(ref, Xs.shape[0], dropout_step)
    allow = _rounding.allowance(ref, Xs, T, labels,
                                _unit_steps(_Forward(ref, Xs, T, labels, masks), h))
    err = np.zeros(net.n_params)
    err[checked] = relative_error(analytic[checked], numeric[checked], rel_floor,
                                  allow[checked] / tolerance)
    report = GradientReport(dtype=net.dtype.name, tolerance=tolerance, n_params=net.n_params,
                            n_coords=n_coords, seed=seed if n_coords is not None else None)
    offset = 0
    for l, layer in enumerate(net.layers):
        for name, n in ((f"W{l}", layer.n_in * layer.n_out), (f"b{l}", layer.n_out)):
            e, k = err[offset:offset + n], kinked[offset:offset + n]
            c = checked[offset:offset + n] & ~k
            report.rows.append((name, float(e[c].max(initial=0.0)), int(c.sum()), int(k.sum())))
            offset += n
    report.max_rel_error = max(r[1] for r in report.rows)
    report.n_flagged = int(kinked.sum())
    if ref is not net:
        _, own = net.gradient(X, y, **fixed)
        report.float32_rel_error = float(relative_error(own, analytic, 1e-3).max())
    return report


def _unit_steps(fwd, h):
    """The stencil's unit step of every parameter (flat): h / max(1, max|input|) for
    the weights fed by that input, h for the biases (as _Forward.layer_gradient)."""
    steps = []
    for layer, A_prev in zip(fwd.net.layers, [fwd.X] + fwd.A[:-1]):
        scale = np.maximum(1.0, np.abs(A_prev).max(axis=0))
        steps += [np.repeat(h / scale, layer.n_out), np.full(layer.n_out, h)]
    return np.concatenate(steps)
