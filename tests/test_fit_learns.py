"""fit learns: spirals, XOR and a smooth regression reach high held-out accuracy or r2,
and L-BFGS through fit reaches the least-squares fit of a linear model.

References: a NumPy forward pass, sklearn.metrics.r2_score and np.linalg.lstsq.
"""

import numpy as np
import pytest

from fastmlp import Network, datasets

from _training_helpers import _np_output


# ---------------------------------------------------------------------------
# fit learns
# ---------------------------------------------------------------------------

def test_fit_learns_spirals():
    X, y = datasets.spirals(400, seed=0)
    Xt, yt = datasets.spirals(400, seed=1)
    net = Network([2, 32, 32, 2], activation="tanh", dtype=np.float64, seed=0)
    before = net.evaluate(X, y)
    hist = net.fit(X, y, epochs=250, batch_size=32, optimizer="adam", lr=0.01, seed=0,
                   validation_data=(Xt, yt), standardize=False)
    assert hist["loss"][-1] < 0.1 * hist["loss"][0]
    # accuracy on fresh spirals, computed here from a NumPy forward pass
    _, A = _np_output(net, Xt)
    assert np.mean(A.argmax(axis=1) == yt) > 0.95
    assert hist["val_accuracy"][-1] > 0.95
    assert net.evaluate(X, y)["loss"] < 0.1 * before["loss"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: d.__name__)
def test_fit_learns_xor(dtype):
    X, y = datasets.xor(200, seed=0)
    Xt, yt = datasets.xor(200, seed=5)
    net = Network([2, 8, 2], activation="tanh", dtype=dtype, seed=0)
    hist = net.fit(X, y, epochs=100, batch_size=16, optimizer="sgd", lr=0.1, seed=0,
                   standardize=False)
    assert hist["loss"][-1] < 0.1 * hist["loss"][0]
    assert np.mean(net.predict(Xt) == yt) > 0.97


def test_fit_regression_reports_val_r2_and_reaches_it(rng):
    from sklearn.metrics import r2_score

    def f(X):
        return (np.sin(2 * X[:, 0]) + 0.5 * X[:, 1] ** 2 - X[:, 0] * X[:, 1])[:, None]
    X = rng.uniform(-1.5, 1.5, size=(600, 2))
    Xv = rng.uniform(-1.5, 1.5, size=(200, 2))
    y, yv = f(X) + 0.02 * rng.standard_normal((600, 1)), f(Xv)
    net = Network([2, 32, 32, 1], activation="tanh", loss="mse", dtype=np.float64, seed=0)
    hist = net.fit(X, y, epochs=150, batch_size=32, optimizer="adam", lr=0.005, seed=1,
                   validation_data=(Xv, yv), standardize=False)
    assert "val_r2" in hist.records[-1] and "val_accuracy" not in hist.records[-1]
    r2 = r2_score(yv, net.predict(Xv))
    assert r2 > 0.9
    assert hist["val_r2"][-1] == pytest.approx(r2, rel=1e-10)
    assert net.score(Xv, yv) == pytest.approx(r2, rel=1e-10)


# ---------------------------------------------------------------------------
# L-BFGS through fit
# ---------------------------------------------------------------------------

def test_fit_lbfgs_linear_regression(rng):
    X = rng.standard_normal((200, 3)) * np.array([1.0, 3.0, 0.3])
    y = X @ np.array([1.5, -0.5, 2.0]) - 0.4 + 0.1 * rng.standard_normal(200)
    net = Network([3, 1], loss="mse", dtype=np.float64, seed=0)
    hist = net.fit(X, y, epochs=200, optimizer="lbfgs", standardize=False)
    A = np.hstack([X, np.ones((200, 1))])
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    best_loss = 0.5 * np.mean((A @ coef - y) ** 2)
    assert 1 <= len(hist) <= 200
    losses = np.array(hist["loss"])
    assert np.all(np.diff(losses) <= 1e-12)               # L-BFGS never goes uphill
    assert losses[-1] == pytest.approx(best_loss, rel=1e-6)
    np.testing.assert_allclose(net.params, coef, atol=1e-3)
    assert net.loss(X, y) == pytest.approx(losses[-1], rel=1e-12)
