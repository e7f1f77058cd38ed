"""The fast path for inputs that are already what the kernels take (C-contiguous, the
network's dtype, the right width), and the finiteness check every input goes through."""
import numpy as np
import pytest

import fastmlp
from fastmlp import _kernels


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_all_finite_agrees_with_numpy_on_every_bit_pattern_class(dtype):
    fi = np.finfo(dtype)
    specials = [0.0, -0.0, fi.max, -fi.max, fi.tiny, fi.smallest_subnormal, np.inf,
                -np.inf, np.nan, -np.nan]
    for value in specials:
        for n in (1, 3, 8, 33, 1001, 70001):     # 70001: the call without the GIL
            for pos in (0, n // 2, n - 1):
                a = np.ones(n, dtype)
                a[pos] = value
                assert _kernels.all_finite(a) == bool(np.isfinite(a).all()), (value, n, pos)
    # random bit patterns: about one float32 in 256 is NaN or inf
    raw = np.random.default_rng(0).integers(0, 2**63, 20000, dtype=np.uint64)
    a = raw.view(dtype)
    for start in range(0, a.size, 61):
        part = a[start:start + 61]
        assert _kernels.all_finite(part) == bool(np.isfinite(part).all())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_layout_gives_the_numpy_answer(dtype):
    """Contiguous (fast path), strided, Fortran-ordered, byte-swapped and other-precision
    batches: the same probabilities as a NumPy forward pass."""
    rng = np.random.default_rng(1)
    net = fastmlp.Network([20, 8, 3], dtype=dtype, seed=0)
    X = rng.standard_normal((10, 20))
    H = np.maximum(X @ net.layers[0].W.astype(np.float64) + net.layers[0].b, 0)
    Z = H @ net.layers[1].W.astype(np.float64) + net.layers[1].b
    P = np.exp(Z - Z.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    wide = np.zeros((10, 40), dtype)
    wide[:, ::2] = X
    other = np.float64 if dtype == np.float32 else np.float32
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for batch in (X.astype(dtype), wide[:, ::2], np.asfortranarray(X.astype(dtype)),
                  X.astype(np.dtype(dtype).newbyteorder())):
        np.testing.assert_allclose(net.predict_proba(batch), P, atol=tol, rtol=0)
    # given in the other precision: rounded to float32 on one side or the other
    np.testing.assert_allclose(net.predict_proba(X.astype(other)), P, atol=1e-5, rtol=0)


class _Subclass(np.ndarray):
    pass


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ready_matrix_takes_only_what_the_kernels_take(h, dtype):
    """The compiled fast check says yes only for an exact, C-contiguous, aligned,
    native-order, finite (rows, 6) array of the dtype; anything else goes to the full
    check (and an unaligned batch there still gives the NumPy answer)."""
    d = np.dtype(dtype)
    X = np.arange(12, dtype=dtype).reshape(2, 6)
    assert _kernels.ready_matrix(X, d, 6, 10)
    raw = np.zeros(X.nbytes + 1, np.uint8)
    unaligned = raw[1:].view(dtype).reshape(2, 6)
    unaligned[...] = X
    other = np.float64 if dtype == np.float32 else np.float32
    for bad in (X.tolist(), X[:, ::2], np.asfortranarray(X), X.astype(other),
                X.astype(d.newbyteorder()), X.reshape(1, 2, 6), X[:0], unaligned,
                X.view(_Subclass), np.where(X == 5, np.nan, X).astype(dtype),
                np.where(X == 5, -np.inf, X).astype(dtype)):
        assert not _kernels.ready_matrix(bad, d, 6, 10)
    assert not _kernels.ready_matrix(X, d, 5, 10)            # columns
    assert not _kernels.ready_matrix(X, d, 6, 1)             # rows above the limit
    assert not _kernels.ready_matrix(X, dtype, 6, 10)        # a type, not an np.dtype
    assert not _kernels.ready_matrix(X.astype(np.int32), np.dtype(np.int32), 6, 10)
    net = fastmlp.Network([6, 4, 3], dtype=dtype, seed=0)
    ref = h.np_forward(net, X)[1][-1]         # float64 NumPy, from the aligned copy
    assert h.rel_err(net.predict_proba(unaligned), ref) < h.tol(dtype)


def test_a_contiguous_batch_is_still_fully_checked():
    net = fastmlp.Network([4, 3, 2], seed=0)
    before = net.get_params()
    X = np.ones((5, 4), np.float32)
    y = np.zeros(5, int)
    for bad, message in [(np.inf, "X contains NaN or infinity"),
                         (np.nan, "X contains NaN or infinity")]:
        Xb = X.copy()
        Xb[4, 3] = bad
        with pytest.raises(ValueError, match=message):
            net.train_step(Xb, y, lr=0.1)
    with pytest.raises(ValueError, match="X must have 4 columns"):
        net.train_step(np.ones((5, 5), np.float32), y, lr=0.1)
    with pytest.raises(ValueError, match="X is empty"):
        net.train_step(np.ones((0, 4), np.float32), y[:0], lr=0.1)
    with pytest.raises(ValueError, match="y must have shape"):
        net.train_step(X, np.zeros(4, int), lr=0.1)
    np.testing.assert_array_equal(net.get_params(), before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_plan_infer_allocates_the_output_and_refuses_what_it_cannot_index(h, dtype):
    """Plan.infer (the compiled path of predict: the output array and the forward pass
    in one call) gives the NumPy answer at 1 row, a few rows and a batch cut into row
    blocks, and refuses, without touching memory, any X whose layout it would misread."""
    rng = np.random.default_rng(2)
    net = fastmlp.Network([30, 16, 5], dtype=dtype, seed=0)
    for rows, helpers in [(1, 0), (1, 1), (7, 0), (300, 1)]:
        X = rng.standard_normal((rows, 30)).astype(dtype)
        out = net._plan.infer(X, helpers)
        assert out.shape == (rows, 5) and out.dtype == dtype and out.flags.c_contiguous
        assert h.rel_err(out, h.np_forward(net, X)[1][-1]) < h.tol(dtype)
    X = np.ones((4, 30), dtype)
    other = np.float64 if dtype == np.float32 else np.float32
    strided = np.ones((4, 60), dtype)[:, ::2]
    for bad in (strided, np.asfortranarray(X), X.astype(other), X[:0], X.reshape(2, 2, 30),
                X[0], np.ones((4, 29), dtype)):
        with pytest.raises(ValueError, match="X must be a C-contiguous"):
            net._plan.infer(bad)


def test_ready_labels_takes_only_what_the_kernels_take(h):
    """The compiled label check says yes only for an exact, contiguous, native intp
    array of the batch's length with every label in [0, n_classes); anything else goes
    to the full check, which names the problem."""
    y = np.array([0, 2, 1, 2], np.intp)
    assert _kernels.ready_labels(y, 4, 3)
    raw = np.zeros(y.nbytes + 1, np.uint8)
    unaligned = raw[1:].view(np.intp)
    unaligned[...] = y
    for bad in (y.tolist(), y.astype(np.int32), y.astype(np.float64), y[::2], y[:3],
                y.reshape(2, 2), y.astype(np.dtype(np.intp).newbyteorder()), unaligned,
                np.array([0, 3, 1, 2], np.intp), np.array([0, -1, 1, 2], np.intp)):
        assert not _kernels.ready_labels(bad, 4, 3), bad
    net = fastmlp.Network([2, 4, 3], seed=0)
    X = np.ones((4, 2), np.float32)
    before = net.get_params()
    with pytest.raises(ValueError, match=r"y holds class label 3, outside \[0, 3\)"):
        net.train_step(X, np.array([0, 3, 1, 2], np.intp), lr=0.1)
    with pytest.raises(ValueError, match=r"y must have shape \(4,\)"):
        net.train_step(X, y[:3], lr=0.1)
    np.testing.assert_array_equal(net.get_params(), before)
    # both paths give the cross-entropy NumPy computes (float64, from the same
    # weights), and the full check's int32 labels make the same step as intp ones
    P = h.np_forward(net, X)[1][-1]
    ref = -np.mean(np.log(P[np.arange(4), y]))
    a, b = net.copy(), net.copy()
    loss_a, loss_b = a.train_step(X, y, lr=0.1), b.train_step(X, y.astype(np.int32), lr=0.1)
    assert abs(loss_a - ref) < 1e-5 * abs(ref) and abs(loss_b - ref) < 1e-5 * abs(ref)
    np.testing.assert_array_equal(a.get_params(), b.get_params())


def test_ready_mse_targets_take_the_fast_path_and_the_rest_the_full_check(h):
    """MSE targets that are already what the kernels take (C-contiguous, the network's
    dtype, the batch's rows, finite) skip check_targets; the step they make is the one
    the full check's other layouts make, the loss is NumPy's, and bad targets are
    still refused by name, the parameters as they were."""
    rng = np.random.default_rng(3)
    net = fastmlp.Network([3, 5, 2], activation="tanh", loss="mse", seed=0)
    X = rng.standard_normal((6, 3)).astype(np.float32)
    Y = rng.standard_normal((6, 2)).astype(np.float32)
    T, labels = net._targets(Y, 6)
    assert T is Y and labels is None
    ref = np.mean(np.sum((h.np_forward(net, X)[1][-1] - Y) ** 2, axis=1)) / 2
    steps = []
    for y in (Y, np.asfortranarray(Y), Y.astype(np.float64), Y.tolist()):
        other = net.copy()
        loss = other.train_step(X, y, lr=0.1)
        assert abs(loss - ref) < 1e-5 * abs(ref), (loss, ref)
        steps.append(other.get_params())
    for params in steps[1:]:
        np.testing.assert_array_equal(params, steps[0])
    before = net.get_params()
    for bad, message in [(np.where(np.arange(12).reshape(6, 2) == 5, np.nan, Y), "y contains NaN"),
                         (Y[:5], r"y must have shape \(6, 2\)"),
                         (np.ones((6, 3), np.float32), r"y must have shape \(6, 2\)")]:
        with pytest.raises(ValueError, match=message):
            net.train_step(X, bad.astype(np.float32), lr=0.1)
    np.testing.assert_array_equal(net.get_params(), before)


def test_a_step_the_blas_runs_on_one_thread_sets_nothing():
    """A training step whose GEMMs OpenBLAS runs on one thread by itself, no count asked
    for, takes no helper and leaves the BLAS's thread count alone; asked for 2 threads,
    a large enough one shares with a helper."""
    from fastmlp import _threads, _workers
    if not _threads.available():
        pytest.skip("fastmlp cannot read this BLAS's thread count")
    before = _threads.current()
    with _workers.step_threads(_threads.OPENBLAS_SINGLE) as step:
        assert step.helpers == 0 and _threads.current() == before
    if _workers.usable_cores() >= 2 and _kernels.HAVE_HELPERS:
        with _workers.step_threads(_threads.OPENBLAS_SINGLE * 64, 2) as step:
            assert step.helpers == 1 and _threads.current() == 1
    assert _threads.current() == before
