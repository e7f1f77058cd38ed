"""The inference forward pass on several threads (csrc/_parallel_forward.pxi, workers.h)
and fastmlp's own float32 GEMM (csrc/sgemm.h), against a float64 NumPy forward pass.

The paths: one row (GEMV, wide panels), 2-8 rows (W read in place), 9-255 rows (W
packed block by block; each layer's columns shared between threads), 256 rows and more
(row blocks, each through the whole network); with the own GEMM and with the BLAS;
with 1, 2 and all threads; and column counts that are not multiples of 16 or 64, and
K not a multiple of the 128-row blocks."""
import multiprocessing
import threading

import numpy as np
import pytest

import fastmlp
from fastmlp import _kernels, _workers

SHAPES = [
    ([784, 512, 256, 10], "relu", "cross_entropy"),
    ([50, 256, 256, 2], "relu", "cross_entropy"),
    ([7, 33, 65, 3], "tanh", "mse"),
    ([3, 130, 1], "gelu", "mse"),
    ([20, 64, 64, 64, 5], "leaky_relu", "binary_cross_entropy"),
    ([300, 1000, 17], "elu", "cross_entropy"),
    ([129, 200, 4], "softplus", "poisson"),
    ([2, 3, 2], "sigmoid", "cross_entropy"),
]
ROWS = [1, 2, 5, 8, 9, 13, 64, 255, 256, 257, 1031]


@pytest.fixture(params=[True, False], ids=["own-sgemm", "blas"])
def own_sgemm(request):
    before = _kernels.use_own_sgemm(request.param)
    yield request.param
    _kernels.use_own_sgemm(before)


def reference(h, net, X):
    return h.np_forward(net, X)[1][-1]


@pytest.mark.parametrize("sizes, act, loss", SHAPES, ids=lambda v: str(v))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_threads", [1, 2, None])
def test_forward_matches_numpy(h, own_sgemm, sizes, act, loss, dtype, n_threads):
    net = fastmlp.Network(sizes, act, loss, dtype=dtype, seed=0)
    rng = np.random.default_rng(len(sizes))
    tol = 1e-12 if dtype == np.float64 else 2e-5
    for B in ROWS:
        X = rng.standard_normal((B, sizes[0])).astype(dtype)
        out = net.forward(X, n_threads=n_threads)
        assert out.dtype == dtype and out.shape == (B, sizes[-1])
        assert h.rel_err(out, reference(h, net, X)) < tol, (B, own_sgemm)


def test_the_logits_a_fused_loss_takes_are_shared_as_well(h):
    """Plan.forward(logits=True) stops at the output layer's Z on every path."""
    net = fastmlp.Network([40, 300, 300, 12], "relu", "cross_entropy", dtype=np.float32,
                          seed=1)
    for B in (1, 50, 600):
        X = np.random.default_rng(B).standard_normal((B, 40)).astype(np.float32)
        Z = h.np_forward(net, X)[0][-1]
        for helpers in (0, 1, 3):
            out = np.empty((B, 12), np.float32)
            net._plan.forward(X, out, logits=True, helpers=helpers)
            assert h.rel_err(out, Z) < 2e-5, (B, helpers)


def test_threads_calling_at_once_each_get_their_own_answer(h):
    """Several Python threads predicting at once (one job is shared at a time; the
    others run alone) on different networks and batch sizes."""
    nets = [fastmlp.Network([64, 256, 128, 5], "relu", "cross_entropy", seed=s,
                            dtype=np.float32) for s in range(4)]
    rng = np.random.default_rng(0)
    batches = [rng.standard_normal((B, 64)).astype(np.float32) for B in (1, 30, 300, 2)]
    expected = [reference(h, n, X) for n, X in zip(nets, batches)]
    errors = []

    def work(i):
        for _ in range(60):
            out = nets[i].predict_proba(batches[i])
            if h.rel_err(out, expected[i]) > 2e-5:
                errors.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def _child_predicts(net, X, queue):
    queue.put(net.predict_proba(X, n_threads=2))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(),
                    reason="no fork on this platform")
def test_a_forked_child_predicts_with_its_own_helpers(h):
    net = fastmlp.Network([100, 400, 10], "relu", "cross_entropy", seed=0)
    X = np.random.default_rng(0).standard_normal((40, 100)).astype(np.float32)
    net.predict_proba(X, n_threads=2)           # the parent's helpers are running
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_predicts, args=(net, X, queue))
    child.start()
    out = queue.get(timeout=60)
    child.join(timeout=60)
    assert child.exitcode == 0
    assert h.rel_err(out, reference(h, net, X)) < 2e-5


@pytest.mark.skipif(_workers.usable_cores() < 2 or not _kernels.HAVE_HELPERS,
                    reason="one core, or no helper threads on this platform")
def test_helpers_start_on_first_use_and_respect_n_threads():
    net = fastmlp.Network([32, 64, 2], seed=0)
    net.predict(np.zeros((3, 32)))
    assert _kernels.helpers_running() >= 1
    assert _workers.helpers(1) == 0
    assert _workers.helpers(2) == 1
    assert _workers.helpers(None) == min(_workers.usable_cores() - 1, _workers.MAX_HELPERS)


def test_an_enclosing_explicit_thread_count_fixes_the_helpers_too():
    """fit(n_threads=1) keeps its evaluations (forward passes) on one thread."""
    from fastmlp import _threads
    if not _threads.available():
        pytest.skip("scipy's BLAS exposes no thread control")
    with _threads.limit(0, 1):
        assert _workers.helpers() == 0
    with _threads.limit(0, 2):
        assert _workers.helpers() == min(1, _workers.usable_cores() - 1) or \
            not _kernels.HAVE_HELPERS
