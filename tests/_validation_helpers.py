"""Shared pieces of the validation tests (test_validation*.py): a small network, good X
and y for each loss, the entry points that take X or y, and the check that every
rejected call raises and leaves the parameters unchanged.
"""
import numpy as np
import pytest

from fastmlp import Network

LOSSES = ["mse", "cross_entropy", "binary_cross_entropy"]


def _net(loss="cross_entropy", dtype=np.float64, sizes=(3, 5, 4), **kw):
    return Network(list(sizes), activation="tanh", loss=loss, dtype=dtype, seed=0, **kw)


def _good_y(loss, B=6, K=4, seed=0):
    rng = np.random.default_rng(seed)
    if loss == "cross_entropy":
        return rng.integers(0, K, B)
    if loss == "binary_cross_entropy":
        return rng.uniform(0, 1, (B, K))
    return rng.standard_normal((B, K))


def _X(B=6, n=3, seed=1):
    return np.random.default_rng(seed).standard_normal((B, n))


# every public entry point that takes X (and y)
def _calls_with_X(net, X, y):
    return {
        "forward": lambda: net.forward(X),
        "predict": lambda: net.predict(X),
        "loss": lambda: net.loss(X, y),
        "gradient": lambda: net.gradient(X, y),
        "input_gradient": lambda: net.input_gradient(X, y),
        "train_step": lambda: net.train_step(X, y, 0.1),
    }


def _calls_with_y(net, X, y):
    return {
        "loss": lambda: net.loss(X, y),
        "gradient": lambda: net.gradient(X, y),
        "input_gradient": lambda: net.input_gradient(X, y),
        "train_step": lambda: net.train_step(X, y, 0.1),
    }


def _assert_all_raise(calls, exc, match, net=None):
    p0 = None if net is None else net.get_params()
    for name, call in calls.items():
        with pytest.raises(exc, match=match):
            call()
    if net is not None:   # a rejected call changes nothing
        np.testing.assert_array_equal(net.params, p0)
