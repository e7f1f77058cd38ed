"""The network over an input box as a mixed-integer linear program, built directly as
sparse matrices for scipy.optimize.milp (no modelling layer).

Variables, in order: x (the inputs; a fixed feature has lb = ub), then per hidden layer
z_k and a_k, then the output z_L; an unstable neuron (l < 0 < u) adds a binary d (1: the
neuron is on).  With σ(z) = z (z >= 0), α z (z < 0), 0 <= α < 1:

    z_k - a_{k-1} W_k = b_k             every layer (a_0 = x)
    a = z            (stable on, identity)        a = α z   (stable off)
    a >= z,  a >= α z,  a <= z - (1-α) l (1-d),  a <= α z + (1-α) u d      (unstable)

d = 1 forces a = z (and z >= 0), d = 0 forces a = α z (and z <= 0); with d relaxed to
[0, 1] the four rows are the tightest convex relaxation of one neuron (the "triangle").
The bounds (l, u) come from fastmlp.exact.bounds; all of them are also the variables'
bounds.
"""
import numpy as np
import scipy.sparse
from scipy.optimize import Bounds, LinearConstraint


class Formulation:
    """A growing MILP: add_variables / add_rows, costs in `cost` ({index: value}, to
    minimize), then problem()."""

    def __init__(self):
        self.lb, self.ub, self.integer = [], [], []
        self.n_vars = 0
        self.rows, self.cols, self.vals = [], [], []
        self.row_lo, self.row_hi = [], []
        self.n_rows = 0
        self.cost = {}

    def add_variables(self, lb, ub, integer=False):
        """New variables with these bounds; returns their indices."""
        lb, ub = np.atleast_1d(np.asarray(lb, np.float64)), np.atleast_1d(np.asarray(ub, np.float64))
        lb, ub = np.broadcast_arrays(lb, ub)
        idx = np.arange(self.n_vars, self.n_vars + lb.size)
        self.lb.append(lb.ravel())
        self.ub.append(ub.ravel())
        self.integer.append(np.full(lb.size, 1 if integer else 0, np.uint8))
        self.n_vars += lb.size
        return idx

    def add_rows(self, lo, hi, *terms):
        """Rows lo <= Σ terms <= hi; each term (row, col, val) with `row` counted from
        this block's first row (arrays broadcast against each other; lo and hi against
        the block's rows)."""
        terms = [[np.ravel(t) for t in np.broadcast_arrays(*term)] for term in terms]
        n = max((int(row.max()) + 1 for row, _, _ in terms if row.size), default=0)
        for row, col, val in terms:
            self.rows.append(row + self.n_rows)
            self.cols.append(col)
            self.vals.append(val.astype(np.float64))
        self.row_lo.append(np.broadcast_to(np.asarray(lo, np.float64), n).copy())
        self.row_hi.append(np.broadcast_to(np.asarray(hi, np.float64), n).copy())
        self.n_rows += n

    def problem(self):
        """(c, integrality, bounds, constraints) for scipy.optimize.milp."""
        c = np.zeros(self.n_vars)
        for i, v in self.cost.items():
            c[i] += v
        A = scipy.sparse.csr_array(
            (np.concatenate(self.vals), (np.concatenate(self.rows), np.concatenate(self.cols))),
            shape=(self.n_rows, self.n_vars))
        return (c, np.concatenate(self.integer),
                Bounds(np.concatenate(self.lb), np.concatenate(self.ub)),
                LinearConstraint(A, np.concatenate(self.row_lo), np.concatenate(self.row_hi)))


def network_milp(pl, lo, hi, boxes):
    """(formulation, x indices, [z_k indices for every layer, the output last],
    number of binaries)."""
    f = Formulation()
    x = f.add_variables(lo, hi)
    below = x
    n_binary, zs = 0, []
    for k, alpha in enumerate(pl.alphas):
        l, u = boxes[k]
        z = f.add_variables(l, u)
        _affine_rows(f, z, below, pl.Ws[k], pl.bs[k])
        zs.append(z)
        on, off = l >= 0, u <= 0
        unstable = ~(on | off)
        if alpha == 1.0:
            on, off, unstable = np.ones_like(on), np.zeros_like(off), np.zeros_like(on)
        a = f.add_variables(np.where(on, l, alpha * l), np.where(off, alpha * u, u))
        stable = np.flatnonzero(~unstable)
        r = np.arange(stable.size)
        f.add_rows(0.0, 0.0, (r, a[stable], 1.0),
                   (r, z[stable], np.where(on[stable], -1.0, -alpha)))
        j = np.flatnonzero(unstable)
        if j.size:
            lj, uj, w = l[j], u[j], 1.0 - alpha
            d = f.add_variables(np.zeros(j.size), 1.0, integer=True)
            r = np.arange(j.size)
            f.add_rows(0.0, np.inf, (r, a[j], 1.0), (r, z[j], -1.0))                # a >= z
            f.add_rows(0.0, np.inf, (r, a[j], 1.0), (r, z[j], -alpha))              # a >= α z
            f.add_rows(-np.inf, -w * lj,                            # a <= z - (1-α) l (1-d)
                       (r, a[j], 1.0), (r, z[j], -1.0), (r, d, -w * lj))
            f.add_rows(-np.inf, 0.0,                                # a <= α z + (1-α) u d
                       (r, a[j], 1.0), (r, z[j], -alpha), (r, d, -w * uj))
            n_binary += j.size
        below = a
    z = f.add_variables(*boxes[-1])
    _affine_rows(f, z, below, pl.Ws[-1], pl.bs[-1])
    return f, x, zs + [z], n_binary


def _affine_rows(f, z, below, W, b):
    """z - below @ W = b, one row per column of W (its zeros left out)."""
    i, j = np.nonzero(W)
    f.add_rows(b, b, (np.arange(z.size), z, 1.0), (j, below[i], -W[i, j]))
