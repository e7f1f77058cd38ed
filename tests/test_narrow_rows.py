"""Rows narrower than a vector (a 2-class or 1-unit output, a hidden layer of 3): the
activations and fused losses take such rows a group at a time, one call of the vector
code for the group (csrc/_activations.pxd, _act_rows; csrc/_losses.pxi).

Checked against float64 NumPy (and PyTorch autograd for whole networks), at widths
that leave groups cut mid-batch and chunks of values cut mid-row, and against each
row computed alone: a value must not depend on where its row sits in the batch.
"""
import numpy as np
import pytest

from fastmlp import Network, _kernels

DTYPES = [np.float64, np.float32]
TOL = {np.float64: 1e-10, np.float32: 1e-4}
ACTS = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "gelu",
        "softmax", "exp"]
# widths: 1 and 2 (the narrow outputs), 3 and 5 (256 values not a whole number of
# rows), 17 (one vector and a tail), 300 (wider than a group: a row at a time)
WIDTHS = [1, 2, 3, 5, 17, 300]


def _id(v):
    return getattr(v, "__name__", str(v))


def _sample_rows(B):
    """The first and last rows, and some in between (group edges among them)."""
    return sorted({0, 1, 84, 85, 86, 127, 128, 255, 256, B - 1} & set(range(B)))


@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
@pytest.mark.parametrize("n", WIDTHS)
@pytest.mark.parametrize("act", ACTS)
def test_activate_on_rows_of_any_width(h, rng, act, n, dtype):
    B = 300 if n < 300 else 4
    Z = (3 * rng.standard_normal((B, n))).astype(dtype)
    code = _kernels.ACTIVATION_CODES[act]
    alpha = {"leaky_relu": 0.01, "elu": 1.0}.get(act, 0.0)
    A = np.empty_like(Z)
    _kernels.activate(Z, A, code, alpha)
    assert h.rel_err(A, h.np_act(act, Z, alpha or None)) <= TOL[dtype]
    for i in _sample_rows(B):
        alone = np.empty((1, n), dtype)
        _kernels.activate(Z[i:i + 1].copy(), alone, code, alpha)
        np.testing.assert_array_equal(alone[0], A[i], err_msg=f"row {i}")


def _reference(loss, out, T, labels, w):
    """(per-row losses, G, probabilities) in float64; w: row weights summing to 1."""
    out = out.astype(np.float64)
    B, K = out.shape
    if loss == "binary_cross_entropy":
        P = 1 / (1 + np.exp(-out))
        rows = (np.logaddexp(0, out) - T * out).sum(axis=1)
        G = P - T
    else:
        shifted = out - out.max(axis=1, keepdims=True)
        logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        P = np.exp(logp)
        Tm = np.eye(K)[labels] if labels is not None else T.astype(np.float64)
        rows = -(Tm * logp).sum(axis=1)
        G = P * Tm.sum(axis=1, keepdims=True) - Tm
    scale = np.full(B, 1 / B) if w is None else w
    return rows, G * scale[:, None], P


# (target, batch, width): softmax from 2 classes, a sigmoid output from 1
LOSS_CASES = [(t, *s) for t in ["ce_labels", "ce_rows", "bce"]
              for s in [(300, 1), (600, 1), (300, 2), (300, 3), (97, 5), (3, 300)]
              if t == "bce" or s[1] > 1]


@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
@pytest.mark.parametrize("weighted", [False, True], ids=["mean", "weighted"])
@pytest.mark.parametrize("target,B,K", LOSS_CASES,
                         ids=[f"{t}-{b}x{k}" for t, b, k in LOSS_CASES])
def test_fused_losses_on_rows_of_any_width(h, rng, target, B, K, weighted, dtype):
    out = (2 * rng.standard_normal((B, K))).astype(dtype)
    labels = T = None
    if target == "ce_labels":
        loss, labels = "cross_entropy", rng.integers(0, K, B).astype(np.intp)
    elif target == "ce_rows":
        loss = "cross_entropy"
        T = (rng.dirichlet(np.ones(K), B) * 1.5).astype(dtype)       # soft, sum 1.5
    else:
        loss, T = "binary_cross_entropy", rng.uniform(0, 1, (B, K)).astype(dtype)
    w = rng.uniform(0.1, 2, B) if weighted else None
    w = None if w is None else w / w.sum()
    ref_rows, ref_G, ref_P = _reference(loss, out, T, labels, w)
    code = _kernels.LOSS_CODES[loss]
    work, G, rows = out.copy(), np.empty_like(out), np.empty(B)
    value = _kernels.loss_forward(code, work, T, labels, G, rows, w)
    expected = ref_rows.mean() if w is None else (ref_rows * w).sum()
    assert h.rel_err(value, expected) <= TOL[dtype]
    assert h.rel_err(rows, ref_rows) <= TOL[dtype]
    assert h.rel_err(G, ref_G) <= TOL[dtype]
    assert h.rel_err(work, ref_P) <= TOL[dtype]
    for i in _sample_rows(B):
        one = out[i:i + 1].copy()
        row = np.empty(1)
        _kernels.loss_forward(code, one, None if T is None else T[i:i + 1].copy(),
                              None if labels is None else labels[i:i + 1].copy(),
                              np.empty_like(one), row)
        assert row[0] == rows[i], f"row {i}"
        np.testing.assert_array_equal(one[0], work[i], err_msg=f"row {i}")


NETS = [([8, 3, 2], "cross_entropy"), ([5, 16, 1], "binary_cross_entropy"),
        ([6, 5, 3, 3], "cross_entropy"), ([4, 2, 1], "mse"), ([7, 1, 4], "poisson")]


@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu", "elu", "softplus", "gelu"])
@pytest.mark.parametrize("sizes,loss", NETS, ids=lambda v: "-".join(map(str, v))
                         if isinstance(v, list) else v)
def test_network_gradient_with_narrow_layers(h, torch_ref, rng, sizes, loss, act, dtype):
    """Whole batches of 300 rows through narrow layers: the loss, every parameter
    block's gradient and ∂L/∂X against PyTorch autograd (float64)."""
    net = Network(sizes, activation=act, loss=loss, dtype=dtype, seed=4)
    X = rng.standard_normal((300, sizes[0])).astype(dtype)
    y = h.make_targets(rng, loss, 300, sizes[-1])
    r_loss, r_grad, r_dX = torch_ref(net).loss_and_grads(X, y)
    value, grad = net.gradient(X, y)
    assert h.rel_err(value, r_loss) <= TOL[dtype]
    errs = h.blockwise_rel_err(net, grad, r_grad)
    assert max(errs.values()) <= TOL[dtype], errs
    assert h.rel_err(net.input_gradient(X, y), r_dX) <= TOL[dtype]
