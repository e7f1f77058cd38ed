"""The compiled solver under invert (fastmlp._search: minimize_rows, a row-batched
L-BFGS-B, and distinct_rows) on problems with known answers, against scipy's L-BFGS-B and
plain NumPy references; and inversions of one network run in threads at once.
"""
import numpy as np
import scipy.optimize

import fastmlp
from fastmlp import Network, invert
from fastmlp._search import distinct_rows, minimize_rows


def _quadratic_rows(R, n, seed):
    """Per row, ½ Σ a_i (u_i - t_i)²; inside a box its minimizer is clip(t, lo, hi)."""
    rng = np.random.default_rng(seed)
    A = rng.uniform(0.1, 10.0, (R, n))
    T = rng.normal(0, 2, (R, n))

    def fg(U, rows, G):
        D = U - T[rows]
        G[:] = A[rows] * D
        return 0.5 * np.sum(A[rows] * D * D, axis=1), np.zeros(len(rows), bool)

    return fg, T, rng


def test_solver_box_constrained_quadratics_reach_the_clipped_minimizer():
    R, n = 12, 30
    fg, T, rng = _quadratic_rows(R, n, 0)
    lo = np.full(n, -1.0)
    hi = np.full(n, 1.5)
    lo[:5], hi[5:10] = -np.inf, np.inf                    # some sides unbounded
    U, iterations, calls = minimize_rows(fg, rng.normal(0, 3, (R, n)), lo, hi)
    ref = np.clip(T, lo, hi)
    # the active bounds hold exactly; the free coordinates are as exact as f's rounding
    # allows: f ~ 100 here (the clipped coordinates' part), so the last relative
    # decrease of 1e-15 (ftol) leaves |u - t| ~ sqrt(2e-13 / a) ~ 1e-6
    assert np.array_equal(U[ref != T], ref[ref != T])
    assert np.abs(U - ref).max() <= 1e-5
    assert np.all(iterations >= 1) and calls > iterations.max()


def test_solver_rosenbrock_rows_match_scipy_lbfgsb():
    # a different, non-separable problem per row: the Rosenbrock function scaled by row
    R, n = 6, 8
    scale = np.linspace(1.0, 3.0, R)
    lo, hi = np.full(n, -2.0), np.full(n, 0.8)          # the box cuts off the minimum (1, ..)

    def rosen(u, s):
        return s * scipy.optimize.rosen(u), s * scipy.optimize.rosen_der(u)

    def fg(U, rows, G):
        f = np.empty(len(rows))
        for k, r in enumerate(rows):
            f[k], G[k] = rosen(U[k], scale[r])
        return f, np.zeros(len(rows), bool)

    U0 = np.random.default_rng(1).uniform(-2, 0.8, (R, n))
    U, _, _ = minimize_rows(fg, U0, lo, hi, max_iter=2000)
    for r in range(R):
        ref = scipy.optimize.minimize(rosen, U0[r], args=(scale[r],), jac=True,
                                      method="L-BFGS-B", bounds=list(zip(lo, hi)),
                                      options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 5000})
        assert np.abs(U[r] - ref.x).max() <= 1e-5, r
        assert rosen(U[r], scale[r])[0] <= ref.fun + 1e-10


def test_solver_rows_that_are_done_leave_and_keep_their_point():
    R, n = 8, 5
    fg, T, rng = _quadratic_rows(R, n, 2)
    first = np.zeros(R, bool)
    first[::2] = True                                     # even rows: done at the start

    def fg_done(U, rows, G):
        f, done = fg(U, rows, G)
        return f, first[rows] if len(rows) == R else done

    U0 = rng.normal(size=(R, n))
    U, iterations, _ = minimize_rows(fg_done, U0, np.full(n, -np.inf), np.full(n, np.inf))
    assert np.array_equal(U[::2], U0[::2]) and np.all(iterations[::2] == 0)
    assert np.abs(U[1::2] - T[1::2]).max() <= 1e-8


def test_solver_workspace_reuse_and_threads_change_no_result():
    from concurrent.futures import ThreadPoolExecutor
    problems = [(_quadratic_rows(R, n, s), R, n) for s, (R, n) in enumerate(
        [(5, 40), (9, 7), (5, 40), (16, 40)])]

    def solve(k):
        (fg, T, _), R, n = problems[k]
        U0 = np.random.default_rng(100 + k).normal(size=(R, n))
        return minimize_rows(fg, U0, np.full(n, -0.5), np.full(n, 0.5), max_iter=7)[0]

    serial = [solve(k) for k in range(4)] + [solve(k) for k in range(4)]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(solve, list(range(4)) * 4))
    for k, U in enumerate(serial + threaded):
        assert np.array_equal(U, serial[k % 4]), k


def test_solver_aimed_steps_reach_a_goal_value_in_fewer_evaluations():
    # per row, f(u) = Σ softplus(-w_i u_i) decays exponentially, with no minimizer;
    # the goal f <= 0.01, reached when fg says so
    R, n = 10, 4
    W = np.random.default_rng(4).uniform(0.5, 3.0, (R, n))
    goal = 0.01

    def fg(U, rows, G):
        z = -W[rows] * U
        G[:] = -W[rows] * 0.5 * (1 + np.tanh(0.5 * z))          # softplus' = sigmoid
        f = np.logaddexp(0, z).sum(axis=1)
        return f, f <= goal

    U0 = np.full((R, n), -2.0)
    box = np.full(n, -np.inf), np.full(n, np.inf)
    plain = minimize_rows(fg, U0, *box)
    aimed = minimize_rows(fg, U0, *box, aim=goal / 2)
    for U, _, _ in (plain, aimed):
        assert np.all(np.logaddexp(0, -W * U).sum(axis=1) <= goal)
    assert aimed[2] < plain[2]


def test_solver_aimed_step_that_overshoots_falls_back_to_the_lbfgs_step():
    """f(u) = Σ softplus(-u) + (u / 2)^4 from u = 0.5, goal f <= 1.25: the log of f,
    extrapolated, aims far past the quartic wall, where f is higher than at the start.
    Such a step is refused and the search goes on at once from the L-BFGS step: it still
    reaches the goal, at the cost of at most one refused candidate per iteration."""
    R, n = 6, 3
    goal = 1.25

    def f_of(U):
        return (np.logaddexp(0, -U) + (U / 2) ** 4).sum(axis=1)

    def fg(U, rows, G):
        G[:] = -0.5 * (1 + np.tanh(-0.5 * U)) + U ** 3 / 4
        f = f_of(U)
        return f, f <= goal

    U0 = np.full((R, n), 0.5) - np.arange(R)[:, None] * 0.1
    box = np.full(n, -np.inf), np.full(n, np.inf)
    plain = minimize_rows(fg, U0, *box)
    U, iterations, calls = minimize_rows(fg, U0, *box, aim=goal / 2)
    assert np.all(f_of(plain[0]) <= goal) and np.all(f_of(U) <= goal)
    refused = calls - 1 - iterations.max()
    assert refused >= 1                          # the fallback did happen
    assert calls <= plain[2] + iterations.max()


def test_distinct_rows_against_a_pairwise_reference():
    rng = np.random.default_rng(5)
    base = rng.uniform(0, 1, (10, 6))
    X = np.vstack([base, base[:4] + rng.uniform(-1e-4, 1e-4, (4, 6)), base[7:9] + 0.01])
    order = rng.permutation(len(X)).astype(np.intp)
    tol = 1e-3
    kept = []                                   # greedy, with the whole distance matrix
    dist = np.abs(X[:, None, :] - X[None, :, :]).max(axis=2)
    for i in order:
        if all(dist[i, k] > tol for k in kept):
            kept.append(int(i))
    assert distinct_rows(X, order, tol) == kept
    assert len(kept) == 12                      # the 4 near-copies merge, the 2 shifted don't


def test_inversions_of_one_network_in_threads_match_serial_ones():
    """Threads inverting the same network at once: each evaluation holds the network's
    lock across its forward and backward passes, and each search gets its own
    workspace, so every answer equals the one computed alone."""
    from concurrent.futures import ThreadPoolExecutor
    X, y = fastmlp.datasets.spirals(300, seed=1)
    net = Network([2, 16, 16, 2], activation="tanh", loss="cross_entropy", seed=1)
    net.fit(X, y, epochs=30, batch_size=32, lr=1e-2, seed=1, standardize=False)
    jobs = [dict(class_index=c, n_restarts=n, seed=s)
            for c in (0, 1) for n, s in ((8, 0), (24, 1))]
    serial = [invert(net, **kw) for kw in jobs]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda kw: invert(net, **kw), jobs * 3))
    for k, r in enumerate(threaded):
        ref = serial[k % len(jobs)]
        assert np.array_equal(r.x, ref.x) and r.n_evaluations == ref.n_evaluations, k
        assert len(r.solutions) == len(ref.solutions)
