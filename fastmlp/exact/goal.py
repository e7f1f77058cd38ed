"""What the exact methods aim for: a criterion on the output z_L (the network's output,
or its logits), its linear rows in a Formulation, and its check in float64.

    values   max_k |z_k - t_k| <= tol over the specified outputs k
    margin   z_c - max_{j≠c} z_j >= margin                        (logit margin)
    prob     softmax(z)_c >= q: not linear, but bracketed by two margins:
             z_c - z_j >= log(q / (1-q)) for every j is NECESSARY, and
             z_c - z_j >= log((K-1) q / (1-q)) for every j is SUFFICIENT

score(z): values, the max error (smaller is better); margin and prob, the margin
achieved (larger is better).  The MILP is asked for a little more than the goal (tol
shrunk, margin grown by SLACK) so that a point HiGHS returns, within its own feasibility
tolerances, still meets the goal when fastmlp's forward pass checks it.
"""
import numpy as np

SLACK = 1e-3         # relative: tol' = tol (1 - SLACK), margin' = margin + SLACK (1 + |margin|)


class Criterion:
    def __init__(self, goal, n_out):
        self.n_out = n_out
        if goal.kind == "values":
            self.kind, self.t, self.m, self.tol = "values", goal.t, goal.m, goal.tolerance
            self.specified = np.flatnonzero(goal.m)
        elif goal.kind == "margin":
            self.kind, self.c, self.margin = "margin", goal.c, goal.margin
        else:
            q = goal.min_prob
            self.kind, self.c, self.q = "prob", goal.c, q
            self.necessary = float(np.log(q / (1 - q))) if q > 0 else -np.inf
            self.sufficient = float(np.log(max(n_out - 1, 1) * q / (1 - q))) if q > 0 else -np.inf

    # -- in float64 --------------------------------------------------------------------

    def score(self, Z):
        Z = np.atleast_2d(Z)
        if self.kind == "values":
            return np.abs(Z[:, self.specified] - self.t[self.specified]).max(axis=1)
        others = np.delete(Z, self.c, axis=1)
        return Z[:, self.c] - others.max(axis=1)

    def ok(self, Z):
        Z = np.atleast_2d(Z)
        if self.kind == "values":
            return self.score(Z) <= self.tol
        if self.kind == "margin":
            return self.score(Z) >= self.margin
        e = np.exp(Z - Z.max(axis=1, keepdims=True))
        return e[:, self.c] / e.sum(axis=1) >= self.q

    def describe(self):
        if self.kind == "values":
            t = np.where(self.m, self.t, np.nan).tolist()
            return f"outputs {t} (NaN = free) within {self.tol:.6g}"
        if self.kind == "margin":
            return f"class {self.c} with logit margin >= {self.margin:.6g}"
        return f"class {self.c} with probability >= {self.q}"

    def asked(self, margin=None):
        """The MILP's version of the goal: tol' for values, margin' for margins."""
        if self.kind == "values":
            return self.tol * (1 - SLACK)
        margin = self.margin if margin is None else margin
        return margin + SLACK * (1 + abs(margin))

    # -- as rows -------------------------------------------------------------------------

    def add_target(self, f, z, level):
        """Rows: the goal at `level` (a tolerance for values, a margin otherwise)."""
        if self.kind == "values":
            k = self.specified
            r = np.arange(k.size)
            f.add_rows(self.t[k] - level, self.t[k] + level, (r, z[k], 1.0))
        else:
            j = np.delete(np.arange(self.n_out), self.c)
            r = np.arange(j.size)
            f.add_rows(level, np.inf, (r, z[self.c], 1.0), (r, z[j], -1.0))

    def add_score(self, f, z, cutoff=None):
        """A variable s for the score and its rows: values, s >= |z_k - t_k| (minimize
        s); margins, s <= z_c - z_j (maximize s).  Returns (s, cost of s).  cutoff:
        a score the solution must at least match (a bound from a known point)."""
        if self.kind == "values":
            s = f.add_variables(0.0, np.inf if cutoff is None else cutoff)
            k = self.specified
            r = np.arange(k.size)
            f.add_rows(-np.inf, self.t[k], (r, z[k], 1.0), (r, s, -1.0))
            f.add_rows(self.t[k], np.inf, (r, z[k], 1.0), (r, s, 1.0))
            return s, 1.0
        s = f.add_variables(-np.inf if cutoff is None else cutoff, np.inf)
        j = np.delete(np.arange(self.n_out), self.c)
        r = np.arange(j.size)
        f.add_rows(0.0, np.inf, (r, z[self.c], 1.0), (r, z[j], -1.0), (r, s, -1.0))
        return s, -1.0
