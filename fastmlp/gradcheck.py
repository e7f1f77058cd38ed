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

At a ReLU-type kink the loss is not differentiable and a difference quotient that
straddles one is meaningless: such coordinates (the on/off pattern of some unit
differs across the stencil) are flagged and left out of the error, not failed.
"""
from dataclasses import dataclass, field

import numpy as np

from . import _kernels
from ._validation import check_scalar
from .activations import ACTIVATIONS

_STENCIL = np.array([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0])            # multiples of h
_WEIGHTS = np.array([-1.0, 9.0, -45.0, 45.0, -9.0, 1.0]) / 60.0   # then divided by h
_KINKED = {"relu", "leaky_relu", "elu"}   # elu: its 2nd derivative jumps at 0
_BUDGET = 1 << 22                                     # floats per stacked batch


def _check_net(net):
    from .network import Network
    if not isinstance(net, Network):
        raise TypeError(f"net must be a fastmlp Network, got {type(net).__name__}")


def _check_eps(eps):
    """A step in (0, 1]: the stencil reaches 3·eps, and a longer one means nothing."""
    eps = check_scalar(eps, "eps", minimum=0.0, allow_zero=False)
    if eps > 1:
        raise ValueError(f"eps must be at most 1 (a difference step), got {eps}")
    return eps


def default_eps(net):
    """1e-2, or 1e-3 where kinks make a long stencil likely to straddle one."""
    return 1e-3 if any(l.activation in _KINKED for l in net.layers) else 1e-2


def numerical_gradient(net, X, y, eps=None, wrt="params"):
    """Central-difference gradient of net.loss(X, y).

    wrt="params" gives a flat vector laid out like net.params (W0, b0, W1, ...);
    wrt="inputs" gives ∂L/∂X with the shape of X.  eps defaults to 1e-2, or 1e-3
    for networks with ReLU-type kinks.  Computed in the network's own dtype.
    """
    return _numerical(net, X, y, eps, wrt)[0]


def _numerical(net, X, y, eps, wrt):
    """(gradient, kinked) where kinked flags coordinates whose stencil crosses a kink."""
    _check_net(net)
    if not isinstance(wrt, str) or wrt not in ("params", "inputs"):
        raise ValueError(f"wrt must be 'params' or 'inputs', got {wrt!r}")
    h = default_eps(net) if eps is None else _check_eps(eps)
    X = net._inputs(X)
    T, labels = net._targets(y, X.shape[0])
    fwd = _Forward(net, X, T, labels)      # X here is after the network's scaler
    if wrt == "inputs":
        grad, kinked = fwd.input_gradient(h)
        return net._to_user_units(grad), kinked
    grad = np.empty(net.n_params)
    kinked = np.zeros(net.n_params, bool)
    offset = 0
    for l, layer in enumerate(net.layers):
        for is_bias in (False, True):
            n = layer.n_out if is_bias else layer.n_in * layer.n_out
            g, k = fwd.layer_gradient(l, is_bias, h)
            if not is_bias and net.l2:
                # the penalty ½·l2·w², differenced like the rest
                w = layer.W.astype(np.float64).ravel()
                g += 0.5 * net.l2 * (_WEIGHTS @ (w[None] + h * _STENCIL[:, None]) ** 2) / h
            grad[offset:offset + n] = g
            kinked[offset:offset + n] = k
            offset += n
    return grad.astype(net.dtype), kinked


class _Forward:
    """A network's forward pass kept layer by layer, to restart from any layer."""

    def __init__(self, net, X, T, labels):
        self.net, self.X, self.T, self.labels = net, X, T, labels
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
            A = Zm
        T = None if self.T is None else self.T[rows]
        labels = None if self.labels is None else self.labels[rows]
        r = np.empty(A.shape[0])
        _kernels.loss_forward(net._loss.code, A, T, labels, None, r)
        return r, patterns

    def _kinked(self, m):
        layer = self.net.layers[m]
        return layer.activation in _KINKED and self.codes[m] == layer._code

    def _chunk(self, rows_per_item):
        widest = max(self.net.sizes[1:])
        return max(1, _BUDGET // (len(_STENCIL) * rows_per_item * widest))

    def layer_gradient(self, l, is_bias, h):
        """Numerical gradient of W_l (flattened) or b_l, with kink flags."""
        net = self.net
        layer = net.layers[l]
        last = l == len(net.layers) - 1
        n = layer.n_out if is_bias else layer.n_in * layer.n_out
        A_prev = self.X if l == 0 else self.A[l - 1]
        scale = np.maximum(1.0, np.abs(A_prev).max(axis=0))   # per input feature
        S, B = len(_STENCIL), self.B
        grad = np.empty(n)
        kinked = np.zeros(n, bool)
        chunk = self._chunk(B)
        for start in range(0, n, chunk):
            k = np.arange(start, min(n, start + chunk))
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
                d_aj = aj.reshape(P, S, B) - self.A[l][:, j].T[:, None, :]
                W_next = net.layers[l + 1].W
                Zp = self.Z[l + 1][None, None] + d_aj[..., None] * W_next[j][:, None, None, :]
                own = [zj.reshape(P * S * B, 1) > 0] if self._kinked(l) else []
                r, patterns = self._row_losses(l + 1, Zp.reshape(P * S * B, -1),
                                               np.tile(np.arange(B), P * S), own)
            losses = r.reshape(P, S, B).sum(axis=2) / B
            grad[start:start + P] = losses @ _WEIGHTS / hp
            kinked[start:start + P] = self._crosses(patterns, P, S)
        return grad, kinked

    def input_gradient(self, h):
        """Numerical ∂L/∂X with kink flags, both shaped like X."""
        B, n_in = self.X.shape
        W0 = self.net.layers[0].W
        scale = np.maximum(1.0, np.abs(W0).max(axis=1))   # per input feature
        S, n = len(_STENCIL), B * n_in
        grad = np.empty(n)
        kinked = np.zeros(n, bool)
        chunk = self._chunk(1)
        for start in range(0, n, chunk):
            k = np.arange(start, min(n, start + chunk))
            P = k.size
            row, i = divmod(k, n_in)
            hp = h / scale[i]
            steps = (hp[:, None] * _STENCIL).astype(self.net.dtype)[:, :, None]  # (P, S, 1)
            # copy (p, s) is row `row_p` of Z_0 moved by steps[p, s]·W_0[i_p, :]
            Zp = self.Z[0][row][:, None, :] + steps * W0[i][:, None, :]
            r, patterns = self._row_losses(0, Zp.reshape(P * S, -1), np.repeat(row, S))
            grad[start:start + P] = r.reshape(P, S) @ _WEIGHTS / (hp * B)
            kinked[start:start + P] = self._crosses(patterns, P, S)
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

    rel_error = |a - n| / max(|a|, |n|, floor), floor = rel_floor · max|n| (so that
    coordinates far below the gradient's scale are not judged by their noise).
    Coordinates whose stencil crosses a ReLU kink are counted in `flagged` and left out.
    For a float32 network, float32_rel_error is how far its float32 gradient lies
    from the float64 one (information: float32 rounding, not a failure).
    """
    dtype: str
    tolerance: float
    rows: list = field(default_factory=list)   # (name, max_rel_error, n_checked, n_flagged)
    max_rel_error: float = 0.0
    n_flagged: int = 0
    float32_rel_error: float | None = None

    @property
    def ok(self):
        return self.max_rel_error <= self.tolerance

    def __str__(self):
        copy = ", on a float64 copy of the float32 network" if self.dtype == "float32" else ""
        lines = [f"gradient check: backprop vs central differences, float64{copy}",
                 f"{'parameter':<10} {'max rel error':>14} {'checked':>9} {'at kinks':>9}"]
        for name, err, n, k in self.rows:
            lines.append(f"{name:<10} {err:>14.3e} {n:>9d} {k:>9d}")
        verdict = "OK" if self.ok else "FAILED"
        lines.append(f"{'overall':<10} {self.max_rel_error:>14.3e}   "
                     f"tolerance {self.tolerance:.0e}: {verdict}")
        if self.float32_rel_error is not None:
            lines.append(f"float32 backprop vs float64 backprop: max rel error "
                         f"{self.float32_rel_error:.3e}")
        return "\n".join(lines)


def relative_error(a, n, rel_floor):
    a = np.asarray(a, np.float64)
    n = np.asarray(n, np.float64)
    floor = rel_floor * max(np.abs(n).max(initial=0.0), np.finfo(np.float64).tiny)
    return np.abs(a - n) / np.maximum(np.maximum(np.abs(a), np.abs(n)), floor)


def check_gradients(net, X, y, eps=None, tolerance=None, rel_floor=None):
    """Compare backprop (net.gradient) with the numerical gradient, per W and b.

    Both are computed in float64: on the network itself, or on a float64 copy of a
    float32 network.  rel_floor (default 1e-5) keeps the comparison of coordinates
    far below the gradient's scale above the numerical gradient's own rounding
    noise (about 1e-13 · |L|).  tolerance defaults to 1e-6.  Returns a
    GradientReport; report.ok is max_rel_error <= tolerance.
    """
    _check_net(net)
    tolerance = 1e-6 if tolerance is None else check_scalar(tolerance, "tolerance",
                                                            minimum=0.0)
    rel_floor = 1e-5 if rel_floor is None else check_scalar(rel_floor, "rel_floor",
                                                            minimum=0.0)
    if eps is not None:
        _check_eps(eps)
    ref = net if net.dtype == np.float64 else net.astype(np.float64)
    _, analytic = ref.gradient(X, y)
    numeric, kinked = _numerical(ref, X, y, eps, "params")
    err = relative_error(analytic, numeric, rel_floor)
    report = GradientReport(dtype=net.dtype.name, tolerance=tolerance)
    offset = 0
    for l, layer in enumerate(net.layers):
        for name, n in ((f"W{l}", layer.n_in * layer.n_out), (f"b{l}", layer.n_out)):
            e, k = err[offset:offset + n], kinked[offset:offset + n]
            worst = float(e[~k].max(initial=0.0))
            report.rows.append((name, worst, int((~k).sum()), int(k.sum())))
            offset += n
    report.max_rel_error = max(r[1] for r in report.rows)
    report.n_flagged = int(kinked.sum())
    if ref is not net:
        _, own = net.gradient(X, y)
        report.float32_rel_error = float(relative_error(own, analytic, 1e-3).max())
    return report
