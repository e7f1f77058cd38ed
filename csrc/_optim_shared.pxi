# An optimizer update shared with fastmlp's helper threads (included by _optim.pyx).
#
# The pool is _kernels' (workers.h), reached through its HELPER_POOL capsule, so the
# forward pass, the training step's GEMMs and the updates use the same helper threads.
# Every pass of an update is elementwise (the max-|x| scans, the update loops), so the
# flat vectors are cut into ranges and each thread runs the same C loop over its own
# ranges: the result is bit for bit that of one thread, whichever thread takes which.
#
# An update reads and writes about 36 bytes per parameter and is memory-bound on one
# core (AMD EPYC Zen 4, Adam on 535,818 float32 parameters: 227 us; 238 us compiled
# for AVX-512); two cores take 118 us.  It pays only inside a shared training step
# (_parallel_train.pxi): with OpenBLAS's own threads, its idle worker spins on the
# other core after each GEMM and a helper got no share (245 us either way).

from cpython.pycapsule cimport PyCapsule_GetPointer

from fastmlp import _kernels

cdef extern from "workers.h" nogil:
    ctypedef void (*fm_task)(void* ctx, int chunk) noexcept nogil
    ctypedef struct fm_pool:
        pass
    void fm_run(fm_pool* p, fm_task fn, void* ctx, int n, int max_helpers)

cdef fm_pool* _pool = <fm_pool*>PyCapsule_GetPointer(_kernels.HELPER_POOL,
                                                     "fastmlp.helper_pool")

cdef enum:
    # parameters: fewer run on the calling thread alone (Zen 4, train_step with Adam on
    # 784-128-10 (101,770 parameters) batch 32, shared step: 155 us with the update
    # shared, 217 us without)
    _SHARE_MIN = 32768
    MAX_RANGES = 32         # workers.h's FM_MAX_CHUNKS
    RANGE_ALIGN = 16        # ranges start on 64-byte lines
    RANGE_MIN = 4096        # elements: a range is worth a hand-off from this size


ctypedef struct _Ranges:
    Py_ssize_t n, width     # elements, and elements per range (the last may be short)
    int count               # ranges
    int helpers             # helper threads that may take part
    int f64
    char* p
    const char* g
    char* m                 # Adam's first moment, SGD's momentum buffer (or NULL)
    char* v
    const unsigned char* mask
    double s, cw, dk, b1, b2, step, inv_rc2, eps        # Adam
    double lr, mu, wd                                   # SGD
    int nesterov, first
    double max_g[MAX_RANGES]
    double max_p[MAX_RANGES]
    double max_b[MAX_RANGES]
    int bad[MAX_RANGES]


cdef bint _plan_ranges(_Ranges* r, Py_ssize_t n, bint f64, int helpers) noexcept nogil:
    """Cut n elements into a few ranges per thread; False: too few to share."""
    if helpers <= 0 or n < _SHARE_MIN:
        return False
    # a few ranges per thread, each of at least RANGE_MIN elements (many cores)
    cdef int want = <int>min(<Py_ssize_t>MAX_RANGES, <Py_ssize_t>(4 * (helpers + 1)),
                             n // RANGE_MIN)
    r.n, r.f64, r.helpers = n, f64, helpers
    r.width = (n + want - 1) // want
    r.width = (r.width + RANGE_ALIGN - 1) // RANGE_ALIGN * RANGE_ALIGN
    r.count = <int>((n + r.width - 1) // r.width)
    return True


cdef inline Py_ssize_t _range(_Ranges* r, int c, Py_ssize_t* size) noexcept nogil:
    """The byte offset of range c; its length in elements goes to *size."""
    cdef Py_ssize_t lo = c * r.width
    size[0] = min(r.width, r.n - lo)
    return lo * (8 if r.f64 else 4)


cdef void _scan_task(void* ctx, int c) noexcept nogil:
    cdef _Ranges* r = <_Ranges*>ctx
    cdef Py_ssize_t k
    cdef Py_ssize_t at = _range(r, c, &k)
    if r.f64:
        r.max_g[c] = fastmlp_max_abs_d(<const double*>(r.g + at), k)
        r.max_p[c] = fastmlp_max_abs_d(<const double*>(r.p + at), k)
        r.max_b[c] = fastmlp_max_abs_d(<const double*>(r.m + at), k) if r.m else 0
    else:
        r.max_g[c] = fastmlp_max_abs_f(<const float*>(r.g + at), k)
        r.max_p[c] = fastmlp_max_abs_f(<const float*>(r.p + at), k)
        r.max_b[c] = fastmlp_max_abs_f(<const float*>(r.m + at), k) if r.m else 0


cdef void _shared_max_abs(_Ranges* r, const void* g, const void* p, const void* buf,
                          Scan* s) noexcept nogil:
    """max |g|, |p|, |buf| over the ranges into s (NaN wins, as in the serial scan)."""
    cdef int c
    r.g, r.p, r.m = <const char*>g, <char*>p, <char*>buf
    fm_run(_pool, _scan_task, r, r.count, r.helpers)
    s.max_g = s.max_p = s.max_b = 0
    for c in range(r.count):
        s.max_g = _max_nan(s.max_g, r.max_g[c])
        s.max_p = _max_nan(s.max_p, r.max_p[c])
        s.max_b = _max_nan(s.max_b, r.max_b[c])


cdef inline double _max_nan(double a, double b) noexcept nogil:
    return b if (b > a or b != b) and a == a else a


cdef void _adam_task(void* ctx, int c) noexcept nogil:
    cdef _Ranges* r = <_Ranges*>ctx
    cdef Py_ssize_t k
    cdef Py_ssize_t at = _range(r, c, &k)
    cdef const unsigned char* mask = r.mask + at // (8 if r.f64 else 4)
    if r.f64:
        r.bad[c] = fastmlp_adam_d(<double*>(r.p + at), <const double*>(r.g + at),
                                  <double*>(r.m + at), <double*>(r.v + at), mask, k, r.s,
                                  r.cw, r.dk, r.b1, r.b2, r.step, r.inv_rc2, r.eps)
    else:
        r.bad[c] = fastmlp_adam_f(<float*>(r.p + at), <const float*>(r.g + at),
                                  <float*>(r.m + at), <float*>(r.v + at), mask, k,
                                  <float>r.s, <float>r.cw, <float>r.dk, <float>r.b1,
                                  <float>r.b2, <float>r.step, <float>r.inv_rc2,
                                  <float>r.eps)


cdef void _sgd_task(void* ctx, int c) noexcept nogil:
    cdef _Ranges* r = <_Ranges*>ctx
    cdef Py_ssize_t k
    cdef Py_ssize_t at = _range(r, c, &k)
    cdef const unsigned char* mask = r.mask + at // (8 if r.f64 else 4)
    cdef char* buf = r.m + at if r.m else NULL
    if r.f64:
        r.bad[c] = fastmlp_sgd_d(<double*>(r.p + at), <const double*>(r.g + at),
                                 <double*>buf, mask, k, r.s, r.lr, r.mu, r.wd, r.nesterov,
                                 r.first)
    else:
        r.bad[c] = fastmlp_sgd_f(<float*>(r.p + at), <const float*>(r.g + at),
                                 <float*>buf, mask, k, <float>r.s, <float>r.lr,
                                 <float>r.mu, <float>r.wd, r.nesterov, r.first)


cdef int _shared_update(_Ranges* r, fm_task task) noexcept nogil:
    """Run an update task over the ranges; nonzero if any range left a non-finite."""
    cdef int c, bad = 0
    fm_run(_pool, task, r, r.count, r.helpers)
    for c in range(r.count):
        bad |= r.bad[c]
    return bad
