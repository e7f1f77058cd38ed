"""Junk at every entry point and unparseable dtype arguments never crash the
interpreter: each case runs in a child process, so that a segfault or abort fails one
test instead of killing the whole run.
"""


# ---------------------------------------------------------------------------
# Never a crash: run the nastiest cases in a child process, so that a
# segfault / abort fails one test instead of killing the whole run
# ---------------------------------------------------------------------------

_PRELUDE = r"""
import numpy as np
import fastmlp
from fastmlp import Layer, Network

OK = (ValueError, TypeError, RuntimeError, AttributeError)

def attempt(fn):
    try:
        fn()
    except OK:
        pass
"""

# a dtype argument that does not parse must never reach the kernels
_CHILD_DTYPE = _PRELUDE + r"""
for dt in ("nonsense", "float65"):
    def layer_case(dt=dt):
        l = Layer(40, 30, "identity", dtype=dt, seed=0)
        l.forward(np.ones((500, 40), np.float32))
        l.backward(np.ones((500, 30), np.float32))
        l.forward(np.ones((500, 40), np.float64))
        l.backward(np.ones((500, 30), np.float32))
    attempt(layer_case)
    def net_case(dt=dt):
        layers = [Layer(40, 30, "tanh", dtype=dt, seed=0),
                  Layer(30, 3, "softmax", dtype=dt, seed=0)]
        net = Network(layers)
        X = np.ones((2000, 40), np.float32)
        net.gradient(X, np.zeros(2000, int))
        net.train_step(X, np.zeros(2000, int), 0.1)
    attempt(net_case)
print("survived")
"""

# assorted junk at every entry point
_CHILD_JUNK = _PRELUDE + r"""
for dtype in (np.float32, np.float64):
    net = Network([3, 5, 4], activation="gelu", dtype=dtype, seed=0)
    junk = [None, "abc", 3, [], [[]], np.zeros((0, 3)), np.zeros((3, 0)),
            np.zeros((2, 3, 4)), np.full((2, 3), np.nan), np.ones((2, 3), complex),
            np.ones((2, 3), object), np.ones((2, 3), np.float16),
            np.broadcast_to(np.ones(3), (5, 3)), np.ones((4, 6))[:, ::2], np.ones((2, 3)).T,
            np.ones((2, 3), np.float32), np.ones((2, 3), np.float64)]
    for X in junk:
        for y in junk + [np.array([0, 1]), np.array([7, -3]), np.ones((2, 4)),
                         np.array([0.5, 1]), np.array([0, 1], np.uint64)]:
            attempt(lambda: net.loss(X, y))
            attempt(lambda: net.gradient(X, y))
            attempt(lambda: net.input_gradient(X, y))
            attempt(lambda: net.train_step(X, y, 0.1))
            attempt(lambda: fastmlp.numerical_gradient(net, X, y))
        attempt(lambda: net.forward(X))
        attempt(lambda: net.layers[0].forward(X))
        attempt(lambda: net.layers[0].backward(X))
        attempt(lambda: net.layers[1].backward(X))
        attempt(lambda: net.set_params(X))
    assert np.all(np.isfinite(net.params))
print("survived")
"""


def _run_child(code, tmp_path):
    import os
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "survived" in proc.stdout, (
        f"child exited with {proc.returncode}\nstdout:\n{proc.stdout[-2000:]}\n"
        f"stderr:\n{proc.stderr[-2000:]}")


def test_junk_input_never_crashes_the_interpreter(tmp_path):
    _run_child(_CHILD_JUNK, tmp_path)


def test_unparseable_dtype_never_crashes_the_interpreter(tmp_path):
    """Layer(dtype="nonsense") must be refused; if it is not, arrays of the wrong
    precision reach the kernels and corrupt the heap."""
    _run_child(_CHILD_DTYPE, tmp_path)
