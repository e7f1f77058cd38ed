"""The box invert searches in (fastmlp/_invert_box.py): bounds that hold no input the
network can take are refused naming `bounds`; boxes wider than the network's dtype (or
than float64) are searched where the dtype holds; signed zeros are one point.

References: the network's output at the returned x recomputed in float64 NumPy
(conftest.np_forward); the dtype's range (np.finfo); hand-computed boxes.  Found by
the fuzz campaign (FASTMLP_FUZZ_EXAMPLES=3000 tests/test_fuzz.py): bounds of
[[-inf, -inf], [inf, inf], ...] failed on the first forward pass with "X contains NaN
or infinity", and [[0, -0.0], ...] inside NumPy's uniform sampler.
"""
import warnings

import numpy as np
import pytest

import fastmlp


def small_net(dtype, scale=1.0):
    """3-4-1 ReLU regression net, no scaler (user units are the network's inputs);
    scale shrinks the weights so that far-out inputs do not overflow inside it."""
    net = fastmlp.Network([3, 4, 1], loss="mse", dtype=dtype, seed=0)
    params = net.get_params()
    net.set_params(params * scale)
    return net


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_signed_zero_bounds_are_the_point_zero(h, dtype):
    net = small_net(dtype)
    bounds = np.array([[0.0, -0.0], [0.0, 0.0], [-0.0, 0.0]])
    r = fastmlp.invert(net, target=[0.3], bounds=bounds, n_restarts=4, seed=0)
    np.testing.assert_array_equal(r.x, np.zeros(3))
    out = h.np_forward(net, np.zeros((1, 3)))[1][-1][0]
    assert h.rel_err(r.output, out) < h.tol(dtype)
    assert abs(r.residual - abs(out[0] - 0.3)) < 10 * h.tol(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("row", [[np.inf, np.inf], [-np.inf, -np.inf]])
def test_a_box_at_infinity_is_refused_naming_bounds(dtype, row):
    net = small_net(dtype)
    bounds = np.array([[-1.0, 1.0], row, [-1.0, 1.0]])
    with pytest.raises(ValueError, match=r"bounds for feature 1: \[-?inf, -?inf\] holds no "
                                         "input a float"):
        fastmlp.invert(net, target=[0.3], bounds=bounds)


def test_a_box_beyond_float32_is_refused_for_float32_only():
    bounds = np.array([[-1.0, 1.0], [-1.0, 1.0], [1e39, 1e40]])   # float32 max: 3.4e38
    with pytest.raises(ValueError, match="feature 2: .* holds no input a float32 network"):
        fastmlp.invert(small_net(np.float32), target=[0.3], bounds=bounds)
    r = fastmlp.invert(small_net(np.float64, 1e-30), target=[0.3], bounds=bounds,
                       n_restarts=4, seed=0)
    assert 1e39 <= r.x[2] <= 1e40 and np.isfinite(r.output).all()


@pytest.mark.parametrize("dtype, wide", [(np.float32, 1e300), (np.float64, 1e308)])
def test_a_box_wider_than_the_dtype_is_searched_where_the_dtype_holds(h, dtype, wide):
    """float32: a box of ±1e300; float64: ±1e308, whose width overflows float64 (NumPy's
    uniform sampler refused it).  Every x lies inside the box and inside the dtype, and
    the output is the network's at x."""
    net = small_net(dtype, 1e-3 if dtype == np.float32 else 1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # no overflow on the way either
        r = fastmlp.invert(net, target=[0.3], bounds=(-wide, wide), n_restarts=8, seed=0)
    biggest = float(np.finfo(dtype).max)
    for x, out, _ in r.solutions:
        assert np.all(np.abs(x) <= min(wide, biggest))
        assert np.isfinite(out).all()
        ref = h.np_forward(net, x.astype(dtype)[None])[1][-1][0]
        assert h.rel_err(out, ref) < h.tol(dtype)


def test_a_fixed_value_beyond_the_dtype_is_refused_naming_fixed():
    with pytest.raises(ValueError, match=r"fixed value 1e\+300 of feature 0 is beyond the "
                                         "inputs a float32 network can take"):
        fastmlp.invert(small_net(np.float32), target=[0.3], bounds=None, fixed={0: 1e300})


def test_the_scaler_sets_where_the_dtype_holds():
    """With a scaler, the inputs the network takes are mean ± scale · max/2 in the user's
    units: a box beyond that on the far side of the mean is refused."""
    net = small_net(np.float32)
    net.scaler = fastmlp.Standardizer(np.array([0.0, 0.0, 1e30]), np.array([1.0, 1.0, 1e-10]))
    edge = 1e30 + 1e-10 * 0.5 * float(np.finfo(np.float32).max)     # 1e30 + 1.7e28
    with pytest.raises(ValueError, match="feature 2"):
        fastmlp.invert(net, target=[0.3], bounds=[[-1, 1], [-1, 1], [1.1 * edge, 2 * edge]])
    r = fastmlp.invert(net, target=[0.3], bounds=[[-1, 1], [-1, 1], [0.99e30, 1.01e30]],
                       n_restarts=4, seed=0)
    assert 0.99e30 <= r.x[2] <= 1.01e30 and np.isfinite(r.output).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exact_answers_refuse_a_box_whose_bounds_overflow_and_auto_keeps_the_search(dtype):
    net = small_net(dtype)
    bounds = (-1e308, 1e308)
    with pytest.raises(ValueError, match="bounds: the box is too wide for exact answers"):
        fastmlp.invert(net, target=[0.3], bounds=bounds, method="exact")
    with pytest.raises(ValueError, match="bounds: the box is too wide for exact answers"):
        fastmlp.output_bounds(net, bounds)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = fastmlp.invert(net, target=[1e6], bounds=bounds, method="auto", n_restarts=4,
                           seed=0)
    assert r.status in ("reached", "unknown") and np.isfinite(r.output).all()
