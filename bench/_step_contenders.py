"""The workloads' data and networks, and bench/step.py's contenders other than fastmlp:
the textbook step in NumPy, PyTorch's nn.Sequential + SGD, one jitted JAX step, and the GEMM floor
(fastmlp's GEMM calls alone), each starting from the fastmlp network's parameters.
"""
import numpy as np
import scipy.linalg.blas as scipy_blas
import torch
from torch import nn

import fastmlp


# ---------------------------------------------------------------------------
# Workload data and the non-fastmlp contenders
# ---------------------------------------------------------------------------

def make_data(sizes, batch, loss, dtype, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch, sizes[0])).astype(dtype)
    if loss == "cross_entropy":
        y = rng.integers(0, sizes[-1], batch)                 # int64 labels
    else:
        y = rng.uniform(0.0, 1.0, (batch, sizes[-1])).astype(dtype)
    return X, y


def make_net(sizes, hidden, out_act, loss, dtype):
    kw = {"output_activation": out_act} if (loss == "mse" and out_act) else {}
    return fastmlp.Network(sizes, hidden, loss, dtype=dtype, seed=0, **kw)


def layer_params(sizes, flat):
    """(W, b) views into a flat vector laid out like fastmlp's (W0, b0, W1, b1, ...)."""
    out, off = [], 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        W = flat[off:off + n_in * n_out].reshape(n_in, n_out)
        off += n_in * n_out
        b = flat[off:off + n_out]
        off += n_out
        out.append((W, b))
    return out


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


_NP_ACT = {"sigmoid": _sigmoid, "tanh": np.tanh, "relu": lambda z: np.maximum(z, 0),
           "identity": lambda z: z}
_NP_DACT = {"sigmoid": lambda a: a * (1 - a), "tanh": lambda a: 1 - a * a,
            "relu": lambda a: a > 0, "identity": None}     # derivative from the output a


class NumpyMLP:
    """The textbook vectorized MLP step in plain NumPy (same math as fastmlp)."""

    def __init__(self, sizes, hidden, out_act, loss, flat):
        self.sizes, self.loss_name = sizes, loss
        self.flat = flat.copy()
        self.layers = layer_params(sizes, self.flat)
        self.acts = [hidden] * (len(sizes) - 2) + [out_act or "identity"]

    def _forward(self, X):
        As = [X]
        last = len(self.layers) - 1
        for l, (W, b) in enumerate(self.layers):
            Z = As[-1] @ W + b
            if l == last and self.loss_name == "cross_entropy":
                As.append(Z)                                   # logits
            else:
                As.append(_NP_ACT[self.acts[l]](Z))
        return As

    def _loss_delta(self, out, y, need_delta=True):
        B = out.shape[0]
        if self.loss_name == "cross_entropy":
            Z = out - out.max(axis=1, keepdims=True)
            E = np.exp(Z)
            P = E / E.sum(axis=1, keepdims=True)
            loss = -np.mean(np.log(P[np.arange(B), y]))
            if not need_delta:
                return loss, None
            delta = P
            delta[np.arange(B), y] -= 1
            delta /= B
        else:
            err = out - y
            loss = 0.5 * np.sum(err * err) / B
            if not need_delta:
                return loss, None
            delta = err / B
            d = _NP_DACT[self.acts[-1]]
            if d is not None:
                delta = delta * d(out)
        return loss, delta

    def loss(self, X, y):
        return self._loss_delta(self._forward(X)[-1], y, need_delta=False)[0]

    def step(self, X, y, lr):
        As = self._forward(X)
        loss, delta = self._loss_delta(As[-1], y)
        for l in range(len(self.layers) - 1, -1, -1):
            W, b = self.layers[l]
            dW = As[l].T @ delta
            db = delta.sum(axis=0)
            if l > 0:
                delta = (delta @ W.T) * _NP_DACT[self.acts[l - 1]](As[l])
            W -= lr * dW
            b -= lr * db
        return loss


_TORCH_ACT = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}


class TorchMLP:
    """nn.Sequential + loss + torch.optim.SGD, initialised from fastmlp's parameters."""

    def __init__(self, sizes, hidden, out_act, loss, flat, X, y, lr):
        tdtype = torch.float64 if flat.dtype == np.float64 else torch.float32
        mods = []
        acts = [hidden] * (len(sizes) - 2) + [out_act or "identity"]
        for (W, b), act in zip(layer_params(sizes, flat), acts):
            # skip_init: no random init, the weights are copied in right below
            lin = torch.nn.utils.skip_init(nn.Linear, W.shape[0], W.shape[1], dtype=tdtype)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
                lin.bias.copy_(torch.from_numpy(b.copy()))
            mods.append(lin)
            if act in _TORCH_ACT and not (loss == "cross_entropy" and act == "softmax"):
                mods.append(_TORCH_ACT[act]())
        self.model = nn.Sequential(*mods)
        self.lossf = nn.CrossEntropyLoss() if loss == "cross_entropy" else nn.MSELoss()
        self.opt = torch.optim.SGD(self.model.parameters(), lr=lr)
        self.X = torch.from_numpy(X)
        self.y = torch.from_numpy(y)

    def step(self):
        opt = self.opt
        opt.zero_grad()
        loss = self.lossf(self.model(self.X), self.y)
        loss.backward()
        opt.step()
        return loss

    def loss(self):
        with torch.no_grad():
            return float(self.lossf(self.model(self.X), self.y))


class JaxMLP:
    """One SGD step as one jax.jit-compiled function (forward, loss, jax.grad, update),
    from fastmlp's parameters; float32 (JAX's default).  None when jax is missing."""

    def __new__(cls, *args):
        try:
            import jax  # noqa: F401
        except ImportError:
            return None
        return super().__new__(cls)

    def __init__(self, sizes, hidden, out_act, loss, flat, X, y, lr):
        import jax
        import jax.numpy as jnp
        acts = {"sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh, "relu": jax.nn.relu,
                "identity": lambda z: z, None: lambda z: z}
        act, out = acts[hidden], acts[out_act if loss == "mse" else None]

        def loss_fn(params, X, y):
            for W, b in params[:-1]:
                X = act(X @ W + b)
            W, b = params[-1]
            Z = out(X @ W + b)
            if loss == "cross_entropy":
                return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(Z), y[:, None], 1))
            return 0.5 * jnp.sum((Z - y) ** 2) / X.shape[0]

        @jax.jit
        def step(params, X, y):
            value, grads = jax.value_and_grad(loss_fn)(params, X, y)
            return [(W - lr * dW, b - lr * db) for (W, b), (dW, db) in zip(params, grads)], value

        self.params = [(jnp.asarray(W), jnp.asarray(b)) for W, b in layer_params(sizes, flat)]
        self.X, self.y = jnp.asarray(X), jnp.asarray(y)
        self._step = step

    def step(self):
        self.params, value = self._step(self.params, self.X, self.y)
        return value.block_until_ready()


class GemmFloor:
    """The GEMM calls of fastmlp's compiled SGD step (Plan.sgd_step), alone, through
    scipy's OpenBLAS (the library fastmlp's kernels call via scipy.linalg.cython_blas).

    fastmlp's _gemm computes row-major C(M×N) = op(A) @ op(B) as the column-major
    Cᵀ = op(B)ᵀ @ op(A)ᵀ; the .T views below are exactly those column-major operands.
    Per step, for a batch B > 1:
        forward, each layer:        Z_l = A_{l-1} @ W_l               (beta 0)
        backward, last layer first: D   = δ_l @ W_lᵀ   (skipped for the first layer)
                                    W_l = -lr · A_{l-1}ᵀ @ δ_l + 1 · W_l
    """

    def __init__(self, sizes, batch, dtype, flat, lr, seed=2):
        rng = np.random.default_rng(seed)
        self.gemm = scipy_blas.sgemm if dtype == np.float32 else scipy_blas.dgemm
        self.flat = flat.copy()
        Ws = [W for W, _ in layer_params(sizes, self.flat)]
        X = rng.standard_normal((batch, sizes[0])).astype(dtype)
        As = [X] + [rng.standard_normal((batch, n)).astype(dtype) for n in sizes[1:]]
        deltas = [(rng.standard_normal((batch, n)) * 1e-3).astype(dtype) for n in sizes[1:]]
        Ds = [None] + [rng.standard_normal((batch, n)).astype(dtype) for n in sizes[1:-1]]
        self.arrays = (X, As, deltas, Ds)
        one, zero, neg = 1.0, 0.0, -lr
        calls = []
        for l, W in enumerate(Ws):          # (alpha, a, b, beta, c, trans_a, trans_b)
            calls.append((one, W.T, As[l].T, zero, As[l + 1].T, 0, 0))
        for l in range(len(Ws) - 1, -1, -1):
            if l > 0:
                calls.append((one, Ws[l].T, deltas[l].T, zero, Ds[l].T, 1, 0))
            calls.append((neg, deltas[l].T, As[l].T, one, Ws[l].T, 0, 1))
        self.calls = calls
        self.check()

    def check(self):
        """Each call writes in place (no hidden copies) and computes the right product
        (checked on a few columns of the column-major output, to stay cheap)."""
        gemm = self.gemm
        rng = np.random.default_rng(0)
        for alpha, a, b, beta, c, ta, tb in self.calls:
            cols = rng.choice(c.shape[1], min(4, c.shape[1]), replace=False)
            opb = (b.T if tb else b)[:, cols]
            expect = alpha * ((a.T if ta else a) @ opb) + beta * c[:, cols]
            out = gemm(alpha, a, b, beta, c, ta, tb, 1)
            if out is not c and not np.shares_memory(out, c):
                raise RuntimeError("GEMM floor: scipy.linalg.blas copied the output array")
            got = out[:, cols]
            tol = 1e-3 if c.dtype == np.float32 else 1e-9
            if not np.allclose(got, expect, rtol=tol, atol=tol * max(1.0, np.abs(expect).max())):
                raise RuntimeError("GEMM floor: a GEMM call does not compute what fastmlp's does")

    def step(self):
        gemm = self.gemm
        for alpha, a, b, beta, c, ta, tb in self.calls:
            gemm(alpha, a, b, beta, c, ta, tb, 1)

    @property
    def n_calls(self):
        return len(self.calls)


def labels_and_targets(loss, y):
    """(T, labels) as fastmlp's validation would hand them to the Plan."""
    if loss == "cross_entropy":
        return None, np.ascontiguousarray(y, dtype=np.intp)
    return y, None
