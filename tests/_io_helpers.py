"""Shared helpers for the model-file tests (tests/test_io*.py): a small network with random
parameters (and optionally a scaler), inputs for it, and the check that a loaded network
is the saved one, bit for bit.
"""
import numpy as np

from fastmlp import Network
from fastmlp.preprocessing import Standardizer

DTYPES = [np.float32, np.float64]
ALPHA = {"leaky_relu": 0.23, "elu": 0.7}
META_KEYS = {"format", "version", "sizes", "activations", "alphas", "loss", "l2", "dtype",
             "n_params", "scaler", "training", "fastmlp_version"}
SIZES = [5, 6, 4, 3]


def _dtype_id(d):
    return np.dtype(d).name


def make_net(rng, activation="tanh", loss="cross_entropy", dtype=np.float64, scaler=False,
             **kw):
    net = Network(SIZES, activation=activation, loss=loss, dtype=dtype, seed=3,
                  alpha=ALPHA.get(activation), l2=0.0125, **kw)
    # random biases too (they start at zero), so every parameter is checked
    net.params[...] = rng.standard_normal(net.n_params).astype(dtype)
    if scaler:
        net.scaler = Standardizer(rng.normal(3.0, 2.0, SIZES[0]), rng.uniform(0.1, 5.0, SIZES[0]))
    return net


def inputs(rng, net, n=9):
    X = rng.standard_normal((n, net.sizes[0]))
    if net.scaler is not None:
        X = X * net.scaler.scale + net.scaler.mean
    return X


def assert_same_network(a, b, X):
    assert type(b) is Network
    assert b.sizes == a.sizes
    assert b.dtype == a.dtype and b.params.dtype == a.params.dtype
    assert [l.activation for l in b.layers] == [l.activation for l in a.layers]
    assert [l.alpha for l in b.layers] == [l.alpha for l in a.layers]
    assert b.loss_name == a.loss_name
    assert b.l2 == a.l2
    assert np.array_equal(b.params, a.params)
    assert b.params.tobytes() == a.params.tobytes()           # bit-exact, signed zeros too
    if a.scaler is None:
        assert b.scaler is None
    else:
        assert np.array_equal(b.scaler.mean, a.scaler.mean)
        assert np.array_equal(b.scaler.scale, a.scaler.scale)
    assert np.array_equal(b.forward(X), a.forward(X))
    assert np.array_equal(b.predict(X), a.predict(X))
