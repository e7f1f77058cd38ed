"""Inference over more rows than the plan's workspaces should hold (fastmlp/network.py,
SLICE_BYTES): predict, forward and loss take such a batch in slices, with the
results of one pass over all of it, and the workspaces stay one slice's size."""
import numpy as np
import pytest

import fastmlp
from fastmlp import network
from fastmlp.preprocessing import Standardizer


@pytest.fixture
def small_slices(monkeypatch):
    """Slices of the least rows (1024)."""
    monkeypatch.setattr(network, "SLICE_BYTES", 1)


def nets(dtype):
    plain = fastmlp.Network([40, 300, 70, 4], dtype=dtype, seed=1)
    scaled = fastmlp.Network([40, 300, 70, 4], dtype=dtype, seed=1)
    rng = np.random.default_rng(2)
    scaled.scaler = Standardizer(rng.normal(0, 3, 40), rng.uniform(0.5, 4, 40))
    return plain, scaled


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_a_batch_in_slices_gives_the_pass_over_all_of_it(monkeypatch, h, dtype,
                                                         n_threads):
    X = np.random.default_rng(3).normal(size=(3000, 40)).astype(dtype)
    y = np.random.default_rng(4).integers(0, 4, 3000)
    tol = 1e-12 if dtype == np.float64 else 0
    for net in nets(dtype):
        whole = net.copy()
        monkeypatch.setattr(network, "SLICE_BYTES", 1)
        assert net._slice_rows() == 1024
        sliced = net.forward(X, n_threads=n_threads)
        loss = net.loss(X, y)
        assert net._plan.capacity <= 1024
        monkeypatch.setattr(network, "SLICE_BYTES", 1 << 40)
        assert whole._slice_rows() >= 3000
        np.testing.assert_allclose(sliced, whole.forward(X, n_threads=n_threads),
                                   rtol=tol, atol=0)
        assert whole._plan.capacity >= 3000
        assert loss == pytest.approx(whole.loss(X, y), rel=max(tol, 1e-15))
        Xs = X if net.scaler is None else net.scaler.transform(X, dtype)
        ref = h.np_forward(net, Xs.astype(np.float64))[1][-1]
        assert h.rel_err(sliced, ref) < (1e-12 if dtype == np.float64 else 2e-5)


def test_a_bad_row_in_a_late_slice_is_named(small_slices):
    for net in nets(np.float32):
        X = np.zeros((3000, 40), np.float32)
        X[2999, 7] = np.nan
        with pytest.raises(ValueError, match="X contains NaN or infinity"):
            net.predict(X)
        assert net._plan.capacity <= 1024


def test_slices_keep_the_workspaces_near_their_bound():
    """A wide network's slices hold SLICE_BYTES of workspaces, give or take a row."""
    net = fastmlp.Network([1024, 4096, 4096, 16], dtype=np.float32, seed=0)
    rows = net._slice_rows()
    per_row = net._workspace_bytes(1) + 1024 * 4
    assert rows * per_row <= network.SLICE_BYTES < (rows + 1) * per_row
