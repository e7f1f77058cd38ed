"""The brute-force reference for the exact methods' tests (tests/test_exact*.py).

On a tiny net (<= 12 ReLUs) every activation pattern is a linear piece of the input box;
the net's map on it is composed here from the layers' W and b, and each piece's question
is a linear program solved by scipy.optimize.linprog.  The minimum (maximum) over the
pieces is the exact answer: the closest achievable output, the largest logit margin, the
bounds of every output, the nearest input reaching a target.
"""
import numpy as np
from scipy.optimize import linprog

from fastmlp import Network, Standardizer



def tiny_net(seed, sizes, act="relu", loss="mse", alpha=None, scaler=False, sd=0.9):
    rng = np.random.default_rng(seed)
    net = Network(sizes, act, loss, dtype=np.float64, seed=seed, alpha=alpha)
    net.set_params(rng.normal(0, sd, net.n_params))
    if scaler:
        net.scaler = Standardizer(rng.normal(0, 2, sizes[0]), rng.uniform(0.5, 3, sizes[0]))
    return net


_PIECES = {}


def pieces(net, lo, hi):
    """Every linear piece of the net that meets the box (lo == hi pins a feature): a
    list of (A, c, G, h) with z_L = A x + c on {x in box: G x <= h}, in raw units.
    Patterns are grown one neuron at a time, and a partial pattern whose region misses
    the box (an LP) is not extended."""
    key = (net.get_params().tobytes(), lo.tobytes(), hi.tobytes(),
           None if net.scaler is None else net.scaler.scale.tobytes())
    if key not in _PIECES:
        _PIECES[key] = _grow(net, lo, hi)
    return _PIECES[key]


def _grow(net, lo, hi):
    Ws = [l.W.astype(np.float64) for l in net.layers]
    bs = [l.b.astype(np.float64) for l in net.layers]
    n_in = Ws[0].shape[0]
    A0, c0 = np.eye(n_in), np.zeros(n_in)
    if net.scaler is not None:                       # x_s = (x - m) / s
        A0, c0 = A0 / net.scaler.scale[:, None], -net.scaler.mean / net.scaler.scale
    assert sum(l.n_out for l in net.layers[:-1] if l.activation != "identity") <= 12
    found = []

    def feasible(G, h):
        return not G or lp(np.zeros(n_in), np.array(G), np.array(h), lo, hi) is not None

    def layer_from(i, A, c, G, h):
        if i == len(net.layers) - 1:
            A, c = Ws[i].T @ A, Ws[i].T @ c + bs[i]
            found.append((A, c, np.array(G).reshape(-1, n_in), np.array(h)))
            return
        Az, cz = Ws[i].T @ A, Ws[i].T @ c + bs[i]
        layer = net.layers[i]
        if layer.activation == "identity":
            return layer_from(i + 1, Az, cz, G, h)
        off = 0.0 if layer.activation == "relu" else layer.alpha

        def neuron(j, slopes, G, h):
            if j == layer.n_out:
                s = np.array(slopes)
                return layer_from(i + 1, s[:, None] * Az, s * cz, G, h)
            for on in (True, False):               # on: z_j >= 0; off: z_j <= 0
                sign = -1.0 if on else 1.0
                G2, h2 = G + [sign * Az[j]], h + [-sign * cz[j]]
                if feasible(G2, h2):
                    neuron(j + 1, slopes + [1.0 if on else off], G2, h2)

        neuron(0, [], G, h)

    layer_from(0, A0, c0, [], [])
    return found


def lp(cost, G, h, lo, hi, extra_ub=None):
    """min cost·v subject to G v <= h and the box; None when infeasible."""
    res = linprog(cost, A_ub=G, b_ub=h, bounds=list(zip(lo, hi)), method="highs")
    return res.fun if res.status == 0 else None


def brute_closest(P, lo, hi, t):
    """min over x in the box of max_k |z_k(x) - t_k| (NaN t_k free): LP per piece in
    (x, s): min s, -s <= A_k x + c_k - t_k <= s."""
    best = np.inf
    k = np.flatnonzero(~np.isnan(t))
    n = len(lo)
    for A, c, G, h in P:
        Ak = A[k]
        rows = np.vstack([np.hstack([G, np.zeros((len(G), 1))]),
                          np.hstack([Ak, -np.ones((len(k), 1))]),
                          np.hstack([-Ak, -np.ones((len(k), 1))])])
        rhs = np.concatenate([h, t[k] - c[k], c[k] - t[k]])
        v = lp(np.r_[np.zeros(n), 1.0], rows, rhs, np.r_[lo, 0], np.r_[hi, np.inf])
        if v is not None:
            best = min(best, v)
    return best


def brute_margin(P, lo, hi, cls):
    """max over the box of z_c - max_{j≠c} z_j (logits)."""
    best = -np.inf
    n = len(lo)
    others = [j for j in range(P[0][0].shape[0]) if j != cls]
    for A, c, G, h in P:
        D = A[others] - A[cls]                 # s <= z_c - z_j  <=>  (A_j - A_c) x + s <= c_c - c_j
        rows = np.vstack([np.hstack([G, np.zeros((len(G), 1))]),
                          np.hstack([D, np.ones((len(others), 1))])])
        rhs = np.concatenate([h, c[cls] - c[others]])
        v = lp(np.r_[np.zeros(n), -1.0], rows, rhs, np.r_[lo, -np.inf], np.r_[hi, np.inf])
        if v is not None:
            best = max(best, -v)
    return best


def brute_output_range(P, lo, hi):
    n_out = P[0][0].shape[0]
    mins, maxs = np.full(n_out, np.inf), np.full(n_out, -np.inf)
    for A, c, G, h in P:
        for k in range(n_out):
            v = lp(A[k], G, h, lo, hi)
            if v is not None:
                mins[k] = min(mins[k], v + c[k])
                maxs[k] = max(maxs[k], -lp(-A[k], G, h, lo, hi) + c[k])
    return mins, maxs


def brute_nearest_l1(P, lo, hi, t, tol, x_ref, w):
    """min Σ w_i |x_i - r_i| over x in the box with max_k |z_k - t_k| <= tol."""
    best = np.inf
    n = len(lo)
    k = np.flatnonzero(~np.isnan(t))
    for A, c, G, h in P:
        Z, I = np.zeros, np.eye(n)
        rows = np.vstack([np.hstack([G, Z((len(G), n))]),
                          np.hstack([A[k], Z((len(k), n))]),
                          np.hstack([-A[k], Z((len(k), n))]),
                          np.hstack([w[:, None] * I, -I]),          # w (x - r) <= e
                          np.hstack([-w[:, None] * I, -I])])        # w (r - x) <= e
        rhs = np.concatenate([h, t[k] + tol - c[k], c[k] - t[k] + tol, w * x_ref, -w * x_ref])
        v = lp(np.r_[np.zeros(n), np.ones(n)], rows, rhs, np.r_[lo, np.zeros(n)],
               np.r_[hi, np.full(n, np.inf)])
        if v is not None:
            best = min(best, v)
    return best


TINY = [  # (seed, sizes, activation, alpha, scaler)
    (1, [2, 4, 4, 1], "relu", None, False),
    (2, [3, 5, 3, 2], "relu", None, True),
    (3, [2, 3, 3, 3, 1], "leaky_relu", 0.1, False),
    (4, [4, 6, 1], "relu", None, False),
    (5, [3, 4, 4, 2], "leaky_relu", 0.3, True),
    (6, [2, 6, 6, 1], "relu", None, False),            # 12 ReLUs
]


def box_for(net, width=1.5):
    n = net.sizes[0]
    if net.scaler is None:
        return np.full(n, -width), np.full(n, width)
    return net.scaler.mean - width * net.scaler.scale, net.scaler.mean + width * net.scaler.scale
