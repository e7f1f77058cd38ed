"""The seed-002 network, reproduced from the article's own NumPy training loop.

2-3-2, sigmoid hidden and sigmoid output, squared error.  The article's loss is
Σ over the batch AND the outputs of ½(z2 - y)², NOT averaged over the batch;
fastmlp's mse is (1/B) Σ_i ½ Σ_k (…)², so its gradient is the article's / B and
train_step with lr = 0.01 · B reproduces the article's update with lr = 0.01.

Error measure: conftest.rel_err per weight block (max|a - r| / max|r|).
"""
import numpy as np
import pytest

from fastmlp import Network

X = np.array([[0.6, 0.1], [0.3, 0.6]])
Y = np.array([[0.0, 1.0], [0.0, 1.0]])          # y = [0, 1] for both samples
W1 = np.array([[0.4, 0.3, 0.6], [0.3, 0.4, 0.2]])
B1 = np.array([0.4, 0.1, 0.2])
W2 = np.array([[0.2, 0.3], [0.3, 0.4], [0.5, 0.3]])
B2 = np.array([0.1, 0.2])
LR = 0.01
BATCH = X.shape[0]


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def article_training(n_steps, lr=LR):
    """The article's loop, verbatim in spirit: forward, ds2, dW2, ds1, dW1, update.

    Returns the final (W1, b1, W2, b2) and the per-step losses (before each step)."""
    w1, b1, w2, b2 = W1.copy(), B1.copy(), W2.copy(), B2.copy()
    losses = np.empty(n_steps)
    for step in range(n_steps):
        z1 = _sigmoid(X @ w1 + b1)
        z2 = _sigmoid(z1 @ w2 + b2)
        losses[step] = np.sum(0.5 * (z2 - Y) ** 2)
        ds2 = (z2 - Y) * z2 * (1 - z2)
        dW2 = z1.T @ ds2
        db2 = ds2.sum(axis=0)
        ds1 = (ds2 @ w2.T) * z1 * (1 - z1)
        dW1 = X.T @ ds1
        db1 = ds1.sum(axis=0)
        w1 -= lr * dW1
        b1 -= lr * db1
        w2 -= lr * dW2
        b2 -= lr * db2
    return (w1, b1, w2, b2), losses


def seed_net(dtype):
    net = Network([2, 3, 2], activation="sigmoid", loss="mse", output_activation="sigmoid",
                  dtype=dtype, seed=0)
    assert [l.activation for l in net.layers] == ["sigmoid", "sigmoid"]
    net.layers[0].W = W1
    net.layers[0].b = B1
    net.layers[1].W = W2
    net.layers[1].b = B2
    return net


def _fastmlp_training(net, n_steps):
    losses = np.empty(n_steps)
    for step in range(n_steps):
        losses[step] = net.train_step(X, Y, LR * BATCH)
    return losses


def _params(net):
    return (net.layers[0].W, net.layers[0].b, net.layers[1].W, net.layers[1].b)


def test_initial_forward_and_loss_by_hand(h):
    """First forward pass against values computed here by hand (math module)."""
    import math
    net = seed_net(np.float64)
    z1 = [[1 / (1 + math.exp(-(X[r, 0] * W1[0, j] + X[r, 1] * W1[1, j] + B1[j])))
           for j in range(3)] for r in range(2)]
    z2 = [[1 / (1 + math.exp(-(sum(z1[r][j] * W2[j, k] for j in range(3)) + B2[k])))
           for k in range(2)] for r in range(2)]
    assert h.rel_err(net.forward(X), np.array(z2)) <= 1e-14
    article_loss = sum(0.5 * (z2[r][k] - Y[r, k]) ** 2 for r in range(2) for k in range(2))
    assert net.loss(X, Y) == pytest.approx(article_loss / BATCH, rel=1e-14)


def test_one_step_matches_article(h):
    net = seed_net(np.float64)
    (w1, b1, w2, b2), losses = article_training(1)
    loss = net.train_step(X, Y, LR * BATCH)
    assert loss == pytest.approx(losses[0] / BATCH, rel=1e-14)
    for got, ref in zip(_params(net), (w1, b1, w2, b2)):
        assert h.rel_err(got, ref) <= 1e-14
    # and the step really moved every parameter
    for got, start in zip(_params(net), (W1, B1, W2, B2)):
        assert np.all(got != start)


def test_1000_steps_float64(h):
    n = 1000
    ref_params, ref_losses = article_training(n)
    net = seed_net(np.float64)
    losses = _fastmlp_training(net, n)
    for name, got, ref in zip(["W1", "b1", "W2", "b2"], _params(net), ref_params):
        assert h.rel_err(got, ref) <= 1e-12, name
    # fastmlp's loss is the article's divided by the batch size
    np.testing.assert_allclose(losses * BATCH, ref_losses, rtol=1e-12, atol=0)
    assert ref_losses[-1] < ref_losses[0]


def test_1000_steps_float32(h):
    n = 1000
    ref_params, ref_losses = article_training(n)
    net = seed_net(np.float32)
    losses = _fastmlp_training(net, n)
    for name, got, ref in zip(["W1", "b1", "W2", "b2"], _params(net), ref_params):
        assert got.dtype == np.float32
        assert h.rel_err(got, ref) <= 1e-5, name
    np.testing.assert_allclose(losses * BATCH, ref_losses, rtol=1e-5, atol=0)


def test_article_outcome_after_50001_steps(h):
    """The article trains 50001 steps: both outputs end up on the targets."""
    n = 50001
    ref_params, ref_losses = article_training(n)
    net = seed_net(np.float64)
    first = net.loss(X, Y) * BATCH
    last = None
    for _ in range(n):
        last = net.train_step(X, Y, LR * BATCH)
    out = net.predict(X)                   # mse: predict gives the outputs
    np.testing.assert_array_equal(np.round(out), Y)
    np.testing.assert_array_equal((out > 0.5).astype(int), Y.astype(int))
    final = net.loss(X, Y) * BATCH
    assert final < 1e-3 and final < first / 100
    assert final <= last * BATCH          # still decreasing at the end
    assert final == pytest.approx(
        0.5 * np.sum((_sigmoid(_sigmoid(X @ ref_params[0] + ref_params[1]) @ ref_params[2]
                                + ref_params[3]) - Y) ** 2), rel=1e-9)
    for got, ref in zip(_params(net), ref_params):
        assert h.rel_err(got, ref) <= 1e-9
