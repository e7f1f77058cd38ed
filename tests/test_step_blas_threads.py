"""A training step shared with helper threads sets the BLAS to one thread only when it
gives OpenBLAS a call that OpenBLAS would split over several threads
(Plan.step_calls_blas, csrc/_blas_calls.pxi); otherwise it leaves the count alone
(setting it to 1 and back cost 2.2 us a step).  So does a step asked for one thread
(n_threads=1) whose GEMMs OpenBLAS runs on one thread by itself (3.3 us).

The decisions are checked against GEMM sizes computed by hand, and the behaviour
against OpenBLAS's own worker threads: in a separate process, their CPU time
(/proc/self/task) while steps run, with the count left at 2."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastmlp
from fastmlp import _kernels, _threads, _workers

OWN = _kernels.HAVE_OWN_SGEMM


def plan(sizes, dtype=np.float32, dropout=0.0):
    return fastmlp.Network(sizes, dtype=dtype, dropout=dropout, seed=0)._plan


def test_step_calls_blas_by_hand_computed_gemm_sizes():
    """OpenBLAS runs M·N·K <= 262,144 on one thread.  784-128-10 from 32 rows: the
    forward on the own GEMM (128 columns: whole panels), δ₂ @ W₂ᵀ 32·10·128 = 40,960,
    X₁ᵀ @ δ₁ 784×128 on the own kernel, A₁ᵀ @ δ₂ 128·10·32 = 40,960: nothing to split.
    50-256-256-2 from 64 rows: δ₂ @ W₂ᵀ is 64·256·256 = 4,194,304."""
    small = plan([784, 128, 10])
    assert small.step_calls_blas(32) == (not OWN)
    assert plan([50, 256, 256, 2]).step_calls_blas(64)
    assert plan([784, 128, 10], np.float64).step_calls_blas(32)     # no own float64 GEMM
    assert small.step_calls_blas(1)                  # one row: the BLAS's GEMV, threaded
    # under dropout the forward is the BLAS's: 32·784·128 = 3,211,264
    assert plan([784, 128, 10], dropout=0.2).step_calls_blas(32)
    # more rows than the own GEMM takes at once go to the BLAS
    assert small.step_calls_blas(100_000)
    before = _kernels.use_own_sgemm(False)
    try:
        assert small.step_calls_blas(32)
    finally:
        _kernels.use_own_sgemm(before)


def test_a_shared_step_without_blas_calls_to_split_leaves_the_count_alone():
    """No count asked for: the context of 784-128-10 batch-32 steps shares them with a
    helper and sets nothing; asked for 2 threads, or on a step that needs it, the BLAS
    runs one thread inside."""
    if not (_threads.available() and OWN and _kernels.HAVE_HELPERS
            and _workers.usable_cores() >= 2):
        pytest.skip("needs a settable BLAS, the own GEMM and two cores")
    threadpoolctl = pytest.importorskip("threadpoolctl")
    net = fastmlp.Network([784, 128, 10], dtype=np.float32, seed=0)
    other = fastmlp.Network([50, 256, 256, 2], dtype=np.float32, seed=0)
    with threadpoolctl.threadpool_limits(2, user_api="blas"):   # the tests' is 1
        with net._step_threads(32) as step:
            assert step.helpers >= 1 and _threads.current() == 2
        with net._step_threads(32, 2) as step:
            assert step.helpers >= 1 and _threads.current() == 1
        with other._step_threads(64) as step:
            assert step.helpers >= 1 and _threads.current() == 1
        assert _threads.current() == 2


def test_a_step_asked_for_one_thread_sets_nothing_where_openblas_keeps_to_one():
    """n_threads=1 on 8-32-2 from 128 rows (largest GEMM 128·32·8 = 32,768 <= 262,144):
    the context sets nothing; one row (GEMVs) and 784-128-10 from 32 rows (32·784·128 =
    3,211,264) still set the BLAS to one thread."""
    if not _threads.available():
        pytest.skip("needs a settable BLAS")
    threadpoolctl = pytest.importorskip("threadpoolctl")
    small = fastmlp.Network([8, 32, 2], dtype=np.float32, seed=0)
    large = fastmlp.Network([784, 128, 10], dtype=np.float32, seed=0)
    with threadpoolctl.threadpool_limits(2, user_api="blas"):   # the tests' is 1
        with small._step_threads(128, 1) as step:
            assert step.helpers == 0 and _threads.current() == 2
        with small._step_threads(1, 1) as step:
            assert step.helpers == 0 and _threads.current() == 1
        with large._step_threads(32, 1) as step:
            assert step.helpers == 0 and _threads.current() == 1
        assert _threads.current() == 2


PROBE = """
import json, os, sys, threading, time
import numpy as np
import fastmlp

def worker_ticks(tids):
    total = 0
    for tid in tids:
        with open(f"/proc/self/task/{tid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])      # utime + stime, clock ticks
    return total

def run(sizes, batch, force_unset, seconds=0.6, n_threads=None):
    net = fastmlp.Network(sizes, dtype=np.float32, seed=0)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], batch)
    decided = net._plan.step_calls_blas(batch)
    with net._step_threads(batch) as step:
        helpers = step.helpers
    if force_unset:      # as if the step needed no one-thread BLAS
        plan = net._plan
        class Unset:
            def __getattr__(self, name):
                return getattr(plan, name)
            def step_calls_blas(self, rows):
                return False
        net._plan = Unset()
    net.train_step(X, y, lr=0.01)           # helpers started
    python = {t.native_id for t in threading.enumerate()}
    others = [int(t) for t in os.listdir("/proc/self/task") if int(t) not in python]
    time.sleep(0.5)                         # BLAS workers back asleep
    start, t0 = worker_ticks(others), time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        net.train_step(X, y, lr=0.01, n_threads=n_threads)
    return {"decided": decided, "ticks": worker_ticks(others) - start,
            "threads": len(others), "helpers": helpers, "net": sizes, "batch": batch}

more = [run(sizes, batch, False, 0.3) for sizes, batch in json.loads(sys.argv[1])]
print(json.dumps([run([784, 128, 10], 32, False), run([50, 256, 256, 2], 64, False),
                  run([50, 256, 256, 2], 64, True), run([8, 32, 2], 128, False, 0.3, 1)]
                 + more))
"""
# more shapes, each GEMM's tail on one side or the other of OpenBLAS's one-thread size
# on the AVX-512 or the AVX2 code: columns past the own kernels' panels (136, 100),
# a weight gradient cut by columns (64-256), small batches through wider layers
SHAPES = [([784, 136, 10], 32), ([300, 64, 64, 10], 64), ([512, 128, 128, 10], 16),
          ([64, 256, 10], 64), ([200, 300, 2], 32)]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_openblas_workers_stay_idle_through_steps_that_leave_its_count(tmp_path):
    """With OpenBLAS at 2 threads, 0.6 s of 784-128-10 batch-32 steps (count left
    alone) give its worker no CPU time, nor do 50-256-256-2 batch-64 steps (count set
    to one); the latter with the count forced to stay at 2 keep the worker busy
    (the probe sees a split call).  Nor do 8-32-2 batch-128 steps asked for one
    thread, which set nothing.  Five more shapes: where the plan leaves the count
    alone, 0.3 s of steps give the worker no CPU time either."""
    if not (_threads.available() and OWN and _kernels.HAVE_HELPERS
            and _workers.usable_cores() >= 2):
        pytest.skip("needs a settable BLAS, the own GEMM and two cores")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="2")
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(PROBE),
                           json.dumps(SHAPES)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    left, set_to_one, forced, one_thread, *more = json.loads(proc.stdout)
    assert left["threads"] >= 1, "no BLAS worker thread to watch"
    assert not left["decided"] and set_to_one["decided"]
    assert forced["ticks"] >= 10, forced          # 0.1 s of the worker's CPU at least
    assert left["ticks"] <= 1, left
    assert set_to_one["ticks"] <= 1, set_to_one
    assert one_thread["ticks"] <= 1, one_thread
    # every shape the plan leaves the count alone for: no call reached the worker
    left_alone = [r for r in more if r["helpers"] and not r["decided"]]
    assert left_alone, more
    for r in left_alone:
        assert r["ticks"] <= 1, r
