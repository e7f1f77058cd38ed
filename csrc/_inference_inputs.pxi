# The input rows of an inference pass, prepared block by block (included by
# _kernels.pyx; Plan.infer).
#
# A network with an input scaler is given X as the caller has it, and each block of
# rows the pass runs is standardized (_standardize.pxi), x in the network's dtype,
# then (x - mean) / scale in float64 rounded to that dtype (the bits of the full path:
# X cast to the network's dtype, then Standardizer.transform), into the
# plan's workspace just before the network reads it, on the thread that runs the
# block: no float64 temporaries the size of X, and the block is still in that core's
# cache when its first layer reads it.  A batch given in the network's own dtype is
# only checked for NaN and infinity, block by block, on the threads that share the
# pass, instead of in one pass over all of X before it.  A block with a NaN or an
# infinity (in X, or where standardizing overflows the dtype) runs nothing and is
# reported: the caller then takes the full path, whose checks name what is wrong.

cdef extern from *:
    """
    /* a flag any thread may raise (relaxed: read after the pass has joined) */
    static inline void fastmlp_raise_flag(int *flag) {
    #if defined(__GNUC__)
        __atomic_store_n(flag, 1, __ATOMIC_RELAXED);
    #else
        *flag = 1;
    #endif
    }
    """
    void fastmlp_raise_flag(int* flag) noexcept nogil


ctypedef struct _Inputs:    # how an inference pass gets its rows
    const char* X           # the rows as given: float64 if x_f64, else float32
    const double* mean      # NULL: X is in the network's dtype, to be checked only
    const double* scale
    char* work              # the standardized rows, in the network's dtype
    Py_ssize_t K            # columns
    bint x_f64
    int bad                 # raised when a block held a NaN or an infinity


cdef const void* _input_rows(_Inputs* inp, Py_ssize_t i, Py_ssize_t n,
                             bint f64) noexcept nogil:
    """Rows i .. i + n - 1 of the pass's input, standardized (into inp.work, at the
    same rows) or as given; NULL, with inp.bad raised, when any element of them is
    NaN or infinite."""
    cdef Py_ssize_t first = i * inp.K, count = n * inp.K
    cdef const char* x = inp.X + first * (8 if inp.x_f64 else 4)
    cdef char* rows = inp.work + first * (8 if f64 else 4)
    cdef bint ok
    if inp.mean == NULL:
        rows = <char*>x
    else:           # X in the network's dtype first, as the full path casts it
        _standardize_rows(x, inp.x_f64, inp.mean, inp.scale, rows, f64, n, inp.K, True)
    ok = fastmlp_all_finite_d(rows, count) if f64 else fastmlp_all_finite_f(rows, count)
    if not ok:
        fastmlp_raise_flag(&inp.bad)
        return NULL
    return rows


# from this many rows, a batch is cut into row blocks (_forward_shared), each
# checked as its pass reads it; a smaller unscaled batch is checked whole, before
# the pass, by the caller (fastmlp/_inputs.py)
ROWS_CHECKED_IN_BLOCKS = 2 * ROW_BLOCK


cdef enum:
    # rows per chunk when the rows of a pass not cut into row blocks are standardized
    # by several threads (a float64 division per element: ~0.7 us a row of 784 on one
    # Emerald Rapids core)
    PREPARE_ROWS = 8


ctypedef struct _Prepare:   # the rows of a whole batch, prepared in chunks
    _Inputs* inputs
    Py_ssize_t B, rows
    bint f64


cdef void _prepare_task(void* ctx, int chunk) noexcept nogil:
    cdef _Prepare* t = <_Prepare*>ctx
    cdef Py_ssize_t i = chunk * t.rows
    _input_rows(t.inputs, i, min(t.rows, t.B - i), t.f64)


cdef const void* _prepared_rows(_Inputs* inp, Py_ssize_t B, bint f64,
                                int helpers) noexcept nogil:
    """All B rows of the pass's input (_input_rows), standardized in chunks shared
    with up to `helpers` helper threads; NULL when any of them is not finite."""
    cdef _Prepare t
    if helpers == 0 or inp.mean == NULL or B < 2 * PREPARE_ROWS:
        return _input_rows(inp, 0, B, f64)
    t.inputs, t.B, t.f64 = inp, B, f64
    t.rows = max(<Py_ssize_t>PREPARE_ROWS, (B + FM_MAX_CHUNKS - 1) // FM_MAX_CHUNKS)
    fm_run(&fm_the_pool, _prepare_task, &t, <int>((B + t.rows - 1) // t.rows), helpers)
    if inp.bad:           # the helpers' stores are seen: fm_run waited for them
        return NULL
    return inp.work
