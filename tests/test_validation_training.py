"""Bad training arguments and parameters (learning rate, set_params, assignment of a
layer's W and b, backward's delta) raise ValueError or TypeError naming the argument,
and leave the parameters unchanged.
"""

import numpy as np
import pytest

from fastmlp import Layer

from _validation_helpers import _net, _good_y, _X


# ---------------------------------------------------------------------------
# Training arguments and parameters
# ---------------------------------------------------------------------------

def test_bad_learning_rate():
    net = _net()
    X, y = _X(), _good_y("cross_entropy")
    p0 = net.get_params()
    for lr in (-0.1, np.nan, np.inf, -np.inf):
        with pytest.raises(ValueError, match="lr"):
            net.train_step(X, y, lr)
    for lr in ("0.1", None, True, [0.1], 1j):
        with pytest.raises(TypeError, match="lr"):
            net.train_step(X, y, lr)
    np.testing.assert_array_equal(net.params, p0)
    # numpy scalars are fine
    net.train_step(X, y, np.float32(0.01))
    net.train_step(X, y, np.float64(0.01))
    assert np.any(net.params != p0)


def test_set_params_validation():
    net = _net()
    p0 = net.get_params()
    for flat, exc in [(np.zeros(net.n_params - 1), ValueError),
                      (np.zeros(net.n_params + 1), ValueError),
                      (np.zeros((1, net.n_params)), ValueError),
                      (np.zeros(net.n_params, dtype=int), TypeError),
                      (np.zeros(net.n_params, dtype=complex), TypeError)]:
        with pytest.raises(exc, match="flat"):
            net.set_params(flat)
    for bad in (np.nan, np.inf):
        flat = p0.copy()
        flat[3] = bad
        with pytest.raises(ValueError, match="flat"):
            net.set_params(flat)
    np.testing.assert_array_equal(net.params, p0)


def test_layer_parameter_assignment_validation():
    layer = Layer(3, 2, dtype=np.float64, seed=0)
    W0 = layer.W.copy()
    with pytest.raises(ValueError, match=r"\bW\b"):
        layer.W = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"\bW\b"):
        layer.W = np.full((3, 2), np.nan)
    with pytest.raises(TypeError, match=r"\bW\b"):
        layer.W = np.zeros((3, 2), dtype=int)
    with pytest.raises(ValueError, match=r"\bb\b"):
        layer.b = np.zeros(3)
    with pytest.raises(ValueError, match=r"\bb\b"):
        layer.b = np.array([0.0, np.inf])
    np.testing.assert_array_equal(layer.W, W0)


def test_backward_before_forward():
    layer = Layer(3, 2, dtype=np.float64, seed=0)
    with pytest.raises((RuntimeError, ValueError), match="forward"):
        layer.backward(np.zeros((4, 2)))


def test_backward_delta_validation():
    layer = Layer(3, 2, dtype=np.float64, seed=0)
    layer.forward(_X(4))
    with pytest.raises(ValueError, match="delta"):
        layer.backward(np.zeros((5, 2)))          # wrong batch size
    with pytest.raises(ValueError, match="delta"):
        layer.backward(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="delta"):
        layer.backward(np.zeros((4, 3)))          # wrong width
    with pytest.raises(ValueError, match="delta"):
        layer.backward(np.full((4, 2), np.nan))
    with pytest.raises(TypeError, match="delta"):
        layer.backward(np.zeros((4, 2), dtype=int))
    # and the layer still works afterwards
    assert layer.backward(np.ones((4, 2))).shape == (4, 3)
