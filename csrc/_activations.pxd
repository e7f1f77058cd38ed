# Activation functions: forward on a row, and the derivative written in terms of
# the OUTPUT a = f(z), so backward needs no stored pre-activation.  Two exceptions
# keep Z: GELU, whose derivative is not a function of its output, and ELU, whose
# a + α would cancel catastrophically for z << 0 (α·e^z is exact from z).
# Softmax is row-wise; its backward is the Jacobian-vector product.  exp (exp' = a) is
# the output of the Poisson loss; like softmax it is for output layers only.
#
# Stability: every form here is finite for |z| up to 1e4 in float32 and float64
# (sigmoid split on the sign of z, softplus through log1p(exp(-|z|)), softmax with
# the row max subtracted, GELU through erfc).  Exact libm, no fast-math.
#
# Header-style (`cdef inline`), compiled into each module that cimports it.

from libc.math cimport exp, expf, expm1, expm1f, log1p, log1pf, tanh, tanhf
from libc.math cimport erfc, erfcf
from _blas cimport floating

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


cdef inline floating _expm1(floating x) noexcept nogil:
    if floating is float:
        return expm1f(x)
    else:
        return expm1(x)


cdef inline floating _log1p(floating x) noexcept nogil:
    if floating is float:
        return log1pf(x)
    else:
        return log1p(x)


cdef inline floating _erfc(floating x) noexcept nogil:
    if floating is float:
        return erfcf(x)
    else:
        return erfc(x)


cdef inline floating _sigmoid(floating z) noexcept nogil:
    """1 / (1 + e^-z), never exponentiating a positive number."""
    cdef floating e
    if z >= 0:
        return 1 / (1 + _exp(-z))
    e = _exp(z)
    return e / (1 + e)


cdef inline floating _softplus(floating z) noexcept nogil:
    """log(1 + e^z) = max(z, 0) + log1p(e^-|z|)."""
    if z > 0:
        return z + _log1p(_exp(-z))
    return _log1p(_exp(z))


cdef inline void _act_row(const floating* z, floating* a, Py_ssize_t n,
                          int act, floating alpha) noexcept nogil:
    """a := act(z) for one row of n values; a may alias z."""
    cdef Py_ssize_t j
    cdef floating m, s, t
    if act == ACT_IDENTITY:
        if a != z:
            for j in range(n):
                a[j] = z[j]
    elif act == ACT_SIGMOID:
        for j in range(n):
            a[j] = _sigmoid(z[j])
    elif act == ACT_TANH:
        for j in range(n):
            if floating is float:
                a[j] = tanhf(z[j])
            else:
                a[j] = tanh(z[j])
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
        for j in range(n):
            a[j] = z[j] if z[j] > 0 else alpha * _expm1(z[j])
    elif act == ACT_SOFTPLUS:
        for j in range(n):
            a[j] = _softplus(z[j])
    elif act == ACT_GELU:
        # z·Φ(z) with Φ(z) = erfc(-z/√2)/2, accurate in both tails
        for j in range(n):
            t = z[j]
            a[j] = 0.5 * t * _erfc(-t * <floating>_SQRT1_2)
    elif act == ACT_SOFTMAX:
        m = z[0]
        for j in range(1, n):
            if z[j] > m:
                m = z[j]
        s = 0
        for j in range(n):
            a[j] = _exp(z[j] - m)
            s += a[j]
        s = 1 / s
        for j in range(n):
            a[j] *= s
    elif act == ACT_EXP:
        for j in range(n):
            a[j] = _exp(z[j])


cdef inline void _dact_row(const floating* g, const floating* a, const floating* z,
                           floating* dz, Py_ssize_t n, int act,
                           floating alpha) noexcept nogil:
    """dz := g ⊙ act'(z), with act' taken from the output a (from z for GELU, ELU).

    dz may alias g.  For softmax this is the row's Jacobian-vector product
    dz_j = a_j (g_j - Σ_k g_k a_k).
    """
    cdef Py_ssize_t j
    cdef floating s, t
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
        # elu'(z) = α e^z for z <= 0
        for j in range(n):
            dz[j] = g[j] if z[j] > 0 else g[j] * alpha * _exp(z[j])
    elif act == ACT_SOFTPLUS:
        # softplus'(z) = sigmoid(z) = 1 - e^-a
        for j in range(n):
            dz[j] = -g[j] * _expm1(-a[j])
    elif act == ACT_GELU:
        # gelu'(z) = Φ(z) + z φ(z)
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
