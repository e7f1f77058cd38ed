"""Bad X never reaches the kernels: every case raises ValueError or TypeError whose
message names X, and the parameters stay unchanged.  Inputs that are merely laid out
differently (Fortran order, strided views, the other float precision) are accepted and
give the same result as C-ordered input.
"""

import numpy as np
import pytest

from fastmlp import Layer

from _validation_helpers import LOSSES, _net, _good_y, _X, _calls_with_X, _assert_all_raise


# ---------------------------------------------------------------------------
# X: shapes, dtypes, values
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("bad_X", [
    np.zeros((6, 2)), np.zeros((6, 4)), np.zeros((6, 3, 1)), np.zeros(5), np.float64(1.0),
    np.zeros((1, 6, 3)),
], ids=["too_few_cols", "too_many_cols", "3d", "1d_wrong_len", "scalar", "3d_batch"])
def test_X_wrong_shape(loss, bad_X):
    net = _net(loss)
    y = _good_y(loss)
    _assert_all_raise(_calls_with_X(net, bad_X, y), ValueError, r"\bX\b", net)


@pytest.mark.parametrize("dtype", [np.float16, np.complex128, np.complex64, object, "U3"],
                         ids=lambda d: np.dtype(d).name)
def test_X_bad_dtype(dtype):
    net = _net()
    X = _X().astype(dtype) if dtype != "U3" else np.full((6, 3), "abc")
    y = _good_y("cross_entropy")
    _assert_all_raise(_calls_with_X(net, X, y), TypeError, r"\bX\b", net)
    with pytest.raises(TypeError, match=r"\bX\b"):
        Layer(3, 2, dtype=np.float64).forward(X)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.bool_])
def test_integer_and_boolean_X_are_cast_to_float(dtype):
    """As scikit-learn does: the same results as for X.astype(float64)."""
    net = _net()
    X = (_X() * 3).astype(dtype)
    y = _good_y("cross_entropy")
    Xf = X.astype(np.float64)
    np.testing.assert_array_equal(net.forward(X), net.forward(Xf))
    np.testing.assert_array_equal(net.gradient(X, y)[1], net.gradient(Xf, y)[1])
    np.testing.assert_array_equal(net.forward([[1, 2, 3]]), net.forward([[1.0, 2.0, 3.0]]))


def test_X_python_objects_rejected():
    net = _net()
    for X in (None, "abc", [[1.0, "a", 2.0]]):
        with pytest.raises((TypeError, ValueError), match=r"\bX\b"):
            net.forward(X)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: d.__name__)
def test_X_not_finite(loss, bad, dtype):
    net = _net(loss, dtype=dtype)
    X = _X().astype(dtype)
    X[4, 2] = bad
    _assert_all_raise(_calls_with_X(net, X, _good_y(loss)), ValueError, r"\bX\b", net)
    with pytest.raises(ValueError, match=r"\bX\b"):
        Layer(3, 2, dtype=dtype).forward(X)


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
@pytest.mark.parametrize("value", [1e300, -3.5e38])
def test_X_too_large_for_dtype_is_not_finite(value):
    """float64 values beyond float32's range would become inf in a float32 network:
    the error says so (not "NaN or infinity", which X does not hold)."""
    net = _net(dtype=np.float32)
    X = _X()
    X[0, 0] = value
    for call in (net.forward, net.predict, lambda X: net.loss(X, _good_y("cross_entropy"))):
        with pytest.raises(ValueError, match=r"^X holds values beyond the largest float32"):
            call(X)
    y = np.zeros((6, 4))
    y[1, 2] = value
    with pytest.raises(ValueError, match=r"^y holds values beyond the largest float32"):
        _net("mse", dtype=np.float32).loss(_X(), y)
    X[0, 0] = np.inf                       # a real infinity is still named as one
    with pytest.raises(ValueError, match=r"^X contains NaN or infinity"):
        net.forward(X)


@pytest.mark.parametrize("loss", LOSSES)
def test_empty_batch(loss):
    net = _net(loss)
    y = _good_y(loss, B=0)
    _assert_all_raise(_calls_with_X(net, np.zeros((0, 3)), y), ValueError, r"\bX\b", net)
    with pytest.raises(ValueError, match=r"\bX\b"):
        Layer(3, 2).forward(np.zeros((0, 3), np.float32))


# ---------------------------------------------------------------------------
# Accepted layouts give the same answer
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: d.__name__)
def test_layouts_are_accepted_and_equivalent(dtype):
    net = _net("cross_entropy", dtype=dtype)
    rng = np.random.default_rng(5)
    big = rng.standard_normal((12, 6)).astype(dtype)
    X = np.ascontiguousarray(big[::2, ::2])                 # the C-ordered reference
    y = _good_y("cross_entropy")
    variants = {
        "fortran": np.asfortranarray(X),
        "strided": big[::2, ::2],
        "transposed_view": np.ascontiguousarray(X.T).T,
        "negative_stride": np.ascontiguousarray(X[::-1])[::-1],
        "other_precision": X.astype(np.float32 if dtype == np.float64 else np.float64),
        "big_endian": X.astype(np.dtype(dtype).newbyteorder(">")),
        "list": X.tolist(),
    }
    for name, V in variants.items():
        if name != "list":
            assert not (V.flags.c_contiguous and V.dtype == np.dtype(dtype)), name
        # the reference: the same values, C-ordered, in the network's dtype
        # (identical to X except for "other_precision" into a float64 network)
        R = np.ascontiguousarray(np.asarray(V, dtype=np.float64)).astype(dtype)
        if name != "other_precision" or dtype == np.float32:
            np.testing.assert_array_equal(R, X)
        np.testing.assert_array_equal(net.forward(V), net.forward(R))
        np.testing.assert_array_equal(net.gradient(V, y)[1], net.gradient(R, y)[1])
        np.testing.assert_array_equal(net.input_gradient(V, y), net.input_gradient(R, y))
        layer = net.layers[0]
        np.testing.assert_array_equal(layer.forward(V), layer.forward(R))
    # the caller's array is not modified
    before = variants["fortran"].copy()
    net.train_step(variants["fortran"], y, 0.1)
    np.testing.assert_array_equal(variants["fortran"], before)


def test_target_layouts_are_accepted_and_equivalent():
    rng = np.random.default_rng(9)
    X = _X()
    for loss in ("mse", "binary_cross_entropy"):
        net = _net(loss)
        Y = np.ascontiguousarray(_good_y(loss))
        ref = net.gradient(X, Y)[1]
        wide = np.repeat(Y, 2, axis=1)
        for V in (np.asfortranarray(Y), wide[:, ::2], Y[::-1][::-1],
                  Y.tolist()):
            np.testing.assert_array_equal(net.gradient(X, V)[1], ref)
    ce = _net("cross_entropy")
    labels = rng.integers(0, 4, 12)
    ref = ce.gradient(X, labels[::2].copy())[1]
    for V in (labels[::2], labels[::2].astype(np.int32), labels[::2].astype(np.uint8),
              labels[::2].tolist()):
        np.testing.assert_array_equal(ce.gradient(X, V)[1], ref)


def test_1d_X_is_one_row():
    net = _net()
    X = _X(1)
    np.testing.assert_array_equal(net.forward(X[0]), net.forward(X))
