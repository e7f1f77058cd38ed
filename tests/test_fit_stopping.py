"""How fit's epoch loop ends and what it reports on the way: early stopping (best epoch
restored, min_delta), callbacks (True stops, every callback sees the last epoch), one
progress line per epoch, and Ctrl-C keeping the completed epochs.

References: per-epoch parameter snapshots, a NumPy forward pass and a torch SGD loop.
"""

import numpy as np
import pytest

from fastmlp import Network, datasets
from fastmlp.optim import SGD

from _training_helpers import _batches, _np_output, _class_data, _Snapshots


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
