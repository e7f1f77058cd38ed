"""Layer kernels (forward, backward) and the low-level entry points in
fastmlp._kernels against NumPy references written here from the textbook math.

Error measure: block relative error (conftest.rel_err) for matrices; the
stability tests use per-element relative error with an absolute floor of the
dtype's smallest normal number (forward values) or the block scale (derivatives,
which the kernels read off the output a = f(z) and so carry absolute, not
relative, rounding error in the saturated tails).
"""
import warnings

import numpy as np
import pytest
from scipy.special import xlogy

import fastmlp
from fastmlp import Layer, Network, _kernels

ACTS = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "gelu",
        "softmax", "exp"]
# (activation, alpha) pairs: every activation with its default, plus explicit alphas
ACT_ALPHA = [(a, None) for a in ACTS] + [("leaky_relu", 0.2), ("leaky_relu", 0.0),
                                         ("elu", 0.5), ("elu", 2.0)]
DTYPES = [np.float64, np.float32]
TOL = {np.float64: 1e-10, np.float32: 1e-4}


def _id(v):
    return getattr(v, "__name__", str(v))


def _effective_alpha(act, alpha):
    return {"leaky_relu": 0.01, "elu": 1.0}.get(act) if alpha is None else alpha


def _random_layer(rng, act, alpha, dtype, n_in=7, n_out=5, scale=0.7):
    layer = Layer(n_in, n_out, act, dtype=dtype, seed=0, alpha=alpha)
    layer.W = (scale * rng.standard_normal((n_in, n_out))).astype(dtype)
    layer.b = (0.3 * rng.standard_normal(n_out)).astype(dtype)
    return layer


@pytest.fixture(autouse=True)
def _fp_errors_are_errors():
    """No test here may trip a floating-point warning anywhere."""
    with np.errstate(all="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# ---------------------------------------------------------------------------
# Layer.forward / Layer.backward against NumPy
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
@pytest.mark.parametrize("act,alpha", ACT_ALPHA)
@pytest.mark.parametrize("batch", [1, 9])
def test_layer_forward_matches_numpy(h, rng, act, alpha, dtype, batch):
    layer = _random_layer(rng, act, alpha, dtype)
    X = rng.standard_normal((batch, 7)).astype(dtype)
    A = layer.forward(X)
    assert A.dtype == dtype and A.shape == (batch, 5)
    ref = h.np_act(act, X.astype(np.float64) @ layer.W.astype(np.float64)
                   + layer.b.astype(np.float64), _effective_alpha(act, alpha))
    assert h.rel_err(A, ref) <= TOL[dtype]
    if act == "softmax":
        np.testing.assert_allclose(A.sum(axis=1), 1.0, rtol=TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
@pytest.mark.parametrize("act,alpha", ACT_ALPHA)
@pytest.mark.parametrize("batch", [1, 9])
def test_layer_backward_matches_numpy(h, rng, act, alpha, dtype, batch):
    layer = _random_layer(rng, act, alpha, dtype)
    X = rng.standard_normal((batch, 7)).astype(dtype)
    G = rng.standard_normal((batch, 5)).astype(dtype)
    layer.forward(X)
    below = layer.backward(G)
    delta, dW, db, d_below = h.np_layer_backward(act, X, layer.W, layer.b, G,
                                                 _effective_alpha(act, alpha))
    assert below.shape == X.shape and below.dtype == dtype
    assert layer.delta.shape == (batch, 5)
    errs = {"delta": h.rel_err(layer.delta, delta), "dW": h.rel_err(layer.dW, dW),
            "db": h.rel_err(layer.db, db), "below": h.rel_err(below, d_below)}
    assert max(errs.values()) <= TOL[dtype], errs


@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
def test_softmax_backward_is_jacobian_vector_product(h, rng, dtype):
    """δz = J(z)ᵀ g with the explicit Jacobian diag(s) - s sᵀ, row by row, and
    ∂L/∂A ∝ 1 (a constant shift of g) gives δz = 0: softmax is shift invariant."""
    layer = _random_layer(rng, "softmax", None, dtype, n_in=4, n_out=6, scale=1.5)
    X = rng.standard_normal((8, 4)).astype(dtype)
    G = rng.standard_normal((8, 6)).astype(dtype)
    layer.forward(X)
    layer.backward(G)
    Z = X.astype(np.float64) @ layer.W.astype(np.float64) + layer.b.astype(np.float64)
    assert h.rel_err(layer.delta, h.np_softmax_jvp(Z, G)) <= TOL[dtype]
    layer.backward(np.ones_like(G) * 3.0)
    assert np.abs(layer.delta).max() <= 10 * np.finfo(dtype).eps


@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
def test_backward_without_delta_below_still_sets_gradients(h, rng, dtype):
    layer = _random_layer(rng, "tanh", None, dtype)
    X = rng.standard_normal((6, 7)).astype(dtype)
    G = rng.standard_normal((6, 5)).astype(dtype)
    layer.forward(X)
    assert layer.backward(G, need_below=False) is None
    _, dW, db, _ = h.np_layer_backward("tanh", X, layer.W, layer.b, G)
    assert h.rel_err(layer.dW, dW) <= TOL[dtype]
    assert h.rel_err(layer.db, db) <= TOL[dtype]


@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
def test_backward_overwrites_rather_than_accumulates(h, rng, dtype):
    """dW / db are the gradient of THIS backward call, not a running sum."""
    layer = _random_layer(rng, "sigmoid", None, dtype)
    X = rng.standard_normal((5, 7)).astype(dtype)
    G = rng.standard_normal((5, 5)).astype(dtype)
    layer.forward(X)
    layer.backward(G)
    layer.backward(G)
    _, dW, db, _ = h.np_layer_backward("sigmoid", X, layer.W, layer.b, G)
    assert h.rel_err(layer.dW, dW) <= TOL[dtype]
    assert h.rel_err(layer.db, db) <= TOL[dtype]


@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
def test_gelu_backward_uses_its_own_pre_activation(h, rng, dtype):
    """GELU keeps Z (its derivative is not a function of a): two layers' forward
    passes, interleaved, must not disturb each other's backward."""
    l1 = _random_layer(rng, "gelu", None, dtype)
    l2 = _random_layer(rng, "gelu", None, dtype)
    X1 = rng.standard_normal((4, 7)).astype(dtype)
    X2 = 3 * rng.standard_normal((4, 7)).astype(dtype)
    G = rng.standard_normal((4, 5)).astype(dtype)
    l1.forward(X1)
    l2.forward(X2)
    l1.backward(G)
    delta, *_ = h.np_layer_backward("gelu", X1, l1.W, l1.b, G)
    assert h.rel_err(l1.delta, delta) <= TOL[dtype]


@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
def test_elu_derivative_exact_deep_in_the_negative_tail(dtype):
    """elu'(z) = α e^z for z <= 0.  Taken from the output as a + α it would cancel
    (relative error ~1e-4 at z = -30 in float64, ~1e-2 at z = -14 in float32)."""
    z = np.array([[-30.0, -14.0, -5.0, -0.5]], dtype)
    layer = fastmlp.Layer(1, 4, "elu", dtype=dtype, alpha=1.5)
    layer.W = np.ones((1, 4))
    layer.b = z[0] - 1.0                  # X = [[1]] makes Z = z exactly
    layer.forward(np.ones((1, 1), dtype))
    layer.backward(np.ones((1, 4), dtype))
    expected = 1.5 * np.exp(z.astype(np.float64))
    rel = np.abs(layer.delta - expected) / expected
    assert rel.max() <= (1e-14 if dtype == np.float64 else 1e-6)


# ---------------------------------------------------------------------------
# Numerical stability at |z| up to 1e4
# ---------------------------------------------------------------------------

Z_GRID = np.array([-1e4, -1e3, -700.0, -100.0, -88.0, -50.0, -30.0, -20.0, -10.0, -5.0,
                   -1.0, -1e-3, 1e-3, 1.0, 5.0, 10.0, 20.0, 30.0, 50.0, 88.0, 100.0,
                   700.0, 1e3, 1e4])


def _through_layer(act, alpha, z, dtype):
    """act(z) and act'(z) (G = 1) through a Layer(1, 1) with W = 1, b = 0."""
    layer = Layer(1, 1, act, dtype=dtype, alpha=alpha, seed=0)
    layer.W = np.ones((1, 1))
    layer.b = np.zeros(1)
    A = layer.forward(np.asarray(z, dtype).reshape(-1, 1)).ravel().copy()
    layer.backward(np.ones((z.size, 1), dtype))
    return A, layer.delta.ravel().copy()


@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
@pytest.mark.parametrize("act,alpha", [p for p in ACT_ALPHA if p[0] not in ("softmax", "exp")])
def test_activation_stable_over_wide_range(h, act, alpha, dtype):
    z = Z_GRID.astype(dtype)
    A, D = _through_layer(act, alpha, z, dtype)
    assert np.all(np.isfinite(A)) and np.all(np.isfinite(D))
    al = _effective_alpha(act, alpha)
    ref = h.np_act(act, z.astype(np.float64), al)
    # forward: per element, relative, floored at the smallest normal number
    floor = np.finfo(dtype).tiny
    err = np.abs(A - ref) / np.maximum(np.abs(ref), floor)
    overflow = np.abs(ref) > np.finfo(dtype).max     # none expected on this grid
    assert not overflow.any()
    assert err.max() <= TOL[dtype], dict(zip(z[err > TOL[dtype]], err[err > TOL[dtype]]))
    # derivative: per element with the block scale as floor (read off a = f(z))
    dref = h.np_dact(act, z.astype(np.float64), al)
    assert h.rel_err(D, dref) <= TOL[dtype]


@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
def test_saturation_values_are_exact(dtype):
    big = np.array([1e4, -1e4])

    def run(act, alpha=None):
        return _through_layer(act, alpha, big, dtype)

    a, d = run("sigmoid")
    assert a.tolist() == [1.0, 0.0] and d.tolist() == [0.0, 0.0]
    a, d = run("tanh")
    assert a.tolist() == [1.0, -1.0] and d.tolist() == [0.0, 0.0]
    a, d = run("softplus")
    assert a.tolist() == [1e4, 0.0] and d.tolist() == [1.0, 0.0]
    a, d = run("gelu")
    assert a.tolist() == [1e4, 0.0] and d.tolist() == [1.0, 0.0]
    a, d = run("relu")
    assert a.tolist() == [1e4, 0.0] and d.tolist() == [1.0, 0.0]
    a, d = run("identity")
    assert a.tolist() == [1e4, -1e4] and d.tolist() == [1.0, 1.0]
    a, d = run("elu", 0.5)
    assert a.tolist() == [1e4, -0.5] and d.tolist() == [1.0, 0.0]
    a, d = run("leaky_relu", 0.25)
    assert a.tolist() == [1e4, -2500.0] and d.tolist() == [1.0, 0.25]


@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
def test_softmax_extreme_rows(h, dtype):
    layer = Layer(3, 3, "softmax", dtype=dtype, seed=0)
    layer.W = np.eye(3)
    layer.b = np.zeros(3)
    Z = np.array([[1e4, -1e4, 0.0],
                  [1e4, 1e4, -1e4],
                  [-1e4, -1e4, -1e4],
                  [-1e4, -1e4 + 1, -1e4 + 2]], dtype=dtype)
    A = layer.forward(Z)
    assert np.all(np.isfinite(A))
    assert A[0].tolist() == [1.0, 0.0, 0.0]
    assert A[1].tolist() == [0.5, 0.5, 0.0]
    np.testing.assert_allclose(A[2], 1 / 3, rtol=TOL[dtype])
    np.testing.assert_allclose(A[3], h.np_act("softmax", np.array([[0.0, 1.0, 2.0]]))[0],
                               rtol=TOL[dtype])
    G = np.array([[1.0, 2.0, 3.0]] * 4, dtype=dtype)
    layer.backward(G)
    assert np.all(np.isfinite(layer.delta))
    assert h.rel_err(layer.delta, h.np_softmax_jvp(Z.astype(np.float64), G)) <= TOL[dtype]


@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
def test_losses_stable_at_extreme_logits(dtype):
    """Hand-computed: CE with logits (1e4, -1e4) and label 1 costs 2e4; BCE with
    z = ±1e4 costs 1e4 when wrong and 0 when right; gradients are p - t."""
    code = _kernels.LOSS_CODES
    out = np.array([[1e4, -1e4], [1e4, -1e4]], dtype=dtype)
    G = np.empty_like(out)
    v = _kernels.loss_forward(code["cross_entropy"], out, None,
                              np.array([1, 0], dtype=np.intp), G, None)
    assert v == pytest.approx((2e4 + 0.0) / 2, rel=1e-7)
    np.testing.assert_array_equal(G, np.array([[0.5, -0.5], [0.0, 0.0]], dtype=dtype))
    out = np.array([[1e4, -1e4, 1e4, -1e4]], dtype=dtype)
    T = np.array([[0.0, 1.0, 1.0, 0.0]], dtype=dtype)
    G = np.empty_like(out)
    v = _kernels.loss_forward(code["binary_cross_entropy"], out, T, None, G, None)
    assert v == pytest.approx(2e4, rel=1e-7)
    np.testing.assert_array_equal(G, np.array([[1.0, -1.0, 0.0, 0.0]], dtype=dtype))


# ---------------------------------------------------------------------------
# Batch-1 (GEMV) path == batch > 1 (GEMM) path
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (7, 5), (130, 70)],
                         ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("act", ["identity", "tanh", "relu", "gelu", "softmax"])
def test_batch_one_equals_batched(h, rng, act, dtype, shape):
    n_in, n_out = shape
    layer = _random_layer(rng, act, None, dtype, n_in=n_in, n_out=n_out, scale=0.3)
    X = rng.standard_normal((6, n_in)).astype(dtype)
    G = rng.standard_normal((6, n_out)).astype(dtype)
    A_all = layer.forward(X).copy()
    below_all = layer.backward(G).copy()
    tight = 1e-12 if dtype == np.float64 else 1e-5   # summation order differs
    ref_delta, ref_dW, ref_db, _ = h.np_layer_backward(act, X, layer.W, layer.b, G)
    dW_sum = np.zeros((n_in, n_out))
    for i in range(X.shape[0]):
        a = layer.forward(X[i:i + 1])
        assert h.rel_err(a, A_all[i:i + 1]) <= tight
        below = layer.backward(G[i:i + 1])
        assert h.rel_err(below, below_all[i:i + 1]) <= tight
        dW_sum += layer.dW
    # per-row gradients add up to the batch gradient
    assert h.rel_err(dW_sum, ref_dW) <= TOL[dtype]
    # a 1-D input is one row
    a1 = layer.forward(X[0])
    assert a1.shape == (1, n_out) and h.rel_err(a1, A_all[:1]) <= tight


@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
def test_network_batch_one_equals_batched(h, rng, dtype):
    net = Network([5, 16, 8, 3], activation="tanh", loss="cross_entropy", dtype=dtype,
                  seed=3)
    X = rng.standard_normal((7, 5))
    y = rng.integers(0, 3, 7)
    P = net.forward(X)
    tight = 1e-12 if dtype == np.float64 else 1e-5   # summation order differs
    grad_sum = np.zeros(net.n_params)
    for i in range(7):
        assert h.rel_err(net.forward(X[i:i + 1]), P[i:i + 1]) <= tight
        grad_sum += net.gradient(X[i:i + 1], y[i:i + 1])[1]
    # the batch-mean gradient is the mean of the single-row gradients
    assert h.rel_err(net.gradient(X, y)[1], grad_sum / 7) <= TOL[dtype]


# ---------------------------------------------------------------------------
# Direct entry points
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
@pytest.mark.parametrize("act,alpha", ACT_ALPHA)
def test_kernel_activate(h, rng, act, alpha, dtype):
    Z = (3 * rng.standard_normal((6, 5))).astype(dtype)
    A = np.empty_like(Z)
    al = _effective_alpha(act, alpha)
    _kernels.activate(Z, A, _kernels.ACTIVATION_CODES[act], 0.0 if al is None else al)
    assert h.rel_err(A, h.np_act(act, Z, al)) <= TOL[dtype]
    # in place (A aliasing Z) gives the same
    Z2 = Z.copy()
    _kernels.activate(Z2, Z2, _kernels.ACTIVATION_CODES[act], 0.0 if al is None else al)
    np.testing.assert_array_equal(Z2, A)


@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
@pytest.mark.parametrize("target", ["mse", "ce_labels", "ce_rows", "bce", "poisson"])
def test_kernel_loss_forward(h, rng, target, dtype):
    B, K = 7, 4
    out = (2 * rng.standard_normal((B, K))).astype(dtype)
    out64 = out.astype(np.float64)
    labels = T = None
    if target == "mse":
        loss = "mse"
        T = rng.standard_normal((B, K)).astype(dtype)
        ref_G = (out64 - T) / B
        ref_rows = 0.5 * ((out64 - T) ** 2).sum(axis=1)
        y = T
    elif target == "ce_labels":
        loss = "cross_entropy"
        labels = rng.integers(0, K, B).astype(np.intp)
        P = h.np_act("softmax", out64)
        ref_G = (P - np.eye(K)[labels]) / B
        ref_rows = -np.log(P[np.arange(B), labels])
        y = labels
    elif target == "ce_rows":
        loss = "cross_entropy"
        T = (rng.dirichlet(np.ones(K), B) * 1.5).astype(dtype)   # soft rows, sum 1.5
        P = h.np_act("softmax", out64)
        ref_G = (P * T.sum(axis=1, keepdims=True) - T) / B
        ref_rows = -(T * np.log(P)).sum(axis=1)
        y = T
    elif target == "bce":
        loss = "binary_cross_entropy"
        T = rng.uniform(0, 1, (B, K)).astype(dtype)
        S = h.np_act("sigmoid", out64)
        ref_G = (S - T) / B
        ref_rows = -(T * np.log(S) + (1 - T) * np.log(1 - S)).sum(axis=1)
        y = T
    else:
        loss = "poisson"
        T = rng.poisson(2.0, (B, K)).astype(dtype)               # counts, some 0
        mean = np.exp(out64)
        ref_G = (mean - T) / B
        # half the Poisson deviance, scikit-learn's form: y log(y/mean) - y + mean
        ref_rows = (xlogy(T, T / mean) - T + mean).sum(axis=1)
        y = T
    G = np.empty_like(out)
    rows = np.empty(B)
    work = out.copy()
    value = _kernels.loss_forward(_kernels.LOSS_CODES[loss], work, T, labels, G, rows)
    assert h.rel_err(value, h.np_loss(loss, out, y)) <= TOL[dtype]
    assert h.rel_err(value, ref_rows.mean()) <= TOL[dtype]
    assert h.rel_err(rows, ref_rows) <= TOL[dtype]
    assert h.rel_err(G, ref_G) <= TOL[dtype]
    if loss != "mse":   # fused losses leave the probabilities (means) in `out`
        probs = h.np_act({"cross_entropy": "softmax", "binary_cross_entropy": "sigmoid",
                          "poisson": "exp"}[loss], out64)
        assert h.rel_err(work, probs) <= TOL[dtype]


@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
def test_all_finite(dtype):
    a = np.linspace(-1e4, 1e4, 37).astype(dtype)
    assert _kernels.all_finite(a)
    assert _kernels.all_finite(np.array([np.finfo(dtype).max, -np.finfo(dtype).max], dtype))
    for bad in (np.nan, np.inf, -np.inf):
        for pos in (0, 17, 36):
            b = a.copy()
            b[pos] = bad
            assert not _kernels.all_finite(b), (bad, pos)
    assert not _kernels.all_finite(np.full((3, 3), np.nan, dtype))


def test_code_tables_cover_the_registries():
    assert set(_kernels.ACTIVATION_CODES) == set(ACTS) == set(fastmlp.ACTIVATIONS)
    assert len(set(_kernels.ACTIVATION_CODES.values())) == len(ACTS)
    assert set(_kernels.LOSS_CODES) == {"mse", "cross_entropy", "binary_cross_entropy",
                                        "poisson"}
    assert set(fastmlp.LOSSES) == set(_kernels.LOSS_CODES)


@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
@pytest.mark.parametrize("loss", ["mse", "cross_entropy", "binary_cross_entropy"])
@pytest.mark.parametrize("act", [a for a in ACTS if a not in ("softmax", "exp")])
def test_network_finite_at_huge_inputs(act, loss, dtype):
    """Inputs of size 1e3 drive pre-activations to ~1e4: loss, gradient and
    input gradient stay finite and raise no floating-point warning."""
    net = Network([3, 4, 3], activation=act, loss=loss, dtype=dtype, seed=0)
    net.layers[0].W = np.array([[3.0, -3.0, 1.0, -1.0], [2.0, 1.0, -2.0, 0.5],
                                [-1.0, 2.0, 3.0, -3.0]])
    X = np.array([[1e3, -2e3, 5e2], [-1e3, 1e3, 2e3], [0.5, -0.2, 0.1]])
    y = {"mse": np.zeros((3, 3)), "cross_entropy": np.array([0, 1, 2]),
         "binary_cross_entropy": np.array([[0.0, 1.0, 0.5]] * 3)}[loss]
    value, grad = net.gradient(X, y)
    dX = net.input_gradient(X, y)
    assert np.isfinite(value) and np.isfinite(net.loss(X, y))
    assert np.all(np.isfinite(grad)) and np.all(np.isfinite(dX))
    assert np.all(np.isfinite(net.forward(X)))


@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
@pytest.mark.parametrize("loss", ["mse", "cross_entropy", "binary_cross_entropy", "poisson"])
def test_row_weights_equal_repeated_rows(rng, loss, dtype):
    """Weights w/Σw on the rows give the loss and gradient of the batch in which
    row i appears w_i times (integer weights; a zero weight drops the row)."""
    net = Network([4, 5, 3], activation="tanh", loss=loss, dtype=dtype, seed=2)
    X = rng.standard_normal((6, 4)).astype(dtype)
    T = (rng.uniform(size=(6, 3)) if loss != "cross_entropy" else
         np.eye(3)[rng.integers(0, 3, 6)]).astype(dtype)
    w = np.array([1, 0, 3, 2, 1, 1], dtype=np.float64)
    value = net._plan.gradient(X, T, None, 0.0, None, False, None, w / w.sum())
    weighted = net.grads.copy()
    rows = np.repeat(np.arange(6), w.astype(int))
    expected = net._plan.gradient(X[rows], T[rows], None, 0.0, None)
    np.testing.assert_allclose(value, expected, rtol=TOL[dtype])
    np.testing.assert_allclose(weighted, net.grads, rtol=TOL[dtype] * 10, atol=TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
@pytest.mark.parametrize("loss", ["cross_entropy", "binary_cross_entropy"])
@pytest.mark.parametrize("act", ["relu", "gelu", "tanh"])
def test_vjp_after_forward_reuses_the_forward_exactly(rng, act, loss, dtype):
    """vjp(after_forward=True) right after forward(logits) gives what vjp gives when it
    runs its own forward (the same operations on the same activations): bit-identical.
    Anywhere else it needs (logits under a fused loss) it refuses."""
    net = Network([6, 9, 7, 4], activation=act, loss=loss, dtype=dtype, seed=3)
    X = rng.standard_normal((5, 6)).astype(dtype)
    G = rng.standard_normal((5, 4)).astype(dtype)
    z, reused, fresh = np.empty((5, 4), dtype), np.empty_like(X), np.empty_like(X)
    net._plan.forward(rng.standard_normal((8, 6)).astype(dtype), np.empty((8, 4), dtype), True)
    net._plan.vjp(X, G, fresh, True)
    net._plan.forward(X, z, True)
    net._plan.vjp(X, G, reused, True, True)
    assert np.array_equal(reused, fresh)
    with pytest.raises(ValueError, match="after_forward"):
        net._plan.vjp(X, G, reused, False, True)
    mse = Network([6, 4], activation=act, loss="mse", dtype=dtype, seed=3)
    with pytest.raises(ValueError, match="after_forward"):
        mse._plan.vjp(X, G, reused, True, True)
