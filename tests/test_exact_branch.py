"""Input-space branch and bound (fastmlp.exact.branch) and the batched bounds it uses
(fastmlp.exact.bounds), against independent references: dense random samples through
conftest's NumPy forward pass (a certified bound below a sampled value is a bug) and the
brute force over activation patterns in tests/brute_force.py (exact maxima)."""
from types import SimpleNamespace

import numpy as np
import pytest

from fastmlp import Network, invert
from fastmlp.exact import branch
from fastmlp.exact.bounds import relaxations, spec_bounds, tighten
from fastmlp.exact.goal import Criterion
from fastmlp.exact.piecewise import piecewise_linear
from fastmlp.exact.relu_branch import relu_branch_and_bound

import brute_force


def np_logits(h, net, X):
    X = np.atleast_2d(X)
    if net.scaler is not None:
        X = net.scaler.transform(X, np.float64)
    return h.np_forward(net, X)


NETS = [  # (seed, sizes, activation, alpha, scaler)
    (1, [3, 8, 8, 2], "relu", None, False),
    (2, [4, 6, 6, 3], "leaky_relu", 0.2, True),
    (3, [5, 10, 4], "relu", None, False),
    (4, [6, 16, 16, 3], "relu", None, True),
]


@pytest.mark.parametrize("seed,sizes,act,alpha,scaler", NETS)
def test_batched_bounds_hold_on_dense_samples(h, seed, sizes, act, alpha, scaler):
    net = brute_force.tiny_net(seed, sizes, act, alpha=alpha, scaler=scaler, sd=0.7)
    pl = piecewise_linear(net)
    rng = np.random.default_rng(seed)
    n, B = sizes[0], 24
    a, b = rng.uniform(-2, 2, (B, n)), rng.uniform(-2, 2, (B, n))
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    pinned = rng.random((B, n)) < 0.2                      # fixed features: lo = hi
    hi[pinned] = lo[pinned]
    S = rng.normal(size=(sizes[-1], 5))
    s0 = rng.normal(size=5)
    up, C = spec_bounds(pl, relaxations(pl, lo, hi), lo, hi, S, s0)
    assert up.shape == (B, 5) and C.shape == (B, n, 5) and np.isfinite(up).all()
    for i in range(B):
        corners = np.where(rng.random((256, n)) < 0.5, lo[i], hi[i])
        X = np.vstack([rng.uniform(lo[i], hi[i], (3000, n)), corners])
        Zs, _ = np_logits(h, net, X)
        assert np.all((Zs[-1] @ S + s0).max(axis=0) <= up[i] + 1e-9 * (1 + np.abs(up[i])))
        for (l, u), Z in zip(tighten(pl, lo[i], hi[i]), Zs):      # every layer's z
            assert np.all(Z >= l - 1e-12) and np.all(Z <= u + 1e-12)


def values_goal(t, tol):
    t = np.atleast_1d(np.asarray(t, np.float64))
    return SimpleNamespace(kind="values", t=np.nan_to_num(t), m=~np.isnan(t), tolerance=tol)


@pytest.mark.parametrize("seed,sizes,act,alpha,scaler", brute_force.TINY)
def test_proofs_and_witnesses_match_brute_force(h, seed, sizes, act, alpha, scaler):
    net = brute_force.tiny_net(seed, sizes, act, alpha=alpha, scaler=scaler)
    pl = piecewise_linear(net)
    lo, hi = brute_force.box_for(net)
    mins, maxs = brute_force.brute_output_range(brute_force.pieces(net, lo, hi), lo, hi)
    tol = 1e-3
    for k in range(sizes[-1]):
        t = np.full(sizes[-1], np.nan)
        t[k] = maxs[k] + 0.05                            # beyond the exact maximum
        status, _, stats = branch.branch_and_bound(
            net, pl, Criterion(values_goal(t, tol), sizes[-1]), lo, hi, budget=30)
        assert status == "unreachable", (k, stats)
        t[k] = mins[k] + 0.7 * (maxs[k] - mins[k])      # inside the range: reachable,
        status, x, _ = branch.branch_and_bound(         # and bracketed by two points
            net, pl, Criterion(values_goal(t, tol), sizes[-1]), lo, hi, budget=2)
        assert status == "reached"
        assert np.all(x >= lo) and np.all(x <= hi)
        _, As = np_logits(h, net, x)
        assert abs(As[-1][0, k] - t[k]) <= tol


@pytest.mark.parametrize("seed", [11, 12, 13])
@pytest.mark.parametrize("search, always_reaches", [(branch.branch_and_bound, False),
                                                    (relu_branch_and_bound, True)])
def test_margin_proofs_match_brute_force(h, seed, search, always_reaches):
    """Both searches (input-space, and ReLU-splitting with optimized bounds): just above
    the exact best margin a proof; just below it never one, and the ReLU-splitting one
    (whose fully split domains are decided by an LP) always finds the witness."""
    net = brute_force.tiny_net(seed, [2, 4, 4, 3], "relu", "cross_entropy", sd=1.2)
    pl = piecewise_linear(net)
    lo, hi = np.full(2, -1.0), np.full(2, 1.0)
    P = brute_force.pieces(net, lo, hi)
    for cls in range(3):
        best = brute_force.brute_margin(P, lo, hi, cls)
        for margin, possible in ((best + 0.02, False), (best - 0.02, True)):
            goal = SimpleNamespace(kind="margin", c=cls, margin=margin)
            status, x, _ = search(net, pl, Criterion(goal, 3), lo, hi, 30)
            if not possible:
                assert status == "unreachable", (cls, best)
                continue
            assert status == "reached" if always_reaches else status != "unreachable"
            if status == "reached":
                Zs, _ = np_logits(h, net, x)
                assert Zs[-1][0, cls] - np.delete(Zs[-1][0], cls).max() >= margin


def test_invert_proves_with_fixed_features_and_no_milp(h):
    """6 inputs, 2 held fixed: the exact maximum over the other 4 (brute force), a target
    beyond it is proven unreachable by the branch and bound alone, where 100,000 samples
    and the local search miss; just inside it, the answer is a checked witness."""
    net = brute_force.tiny_net(21, [6, 6, 6, 1], "relu", sd=0.8)
    fixed = {1: 0.3, 4: -0.7}
    lo, hi = np.full(6, -1.0), np.full(6, 1.0)
    for i, v in fixed.items():
        lo[i] = hi[i] = v
    top = brute_force.brute_output_range(brute_force.pieces(net, lo, hi), lo, hi)[1][0]
    X = np.random.default_rng(0).uniform(lo, hi, (100000, 6))
    t = top + 0.03
    tol = 1e-4 + 1e-3 * abs(t)
    assert np.abs(np_logits(h, net, X)[1][-1][:, 0] - t).min() > tol
    local = invert(net, [t], bounds=(-1, 1), fixed=fixed, seed=0)
    assert not local.success
    r = invert(net, [t], bounds=(-1, 1), fixed=fixed, method="exact", seed=0)
    assert r.status == "unreachable" and not r.success, r.message
    assert r.stats["proof"].startswith("input-space branch and bound")
    assert r.stats["milp_calls"] == 0 and "branch and bound" in r.message
    near = invert(net, [top - 0.01], bounds=(-1, 1), fixed=fixed, method="exact", seed=0)
    assert near.status == "reached"
    assert near.x[1] == 0.3 and near.x[4] == -0.7
    assert abs(np_logits(h, net, near.x)[1][-1][0, 0] - (top - 0.01)) <= 1e-4 + 1e-3 * abs(top)


def test_nearest_on_an_unreachable_target_is_proven_unreachable():
    net = brute_force.tiny_net(4, [4, 6, 1], "relu")
    lo, hi = np.full(4, -1.5), np.full(4, 1.5)
    top = brute_force.brute_output_range(brute_force.pieces(net, lo, hi), lo, hi)[1][0]
    r = invert(net, [top + 0.1], bounds=(-1.5, 1.5), method="exact", objective="nearest",
               x_ref=np.zeros(4), seed=0)
    assert r.status == "unreachable", r.message


def test_loose_bounds_hand_over_to_the_milp():
    """On a random 20-32-32-3 net every ReLU stays unstable on every box tried: the
    search stops after HOPELESS_AFTER boxes (a count, not a time) and says so."""
    net = Network([20, 32, 32, 3], "relu", "cross_entropy", dtype=np.float64, seed=1)
    goal = SimpleNamespace(kind="margin", c=0, margin=4.0)
    status, x, stats = branch.branch_and_bound(
        net, piecewise_linear(net), Criterion(goal, 3), np.zeros(20), np.ones(20), budget=60)
    assert status == "open" and x is None
    assert branch.HOPELESS_AFTER <= stats["boxes"] < branch.HOPELESS_AFTER + 2 * branch.BATCH
    assert branch.hopeless(stats)
    assert branch.worth_trying(np.zeros(64), np.ones(64))
    assert not branch.worth_trying(np.zeros(65), np.ones(65))


def test_bound_corners_start_the_search_where_random_starts_are_dead(h):
    """Class 1 wins only near the all-ones corner of [0, 1]^100 (z_1 = 100 relu(Σx -
    99.5) - 1, z_0 = 0): random starts sit where the ReLU is off and the gradient is 0,
    so the plain local search fails; the corner that maximizes the certified linear
    bound of z_1 - z_0 is that corner, and the search started there succeeds (100
    inputs: no branch and bound, the MILP is not needed)."""
    net = Network([100, 1, 2], "relu", "cross_entropy", dtype=np.float64, seed=0)
    net.layers[0].W = np.ones((100, 1))
    net.layers[0].b = np.array([-99.5])
    net.layers[1].W = np.array([[0.0, 100.0]])
    net.layers[1].b = np.array([0.0, -1.0])
    local = invert(net, class_index=1, objective="margin", margin=1.0, bounds=(0, 1), seed=0)
    assert local.status == "unknown"
    r = invert(net, class_index=1, objective="margin", margin=1.0, bounds=(0, 1),
               method="exact", seed=0)
    assert r.status == "reached" and r.stats["solver"] == "local search", r.message
    Zs, _ = np_logits(h, net, r.x)
    assert Zs[-1][0, 1] - Zs[-1][0, 0] >= 1.0
    assert r.x.sum() >= 99.52 and np.all((r.x >= 0) & (r.x <= 1))
