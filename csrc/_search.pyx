# The search behind fastmlp.invert: R independent box-constrained problems solved
# side by side by L-BFGS, and the selection of the distinct solutions found.
#
#     U, iterations, evaluations = minimize_rows(fg, U0, lo, hi)
#
# Row r minimizes its own f_r(u_r) subject to lo <= u_r <= hi.  fg evaluates any
# subset of rows in ONE call (for fastmlp: one compiled forward + vector-Jacobian
# product for the whole batch); everything between two calls runs here, in C, row by
# row.  Each row keeps its own curvature history, step length and convergence test;
# rows that converge (or reach the caller's goal) leave the batch, so later
# evaluations get cheaper.
#
# The method is projected L-BFGS: coordinates that sit on a bound with the gradient
# pushing outward are frozen for the step; the two-loop recursion over the newest m
# pairs gives the direction on the rest; a backtracking Armijo search runs along the
# projected path clip(u + α d), from α = 1, or from a longer "aimed" step when the
# caller knows the objective value it is after (see minimize_rows).
#
# The state is float64 whatever the network's dtype.  Python (fastmlp.inversion) has
# validated every array before it gets here, and the def entry points re-check the
# shapes they rely on (O(1) each); the loops below check no bounds.

cimport numpy as cnp
from libc.math cimport fabs, isfinite, log, sqrt
from scipy.linalg.cython_blas cimport ddot, daxpy

import numpy as np

cnp.import_array()

ctypedef cnp.npy_intp intp

cdef double ARMIJO = 1e-4
cdef double MAX_AIMED = 1e3        # the longest aimed step, in units of the L-BFGS step

# what an iteration did to a row
cdef enum:
    SEARCHING = 0       # still in the line search
    ACCEPTED = 1        # took a step, goes on
    LEAVING = 2         # converged, stalled, reached the goal or found no descent


cdef inline double _dot(const double* x, const double* y, int n) noexcept nogil:
    cdef int one = 1
    return ddot(&n, <double*>x, &one, <double*>y, &one)


cdef inline void _axpy(double a, const double* x, double* y, int n) noexcept nogil:
    """y += a · x"""
    cdef int one = 1
    daxpy(&n, &a, <double*>x, &one, y, &one)


cdef inline bint _held(double u, double g, double lo, double hi) noexcept nogil:
    """Whether a coordinate sits on a bound with the gradient pushing it outward."""
    return (u <= lo and g > 0) or (u >= hi and g < 0)


cdef double _direction(const double* u, const double* g, const double* lo,
                       const double* hi, const double* S, const double* Y,
                       double* rho, double gamma, const int* order, int n_pairs,
                       int n, double* pg, double* d, double* a, double* slope) noexcept nogil:
    """The search direction d of one row and the largest |projected gradient|.

    pg := g with the coordinates held at a bound (pushing outward) zeroed;
    d  := -H pg by the two-loop recursion over the pairs (S[j], Y[j]) listed in
    `order`, newest first (pairs with rho[j] == 0 drop out), then zeroed where pg
    is.  If that is not a descent direction the history is stale: it is forgotten
    (rho := 0) and d := -gamma · pg.  slope[0] := d·pg, the derivative of f along d.
    """
    cdef Py_ssize_t i, k
    cdef int j
    cdef double largest = 0, b
    for i in range(n):
        if _held(u[i], g[i], lo[i], hi[i]):
            pg[i] = 0
        else:
            pg[i] = g[i]
            largest = max(largest, fabs(g[i]))
        d[i] = pg[i]
    for k in range(n_pairs):                        # newest first
        j = order[k]
        if rho[j] != 0:
            a[j] = rho[j] * _dot(S + j * n, d, n)
            _axpy(-a[j], Y + j * n, d, n)
    for i in range(n):
        d[i] *= gamma
    for k in range(n_pairs - 1, -1, -1):            # oldest first
        j = order[k]
        if rho[j] != 0:
            b = rho[j] * _dot(Y + j * n, d, n)
            _axpy(a[j] - b, S + j * n, d, n)
    for i in range(n):
        d[i] = 0 if pg[i] == 0 else -d[i]
    slope[0] = _dot(d, pg, n)
    if slope[0] >= 0:                               # uphill: restart the history
        for k in range(n_pairs):
            rho[order[k]] = 0
        for i in range(n):
            d[i] = -gamma * pg[i]
        slope[0] = _dot(d, pg, n)
    return largest


cdef double _aimed_step(double f, double aim, double slope, const double* u,
                        const double* d, const double* lo, const double* hi,
                        int n) noexcept nogil:
    """The step length at which the local model log f(u + α d) ≈ log f + α·slope/f
    reaches log(aim): at least 1 (the quasi-Newton step), at most MAX_AIMED and the
    length after which clip(u + α d) stops moving."""
    cdef double step = min(f * log(f / aim) / (-slope), MAX_AIMED), reach = 0
    cdef Py_ssize_t i
    if step <= 1:
        return 1.0
    for i in range(n):
        # a coordinate still moving at `step` settles it (usually the first one)
        if (d[i] > 0 and hi[i] - u[i] > step * d[i]) or (d[i] < 0 and lo[i] - u[i] < step * d[i]):
            return step
    for i in range(n):                       # else: where the last moving coordinate stops
        if d[i] > 0:
            reach = max(reach, (hi[i] - u[i]) / d[i])
        elif d[i] < 0:
            reach = max(reach, (lo[i] - u[i]) / d[i])
    return max(1.0, min(step, reach))


# Big workspaces are kept for the next call (one set, up to _SPARE_BYTES): fresh
# memory costs a page fault per 4 KiB on first touch, which would be a good part of
# a whole search's time.  pop() and append() are atomic under the GIL, so calls in
# other threads each get workspaces of their own.
_SPARE_BYTES = 64 << 20
_spare = []


cdef class _Workspace:
    cdef readonly tuple shape
    cdef readonly cnp.ndarray S, Y, D, PG, C, Gc

    def __init__(self, Py_ssize_t R, Py_ssize_t m, Py_ssize_t n):
        self.shape = (R, m, n)
        self.S = np.empty((R, m, n))       # per row: the ring of m pairs (s, y)
        self.Y = np.empty((R, m, n))
        self.D = np.empty((R, n))          # per row: the search direction
        self.PG = np.empty((R, n))         # per row: the projected gradient
        self.C = np.empty((R, n))          # the candidates of one evaluation, packed
        self.Gc = np.empty((R, n))         # and their gradients

    @property
    def nbytes(self):
        R, m, n = self.shape
        return 8 * R * n * (2 * m + 4)


def _workspace(Py_ssize_t R, Py_ssize_t m, Py_ssize_t n):
    try:
        ws = _spare.pop()
    except IndexError:
        ws = None
    if ws is None or ws.shape != (R, m, n):
        ws = _Workspace(R, m, n)
    return ws


def minimize_rows(fg, U0, lo, hi, *, int max_iter=500, int m=10, double ftol=1e-15,
                  double gtol=1e-10, int max_ls=40, double aim=0):
    """Minimize every row of U0 (R, n) inside [lo, hi]; returns (U, iterations per row,
    number of fg calls).

    fg(U, rows, G) -> (f (k,), done (k,) bool) evaluates the k rows listed: U (k, n)
    holds their points, G (k, n) is to be filled with their gradients, f and done
    are their values and whether their goal is reached (those rows stop).  U and G
    are views of a workspace, valid only during the call.
    aim > 0 is for objectives that have a goal value rather than a minimizer in reach
    (they fall off exponentially, like -log p): each step is lengthened to where log f,
    extrapolated linearly along the direction, reaches log(aim), when that is longer
    than the L-BFGS step (and at most where the box stops all movement); an aimed
    step without sufficient decrease falls back to the L-BFGS step at once.
    lo, hi: (n,) bounds (±inf allowed), lo <= hi.  A row stops when its projected
    gradient is at most gtol everywhere, when an iteration lowers its f by no more
    than ftol relative to |f|, when fg says its goal is reached, when the line search
    finds no decrease in max_ls halvings, or after max_iter iterations.
    """
    # the loops below index lo and hi by column and read U row by row unchecked:
    # the shapes are checked here, whoever the caller is
    U0 = np.asarray(U0, dtype=np.float64)
    if U0.ndim != 2:
        raise ValueError(f"minimize_rows: U0 must be 2-D (rows, n), got shape {U0.shape}")
    cdef Py_ssize_t R = U0.shape[0], n = U0.shape[1]
    if R == 0 or n == 0 or m < 1:
        raise ValueError(f"minimize_rows needs rows, columns and m >= 1, got {R}, {n}, {m}")
    cdef cnp.ndarray[double, ndim=1] lo_ = _bound(lo, "lo", n)
    cdef cnp.ndarray[double, ndim=1] hi_ = _bound(hi, "hi", n)
    cdef cnp.ndarray[double, ndim=2] U = np.ascontiguousarray(
        np.clip(U0, lo_, hi_), dtype=np.float64)
    cdef cnp.ndarray[cnp.int64_t, ndim=1] iterations = np.zeros(R, dtype=np.int64)
    ws = _workspace(R, m, n)
    cdef cnp.ndarray[double, ndim=3] S = ws.S
    cdef cnp.ndarray[double, ndim=3] Y = ws.Y
    cdef cnp.ndarray[double, ndim=2] D = ws.D
    cdef cnp.ndarray[double, ndim=2] PG = ws.PG
    cdef cnp.ndarray[double, ndim=2] C = ws.C
    cdef cnp.ndarray[double, ndim=2] Gc = ws.Gc
    cdef cnp.ndarray[double, ndim=2] G = np.empty((R, n))
    cdef cnp.ndarray[double, ndim=2] rho = np.zeros((R, m))
    cdef cnp.ndarray[double, ndim=1] gamma = np.empty(R)
    cdef cnp.ndarray[double, ndim=1] alpha = np.empty(R)
    cdef cnp.ndarray[double, ndim=1] scratch = np.empty(m)
    cdef cnp.ndarray[cnp.int8_t, ndim=1] state = np.zeros(R, dtype=np.int8)
    cdef cnp.ndarray[int, ndim=1] order = np.empty(m, dtype=np.intc)
    cdef cnp.ndarray[double, ndim=1] f
    cdef cnp.ndarray[double, ndim=1] fc
    cdef cnp.ndarray[cnp.uint8_t, ndim=1] dc
    cdef cnp.ndarray[intp, ndim=1] active
    cdef cnp.ndarray[intp, ndim=1] pending
    cdef double* lop = &lo_[0]
    cdef double* hip = &hi_[0]
    cdef double* u
    cdef double* g
    cdef double* c
    cdef double* d
    cdef double* s
    cdef double* y
    cdef double largest, predicted, sy, yy, ss, fr, slope
    cdef Py_ssize_t it, r, i, k, q, n_pairs, slot, n_active, n_pending, calls = 1
    cdef int ni = <int>n
    try:
        f_, done_ = fg(U, np.arange(R, dtype=np.intp), G)
        f = _per_row(f_, "f", R, np.float64).copy()
        active = np.flatnonzero(~_per_row(done_, "done", R, bool)).astype(np.intp)
        for q in range(active.shape[0]):             # the first step has length 1
            r = active[q]
            gamma[r] = 1.0 / max(_projected_norm(&U[r, 0], &G[r, 0], lop, hip, ni), 1e-300)

        for it in range(max_iter):
            n_active = active.shape[0]
            if n_active == 0:
                break
            n_pairs = min(it, m)
            for k in range(n_pairs):
                order[k] = (it - 1 - k) % m
            slot = it % m
            # directions; rows whose projected gradient vanished leave now
            with nogil:
                for q in range(n_active):
                    r = active[q]
                    largest = _direction(&U[r, 0], &G[r, 0], lop, hip, &S[r, 0, 0],
                                         &Y[r, 0, 0], &rho[r, 0], gamma[r], &order[0],
                                         n_pairs, ni, &PG[r, 0], &D[r, 0], &scratch[0],
                                         &slope)
                    state[r] = LEAVING if largest <= gtol else SEARCHING
                    alpha[r] = 1.0
                    if aim > 0 and f[r] > aim and slope < 0:
                        alpha[r] = _aimed_step(f[r], aim, slope, &U[r, 0], &D[r, 0], lop,
                                               hip, ni)
            pending = active[state[active] == SEARCHING]
            # backtracking along the projected path, every row with its own step
            for _ in range(max_ls):
                n_pending = pending.shape[0]
                if n_pending == 0:
                    break
                with nogil:
                    for q in range(n_pending):
                        r = pending[q]
                        u, c, d = &U[r, 0], &C[q, 0], &D[r, 0]
                        for i in range(n):
                            c[i] = min(max(u[i] + alpha[r] * d[i], lop[i]), hip[i])
                fc_, dc_ = fg(C[:n_pending], pending, Gc[:n_pending])
                calls += 1
                fc = _per_row(fc_, "f", n_pending, np.float64)
                dc = _per_row(dc_, "done", n_pending, bool).view(np.uint8)
                with nogil:
                    for q in range(n_pending):
                        r = pending[q]
                        u, g, c = &U[r, 0], &G[r, 0], &C[q, 0]
                        # Armijo on the projected path: f(c) <= f(u) + ARMIJO · g·(c - u)
                        predicted = 0
                        for i in range(n):
                            predicted += g[i] * (c[i] - u[i])
                        fr = fc[q]
                        if not (isfinite(fr) and fr <= f[r] + ARMIJO * predicted):
                            # an aimed step that overshot falls back to the L-BFGS
                            # step at once; that one is halved
                            alpha[r] = 1.0 if alpha[r] > 1 else 0.5 * alpha[r]
                            continue
                        # the step is taken: its pair (s, y) goes to this iteration's slot
                        s, y = &S[r, slot, 0], &Y[r, slot, 0]
                        for i in range(n):
                            s[i] = c[i] - u[i]
                            y[i] = Gc[q, i] - g[i]
                            u[i] = c[i]
                            g[i] = Gc[q, i]
                        sy, yy, ss = _dot(s, y, ni), _dot(y, y, ni), _dot(s, s, ni)
                        if sy > 1e-10 * sqrt(ss * yy):
                            rho[r, slot] = 1.0 / sy
                            gamma[r] = sy / yy
                        else:
                            rho[r, slot] = 0
                        iterations[r] += 1
                        # stalled: f fell by no more than ftol relative to |f| (purely
                        # relative, so an objective heading for 0 keeps going)
                        state[r] = (LEAVING if dc[q] or f[r] - fr <= ftol * max(fabs(f[r]),
                                                                               fabs(fr))
                                    else ACCEPTED)
                        f[r] = fr
                pending = pending[state[pending] == SEARCHING]
            # rows that found no decrease leave too
            state[pending] = LEAVING
            active = active[state[active] == ACCEPTED]
    finally:
        if ws.nbytes <= _SPARE_BYTES:
            _spare[:] = [ws]            # at most one set is kept
    return U, iterations, calls


def _bound(values, name, Py_ssize_t n):
    """lo or hi as n float64 values, contiguous."""
    arr = np.ascontiguousarray(values, dtype=np.float64)
    if arr.shape != (n,):
        raise ValueError(f"minimize_rows: {name} must have shape ({n},) (one bound per "
                         f"column), got {arr.shape}")
    return arr


def _per_row(values, name, Py_ssize_t k, dtype):
    """What fg returned for k rows, as k values of dtype, contiguous."""
    arr = np.ascontiguousarray(values, dtype=dtype)
    if arr.shape != (k,):
        raise ValueError(f"minimize_rows: fg must return {name} with shape ({k},) (one "
                         f"value per row evaluated), got {arr.shape}")
    return arr


cdef double _projected_norm(const double* u, const double* g, const double* lo,
                            const double* hi, int n) noexcept nogil:
    cdef Py_ssize_t i
    cdef double total = 0
    for i in range(n):
        if not _held(u[i], g[i], lo[i], hi[i]):
            total += g[i] * g[i]
    return sqrt(total)


def distinct_rows(const double[:, ::1] X, const intp[::1] order, double tol):
    """The rows of X, taken in `order`, that differ by more than tol in some column
    from every row kept before them (a list of row indices, the first always kept)."""
    cdef Py_ssize_t a, b, i, n = X.shape[1], n_kept = 0, bad = -1
    cdef cnp.ndarray[intp, ndim=1] kept = np.empty(order.shape[0], dtype=np.intp)
    cdef bint new
    with nogil:                              # every index must name a row of X
        for a in range(order.shape[0]):
            if order[a] < 0 or order[a] >= X.shape[0]:
                bad = a
                break
    if bad >= 0:
        raise ValueError(f"distinct_rows: order[{bad}] = {order[bad]} is not a row index "
                         f"of X (0 to {X.shape[0] - 1})")
    with nogil:
        for a in range(order.shape[0]):
            new = True
            for b in range(n_kept):
                new = False
                for i in range(n):           # the first column far enough apart decides
                    if fabs(X[order[a], i] - X[kept[b], i]) > tol:
                        new = True
                        break
                if not new:
                    break
            if new:
                kept[n_kept] = order[a]
                n_kept += 1
    return kept[:n_kept].tolist()
