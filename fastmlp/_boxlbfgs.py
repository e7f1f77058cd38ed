"""Batched L-BFGS with box constraints: R independent problems, solved side by side.

    U, iterations, evaluations = minimize_rows(fg, U0, lo, hi)

Row r minimizes its own f_r(u_r) subject to lo <= u_r <= hi; fg evaluates any subset
of rows in ONE call (for fastmlp: one compiled forward + vector-Jacobian product for
the whole batch).  Each row keeps its own curvature history, step length and
convergence test; rows that converge (or reach the caller's goal) leave the batch,
so later evaluations get cheaper.

The method is projected L-BFGS: coordinates that sit on a bound with the gradient
pushing outward are frozen for the step; the two-loop recursion (history of m pairs)
gives the direction on the rest; a backtracking Armijo search runs along the
projected path clip(u + α d).  Every operation is vectorized over the rows.
"""
import numpy as np

_ARMIJO = 1e-4


def minimize_rows(fg, U0, lo, hi, *, max_iter=500, m=10, ftol=1e-15, gtol=1e-10, max_ls=40):
    """fg(U, rows) -> (f (k,), G (k, n), done (k,) bool): values, gradients and "goal
    reached" (those rows stop) for the k rows listed.  Returns (U, iterations per row,
    number of fg calls)."""
    R, n = U0.shape
    U = np.clip(np.array(U0, dtype=np.float64), lo, hi)
    f, G, done = fg(U, np.arange(R))
    calls = 1
    iterations = np.zeros(R, dtype=np.int64)
    # the working set: the rows still searching, with their state kept compact
    # (arrays shrink when rows leave, instead of being gathered every iteration)
    idx = np.flatnonzero(~done)
    u, fu, g = U[idx], f[idx], G[idx]
    S = np.zeros((idx.size, m, n))
    Y = np.zeros((idx.size, m, n))
    rho = np.zeros((idx.size, m))                   # 0 marks an empty or unusable pair
    gamma = 1.0 / np.maximum(np.linalg.norm(_projected(u, g, lo, hi), axis=1), 1e-300)
    for it in range(max_iter):
        if idx.size == 0:
            break
        pg = _projected(u, g, lo, hi)
        small = np.abs(pg).max(axis=1) <= gtol
        d = -_two_loop(pg, S, Y, rho, gamma, it, m)
        d[pg == 0] = 0.0                            # frozen at a bound
        uphill = np.einsum("kn,kn->k", d, pg) >= 0
        if uphill.any():                            # a stale history: restart it
            rho[uphill] = 0.0
            d[uphill] = -gamma[uphill, None] * pg[uphill]
        # backtracking along the projected path, every row with its own step
        alpha = np.ones(idx.size)
        new_u, new_f, new_g = u.copy(), fu.copy(), g.copy()
        accepted = np.zeros(idx.size, bool)
        reached = np.zeros(idx.size, bool)
        pending = np.flatnonzero(~small)
        for _ in range(max_ls):
            if pending.size == 0:
                break
            cand = np.clip(u[pending] + alpha[pending, None] * d[pending], lo, hi)
            fc, gc, dc = fg(cand, idx[pending])
            calls += 1
            predicted = np.einsum("kn,kn->k", g[pending], cand - u[pending])
            ok = np.isfinite(fc) & (fc <= fu[pending] + _ARMIJO * predicted)
            take = pending[ok]
            new_u[take], new_f[take], new_g[take] = cand[ok], fc[ok], gc[ok]
            accepted[take], reached[take] = True, dc[ok]
            pending = pending[~ok]
            alpha[pending] *= 0.5
        # curvature pairs, stored in the ring slot of this iteration
        s, y = new_u - u, new_g - g
        sy = np.einsum("kn,kn->k", s, y)
        usable = accepted & (sy > 1e-10 * np.linalg.norm(s, axis=1) * np.linalg.norm(y, axis=1))
        slot = it % m
        S[:, slot], Y[:, slot] = s, y
        rho[:, slot] = np.where(usable, 1.0 / np.where(usable, sy, 1.0), 0.0)
        gamma[usable] = sy[usable] / np.einsum("kn,kn->k", y[usable], y[usable])
        # purely relative: an objective heading for 0 (an exact solve) keeps going
        stalled = accepted & (fu - new_f <= ftol * np.maximum(np.abs(fu), np.abs(new_f)))
        u, fu, g = new_u, new_f, new_g
        iterations[idx[accepted]] += 1
        leaving = small | ~accepted | stalled | reached
        if leaving.any():
            U[idx[leaving]] = u[leaving]
            keep = ~leaving
            idx, u, fu, g = idx[keep], u[keep], fu[keep], g[keep]
            S, Y, rho, gamma = S[keep], Y[keep], rho[keep], gamma[keep]
    U[idx] = u
    return U, iterations, calls


def _projected(u, g, lo, hi):
    """The gradient with the coordinates held at a bound (pushing outward) zeroed."""
    return np.where(((u <= lo) & (g > 0)) | ((u >= hi) & (g < 0)), 0.0, g)


def _two_loop(q, S, Y, rho, gamma, it, m):
    """H·q for each row: the L-BFGS two-loop recursion over the ring of m pairs, newest
    first (slots with rho == 0 drop out by themselves)."""
    q = q.copy()
    a = np.zeros(rho.shape)
    order = [(it - 1 - i) % m for i in range(min(it, m))]
    for j in order:
        a[:, j] = rho[:, j] * np.einsum("kn,kn->k", S[:, j], q)
        q -= a[:, j, None] * Y[:, j]
    r = gamma[:, None] * q
    for j in reversed(order):
        b = rho[:, j] * np.einsum("kn,kn->k", Y[:, j], r)
        r += S[:, j] * (a[:, j] - b)[:, None]
    return r
