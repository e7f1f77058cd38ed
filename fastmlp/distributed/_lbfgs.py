"""Full-batch L-BFGS, data-parallel (Spark MLlib's scheme).  Every evaluation:

    client: θ (one flat float64 vector) ── (one task) ──▶ every worker
    worker: per resident block b, the compiled loss-and-gradient with row weights 1/N
            (L_b = Σ_{i∈b} ℓ_i / N,  g_b = Σ_{i∈b} ∇ℓ_i / N: one call, one vector)
    tree:   L = Σ_b L_b, g = Σ_b g_b, summed in the partitions' order (_reduce)
    client: scipy's L-BFGS-B takes the step, exactly as optim.lbfgs_prepared

The rows' δ are the very numbers the single-process call computes (its 1/B is the
same float64 1/N), so the two differ only in how the rows' contributions are added:
rounding, far below the 1e-8 the iterates are held to.  The L2 penalty is added once,
by partition 0's call.
"""
import time

import numpy as np
import scipy.optimize

from ._cluster import share, worker_key
from ._reduce import tree_sum


def _partial_gradient(net, theta, block, n_total, l2):
    """(Σ ℓ_i / N [+ penalty], Σ ∇ℓ_i / N as float64, {worker: compute seconds}) of one
    block at parameters θ.  The network is the worker's copy, used under its lock."""
    t0 = time.perf_counter()
    X, T, labels = block
    weights = np.full(X.shape[0], 1.0 / n_total)
    with net._lock:
        net._params[...] = theta
        value = net._plan.gradient(X, T, labels, l2, None, row_weights=weights)
        grad = net._grads.astype(np.float64)
    return value, grad, {worker_key(): time.perf_counter() - t0}


class Objective:
    """θ ↦ (L(θ), ∇L(θ)) over the Partitions, and the time each call spent."""

    def __init__(self, client, net, parts):
        self.client, self.parts = client, parts
        self.engine = share(client, net)
        self.l2 = net.l2
        self.dtype = net.dtype
        self.last = None           # (θ, L) of the latest evaluation
        self.timing = []           # (wall seconds, busiest worker's compute seconds)

    def __call__(self, theta):
        t0 = time.perf_counter()
        client = self.client
        theta_f = share(client, np.array(theta, np.float64))
        partials = [client.submit(_partial_gradient, self.engine, theta_f, block,
                                  self.parts.n_rows, self.l2 if i == 0 else 0.0, pure=False)
                    for i, block in enumerate(self.parts.futures)]
        value, grad, seconds = client.gather(tree_sum(client, partials))
        self.last = (np.array(theta, np.float64), float(value))
        self.timing.append((time.perf_counter() - t0, max(seconds.values())))
        return value, grad

    def release(self):
        self.engine.release()


def minimize(objective, theta0, max_iter, callback, tol=1e-7, max_fun=15000):
    """scipy's L-BFGS-B with optim.lbfgs_prepared's settings; callback(θ, L) per
    iteration may raise StopIteration to end the run."""
    def on_iteration(intermediate_result):
        callback(intermediate_result.x, float(intermediate_result.fun))

    return scipy.optimize.minimize(
        objective, np.asarray(theta0, np.float64), jac=True, method="L-BFGS-B",
        callback=on_iteration, options={"maxiter": int(max_iter), "maxfun": int(max_fun),
                                        "gtol": float(tol), "ftol": float(tol)})
