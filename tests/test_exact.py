"""Exact answers for piecewise-linear networks (invert(method="exact"), output_bounds),
against independent references.

References
----------
* Brute force (written here): on a tiny net (<= 12 ReLUs) every activation pattern is a
  linear piece of the input box; the net's map on it is composed here from the layers'
  W and b, and each piece's question is a linear program solved by
  scipy.optimize.linprog.  The minimum (maximum) over the pieces is the exact answer:
  the closest achievable output, the largest logit margin, the bounds of every output,
  the nearest input reaching a target.
* Reachable targets by construction: t = net(x) for a random x in the box (the exact
  method must never call them unreachable), checked by conftest.np_forward, by
  scikit-learn's own predict and by the torch module the network came from.
* Unreachable targets: beyond the brute-force maximum, where 200,000 random inputs and
  the local search find nothing.

Every test is deterministic (seeds fixed) and the file takes seconds.
"""
from pathlib import Path

import numpy as np
import pytest

import fastmlp
from fastmlp import Network, invert, output_bounds

from brute_force import (
    TINY, box_for, brute_closest, brute_margin, brute_nearest_l1, brute_output_range, pieces,
    tiny_net)

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def np_outputs(h, net, X, logits=False):
    Zs, As = h.np_forward(net, np.atleast_2d(X) if net.scaler is None else
                          net.scaler.transform(np.atleast_2d(X), np.float64))
    return Zs[-1] if logits else As[-1]


# ---------------------------------------------------------------------------
# 1. against brute force
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("seed,sizes,act,alpha,scaler", TINY)
def test_closest_and_reachability_match_brute_force(h, seed, sizes, act, alpha, scaler):
    net = tiny_net(seed, sizes, act, alpha=alpha, scaler=scaler)
    lo, hi = box_for(net)
    rng = np.random.default_rng(seed)
    P = pieces(net, lo, hi)
    true_lo, true_hi = brute_output_range(P, lo, hi)
    for trial in range(4):
        # inside the range, near its edges, and beyond them
        t = np.where(rng.random(sizes[-1]) < 0.5, true_hi + rng.uniform(-0.3, 0.6, sizes[-1]),
                     true_lo - rng.uniform(-0.3, 0.6, sizes[-1]))
        ref = brute_closest(P, lo, hi, t)
        r = invert(net, t, bounds=np.c_[lo, hi], method="exact", objective="closest", seed=0)
        assert abs(r.residual - ref) <= 1e-6 * (1 + ref), (t, r.residual, ref, r.message)
        assert r.bound <= ref + 1e-6 and r.gap <= 1e-5 * (1 + ref)
        assert np.all(r.x >= lo) and np.all(r.x <= hi)
        out = np_outputs(h, net, r.x)[0]
        assert abs(np.abs(out - t).max() - r.residual) <= 1e-9            # independent check
        tol = 1e-4 + 1e-3 * np.abs(t).max()
        f = invert(net, t, bounds=np.c_[lo, hi], method="exact", seed=0)
        if ref <= 0.9 * tol:
            assert f.status == "reached" and f.success, (ref, tol, f.message)
            assert np.abs(np_outputs(h, net, f.x)[0] - t).max() <= tol
        elif ref > tol:
            assert f.status == "unreachable" and not f.success, (ref, tol, f.message)
            assert "unreachable" in f.message and "0." in f.message     # the tolerance used


@pytest.mark.parametrize("seed,sizes,act,alpha,scaler", TINY[:4])
def test_output_bounds_match_brute_force(h, seed, sizes, act, alpha, scaler):
    net = tiny_net(seed, sizes, act, alpha=alpha, scaler=scaler)
    lo, hi = box_for(net)
    mins, maxs = brute_output_range(pieces(net, lo, hi), lo, hi)
    b = output_bounds(net, np.c_[lo, hi])
    assert b.optimal.all()
    np.testing.assert_allclose(b.lower, mins, atol=1e-6 * (1 + np.abs(mins).max()))
    np.testing.assert_allclose(b.upper, maxs, atol=1e-6 * (1 + np.abs(maxs).max()))
    assert np.all(b.lower <= mins + 1e-9) and np.all(b.upper >= maxs - 1e-9)   # certified
    # the witnesses give those values in an independent forward pass
    for k in range(net.sizes[-1]):
        assert abs(np_outputs(h, net, b.argmin[k])[0, k] - mins[k]) <= 1e-6 * (1 + abs(mins[k]))
        assert abs(np_outputs(h, net, b.argmax[k])[0, k] - maxs[k]) <= 1e-6 * (1 + abs(maxs[k]))


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_class_margin_against_brute_force(h, seed):
    net = tiny_net(seed, [2, 4, 4, 3], "relu", "cross_entropy", sd=1.2)
    lo, hi = np.full(2, -1.0), np.full(2, 1.0)
    P = pieces(net, lo, hi)
    for cls in range(3):
        best = brute_margin(P, lo, hi, cls)
        r = invert(net, class_index=cls, bounds=(-1, 1), method="exact", objective="closest",
                   margin=max(best, 0) + 1.0, seed=0)
        Z = np_outputs(h, net, r.x, logits=True)[0]
        achieved = Z[cls] - np.delete(Z, cls).max()
        assert abs(achieved - best) <= 1e-6 * (1 + abs(best)), (cls, achieved, best)
        assert r.status == "unreachable" and r.bound <= best + 1e-6
        if best < 0.1:
            continue                       # this class wins nowhere in the box
        # just below the best margin: reached; just above: proven unreachable
        yes = invert(net, class_index=cls, objective="margin", margin=best - 0.05,
                     bounds=(-1, 1), method="exact", seed=0)
        assert yes.status == "reached"
        Z = np_outputs(h, net, yes.x, logits=True)[0]
        assert Z[cls] - np.delete(Z, cls).max() >= best - 0.05
        no = invert(net, class_index=cls, objective="margin", margin=best + 0.05,
                    bounds=(-1, 1), method="exact", seed=0)
        assert no.status == "unreachable", no.message
        # probability targets: p_c >= q brackets the margin
        q_hi = 1 / (1 + 2 * np.exp(-(best + 0.05)))     # above what any input gives
        p = invert(net, class_index=cls, min_prob=min(q_hi, 0.999999), bounds=(-1, 1),
                   method="exact", seed=0)
        p_best = 1 / (1 + np.exp(-best))                    # upper bound on p_c at best margin
        if q_hi > p_best:
            assert p.status == "unreachable", p.message


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_the_milp_step_alone_against_brute_force(h, seed):
    """solve._find, the MILP that maximizes the margin with the level as its bound and
    stops at its first point, without the local search or the input-space branch and
    bound in front of it: a point (checked here by the NumPy forward pass) just below
    the brute-force best margin, a proof of infeasibility just above it."""
    import types
    from fastmlp.exact import solve
    from fastmlp.exact.goal import Criterion
    from fastmlp.exact.model import Model
    net = tiny_net(seed, [2, 4, 4, 3], "relu", "cross_entropy", sd=1.2)
    lo, hi = np.full(2, -1.0), np.full(2, 1.0)
    P = pieces(net, lo, hi)
    for cls in range(3):
        best = brute_margin(P, lo, hi, cls)
        for level, expected in ((best - 0.05, solve.FEASIBLE), (best + 0.05, solve.INFEASIBLE)):
            crit = Criterion(types.SimpleNamespace(kind="margin", c=cls, margin=level), 3)
            status, x = solve._find(Model(net, lo, hi, 30), crit, crit.asked())
            assert status == expected, (cls, best, level, status)
            if expected == solve.FEASIBLE:
                Z = np_outputs(h, net, x, logits=True)[0]
                assert Z[cls] - np.delete(Z, cls).max() >= level
                assert np.all(x >= lo) and np.all(x <= hi)


@pytest.mark.parametrize("norm", ["l1", "linf"])
def test_nearest_against_brute_force(h, norm):
    net = tiny_net(4, [4, 6, 1], "relu")
    lo, hi = np.full(4, -1.5), np.full(4, 1.5)
    rng = np.random.default_rng(0)
    x_ref = rng.uniform(-1, 1, 4)
    t0 = np_outputs(h, net, x_ref)[0, 0]
    t = np.array([t0 + 0.7])
    r = invert(net, t, bounds=(-1.5, 1.5), method="exact", objective="nearest", x_ref=x_ref,
               norm=norm, seed=0)
    assert r.status == "reached"
    tol = 1e-4 + 1e-3 * abs(t[0])
    assert abs(np_outputs(h, net, r.x)[0, 0] - t[0]) <= tol
    dist = np.abs(r.x - x_ref).sum() if norm == "l1" else np.abs(r.x - x_ref).max()
    if norm == "l1":
        ref = brute_nearest_l1(pieces(net, lo, hi), lo, hi, t, tol * (1 - 1e-3), x_ref, np.ones(4))
        assert abs(dist - ref) <= 1e-5 * (1 + ref), (dist, ref)
    assert r.gap <= 1e-5 and r.bound <= dist + 1e-9
    # no point reaching the target is closer than the bound, on a dense sample
    X = x_ref + rng.uniform(-1, 1, (100000, 4)) * dist
    X = np.clip(X, lo, hi)
    reach = np.abs(net.forward(X)[:, 0] - t[0]) <= tol * (1 - 1e-3)
    d = np.abs(X - x_ref).sum(1) if norm == "l1" else np.abs(X - x_ref).max(1)
    assert not np.any(d[reach] < r.bound - 1e-9)


# ---------------------------------------------------------------------------
# 2. proofs where sampling and the local search find nothing; no false proofs
# ---------------------------------------------------------------------------

def test_unreachable_target_that_sampling_and_local_search_miss(h):
    net = tiny_net(6, [2, 6, 6, 1], "relu")
    lo, hi = np.full(2, -1.5), np.full(2, 1.5)
    top = brute_output_range(pieces(net, lo, hi), lo, hi)[1][0]
    for t, expect in ((top + 0.02, "unreachable"), (top - 0.002, "reached")):
        X = np.random.default_rng(1).uniform(lo, hi, (200000, 2))
        sampled = np.abs(net.forward(X)[:, 0] - t).min()
        local = invert(net, [t], bounds=(-1.5, 1.5), n_restarts=64, seed=0)
        r = invert(net, [t], bounds=(-1.5, 1.5), method="exact", seed=0)
        assert r.status == expect, r.message
        if expect == "unreachable":
            assert not local.success and sampled > 1e-4 + 1e-3 * abs(t)
            assert local.status == "unknown"          # the local search proves nothing
        else:
            assert abs(np_outputs(h, net, r.x)[0, 0] - t) <= 1e-4 + 1e-3 * abs(t)


@pytest.mark.parametrize("seed", range(6))
def test_reachable_targets_are_never_called_unreachable(h, seed):
    """t = net(x) for x in the box: reachable by construction, also on nets far too
    big for brute force; partial targets (NaN) and fixed features included."""
    rng = np.random.default_rng(seed)
    sizes = [int(rng.integers(3, 9)), 10, 10, int(rng.integers(1, 4))]
    net = tiny_net(100 + seed, sizes, ["relu", "leaky_relu"][seed % 2],
                   alpha=0.05 if seed % 2 else None, scaler=seed % 3 == 0, sd=0.6)
    lo, hi = box_for(net, 1.0)
    x = rng.uniform(lo, hi)
    t = np_outputs(h, net, x)[0].copy()
    if sizes[-1] > 1:
        t[0] = np.nan                                         # a free output
    fixed = {1: float(x[1])} if seed % 2 else None
    r = invert(net, t, bounds=np.c_[lo, hi], fixed=fixed, method="exact", n_restarts=2,
               max_iter=3, seed=seed)                          # a weak local search
    assert r.status == "reached", r.message
    k = ~np.isnan(t)
    assert np.abs(np_outputs(h, net, r.x)[0][k] - t[k]).max() <= 1e-4 + 1e-3 * np.abs(t[k]).max()
    if fixed:
        assert r.x[1] == x[1]


def test_fixed_features_and_partial_targets_against_brute_force():
    net = tiny_net(2, [3, 5, 3, 2], "relu", scaler=True)
    lo, hi = box_for(net)
    lo_f, hi_f = lo.copy(), hi.copy()
    lo_f[0] = hi_f[0] = net.scaler.mean[0] + 0.3                  # feature 0 pinned
    P = pieces(net, lo_f, hi_f)
    for t in ([np.nan, 1.5], [0.5, np.nan], [2.0, -1.0]):
        t = np.array(t)
        ref = brute_closest(P, lo_f, hi_f, t)
        r = invert(net, t, bounds=np.c_[lo, hi], fixed={0: lo_f[0]}, method="exact",
                   objective="closest", seed=0)
        assert r.x[0] == lo_f[0]
        assert abs(r.residual - ref) <= 1e-6 * (1 + ref)


# ---------------------------------------------------------------------------
# 3. networks from scikit-learn and PyTorch; float32; MNIST
# ---------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_from_sklearn_regressor():
    pytest.importorskip("sklearn")
    from sklearn.neural_network import MLPRegressor
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (300, 3))
    y = np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2]
    est = MLPRegressor(hidden_layer_sizes=(5, 5), activation="relu", max_iter=300, random_state=0).fit(X, y)
    net = Network.from_sklearn(est)
    lo, hi = X.min(0), X.max(0)
    top = brute_output_range(pieces(net, lo, hi), lo, hi)[1][0]
    r = invert(net, [top - 0.01], bounds=np.c_[lo, hi], method="exact", seed=0)
    assert r.status == "reached"
    assert abs(est.predict(r.x[None])[0] - (top - 0.01)) <= 1e-4 + 1e-3 * abs(top)
    assert invert(net, [top + 0.05], bounds=np.c_[lo, hi], method="exact",
                  seed=0).status == "unreachable"


def test_from_torch_classifier(torch):
    nn = torch.nn
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.LeakyReLU(0.1),
                          nn.Linear(8, 3)).double()
    net = Network.from_torch(model, loss="cross_entropy")
    for cls in range(3):
        r = invert(net, class_index=cls, objective="margin", margin=0.5, bounds=(-2, 2),
                   method="exact", seed=0)
        if r.status == "reached":
            z = model(torch.tensor(r.x[None])).detach().numpy()[0]
            assert z[cls] - np.delete(z, cls).max() >= 0.5
        else:
            assert r.status == "unreachable"
            X = torch.tensor(np.random.default_rng(0).uniform(-2, 2, (50000, 4)))
            Z = model(X).detach().numpy()
            assert np.max(Z[:, cls] - np.delete(Z, cls, axis=1).max(1)) < 0.5


def test_float32_network_witness_holds_in_float64(h):
    net = tiny_net(3, [5, 12, 12, 2], "relu", sd=0.6).astype(np.float32)
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, 5)
    t = np_outputs(h, net, x)[0]
    r = invert(net, t, bounds=(-1, 1), method="exact", n_restarts=1, max_iter=2, seed=0)
    assert r.status == "reached"
    assert np.abs(np_outputs(h, net, r.x)[0] - t).max() <= 1e-4 + 1e-3 * np.abs(t).max()


@pytest.fixture(scope="module")
def mnist_net():
    if not MNIST_DIR.is_dir():
        pytest.skip(f"MNIST-24k not found at {MNIST_DIR}")
    X, y = fastmlp.datasets.load_mnist(MNIST_DIR, "train")
    net = Network([784, 24, 24, 10], "relu", "cross_entropy", seed=0)
    net.fit(X[:6000], y[:6000], epochs=2, batch_size=128, lr=2e-3, seed=0)
    return net, X[:50], y[:50]


def test_mnist_counterfactual_and_proof(h, mnist_net):
    """A real image with all but a 6×6 patch fixed: can the patch alone make the net
    call it another class (margin 2)?  Whatever the answer, it must be consistent: a
    witness checked by an independent forward pass, or a proof that no patch of a
    much larger margin works either, consistent with random patches."""
    net, X, y = mnist_net
    img, label = X[0].astype(np.float64), int(y[0])
    patch = np.zeros((28, 28), bool)
    patch[11:17, 11:17] = True
    fixed = ~patch.ravel()
    other = (label + 1) % 10
    r = invert(net, class_index=other, objective="margin", margin=2.0, fixed=fixed, x0=img,
               bounds=(0, 1), method="exact", time_limit=20, seed=0)
    assert r.status in ("reached", "unreachable", "unknown")
    assert np.array_equal(r.x[fixed], img[fixed])
    if r.status == "reached":
        z = np_outputs(h, net, r.x, logits=True)[0]
        assert z[other] - np.delete(z, other).max() >= 2.0
    own = invert(net, class_index=label, objective="margin", margin=2.0, fixed=fixed, x0=img,
                 bounds=(0, 1), method="exact", time_limit=20, seed=0)
    assert own.status == "reached"
    z = np_outputs(h, net, own.x, logits=True)[0]
    assert z[label] - np.delete(z, label).max() >= 2.0
    big = invert(net, class_index=other, objective="margin", margin=1e3, fixed=fixed, x0=img,
                 bounds=(0, 1), method="exact", time_limit=20, seed=0)
    assert big.status == "unreachable"
    R = np.tile(img, (2000, 1))
    R[:, ~fixed] = np.random.default_rng(0).uniform(0, 1, (2000, int((~fixed).sum())))
    Z = np_outputs(h, net, R, logits=True)
    assert np.max(Z[:, other] - np.delete(Z, other, axis=1).max(1)) < 1e3


# ---------------------------------------------------------------------------
# 4. the API around it
# ---------------------------------------------------------------------------

def test_local_results_carry_a_status():
    net = tiny_net(1, [2, 4, 4, 1], "relu")
    r = invert(net, [0.1], bounds=(-1, 1), seed=0)
    assert r.status == ("reached" if r.success else "unknown") and r.bound is None


def test_auto_escalates_only_when_the_search_fails():
    net = tiny_net(6, [2, 6, 6, 1], "relu")
    lo, hi = np.full(2, -1.5), np.full(2, 1.5)
    top = brute_output_range(pieces(net, lo, hi), lo, hi)[1][0]
    easy = invert(net, [top - 1.0], bounds=(-1.5, 1.5), method="auto", seed=0)
    assert easy.status == "reached" and easy.stats == {}          # no MILP ran
    hard = invert(net, [top + 0.5], bounds=(-1.5, 1.5), method="auto", seed=0)
    assert hard.status == "unreachable" and hard.stats["relus"] == 12
    assert {"unstable", "unstable_interval"} <= set(hard.stats)
    assert hard.stats["unstable"] <= hard.stats["unstable_interval"]
    tanh = tiny_net(6, [2, 6, 1], "tanh")                           # not piecewise linear
    assert invert(tanh, [50.0], bounds=(-1, 1), method="auto", seed=0).status == "unknown"


@pytest.mark.parametrize("kwargs,match", [
    (dict(method="exact", bounds=None), r"finite bounds"),
    (dict(method="global"), r"method must be"),
    (dict(objective="closest"), r"needs method='exact'"),
    (dict(method="exact", objective="nearest", norm="l2"), r"norm must be"),
    (dict(method="exact", time_limit=-1), r"time_limit"),
])
def test_bad_exact_requests(kwargs, match):
    net = tiny_net(1, [2, 4, 4, 1], "relu")
    kwargs = {"bounds": (-1, 1), **kwargs}
    with pytest.raises(ValueError, match=match):
        invert(net, [0.0], **kwargs)


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "gelu", "elu", "softplus"])
def test_non_piecewise_linear_networks_are_refused(act):
    net = Network([2, 3, 1], act, "mse", dtype=np.float64, seed=0)
    with pytest.raises(ValueError, match="piecewise-linear"):
        invert(net, [0.0], bounds=(-1, 1), method="exact")
    with pytest.raises(ValueError, match="piecewise-linear"):
        output_bounds(net, (-1, 1))
    sig_out = Network([2, 3, 1], "relu", "mse", dtype=np.float64, seed=0,
                      output_activation="sigmoid")
    with pytest.raises(ValueError, match="output layer"):
        invert(sig_out, [0.5], bounds=(-1, 1), method="exact")


def test_time_limit_gives_unknown_with_a_sound_bound(h):
    """A proof that takes HiGHS ~20 s, cut off after 0.5 s: "unknown", never a claim,
    and the bound on the margin is above every margin sampled inputs reach."""
    net = Network([20, 32, 32, 3], "relu", "cross_entropy", dtype=np.float64, seed=1)
    rng = np.random.default_rng(1)
    for layer in net.layers:
        layer.b = rng.normal(0, 0.1, layer.n_out)
    r = invert(net, class_index=0, objective="margin", margin=3.94, bounds=(0, 1),
               method="exact", time_limit=0.5, seed=0)
    assert r.status == "unknown" and not r.success and "time limit" in r.message
    Z = np_outputs(h, net, rng.uniform(0, 1, (100000, 20)), logits=True)
    sampled = np.max(Z[:, 0] - Z[:, 1:].max(axis=1))
    assert r.bound is not None and r.bound >= sampled
    z = np_outputs(h, net, r.x, logits=True)[0]
    assert z[0] - z[1:].max() <= r.bound
