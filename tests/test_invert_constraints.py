"""What invert() is told to respect: bounds (explicit, and by default the training range,
kept through save and load), fixed features, partial targets; and what it returns when
several inputs fit: distinct solutions sorted by residual, reproducible from the seed.
"""

import numpy as np

from fastmlp import Network, Standardizer, invert

from _inversion_helpers import _seed, random_net, affine_map, identity_net


# ---------------------------------------------------------------------------
# 1. Constraints, partial targets, several solutions
# ---------------------------------------------------------------------------

def test_bounds_are_respected_exactly():
    rng = np.random.default_rng(_seed("bounds"))
    net = random_net(rng, "tanh", "mse", scaler=True)
    while net.sizes[0] < 3:
        net = random_net(rng, "tanh", "mse", scaler=True)
    n_in = net.sizes[0]
    lo = net.scaler.mean - 0.3 * net.scaler.scale
    hi = net.scaler.mean + 0.2 * net.scaler.scale
    lo[0], hi[1] = -np.inf, np.inf
    b = np.column_stack([lo, hi])
    for t in (net.forward(net.scaler.mean)[0], 10 * np.ones(net.sizes[-1])):  # reachable / not
        r = invert(net, t, bounds=b, seed=0)
        assert len(r.solutions) >= 1
        for x, _, _ in r.solutions:
            assert x.shape == (n_in,)
            assert np.all(x >= lo) and np.all(x <= hi)
    # unreachable target pushes coordinates onto the bounds themselves
    assert any(np.any((x == lo) | (x == hi)) for x, _, _ in r.solutions)


def test_fixed_features_dict_and_mask():
    rng = np.random.default_rng(_seed("fixed"))
    net = Network([5, 12, 2], "tanh", "mse", dtype=np.float64, seed=2)
    x_true = rng.uniform(-0.5, 0.5, 5)
    t = net.forward(x_true)[0]
    fixed = {1: x_true[1], 3: 0.123456789}
    t2 = net.forward(np.where(np.arange(5) == 3, 0.123456789, x_true))[0]
    r = invert(net, t2, fixed=fixed, bounds=(-1, 1), seed=0)
    assert r.success, r.message
    for x, out, _ in r.solutions:
        assert x[1] == x_true[1] and x[3] == 0.123456789
        assert np.allclose(out, net.forward(x)[0], rtol=0, atol=1e-12)
    mask = np.array([True, False, False, True, False])
    x0 = x_true.copy()
    r = invert(net, t, fixed=mask, x0=x0, bounds=(-1, 1), seed=0)
    assert r.success, r.message
    for x, _, _ in r.solutions:
        assert np.array_equal(x[mask], x_true[mask])
    assert np.array_equal(x0, x_true)                    # the caller's x0 is untouched


def test_fixed_with_a_scaler_and_regression_to_the_reference():
    net = Network([3, 6, 1], "tanh", "mse", dtype=np.float64, seed=4)
    net.scaler = Standardizer(np.array([50.0, 0.0, -3.0]), np.array([20.0, 0.5, 2.0]))
    r = invert(net, [0.1], fixed={0: 61.5}, bounds=None, reg=1e-3, seed=0)
    assert all(x[0] == 61.5 for x, _, _ in r.solutions)


def test_partial_targets_only_constrain_the_specified_outputs():
    net = identity_net(3, 3, seed=8, hidden=(2,))      # rank 2: not every target reachable
    A, c = affine_map(net)
    x_true = np.array([0.3, -0.2, 0.5])
    full = A @ x_true + c
    t = full.copy()
    t[1] = np.nan
    r_nan = invert(net, t, bounds=None, seed=0)
    assert r_nan.success, r_nan.message
    for x, out, res in r_nan.solutions:
        assert abs(res - np.abs(out - full)[[0, 2]].max()) <= 1e-12
    assert np.abs(A[[0, 2]] @ r_nan.x + c[[0, 2]] - full[[0, 2]]).max() <= 1e-8
    # the free output takes whatever value: the same run with output 1 masked out,
    # whatever is written there, gives the very same answer
    t_junk = full.copy()
    t_junk[1] = 1e6
    r_mask = invert(net, t_junk, mask=[True, False, True], bounds=None, seed=0)
    assert np.array_equal(r_mask.x, r_nan.x)
    # and that target (with output 1 = 1e6) is NOT what was reached
    assert abs(r_nan.output[1] - 1e6) > 1


def test_non_unique_inverse_gives_several_distinct_solutions():
    net = identity_net(4, 1, seed=5)
    A, c = affine_map(net)
    t = np.array([0.3])
    r = invert(net, t, bounds=(-1, 1), n_restarts=16, seed=0, distinct_tol=1e-3)
    assert r.success
    X = np.array([x for x, _, _ in r.solutions])
    assert len(X) >= 8
    assert np.abs(X @ A.T + c - t).max() <= 1e-8
    for i in range(len(X)):
        for j in range(i):
            assert np.abs(X[i] - X[j]).max() / 2.0 > 1e-3     # width of the box = 2


def test_solutions_are_sorted_by_residual_and_best_is_first():
    rng = np.random.default_rng(_seed("sorted"))
    net = Network([2, 6, 2], "tanh", "mse", dtype=np.float64, seed=3)
    t = np.array([0.9, -0.9])                             # may or may not be reachable
    r = invert(net, t, bounds=(-1, 1), n_restarts=24, max_iter=5, seed=int(rng.integers(99)))
    res = [s[2] for s in r.solutions]
    assert res == sorted(res)
    assert np.array_equal(r.x, r.solutions[0][0]) and r.residual == res[0]
    for x, out, rr in r.solutions:                       # residual = max |f - t|, recomputed
        assert abs(rr - np.abs(net.forward(x)[0] - t).max()) <= 1e-12
    assert r.n_iter >= 1 and r.n_evaluations >= r.n_iter


def test_same_seed_same_answer_and_starts_are_used():
    net = identity_net(3, 1, seed=2)
    A, c = affine_map(net)
    a = invert(net, [0.2], bounds=(-1, 1), seed=11)
    b = invert(net, [0.2], bounds=(-1, 1), seed=11)
    assert np.array_equal(a.x, b.x)
    # a start that already solves the problem is returned unchanged
    x_star = np.linalg.lstsq(A, np.array([0.2]) - c, rcond=None)[0]
    assert np.all(np.abs(x_star) < 1)
    r = invert(net, A @ x_star + c, starts=x_star[None], n_restarts=1, bounds=(-1, 1))
    assert np.abs(r.x - x_star).max() <= 1e-12


# ---------------------------------------------------------------------------
# 2. Model files
# ---------------------------------------------------------------------------

def test_saved_and_loaded_model_keeps_its_default_bounds(tmp_path):
    rng = np.random.default_rng(3)
    X = np.column_stack([rng.uniform(0, 1, 500), rng.uniform(-2, 3, 500)])
    y = (X[:, 0] + X[:, 1])[:, None]
    net = Network([2, 1], "identity", "mse", dtype=np.float64, seed=0)
    net.fit(X, y, optimizer="lbfgs", epochs=50, standardize=True)
    path = tmp_path / "model.npz"
    net.save(path)
    loaded = Network.load(path)
    lo, hi = X.min(axis=0), X.max(axis=0)
    assert np.array_equal(loaded.training["input_min"], lo)
    assert np.array_equal(loaded.training["input_max"], hi)
    assert loaded.scaler is not None
    for model in (net, loaded):
        # the largest output the training box allows is about 1 + 3 = 4
        r = invert(model, [6.0], seed=0)
        assert not r.success and "unreachable" in r.message
        assert np.all(r.x >= lo) and np.all(r.x <= hi)
        assert np.abs(r.x - hi).max() <= 1e-6           # the closest corner
        assert invert(model, [6.0], bounds=None, seed=0).success
        r = invert(model, [1.5], seed=0)
        assert r.success
        for x, _, _ in r.solutions:
            assert np.all(x >= lo) and np.all(x <= hi)
    a = invert(net, [1.5], seed=5)
    b = invert(loaded, [1.5], seed=5)
    assert np.array_equal(a.x, b.x)
