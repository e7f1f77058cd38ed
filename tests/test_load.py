"""Fewer BLAS threads while other processes keep cores busy (fastmlp._load and
fastmlp._threads.choose): the load measured against a process started here to keep
one core busy, the choice against the rule written out by hand, and training results
against NumPy whatever the count the load gives."""
import os
import subprocess
import sys
import time

import numpy as np
import pytest

import fastmlp
from fastmlp import _cpus, _load, _threads, _workers

needs_control = pytest.mark.skipif(not _threads.available(),
                                   reason="scipy's BLAS exposes no thread control")
linux = pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="no /proc/stat")
LARGE = 1 << 30                       # above every small_gemm() crossover


@linux
def test_a_spinning_process_is_seen_as_about_one_busy_core():
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)                    # it runs
        _load.others()                     # a window starts
        time.sleep(2 * _load.PERIOD)
        busy = _load.others()
    finally:
        spin.kill()
        spin.wait()
    # at least most of its core (other processes may add to it, never take away)
    assert busy >= 0.6, busy


@needs_control
@pytest.mark.parametrize("busy, expected", [(0.0, None), (0.3, None), (0.5, "fewer"),
                                            (1.0, "fewer"), (40.0, 1)])
def test_the_choice_follows_the_load(monkeypatch, busy, expected):
    """With pool p threads, all of them the usual count, and b cores busy elsewhere:
    all threads (None) below 0.4, else ceil(p - b - 0.5) threads, at least 1 (on 2
    cores: one thread).  Never more than the usual count: under a user's limit of
    one thread, None (that one) whatever the load."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    monkeypatch.setattr(_load, "others", lambda: busy)
    pool = _threads._api[2]
    if _cpus.usable() < pool:
        pytest.skip("a CPU quota below the BLAS's pool")
    with threadpoolctl.threadpool_limits(pool, user_api="blas"):   # the suite's is 1
        n, explicit = _threads.choose(LARGE)
    if expected == "fewer":
        want = max(1, int(np.ceil(pool - busy - 0.5)))
        expected = want if want < pool else None
    assert (n, explicit) == (expected if pool > 1 else None, False)
    assert _threads.choose(LARGE) == (None, False)       # the suite's one thread
    assert _threads.choose(LARGE, 2) == (2, True)        # an explicit count is kept
    assert _threads.choose(1000) == (1, False)           # small GEMMs: one thread anyway


@needs_control
def test_training_steps_keep_their_helpers_under_load(monkeypatch):
    """A training step is shared with the helper threads whatever the load: a helper
    that other processes deschedule takes fewer blocks (workers.h), where an OpenBLAS
    worker held up a whole GEMM.  Other calls still follow the load."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    monkeypatch.setattr(_load, "others", lambda: 40.0)
    if _workers.helpers(2) == 0 or _cpus.usable() < 2:
        pytest.skip("one usable core")
    # the suite keeps the BLAS at one thread (conftest.py): the usual count, here 2
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        assert _threads.choose(LARGE) == (1, False)
        assert _workers.step_threads(LARGE).helpers == _workers.helpers(2)


@needs_control
def test_training_under_load_matches_numpy(monkeypatch):
    """The step a busy machine gets (shared with the helpers) computes what NumPy
    computes."""
    monkeypatch.setattr(_load, "others", lambda: 1.0)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((256, 300))
    y = rng.integers(0, 10, 256)
    net = fastmlp.Network([300, 1024, 10], activation="relu", dtype=np.float64, seed=0)
    W0, b0, W1, b1 = (a.copy() for a in (net.layers[0].W, net.layers[0].b,
                                         net.layers[1].W, net.layers[1].b))
    # the BLAS's usual count above one (the suite keeps it at one: conftest.py), so
    # the step is shared with the helpers as on a busy 2-core machine
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        net.train_step(X, y, lr=0.1)
    Z = X @ W0 + b0
    A = np.maximum(Z, 0)
    L = A @ W1 + b1
    P = np.exp(L - L.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    D = (P - np.eye(10)[y]) / len(y)
    D0 = (D @ W1.T) * (Z > 0)
    np.testing.assert_allclose(net.layers[1].W, W1 - 0.1 * A.T @ D, rtol=0, atol=1e-12)
    np.testing.assert_allclose(net.layers[0].W, W0 - 0.1 * X.T @ D0, rtol=0, atol=1e-12)


def test_load_awareness_can_be_turned_off(tmp_path):
    env = dict(os.environ, FASTMLP_LOAD_AWARE="0")
    code = ("import subprocess, sys, time\n"
            "from fastmlp import _load\n"
            "p = subprocess.Popen([sys.executable, '-c', 'while True: pass'])\n"
            "time.sleep(0.3); _load.others(); time.sleep(0.5)\n"
            "print(_load.others()); p.kill()\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path,
                         capture_output=True, text=True, check=True, timeout=60)
    assert float(out.stdout.split()[0]) == 0.0


@needs_control
def test_fit_follows_the_load_from_epoch_to_epoch(monkeypatch):
    """A machine that turns busy during epoch 1: the steps of epoch 1 ran on all the
    pool's threads, those of epoch 2 on fewer (the count seen inside each step)."""
    pool = _threads._api[2]
    if pool < 2:
        pytest.skip("a pool of one thread has nothing to give up")
    load = {"busy": 0.0}
    monkeypatch.setattr(_load, "others", lambda: load["busy"])
    rng = np.random.default_rng(0)
    X = rng.standard_normal((256, 784)).astype(np.float32)
    y = rng.integers(0, 10, 256)
    net = fastmlp.Network([784, 1024, 10], seed=0)
    seen = []
    step = net._optimizer_step

    def spy(*args, **kwargs):
        seen.append(_threads.current())
        return step(*args, **kwargs)

    def turn_busy(network, record):
        load["busy"] = float(pool)

    monkeypatch.setattr(net, "_optimizer_step", spy)
    start = _threads.current()
    net.fit(X, y, epochs=2, batch_size=128, callbacks=[turn_busy], standardize=False)
    assert seen == [start, start, 1, 1]
    assert _threads.current() == start


@linux
@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or
                    len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to pin to")
def test_only_the_cpus_this_process_may_use_count(tmp_path):
    """A process pinned to one CPU: a spinner on that CPU counts as about one busy
    core, the same spinner pinned to another CPU as (about) nothing; both measured in
    one child process, so other load on the machine shifts both alike."""
    a, b = sorted(os.sched_getaffinity(0))[:2]
    code = f"""
import os, subprocess, sys, time
os.sched_setaffinity(0, {{{a}}})
from fastmlp import _load
def seen(cpu):
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"],
                            preexec_fn=lambda: os.sched_setaffinity(0, {{cpu}}))
    time.sleep(0.3); _load.others(); time.sleep(0.6)
    value = _load.others()
    spin.kill(); spin.wait()
    return value
print(seen({a}), seen({b}))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True, timeout=60)
    mine, elsewhere = map(float, out.stdout.split())
    assert mine - elsewhere >= 0.5, (mine, elsewhere)
