"""Bad targets never reach the kernels: wrong shapes, non-finite values, labels out of
range or not integer, values outside the loss's range and unsupported dtypes raise
ValueError or TypeError naming y, and the parameters stay unchanged.
"""

import numpy as np
import pytest

from fastmlp import Network

from _validation_helpers import LOSSES, _net, _good_y, _X, _calls_with_y, _assert_all_raise


# ---------------------------------------------------------------------------
# y: shapes, values, labels
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("loss,bad_y", [
    ("mse", np.zeros((6, 3))), ("mse", np.zeros((5, 4))), ("mse", np.zeros(6)),
    ("mse", np.zeros((6, 4, 1))),
    ("binary_cross_entropy", np.zeros((6, 5))), ("binary_cross_entropy", np.zeros(6)),
    ("cross_entropy", np.zeros(5, int)), ("cross_entropy", np.zeros(7, int)),
    ("cross_entropy", np.zeros((6, 3))), ("cross_entropy", np.zeros((6, 4, 1))),
], ids=lambda v: v if isinstance(v, str) else "x".join(map(str, v.shape)))
def test_y_wrong_shape(loss, bad_y):
    net = _net(loss)
    _assert_all_raise(_calls_with_y(net, _X(), bad_y), ValueError, r"\by\b", net)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_y_not_finite(loss, bad):
    net = _net(loss)
    y = _good_y(loss).astype(np.float64)
    if loss == "cross_entropy":
        y = np.eye(4)[y.astype(int)]            # rows: NaN in a one-hot row
    y[2, 1] = bad
    _assert_all_raise(_calls_with_y(net, _X(), y), ValueError, r"\by\b", net)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_float_labels_not_finite(bad):
    net = _net("cross_entropy")
    y = _good_y("cross_entropy").astype(np.float64)
    y[3] = bad
    _assert_all_raise(_calls_with_y(net, _X(), y), (ValueError, TypeError), r"\by\b", net)


@pytest.mark.parametrize("labels", [[0, 1, 2, 3, 4, 0], [0, 1, -1, 2, 3, 0],
                                    [0, 1, 2, 3, 2**40, 0], [0, 0, 0, 0, 0, -2**40]],
                         ids=["equal_K", "negative", "huge", "huge_negative"])
def test_labels_out_of_range(labels):
    net = _net("cross_entropy")
    _assert_all_raise(_calls_with_y(net, _X(), np.array(labels)), ValueError, r"\by\b", net)


def test_labels_unsigned_out_of_range():
    net = _net("cross_entropy")
    y = np.array([0, 1, 2, 3, 2**63, 0], dtype=np.uint64)
    _assert_all_raise(_calls_with_y(net, _X(), y), ValueError, r"\by\b", net)


def test_labels_non_integer():
    net = _net("cross_entropy")
    for y in (np.array([0, 1.5, 2, 3, 0, 1]), np.array([0, 1, 2, 3, 0, 1e-9])):
        _assert_all_raise(_calls_with_y(net, _X(), y), TypeError, r"\by\b", net)
    for y in (np.array(["a"] * 6), np.array([0, 1, 2, 3, 0, 1], dtype=object),
              np.array([True, False] * 3), np.array([0, 1, 2, 3, 0, 1], dtype=complex)):
        _assert_all_raise(_calls_with_y(net, _X(), y), TypeError, r"\by\b", net)


def test_integer_valued_float_labels_and_onehot_rows_are_accepted():
    net = _net("cross_entropy")
    X = _X()
    y = _good_y("cross_entropy")
    l_int, g_int = net.gradient(X, y)
    l_flt, g_flt = net.gradient(X, y.astype(np.float64))
    l_hot, g_hot = net.gradient(X, np.eye(4)[y])
    assert l_int == l_flt and l_int == pytest.approx(l_hot, rel=1e-14)
    np.testing.assert_array_equal(g_int, g_flt)
    np.testing.assert_allclose(g_int, g_hot, rtol=1e-12, atol=1e-15)


def test_target_value_ranges():
    X = _X()
    bce = _net("binary_cross_entropy")
    for bad in (-0.01, 1.01):
        y = _good_y("binary_cross_entropy")
        y[0, 0] = bad
        _assert_all_raise(_calls_with_y(bce, X, y), ValueError, r"\by\b", bce)
    ce = _net("cross_entropy")
    y = np.eye(4)[_good_y("cross_entropy")]
    y[1, 2] = -0.5
    _assert_all_raise(_calls_with_y(ce, X, y), ValueError, r"\by\b", ce)
    # integer 0/1 targets are fine for BCE, 1-D targets for a single output
    bce.loss(X, (_good_y("binary_cross_entropy") > 0.5).astype(int))
    one = Network([3, 1], loss="mse", dtype=np.float64, seed=0)
    t = np.arange(6.0)
    assert one.loss(X, t) == one.loss(X, t.reshape(6, 1))


def test_y_bad_dtype():
    for loss in ("mse", "binary_cross_entropy"):
        net = _net(loss)
        y = _good_y(loss)
        for bad in (y.astype(np.float16), y.astype(complex), y.astype(object)):
            _assert_all_raise(_calls_with_y(net, _X(), bad), TypeError, r"\by\b", net)
