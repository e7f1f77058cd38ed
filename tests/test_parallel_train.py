"""A training step shared with fastmlp's helper threads (csrc/_parallel_train.pxi,
csrc/_optim_shared.pxi, fastmlp._workers.step_threads).

The step's large GEMMs are cut into one block per thread and the optimizer update into
element ranges.  The references: PyTorch autograd for the shared gradient, and the same
update on one thread, whose agreement with torch.optim tests/test_optim.py checks (the
shared update must equal it bit for bit: every pass is elementwise).  The block and
range edges are exercised with sizes that are not multiples of 16."""
import os
import re
import threading
import time

import numpy as np
import pytest

import fastmlp
from fastmlp import _kernels, _optim, _threads, _workers
from fastmlp.optim import SGD, Adam, AdamW

SHARE = 131072 + 37          # parameters: above the shared update's minimum, odd


@pytest.fixture(scope="module")
def helpers():
    n = _workers.helpers(2)
    if n == 0:
        pytest.skip("one usable core (or no helper threads on this platform)")
    return n


def _update(kind, dtype, helpers, steps=3, grad_scale=1e-2, nan_at=None):
    rng = np.random.default_rng(7)
    p = rng.standard_normal(SHARE).astype(dtype)
    g = (rng.standard_normal(SHARE) * grad_scale).astype(dtype)
    if nan_at is not None:
        g[nan_at] = np.nan
    mask = (rng.random(SHARE) < 0.7).astype(np.uint8)
    m, v = np.zeros_like(p), np.zeros_like(p)
    status = []
    for t in range(1, steps + 1):
        if kind == "sgd":
            status.append(_optim.sgd_step(p, g, m, mask, 0.1, 0.9, True, 1e-3, 0.0, t == 1,
                                          False, helpers))
        elif kind == "sgd-plain":
            status.append(_optim.sgd_step(p, g, None, mask, 0.1, 0.0, False, 0.0, 0.0,
                                          t == 1, False, helpers))
        else:
            status.append(_optim.adam_step(p, g, m, v, mask, 1e-3, 0.9, 0.999, 1e-8, t,
                                           0.01, kind == "adamw", 0.0, False, helpers))
    return p, m, v, status


def _numpy_update(kind, steps=3, grad_scale=1e-2):
    """The same three updates as _update, float64, written out in NumPy (the rules of
    csrc/_optim.pyx's header, in its order of operations)."""
    rng = np.random.default_rng(7)
    p = rng.standard_normal(SHARE)
    g = rng.standard_normal(SHARE) * grad_scale
    mask = (rng.random(SHARE) < 0.7).astype(np.float64)
    m, v = np.zeros_like(p), np.zeros_like(p)
    for t in range(1, steps + 1):
        if kind in ("sgd", "sgd-plain"):
            lr, mu, wd = (0.1, 0.9, 1e-3) if kind == "sgd" else (0.1, 0.0, 0.0)
            d = g + (wd * mask) * p
            if mu:
                m = d.copy() if t == 1 else mu * m + d
                d = d + mu * m                                  # Nesterov
            p = p - lr * d
        else:
            lr, b1, b2, eps, wd = 1e-3, 0.9, 0.999, 1e-8, 0.01
            cw, dk = (0.0, lr * wd) if kind == "adamw" else (wd, 0.0)
            d = g + (cw * mask) * p
            p = p * (1 - dk * mask)
            m = b1 * m + (1 - b1) * d
            v = b2 * v + (1 - b2) * d * d
            step, inv_rc2 = lr / (1 - b1 ** t), 1 / np.sqrt(1 - b2 ** t)
            p = p - step * m / (np.sqrt(v) * inv_rc2 + eps)
    return p, m, v


@pytest.mark.parametrize("kind", ["adam", "adamw", "sgd", "sgd-plain"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shared_update_equals_one_thread_bitwise(helpers, kind, dtype):
    """The ranges give the one-thread loop's bits; in float64 both agree with NumPy."""
    alone = _update(kind, dtype, 0)
    shared = _update(kind, dtype, helpers)
    assert alone[3] == shared[3] == [_optim.STATUS["ok"]] * 3
    for a, b in zip(alone[:3], shared[:3]):
        assert np.array_equal(a, b)
    if dtype == np.float64:
        for got, want in zip(shared[:2], _numpy_update(kind)):
            np.testing.assert_allclose(got, want, rtol=1e-14, atol=0)


@pytest.mark.parametrize("where", [0, SHARE // 2, SHARE - 1])
def test_shared_update_refuses_a_nan_gradient_anywhere(helpers, where):
    """A NaN in any range (the first, a middle one, the short last one) is found and
    nothing is written."""
    rng = np.random.default_rng(7)
    before = rng.standard_normal(SHARE).astype(np.float32)
    p, m, v, status = _update("adam", np.float32, helpers, steps=1, nan_at=where)
    assert status == [_optim.STATUS["nonfinite_grad"]]
    assert np.array_equal(p, before) and not m.any() and not v.any()


def test_shared_update_sees_overflow_risk_in_any_range(helpers):
    """The bound behind "unsafe" comes from max |p| over every range."""
    p = np.ones(SHARE)
    p[SHARE - 3] = 1e308
    for h in (0, helpers):
        q = p.copy()
        status = _optim.sgd_step(q, np.ones(SHARE), None, np.ones(SHARE, np.uint8), 1e10,
                                 0.0, False, 0.0, 0.0, True, False, h)
        assert status == _optim.STATUS["unsafe"] and np.array_equal(q, p)


def _plan_gradient(net, X, y, helpers, dropout=None):
    T, labels = net._targets(y, X.shape[0])
    with _threads.limit(X.shape[0] * net._widest_w, 1):
        value = net._plan.gradient(net._inputs(X), T, labels, net.l2, None,
                                   dropout=dropout, helpers=helpers)
    return value, net._grads.copy()


NETS = [([301, 257, 129, 10], "relu", "cross_entropy"),
        ([64, 200, 300, 3], "tanh", "mse"),
        ([130, 400, 1], "gelu", "binary_cross_entropy")]


@pytest.mark.parametrize("sizes, act, loss", NETS, ids=lambda v: str(v))
@pytest.mark.parametrize("batch", [48, 300])
def test_shared_gradient_matches_torch(h, torch_ref, helpers, sizes, act, loss, batch):
    """float64: the shared step's loss and gradient against PyTorch autograd, for a
    column-shared forward (48 rows) and a row-block forward (300 rows)."""
    net = fastmlp.Network(sizes, act, loss, dtype=np.float64, seed=1, l2=1e-3)
    rng = np.random.default_rng(3)
    X = rng.standard_normal((batch, sizes[0]))
    y = h.make_targets(rng, loss, batch, sizes[-1])
    value, grad = _plan_gradient(net, X, y, helpers)
    ref_value, ref_grad, _ = torch_ref(net).loss_and_grads(X, y)
    assert abs(value - ref_value) <= 1e-12 * max(1.0, abs(ref_value))
    assert h.rel_err(grad, ref_grad) < 1e-12


@pytest.mark.parametrize("sizes, act, loss", NETS, ids=lambda v: str(v))
def test_shared_gradient_float32_close_to_one_thread(h, helpers, sizes, act, loss):
    net = fastmlp.Network(sizes, act, loss, dtype=np.float32, seed=2)
    rng = np.random.default_rng(4)
    X = rng.standard_normal((96, sizes[0])).astype(np.float32)
    y = h.make_targets(rng, loss, 96, sizes[-1])
    v1, g1 = _plan_gradient(net, X, y, 0)
    v2, g2 = _plan_gradient(net, X, y, helpers)
    assert abs(v1 - v2) <= 1e-5 * max(1.0, abs(v1))
    assert h.rel_err(g2, g1) < 1e-5


def test_shared_gradient_with_dropout_equals_one_thread(h, helpers):
    """With dropout the forward keeps its per-layer path (shared GEMMs, masks drawn on
    the caller); float64 sums are those of one thread."""
    net = fastmlp.Network([200, 300, 150, 4], "relu", "cross_entropy", dtype=np.float64,
                          seed=5, dropout=0.3)
    rng = np.random.default_rng(6)
    X = rng.standard_normal((64, 200))
    y = rng.integers(0, 4, 64)
    v1, g1 = _plan_gradient(net, X, y, 0, dropout=(11, 3))
    v2, g2 = _plan_gradient(net, X, y, helpers, dropout=(11, 3))
    assert abs(v1 - v2) <= 1e-13 * abs(v1) and h.rel_err(g2, g1) < 1e-13


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_fit_on_two_threads_matches_one_thread(h, helpers, optimizer):
    """fit(n_threads=2) shares every step; float64 weights after 3 epochs agree with
    fit(n_threads=1) to rounding."""
    rng = np.random.default_rng(8)
    X = rng.standard_normal((600, 160))
    y = (X[:, :3].sum(axis=1) > 0).astype(int) + (X[:, 3] > 1)
    nets = []
    for n_threads in (1, 2):
        net = fastmlp.Network([160, 512, 256, 3], "relu", "cross_entropy",
                              dtype=np.float64, seed=9)
        net.fit(X, y, epochs=3, batch_size=128, optimizer=optimizer, lr=1e-2, seed=1,
                n_threads=n_threads)
        nets.append(net)
    assert h.rel_err(nets[1].get_params(), nets[0].get_params()) < 1e-10


def test_step_threads_choice():
    """Small steps never share; explicit n_threads=1 never shares; a large step shares
    with every helper when the BLAS's threads can be set, unless the user limited the
    BLAS to one thread (threadpoolctl)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    assert _workers.step_threads(1000, None).helpers == 0
    assert _workers.step_threads(1 << 30, 1).helpers == 0
    want = _workers.helpers(2) if _threads.available() else 0
    assert _workers.step_threads(1 << 30, 2).helpers == want
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        assert _workers.step_threads(1 << 30, None).helpers == 0
        assert _workers.step_threads(1 << 30, 2).helpers == want
    # an enclosing call's count (the CLI's --threads) wins over the usual one
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        with _threads.limit(0, 1):
            assert _workers.step_threads(1 << 30, None).helpers == 0
        with _threads.limit(0, 2):
            assert _workers.step_threads(1 << 30, None).helpers == want


def test_unshared_steps_leave_a_blas_they_cannot_limit_its_gemms(h, monkeypatch):
    """Where fastmlp cannot set the BLAS's threads, a step no helper shares must not
    run its GEMMs on the own one-thread kernels (the BLAS may have several): step_threads
    turns them off.  Either way a float32 gradient agrees with float64."""
    before = _kernels.own_kernels_unshared(True)
    try:
        monkeypatch.setattr(_threads, "available", lambda: False)
        assert _workers.step_threads(1 << 30, None).helpers == 0
        assert _kernels.own_kernels_unshared(True) is False    # it was turned off
        net = fastmlp.Network([40, 70, 3], seed=4)
        ref = net.astype(np.float64)
        rng = np.random.default_rng(5)
        X, y = rng.standard_normal((33, 40)), rng.integers(0, 3, 33)
        ref.gradient(X, y)
        for own in (False, True):
            _kernels.own_kernels_unshared(own)
            net.gradient(X.astype(np.float32), y)
            assert h.rel_err(net.grads, ref.grads) < 1e-4, own
    finally:
        _kernels.own_kernels_unshared(before)


def test_helpers_sleep_once_training_stops(helpers):
    """Between shared steps the helpers spin (the next job comes within microseconds);
    once training stops they go to sleep (workers.h: after 20 ms without a job)."""
    net = fastmlp.Network([784, 512, 10], "relu", "cross_entropy", seed=0)
    X = np.random.default_rng(0).standard_normal((128, 784)).astype(np.float32)
    y = np.arange(128) % 10
    opt = Adam()
    for _ in range(3):
        net.train_step(X, y, optimizer=opt, n_threads=2)
    deadline = time.monotonic() + 60     # ~20 ms when the helper runs (see
                                         # test_parallel_forward: a stalled virtual CPU)
    while not 1 <= _kernels.helpers_running() == _kernels.helpers_asleep():
        assert time.monotonic() < deadline, "a helper kept spinning after training"
        time.sleep(0.001)


def test_two_threads_training_at_once(h, helpers):
    """Two Python threads each fit their own network with shared steps: one holds the
    helpers, the other runs its steps alone (workers.h); both equal a fit made alone."""
    rng = np.random.default_rng(10)
    X = rng.standard_normal((400, 200))
    y = rng.integers(0, 5, 400)

    def train(seed, out):
        net = fastmlp.Network([200, 384, 5], "relu", "cross_entropy", dtype=np.float64,
                              seed=seed)
        net.fit(X, y, epochs=2, batch_size=100, optimizer=AdamW(lr=1e-3), seed=seed,
                n_threads=2)
        out[seed] = net.get_params()

    alone, together = {}, {}
    for seed in (1, 2):
        train(seed, alone)
    threads = [threading.Thread(target=train, args=(seed, together)) for seed in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for seed in (1, 2):
        assert h.rel_err(together[seed], alone[seed]) < 1e-10


def test_fused_sgd_step_shared_matches_torch(h, torch_ref, helpers):
    """train_step(lr=...) folds SGD into the shared GEMMs; against torch.optim.SGD."""
    net = fastmlp.Network([300, 400, 6], "tanh", "cross_entropy", dtype=np.float64, seed=3)
    rng = np.random.default_rng(11)
    batches = [(rng.standard_normal((64, 300)), rng.integers(0, 6, 64)) for _ in range(3)]
    ref = torch_ref(net)
    losses = [net.train_step(X, y, lr=0.05, n_threads=2) for X, y in batches]
    ref_losses = ref.sgd_steps(batches, 0.05)
    assert np.allclose(losses, ref_losses, rtol=1e-12, atol=0)
    assert h.rel_err(net.get_params(), ref.flat(ref.parameters())) < 1e-12


@pytest.mark.parametrize("shared", [False, True], ids=["one-thread", "shared"])
def test_float32_steps_on_every_gemm_code_match_torch(h, torch_ref, own_code, shared):
    """float32 gradients and fused SGD steps, on each code the GEMMs can take here
    (own_code: both own codes on an AVX-512 CPU, and the BLAS), blockwise against
    PyTorch autograd in float64 from the same float32 parameters.  The layer widths
    give every layer a tail of columns past the 8-, 16- and 64-column tiles, and a
    batch of 40 rows a last tile of fewer than 6."""
    n = _workers.helpers(2) if shared else 0
    if shared and n == 0:
        pytest.skip("one usable core (or no helper threads on this platform)")
    net = fastmlp.Network([257, 203, 75, 9], "tanh", "cross_entropy", dtype=np.float32,
                          seed=5, l2=1e-3)
    rng = np.random.default_rng(6)
    X = rng.standard_normal((40, 257)).astype(np.float32)
    y = rng.integers(0, 9, 40)
    value, grad = _plan_gradient(net, X, y, n)
    ref_value, ref_grad, _ = torch_ref(net).loss_and_grads(X, y)
    assert abs(value - ref_value) <= 1e-5 * abs(ref_value)
    for block, err in h.blockwise_rel_err(net, grad, ref_grad).items():
        assert err < 1e-4, (block, err)
    before = net.get_params().astype(np.float64)
    net.train_step(X, y, lr=0.5, n_threads=n + 1)
    assert h.rel_err(net.get_params(), before - 0.5 * ref_grad) < 1e-5


def test_use_isa_takes_only_a_code_this_cpu_runs():
    start = _kernels.own_isa()         # the CPU's, or FASTMLP_ISA's
    with pytest.raises(ValueError, match="isa must be one of"):
        _kernels.use_isa("sse2")
    if "avx512" not in _kernels.OWN_SGEMM_ISAS:
        with pytest.raises(ValueError, match="isa must be one of"):
            _kernels.use_isa("avx512")
    for isa in _kernels.OWN_SGEMM_ISAS:
        before = _kernels.use_isa(isa)
        try:
            assert _kernels.own_isa() == isa
        finally:
            _kernels.use_isa(before)
    assert _kernels.own_isa() == start


@pytest.mark.parametrize("isa", ["avx2", "avx3"])
def test_fastmlp_isa_chooses_the_code_at_import(tmp_path, isa):
    """FASTMLP_ISA=avx2 runs the AVX2 code from the start (on any CPU that has it); a
    name this CPU cannot run gives a warning that names the variable, and the CPU's
    own code runs."""
    import subprocess
    import sys
    code = "from fastmlp import _kernels; print(_kernels.own_isa() or 'blas')"
    env = dict(os.environ, FASTMLP_ISA=isa, PYTHONWARNINGS="default")
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    if isa == "avx2" and "avx2" in _kernels.OWN_SGEMM_ISAS:
        assert proc.stdout.split() == ["avx2"], proc.stderr
        assert "FASTMLP_ISA" not in proc.stderr
    else:
        assert proc.stdout.split() == [_kernels.OWN_SGEMM_ISA or "blas"]
        assert "RuntimeWarning: FASTMLP_ISA must be one of" in proc.stderr


def test_optimizer_step_on_user_vectors_matches_numpy():
    """opt.step on a user's own vectors (on the calling thread: a shared update pays
    only inside fastmlp's shared steps, where no OpenBLAS thread holds the cores)."""
    rng = np.random.default_rng(12)
    p = rng.standard_normal(SHARE)
    g = rng.standard_normal(SHARE)
    q = p.copy()
    SGD(lr=0.1).step(p, g)
    assert np.array_equal(p, q - 0.1 * g)


@pytest.mark.parametrize("early_stopping", [False, True])
def test_sklearn_estimator_steps_shared_match_one_thread(h, helpers, early_stopping):
    """fastmlp.sklearn's MLPClassifier shares its steps when the BLAS may use two
    threads (the suite keeps it at one: conftest.py); float64 coefficients equal those
    of a fit on one thread to rounding."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    pytest.importorskip("sklearn")
    from fastmlp.sklearn import MLPClassifier
    rng = np.random.default_rng(13)
    X = rng.standard_normal((500, 120))
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 0.5)
    fits = []
    for threads in (1, 2):
        with threadpoolctl.threadpool_limits(threads, user_api="blas"):
            clf = MLPClassifier((512, 256), max_iter=3, batch_size=128, random_state=0,
                                dtype=np.float64, early_stopping=early_stopping)
            with pytest.warns(Warning):           # ConvergenceWarning after 3 epochs
                clf.fit(X, y)
            assert clf.network_._step_threads(128).helpers == (helpers if threads == 2
                                                                else 0)
        fits.append(np.concatenate([c.ravel() for c in clf.coefs_ + clf.intercepts_]))
    assert h.rel_err(fits[1], fits[0]) < 1e-10


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("rows, width", [(1, 3), (7, 784), (128, 784), (300, 50)])
def test_take_rows_equals_numpy(helpers, dtype, rows, width):
    """fit's batch gather (on the helpers above 64 KB) against NumPy fancy indexing."""
    rng = np.random.default_rng(rows)
    src = rng.standard_normal((1000, width)).astype(dtype)
    idx = rng.permutation(1000)[:rows].astype(np.intp)
    for h in (0, helpers):
        out = np.full((rows, width), -7, dtype)
        _kernels.take_rows(src, idx, out, h)
        assert np.array_equal(out, src[idx])


def test_take_rows_checks_everything_before_copying():
    src = np.arange(12.0).reshape(4, 3)
    out = np.zeros((2, 3))
    for bad in ([0, 4], [-1, 0]):
        with pytest.raises(IndexError, match="outside"):
            _kernels.take_rows(src, np.array(bad, np.intp), out)
        assert not out.any()
    with pytest.raises(ValueError, match="rows"):
        _kernels.take_rows(src, np.array([0, 1], np.int32), out)
    with pytest.raises(ValueError, match="rows"):
        _kernels.take_rows(src, np.array([0, 1, 2], np.intp), out)
    with pytest.raises(ValueError, match="dtype"):
        _kernels.take_rows(src, np.array([0, 1], np.intp), out.astype(np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        _kernels.take_rows(np.asfortranarray(src), np.array([0, 1], np.intp), out)
    with pytest.raises(ValueError, match="row length"):
        _kernels.take_rows(src, np.array([0, 1], np.intp), np.zeros((2, 4)))
    out.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        _kernels.take_rows(src, np.array([0, 1], np.intp), out)


def test_take_rows_fuzz(helpers):
    """Hostile arguments (any dtype, shape, layout, index values, read-only output),
    on one thread and with the helpers: take_rows copies exactly src[rows] or raises
    ValueError/TypeError/IndexError naming what is wrong, leaving out untouched.
    FASTMLP_FUZZ_EXAMPLES sets the count (as for tests/test_fuzz.py)."""
    import os
    pytest.importorskip("hypothesis")
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    dtypes = [np.float32, np.float64, np.int64, np.intp, np.int32, np.uint8, np.float16]
    examples = 5 * int(os.environ.get("FASTMLP_FUZZ_EXAMPLES", "20"))
    copied = []

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def run(data):
        def mostly(valid, hostile):      # the valid value 3 times in 4
            return data.draw(st.sampled_from([valid] * 3 + [hostile]))

        n = data.draw(st.integers(0, 300))
        width = data.draw(st.integers(0, 200))
        dtype = data.draw(st.sampled_from(dtypes))
        src = np.arange(n * width, dtype=dtype).reshape(n, width)
        src = mostly(src, data.draw(st.sampled_from([src.T, src[::2], src.ravel(),
                                                     src[None]])))
        count = data.draw(st.integers(0, 300))
        inside = st.integers(0, n - 1) if n else st.nothing()
        hostile = st.integers(-2 ** 63, 2 ** 63 - 1) | st.integers(-3, n + 3)
        values = data.draw(st.lists(mostly(inside, hostile), min_size=count,
                                    max_size=count) if n or count == 0 else
                           st.lists(hostile, min_size=count, max_size=count))
        rows = np.array(values, np.int64).astype(mostly(np.intp, data.draw(
            st.sampled_from([np.int32, np.float64]))), copy=False)
        out_width = mostly(width, data.draw(st.sampled_from([width + 1,
                                                             max(width - 1, 0)])))
        out = np.full((count, out_width), 7, dtype=mostly(dtype, data.draw(
            st.sampled_from(dtypes))))
        out = mostly(out, data.draw(st.sampled_from([out[::-1], out.T])))
        if data.draw(st.integers(0, 9)) == 0:
            out.flags.writeable = False
        before = out.copy()
        h = data.draw(st.sampled_from([0, helpers]))
        try:
            _kernels.take_rows(src, rows, out, h)
        except (ValueError, TypeError, IndexError) as exc:
            assert re.search(r"src|out|rows|index|incorrect type", str(exc)), exc
            assert np.array_equal(out, before)
            return
        assert out.flags.writeable, "wrote into a read-only array"
        assert np.array_equal(out, np.asarray(src)[rows])
        copied.append(count)

    run()
    assert copied, "no drawn call was valid: the harness tested only refusals"


@pytest.mark.parametrize("helpers", [0, 1])
def test_batches_gather_what_numpy_indexing_gives(helpers):
    """Batches: each batch of a 2-D array, 1-D labels and weights (gathered by
    take_rows, a 1-D array as a column), a strided array (np.take) and an absent one,
    in a shuffled order with a shorter last batch, and in stored order; the same rows
    as NumPy's fancy indexing."""
    from fastmlp._batches import Batches
    rng = np.random.default_rng(3)
    n, size = 103, 16
    X = rng.standard_normal((n, 5)).astype(np.float32)
    labels = rng.integers(0, 4, n).astype(np.intp)
    weights = rng.random(n)
    strided = rng.standard_normal((n, 6))[:, ::2]
    batches = Batches((X, None, labels, weights, strided), size)
    for order in (rng.permutation(n), rng.permutation(n).astype(np.int32), None):
        seen = 0
        for start, got in zip(range(0, n, size), batches(order, helpers)):
            idx = (np.arange(n) if order is None else order)[start:start + size]
            assert got[1] is None
            for a, b in zip((X, labels, weights, strided), got[:1] + got[2:]):
                np.testing.assert_array_equal(b, a[idx])
            seen += len(got[0])
        assert seen == n
