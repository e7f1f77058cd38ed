# Optimizer updates over a network's flat parameter and gradient vectors, one fused
# loop each (float32 and float64 through the fused type, GIL released).
#
#   g     := s · grad                 s = clip / (‖grad‖ + 1e-6) when that is < 1
#   g     += wd · p                   (coupled weight decay / L2, where mask allows)
#   SGD   buf := μ · buf + g ;  p -= lr · (g + μ · buf  if nesterov  else buf)
#   Adam  m := β1 m + (1-β1) g ;  v := β2 v + (1-β2) g² ;
#         p -= lr / (1-β1^t) · m / (√v / √(1-β2^t) + ε)
#   AdamW as Adam, with p *= 1 - lr·wd first instead of g += wd·p
#
# These are PyTorch's update rules (torch.optim.SGD with dampening 0, Adam, AdamW,
# clip_grad_norm_).
#
# Nothing is written unless the result is known to be finite.  A first pass reads the
# gradient (its norm, for clipping, and whether it is finite) and the parameters
# (their largest magnitude).  From those it bounds the largest parameter the update
# can produce; if that bound cannot rule out overflow the call returns UNSAFE without
# writing, and the caller backs the state up and calls again with force=True (then a
# NONFINITE_PARAMS result is undone from the backup).  As everywhere in fastmlp,
# Python has validated the arrays.

cimport numpy as cnp
from libc.math cimport sqrt, sqrtf, pow, fabs, fmax, INFINITY
from libc.float cimport FLT_MAX, DBL_MAX

from _blas cimport floating

cnp.import_array()

cdef enum:
    OK = 0
    NONFINITE_GRAD = 1      # nothing was updated
    NONFINITE_PARAMS = 2    # the update left a NaN or inf in the parameters
    UNSAFE = 3              # nothing was updated: call again with force, backup in hand

STATUS = {"ok": OK, "nonfinite_grad": NONFINITE_GRAD,
          "nonfinite_params": NONFINITE_PARAMS, "unsafe": UNSAFE}


cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    /* max |x| through the IEEE bit patterns: with the sign bit cleared they order as
       the magnitudes do, so an integer max reduction (which vectorizes) finds it, and
       the result is NaN or inf exactly when some element is.  16 independent
       accumulators keep the reduction from being one serial dependency chain. */
    #define FASTMLP_MAX_ABS(NAME, T, U, MASK)                                        \
    static double NAME(const T* x, Py_ssize_t n) {                                   \
        U m[16] = {0}, b, r = 0;                                                     \
        Py_ssize_t i = 0;                                                            \
        for (; i + 16 <= n; i += 16)                                                 \
            for (int k = 0; k < 16; k++) {                                           \
                memcpy(&b, x + i + k, sizeof b); b &= MASK; m[k] = b > m[k] ? b : m[k]; \
            }                                                                        \
        for (; i < n; i++) { memcpy(&b, x + i, sizeof b); b &= MASK; r = b > r ? b : r; } \
        for (int k = 0; k < 16; k++) r = m[k] > r ? m[k] : r;                        \
        T out; memcpy(&out, &r, sizeof out); return out;                             \
    }
    FASTMLP_MAX_ABS(fastmlp_max_abs_f, float, int32_t, 0x7fffffff)
    FASTMLP_MAX_ABS(fastmlp_max_abs_d, double, int64_t, 0x7fffffffffffffffll)
    """
    double fastmlp_max_abs_f(const float* x, Py_ssize_t n) noexcept nogil
    double fastmlp_max_abs_d(const double* x, Py_ssize_t n) noexcept nogil


cdef inline double _max_abs(const floating* x, Py_ssize_t n) noexcept nogil:
    if floating is float:
        return fastmlp_max_abs_f(x, n)
    return fastmlp_max_abs_d(x, n)


cdef inline floating _sqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    return sqrt(x)


cdef struct Scan:
    double norm        # ‖grad‖ (only when clipping), scaled so that it cannot overflow
    double max_g       # max |grad|
    double max_p       # max |p|
    double max_b       # max |buf| (SGD momentum), else 0
    bint finite        # grad is free of NaN and inf


cdef Scan _scan(const floating* g, const floating* p, const floating* buf,
                Py_ssize_t n, bint need_norm) noexcept nogil:
    cdef Scan s
    cdef Py_ssize_t i
    cdef double sq = 0, t
    s.max_g = _max_abs(g, n)
    s.finite = s.max_g - s.max_g == 0
    s.max_p = _max_abs(p, n)
    s.max_b = _max_abs(buf, n) if buf != NULL else 0
    s.norm = 0
    if s.finite and need_norm and s.max_g > 0:
        # Σ (g / max|g|)² cannot overflow, whatever the entries
        for i in range(n):
            t = g[i] / s.max_g
            sq += t * t
        s.norm = s.max_g * sqrt(sq)
    return s


cdef inline double _clip_scale(Scan* s, double clip) noexcept nogil:
    """PyTorch's clip_grad_norm_: scale by clip / (‖g‖ + 1e-6) when that is below 1."""
    cdef double c
    if clip > 0:
        c = clip / (s.norm + 1e-6)
        if c < 1:
            return c
    return 1.0


cdef inline double _limit(floating* p) noexcept nogil:
    """Half the largest finite value of the dtype: the bound a safe update stays under."""
    if floating is float:
        return 0.5 * FLT_MAX
    return 0.5 * DBL_MAX


cdef int _sgd(floating* p, const floating* grad, floating* buf, const unsigned char* mask,
              Py_ssize_t n, double lr, double mu, bint nesterov, double wd, double clip,
              bint first, bint force) noexcept nogil:
    """mask (never NULL) is 1 where weight decay applies, 0 elsewhere."""
    cdef Py_ssize_t i
    cdef int bad = 0
    cdef floating g, b, d, q
    cdef double bound_g, bound_b, bound_d
    cdef Scan scan = _scan(grad, p, buf if (mu != 0 and not first) else NULL, n, clip > 0)
    if not scan.finite:
        return NONFINITE_GRAD
    cdef double sc = _clip_scale(&scan, clip)
    # |g'| <= s·max|grad| + wd·max|p| ; |buf'| <= μ·max|buf| + |g'| ; then |d|, |p'|
    bound_g = sc * scan.max_g + wd * scan.max_p
    bound_b = mu * scan.max_b + bound_g
    bound_d = (bound_g + mu * bound_b if nesterov else bound_b) if mu != 0 else bound_g
    if not force and not (scan.max_p + lr * bound_d < _limit(p)):
        return UNSAFE
    cdef floating s = <floating>sc
    cdef floating flr = <floating>lr, fmu = <floating>mu, fwd = <floating>wd
    # the branches below are loop-invariant (GCC unswitches them); the body is not
    for i in range(n):
        q = p[i]
        g = s * grad[i] + (fwd * mask[i]) * q
        if fmu != 0:
            b = g if first else fmu * buf[i] + g
            buf[i] = b
            d = g + fmu * b if nesterov else b
        else:
            d = g
        q = q - flr * d
        p[i] = q
        bad |= (q - q) != 0
    return NONFINITE_PARAMS if bad else OK


cdef int _adam(floating* p, const floating* grad, floating* m, floating* v,
               const unsigned char* mask, Py_ssize_t n, double lr, double beta1,
               double beta2, double eps, long t, double wd, bint decoupled,
               double clip, bint force) noexcept nogil:
    """mask (never NULL) is 1 where weight decay applies, 0 elsewhere."""
    cdef Py_ssize_t i
    cdef int bad = 0
    cdef floating g, mi, vi
    cdef double ratio, bound
    cdef Scan scan = _scan(grad, p, NULL, n, clip > 0)
    if not scan.finite:
        return NONFINITE_GRAD
    cdef double sc = _clip_scale(&scan, clip)
    cdef double step = lr / (1 - pow(beta1, t))
    cdef double rc2 = sqrt(1 - pow(beta2, t))
    # Whatever the gradients, |m| / √v <= (1-β1) / √(1-β2) / √(1 - β1²/β2) when
    # β1² < β2, so each step moves p by at most step · √(1-β2^t) times that.
    if beta1 * beta1 < beta2:
        ratio = (1 - beta1) / sqrt(1 - beta2) / sqrt(1 - beta1 * beta1 / beta2)
        bound = scan.max_p * fmax(1, fabs(1 - lr * wd)) + step * rc2 * ratio
    else:
        bound = INFINITY
    if not force and not (bound < _limit(p)):
        return UNSAFE
    cdef floating s = <floating>sc
    cdef floating b1 = <floating>beta1, b2 = <floating>beta2
    cdef floating fstep = <floating>step, root_c2 = <floating>rc2
    cdef floating feps = <floating>eps
    # coupled decay adds cw·p to g; decoupled multiplies p by 1 - dk (mask permitting)
    cdef floating cw = <floating>(0 if decoupled else wd)
    cdef floating dk = <floating>(lr * wd if decoupled else 0)
    cdef floating q
    for i in range(n):
        q = p[i]
        g = s * grad[i] + (cw * mask[i]) * q
        q = q * (1 - dk * mask[i])
        mi = b1 * m[i] + (1 - b1) * g
        vi = b2 * v[i] + (1 - b2) * g * g
        m[i] = mi
        v[i] = vi
        q = q - fstep * mi / (_sqrt(vi) / root_c2 + feps)
        p[i] = q
        bad |= (q - q) != 0
    return NONFINITE_PARAMS if bad else OK


cdef inline void* _ptr(cnp.ndarray a):
    return cnp.PyArray_DATA(a) if a is not None else NULL


def sgd_step(cnp.ndarray params, cnp.ndarray grads, cnp.ndarray buf, cnp.ndarray mask,
             double lr, double momentum, bint nesterov, double weight_decay,
             double clip, bint first, bint force=False):
    """One SGD update in place; returns a STATUS code.  buf is the momentum buffer
    (None without momentum); first says it holds nothing yet."""
    cdef Py_ssize_t n = cnp.PyArray_SIZE(params)
    cdef void* p = _ptr(params)
    cdef void* g = _ptr(grads)
    cdef void* b = _ptr(buf)
    cdef unsigned char* mk = <unsigned char*>_ptr(mask)
    cdef int status
    if cnp.PyArray_TYPE(params) == cnp.NPY_DOUBLE:
        with nogil:
            status = _sgd(<double*>p, <double*>g, <double*>b, mk, n, lr, momentum,
                          nesterov, weight_decay, clip, first, force)
    else:
        with nogil:
            status = _sgd(<float*>p, <float*>g, <float*>b, mk, n, lr, momentum,
                          nesterov, weight_decay, clip, first, force)
    return status


def adam_step(cnp.ndarray params, cnp.ndarray grads, cnp.ndarray m, cnp.ndarray v,
              cnp.ndarray mask, double lr, double beta1, double beta2, double eps,
              long t, double weight_decay, bint decoupled, double clip, bint force=False):
    """One Adam (decoupled=False) or AdamW (decoupled=True) update in place, t >= 1;
    returns a STATUS code."""
    cdef Py_ssize_t n = cnp.PyArray_SIZE(params)
    cdef void* p = _ptr(params)
    cdef void* g = _ptr(grads)
    cdef void* mm = _ptr(m)
    cdef void* vv = _ptr(v)
    cdef unsigned char* mk = <unsigned char*>_ptr(mask)
    cdef int status
    if cnp.PyArray_TYPE(params) == cnp.NPY_DOUBLE:
        with nogil:
            status = _adam(<double*>p, <double*>g, <double*>mm, <double*>vv, mk, n, lr,
                           beta1, beta2, eps, t, weight_decay, decoupled, clip, force)
    else:
        with nogil:
            status = _adam(<float*>p, <float*>g, <float*>mm, <float*>vv, mk, n, lr,
                           beta1, beta2, eps, t, weight_decay, decoupled, clip, force)
    return status
