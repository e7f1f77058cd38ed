"""Training steps: train_step with an optimizer, fit's batching, shuffling, optimizers,
schedules, clipping and weight decay on weights only, and partial_fit.

References are independent of the package: torch models + torch.optim loops over the
same batches (conftest.TorchReference, float64), NumPy SGD loops, and hand-computed
schedule values.
"""
import math

import numpy as np
import pytest

from fastmlp import Network, datasets
from fastmlp.optim import SGD, Adam, AdamW, StepDecay

from _training_helpers import _batches, _torch_train, _groups, _class_data


# ---------------------------------------------------------------------------
# train_step with an optimizer
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: d.__name__)
@pytest.mark.parametrize("make_opt", [
    lambda: SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.05),
    lambda: Adam(lr=0.01, weight_decay=0.1, clip_norm=0.5),
    lambda: AdamW(lr=0.01, weight_decay=0.2, schedule=StepDecay(2, 0.5)),
], ids=["sgd", "adam", "adamw"])
def test_train_step_equals_gradient_then_step(rng, make_opt, dtype):
    net = Network([3, 7, 4], activation="tanh", loss="cross_entropy", dtype=dtype, seed=1,
                  l2=0.01)
    twin = net.copy()
    opt, opt2 = make_opt(), make_opt()
    for _ in range(6):
        X = rng.standard_normal((10, 3))
        y = rng.integers(0, 4, 10)
        loss = net.train_step(X, y, optimizer=opt)
        loss2, grads = twin.gradient(X, y)
        opt2.step(twin.params, grads, twin._weight_mask)
        assert loss == loss2
        assert np.array_equal(net.params, twin.params)
    assert opt.t == 6
    assert not np.array_equal(net.params, Network([3, 7, 4], activation="tanh",
                                                  dtype=dtype, seed=1).params)


@pytest.mark.parametrize("case", ["sgd-nesterov-wd", "adam-wd", "adamw-clip"])
def test_train_step_matches_torch(torch, h, rng, case):
    """Weight decay on the weights only (torch: two param groups), the net's l2 in
    the loss, clipping by global norm (clip_grad_norm_)."""
    net = Network([3, 6, 5, 2], activation="tanh", loss="cross_entropy", dtype=np.float64,
                  seed=4, l2=0.003)
    clip = None
    if case == "sgd-nesterov-wd":
        opt = SGD(lr=0.2, momentum=0.9, nesterov=True, weight_decay=0.05)

        def make(Ws, bs):
            return torch.optim.SGD(_groups(Ws, bs, 0.05), lr=0.2, momentum=0.9, nesterov=True)
    elif case == "adam-wd":
        opt = Adam(lr=0.02, weight_decay=0.1)

        def make(Ws, bs):
            return torch.optim.Adam(_groups(Ws, bs, 0.1), lr=0.02)
    else:
        clip = 0.3
        opt = AdamW(lr=0.02, weight_decay=0.3, clip_norm=clip)

        def make(Ws, bs):
            return torch.optim.AdamW(_groups(Ws, bs, 0.3), lr=0.02)
    batches = [(rng.standard_normal((8, 3)), rng.integers(0, 2, 8)) for _ in range(12)]
    ref, _ = _torch_train(torch, h, net, batches, 1, make, clip=clip)
    for X, y in batches:
        net.train_step(X, y, optimizer=opt)
    errs = h.blockwise_rel_err(net, net.params, ref)
    assert max(errs.values()) < 1e-10, errs


def test_train_step_needs_exactly_one_of_lr_and_optimizer(rng):
    net = Network([2, 3, 2], dtype=np.float64, seed=0)
    X, y = rng.standard_normal((4, 2)), rng.integers(0, 2, 4)
    before = net.get_params()
    with pytest.raises(TypeError, match="exactly one"):
        net.train_step(X, y)
    with pytest.raises(TypeError, match="exactly one"):
        net.train_step(X, y, lr=0.1, optimizer=SGD())
    with pytest.raises(TypeError, match="optimizer"):
        net.train_step(X, y, optimizer="adam")
    assert np.array_equal(net.params, before)


# ---------------------------------------------------------------------------
# fit against torch loops over the same batches
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("batch_size", [16, 50, 1, 7])
def test_fit_sgd_equals_torch_loop_over_the_same_batches(torch, h, rng, batch_size):
    """fit(optimizer="sgd", shuffle=False): batches X[0:B], X[B:2B], ..., the last one
    short; one plain SGD step each; history["loss"] the row-weighted mean of the
    pre-update batch losses."""
    X, y = _class_data(rng)
    net = Network([3, 6, 3], activation="tanh", loss="cross_entropy", dtype=np.float64,
                  seed=2, l2=0.01)
    batches = _batches(X, y, batch_size)
    ref, ref_losses = _torch_train(torch, h, net, batches, 3,
                                   lambda Ws, bs: torch.optim.SGD(Ws + bs, lr=0.1))
    hist = net.fit(X, y, epochs=3, batch_size=batch_size, optimizer="sgd", lr=0.1,
                   shuffle=False, standardize=False)
    errs = h.blockwise_rel_err(net, net.params, ref)
    assert max(errs.values()) < 1e-10, errs
    np.testing.assert_allclose(hist["loss"], ref_losses, rtol=1e-10)
    assert hist["epoch"] == [1, 2, 3]
    assert hist["lr"] == [0.1, 0.1, 0.1]


def test_fit_sgd_mse_regression_equals_numpy_loop(rng):
    """The same on a one-layer linear mse model, with the reference loop written in
    NumPy: grad W = Xᵀ(XW + b - y)/B, grad b = mean(XW + b - y)."""
    X = rng.standard_normal((37, 4))
    y = rng.standard_normal((37, 2))
    net = Network([4, 2], loss="mse", dtype=np.float64, seed=5)
    W, b = net.layers[0].W.copy(), net.layers[0].b.copy()
    for _ in range(4):
        for Xb, yb in _batches(X, y, 10):
            r = Xb @ W + b - yb
            gW, gb = Xb.T @ r / len(Xb), r.mean(axis=0)
            W, b = W - 0.05 * gW, b - 0.05 * gb
    net.fit(X, y, epochs=4, batch_size=10, optimizer="sgd", lr=0.05, shuffle=False,
            standardize=False)
    np.testing.assert_allclose(net.layers[0].W, W, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(net.layers[0].b, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_fit_shuffles_each_epoch_by_the_seeded_permutation(rng, loss):
    """shuffle=True: epoch e visits the rows in default_rng(seed)'s e-th permutation, in
    batches of batch_size (the last one short): the same as a NumPy SGD loop over
    those rows, written here for a one-layer linear model (mse; labels for softmax
    cross-entropy: grad Z = (softmax(Z) - onehot)/B)."""
    X = rng.standard_normal((37, 4))
    y = rng.integers(0, 3, 37)
    Y = np.eye(3)[y] if loss == "cross_entropy" else rng.standard_normal((37, 3))
    net = Network([4, 3], activation="identity", loss=loss, dtype=np.float64, seed=5)
    W, b = net.layers[0].W.copy(), net.layers[0].b.copy()
    order_rng = np.random.default_rng(11)
    for _ in range(3):
        order = order_rng.permutation(37)
        for start in range(0, 37, 10):
            rows = order[start:start + 10]
            Z = X[rows] @ W + b
            if loss == "cross_entropy":
                P = np.exp(Z - Z.max(axis=1, keepdims=True))
                Z = P / P.sum(axis=1, keepdims=True)
            gZ = (Z - Y[rows]) / len(rows)
            W, b = W - 0.05 * X[rows].T @ gZ, b - 0.05 * gZ.sum(axis=0)
    net.fit(X, y if loss == "cross_entropy" else Y, epochs=3, batch_size=10,
            optimizer="sgd", lr=0.05, seed=11, standardize=False)
    np.testing.assert_allclose(net.layers[0].W, W, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(net.layers[0].b, b, rtol=1e-12, atol=1e-14)


def test_fit_with_optimizer_object_equals_torch(torch, h, rng):
    """An Optimizer instance is used as given (its lr; fit's lr is ignored), with its
    weight decay on the weights only."""
    X, y = _class_data(rng, n=40)
    net = Network([3, 5, 3], activation="tanh", loss="cross_entropy", dtype=np.float64,
                  seed=6)
    ref, _ = _torch_train(
        torch, h, net, _batches(X, y, 12), 3,
        lambda Ws, bs: torch.optim.SGD(_groups(Ws, bs, 0.02), lr=0.05, momentum=0.9,
                                       nesterov=True))
    net.fit(X, y, epochs=3, batch_size=12, optimizer=SGD(lr=0.05, momentum=0.9,
                                                         nesterov=True, weight_decay=0.02),
            lr=123.0, shuffle=False, standardize=False)
    assert max(h.blockwise_rel_err(net, net.params, ref).values()) < 1e-10


def test_fit_adamw_with_schedule_clip_and_weight_decay_equals_torch(torch, h, rng):
    X, y = _class_data(rng, n=45)
    net = Network([3, 8, 3], activation="relu", loss="cross_entropy", dtype=np.float64,
                  seed=7)
    spe = 4                                                   # ceil(45 / 12)
    ref, ref_losses = _torch_train(
        torch, h, net, _batches(X, y, 12), 5,
        lambda Ws, bs: torch.optim.AdamW(_groups(Ws, bs, 0.1), lr=0.01),
        clip=0.5, factor=lambda t: 0.5 ** (t // 6))
    hist = net.fit(X, y, epochs=5, batch_size=12, optimizer="adamw", lr=0.01,
                   weight_decay=0.1, clip_norm=0.5, schedule=StepDecay(6, 0.5),
                   shuffle=False, standardize=False)
    assert max(h.blockwise_rel_err(net, net.params, ref).values()) < 1e-10
    np.testing.assert_allclose(hist["loss"], ref_losses, rtol=1e-10)
    # history["lr"]: the rate at the start of each epoch, after (epoch - 1) · spe updates
    expected = [0.01 * 0.5 ** (((e - 1) * spe) // 6) for e in range(1, 6)]
    np.testing.assert_allclose(hist["lr"], expected, rtol=1e-14)


def test_fit_cosine_schedule_by_name_spans_all_updates():
    X, y = datasets.xor(60, seed=3)
    net = Network([2, 4, 2], activation="tanh", dtype=np.float64, seed=0)
    hist = net.fit(X, y, epochs=6, batch_size=20, optimizer="sgd", lr=0.4,
                   schedule="cosine", shuffle=False, standardize=False)
    total = 6 * 3
    expected = [0.4 * 0.5 * (1 + math.cos(math.pi * (e - 1) * 3 / total)) for e in range(1, 7)]
    np.testing.assert_allclose(hist["lr"], expected, rtol=1e-12)


# ---------------------------------------------------------------------------
# partial_fit
# ---------------------------------------------------------------------------

def _adam_reference(torch, h, net, X, y, bs, epochs, lr):
    return _torch_train(torch, h, net, _batches(X, y, bs), epochs,
                        lambda Ws, bs_: torch.optim.Adam(Ws + bs_, lr=lr))


def test_partial_fit_continues_the_optimizer_state(torch, h, rng):
    """The first call creates Adam(lr); the second continues it: two epochs of torch
    Adam over the same batches.  Each call returns the epoch's mean loss."""
    X, y = _class_data(rng, n=40)
    net = Network([3, 6, 3], activation="tanh", dtype=np.float64, seed=1)
    ref, ref_losses = _adam_reference(torch, h, net, X, y, 16, 2, 0.02)
    l1 = net.partial_fit(X, y, batch_size=16, optimizer="adam", lr=0.02, shuffle=False)
    l2 = net.partial_fit(X, y, batch_size=16, shuffle=False)
    assert max(h.blockwise_rel_err(net, net.params, ref).values()) < 1e-10
    np.testing.assert_allclose([l1, l2], ref_losses, rtol=1e-10)


def test_partial_fit_with_an_optimizer_instance_continues_it(torch, h, rng):
    X, y = _class_data(rng, n=40)
    net = Network([3, 6, 3], activation="tanh", dtype=np.float64, seed=1)
    ref, _ = _adam_reference(torch, h, net, X, y, 16, 3, 0.02)
    opt = Adam(lr=0.02)
    for _ in range(3):
        net.partial_fit(X, y, batch_size=16, optimizer=opt, shuffle=False)
    assert opt.t == 9
    assert max(h.blockwise_rel_err(net, net.params, ref).values()) < 1e-10


def test_partial_fit_with_the_same_arguments_each_call_continues_adam(torch, h, rng):
    """The usual incremental loop passes the same arguments every call:
        for chunk in stream: net.partial_fit(Xc, yc, optimizer="adam", lr=0.02)
    Network.partial_fit promises to continue "with the network's optimizer state"
    (training.partial_fit: "created on the first call").

    Fails: training.partial_fit builds a NEW optimizer whenever `optimizer` is not
    None, so Adam's moments and step count are thrown away at every call."""
    X, y = _class_data(rng, n=40)
    net = Network([3, 6, 3], activation="tanh", dtype=np.float64, seed=1)
    ref, _ = _adam_reference(torch, h, net, X, y, 16, 2, 0.02)
    for _ in range(2):
        net.partial_fit(X, y, batch_size=16, optimizer="adam", lr=0.02, shuffle=False)
    assert max(h.blockwise_rel_err(net, net.params, ref).values()) < 1e-10
