"""fastmlp's numerical gradient (central differences) against the analytic
backprop gradient, against closed forms and PyTorch, and the checker's ability
to FAIL: kinks are flagged, wrong gradients are caught.

Error measure: check_gradients' own report (per-coordinate relative error with
a floor, see fastmlp.gradcheck) where the test is about that report; otherwise
conftest.rel_err per block (max|a - r| / max|r|).
"""
import numpy as np
import pytest

from fastmlp import Network, check_gradients, numerical_gradient
from fastmlp import gradcheck

SMOOTH = ["sigmoid", "tanh", "identity", "softplus", "gelu", "elu"]
LOSSES = ["mse", "cross_entropy", "binary_cross_entropy", "poisson"]


def _net_and_data(h, rng, act, loss, dtype=np.float64, sizes=(4, 6, 5, 3), B=6, **kw):
    net = Network(list(sizes), activation=act, loss=loss, dtype=dtype,
                  seed=int(rng.integers(2**31)), **kw)
    X = rng.standard_normal((B, sizes[0]))
    y = h.make_targets(rng, loss, B, sizes[-1], "soft" if loss == "cross_entropy" else None)
    return net, X, y


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("act", SMOOTH)
def test_smooth_networks_pass_float64(h, rng, act, loss):
    net, X, y = _net_and_data(h, rng, act, loss)
    report = check_gradients(net, X, y)
    assert report.ok
    assert report.max_rel_error <= 1e-7, str(report)
    assert [r[0] for r in report.rows] == ["W0", "b0", "W1", "b1", "W2", "b2"]
    assert sum(r[2] + r[3] for r in report.rows) == net.n_params
    # ELU's second derivative jumps at 0, so gradcheck treats it as kinked and
    # may flag a few coordinates; every other activation here is C-infinity
    if act != "elu":
        assert report.n_flagged == 0
    else:
        assert report.n_flagged <= net.n_params // 10
    # and the numerical gradient by itself, block by block, against backprop
    num = numerical_gradient(net, X, y)
    _, grad = net.gradient(X, y)
    if act == "elu":   # ELU stencils straddling 0 are O(h^2) accurate only
        _, kinked, _ = gradcheck._numerical(net, X, y, None, "params")
        num, grad = num[~kinked], grad[~kinked]
        assert h.rel_err(num, grad) <= 1e-7
    else:
        errs = h.blockwise_rel_err(net, num, grad)
        assert max(errs.values()) <= 1e-7, errs


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("act", SMOOTH)
def test_input_gradient_numerical(h, rng, act, loss):
    net, X, y = _net_and_data(h, rng, act, loss)
    num = numerical_gradient(net, X, y, wrt="inputs")
    assert num.shape == X.shape
    assert h.rel_err(num, net.input_gradient(X, y)) <= 1e-7


@pytest.mark.parametrize("loss", LOSSES)
def test_l2_penalty_in_numerical_gradient(h, rng, loss):
    net, X, y = _net_and_data(h, rng, "tanh", loss, l2=0.3)
    report = check_gradients(net, X, y)
    assert report.max_rel_error <= 1e-7, str(report)


def test_numerical_gradient_against_closed_form(h, rng):
    """One identity layer under mse: L = 1/(2B) ‖XW + b - Y‖², so
    dL/dW = Xᵀ(XW + b - Y)/B and dL/db = Σ_rows (XW + b - Y)/B, dL/dX = R Wᵀ/B."""
    net = Network([3, 2], loss="mse", dtype=np.float64, seed=0)
    X = rng.standard_normal((5, 3))
    Y = rng.standard_normal((5, 2))
    W, b = net.layers[0].W, net.layers[0].b
    R = X @ W + b - Y
    ref = np.concatenate([(X.T @ R / 5).ravel(), R.sum(axis=0) / 5])
    assert h.rel_err(numerical_gradient(net, X, Y), ref) <= 1e-10
    assert h.rel_err(numerical_gradient(net, X, Y, wrt="inputs"), R @ W.T / 5) <= 1e-10


def test_numerical_gradient_against_torch(h, rng, torch_ref):
    for act, loss in [("gelu", "cross_entropy"), ("softplus", "binary_cross_entropy"),
                      ("sigmoid", "mse"), ("tanh", "poisson")]:
        net, X, y = _net_and_data(h, rng, act, loss, l2=0.05)
        _, r_grad, r_dX = torch_ref(net).loss_and_grads(X, y)
        errs = h.blockwise_rel_err(net, numerical_gradient(net, X, y), r_grad)
        assert max(errs.values()) <= 1e-7, (act, loss, errs)
        assert h.rel_err(numerical_gradient(net, X, y, wrt="inputs"), r_dX) <= 1e-7


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("act", ["tanh", "gelu", "sigmoid"])
def test_float32_network_passes_default_tolerance(h, rng, act, loss):
    net, X, y = _net_and_data(h, rng, act, loss, dtype=np.float32)
    report = check_gradients(net, X, y)
    assert report.ok, str(report)
    assert report.dtype == "float32"
    # where the report also measures the float32 backprop against float64, that
    # number must be at float32 accuracy
    f32 = getattr(report, "float32_rel_error", None)
    if f32 is not None:
        assert f32 <= 1e-3


def test_check_gradients_none_means_default(h, rng):
    """The documented signature check_gradients(net, X, y, eps=None,
    tolerance=None, rel_floor=None): None selects the defaults."""
    net, X, y = _net_and_data(h, rng, "tanh", "mse")
    default = check_gradients(net, X, y)
    explicit = check_gradients(net, X, y, eps=None, tolerance=None, rel_floor=None)
    assert explicit.ok == default.ok
    assert explicit.tolerance == default.tolerance
    assert explicit.max_rel_error == default.max_rel_error


def test_check_gradients_tolerance_and_floor_are_used(h, rng, monkeypatch):
    net, X, y = _net_and_data(h, rng, "sigmoid", "cross_entropy")
    true_gradient = net.gradient
    monkeypatch.setattr(net, "gradient",
                        lambda X, y: (lambda v, g: (v, g * 1.001))(*true_gradient(X, y)))
    assert not check_gradients(net, X, y).ok                 # 1e-3 off > 1e-6
    loose = check_gradients(net, X, y, tolerance=1e-2)
    assert loose.ok and loose.tolerance == 1e-2


# ---------------------------------------------------------------------------
# Kinks
# ---------------------------------------------------------------------------

def _kinked_relu_net():
    """2-3-2 ReLU net whose unit 1 has pre-activation 1e-5 for sample 0 (within
    the default eps = 1e-3 stencil of the kink); every other pre-activation is at
    least 0.4 away from 0.  Hand-computed Z = X W0 + b0:
        [[ 2.3,  1e-5,   0.8],
         [-0.95, -0.87499, 1.8],
         [ 0.4,  0.65001, -2.1]]"""
    net = Network([2, 3, 2], activation="relu", loss="cross_entropy", dtype=np.float64,
                  seed=0)
    net.layers[0].W = [[1.0, 0.5, -1.0], [0.5, -0.25, 1.0]]
    net.layers[0].b = [0.3, 1e-5, -0.2]
    net.layers[1].W = [[0.7, -0.4], [-0.9, 0.6], [0.2, 0.5]]
    net.layers[1].b = [0.1, -0.1]
    X = np.array([[1.0, 2.0], [-1.5, 0.5], [0.7, -1.2]])
    y = np.array([0, 1, 1])
    return net, X, y


def test_relu_kink_is_flagged_and_the_rest_agree():
    net, X, y = _kinked_relu_net()
    Z = X @ net.layers[0].W + net.layers[0].b
    assert abs(Z[0, 1]) < 1e-3 and np.delete(np.abs(Z).ravel(), 1).min() >= 0.39
    report = check_gradients(net, X, y)
    rows = {name: (err, n, k) for name, err, n, k in report.rows}
    # W0[:, 1] (both entries multiply sample 0's nonzero inputs) and b0[1]
    assert rows["W0"][2] == 2 and rows["b0"][2] == 1
    assert rows["W1"][2] == 0 and rows["b1"][2] == 0
    assert report.n_flagged == 3
    assert rows["W0"][1] == 4 and rows["b0"][1] == 2     # the others are checked
    assert report.ok and report.max_rel_error <= 1e-7, str(report)


def test_relu_kink_flags_exact_coordinates():
    """The same, coordinate by coordinate (gradcheck's internal mask), and the
    flagged coordinates really are ones where the difference quotient is off."""
    net, X, y = _kinked_relu_net()
    num, kinked, _ = gradcheck._numerical(net, X, y, None, "params")
    # flat layout: W0 (2x3) at 0..5, b0 at 6..8, W1 at 9..14, b1 at 15..16
    assert np.flatnonzero(kinked).tolist() == [1, 4, 7]
    _, grad = net.gradient(X, y)
    diff = np.abs(num - grad) / np.abs(grad).max()
    assert diff[~kinked].max() <= 1e-9
    assert diff[kinked].min() >= 1e-3      # the straddling quotient is meaningless
    # wrt inputs: sample 0's inputs feed the kinked unit
    num_x, kinked_x, _ = gradcheck._numerical(net, X, y, None, "inputs")
    assert kinked_x.tolist() == [[True, True], [False, False], [False, False]]
    dX = net.input_gradient(X, y)
    assert np.abs(num_x - dX)[~kinked_x].max() <= 1e-9 * np.abs(dX).max()


def test_relu_network_away_from_kinks_passes(h, rng):
    net, X, y = _net_and_data(h, rng, "relu", "cross_entropy", sizes=(5, 8, 3))
    report = check_gradients(net, X, y)
    assert report.ok, str(report)
    assert report.n_flagged <= 2     # random data: kinks within 3e-3 are rare


# ---------------------------------------------------------------------------
# The check can fail
# ---------------------------------------------------------------------------

def test_scaled_gradient_is_detected(h, rng, monkeypatch):
    net, X, y = _net_and_data(h, rng, "tanh", "cross_entropy")
    true_gradient = net.gradient
    monkeypatch.setattr(net, "gradient",
                        lambda X, y: (lambda v, g: (v, g * 1.01))(*true_gradient(X, y)))
    report = check_gradients(net, X, y)
    assert not report.ok
    assert 0.005 <= report.max_rel_error <= 0.02, str(report)
    assert all(r[1] >= 0.005 for r in report.rows)


def test_single_corrupted_coordinate_is_detected_in_its_block(h, rng, monkeypatch):
    net, X, y = _net_and_data(h, rng, "sigmoid", "mse")
    true_gradient = net.gradient
    s = dict(h.block_slices(net))["W1"]

    def corrupted(X, y):
        v, g = true_gradient(X, y)
        g = g.copy()
        k = s.start + int(np.argmax(np.abs(g[s])))
        g[k] = -g[k]
        return v, g

    monkeypatch.setattr(net, "gradient", corrupted)
    report = check_gradients(net, X, y)
    rows = {name: err for name, err, _, _ in report.rows}
    assert not report.ok
    assert rows["W1"] >= 0.5
    assert max(err for name, err in rows.items() if name != "W1") <= 1e-7


def test_gradient_of_other_parameters_is_detected(h, rng):
    """Backprop at θ compared with central differences at θ + δ: large error."""
    net, X, y = _net_and_data(h, rng, "tanh", "binary_cross_entropy")
    _, grad = net.gradient(X, y)
    net.params[:] += 0.3 * rng.standard_normal(net.n_params)
    num = numerical_gradient(net, X, y)
    assert h.rel_err(grad, num) >= 1e-2
    # while at the new parameters they agree again
    assert h.rel_err(net.gradient(X, y)[1], num) <= 1e-7


# ---------------------------------------------------------------------------
# Scale
# ---------------------------------------------------------------------------

def test_100k_parameter_network(h, rng):
    net = Network([784, 128, 10], activation="tanh", loss="cross_entropy",
                  dtype=np.float64, seed=0)
    assert net.n_params == 784 * 128 + 128 + 128 * 10 + 10 > 100_000
    X = rng.standard_normal((4, 784))
    y = rng.integers(0, 10, 4)
    num = numerical_gradient(net, X, y)
    assert num.shape == (net.n_params,) and np.all(np.isfinite(num))
    _, grad = net.gradient(X, y)
    errs = h.blockwise_rel_err(net, num, grad)
    assert max(errs.values()) <= 1e-7, errs


def test_numerical_gradient_keeps_dtype_and_leaves_params_alone(rng, h):
    for dtype in (np.float32, np.float64):
        net, X, y = _net_and_data(h, rng, "tanh", "mse", dtype=dtype)
        p0 = net.get_params()
        g = numerical_gradient(net, X, y)
        gx = numerical_gradient(net, X, y, wrt="inputs")
        assert g.dtype == dtype and gx.dtype == dtype
        np.testing.assert_array_equal(net.params, p0)
        # float32 differences: loose, but they must point the same way as backprop
        _, grad = net.gradient(X, y)
        assert h.rel_err(g, grad) <= (1e-7 if dtype == np.float64 else 1e-2)


def test_numerical_gradient_rejects_bad_arguments(h, rng):
    net, X, y = _net_and_data(h, rng, "tanh", "mse")
    with pytest.raises(ValueError, match="wrt"):
        numerical_gradient(net, X, y, wrt="weights")
    for eps in (0.0, -1e-3, float("nan"), float("inf"), 5e-324, 1e-17):
        with pytest.raises(ValueError, match="eps"):
            numerical_gradient(net, X, y, eps=eps)
    # the bound is the network's dtype's machine epsilon (the fuzz found -inf at 5e-324)
    with pytest.raises(ValueError, match="eps"):
        numerical_gradient(net.astype(np.float32), X, y, eps=1e-8)
    assert np.all(np.isfinite(numerical_gradient(net, X, y, eps=3e-16)))


def test_overflowing_difference_quotients_raise():
    """A difference quotient that overflows is an error that names eps, not an inf in
    the result (no silent inf; eps itself is bounded below by the dtype's epsilon)."""
    from fastmlp.gradcheck import _check_quotients
    _check_quotients(np.array([1e300, -2.0]), 1e-3)
    with pytest.raises(FloatingPointError, match="eps"):
        _check_quotients(np.array([1.0, -np.inf]), 1e-3)


@pytest.mark.parametrize("out_act", ["sigmoid", "tanh", "softmax", "gelu", "softplus"])
def test_mse_with_output_activations(h, rng, out_act):
    net, X, y = _net_and_data(h, rng, "tanh", "mse", output_activation=out_act)
    assert net.layers[-1].activation == out_act
    report = check_gradients(net, X, y)
    assert report.max_rel_error <= 1e-7 and report.n_flagged == 0, str(report)
    assert h.rel_err(numerical_gradient(net, X, y, wrt="inputs"),
                     net.input_gradient(X, y)) <= 1e-7
