"""The input rows of an inference pass, prepared by the pass itself block by block
(csrc/_inference_inputs.pxi): a scaled network's X standardized as NumPy computes
(X - mean) / scale in float64, and an unscaled batch checked for NaN and infinity in
its row blocks, with the same errors as the full path (fastmlp/_inputs.py) gives."""
import numpy as np
import pytest

import fastmlp
from fastmlp.preprocessing import Standardizer

ROWS = [1, 2, 15, 16, 17, 64, 255, 256, 257, 1031]


def scaled_net(dtype, sizes=(37, 70, 3), seed=0):
    net = fastmlp.Network(list(sizes), "relu", "cross_entropy", dtype=dtype, seed=seed)
    rng = np.random.default_rng(seed)
    net.scaler = Standardizer(rng.normal(3.0, 2.0, sizes[0]), rng.uniform(0.1, 5.0, sizes[0]))
    return net


def numpy_standardized(net, X):
    """X in the network's dtype, then (X - mean) / scale in float64, rounded once to
    the network's dtype."""
    mean, scale = net.scaler.mean, net.scaler.scale
    return ((X.astype(net.dtype).astype(np.float64) - mean) / scale).astype(net.dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_scaled_rows_are_standardized_as_numpy_does(h, dtype, x_dtype, n_threads):
    """Every path of the pass (rows prepared whole, alone or in chunks shared with a
    helper; row blocks, each prepared by the thread that runs it): the output is the
    one of NumPy's standardized rows and of the full path (a list of rows), bit for
    bit, and within rounding of a float64 NumPy forward pass."""
    net = scaled_net(dtype)
    rng = np.random.default_rng(1)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    for B in ROWS:
        X = rng.normal(3.0, 4.0, (B, 37)).astype(x_dtype)
        Xs = numpy_standardized(net, X)
        out = net.forward(X, n_threads=n_threads)
        assert out.dtype == dtype and out.shape == (B, 3)
        assert np.array_equal(out, net._forward_prepared(Xs, n_threads)), (B, n_threads)
        assert np.array_equal(out, net.forward(X.tolist(), n_threads=n_threads)), B
        ref = h.np_forward(net, Xs.astype(np.float64))[1][-1]
        assert h.rel_err(out, ref) < tol, B


@pytest.mark.parametrize("scaled", [False, True])
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_a_nan_or_infinity_in_any_block_is_named(scaled, n_threads, value):
    """Wherever the bad value sits (the first block, one a helper may run, the last
    row), forward raises the full path's error and predict does too; the network's
    next pass is unaffected."""
    net = scaled_net(np.float32) if scaled else fastmlp.Network([37, 70, 3], seed=0,
                                                                 dtype=np.float32)
    X = np.random.default_rng(2).normal(size=(1031, 37)).astype(np.float32)
    good = net.forward(X, n_threads=n_threads)
    for B, row in [(1031, 0), (1031, 700), (1031, 1030), (300, 299), (64, 63), (1, 0)]:
        bad = X[:B].copy()
        bad[row, 36] = value
        with pytest.raises(ValueError, match="X contains NaN or infinity"):
            net.forward(bad, n_threads=n_threads)
        with pytest.raises(ValueError, match="X contains NaN or infinity"):
            net.predict(bad, n_threads=n_threads)
    assert np.array_equal(net.forward(X, n_threads=n_threads), good)


def test_standardizing_past_float32_ends_as_the_full_path_does():
    """Finite X whose standardized values pass float32's largest value: the pass sees
    infinities, and the call ends as the full path ends (its overflow error), not with
    an output computed from them."""
    net = fastmlp.Network([4, 8, 2], "tanh", "cross_entropy", dtype=np.float32, seed=0)
    net.scaler = Standardizer(np.zeros(4), np.full(4, 1e-300))
    X = np.ones((300, 4), np.float32)
    with pytest.raises(FloatingPointError, match="overflows float32"):
        net._forward_prepared(net._inputs(X))
    for B in (1, 300):
        with pytest.raises(FloatingPointError, match="overflows float32"):
            net.forward(X[:B])


def test_the_scaler_is_read_at_each_call():
    """A scaler changed in place, or replaced, between two calls: each call uses the
    one it finds; one of the wrong length is an error, not a read past its end."""
    net = scaled_net(np.float32)
    X = np.random.default_rng(3).normal(size=(300, 37)).astype(np.float32)
    net.scaler.mean[:] = 0.5
    assert np.array_equal(net.forward(X), net._forward_prepared(numpy_standardized(net, X)))
    net.scaler = Standardizer(np.ones(37), np.full(37, 2.0))
    assert np.array_equal(net.forward(X), net._forward_prepared(numpy_standardized(net, X)))
    net.scaler.mean = np.zeros(5)
    with pytest.raises(ValueError):
        net.forward(X)


@pytest.mark.parametrize("bad", ["short mean", "float32 scale", "strided mean", "int X",
                                 "X of the other dtype unscaled"])
def test_plan_infer_refuses_what_it_cannot_read(bad):
    net = fastmlp.Network([5, 4, 2], seed=0, dtype=np.float32)
    X = np.ones((3, 5), np.float32)
    mean, scale = np.zeros(5), np.ones(5)
    if bad == "short mean":
        mean = np.zeros(4)
    elif bad == "float32 scale":
        scale = np.ones(5, np.float32)
    elif bad == "strided mean":
        mean = np.zeros(10)[::2]
    elif bad == "int X":
        X = np.ones((3, 5), np.int64)
    else:
        X, mean, scale = X.astype(np.float64), None, None
    with pytest.raises(ValueError, match="must be"):
        net._plan.infer(X, 0, mean, scale, True)

