"""ReLU-splitting branch and bound (fastmlp.exact.relu_branch) against independent
references: dense random samples through conftest's NumPy forward pass (an optimized
bound below the value of a sampled point of its domain is a bug, whatever the values of
α, β and λ), and the brute force over activation patterns in tests/brute_force.py
(exact maxima: just above one a proof is required, just below it a witness; the class
margins are checked in tests/test_exact_branch.py, for both searches)."""
from types import SimpleNamespace

import numpy as np
import pytest

from fastmlp.exact import relu_branch
from fastmlp.exact.branch import necessary_rows
from fastmlp.exact.goal import Criterion
from fastmlp.exact.piecewise import piecewise_linear

import brute_force

NETS = [  # (seed, sizes, activation, alpha, scaler)
    (1, [3, 8, 8, 3], "relu", None, False),
    (2, [4, 6, 6, 3], "leaky_relu", 0.2, True),
    (3, [5, 10, 4], "relu", None, False),
    (4, [2, 5, 5, 5, 3], "relu", None, False),
]


def np_forward(h, net, X):
    X = np.atleast_2d(X)
    if net.scaler is not None:
        X = net.scaler.transform(X, np.float64)
    return h.np_forward(net, X)[0]          # every layer's z


@pytest.mark.parametrize("seed,sizes,act,alpha,scaler", NETS)
def test_optimized_bounds_hold_for_any_parameters(h, seed, sizes, act, alpha, scaler):
    """Random domains (random neurons fixed on or off), random α in [leaky slope, 1],
    β >= 0 and λ >= 0: every sampled input whose activation pattern agrees with the
    domain has Σ_k λ_k f_k(z_L) at most the bound; and the optimized bound is no
    larger than the plain one."""
    net = brute_force.tiny_net(seed, sizes, act, alpha=alpha, scaler=scaler, sd=0.8)
    pl = piecewise_linear(net)
    rng = np.random.default_rng(seed)
    n_in, B = sizes[0], 16
    lo, hi = np.full(n_in, -1.5), np.full(n_in, 1.5)
    X = rng.uniform(lo, hi, (20000, n_in))
    Zs = np_forward(h, net, X)
    # domains: the pattern of a random sample on a random third of the neurons
    splits = []
    anchor = rng.integers(0, X.shape[0], B)
    for Z in Zs[:-1]:
        s = np.where(Z[anchor] >= 0, 1, -1).astype(np.int8)
        s[rng.random(s.shape) < 0.67] = 0
        splits.append(s)
    crit = Criterion(SimpleNamespace(kind="margin", c=0, margin=0.3), sizes[-1])
    S, hh = necessary_rows(crit)
    K = S.shape[1]
    lam0 = np.vstack([np.eye(K), rng.random((2, K)) + 0.01])
    free = np.array([False] * K + [True, True])
    boxes, empty = relu_branch.domain_bounds(pl, lo, hi, splits)
    assert not empty.any()                  # each domain holds its anchor sample
    bound = relu_branch.OptimizedBound(pl, lo, hi, S, hh, boxes, splits, lam0, free)
    plain = bound.bound()[0]
    optimized, _ = bound.optimize()            # the best iterate, the first one included
    assert np.all(optimized <= plain) and np.any(optimized < plain - 1e-3)
    fixed_lam = bound.lam.copy()
    fixed_lam[:, K:] = lam0[K:]                 # the free columns moved; these did not
    checks = [(optimized[:, :K], fixed_lam[:, :K])]
    for j, a in enumerate(pl.alphas):      # any valid parameters
        bound.alpha[j][...] = rng.uniform(a, 1.0, bound.alpha[j].shape)
        bound.beta[j][...] = rng.exponential(0.5, bound.beta[j].shape)
    bound.lam[:, K:] = rng.random((B, 2, K))
    checks.append((bound.bound()[0], bound.lam.copy()))
    for d in range(B):
        inside = np.ones(X.shape[0], bool)
        for Z, s in zip(Zs[:-1], splits):
            inside &= np.all((s[d] == 0) | ((s[d] > 0) & (Z >= 0)) | ((s[d] < 0) & (Z <= 0)),
                             axis=1)
        assert inside.sum() > 0
        F = Zs[-1][inside] @ S - hh                         # every condition, each point
        for upper, lam in checks:
            values = F @ lam[d].T                            # (points, M)
            assert np.all(values.max(axis=0) <= upper[d]), (d, values.max(axis=0), upper[d])


@pytest.mark.parametrize("seed,sizes,act,alpha,scaler", brute_force.TINY)
def test_output_targets_against_brute_force(h, seed, sizes, act, alpha, scaler):
    """A target within tol of the closest achievable output is reached; one farther
    than tol from every achievable output is proven unreachable (on 3 targets per net,
    in and around the range of the outputs)."""
    net = brute_force.tiny_net(seed, sizes, act, alpha=alpha, scaler=scaler)
    pl = piecewise_linear(net)
    lo, hi = brute_force.box_for(net)
    P = brute_force.pieces(net, lo, hi)
    t_lo, t_hi = brute_force.brute_output_range(P, lo, hi)
    rng = np.random.default_rng(seed)
    for t in (t_hi + 0.2, t_lo - 0.3, 0.5 * (t_lo + t_hi) + rng.uniform(-0.1, 0.1, t_lo.size)):
        closest = brute_force.brute_closest(P, lo, hi, t)
        tol = 1e-4 + 1e-3 * np.abs(t).max()
        if abs(closest - tol) < 1e-6:
            continue                                   # too close to call either way
        goal = SimpleNamespace(kind="values", t=t, m=np.ones(t.size, bool), tolerance=tol)
        crit = Criterion(goal, sizes[-1])
        status, x, _ = relu_branch.relu_branch_and_bound(net, pl, crit, lo, hi, 30)
        if closest > tol:
            assert status == "unreachable", (t, closest, tol)
        else:
            assert status in ("reached", "open"), (t, closest, tol, status)
            if status == "reached":
                assert np.abs(np_forward(h, net, x)[-1][0] - t).max() <= tol


def test_identity_layers_are_not_split(h):
    """A network with identity hidden layers is one affine map: its single domain is
    decided by one LP (a proof beyond the exact maximum, a witness below it), with no
    neuron split."""
    net = brute_force.tiny_net(5, [3, 5, 4, 1], "identity")
    pl = piecewise_linear(net)
    lo, hi = np.full(3, -1.0), np.full(3, 1.0)
    P = brute_force.pieces(net, lo, hi)
    assert len(P) == 1
    t_lo, t_hi = brute_force.brute_output_range(P, lo, hi)
    for t, expected in ((t_hi + 0.1, "unreachable"), (t_hi - 0.1, "reached")):
        goal = SimpleNamespace(kind="values", t=t, m=np.ones(1, bool), tolerance=1e-3)
        status, x, stats = relu_branch.relu_branch_and_bound(net, pl, Criterion(goal, 1),
                                                             lo, hi, 30)
        assert status == expected and stats["domains"] == 1
        if x is not None:
            assert abs(np_forward(h, net, x)[-1][0, 0] - t[0]) <= 1e-3


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_an_interrupted_search_still_bounds_the_margin(seed):
    """Stopped after 1, 3 or 7 domains, the search's slack bound s says no input has
    a margin above level + s: never below the brute-force best."""
    net = brute_force.tiny_net(seed, [2, 6, 6, 3], "relu", "cross_entropy", sd=1.2)
    pl = piecewise_linear(net)
    lo, hi = np.full(2, -1.0), np.full(2, 1.0)
    P = brute_force.pieces(net, lo, hi)
    finite = 0
    for cls in range(3):
        best = brute_force.brute_margin(P, lo, hi, cls)
        for level in (best - 0.5, best + 0.01, best + 0.3):
            crit = Criterion(SimpleNamespace(kind="margin", c=cls, margin=level), 3)
            for stop in (1, 3, 7):
                status, x, stats = relu_branch.relu_branch_and_bound(
                    net, pl, crit, lo, hi, 30, max_domains=stop)
                if status != "open":
                    continue
                assert level + stats["slack_bound"] >= best - 1e-9, (cls, level, best, stats)
                finite += np.isfinite(stats["slack_bound"])
    assert finite > 0                      # some stops came with a finite bound


@pytest.mark.parametrize("seed,sizes,act,alpha,scaler", brute_force.TINY[:3])
def test_an_interrupted_search_still_bounds_the_error(seed, sizes, act, alpha, scaler):
    """For an output target, tol - s is a lower bound on the max error any input can
    get: never above the brute-force closest output's error."""
    net = brute_force.tiny_net(seed, sizes, act, alpha=alpha, scaler=scaler)
    pl = piecewise_linear(net)
    lo, hi = brute_force.box_for(net)
    P = brute_force.pieces(net, lo, hi)
    t_lo, t_hi = brute_force.brute_output_range(P, lo, hi)
    seen = 0
    for t in (t_hi + 0.4, t_hi + 0.02, t_lo - 0.2, t_lo - 0.02):
        closest = brute_force.brute_closest(P, lo, hi, t)
        goal = SimpleNamespace(kind="values", t=t, m=np.ones(t.size, bool), tolerance=1e-3)
        for stop in (1, 3):
            status, _, stats = relu_branch.relu_branch_and_bound(
                net, pl, Criterion(goal, sizes[-1]), lo, hi, 30, max_domains=stop)
            if status == "open" and np.isfinite(stats["slack_bound"]):
                assert 1e-3 - stats["slack_bound"] <= closest + 1e-9, (t, closest, stats)
                seen += 1
    assert seen > 0
