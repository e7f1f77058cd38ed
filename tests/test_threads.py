"""BLAS threads per call (fastmlp._threads): results against a NumPy reference whatever
the thread count, n_threads validation, and the count seen inside and after each call."""
import os
import subprocess
import sys

import numpy as np
import pytest

import fastmlp
from fastmlp import _threads
from fastmlp.cli import main

needs_control = pytest.mark.skipif(not _threads.available(),
                                   reason="scipy's BLAS exposes no thread control")


def numpy_forward(net, X):
    """softmax(relu(X W0 + b0) W1 + b1) in float64."""
    A = X.astype(np.float64)
    for i, layer in enumerate(net.layers):
        Z = A @ layer.W.astype(np.float64) + layer.b
        A = np.maximum(Z, 0) if i < len(net.layers) - 1 else Z
    E = np.exp(A - A.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


@pytest.fixture
def data():
    rng = np.random.default_rng(3)
    return rng.standard_normal((300, 784)), rng.integers(0, 10, 300)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("n_threads", [None, 1, 2, 64])
def test_predict_matches_numpy_whatever_the_threads(data, dtype, tol, n_threads):
    X, _ = data
    net = fastmlp.Network([784, 512, 10], dtype=dtype, seed=0)
    Xd = X.astype(dtype)
    np.testing.assert_allclose(net.predict_proba(Xd, n_threads=n_threads),
                               numpy_forward(net, Xd), atol=tol, rtol=0)
    np.testing.assert_allclose(net.forward(Xd[:1], n_threads=n_threads),
                               numpy_forward(net, Xd[:1]), atol=tol, rtol=0)


@pytest.mark.parametrize("n_threads", [1, 2])
def test_train_step_matches_numpy_whatever_the_threads(data, n_threads):
    X, y = data
    net = fastmlp.Network([784, 512, 10], dtype=np.float64, seed=0)
    W0, b0, W1, b1 = (a.copy() for l in net.layers for a in (l.W, l.b))
    # the NumPy reference step: softmax cross-entropy, mean over the batch
    H = np.maximum(X @ W0 + b0, 0)
    P = numpy_forward(net, X)
    G = P.copy()
    G[np.arange(len(y)), y] -= 1
    G /= len(y)
    dH = (G @ W1.T) * (H > 0)
    lr = 0.1
    loss = net.train_step(X, y, lr=lr, n_threads=n_threads)
    assert loss == pytest.approx(-np.mean(np.log(P[np.arange(len(y)), y])), rel=1e-12)
    np.testing.assert_allclose(net.layers[1].W, W1 - lr * H.T @ G, atol=1e-12)
    np.testing.assert_allclose(net.layers[0].W, W0 - lr * X.T @ dH, atol=1e-12)
    np.testing.assert_allclose(net.layers[0].b, b0 - lr * dH.sum(axis=0), atol=1e-12)


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-2, ValueError), (1.5, TypeError),
                                        ("2", TypeError), (True, TypeError)])
def test_bad_n_threads_is_named_and_changes_nothing(data, bad, error):
    X, y = data
    net = fastmlp.Network([784, 16, 10], seed=0)
    before = net.get_params()
    calls = [lambda: net.forward(X, n_threads=bad), lambda: net.predict(X, n_threads=bad),
             lambda: net.predict_proba(X, n_threads=bad),
             lambda: net.train_step(X, y, lr=0.1, n_threads=bad),
             lambda: net.fit(X, y, epochs=1, n_threads=bad),
             lambda: fastmlp.invert(net, class_index=1, n_restarts=2, n_threads=bad)]
    for call in calls:
        with pytest.raises(error, match="n_threads"):
            call()
    np.testing.assert_array_equal(net.get_params(), before)


@needs_control
def test_count_inside_calls_and_restored_after(data):
    X, y = data
    net = fastmlp.Network([784, 16, 10], seed=0)
    start = _threads.current()
    seen = []

    def spy(network, record):
        seen.append(_threads.current())

    # 32 × 784 × 16 is a small GEMM: one thread inside fit, the old count after
    net.fit(X, y, epochs=1, batch_size=32, callbacks=[spy])
    assert seen == [1] and _threads.current() == start
    seen.clear()
    net.fit(X, y, epochs=1, batch_size=32, callbacks=[spy], n_threads=2)
    assert seen == [min(2, _threads._api[2])] and _threads.current() == start
    net.predict(X, n_threads=1)
    net.train_step(X[:32], y[:32], lr=0.01, n_threads=1)
    assert _threads.current() == start


@needs_control
def test_the_users_own_limit_is_kept_and_restored(data):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    X, y = data
    net = fastmlp.Network([784, 512, 10], seed=0)
    start = _threads.current()
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        assert _threads.current() == 1
        net.predict(X)                    # a large call keeps the user's count
        assert _threads.current() == 1
        net.predict(X, n_threads=2)       # an explicit one sets it for the call only
        assert _threads.current() == 1
    assert _threads.current() == start


@needs_control
def test_cli_threads_option(tmp_path, data, capsys):
    X, y = data
    net = fastmlp.Network([784, 16, 10], seed=0)
    net.save(tmp_path / "m.npz")
    start = _threads.current()
    assert main(["info", str(tmp_path / "m.npz"), "--threads", "1"]) == 0
    assert _threads.current() == start
    with pytest.raises(SystemExit):
        main(["info", str(tmp_path / "m.npz"), "--threads", "0"])
    assert "--threads" in capsys.readouterr().err


def test_the_crossover_follows_the_cpu_vendor(monkeypatch):
    """small_gemm(): 2**20 on AMD CPUs, 2**24 elsewhere (bench/threads.py's crossovers
    on the two machines this project runs on), read from /proc/cpuinfo; choose()
    follows it (on a machine where no other process is busy)."""
    monkeypatch.setattr(_threads._load, "others", lambda: 0.0)
    value = _threads.small_gemm()
    try:
        with open("/proc/cpuinfo") as f:
            amd = "AuthenticAMD" in f.read()
    except OSError:
        amd = False
    assert value == (1 << 20 if amd else 1 << 24) or "FASTMLP_SMALL_GEMM" in os.environ
    assert _threads.choose(value - 1) == (1, False)
    assert _threads.choose(value) == (None, False)
    assert _threads.choose(value - 1, 2) == (2, True)


def test_the_crossover_can_be_set_by_the_environment(tmp_path):
    env = dict(os.environ, FASTMLP_SMALL_GEMM="5000000", FASTMLP_LOAD_AWARE="0")
    out = subprocess.run([sys.executable, "-c", "from fastmlp import _threads; "
                          "print(_threads.small_gemm(), _threads.choose(4999999), "
                          "_threads.choose(5000000))"],
                         env=env, cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[0] == "5000000 (1, False) (None, False)"
