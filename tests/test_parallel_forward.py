"""The inference forward pass on several threads (csrc/_parallel_forward.pxi, workers.h)
and fastmlp's own float32 GEMM (csrc/sgemm.h), against a float64 NumPy forward pass.

The paths: one row (GEMV, wide panels; on AVX-512 large layers by blocks of W's
rows), 2-255 rows (each layer's columns shared
between threads), 256 rows and more (row blocks, each through the whole network); with
the own GEMM and with the BLAS; with 1, 2 and all threads; and column counts that are
not multiples of 16 or 64.  The own GEMM alone (_kernels.sgemm_bias) is checked on
every shape class of both its codes (AVX-512 and AVX2), whichever this CPU runs: 1
row, 2-8 rows, 9-128 and more, N below, at and past multiples of the 8, 16 and 64
column panels, odd K, K past the depth up to which W is read in place (2049: packed
in blocks of 128 rows on AVX-512), strided rows."""
import multiprocessing
import os
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
    ([51, 100, 24, 10], "relu", "cross_entropy"),
    ([33, 9, 1], "tanh", "mse"),
]
ROWS = [1, 2, 3, 5, 7, 8, 9, 13, 64, 128, 255, 256, 257, 1031]


def reference(h, net, X):
    return h.np_forward(net, X)[1][-1]


@pytest.mark.parametrize("sizes, act, loss", SHAPES, ids=lambda v: str(v))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_threads", [1, 2, None])
def test_forward_matches_numpy(h, own_code, sizes, act, loss, dtype, n_threads):
    net = fastmlp.Network(sizes, act, loss, dtype=dtype, seed=0)
    rng = np.random.default_rng(len(sizes))
    tol = 1e-12 if dtype == np.float64 else 2e-5
    for B in ROWS:
        X = rng.standard_normal((B, sizes[0])).astype(dtype)
        out = net.forward(X, n_threads=n_threads)
        assert out.dtype == dtype and out.shape == (B, sizes[-1])
        assert h.rel_err(out, reference(h, net, X)) < tol, (B, own_code)


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


@pytest.mark.parametrize("sizes, act, loss", [
    ([601, 523, 600, 10], "relu", "cross_entropy"),
    ([3, 90000, 2], "tanh", "mse"),             # fewer rows of W than blocks
    ([1, 262144, 3], "tanh", "cross_entropy"),  # 262,144 x 3: no whole 16 columns
], ids=lambda v: str(v))
def test_one_row_through_large_layers_is_the_same_on_any_thread_count(h, own_code, sizes,
                                                                      act, loss):
    """One row through layers of 2^18 weights or more, with 0, 1 or 3 helpers, as
    probabilities and as the logits a fused loss takes, within the float32 bound of a
    float64 NumPy pass; on AVX-512, where W is cut into blocks of rows whose sums are
    added in one order (_one_row_by_rows_of_w), the same bits on every thread count
    (the column blocks of the other codes give the BLAS or the AVX2 GEMV calls of
    other widths, whose sums may round differently)."""
    net = fastmlp.Network(sizes, act, loss, dtype=np.float32, seed=3)
    X = np.random.default_rng(8).standard_normal((1, sizes[0])).astype(np.float32)
    Z, A = h.np_forward(net, X)
    for logits, ref in ((False, A[-1]), (True, Z[-1])):
        outs = []
        for helpers in (0, 1, 3):
            out = np.empty((1, sizes[-1]), np.float32)
            net._plan.forward(X, out, logits=logits, helpers=helpers)
            outs.append(out)
        for out in outs:
            assert h.rel_err(out, ref) < 2e-5, (logits, own_code)
        if own_code == "avx512":
            assert all(np.array_equal(outs[0], o) for o in outs[1:]), logits


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


@pytest.mark.skipif(_workers.usable_cores() < 2 or not _kernels.HAVE_HELPERS,
                    reason="one core, or no helper threads on this platform")
def test_helper_counts_count_what_the_passes_shared():
    """One row through 784-512-10 with a helper posts one job of 4 chunks (the first
    layer: on AVX-512, 4 blocks of W's rows; else its 512 columns in 4 blocks of 128;
    the softmax layer runs alone, not posted); on one thread nothing is posted or
    counted.  The helper's chunks are some of the posted ones."""
    net = fastmlp.Network([784, 512, 10], seed=0)
    X = np.ones((1, 784), np.float32)
    before = _kernels.helper_counts()
    for _ in range(20):
        net.predict(X, n_threads=2)
    mid = _kernels.helper_counts()
    assert mid["posted"] + mid["alone"] - before["posted"] - before["alone"] == 20
    assert mid["chunks"] - before["chunks"] == 4 * (mid["posted"] - before["posted"])
    assert 0 <= mid["helped"] - before["helped"] <= mid["chunks"] - before["chunks"]
    for _ in range(5):
        net.predict(X, n_threads=1)
    assert _kernels.helper_counts() == mid


US = 1000      # ns


def test_a_late_helper_costs_a_time_alone_not_a_count_of_jobs():
    """workers.h's account: a helper is late when the caller waited for it more than
    20 µs and longer than its own chunks took; the jobs after run alone for 4, 8, ...
    256 times that wait (at most 1 s), and the multiple halves after 64 jobs in a
    row with a helper on time.  Values by hand."""
    late = (10 * US, 50 * US, 1)                      # 50 µs wait after 10 µs of own work
    assert _kernels.judge_helpers([(10 * US, 15 * US, 1),     # short wait: on time
                                   (100 * US, 50 * US, 1),    # shorter than own work
                                   late, late, late]) == [0, 0, 200 * US, 400 * US, 800 * US]
    # the multiple stops at 256; a long wait stops at 1 s
    assert _kernels.judge_helpers([late] * 9)[-3:] == [256 * 50 * US] * 3
    assert _kernels.judge_helpers([(0, 400_000 * US, 1)]) == [10 ** 9]
    assert _kernels.judge_helpers([late, (0, 300_000 * US, 1)]) == [200 * US, 10 ** 9]
    # 64 jobs helped on time halve the multiple (8 -> 4: the next late one doubles it
    # to 8); jobs the helpers had no part in forgive nothing
    on_time, unhelped = (50 * US, 0, 1), (50 * US, 0, 0)
    assert _kernels.judge_helpers([late, late] + [on_time] * 64 + [late])[-1] == 400 * US
    assert _kernels.judge_helpers([late, late] + [on_time] * 63 + [late])[-1] == 800 * US
    assert _kernels.judge_helpers([late, late] + [unhelped] * 64 + [late])[-1] == 800 * US
    # a late job starts the count of on-time ones again
    assert _kernels.judge_helpers([late, late] + [on_time] * 63 + [late] + [on_time] * 63
                                  + [late])[-1] == 1600 * US


@pytest.mark.skipif(_workers.usable_cores() < 2 or not _kernels.HAVE_HELPERS,
                    reason="one core, or no helper threads on this platform")
def test_large_jobs_after_a_late_helper_share_again_within_its_cost():
    """A late helper must not send the next large jobs to one thread: after one 2 ms
    late, the jobs run alone for 8 ms, about one forward pass of 2,000 rows through
    784-512-10 (one job each); of 12 such passes most are shared again (counted in
    jobs, as before, all 12 ran alone: 8 of them after the first late helper).  A
    second late helper in the passes (a busy or noisy machine) may take two or three."""
    net = fastmlp.Network([784, 512, 10], seed=0)
    X = np.ones((2000, 784), np.float32)
    net.predict(X, n_threads=2)
    assert _kernels.fake_late_helper(2000 * US) == 8000 * US
    before = _kernels.helper_counts()
    for _ in range(12):
        net.predict(X, n_threads=2)
    after = _kernels.helper_counts()
    assert after["alone"] - before["alone"] >= 1
    assert after["posted"] - before["posted"] >= 6


@pytest.mark.skipif(_workers.usable_cores() < 2 or not _kernels.HAVE_HELPERS,
                    reason="one core, or no helper threads on this platform")
def test_helpers_follow_a_users_blas_limit():
    """Without n_threads, a forward pass takes as many threads as the BLAS's usual count
    (every usable core by default): a user's limit of one (threadpoolctl, as here, or
    OPENBLAS_NUM_THREADS=1, as in fastmlp.distributed's workers) keeps it on one."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from fastmlp import _threads
    if not _threads.available():
        pytest.skip("scipy's BLAS exposes no thread control")
    every = min(_workers.usable_cores() - 1, _workers.MAX_HELPERS)
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        assert _workers.helpers(None) == 0
        assert _workers.helpers(2) == 1             # an explicit count still wins
    with threadpoolctl.threadpool_limits(_workers.usable_cores(), user_api="blas"):
        assert _workers.helpers(None) == every


@pytest.mark.skipif(_workers.usable_cores() < 2 or not _kernels.HAVE_HELPERS,
                    reason="one core, or no helper threads on this platform")
def test_idle_helpers_sleep_until_a_job_wakes_them(h):
    """After 20 ms without a job the helpers sleep (no periodic wake-ups that would take
    a core from a training loop's BLAS threads); the next forward passes wake them and
    stay right (float64 NumPy)."""
    import time
    net = fastmlp.Network([784, 512, 10], "relu", "cross_entropy", seed=0)
    X = np.random.default_rng(1).standard_normal((1, 784)).astype(np.float32)
    net.predict_proba(X, n_threads=2)
    # a helper goes to sleep within ~20 ms of running; the deadline only bounds a
    # failure: a virtual CPU the host does not run for seconds (once, 5 s were too
    # few in CI) holds the helper awake in the count until it runs again
    deadline = time.monotonic() + 60
    while (not 1 <= _kernels.helpers_running() == _kernels.helpers_asleep()
           and time.monotonic() < deadline):     # (a helper just started may not run yet)
        time.sleep(0.01)
    assert _kernels.helpers_asleep() == _kernels.helpers_running() >= 1
    for _ in range(200):
        out = net.predict_proba(X, n_threads=2)
        if _kernels.helpers_asleep() == 0:
            break
        time.sleep(0.001)
    assert _kernels.helpers_asleep() == 0
    assert h.rel_err(out, reference(h, net, X)) < 2e-5


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


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="x86-64 only")
def test_the_own_gemm_runs_where_the_cpu_has_avx2_and_fma():
    flags = _cpu_flags()
    if not {"avx2", "fma"} <= flags:
        pytest.skip("no AVX2 with FMA here")
    assert _kernels.HAVE_OWN_SGEMM
    assert _kernels.OWN_SGEMM_ISA == ("avx512" if "avx512f" in flags else "avx2")


GEMM_ROWS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 24, 25, 64, 127, 128, 241]
GEMM_COLS = [1, 2, 3, 7, 8, 9, 10, 15, 16, 17, 24, 33, 63, 64, 65, 88, 100, 257, 512]
GEMM_DEPTHS = [1, 3, 7, 50, 255, 257, 784, 2049]


@pytest.mark.parametrize("M", GEMM_ROWS)
def test_sgemm_bias_matches_float64_numpy_on_every_shape_class(own_code, M):
    """Z := X @ W + b against float64 NumPy, elementwise within the float32 bound
    (K + 2)·eps·(|X|@|W| + |b|); X, W and Z are views with strided rows, and the
    columns of Z's parent array past N must be left alone."""
    own = own_code != "blas"
    rng = np.random.default_rng(M)
    eps = np.finfo(np.float32).eps
    for N in GEMM_COLS:
        for K in GEMM_DEPTHS:
            if M * N * K > 4_000_000:
                continue
            pad = (M + N + K) % 3
            X = rng.standard_normal((M, K + pad)).astype(np.float32)[:, :K]
            W = rng.standard_normal((K, N + 2 * pad)).astype(np.float32)[:, pad:pad + N]
            b = rng.standard_normal(N).astype(np.float32)
            parent = np.full((M, N + 3), 7.0, np.float32)
            Z = parent[:, :N]
            _kernels.sgemm_bias(X, W, b, Z, own)
            X64, W64, b64 = X.astype(np.float64), W.astype(np.float64), b.astype(np.float64)
            ref = X64 @ W64 + b64
            bound = (K + 2) * eps * (np.abs(X64) @ np.abs(W64) + np.abs(b64))
            assert np.all(np.abs(Z - ref) <= bound), (M, N, K, own_code)
            assert np.all(parent[:, N:] == 7.0), (M, N, K, own_code)


@pytest.mark.parametrize("M", [9, 13, 64, 127])
def test_sgemm_bias_copying_weights_as_the_first_tile_runs(own_code, M):
    """Where W is large (over 2^18 floats) or its rows a multiple of 4 KB apart,
    sgemm.h's first tile of a panel copies W's blocks of 128 rows for the others: K
    not a multiple of the block, panels cut short by N, against float64 NumPy."""
    own = own_code != "blas"
    rng = np.random.default_rng(M)
    eps = np.finfo(np.float32).eps
    for K, N, ldw in [(600, 520, 520), (300, 1000, 1024), (7, 100, 1024), (1, 64, 2048),
                      (784, 512, 512), (129, 33, 3072)]:
        X = rng.standard_normal((M, K)).astype(np.float32)
        W = rng.standard_normal((K, ldw)).astype(np.float32)[:, ldw - N:]
        b = rng.standard_normal(N).astype(np.float32)
        Z = np.full((M, N), np.nan, np.float32)
        _kernels.sgemm_bias(X, W, b, Z, own)
        X64, W64, b64 = X.astype(np.float64), W.astype(np.float64), b.astype(np.float64)
        bound = (K + 2) * eps * (np.abs(X64) @ np.abs(W64) + np.abs(b64))
        assert np.all(np.abs(Z - (X64 @ W64 + b64)) <= bound), (M, K, N, own_code)


@pytest.mark.parametrize("M", [1, 5, 6, 13, 128, 241])
def test_sgemm_bias_with_the_relu_as_it_stores(own_code, M):
    """relu: Z := max(X @ W + b, 0) with the ReLU applied as the sums are stored (every
    path: W in place or copied, K past the copied blocks, one row, columns past the
    last whole panel), against float64 NumPy; a NaN row of X and sums of exactly -0
    come out +0, as the ReLU activation pass gives them."""
    own = own_code != "blas"
    rng = np.random.default_rng(M)
    eps = np.finfo(np.float32).eps
    for K, N in [(7, 64), (50, 100), (784, 512), (300, 1000), (2100, 70), (3, 300)]:
        X = rng.standard_normal((M, K)).astype(np.float32)
        W = rng.standard_normal((K, N)).astype(np.float32)
        b = rng.standard_normal(N).astype(np.float32)
        b[::5] = -0.0                   # with X's row of zeros: sums of exactly -0
        if M > 1:
            X[-1] = 0.0
            X[0, K // 2] = np.nan
        Z = np.full((M, N), np.nan, np.float32)
        _kernels.sgemm_bias(X, W, b, Z, own, relu=True)
        X64, W64, b64 = X.astype(np.float64), W.astype(np.float64), b.astype(np.float64)
        with np.errstate(invalid="ignore"):
            ref = X64 @ W64 + b64
        want = np.where(ref > 0, ref, 0.0)
        bound = (K + 2) * eps * (np.abs(np.nan_to_num(X64)) @ np.abs(W64) + np.abs(b64))
        assert np.all(np.abs(Z - want) <= bound), (M, K, N, own_code)
        assert not np.signbit(Z).any(), (M, K, N, own_code)
        if M > 1:
            assert np.all(Z[0] == 0), (M, K, N, own_code)


@pytest.mark.parametrize("n_threads", [1, 2])
def test_one_row_through_layers_wider_than_a_block_of_sums(h, own_code, n_threads):
    """One row through layers of more than 1024 outputs (sgemm_avx2.h sums a row
    1024 columns at a time) and of odd widths, whole or cut into column blocks."""
    for sizes in ([64, 2056, 3], [700, 1100, 1030, 5]):
        net = fastmlp.Network(sizes, "tanh", "mse", dtype=np.float32, seed=4)
        X = np.random.default_rng(5).standard_normal((1, sizes[0])).astype(np.float32)
        out = net.forward(X, n_threads=n_threads)
        assert h.rel_err(out, reference(h, net, X)) < 2e-5, (sizes, own_code)


def test_large_batches_through_the_own_gemm_row_blocks(h, own_code):
    """Batches cut into row blocks of more than 128 rows (B > 32 blocks of 128), each
    block through sgemm.h on an AVX2 CPU (up to OWN_SGEMM_ROWS_AVX2 rows)."""
    for sizes in ([50, 256, 256, 2], [7, 33, 65, 3]):
        net = fastmlp.Network(sizes, "relu", "cross_entropy", dtype=np.float32, seed=2)
        X = np.random.default_rng(3).standard_normal((6007, sizes[0])).astype(np.float32)
        for n_threads in (1, None):
            out = net.forward(X, n_threads=n_threads)
            assert h.rel_err(out, reference(h, net, X)) < 2e-5, (sizes, n_threads)


def test_forward_calls_blas_only_where_the_own_gemm_does_not_serve():
    """The BLAS's thread count is set around a forward pass only when OpenBLAS could
    run one of its calls on several threads (M·N·K above 262,144): float64, no own
    GEMM on this CPU, more rows than it serves, or the columns past the own AVX-512
    GEMM's last whole 64-column panel making such a call (hand-computed below)."""
    own = _kernels.HAVE_OWN_SGEMM
    plans = {name: fastmlp.Network(sizes, dtype=dtype, seed=0)._plan
             for name, sizes, dtype in [("f64", [784, 128, 10], np.float64),
                                        ("panels", [784, 128, 10], np.float32),
                                        ("tail", [784, 100, 10], np.float32)]}
    assert plans["f64"].forward_calls_blas(1)
    assert plans["panels"].forward_calls_blas(1) == (not own)
    assert plans["panels"].forward_calls_blas(100_000)
    # 784-100-10: the own GEMM takes 64 columns, the BLAS 36 of 784 rows:
    # 9 rows give 9·784·36 = 254,016 (one thread), 10 rows 282,240
    tail = own and _kernels.own_isa() == "avx512"
    assert plans["tail"].forward_calls_blas(9) == (not own)
    assert plans["tail"].forward_calls_blas(10) == (tail or not own)
    before = _kernels.use_own_sgemm(False)
    try:
        assert plans["panels"].forward_calls_blas(1)
    finally:
        _kernels.use_own_sgemm(before)


def test_the_avx2_code_leaves_layers_of_a_million_weights_to_the_blas(h, own_code):
    """On the AVX2 code a layer of 2^20 weights or more goes to the BLAS (faster there),
    so one row through 1024-1024-10 gives the BLAS a 1024×1024×1 call, above OpenBLAS's
    one-thread 262,144; 1000-1000-10 stays on the own GEMM.  The AVX-512 code keeps
    both (1024 columns are whole panels; 1000 leave 40: 40,000).  Either way the
    output is the float64 reference's."""
    big, under = (fastmlp.Network(sizes, "tanh", "mse", dtype=np.float32, seed=1)
                  for sizes in ([1024, 1024, 10], [1000, 1000, 10]))
    assert big._plan.forward_calls_blas(1) == (own_code != "avx512")
    assert under._plan.forward_calls_blas(1) == (own_code == "blas")
    X = np.random.default_rng(2).standard_normal((130, 1024)).astype(np.float32)
    for rows in (1, 7, 130):
        out = big.forward(X[:rows], n_threads=1)
        assert h.rel_err(out, reference(h, big, X[:rows])) < 2e-5, (rows, own_code)


@pytest.mark.skipif(not fastmlp._threads.available(),
                    reason="cannot read the BLAS's thread count here")
@pytest.mark.parametrize("n_threads", [1, None])
def test_the_blas_runs_one_thread_inside_a_forward_pass_that_asks_for_it(n_threads):
    """A pass whose BLAS calls OpenBLAS could split (the 36 columns past the own
    GEMM's 64 of a 100-wide layer, from 64 rows) runs them on one thread when the
    call asks for one, or when helper threads share the pass; the count is put back
    after it."""
    net = fastmlp.Network([784, 100, 10], dtype=np.float32, seed=0)
    X = np.random.default_rng(0).standard_normal((64, 784)).astype(np.float32)
    plan, seen = net._plan, []

    class Spy:              # the Plan, recording the BLAS's count when the pass runs
        def __getattr__(self, name):
            return getattr(plan, name)

        def infer(self, X, helpers=0, *inputs):
            seen.append((fastmlp._threads.current(), helpers))
            return plan.infer(X, helpers, *inputs)

    before = fastmlp._threads.current()
    net._plan = Spy()
    try:
        net.forward(X, n_threads=n_threads)
    finally:
        net._plan = plan
    (count, helpers), = seen
    if n_threads == 1 or helpers:
        assert count == 1
    assert fastmlp._threads.current() == before
