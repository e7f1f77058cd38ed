"""Shared fixtures and independent references for the fastmlp test suite.

The suite tests the INSTALLED package (``pip install .``), never the source tree:
the compiled ``fastmlp._kernels`` only exists in the installed copy, and testing
the checkout would silently test something else.  Run it with ``pytest tests``
(pyproject sets ``--import-mode=importlib``); ``python -m pytest`` would put the
checkout on sys.path and is refused below.

References here are written from the textbook math, independently of the
package: fastmlp.activations' NumPy functions are deliberately NOT used.

Relative error convention (``rel_err``)
---------------------------------------
For one block of numbers (one parameter matrix, one bias vector, one input
gradient, one loss value):

    rel_err(a, r) = max|a - r| / max(max|r|, tiny)

i.e. the worst absolute deviation measured against the block's largest
reference value, so that entries far below the block's scale are not judged by
their rounding noise.  Tolerances: float64 1e-10, float32 1e-4 (see TOL).
"""
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.special import erfc, xlogy

import fastmlp

# ---------------------------------------------------------------------------
# The package under test must be the installed one.
# ---------------------------------------------------------------------------

CHECKOUT = Path(__file__).resolve().parent.parent
_PKG = Path(fastmlp.__file__).resolve()
# FASTMLP_TEST_EDITABLE=1 accepts an editable install (`pip install -e .`, the
# extensions built in place), for development; CI always tests a real install.
_EDITABLE = os.environ.get("FASTMLP_TEST_EDITABLE", "0") not in ("", "0")
if not _EDITABLE and (CHECKOUT == _PKG.parent or CHECKOUT in _PKG.parents):
    raise RuntimeError(
        "\n\n*** fastmlp was imported from the source checkout ***\n"
        f"    fastmlp.__file__ = {_PKG}\n"
        f"    checkout         = {CHECKOUT}\n"
        "The tests must run against the installed package: run "
        "`cd /work/main && pip install . && pytest tests` (not `python -m pytest`, "
        "which puts the checkout on sys.path; FASTMLP_TEST_EDITABLE=1 accepts an "
        "editable install).\n")
try:
    from fastmlp import _kernels  # noqa: F401  (the compiled extension must be there)
except ImportError as exc:  # pragma: no cover
    raise RuntimeError(f"fastmlp is installed without its compiled kernels: {exc}")

# keep BLAS to one thread: 2-core machine, deterministic timing, no oversubscription
try:
    from threadpoolctl import threadpool_limits
    _LIMITS = threadpool_limits(limits=1)
except ImportError:  # pragma: no cover
    _LIMITS = None


ACTIVATIONS = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu",
               "softplus", "gelu", "softmax", "exp"]
HIDDEN_ACTIVATIONS = [a for a in ACTIVATIONS if a not in ("softmax", "exp")]
SMOOTH_ACTIVATIONS = ["sigmoid", "tanh", "identity", "softplus", "gelu", "elu"]
LOSSES = ["mse", "cross_entropy", "binary_cross_entropy", "poisson"]
DTYPES = [np.float64, np.float32]
TOL = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-4}
DEFAULT_ALPHA = {"leaky_relu": 0.01, "elu": 1.0}


def tol(dtype):
    return TOL[np.dtype(dtype)]


def rel_err(a, r):
    """Block relative error max|a - r| / max(max|r|, tiny), in float64."""
    a = np.asarray(a, dtype=np.float64)
    r = np.asarray(r, dtype=np.float64)
    assert a.shape == r.shape, (a.shape, r.shape)
    if a.size == 0:
        return 0.0
    scale = max(float(np.abs(r).max()), np.finfo(np.float64).tiny)
    return float(np.abs(a - r).max() / scale)


# ---------------------------------------------------------------------------
# NumPy reference: activations, derivatives (from z, the textbook way), losses
# ---------------------------------------------------------------------------

def _quiet_underflow(fn):
    """References may underflow to 0 in the tails (that is the right answer)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kw):
        with np.errstate(under="ignore"):
            return fn(*args, **kw)
    return wrapper


@_quiet_underflow
def _sigmoid(z):
    z = np.asarray(z, dtype=np.float64)
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    e = np.exp(z[~pos])
    out[~pos] = e / (1.0 + e)
    return out


@_quiet_underflow
def np_act(name, z, alpha=None):
    """act(z) in float64, stable for |z| up to 1e4."""
    z = np.asarray(z, dtype=np.float64)
    alpha = DEFAULT_ALPHA.get(name) if alpha is None else alpha
    if name == "identity":
        return z.copy()
    if name == "sigmoid":
        return _sigmoid(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.where(z > 0, z, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, z, alpha * z)
    if name == "elu":
        return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0.0)))
    if name == "softplus":
        return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))
    if name == "gelu":
        return 0.5 * z * erfc(-z / np.sqrt(2.0))
    if name == "softmax":
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    if name == "exp":
        return np.exp(z)
    raise KeyError(name)


@_quiet_underflow
def np_dact(name, z, alpha=None):
    """act'(z), elementwise, in float64 (not for softmax: see np_softmax_jvp)."""
    z = np.asarray(z, dtype=np.float64)
    alpha = DEFAULT_ALPHA.get(name) if alpha is None else alpha
    if name == "identity":
        return np.ones_like(z)
    if name == "sigmoid":
        return _sigmoid(z) * _sigmoid(-z)
    if name == "tanh":
        e = np.exp(-2.0 * np.abs(z))                  # sech² = 4e^{-2|z|}/(1+e^{-2|z|})²
        return 4.0 * e / (1.0 + e) ** 2
    if name == "relu":
        return (z > 0).astype(np.float64)
    if name == "leaky_relu":
        return np.where(z > 0, 1.0, alpha)
    if name == "elu":
        return np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0.0)))
    if name == "softplus":
        return _sigmoid(z)
    if name == "gelu":
        return 0.5 * erfc(-z / np.sqrt(2.0)) + z * np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)
    if name == "exp":
        return np.exp(z)
    raise KeyError(name)


@_quiet_underflow
def np_softmax_jvp(z, g):
    """Row-wise J(z)ᵀ g with the full softmax Jacobian J = diag(s) - s sᵀ."""
    s = np_act("softmax", z)
    out = np.empty_like(s)
    for i in range(s.shape[0]):
        J = np.diag(s[i]) - np.outer(s[i], s[i])
        out[i] = J.T @ np.asarray(g[i], dtype=np.float64)
    return out


def np_layer_backward(name, X, W, b, G, alpha=None):
    """(delta, dW, db, delta_below) for A = act(X W + b), G = ∂L/∂A, in float64."""
    X, W, b, G = (np.asarray(v, dtype=np.float64) for v in (X, W, b, G))
    Z = X @ W + b
    if name == "softmax":
        delta = np_softmax_jvp(Z, G)
    else:
        delta = G * np_dact(name, Z, alpha)
    return delta, X.T @ delta, delta.sum(axis=0), delta @ W.T


@_quiet_underflow
def np_loss(loss, out, y):
    """Batch-mean loss from the output-layer PRE-activation `out` for CE / BCE
    (logits) or the output activation for mse.  float64."""
    out = np.asarray(out, dtype=np.float64)
    B = out.shape[0]
    if loss == "mse":
        return 0.5 * np.sum((out - np.asarray(y, dtype=np.float64).reshape(out.shape)) ** 2) / B
    if loss == "cross_entropy":
        m = out.max(axis=1, keepdims=True)
        logp = out - m - np.log(np.exp(out - m).sum(axis=1, keepdims=True))
        y = np.asarray(y)
        if y.ndim == 1:
            return -logp[np.arange(B), y.astype(np.intp)].sum() / B
        return -(y * logp).sum() / B
    if loss == "binary_cross_entropy":
        y = np.asarray(y, dtype=np.float64).reshape(out.shape)
        # -y log σ(z) - (1-y) log(1-σ(z)) = softplus(z) - y z
        return (np_act("softplus", out) - y * out).sum() / B
    if loss == "poisson":
        # half the Poisson deviance from log-means z: e^z - y z + y log y - y
        y = np.asarray(y, dtype=np.float64).reshape(out.shape)
        return (np.exp(out) - y * out + xlogy(y, y) - y).sum() / B
    raise KeyError(loss)


def np_forward(net, X):
    """Per-layer (Z, A) lists for a fastmlp network, recomputed in float64 from
    its layers' W and b (the output layer's A applies its own activation)."""
    A = np.asarray(X, dtype=np.float64)
    Zs, As = [], []
    for layer in net.layers:
        Z = A @ layer.W.astype(np.float64) + layer.b.astype(np.float64)
        A = np_act(layer.activation, Z, layer.alpha if layer.activation in DEFAULT_ALPHA else None)
        Zs.append(Z)
        As.append(A)
    return Zs, As


# ---------------------------------------------------------------------------
# PyTorch reference (float64 autograd)
# ---------------------------------------------------------------------------

class TorchReference:
    """A float64 PyTorch copy of a fastmlp Network (or of explicit layer specs).

    ref = TorchReference(torch, net)
    value, grad_flat, grad_X = ref.loss_and_grads(X, y)

    grad_flat is laid out like fastmlp's params: W0.ravel(), b0, W1.ravel(), b1, ...
    Loss conventions follow the fastmlp docs, written with torch primitives:
        mse   (1/B) Σ_i ½ Σ_k (a - y)²
        CE    F.cross_entropy (labels, batch mean) or -(1/B) Σ t·log_softmax(z)
        BCE   F.binary_cross_entropy_with_logits(z, t, reduction="sum") / B
        Poisson  nn.PoissonNLLLoss(log_input=True, reduction="sum")(z, t) / B
              + Σ (t log t - t) / B   (a constant: the deviance form)
        + ½·l2·Σ‖W‖²
    """

    def __init__(self, torch, net=None, *, Ws=None, bs=None, activations=None,
                 alphas=None, loss=None, l2=0.0):
        self.torch = torch
        self.F = torch.nn.functional
        if net is not None:
            Ws = [l.W for l in net.layers]
            bs = [l.b for l in net.layers]
            activations = [l.activation for l in net.layers]
            alphas = [l.alpha for l in net.layers]
            loss = net.loss_name
            l2 = net.l2
        self.Ws = [torch.tensor(np.asarray(W, np.float64), requires_grad=True) for W in Ws]
        self.bs = [torch.tensor(np.asarray(b, np.float64), requires_grad=True) for b in bs]
        self.activations = list(activations)
        self.alphas = list(alphas) if alphas is not None else [None] * len(Ws)
        self.loss_name = loss
        self.l2 = float(l2)

    def parameters(self):
        out = []
        for W, b in zip(self.Ws, self.bs):
            out += [W, b]
        return out

    def flat(self, tensors):
        return np.concatenate([t.detach().numpy().ravel() for t in tensors])

    def _act(self, name, z, alpha):
        torch, F = self.torch, self.F
        if name == "identity":
            return z
        if name == "sigmoid":
            return torch.sigmoid(z)
        if name == "tanh":
            return torch.tanh(z)
        if name == "relu":
            return torch.relu(z)
        if name == "leaky_relu":
            return F.leaky_relu(z, negative_slope=float(alpha))
        if name == "elu":
            return F.elu(z, alpha=float(alpha))
        if name == "softplus":
            # not F.softplus: it switches to the identity above z = 20
            return torch.logaddexp(z, torch.zeros_like(z))
        if name == "gelu":
            return F.gelu(z, approximate="none")
        if name == "softmax":
            return torch.softmax(z, dim=1)
        if name == "exp":
            return torch.exp(z)
        raise KeyError(name)

    def output(self, X, logits=False):
        A = X
        n = len(self.Ws)
        for i, (W, b, name, alpha) in enumerate(zip(self.Ws, self.bs, self.activations,
                                                     self.alphas)):
            Z = A @ W + b
            if logits and i == n - 1:
                return Z
            A = self._act(name, Z, alpha)
        return A

    def loss(self, X, y):
        torch, F = self.torch, self.F
        B = X.shape[0]
        if self.loss_name == "mse":
            out = self.output(X)
            T = torch.tensor(np.asarray(y, np.float64).reshape(tuple(out.shape)))
            value = 0.5 * ((out - T) ** 2).sum() / B
        elif self.loss_name == "cross_entropy":
            z = self.output(X, logits=True)
            y = np.asarray(y)
            if y.ndim == 1:
                value = F.cross_entropy(z, torch.tensor(y.astype(np.int64)))
            else:
                value = -(torch.tensor(y.astype(np.float64)) * F.log_softmax(z, dim=1)).sum() / B
        elif self.loss_name == "binary_cross_entropy":
            z = self.output(X, logits=True)
            T = torch.tensor(np.asarray(y, np.float64).reshape(tuple(z.shape)))
            value = F.binary_cross_entropy_with_logits(z, T, reduction="sum") / B
        elif self.loss_name == "poisson":
            z = self.output(X, logits=True)
            t = np.asarray(y, np.float64).reshape(tuple(z.shape))
            nll = torch.nn.PoissonNLLLoss(log_input=True, full=False, reduction="sum")
            value = nll(z, torch.tensor(t)) / B + float((xlogy(t, t) - t).sum()) / B
        else:
            raise KeyError(self.loss_name)
        if self.l2:
            value = value + 0.5 * self.l2 * sum((W ** 2).sum() for W in self.Ws)
        return value

    def loss_and_grads(self, X, y):
        """(loss, flat parameter gradient, ∂L/∂X) in float64."""
        torch = self.torch
        Xt = torch.tensor(np.asarray(X, np.float64), requires_grad=True)
        for p in self.parameters():
            p.grad = None
        value = self.loss(Xt, y)
        value.backward()
        return float(value.detach()), self.flat([p.grad for p in self.parameters()]), \
            Xt.grad.numpy().copy()

    def sgd_steps(self, batches, lr):
        """Plain SGD with torch.optim.SGD on loss (incl. penalty); returns losses."""
        torch = self.torch
        opt = torch.optim.SGD(self.parameters(), lr=lr)
        losses = []
        for X, y in batches:
            opt.zero_grad()
            value = self.loss(torch.tensor(np.asarray(X, np.float64)), y)
            value.backward()
            opt.step()
            losses.append(float(value.detach()))
        return losses


def block_slices(net):
    """[(name, slice)] of the blocks W0, b0, W1, b1, ... in the flat layout,
    computed from the layer shapes alone."""
    out, off = [], 0
    for i, layer in enumerate(net.layers):
        nw = layer.n_in * layer.n_out
        out.append((f"W{i}", slice(off, off + nw)))
        off += nw
        out.append((f"b{i}", slice(off, off + layer.n_out)))
        off += layer.n_out
    return out


def blockwise_rel_err(net, a, r):
    """{block name: rel_err} over the flat parameter layout."""
    return {name: rel_err(a[s], r[s]) for name, s in block_slices(net)}


def make_targets(rng, loss, B, K, kind=None):
    """Random targets for `loss`: labels / one-hot / soft rows for CE, [0, 1] for
    BCE (with some exact 0s and 1s), counts (with 0s) for poisson, standard normal
    for mse."""
    if loss == "cross_entropy":
        kind = kind or "labels"
        labels = rng.integers(0, K, size=B)
        if kind == "labels":
            return labels
        if kind == "onehot":
            return np.eye(K)[labels]
        return rng.dirichlet(np.ones(K), size=B)
    if loss == "binary_cross_entropy":
        T = rng.uniform(0, 1, size=(B, K))
        T[rng.uniform(size=(B, K)) < 0.3] = 0.0
        T[rng.uniform(size=(B, K)) < 0.3] = 1.0
        return T
    if loss == "poisson":
        return rng.poisson(1.5, size=(B, K)).astype(np.float64)
    return rng.standard_normal((B, K))


class _Helpers(SimpleNamespace):
    def __repr__(self):
        return "<test helpers>"


H = _Helpers(
    ACTIVATIONS=ACTIVATIONS, HIDDEN_ACTIVATIONS=HIDDEN_ACTIVATIONS,
    SMOOTH_ACTIVATIONS=SMOOTH_ACTIVATIONS, LOSSES=LOSSES, DTYPES=DTYPES,
    DEFAULT_ALPHA=DEFAULT_ALPHA, tol=tol, rel_err=rel_err, np_act=np_act,
    np_dact=np_dact, np_softmax_jvp=np_softmax_jvp,
    np_layer_backward=np_layer_backward, np_loss=np_loss, np_forward=np_forward,
    block_slices=block_slices, blockwise_rel_err=blockwise_rel_err,
    make_targets=make_targets, TorchReference=TorchReference, CHECKOUT=CHECKOUT)


@pytest.fixture(scope="session")
def h():
    """The helpers above (tests cannot import conftest under importlib mode)."""
    return H


def _own_codes():
    from fastmlp import _kernels
    return [isa for isa in _kernels.OWN_SGEMM_ISAS] + ["blas"]


@pytest.fixture(params=_own_codes(), ids=lambda isa: isa if isa == "blas" else "own-" + isa)
def own_code(request):
    """Runs the test on each code the float32 GEMMs can take on this CPU: fastmlp's own
    (AVX-512 and AVX2 on an AVX-512 CPU, so that the AVX2 code is tested there too)
    and the BLAS; yields "avx512", "avx2" or "blas"."""
    from fastmlp import _kernels
    own = request.param != "blas"
    before = _kernels.use_own_sgemm(own)
    isa = _kernels.use_isa(request.param) if own else None
    try:
        yield request.param
    finally:
        if isa:
            _kernels.use_isa(isa)
        _kernels.use_own_sgemm(before)


@pytest.fixture(scope="session")
def torch():
    """PyTorch (skips the test where it is not installed), one thread, float64."""
    torch = pytest.importorskip("torch", exc_type=ImportError)
    torch.set_num_threads(1)
    return torch


@pytest.fixture(scope="session")
def torch_ref(torch):
    """torch_ref(net) -> TorchReference; torch_ref(Ws=..., bs=..., ...) likewise."""
    def build(net=None, **kw):
        return TorchReference(torch, net, **kw)
    return build


@pytest.fixture
def rng(request):
    """A NumPy Generator seeded from the test's node id (stable across runs)."""
    import zlib
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


def pytest_report_header(config):
    return [f"fastmlp {fastmlp.__version__} from {_PKG.parent}",
            f"BLAS threads limited to 1: {_LIMITS is not None}"]
