"""Input inversion (fastmlp.invert) on networks whose inverse is known: identity-activation
nets (exact, ridge closed form, minimum-norm, scaler units), a net fitted to an invertible
linear map (np.linalg.solve) and a 1-D monotone net (scipy.optimize.brentq on net.forward).
Also class targets on a small MNIST-24k network trained here (probabilities recomputed with
conftest.np_forward) and the independence of the result from the input units.
"""
from pathlib import Path

import numpy as np
import pytest
import scipy.optimize

import fastmlp
from fastmlp import Network, Standardizer, invert

from _inversion_helpers import _seed, affine_map, identity_net

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def values_tolerance(t, atol=1e-4, rtol=1e-3):
    t = np.asarray(t, np.float64)
    return atol + rtol * np.abs(t[~np.isnan(t)]).max()


# ---------------------------------------------------------------------------
# 1. Networks whose inverse is known
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("n_in,hidden,n_out", [(3, (), 3), (5, (4,), 2), (6, (8, 3), 3)])
def test_identity_net_reaches_targets_exactly(n_in, hidden, n_out):
    rng = np.random.default_rng(_seed("id", n_in, hidden, n_out))
    net = identity_net(n_in, n_out, seed=int(rng.integers(1000)), hidden=hidden)
    A, c = affine_map(net)
    Xc = rng.normal(size=(4, n_in))
    assert np.allclose(net.forward(Xc), Xc @ A.T + c, atol=1e-12)   # the map is right
    for _ in range(3):
        t = A @ rng.normal(size=n_in) + c                            # reachable
        r = invert(net, t, bounds=None, seed=1)
        assert r.success, r.message
        assert np.abs(A @ r.x + c - t).max() <= 1e-8
        for x, out, res in r.solutions:
            if res <= values_tolerance(t):
                assert np.abs(A @ x + c - t).max() <= 1e-8


@pytest.mark.parametrize("reg", [1e-3, 0.1, 1.0, 10.0])
def test_ridge_closed_form(reg):
    """min ½‖Ax + c - t‖² + ½ reg ‖x - x_ref‖² has x = (AᵀA + reg I)⁻¹(Aᵀ(t - c) + reg x_ref)."""
    rng = np.random.default_rng(_seed("ridge", reg))
    net = identity_net(5, 2, seed=3, hidden=(4,))
    A, c = affine_map(net)
    t = rng.normal(size=2)
    for x_ref in (np.zeros(5), rng.normal(size=5)):
        r = invert(net, t, bounds=None, reg=reg, x_ref=x_ref, seed=0)
        expect = np.linalg.solve(A.T @ A + reg * np.eye(5), A.T @ (t - c) + reg * x_ref)
        assert np.abs(r.x - expect).max() <= 1e-6
        # the problem is strictly convex: every restart lands on the same point
        assert len(r.solutions) == 1


@pytest.mark.parametrize("reg", [1e-2, 1.0])
def test_ridge_is_measured_in_the_scalers_units(reg):
    """With a scaler, reg penalizes ((x - x_ref) / scale)²: x = (AᵀA + reg D⁻²)⁻¹ (...)."""
    rng = np.random.default_rng(_seed("ridge-scaled", reg))
    s, m = np.array([100.0, 0.01, 1.0]), np.array([10.0, -5.0, 0.0])
    net = identity_net(3, 2, seed=1, scaler=Standardizer(m, s))
    A, c = affine_map(net)
    Xc = m + s * rng.normal(size=(4, 3))
    assert np.allclose(net.forward(Xc), Xc @ A.T + c, atol=1e-10)
    t, x_ref = np.array([0.5, -0.2]), np.array([0.0, -5.0, 1.0])
    r = invert(net, t, bounds=None, reg=reg, x_ref=x_ref, seed=0)
    D2 = np.diag(1 / s**2)
    expect = np.linalg.solve(A.T @ A + reg * D2, A.T @ (t - c) + reg * D2 @ x_ref)
    assert np.abs((r.x - expect) / s).max() <= 1e-6


def test_small_reg_approaches_the_minimum_norm_solution():
    net = identity_net(6, 2, seed=5, hidden=(3,))
    A, c = affine_map(net)
    t = np.array([0.4, -1.1])
    x_mn = np.linalg.lstsq(A, t - c, rcond=None)[0]
    prev = np.inf
    for reg in (1e-2, 1e-4, 1e-6):
        r = invert(net, t, bounds=None, reg=reg, x_ref=np.zeros(6), seed=0)
        d = np.abs(r.x - x_mn).max()
        assert d < prev                                  # closer as reg shrinks
        prev = d
    assert prev <= 1e-4
    assert np.abs(A @ r.x + c - t).max() <= 1e-5


def _fit_linear_map(sizes, act, epochs, seed=7):
    rng = np.random.default_rng(seed)
    A = np.array([[2.0, 0.5, -0.3], [0.4, 1.5, 0.2], [-0.2, 0.3, 1.0]])   # invertible
    X = rng.uniform(-1, 1, (2000, 3))
    net = Network(sizes, act, "mse", dtype=np.float64, seed=0)
    net.fit(X, X @ A.T, optimizer="lbfgs", epochs=epochs, standardize=False)
    G = rng.uniform(-1, 1, (20000, 3))
    fit_err = np.abs(net.forward(G) - G @ A.T).max(axis=1).max()   # ∞-norm, sup estimate
    return net, A, fit_err, rng


@pytest.mark.parametrize("sizes,act,epochs,max_fit_err",
                         [([3, 3], "identity", 200, 1e-4), ([3, 16, 3], "tanh", 1000, 0.1)],
                         ids=["3-3-identity", "3-16-3-tanh"])
def test_net_fitted_to_an_invertible_linear_map(sizes, act, epochs, max_fit_err):
    """x = A⁻¹ t up to the fit: ‖x - A⁻¹t‖∞ ≤ ‖A⁻¹‖∞ (‖f - A·‖∞ + ‖f(x) - t‖∞)."""
    net, A, fit_err, rng = _fit_linear_map(sizes, act, epochs)
    assert fit_err <= max_fit_err                       # the setup itself
    inv_norm = np.linalg.norm(np.linalg.inv(A), np.inf)
    for x_true in rng.uniform(-0.7, 0.7, (4, 3)):
        t = A @ x_true
        r = invert(net, t, seed=0)                      # default bounds: training box
        assert r.success, r.message
        bound = inv_norm * (2 * fit_err + r.residual) + 1e-9
        assert np.abs(r.x - np.linalg.solve(A, t)).max() <= bound


def test_monotone_1d_net_against_bisection():
    x = np.linspace(-2, 2, 400)[:, None]
    net = Network([1, 10, 1], "tanh", "mse", dtype=np.float64, seed=0)
    net.fit(x, np.tanh(2 * x) + 0.3 * x, optimizer="lbfgs", epochs=500, standardize=False)
    grid = np.linspace(-2, 2, 20001)[:, None]
    f = net.forward(grid).ravel()
    assert np.all(np.diff(f) > 0), "the fitted net should be increasing on [-2, 2]"

    def g(v, t):
        return net.forward(np.array([[v]]))[0, 0] - t

    for t in np.linspace(f[0], f[-1], 9)[1:-1]:
        root = scipy.optimize.brentq(g, -2.0, 2.0, args=(t,), xtol=1e-15,
                                     rtol=4 * np.finfo(float).eps)
        r = invert(net, [t], seed=0)
        assert r.success
        assert abs(r.x[0] - root) <= 1e-8, (t, r.x, root)
        # a unique inverse: the restarts that converged all agree
        for xs, _, res in r.solutions:
            if res <= 1e-10:
                assert abs(xs[0] - root) <= 1e-8


def test_float32_network_regression_target(h):
    """The default dtype: targets reached to the float32 resolution; the output of the
    answer recomputed in float64 NumPy from the (float32) parameters."""
    rng = np.random.default_rng(_seed("f32"))
    net = Network([4, 16, 3], "tanh", "mse", seed=2)            # float32
    for _ in range(3):
        x_true = rng.uniform(-1, 1, 4)
        t = net.forward(x_true)[0].astype(np.float64)
        r = invert(net, t, bounds=(-1, 1), seed=0)
        assert r.success, r.message
        ref = h.np_forward(net, r.x[None].astype(np.float32))[1][-1][0]
        assert np.abs(ref - t).max() <= 1e-4 + 1e-3 * np.abs(t).max()


def test_x0_is_the_first_start():
    net = identity_net(3, 2, seed=4)
    A, c = affine_map(net)
    x0 = np.array([0.2, -0.1, 0.4])
    r = invert(net, A @ x0 + c, x0=x0, n_restarts=1, bounds=None)
    assert r.n_iter == 0 and np.array_equal(r.x, x0) and r.success


# ---------------------------------------------------------------------------
# 2. Class targets on an MNIST-24k network
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mnist_net():
    if not MNIST_DIR.is_dir():
        pytest.skip(f"MNIST-24k not found at {MNIST_DIR}")
    X, y = fastmlp.datasets.load_mnist(MNIST_DIR, "train")
    net = Network([784, 128, 10], "relu", "cross_entropy", seed=0)
    net.fit(X, y, epochs=2, batch_size=128, lr=1e-3, seed=0, standardize=False)
    return net


def _np_probabilities(h, net, X):
    return h.np_forward(net, X)[1][-1]


@pytest.mark.parametrize("objective", ["cross_entropy", "margin"])
def test_mnist_every_class_reaches_099(h, mnist_net, objective):
    net = mnist_net
    for c in range(10):
        r = invert(net, class_index=c, objective=objective, n_restarts=64, bounds=(0, 1),
                   seed=c)
        assert r.success, (c, r.message)
        assert r.output[c] >= 0.99
        assert len(r.solutions) > 1
        X = np.array([x for x, _, _ in r.solutions])
        assert X.min() >= 0.0 and X.max() <= 1.0
        outs = np.array([o for _, o, _ in r.solutions])
        assert np.all(outs[:, c] >= 0.99), (c, outs[:, c].min())          # all 64 restarts
        assert np.all(_np_probabilities(h, net, X)[:, c] >= 0.99 - 1e-5)   # independent
        # residual is 1 - p_c, sorted best first
        res = np.array([s[2] for s in r.solutions])
        assert np.allclose(res, 1 - outs[:, c], atol=1e-12)
        assert np.all(np.diff(res) >= 0)


def test_mnist_default_bounds_are_the_training_range(mnist_net):
    net = mnist_net
    lo = np.array(net.training["input_min"])
    hi = np.array(net.training["input_max"])
    r = invert(net, class_index=3, n_restarts=16, seed=0)
    assert r.success
    for x, _, _ in r.solutions:
        assert np.all(x >= lo) and np.all(x <= hi)
        assert np.all(x[lo == hi] == lo[lo == hi])       # dead pixels stay put


# ---------------------------------------------------------------------------
# 3. Units: a scaler must not change what inversion can find
# ---------------------------------------------------------------------------

def test_inversion_does_not_depend_on_the_input_units():
    """The same function, once with raw inputs and once behind a Standardizer whose
    units differ by 10^4 between features (scale 100, 0.01, 1).  invert() draws random
    starts as scaler.mean + scaler.scale · N(0, 1) (zeros + N(0, 1) without a scaler),
    so with the same seed both searches start from the very same points in the scaled
    space and face the very same problem there.  Without the scaler every trial reaches
    its target to ~1e-10 in ≤ 100 L-BFGS-B iterations; behind the scaler the search
    must do as well (success, residual ≤ 1e-6)."""
    s, m = np.array([100.0, 0.01, 1.0]), np.array([10.0, -5.0, 0.0])
    rng = np.random.default_rng(0)
    bad = []
    for trial in range(6):
        net = Network([3, 8, 2], "tanh", "mse", dtype=np.float64, seed=trial)
        t = net.forward(rng.uniform(-1, 1, 3))[0]
        plain = invert(net, t, bounds=None, seed=0)
        assert plain.success and plain.residual <= 1e-8 and plain.n_iter <= 200
        scaled_net = net.copy()
        scaled_net.scaler = Standardizer(m, s)
        scaled = invert(scaled_net, t, bounds=None, seed=0)
        if not (scaled.success and scaled.residual <= 1e-6):
            bad.append(f"trial {trial}: plain residual {plain.residual:.1e} in "
                       f"{plain.n_iter} iterations; scaled success={scaled.success}, "
                       f"residual {scaled.residual:.1e} in {scaled.n_iter} iterations")
    assert not bad, "\n".join(bad)
