"""fastmlp.optim.lbfgs: linear models against np.linalg.lstsq and the ridge normal
equations, and a small tanh network whose final loss is recomputed with NumPy."""
import numpy as np

from fastmlp import Network
from fastmlp import optim


# ---------------------------------------------------------------------------
# L-BFGS
# ---------------------------------------------------------------------------

def _linear_data(rng, n=200, d=4):
    X = rng.standard_normal((n, d)) * np.array([1.0, 2.0, 0.5, 3.0])[:d] + 0.3
    w = rng.standard_normal(d)
    y = X @ w + 0.7 + 0.1 * rng.standard_normal(n)
    return X, y


def test_lbfgs_linear_regression_reaches_lstsq(rng):
    X, y = _linear_data(rng)
    net = Network([4, 1], loss="mse", dtype=np.float64, seed=3)
    assert net.layers[0].activation == "identity"
    res = optim.lbfgs(net, X, y, max_iter=500, tol=1e-12)
    A = np.hstack([X, np.ones((X.shape[0], 1))])
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    got = np.concatenate([net.layers[0].W.ravel(), net.layers[0].b])
    np.testing.assert_allclose(got, coef, rtol=1e-6, atol=1e-7)
    assert np.allclose(res.x, net.params)


def test_lbfgs_with_l2_reaches_the_ridge_solution(rng):
    """l2 penalizes the weights only: minimize 1/(2n)‖Xw + b - y‖² + l2/2 ‖w‖²,
    solved here by the normal equations with an unpenalized intercept."""
    X, y = _linear_data(rng)
    l2 = 0.5
    net = Network([4, 1], loss="mse", dtype=np.float64, seed=0, l2=l2)
    optim.lbfgs(net, X, y, max_iter=500, tol=1e-12)
    n = X.shape[0]
    A = np.hstack([X, np.ones((n, 1))])
    P = np.diag([l2] * 4 + [0.0])
    coef = np.linalg.solve(A.T @ A / n + P, A.T @ y / n)
    got = np.concatenate([net.layers[0].W.ravel(), net.layers[0].b])
    np.testing.assert_allclose(got, coef, rtol=1e-6, atol=1e-7)
    unpenalized, *_ = np.linalg.lstsq(A, y, rcond=None)
    assert np.abs(got - unpenalized).max() > 1e-3       # the penalty made a difference


def test_lbfgs_on_a_nonlinear_network_converges(rng):
    X = rng.uniform(-2, 2, size=(120, 2))
    y = np.sin(X[:, :1]) * np.cos(X[:, 1:])
    net = Network([2, 6, 1], activation="tanh", loss="mse", dtype=np.float64, seed=2)
    loss0, g0 = net.gradient(X, y)
    res = optim.lbfgs(net, X, y, max_iter=2000, tol=1e-10)
    loss1, g1 = net.gradient(X, y)
    # independent loss at the final parameters (NumPy forward pass)
    _, As = _np_forward(net, X)
    np.testing.assert_allclose(loss1, 0.5 * np.mean(np.sum((As - y) ** 2, axis=1)),
                               rtol=1e-12)
    assert loss1 < 0.01 * loss0
    # at a (local) minimum: the gradient has all but vanished (scipy stops on the
    # relative reduction of the loss, so "small" is relative to the starting gradient)
    assert np.linalg.norm(g1) < 2e-3 * np.linalg.norm(g0), (res.message, np.linalg.norm(g1))
    assert np.array_equal(net.params, res.x)


def _np_forward(net, X):
    A = np.asarray(X, np.float64)
    for layer in net.layers:
        Z = A @ layer.W + layer.b
        A = np.tanh(Z) if layer.activation == "tanh" else Z
    return Z, A
