"""Training a Network: train_step with an optimizer, fit (batching, optimizers,
schedules, clipping, weight decay on weights only, validation, standardization,
early stopping, divergence, Ctrl-C, callbacks, progress lines), partial_fit,
evaluate / score, L-BFGS through fit, and fit's argument checks.

References are independent of the package: torch models + torch.optim loops over the
same batches (conftest.TorchReference, float64), NumPy forward passes and metrics,
sklearn.metrics.r2_score, np.linalg.lstsq, and hand-computed schedule values.
"""
import math

import numpy as np
import pytest

import fastmlp
from fastmlp import DivergenceError, Network, datasets
from fastmlp.optim import SGD, Adam, AdamW, StepDecay


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

def _batches(X, y, batch_size):
    return [(X[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(X), batch_size)]


def _torch_train(torch, h, net, batches, epochs, make_opt, clip=None, factor=None):
    """A float64 torch copy of `net` trained over `batches` (in order) for `epochs`;
    make_opt(weights, biases) builds the torch optimizer.  Returns the flat parameters
    (fastmlp layout) and the per-epoch row-weighted mean of the pre-update batch losses."""
    ref = h.TorchReference(torch, net)
    opt = make_opt(ref.Ws, ref.bs)
    sched = None if factor is None else torch.optim.lr_scheduler.LambdaLR(opt, factor)
    epoch_losses = []
    for _ in range(epochs):
        total, rows = 0.0, 0
        for Xb, yb in batches:
            opt.zero_grad()
            value = ref.loss(torch.tensor(np.asarray(Xb, np.float64)), yb)
            value.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(ref.parameters(), clip)
            opt.step()
            if sched is not None:
                sched.step()
            total += float(value.detach()) * len(Xb)
            rows += len(Xb)
        epoch_losses.append(total / rows)
    return ref.flat(ref.parameters()), epoch_losses


def _groups(Ws, bs, wd):
    """torch param groups: weight decay on the weights, none on the biases."""
    return [{"params": Ws, "weight_decay": wd}, {"params": bs, "weight_decay": 0.0}]


def _np_output(net, X):
    """(logits Z, output A) of the last layer, recomputed in float64 with NumPy."""
    A = np.asarray(X, np.float64)
    if net.scaler is not None:
        A = (A - net.scaler.mean) / net.scaler.scale
    for layer in net.layers:
        Z = A @ layer.W.astype(np.float64) + layer.b.astype(np.float64)
        if layer.activation == "tanh":
            A = np.tanh(Z)
        elif layer.activation == "relu":
            A = np.maximum(Z, 0)
        elif layer.activation == "identity":
            A = Z
        elif layer.activation == "sigmoid":
            A = 1 / (1 + np.exp(-Z))
        elif layer.activation == "softmax":
            e = np.exp(Z - Z.max(axis=1, keepdims=True))
            A = e / e.sum(axis=1, keepdims=True)
        else:
            raise KeyError(layer.activation)
    return Z, A


def _class_data(rng, n=50, d=3, k=3):
    X = rng.standard_normal((n, d))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.intp) + (X[:, 2] > 1).astype(np.intp)
    return X, np.minimum(y, k - 1)


class _Snapshots:
    """A callback storing a copy of the parameters after every epoch."""

    def __init__(self, net):
        self.params = {0: net.get_params()}
        self.records = []

    def __call__(self, net, record):
        self.params[record["epoch"]] = net.get_params()
        self.records.append(dict(record))
        return False


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
    net.fit(X, y, epochs=4, batch_size=10, optimizer="sgd", lr=0.05, shuffle=False, standardize=False)
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
    hist = net.fit(X, y, epochs=100, batch_size=16, optimizer="sgd", lr=0.1, seed=0, standardize=False)
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
# Early stopping
# ---------------------------------------------------------------------------

def test_early_stopping_restores_the_best_epoch(rng):
    """A big net on 12 noisy points with a clean validation set overfits: val_loss
    bottoms out and rises.  The network ends with best_epoch's parameters, whose
    val_loss is the minimum recorded, and training stopped patience epochs later."""
    Xtr = rng.uniform(-1, 1, (12, 1))
    ytr = np.sin(3 * Xtr) + 0.3 * rng.standard_normal((12, 1))
    Xv = rng.uniform(-1, 1, (200, 1))
    yv = np.sin(3 * Xv)
    net = Network([1, 64, 64, 1], activation="tanh", loss="mse", dtype=np.float64, seed=0)
    snaps = _Snapshots(net)
    patience = 20
    hist = net.fit(Xtr, ytr, epochs=3000, batch_size=12, optimizer="adam", lr=0.01,
                   validation_data=(Xv, yv), early_stopping=True, patience=patience,
                   min_delta=0.0, callbacks=[snaps], standardize=False)
    val = np.array(hist["val_loss"])
    assert hist.stopped_early and not hist.interrupted
    assert len(hist) < 3000
    best = hist.best_epoch
    assert best is not None and 1 <= best <= len(hist)
    assert val[best - 1] == val.min()
    assert val[best:].min() > val[best - 1]                 # it rose afterwards
    assert len(hist) == best + patience
    assert np.array_equal(net.params, snaps.params[best])
    assert not np.array_equal(net.params, snaps.params[len(hist)])
    # the restored network's validation loss is the best one (independent forward pass)
    _, A = _np_output(net, Xv)
    assert 0.5 * np.mean(np.sum((A - yv) ** 2, axis=1)) == pytest.approx(val.min(), rel=1e-10)


def test_early_stopping_with_min_delta_counts_small_gains_as_no_gain(rng):
    """min_delta: an epoch counts as better only if val_loss < best - min_delta, so
    with a huge min_delta nothing after epoch 1 is better and fit stops after
    1 + patience epochs, back at epoch 1's parameters."""
    X, y = datasets.xor(80, seed=1)
    Xv, yv = datasets.xor(40, seed=2)
    net = Network([2, 6, 2], activation="tanh", dtype=np.float64, seed=0)
    snaps = _Snapshots(net)
    hist = net.fit(X, y, epochs=50, batch_size=16, optimizer="adam", lr=0.01,
                   validation_data=(Xv, yv), early_stopping=True, patience=3,
                   min_delta=10.0, callbacks=[snaps], standardize=False)
    assert hist.stopped_early and hist.best_epoch == 1 and len(hist) == 4
    assert np.array_equal(net.params, snaps.params[1])


# ---------------------------------------------------------------------------
# Divergence
# ---------------------------------------------------------------------------

def _unscaled_regression(rng, n=64):
    X = rng.normal(size=(n, 3)) * 1000
    y = rng.normal(size=(n, 1)) * 1000
    return X, y


def test_divergence_full_batch_keeps_the_last_finite_parameters(rng):
    """Full batch (one step per epoch) with SGD lr=1e6 on unscaled data: the loss
    overflows after a few epochs.  DivergenceError names epoch and step; the network
    holds the parameters of the last completed epoch, all finite."""
    X, y = _unscaled_regression(rng)
    net = Network([3, 8, 1], activation="relu", loss="mse", dtype=np.float64, seed=1)
    snaps = _Snapshots(net)
    with pytest.raises(DivergenceError) as info:
        net.fit(X, y, epochs=100, batch_size=len(X), optimizer="sgd", lr=1e6,
                shuffle=False, callbacks=[snaps], standardize=False)
    e = info.value
    assert isinstance(e, FloatingPointError)
    assert e.epoch >= 2 and f"epoch {e.epoch}" in str(e)
    assert len(e.history) == e.epoch - 1
    assert e.history["epoch"] == list(range(1, e.epoch))
    assert np.all(np.isfinite(net.params))
    if e.step is not None:           # a step's loss overflowed: that step was not made
        assert e.step == 1 and f"step {e.step}" in str(e)
        assert np.array_equal(net.params, snaps.params[e.epoch - 1])
    else:                            # finite steps, but the epoch's weights overflow when scored
        assert "scoring" in str(e)
    # and the next step from here is indeed non-finite (recomputed in NumPy)
    with np.errstate(all="ignore"):
        Z, A = _np_output(net, X)
        loss = 0.5 * np.mean(np.sum((A - y) ** 2, axis=1))
    assert not np.isfinite(loss) or not np.all(np.isfinite(A))


def test_divergence_mid_epoch_matches_a_replayed_sgd_loop(rng):
    """Several steps per epoch: a NumPy replay of plain SGD on the same batches finds
    the first step whose loss or gradient is non-finite; fit reports that epoch and
    step and keeps exactly the replay's parameters before it."""
    X, y = _unscaled_regression(rng)
    net = Network([3, 8, 1], activation="relu", loss="mse", dtype=np.float64, seed=1)
    replay = net.copy()
    lr, bs = 1e6, 16
    where = None
    for epoch in range(1, 11):
        for step, (Xb, yb) in enumerate(_batches(X, y, bs), 1):
            try:            # gradient() raises on a non-finite loss or gradient
                loss, g = replay.gradient(Xb, yb)
            except FloatingPointError:
                where = (epoch, step)
                break
            with np.errstate(all="ignore"):
                new = replay.params - lr * g
            if not np.all(np.isfinite(new)):
                where = (epoch, step)
                break
            replay.params[...] = new
        if where:
            break
    assert where is not None, "the replay did not diverge"
    with pytest.raises(DivergenceError) as info:
        net.fit(X, y, epochs=10, batch_size=bs, optimizer="sgd", lr=lr, shuffle=False, standardize=False)
    e = info.value
    assert (e.epoch, e.step) == where
    assert f"epoch {where[0]}" in str(e) and f"step {where[1]}" in str(e)
    assert np.all(np.isfinite(net.params))
    np.testing.assert_allclose(net.params, replay.params, rtol=1e-12)


def test_divergence_by_an_overflowing_update_keeps_finite_parameters(rng):
    """The documented contract (training.py): DivergenceError is raised "before the
    bad update, so the weights are those of the last finite step".  Here the loss and
    gradient at the start are finite but lr · grad overflows: SGD lr=1e308 with
    gradients far above 2 (unscaled data).  The error must come at epoch 1, step 1,
    with the initial (finite) parameters kept.

    Fails: Optimizer._apply reports NONFINITE_PARAMS only AFTER _optim.pyx has written
    the update in place, and training._epoch re-raises it as DivergenceError without
    restoring anything, so net.params is left full of inf.  (Natural reproduction:
    rng = default_rng(0); X = rng.normal(size=(64, 3)) * 1000;
    y = rng.normal(size=(64, 1)) * 1000; float32 Network([3, 8, 1],
    activation="identity", loss="mse", seed=1).fit(X, y, optimizer="sgd", lr=1e4,
    batch_size=16, shuffle=False, standardize=False) -> epoch 1, step 2, params non-finite.)"""
    X, y = _unscaled_regression(rng)
    net = Network([3, 8, 1], activation="tanh", loss="mse", dtype=np.float64, seed=1)
    loss0, g0 = net.gradient(X[:16], y[:16])
    # 1e308 · max|g| overflows double
    assert math.isfinite(loss0) and np.all(np.isfinite(g0)) and np.abs(g0).max() > 10
    before = net.get_params()
    with pytest.raises(DivergenceError) as info:
        net.fit(X, y, epochs=3, batch_size=16, optimizer="sgd", lr=1e308, shuffle=False, standardize=False)
    assert (info.value.epoch, info.value.step) == (1, 1)
    assert np.all(np.isfinite(net.params)), \
        f"{np.sum(~np.isfinite(net.params))} of {net.n_params} parameters are non-finite"
    assert np.array_equal(net.params, before)


# ---------------------------------------------------------------------------
# Ctrl-C
# ---------------------------------------------------------------------------

def test_keyboard_interrupt_in_a_callback_keeps_three_records(rng):
    """The epoch's record is appended to the history BEFORE the callbacks run, so an
    interrupt raised by a callback at epoch 3 leaves 3 records."""
    X, y = _class_data(rng)
    net = Network([3, 6, 3], activation="tanh", dtype=np.float64, seed=0)
    seen = {}
    lines = []

    def cb(net, record):
        if record["epoch"] == 3:
            seen["params"] = net.get_params()
            raise KeyboardInterrupt
        return False

    hist = net.fit(X, y, epochs=10, batch_size=8, optimizer="adam", lr=0.01,
                   callbacks=[cb], verbose=1, print_fn=lines.append, standardize=False)
    assert hist.interrupted and not hist.stopped_early
    assert len(hist) == 3 and hist["epoch"] == [1, 2, 3]
    assert np.all(np.isfinite(net.params))
    assert np.array_equal(net.params, seen["params"])
    assert any("interrupted" in line for line in lines)


def test_keyboard_interrupt_mid_epoch_keeps_completed_epochs(torch, h, rng):
    """An interrupt during epoch 3's second update: 2 records; the parameters are
    those after the last completed update (5 steps of torch SGD here)."""
    X, y = _class_data(rng, n=40)
    net = Network([3, 5, 3], activation="tanh", dtype=np.float64, seed=3)
    batches = _batches(X, y, 20)                          # 2 steps per epoch

    class Interrupting(SGD):
        def _apply(self, params, grads, mask, helpers=0):
            if self.t == 5:
                raise KeyboardInterrupt
            super()._apply(params, grads, mask, helpers)

    ref = h.TorchReference(torch, net)
    opt = torch.optim.SGD(ref.parameters(), lr=0.2)
    for Xb, yb in (batches * 3)[:5]:
        opt.zero_grad()
        ref.loss(torch.tensor(Xb), yb).backward()
        opt.step()
    hist = net.fit(X, y, epochs=10, batch_size=20, optimizer=Interrupting(lr=0.2),
                   shuffle=False, standardize=False)
    assert hist.interrupted and len(hist) == 2
    assert max(h.blockwise_rel_err(net, net.params,
                                   ref.flat(ref.parameters())).values()) < 1e-10


# ---------------------------------------------------------------------------
# Validation data, validation_fraction, standardize
# ---------------------------------------------------------------------------

def test_validation_fraction_holds_out_rows(rng):
    """Column 0 of X is 2**i for row i, so the standardizer's mean of column 0
    (fitted on the training rows only) spells out exactly which rows were used for
    training.  With lr=0 the parameters never move, so the training loss of every
    epoch is the loss over those rows, and val_loss / val_r2 are those of the others."""
    from sklearn.metrics import r2_score
    n, frac = 40, 0.25
    n_val = 10
    X = np.column_stack([2.0 ** np.arange(n), rng.standard_normal(n)])
    y = rng.standard_normal((n, 1))
    net = Network([2, 4, 1], activation="tanh", loss="mse", dtype=np.float64, seed=0)
    hist = net.fit(X, y, epochs=2, batch_size=8, optimizer="sgd", lr=0.0, seed=3,
                   validation_fraction=frac, standardize=True)
    code = int(round(net.scaler.mean[0] * (n - n_val)))
    train = np.array([(code >> i) & 1 for i in range(n)], bool)
    assert train.sum() == n - n_val
    val = ~train
    assert not np.all(train[:n - n_val])     # a random split, not the first rows
    np.testing.assert_allclose(net.scaler.mean, X[train].mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(net.scaler.scale, X[train].std(axis=0), rtol=1e-12)
    _, A = _np_output(net, X)
    per_row = 0.5 * np.sum((A - y) ** 2, axis=1)
    np.testing.assert_allclose(hist["loss"], [per_row[train].mean()] * 2, rtol=1e-10)
    np.testing.assert_allclose(hist["val_loss"], [per_row[val].mean()] * 2, rtol=1e-10)
    np.testing.assert_allclose(hist["val_r2"], [r2_score(y[val], A[val])] * 2, rtol=1e-10)


def test_validation_data_is_used_as_given(h, rng):
    X, y = _class_data(rng, n=60)
    Xv, yv = _class_data(rng, n=25)
    net = Network([3, 7, 3], activation="tanh", dtype=np.float64, seed=0)
    hist = net.fit(X, y, epochs=4, batch_size=16, optimizer="adam", lr=0.01,
                   validation_data=(Xv, yv), standardize=False)
    assert len(hist["val_loss"]) == 4 and None not in hist["val_loss"]
    Z, A = _np_output(net, Xv)
    assert hist["val_loss"][-1] == pytest.approx(h.np_loss("cross_entropy", Z, yv), rel=1e-10)
    assert hist["val_accuracy"][-1] == np.mean(A.argmax(axis=1) == yv)
    assert "val_r2" not in hist.records[-1]
    # no validation: no val_ keys
    hist2 = net.fit(X, y, epochs=1, batch_size=16, standardize=False)
    assert set(hist2.records[0]) >= {"loss", "accuracy", "lr", "seconds"}
    with pytest.raises(KeyError, match="val_loss"):
        hist2["val_loss"]


def test_standardize_fits_training_rows_and_predictions_take_raw_units(rng):
    """Features in wildly different raw units; standardize=True stores the training
    rows' mean / std, validation rows and later inputs go through it."""
    X, y = datasets.xor(300, seed=4)
    Xv, yv = datasets.xor(100, seed=5)
    scale, shift = np.array([1000.0, 0.001]), np.array([5000.0, -3.0])
    Xr, Xvr = X * scale + shift, Xv * scale + shift
    net = Network([2, 8, 2], activation="tanh", dtype=np.float64, seed=0)
    assert net.scaler is None
    hist = net.fit(Xr, y, epochs=60, batch_size=16, optimizer="adam", lr=0.02, seed=0,
                   standardize=True, validation_data=(Xvr, yv))
    np.testing.assert_allclose(net.scaler.mean, Xr.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(net.scaler.scale, Xr.std(axis=0), rtol=1e-12)
    # forward on raw inputs == NumPy forward on (X - mean) / std
    Z = (Xvr - Xr.mean(axis=0)) / Xr.std(axis=0)
    for layer in net.layers[:-1]:
        Z = np.tanh(Z @ layer.W + layer.b)
    Z = Z @ net.layers[-1].W + net.layers[-1].b
    P = np.exp(Z - Z.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(net.forward(Xvr), P, rtol=1e-10, atol=1e-14)
    assert np.mean(net.predict(Xvr) == yv) > 0.95
    assert hist["val_accuracy"][-1] == np.mean(P.argmax(axis=1) == yv)


# ---------------------------------------------------------------------------
# Callbacks and progress lines
# ---------------------------------------------------------------------------

def test_callback_returning_true_stops_training(rng):
    X, y = _class_data(rng)
    net = Network([3, 5, 3], activation="tanh", dtype=np.float64, seed=0)
    seen = []

    def cb(net_, record):
        assert net_ is net
        seen.append(record)
        return record["epoch"] == 4

    hist = net.fit(X, y, epochs=20, batch_size=10, callbacks=[cb], standardize=False)
    assert len(hist) == 4 and [r["epoch"] for r in seen] == [1, 2, 3, 4]
    assert seen == hist.records
    assert not hist.stopped_early and not hist.interrupted


def test_every_callback_sees_the_last_epoch(rng):
    """callbacks: "callables f(net, record); True stops" -- a stopping callback must
    not hide the final epoch from the callbacks listed after it (a logger or a
    checkpoint would miss the last record).

    Fails: training.py fit evaluates `any(cb(net, record) for cb in callbacks)`,
    which short-circuits after the first True."""
    X, y = _class_data(rng)
    net = Network([3, 5, 3], activation="tanh", dtype=np.float64, seed=0)
    logged = []
    hist = net.fit(X, y, epochs=10, batch_size=10,
                   callbacks=[lambda n, r: r["epoch"] == 2,
                              lambda n, r: logged.append(r["epoch"])], standardize=False)
    assert len(hist) == 2
    assert logged == [1, 2]


def test_verbose_prints_one_line_per_epoch(rng):
    X, y = _class_data(rng)
    Xv, yv = _class_data(rng, n=20)
    net = Network([3, 5, 3], activation="tanh", dtype=np.float64, seed=0)
    lines = []
    net.fit(X, y, epochs=5, batch_size=10, verbose=1, print_fn=lines.append,
            validation_data=(Xv, yv), standardize=False)
    assert len(lines) == 5
    for e, line in enumerate(lines, 1):
        assert isinstance(line, str) and "\n" not in line
        assert "loss" in line and "samples/s" in line and "val_loss" in line
        assert f"{e}/5" in line
    quiet = []
    net.fit(X, y, epochs=3, batch_size=10, verbose=0, print_fn=quiet.append, standardize=False)
    assert quiet == []


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


# ---------------------------------------------------------------------------
# evaluate / score
# ---------------------------------------------------------------------------

def test_evaluate_and_score_classification(h, rng):
    net = Network([4, 6, 3], activation="tanh", dtype=np.float64, seed=2)
    X = rng.standard_normal((200, 4))
    y = rng.integers(0, 3, 200)
    Z, A = _np_output(net, X)
    acc = np.mean(A.argmax(axis=1) == y)
    assert 0 < acc < 1
    res = net.evaluate(X, y)
    assert set(res) == {"loss", "accuracy"}
    assert res["accuracy"] == acc == net.score(X, y)
    assert res["loss"] == pytest.approx(h.np_loss("cross_entropy", Z, y), rel=1e-12)
    # one-hot targets give the same accuracy
    assert net.score(X, np.eye(3)[y]) == acc


def test_score_binary_cross_entropy_counts_rows_with_all_labels_right(rng):
    net = Network([4, 5, 3], activation="tanh", loss="binary_cross_entropy",
                  dtype=np.float64, seed=2)
    X = rng.standard_normal((300, 4))
    _, A = _np_output(net, X)
    T = (A > 0.5).astype(float)
    flip = rng.uniform(size=T.shape) < 0.1
    T[flip] = 1 - T[flip]
    expected = np.mean(np.all((A > 0.5) == (T > 0.5), axis=1))
    assert 0 < expected < 1
    assert net.score(X, T) == expected
    assert net.evaluate(X, T)["accuracy"] == expected


@pytest.mark.parametrize("n_out", [1, 3])
def test_evaluate_and_score_regression_against_sklearn(h, rng, n_out):
    from sklearn.metrics import r2_score
    net = Network([3, 8, n_out], activation="tanh", loss="mse", dtype=np.float64, seed=3)
    X = rng.standard_normal((150, 3))
    _, A = _np_output(net, X)
    y = A + 0.3 * rng.standard_normal(A.shape) * np.arange(1, n_out + 1)
    r2 = r2_score(y, A)                               # uniform average over outputs
    res = net.evaluate(X, y)
    assert set(res) == {"loss", "r2"}
    assert res["r2"] == pytest.approx(r2, rel=1e-12)
    assert net.score(X, y) == pytest.approx(r2, rel=1e-12)
    assert res["loss"] == pytest.approx(0.5 * np.mean(np.sum((A - y) ** 2, axis=1)),
                                        rel=1e-12)


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


# ---------------------------------------------------------------------------
# Bad arguments
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, exc, pattern", [
    (dict(epochs=0), ValueError, "epochs"),
    (dict(epochs=-3), ValueError, "epochs"),
    (dict(epochs=2.5), TypeError, "epochs"),
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(batch_size=None), TypeError, "batch_size"),
    (dict(validation_fraction=1), ValueError, "validation_fraction"),
    (dict(validation_fraction=1.5), ValueError, "validation_fraction"),
    (dict(validation_fraction=-0.1), ValueError, "validation_fraction"),
    (dict(validation_fraction=0.001), ValueError, "validation_fraction"),
    (dict(early_stopping=True), ValueError, "early_stopping"),
    (dict(optimizer="rmsprop"), ValueError, "optimizer"),
    (dict(optimizer=42), ValueError, "optimizer"),
    (dict(optimizer="sgd", lr=-0.1), ValueError, "lr"),
    (dict(patience=0), ValueError, "patience"),
    (dict(min_delta=-1.0), ValueError, "min_delta"),
    (dict(clip_norm=0.0), ValueError, "clip_norm"),
    (dict(weight_decay=-0.1), ValueError, "weight_decay"),
    (dict(schedule="warmup"), ValueError, "schedule"),
    (dict(validation_data=(np.zeros((5, 2)), np.zeros(5, int))), ValueError,
     r"validation_data\[0\]"),
    (dict(validation_data=(np.zeros((5, 3)), np.zeros(4, int))), ValueError,
     r"validation_data\[1\]"),
])
def test_bad_fit_arguments(rng, kwargs, exc, pattern):
    X, y = _class_data(rng, n=40)
    net = Network([3, 4, 3], activation="tanh", dtype=np.float64, seed=0)
    before = net.get_params()
    with pytest.raises(exc, match=pattern):
        net.fit(X, y, **{"epochs": 2, **kwargs}, standardize=False)
    assert np.array_equal(net.params, before)


@pytest.mark.parametrize("kwargs", [dict(early_stopping=True), dict(optimizer="rmsprop")],
                         ids=["early_stopping-without-validation", "unknown-optimizer"])
def test_rejected_fit_leaves_the_network_unchanged(rng, kwargs):
    """A fit call rejected for its arguments must not modify the network.

    Fails: training.fit sets net.scaler (standardize=True) and overwrites
    net.training before it checks early_stopping / the optimizer name, so a
    rejected call leaves a Standardizer on the network, which then transforms every
    later input and is reused by the next fit."""
    X, y = _class_data(rng, n=40)
    net = Network([3, 4, 3], activation="tanh", dtype=np.float64, seed=0)
    with pytest.raises(ValueError):
        net.fit(X * 10 + 3, y, epochs=2, standardize=True, **kwargs)
    assert net.scaler is None
    assert net.training == {}


def test_divergence_error_is_exported():
    assert fastmlp.DivergenceError is DivergenceError
    assert issubclass(DivergenceError, FloatingPointError)
