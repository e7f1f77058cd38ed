"""`python -m fastmlp demo`: train small networks on built-in data, verify their
gradients against central differences, and time backprop against the fallback.
No files, no downloads, a few seconds.
"""
import sys
import time

import numpy as np

from . import datasets
from .gradcheck import check_gradients, numerical_gradient, relative_error
from .network import Network


def train(net, X, y, lr, steps, batch_size, seed, progress=None, every=1000):
    """Plain minibatch SGD with train_step; returns the last 100 steps' mean loss.
    progress(step, loss), if given, is called every `every` steps."""
    rng = np.random.default_rng(seed)
    X = X.astype(net.dtype)
    losses = []
    for step in range(1, steps + 1):
        idx = rng.integers(0, len(X), batch_size)
        losses.append(net.train_step(X[idx], y[idx], lr))
        if progress is not None and step % every == 0:
            progress(step, float(np.mean(losses[-100:])))
    return float(np.mean(losses[-100:]))


def _best_time(f, repeats=20):
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return best


def accuracy(net, X, y):
    return float((net.predict(X) == y).mean())


def _progress_printer(out, label, steps):
    """A progress line: redrawn in place on a terminal, else printed every 1000 steps."""
    in_place = out is print and sys.stdout.isatty()
    t0 = time.perf_counter()

    def show(step, loss):
        line = (f"{label} step {step:>{len(str(steps))}}/{steps}  loss {loss:.4f}  "
                f"{time.perf_counter() - t0:.1f} s")
        if in_place:
            sys.stdout.write("\r" + line + ("\r" + " " * len(line) + "\r" if step == steps
                                            else ""))
            sys.stdout.flush()
        else:
            out(line)
    return show


def run(seed=0, out=print):
    t_start = time.perf_counter()
    out("fastmlp demo: small networks, built-in data, one compiled call per SGD step\n")

    # 1. XOR: not linearly separable, one hidden layer is enough
    X, y = datasets.xor(400, noise=0.2, seed=seed)
    net = Network([2, 8, 2], activation="tanh", loss="cross_entropy", seed=seed)
    t = time.perf_counter()
    loss = train(net, X, y, lr=0.5, steps=3000, batch_size=16, seed=seed)
    out(f"xor      {net}\n         3000 steps in {time.perf_counter() - t:.2f} s, "
        f"loss {loss:.4f}, train accuracy {accuracy(net, X, y):.1%}")

    # 2. two spirals: needs depth
    X, y = datasets.spirals(600, noise=0.2, seed=seed)
    Xtest, ytest = datasets.spirals(600, noise=0.2, seed=seed + 1)
    net = Network([2, 64, 64, 2], activation="tanh", loss="cross_entropy", seed=seed)
    steps = 5000
    t = time.perf_counter()
    loss = train(net, X, y, lr=0.2, steps=steps, batch_size=32, seed=seed,
                 progress=_progress_printer(out, "spirals ", steps))
    out(f"spirals  {net}\n         {steps} steps in {time.perf_counter() - t:.2f} s, "
        f"loss {loss:.4f}, train accuracy {accuracy(net, X, y):.1%}, "
        f"test accuracy {accuracy(net, Xtest, ytest):.1%}\n")

    # 3. every analytic gradient of the trained net against central differences
    report = check_gradients(net, X[:16], y[:16])
    out(str(report) + "\n")

    # 4. backprop against the numerical fallback on a 100k-parameter network
    rng = np.random.default_rng(seed)
    big = Network([784, 128, 10], activation="tanh", dtype=np.float64, seed=seed)
    Xb, yb = rng.uniform(0, 1, (4, 784)), rng.integers(0, 10, 4)
    _, analytic = big.gradient(Xb, yb)         # the first call sizes the workspaces
    t_backprop = _best_time(lambda: big.gradient(Xb, yb))
    t = time.perf_counter()
    numeric = numerical_gradient(big, Xb, yb)
    t_numeric = time.perf_counter() - t
    err = relative_error(analytic, numeric, 1e-5).max()
    out(f"784-128-10 float64, {big.n_params} parameters, batch 4:\n"
        f"  backprop {t_backprop * 1e3:8.2f} ms\n"
        f"  numerical (sixth-order central differences) {t_numeric * 1e3:8.1f} ms "
        f"({t_numeric / t_backprop:.0f}x)\n"
        f"  max relative difference {err:.1e}")
    out(f"\ndone in {time.perf_counter() - t_start:.1f} s")
    return report.ok
