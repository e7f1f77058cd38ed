"""No silent NaN: an overflow raises, and a failed step leaves the parameters as they were.

References: the float64 NumPy forward pass (what the overflowing float32 network
should have computed), and the parameters copied before each call.
"""
import numpy as np
import pytest

import fastmlp
from fastmlp import Network, datasets, invert


def test_float32_overflow_in_the_forward_pass_raises():
    net = Network([2, 4, 2], seed=0)
    X = np.full((1, 2), 3e38, np.float32)
    # the float64 reference shows the logits do not fit float32
    Z = X.astype(np.float64) @ net.layers[0].W + net.layers[0].b
    assert np.abs(Z).max() > np.finfo(np.float32).max
    for call in (net.predict_proba, net.predict, net.forward):
        with pytest.raises(FloatingPointError, match=r"X overflows float32.*largest \|X\|"):
            call(X)
    # the same input in float64 is fine: finite probabilities that sum to 1
    p = net.astype(np.float64).predict_proba(X.astype(np.float64))
    assert np.all(np.isfinite(p)) and np.isclose(p.sum(), 1)


@pytest.mark.parametrize("method", ["loss", "gradient", "input_gradient", "jacobian"])
def test_every_output_of_an_overflowing_network_raises(rng, method):
    net = Network([2, 4, 3], activation="relu", loss="mse", seed=0)
    net.set_params(np.full(net.n_params, 1e19))       # (1e19)² · 4 overflows float32
    X = np.ones((2, 2), np.float32)
    y = np.zeros((2, 3), np.float32)
    args = (X,) if method == "jacobian" else (X, y)
    with pytest.raises(FloatingPointError, match="float32"):
        getattr(net, method)(*args)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_train_step_with_a_huge_rate_raises_and_keeps_the_parameters(rng, dtype):
    net = Network([2, 4, 2], dtype=dtype, seed=0)
    X, y = rng.standard_normal((8, 2)), rng.integers(0, 2, 8)
    raised = 0
    for _ in range(3):
        before = net.get_params()
        try:
            net.train_step(X, y, lr=1e300)
        except FloatingPointError:
            raised += 1
            np.testing.assert_array_equal(net.params, before)
        assert np.all(np.isfinite(net.params))
    assert raised >= 2          # float64: the first step may still fit (|p| ~ 1e300)


def test_fused_sgd_step_refuses_a_non_finite_loss():
    net = Network([2, 4, 3], activation="relu", loss="mse", seed=0)
    net.set_params(np.full(net.n_params, 1e19))
    before = net.get_params()
    with pytest.raises(FloatingPointError, match="not updated"):
        net.train_step(np.ones((2, 2)), np.zeros((2, 3)), lr=0.1)      # fused path
    np.testing.assert_array_equal(net.params, before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_checked_sgd_step_is_plain_sgd(rng, dtype):
    """lr > 1 takes the checked path: still exactly params -= lr · gradient."""
    net = Network([3, 5, 2], activation="tanh", dtype=dtype, seed=0, l2=0.01)
    X, y = rng.standard_normal((6, 3)), rng.integers(0, 2, 6)
    p0 = net.get_params()
    _, g = net.gradient(X, y)
    net.train_step(X, y, lr=2.5)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(net.params, p0 - 2.5 * g, rtol=tol, atol=tol)


def test_invert_refuses_an_infinite_tolerance():
    net = Network([2, 3, 1], activation="tanh", loss="mse", seed=0)
    for name in ("atol", "rtol", "tol", "gtol", "distinct_tol"):
        with pytest.raises(ValueError, match=name):
            invert(net, target=[0.5], **{name: float("inf")})
        with pytest.raises(ValueError, match=name):
            invert(net, target=[0.5], **{name: -1.0})


@pytest.mark.parametrize("call, name", [
    (lambda: datasets.spirals(turns=0), "turns"),
    (lambda: datasets.spirals(turns=float("inf")), "turns"),
    (lambda: datasets.spirals(noise=float("nan")), "noise"),
    (lambda: datasets.spirals(n=1), "n"),
    (lambda: datasets.xor(noise=float("nan")), "noise"),
    (lambda: datasets.xor(noise=-1), "noise"),
    (lambda: datasets.xor(n=0), "n"),
    (lambda: datasets.xor(n=2.5), "n"),
    (lambda: datasets.xor(seed=-1), "seed"),
    (lambda: datasets.spirals(seed="a"), "seed"),
    (lambda: datasets.regression(seed=1.5), "seed"),
    (lambda: datasets.regression(noise=float("inf")), "noise"),
])
def test_generators_validate_their_parameters(call, name):
    with pytest.raises((ValueError, TypeError), match=name):
        call()


@pytest.mark.parametrize("call", [
    lambda: datasets.xor(dtype=None), lambda: datasets.spirals(dtype=None),
    lambda: datasets.regression(dtype=None), lambda: Network([2, 3], dtype=None),
    lambda: Network([2, 3]).astype(None),
    lambda: __import__("fastmlp").Layer(2, 3, dtype=None),
])
def test_dtype_none_is_refused_where_a_dtype_is_required(call):
    with pytest.raises(TypeError, match="dtype must be np.float32 or np.float64, got None"):
        call()


def test_generators_still_give_finite_data():
    for X, y in (datasets.xor(50, seed=0), datasets.spirals(50, seed=0),
                 datasets.regression(50, seed=0)):
        assert np.all(np.isfinite(X)) and np.all(np.isfinite(y))


def test_layer_forward_and_backward_overflow_raise():
    layer = fastmlp.Layer(2, 2, "elu", dtype=np.float32, seed=0)
    layer.W = np.full((2, 2), 10.0)
    X = np.array([[3e38, 3e38]], np.float32)
    # float64 reference: the pre-activation leaves float32's range
    assert np.abs(X.astype(np.float64) @ layer.W + layer.b).max() > np.finfo(np.float32).max
    with pytest.raises(FloatingPointError, match="X overflows float32"):
        layer.forward(X)
    layer.forward(np.ones((1, 2), np.float32))
    with pytest.raises(FloatingPointError, match="delta overflows float32"):
        layer.backward(np.full((1, 2), 3e38, np.float32))


def test_an_r2_that_overflows_raises_in_score_and_in_fit():
    """Errors of ~1e153 against targets whose variance is ~1e-201: every sum is finite
    (hand-computed: ss_res = 1e306 + 4e306, ss_tot = 5e-201), but R² = 1 - ss_res/ss_tot
    is below -1e507.  score must raise, not return -inf, and fit must stop with
    DivergenceError rather than record it.  (Found by the long fuzz run: SGD with
    lr=4.4e76 on a regression net returned a History whose R² was -inf.)"""
    net = Network([1, 1], activation="identity", loss="mse", dtype=np.float64)
    net.layers[0].W[...] = 1e153
    net.layers[0].b[...] = 0
    X = np.array([[1.0], [2.0]])
    y = np.array([0.0, 1e-100])
    assert np.isfinite(((net.predict(X).ravel() - y) ** 2).sum())
    with pytest.raises(FloatingPointError, match="R² overflows float64"):
        net.score(X, y)
    before = net.get_params()
    with pytest.raises(fastmlp.DivergenceError, match="R² overflows") as info:
        net.fit(X, y, epochs=2, optimizer="sgd", lr=1e-300, standardize=False, shuffle=False)
    assert info.value.epoch == 1 and len(info.value.history) == 0
    assert np.all(np.isfinite(net.params)) and np.allclose(net.params, before)
