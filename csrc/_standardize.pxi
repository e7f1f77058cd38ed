# The Standardizer's loops (included by _kernels.pyx): the column means and spreads
# Standardizer.fit takes from X, and (X - mean) / scale, which its transform and the
# inference pass of a scaled network (_inference_inputs.pxi) compute.  Each gives the
# bits of the NumPy expressions it replaces (sums over the rows in row order, in
# float64; one rounding to the output dtype at the end), in one or two passes over X
# and with no temporaries the size of X: NumPy's took float64 copies of all of it
# (MNIST-24k, 24,345 x 784 float32: fit 245 ms and transform 145 ms on the Emerald
# Rapids of the README, against a few ms here).

cdef extern from *:
    """
    #include "clones.h"
    /* out[i, j] := (x[i, j] - mean[j]) / scale[j] for `rows` rows of n, in double,
       x first taken as TI (the inference pass takes X in the network's dtype, as the
       full path casts it before its scaler sees it), one rounding to TO at the end */
    #define FASTMLP_STANDARDIZE(NAME, TX, TI, TO)                                   \\
    FASTMLP_CLONES_512 static void NAME(const TX* restrict x,                       \\
                                        const double* restrict mean,                \\
                                        const double* restrict scale,               \\
                                        TO* restrict out, Py_ssize_t rows,          \\
                                        Py_ssize_t n) {                             \\
        for (Py_ssize_t i = 0; i < rows; i++, x += n, out += n)                    \\
            for (Py_ssize_t j = 0; j < n; j++)                                     \\
                out[j] = (TO)(((double)(TI)x[j] - mean[j]) / scale[j]);             \\
    }
    FASTMLP_STANDARDIZE(fastmlp_standardize_ff, float, float, float)
    FASTMLP_STANDARDIZE(fastmlp_standardize_df, double, double, float)
    FASTMLP_STANDARDIZE(fastmlp_standardize_df_cast, double, float, float)
    FASTMLP_STANDARDIZE(fastmlp_standardize_fd, float, double, double)
    FASTMLP_STANDARDIZE(fastmlp_standardize_dd, double, double, double)

    /* sums[j] := sum over rows i (in order) of x[i, j]; with mean, of the squares of
       (x[i, j] - mean[j]): NumPy's X.sum(axis=0) and its _var's sum of squared
       deviations on a C-ordered float64 copy of X (-ffp-contract=off: no FMA) */
    #define FASTMLP_COLUMN_SUMS(NAME, TX)                                           \\
    FASTMLP_CLONES_512 static void NAME(const TX* restrict x, Py_ssize_t rows,      \\
                                        Py_ssize_t n, const double* restrict mean,  \\
                                        double* restrict sums) {                    \\
        Py_ssize_t i, j;                                                            \\
        double d;                                                                   \\
        for (j = 0; j < n; j++)                                                     \\
            sums[j] = 0;                                                            \\
        for (i = 0; i < rows; i++, x += n) {                                        \\
            if (mean)                                                               \\
                for (j = 0; j < n; j++) {                                           \\
                    d = (double)x[j] - mean[j];                                     \\
                    sums[j] += d * d;                                               \\
                }                                                                   \\
            else                                                                    \\
                for (j = 0; j < n; j++)                                             \\
                    sums[j] += (double)x[j];                                        \\
        }                                                                           \\
    }
    FASTMLP_COLUMN_SUMS(fastmlp_column_sums_f, float)
    FASTMLP_COLUMN_SUMS(fastmlp_column_sums_d, double)

    /* lo[j], hi[j] := the least and greatest x[i, j], sums[j] := the sum over rows i
       (in order, in double, as above), in one pass; x holds no NaN.  Four rows at a
       time, so that the column accumulators are loaded and stored once per four rows
       (MNIST-24k in float32 on Zen 4: 7.4 ms; GCC's own unrolling, two rows, 9.3) */
    #define FASTMLP_COLUMN_RANGE(NAME, TX)                                          \
    FASTMLP_CLONES_512 static void NAME(const TX* restrict x, Py_ssize_t rows,      \
                                        Py_ssize_t n, double* restrict lo,          \
                                        double* restrict hi, double* restrict sums) { \
        Py_ssize_t i = 0, j;                                                        \
        double a, b, c, d, s, l, h;                                                 \
        for (j = 0; j < n; j++) {                                                   \
            lo[j] = hi[j] = x[j];                                                   \
            sums[j] = 0;                                                            \
        }                                                                           \
        for (; i + 4 <= rows; i += 4, x += 4 * n)                                   \
            for (j = 0; j < n; j++) {                                               \
                a = x[j]; b = x[n + j]; c = x[2 * n + j]; d = x[3 * n + j];         \
                l = a < b ? a : b; h = c < d ? c : d; l = l < h ? l : h;            \
                lo[j] = l < lo[j] ? l : lo[j];                                      \
                l = a > b ? a : b; h = c > d ? c : d; l = l > h ? l : h;            \
                hi[j] = l > hi[j] ? l : hi[j];                                      \
                s = sums[j]; s += a; s += b; s += c; s += d; sums[j] = s;           \
            }                                                                       \
        for (; i < rows; i++, x += n)                                               \
            for (j = 0; j < n; j++) {                                               \
                a = x[j];                                                           \
                lo[j] = a < lo[j] ? a : lo[j];                                      \
                hi[j] = a > hi[j] ? a : hi[j];                                      \
                sums[j] += a;                                                       \
            }                                                                       \
    }
    FASTMLP_COLUMN_RANGE(fastmlp_column_range_f, float)
    FASTMLP_COLUMN_RANGE(fastmlp_column_range_d, double)
    """
    void fastmlp_standardize_ff(const float* x, const double* mean, const double* scale,
                                float* out, Py_ssize_t rows, Py_ssize_t n) noexcept nogil
    void fastmlp_standardize_df(const double* x, const double* mean, const double* scale,
                                float* out, Py_ssize_t rows, Py_ssize_t n) noexcept nogil
    void fastmlp_standardize_df_cast(const double* x, const double* mean,
                                     const double* scale, float* out, Py_ssize_t rows,
                                     Py_ssize_t n) noexcept nogil
    void fastmlp_standardize_fd(const float* x, const double* mean, const double* scale,
                                double* out, Py_ssize_t rows, Py_ssize_t n) noexcept nogil
    void fastmlp_standardize_dd(const double* x, const double* mean, const double* scale,
                                double* out, Py_ssize_t rows, Py_ssize_t n) noexcept nogil
    void fastmlp_column_sums_f(const float* x, Py_ssize_t rows, Py_ssize_t n,
                               const double* mean, double* sums) noexcept nogil
    void fastmlp_column_sums_d(const double* x, Py_ssize_t rows, Py_ssize_t n,
                               const double* mean, double* sums) noexcept nogil
    void fastmlp_column_range_f(const float* x, Py_ssize_t rows, Py_ssize_t n,
                                double* lo, double* hi, double* sums) noexcept nogil
    void fastmlp_column_range_d(const double* x, Py_ssize_t rows, Py_ssize_t n,
                                double* lo, double* hi, double* sums) noexcept nogil


cdef void _standardize_rows(const char* x, bint x_f64, const double* mean,
                            const double* scale, char* out, bint out_f64,
                            Py_ssize_t rows, Py_ssize_t n, bint cast_first) noexcept nogil:
    """out := (x - mean) / scale for `rows` rows of n (cast_first: a float64 x taken
    in float32 first, for a float32 out)."""
    if out_f64 and x_f64:
        fastmlp_standardize_dd(<const double*>x, mean, scale, <double*>out, rows, n)
    elif out_f64:
        fastmlp_standardize_fd(<const float*>x, mean, scale, <double*>out, rows, n)
    elif x_f64 and cast_first:
        fastmlp_standardize_df_cast(<const double*>x, mean, scale, <float*>out, rows, n)
    elif x_f64:
        fastmlp_standardize_df(<const double*>x, mean, scale, <float*>out, rows, n)
    else:
        fastmlp_standardize_ff(<const float*>x, mean, scale, <float*>out, rows, n)


cdef bint _float_matrix(cnp.ndarray a):
    """a: 2-D, C-contiguous, aligned, native float32 or float64"""
    return (cnp.PyArray_NDIM(a) == 2 and cnp.PyArray_ISCARRAY_RO(a)
            and cnp.PyArray_TYPE(a) in (cnp.NPY_FLOAT, cnp.NPY_DOUBLE))


cdef _check_moments(cnp.ndarray mean, cnp.ndarray scale, Py_ssize_t n):
    """mean and scale are what the loops read: C-contiguous float64 vectors of n."""
    for v in (mean, scale):
        if (v is None or cnp.PyArray_NDIM(v) != 1 or v.shape[0] != n
                or cnp.PyArray_TYPE(v) != cnp.NPY_DOUBLE or not cnp.PyArray_IS_C_CONTIGUOUS(v)):
            raise ValueError(f"mean and scale must be C-contiguous float64 vectors of {n} "
                             "values")


def standardize(cnp.ndarray X, cnp.ndarray mean, cnp.ndarray scale, dtype):
    """(X - mean) / scale as a new C-ordered array of dtype (float32 or float64),
    computed in float64 with one rounding at the end; X: a C-contiguous float32 or
    float64 matrix, mean and scale: C-contiguous float64 vectors of X's width."""
    if not _float_matrix(X):
        raise ValueError("X must be a C-contiguous float32 or float64 matrix")
    cdef Py_ssize_t rows = X.shape[0], n = X.shape[1]
    _check_moments(mean, scale, n)
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    cdef cnp.ndarray out = np.empty((rows, n), dtype)
    cdef const char* x = <const char*>_ptr(X)
    cdef const double* m = <const double*>_ptr(mean)
    cdef const double* s = <const double*>_ptr(scale)
    cdef char* o = <char*>_ptr(out)
    cdef bint x_f64 = cnp.PyArray_TYPE(X) == cnp.NPY_DOUBLE, o_f64 = dtype == np.float64
    with nogil:
        _standardize_rows(x, x_f64, m, s, o, o_f64, rows, n, False)
    return out


def column_moments(cnp.ndarray X):
    """(mean, var) of X's columns in float64, with the bits of NumPy's
    X64.mean(axis=0) and X64.var(axis=0) on X64 = X as C-ordered float64 (sums over
    the rows in order); X: a C-contiguous float32 or float64 matrix of one row or
    more.  Non-finite where X is, or where its sums overflow."""
    if not _float_matrix(X) or X.shape[0] < 1:
        raise ValueError("X must be a C-contiguous float32 or float64 matrix of one row "
                         "or more")
    cdef Py_ssize_t rows = X.shape[0], n = X.shape[1]
    cdef cnp.ndarray mean = np.empty(n), var = np.empty(n)
    cdef double* m = <double*>_ptr(mean)
    cdef double* v = <double*>_ptr(var)
    cdef const void* x = _ptr(X)
    cdef bint f64 = cnp.PyArray_TYPE(X) == cnp.NPY_DOUBLE
    with nogil:
        if f64:
            fastmlp_column_sums_d(<const double*>x, rows, n, NULL, m)
        else:
            fastmlp_column_sums_f(<const float*>x, rows, n, NULL, m)
    mean /= rows
    with nogil:
        if f64:
            fastmlp_column_sums_d(<const double*>x, rows, n, m, v)
        else:
            fastmlp_column_sums_f(<const float*>x, rows, n, m, v)
    var /= rows
    return mean, var


def column_range(cnp.ndarray X):
    """(min, max, mean) of X's columns as float64 vectors, in one pass: the values of
    X.min(axis=0) and X.max(axis=0), and the means of float64 sums over the rows in
    order (the bits of X.mean(axis=0, dtype=np.float64) for two columns or more; NumPy
    sums a single column pairwise).  X: a C-contiguous float32 or float64 matrix of
    one row or more, without NaN (MNIST-24k in float32, Zen 4: 7.4 ms, NumPy's three
    reductions 22 ms)."""
    if not _float_matrix(X) or X.shape[0] < 1:
        raise ValueError("X must be a C-contiguous float32 or float64 matrix of one row "
                         "or more")
    cdef Py_ssize_t rows = X.shape[0], n = X.shape[1]
    cdef cnp.ndarray lo = np.empty(n), hi = np.empty(n), mean = np.empty(n)
    cdef double* l = <double*>_ptr(lo)
    cdef double* h = <double*>_ptr(hi)
    cdef double* m = <double*>_ptr(mean)
    cdef const void* x = _ptr(X)
    cdef bint f64 = cnp.PyArray_TYPE(X) == cnp.NPY_DOUBLE
    with nogil:
        if f64:
            fastmlp_column_range_d(<const double*>x, rows, n, l, h, m)
        else:
            fastmlp_column_range_f(<const float*>x, rows, n, l, h, m)
    mean /= rows
    return lo, hi, mean
