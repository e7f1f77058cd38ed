# Activation functions: forward on a row, and the derivative written in terms of
# the OUTPUT a = f(z), so backward needs no stored pre-activation.  Two exceptions
# keep Z: GELU, whose derivative is not a function of its output, and ELU, whose
# a + α would cancel catastrophically for z << 0 (α·e^z is exact from z).
# Softmax is row-wise; its backward is the Jacobian-vector product.  exp (exp' = a) is
# the output of the Poisson loss; like softmax it is for output layers only.
#
# Stability: every form here is finite for |z| up to 1e4 in float32 and float64
# (sigmoid split on the sign of z, softplus through log1p(exp(-|z|)), softmax with
# the row max subtracted, GELU through erfc).  No fast-math: sigmoid, tanh, ELU,
# softplus, the exponentials of softmax and exp, and the derivatives that need an
# exponential run vmath.h's vector code (within ~2 ulps; libm where the CPU lacks
# AVX2); GELU too in float32 (within 8 ulps), libm's erfc and exp in float64.
#
# Header-style (`cdef inline`), compiled into each module that cimports it.

from libc.math cimport exp, expf
from libc.math cimport erfc, erfcf
from _blas cimport floating

cdef extern from "vmath.h" nogil:
    void fm_vexp_f(const float* x, float* y, Py_ssize_t n)
    void fm_vexp_d(const double* x, double* y, Py_ssize_t n)
    void fm_vsigmoid_f(const float* x, float* y, Py_ssize_t n)
    void fm_vsigmoid_d(const double* x, double* y, Py_ssize_t n)
    void fm_vtanh_f(const float* x, float* y, Py_ssize_t n)
    void fm_vtanh_d(const double* x, double* y, Py_ssize_t n)
    void fm_velu_f(const float* x, float* y, Py_ssize_t n, float alpha)
    void fm_velu_d(const double* x, double* y, Py_ssize_t n, double alpha)
    void fm_vsoftplus_f(const float* x, float* y, Py_ssize_t n)
    void fm_vsoftplus_d(const double* x, double* y, Py_ssize_t n)
    void fm_vsoftplus_slope_f(const float* a, float* y, Py_ssize_t n)
    void fm_vsoftplus_slope_d(const double* a, double* y, Py_ssize_t n)
    void fm_vgelu_f(const float* x, float* y, Py_ssize_t n)
    void fm_vgelu_slope_f(const float* x, float* y, Py_ssize_t n)

cdef enum:
    VCHUNK = 256        # elements per stack buffer where a vector result is scratch

cdef enum:
    ACT_IDENTITY = 0
    ACT_SIGMOID = 1
    ACT_TANH = 2
    ACT_RELU = 3
    ACT_LEAKY_RELU = 4
    ACT_ELU = 5
    ACT_SOFTPLUS = 6
    ACT_GELU = 7
    ACT_SOFTMAX = 8
    ACT_EXP = 9

cdef extern from *:
    """
    #define FASTMLP_SQRT1_2 0.70710678118654752440       /* 1/sqrt(2)    */
    #define FASTMLP_INV_SQRT_2PI 0.39894228040143267794  /* 1/sqrt(2 pi) */
    """
    const double _SQRT1_2 "FASTMLP_SQRT1_2"
    const double _INV_SQRT_2PI "FASTMLP_INV_SQRT_2PI"


cdef inline bint _keeps_z(int act) noexcept nogil:
    """Whether a layer with this activation keeps its pre-activation Z for backward."""
    return act == ACT_GELU or act == ACT_ELU


cdef inline floating _exp(floating x) noexcept nogil:
    if floating is float:
        return expf(x)
    else:
        return exp(x)


cdef inline floating _erfc(floating x) noexcept nogil:
    if floating is float:
        return erfcf(x)
    else:
        return erfc(x)


# y[:n] := f(x[:n]) by vmath.h; y may be x
cdef inline void _vexp(const floating* x, floating* y, Py_ssize_t n) noexcept nogil:
    if floating is float:
        fm_vexp_f(x, y, n)
    else:
        fm_vexp_d(x, y, n)


cdef inline void _vsigmoid(const floating* x, floating* y, Py_ssize_t n) noexcept nogil:
    if floating is float:
        fm_vsigmoid_f(x, y, n)
    else:
        fm_vsigmoid_d(x, y, n)


cdef inline void _vsoftplus(const floating* x, floating* y, Py_ssize_t n) noexcept nogil:
    if floating is float:
        fm_vsoftplus_f(x, y, n)
    else:
        fm_vsoftplus_d(x, y, n)


cdef inline void _softmax_rows(const floating* z, floating* a, Py_ssize_t rows,
                               Py_ssize_t n) noexcept nogil:
    """a := softmax of each of `rows` adjacent rows of n values of z (a may alias z):
    the row max subtracted, the exponentials of all the rows in one call of the
    vector code, each row scaled by the reciprocal of its sum."""
    cdef Py_ssize_t i, j
    cdef floating m, s
    cdef floating* r
    for i in range(rows):
        m = z[i * n]
        for j in range(1, n):
            if z[i * n + j] > m:
                m = z[i * n + j]
        for j in range(n):
            a[i * n + j] = z[i * n + j] - m
    _vexp(a, a, rows * n)
    for i in range(rows):
        r = a + i * n
        s = 0
        for j in range(n):
            s += r[j]
        s = 1 / s
        for j in range(n):
            r[j] *= s


cdef inline void _act_row(const floating* z, floating* a, Py_ssize_t n,
                          int act, floating alpha) noexcept nogil:
    """a := act(z) for one row of n values; a may alias z."""
    cdef Py_ssize_t j
    cdef floating t
    if act == ACT_IDENTITY:
        if a != z:
            for j in range(n):
                a[j] = z[j]
    elif act == ACT_SIGMOID:
        _vsigmoid(z, a, n)
    elif act == ACT_TANH:
        if floating is float:
            fm_vtanh_f(z, a, n)
        else:
            fm_vtanh_d(z, a, n)
    elif act == ACT_RELU:
        # loads into locals first: a select on locals vectorizes, a conditional load does not
        for j in range(n):
            t = z[j]
            a[j] = t if t > 0 else 0
    elif act == ACT_LEAKY_RELU:
        for j in range(n):
            t = z[j]
            a[j] = t * (1 if t > 0 else alpha)
    elif act == ACT_ELU:
        if floating is float:
            fm_velu_f(z, a, n, alpha)
        else:
            fm_velu_d(z, a, n, alpha)
    elif act == ACT_SOFTPLUS:
        _vsoftplus(z, a, n)
    elif act == ACT_GELU:
        # z·Φ(z) with Φ(z) = erfc(-z/√2)/2, accurate in both tails (float32: vmath.h)
        if floating is float:
            fm_vgelu_f(z, a, n)
        else:
            for j in range(n):
                t = z[j]
                a[j] = 0.5 * t * _erfc(-t * <floating>_SQRT1_2)
    elif act == ACT_SOFTMAX:
        _softmax_rows(z, a, 1, n)
    elif act == ACT_EXP:
        _vexp(z, a, n)


cdef inline Py_ssize_t _rows_per_call(Py_ssize_t n) noexcept nogil:
    """How many adjacent rows of n values one call of the vector functions takes:
    enough to fill VCHUNK values.  A row narrower than two vectors (a 2-class or
    1-unit output, a hidden layer of 16) runs its values through a padded vector,
    filled one value at a time; called row by row, that cost a whole vector's work
    per row (Zen 4, float32, 128 rows: a 2-class softmax 4.8 us row by row, 0.7 us
    as one call; a sigmoid of one unit 4.5 us, 0.05 us)."""
    return VCHUNK // n if 0 < n < VCHUNK else 1


cdef inline void _act_rows(const floating* z, floating* a, Py_ssize_t rows,
                           Py_ssize_t n, int act, floating alpha) noexcept nogil:
    """a := act(z) for `rows` adjacent rows of n values (a may alias z): _act_row's
    bits on each row, with one call of the vector code for all of them (softmax: its
    exponentials, the row max subtracted first and each row's sum taken after)."""
    if act == ACT_SOFTMAX:
        _softmax_rows(z, a, rows, n)
    else:
        _act_row(z, a, rows * n, act, alpha)


cdef inline void _act_block(const floating* z, floating* a, Py_ssize_t B, Py_ssize_t n,
                            int act, floating alpha) noexcept nogil:
    """a := act(z) for B adjacent rows of n values (a may alias z): _act_rows a group
    of _rows_per_call(n) rows at a time."""
    cdef Py_ssize_t i, g = _rows_per_call(n)
    for i in range((B + g - 1) // g):
        _act_rows(z + i * g * n, a + i * g * n, min(g, B - i * g), n, act, alpha)


cdef inline void _dact_row(const floating* g, const floating* a, const floating* z,
                           floating* dz, Py_ssize_t n, int act,
                           floating alpha) noexcept nogil:
    """dz := g ⊙ act'(z), with act' taken from the output a (from z for GELU, ELU).

    dz may alias g.  For softmax this is the row's Jacobian-vector product
    dz_j = a_j (g_j - Σ_k g_k a_k).
    """
    cdef Py_ssize_t j, k, c
    cdef floating s, t
    cdef floating buf[VCHUNK]
    if act == ACT_IDENTITY:
        if dz != g:
            for j in range(n):
                dz[j] = g[j]
    elif act == ACT_SIGMOID:
        for j in range(n):
            dz[j] = g[j] * a[j] * (1 - a[j])
    elif act == ACT_TANH:
        for j in range(n):
            dz[j] = g[j] * (1 - a[j] * a[j])
    elif act == ACT_RELU:
        # loads into locals first: a select on locals vectorizes, a conditional load does not
        for j in range(n):
            s = g[j]
            t = a[j]
            dz[j] = s if t > 0 else 0
    elif act == ACT_LEAKY_RELU:
        for j in range(n):
            s = g[j]
            t = a[j]
            dz[j] = s * (1 if t > 0 else alpha)
    elif act == ACT_ELU:
        # elu'(z) = α e^z for z <= 0, e^z (at min(z, 0)) in a scratch buffer a chunk at
        # a time (dz may be g)
        j = 0
        while j < n:
            c = min(n - j, <Py_ssize_t>VCHUNK)
            for k in range(c):
                t = z[j + k]
                buf[k] = 0 if t > 0 else t
            _vexp(buf, buf, c)
            for k in range(c):
                dz[j + k] = g[j + k] if z[j + k] > 0 else g[j + k] * alpha * buf[k]
            j += c
    elif act == ACT_SOFTPLUS or (act == ACT_GELU and floating is float):
        # softplus'(z) = sigmoid(z) = 1 - e^-a; gelu'(z) = Φ(z) + z φ(z) (float32):
        # vmath.h a chunk at a time into a scratch buffer (dz may be g)
        j = 0
        while j < n:
            c = min(n - j, <Py_ssize_t>VCHUNK)
            if floating is double:
                fm_vsoftplus_slope_d(a + j, buf, c)
            elif act == ACT_GELU:
                fm_vgelu_slope_f(z + j, buf, c)
            else:
                fm_vsoftplus_slope_f(a + j, buf, c)
            for k in range(c):
                dz[j + k] = g[j + k] * buf[k]
            j += c
    elif act == ACT_GELU:
        # gelu'(z) = Φ(z) + z φ(z), float64 by libm
        for j in range(n):
            t = z[j]
            dz[j] = g[j] * (0.5 * _erfc(-t * <floating>_SQRT1_2)
                            + t * <floating>_INV_SQRT_2PI * _exp(-0.5 * t * t))
    elif act == ACT_SOFTMAX:
        s = 0
        for j in range(n):
            s += g[j] * a[j]
        for j in range(n):
            dz[j] = a[j] * (g[j] - s)
    elif act == ACT_EXP:
        # exp'(z) = a
        for j in range(n):
            dz[j] = g[j] * a[j]
