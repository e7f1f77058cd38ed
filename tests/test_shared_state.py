"""State shared between objects and threads cannot reach the kernels inconsistent.

An optimizer's moment buffers belong to one parameter vector; a second network is
refused, and threads sharing one optimizer are serialized.  The reproducers that
crashed the process run in a subprocess, so a crash fails the test instead of
killing pytest.
"""
import copy
import json
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fastmlp import SGD, Adam, AdamW, Network

OPTIMIZERS = [SGD(lr=0.01, momentum=0.9), Adam(lr=1e-3), AdamW(lr=1e-3)]


def run_python(code, tmp_path, timeout=240):
    """Run `code` in a fresh interpreter; (returncode, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


# ---------------------------------------------------------------------------
# One optimizer, one parameter vector
# ---------------------------------------------------------------------------

THREADS_TWO_NETWORKS = """
import json, sys, threading
import numpy as np
from fastmlp import Network, Adam
sys.setswitchinterval(1e-6)           # switch threads as often as possible
opt = Adam(lr=1e-3)
nets = [Network([4, 2000, 3], seed=0), Network([3, 4, 3], seed=1)]
rng = np.random.default_rng(0)
data = [(rng.standard_normal((2, n.sizes[0])), rng.integers(0, 3, 2)) for n in nets]
errors = []
def run(i):
    try:
        for _ in range(STEPS):
            nets[i].train_step(*data[i], optimizer=opt)
    except Exception as exc:
        errors.append([i, type(exc).__name__, str(exc)])
threads = [threading.Thread(target=run, args=(i % 2,)) for i in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({"errors": errors, "t": opt.t,
                  "finite": [bool(np.isfinite(n.params).all()) for n in nets]}))
"""


def test_one_optimizer_two_networks_in_threads_is_refused_cleanly(tmp_path):
    # On the unfixed code: heap corruption (SIGSEGV/SIGABRT) in some runs, and no
    # error at all in the others.
    rc, out, err = run_python(THREADS_TWO_NETWORKS.replace("STEPS", "3000"), tmp_path)
    assert rc == 0, f"the process died (exit {rc}):\n{err[-2000:]}"
    report = json.loads(out)
    assert report["errors"], "sharing one optimizer between two networks was accepted"
    losers = {i for i, _, _ in report["errors"]}
    assert len(losers) == 1                # the first network to step keeps it
    for _, kind, message in report["errors"]:
        assert kind == "ValueError"
        assert "one optimizer per network" in message and "reset()" in message
    assert report["t"] == 2 * 3000         # both threads of the winner, no step lost
    assert all(report["finite"])


@pytest.mark.parametrize("opt", OPTIMIZERS, ids=lambda o: type(o).__name__)
def test_second_network_is_refused_and_nothing_changes(rng, opt):
    opt = copy.deepcopy(opt)
    a, b = Network([3, 5, 2], seed=0), Network([3, 5, 2], seed=1)
    X, y = rng.standard_normal((4, 3)), rng.integers(0, 2, 4)
    a.train_step(X, y, optimizer=opt)
    before, t = b.get_params(), opt.t
    state = [s.copy() for s in opt._state]
    with pytest.raises(ValueError, match="one optimizer per network"):
        b.train_step(X, y, optimizer=opt)
    np.testing.assert_array_equal(b.params, before)
    assert opt.t == t
    for s, saved in zip(opt._state, state):
        np.testing.assert_array_equal(s, saved)
    # step() by hand on another vector: the same refusal
    with pytest.raises(ValueError, match="one optimizer per network"):
        opt.step(np.zeros(a.n_params), np.zeros(a.n_params))
    # reset() releases it: the next step is a first step on b
    opt.reset()
    b.train_step(X, y, optimizer=opt)
    assert opt.t == 1
    with pytest.raises(ValueError, match="one optimizer per network"):
        a.train_step(X, y, optimizer=opt)


def test_fit_with_an_optimizer_of_another_network_is_refused(rng):
    X, y = rng.standard_normal((20, 3)), rng.integers(0, 2, 20)
    opt = Adam(lr=0.01)
    a = Network([3, 4, 2], seed=0)
    a.fit(X, y, epochs=1, optimizer=opt)
    b = Network([3, 4, 2], seed=0)
    with pytest.raises(ValueError, match="one optimizer per network"):
        b.fit(X, y, epochs=1, optimizer=opt)


def test_a_dead_vector_frees_the_optimizer(rng):
    opt = SGD(lr=0.1, momentum=0.9)
    p, g = np.ones(4), np.full(4, 0.5)
    opt.step(p, g)
    del p                                       # its state may move on
    q = np.ones(4)
    opt.step(q, g)
    # the momentum buffer continued (0.9 · 0.5 + 0.5 = 0.95 on the second step)
    np.testing.assert_allclose(q, 1 - 0.1 * 0.95)


def test_pickled_network_keeps_its_optimizer(rng):
    net = Network([3, 4, 2], seed=0)
    X, y = rng.standard_normal((10, 3)), rng.integers(0, 2, 10)
    net.partial_fit(X, y, optimizer="adam", shuffle=False)
    clone = pickle.loads(pickle.dumps(net))
    twin = copy.deepcopy(net)
    clone.partial_fit(X, y, shuffle=False)      # the unpickled optimizer binds to clone
    twin.partial_fit(X, y, shuffle=False)
    net.partial_fit(X, y, shuffle=False)
    np.testing.assert_array_equal(clone.params, net.params)
    np.testing.assert_array_equal(twin.params, net.params)
    assert clone._optimizer.t == net._optimizer.t == 2


def test_threads_sharing_one_network_and_optimizer(rng):
    import threading
    net = Network([5, 16, 3], seed=0, dtype=np.float64)
    opt = Adam(lr=1e-3)
    X, y = rng.standard_normal((8, 5)), rng.integers(0, 3, 8)
    errors = []

    def run():
        try:
            for _ in range(200):
                net.train_step(X, y, optimizer=opt)
        except Exception as exc:       # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and opt.t == 800
    # 800 serialized Adam steps on one batch == 800 steps in one thread
    ref, ref_opt = Network([5, 16, 3], seed=0, dtype=np.float64), Adam(lr=1e-3)
    for _ in range(800):
        ref.train_step(X, y, optimizer=ref_opt)
    np.testing.assert_allclose(net.params, ref.params, rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------
# Plain attribute writes cannot reach the kernels
# ---------------------------------------------------------------------------

# Each write below crashed the process on the unfixed code (SIGSEGV, "free(): invalid
# size", abort) at the next forward/backward.  Each is attempted, then the object is
# used; the script reports what each write raised and whether the results still match
# a NumPy forward pass computed from the weights.
ATTRIBUTE_WRITES = """
import json
import numpy as np
from fastmlp import Layer, Network

def numpy_forward(net, X):
    A = X.astype(np.float64)
    for layer in net.layers:
        Z = A @ layer.W.astype(np.float64) + layer.b
        A = np.tanh(Z) if layer.activation == "tanh" else Z
    e = np.exp(A - A.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)

report = {}
def attempt(name, write, use):
    try:
        write()
        report[name] = "accepted"
    except Exception as exc:
        report[name] = type(exc).__name__
    report[name + ":use"] = bool(use())

X = np.random.default_rng(0).standard_normal((64, 3))
net64 = Network([3, 5, 4], activation="tanh", dtype=np.float64, seed=0)
net32 = Network([3, 5, 4], activation="tanh", dtype=np.float32, seed=0)
ok64 = lambda: np.allclose(net64.forward(X), numpy_forward(net64, X), atol=1e-12)
ok32 = lambda: np.allclose(net32.forward(X), numpy_forward(net32, X), atol=1e-5)

def sizes(): net32.sizes[-1] = 1
attempt("net.sizes[-1] = 1", sizes, ok32)
def sizes2(): net32.sizes = [3, 5, 1]
attempt("net.sizes = [...]", sizes2, ok32)
def dtype(): net64.dtype = np.float32
attempt("net.dtype = float32", dtype, ok64)
def layers(): net64.layers = [Network([3, 1], dtype=np.float64).layers[0]]
attempt("net.layers = [...]", layers, ok64)
def params_shape(): net64.params.shape = (1, net64.n_params)
attempt("net.params.shape = ...", params_shape, ok64)
def w_shape(): net32.layers[0].W.shape = (5, 3)
attempt("layer.W.shape = ...", w_shape, ok32)
def l2(): net64.l2 = float("nan")
attempt("net.l2 = nan", l2, lambda: np.isfinite(net64.loss(X, np.zeros(64, int))))

layer = Layer(400, 10, "tanh", dtype=np.float32, seed=0)
Xl = np.ones((8, 400), np.float32)
G = np.ones((8, 10), np.float32)
def backward_ok():
    D = layer.backward(G)
    ref = ((1 - np.tanh(Xl.astype(np.float64) @ layer.W + layer.b) ** 2) * G) @ layer.W.T
    return D.shape == (8, 400) and np.allclose(D, ref, atol=1e-4)
A = layer.forward(Xl)
def layer_x(): layer.X = np.ones((8, 400))
attempt("layer.X = float64", layer_x, backward_ok)
def a_shape(): A.shape = (80, 1)                 # the caller's output array
attempt("A.shape = ...", a_shape, backward_ok)
def layer_n_out(): layer.n_out = 20
attempt("layer.n_out = 20", layer_n_out, backward_ok)
def layer_act(): layer.activation = "relu"
attempt("layer.activation = relu", layer_act, backward_ok)
def layer_alpha(): layer.alpha = 5.0
attempt("layer.alpha = 5", layer_alpha, backward_ok)
def layer_dtype(): layer.dtype = np.float64
attempt("layer.dtype = float64", layer_dtype, backward_ok)
print(json.dumps(report))
"""


def test_attribute_writes_cannot_reach_the_kernels(tmp_path):
    rc, out, err = run_python(ATTRIBUTE_WRITES, tmp_path)
    assert rc == 0, f"the process died (exit {rc}):\n{err[-2000:]}"
    report = json.loads(out)
    refused = {k: v for k, v in report.items() if not k.endswith(":use")}
    # what the kernels depend on cannot be written; the array writes (a reshape of a
    # handed-out view) may be accepted but change only that view
    for name in ("net.sizes[-1] = 1", "net.sizes = [...]", "net.dtype = float32",
                 "net.layers = [...]", "net.l2 = nan", "layer.X = float64",
                 "layer.n_out = 20", "layer.activation = relu", "layer.alpha = 5",
                 "layer.dtype = float64"):
        assert refused[name] in ("AttributeError", "TypeError", "ValueError"), name
    bad = [k for k, v in report.items() if k.endswith(":use") and not v]
    assert not bad, f"results no longer match NumPy after: {bad}"


def test_read_only_attributes_say_what_to_do_instead():
    net = Network([3, 4, 2], dtype=np.float64)
    with pytest.raises(AttributeError, match="astype"):
        net.dtype = np.float32
    with pytest.raises(AttributeError, match="new Network"):
        net.sizes = (3, 4, 1)
    with pytest.raises(ValueError, match="l2 must be >= 0"):
        net.l2 = -1
    assert isinstance(net.sizes, tuple) and isinstance(net.layers, tuple)
    layer = net.layers[0]
    assert layer.X is None and layer.delta is None
    layer.forward(np.ones((2, 3)))
    assert not layer.X.flags.writeable and not layer.A.flags.writeable
