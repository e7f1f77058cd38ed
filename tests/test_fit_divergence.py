"""Divergence during fit: DivergenceError names the epoch and step, and the network keeps
the last finite parameters.

References: per-epoch parameter snapshots, a replayed plain-SGD loop over the same
batches and a NumPy forward pass.
"""
import math

import numpy as np
import pytest

import fastmlp
from fastmlp import DivergenceError, Network

from _training_helpers import _batches, _np_output, _Snapshots


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
        net.fit(X, y, epochs=10, batch_size=bs, optimizer="sgd", lr=lr, shuffle=False,
                standardize=False)
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
        net.fit(X, y, epochs=3, batch_size=16, optimizer="sgd", lr=1e308, shuffle=False,
                standardize=False)
    assert (info.value.epoch, info.value.step) == (1, 1)
    assert np.all(np.isfinite(net.params)), \
        f"{np.sum(~np.isfinite(net.params))} of {net.n_params} parameters are non-finite"
    assert np.array_equal(net.params, before)


def test_divergence_error_is_exported():
    assert fastmlp.DivergenceError is DivergenceError
    assert issubclass(DivergenceError, FloatingPointError)
