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
from libc.math cimport sqrt, pow, fabs, fmax, INFINITY
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
    #include "clones.h"
    /* The loops below are in C so that `restrict` tells the compiler the arrays do not
       overlap (Python guarantees it), which lets it vectorize them; each is compiled
       for SSE2 and AVX2 (clones.h; AVX-512 measured no faster: Adam on 535,818 float32
       parameters is memory-bound, 227 us either way on AMD EPYC Zen 4). */

    /* max |x| through the IEEE bit patterns: with the sign bit cleared they order as
       the magnitudes do, so an integer max reduction (which vectorizes) finds it, and
       the result is NaN or inf exactly when some element is.  16 independent
       accumulators keep the reduction from being one serial dependency chain. */
    #define FASTMLP_MAX_ABS(NAME, T, U, MASK)                                        \
    FASTMLP_CLONES static double NAME(const T* restrict x, Py_ssize_t n) {           \
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

    /* The update loops. */

    /* Adam on element i, from its (decayed) gradient g and parameter q */
    #define FASTMLP_ADAM_REST(T, SQRT)                                                      \
            T mi = b1 * m[i] + (1 - b1) * g;                                             \
            T vi = b2 * v[i] + (1 - b2) * g * g;                                         \
            m[i] = mi;                                                                   \
            v[i] = vi;                                                                   \
            q = q - step * mi / (SQRT(vi) * inv_rc2 + eps);                              \
            p[i] = q;                                                                    \
            bad |= (q - q) != 0;

    /* Without weight decay (cw == dk == 0) the mask is not read at all: a loop of its
       own, which gives the same numbers with a third less work per element. */
    #define FASTMLP_ADAM(NAME, T, SQRT)                                                  \
    FASTMLP_CLONES static int NAME(T* restrict p, const T* restrict grad,                \
            T* restrict m, T* restrict v, const unsigned char* restrict mask,          \
            Py_ssize_t n, T s, T cw, T dk, T b1, T b2, T step, T inv_rc2, T eps) {      \
        int bad = 0;                                                                     \
        if (cw == 0 && dk == 0) {                                                        \
            for (Py_ssize_t i = 0; i < n; i++) {                                         \
                T q = p[i];                                                              \
                T g = s * grad[i];                                                       \
                FASTMLP_ADAM_REST(T, SQRT)                                               \
            }                                                                            \
        } else {                                                                         \
            for (Py_ssize_t i = 0; i < n; i++) {                                         \
                T q = p[i];                                                              \
                T g = s * grad[i] + (cw * mask[i]) * q;                                  \
                q = q * (1 - dk * mask[i]);                                              \
                FASTMLP_ADAM_REST(T, SQRT)                                               \
            }                                                                            \
        }                                                                                \
        return bad;                                                                      \
    }
    FASTMLP_ADAM(fastmlp_adam_f, float, sqrtf)
    FASTMLP_ADAM(fastmlp_adam_d, double, sqrt)

    /* SGD; mu == 0: no buffer (buf may be NULL); first: the buffer holds nothing yet */
    #define FASTMLP_SGD(NAME, T)                                                         \
    FASTMLP_CLONES static int NAME(T* restrict p, const T* restrict grad,                \
            T* restrict buf, const unsigned char* restrict mask, Py_ssize_t n,         \
            T s, T lr, T mu, T wd, int nesterov, int first) {                            \
        int bad = 0;                                                                     \
        for (Py_ssize_t i = 0; i < n; i++) {                                             \
            T q = p[i], d;                                                               \
            T g = s * grad[i] + (wd * mask[i]) * q;                                      \
            if (mu != 0) {                                                               \
                T b = first ? g : mu * buf[i] + g;                                       \
                buf[i] = b;                                                              \
                d = nesterov ? g + mu * b : b;                                           \
            } else {                                                                     \
                d = g;                                                                   \
            }                                                                            \
            q = q - lr * d;                                                              \
            p[i] = q;                                                                    \
            bad |= (q - q) != 0;                                                         \
        }                                                                                \
        return bad;                                                                      \
    }
    FASTMLP_SGD(fastmlp_sgd_f, float)
    FASTMLP_SGD(fastmlp_sgd_d, double)
    """
    double fastmlp_max_abs_f(const float* x, Py_ssize_t n) noexcept nogil
    double fastmlp_max_abs_d(const double* x, Py_ssize_t n) noexcept nogil
    int fastmlp_adam_f(float* p, const float* grad, float* m, float* v,
                       const unsigned char* mask, Py_ssize_t n, float s, float cw, float dk,
                       float b1, float b2, float step, float inv_rc2,
                       float eps) noexcept nogil
    int fastmlp_adam_d(double* p, const double* grad, double* m, double* v,
                       const unsigned char* mask, Py_ssize_t n, double s, double cw,
                       double dk, double b1, double b2, double step, double inv_rc2,
                       double eps) noexcept nogil
    int fastmlp_sgd_f(float* p, const float* grad, float* buf, const unsigned char* mask,
                      Py_ssize_t n, float s, float lr, float mu, float wd, int nesterov,
                      int first) noexcept nogil
    int fastmlp_sgd_d(double* p, const double* grad, double* buf, const unsigned char* mask,
                      Py_ssize_t n, double s, double lr, double mu, double wd, int nesterov,
                      int first) noexcept nogil


include "_optim_shared.pxi"


cdef inline double _max_abs(const floating* x, Py_ssize_t n) noexcept nogil:
    if floating is float:
        return fastmlp_max_abs_f(x, n)
    return fastmlp_max_abs_d(x, n)


cdef struct Scan:
    double norm        # ‖grad‖ (only when clipping), scaled so that it cannot overflow
    double max_g       # max |grad|
    double max_p       # max |p|
    double max_b       # max |buf| (SGD momentum), else 0
    bint finite        # grad is free of NaN and inf


cdef Scan _scan(const floating* g, const floating* p, const floating* buf,
                Py_ssize_t n, bint need_norm, _Ranges* r) noexcept nogil:
    """r: the ranges to share the scan over, or NULL to run it here alone."""
    cdef Scan s
    cdef Py_ssize_t i
    cdef double sq = 0, t
    if r != NULL:
        _shared_max_abs(r, g, p, buf, &s)
    else:
        s.max_g = _max_abs(g, n)
        s.max_p = _max_abs(p, n)
        s.max_b = _max_abs(buf, n) if buf != NULL else 0
    s.finite = s.max_g - s.max_g == 0
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
              bint first, bint force, int helpers) noexcept nogil:
    """mask (never NULL) is 1 where weight decay applies, 0 elsewhere; up to `helpers`
    helper threads take part."""
    cdef int bad
    cdef double bound_g, bound_b, bound_d
    cdef _Ranges r
    cdef _Ranges* share = &r if _plan_ranges(&r, n, floating is double, helpers) else NULL
    cdef Scan scan = _scan(grad, p, buf if (mu != 0 and not first) else NULL, n, clip > 0,
                           share)
    if not scan.finite:
        return NONFINITE_GRAD
    cdef double sc = _clip_scale(&scan, clip)
    # |g'| <= s·max|grad| + wd·max|p| ; |buf'| <= μ·max|buf| + |g'| ; then |d|, |p'|
    bound_g = sc * scan.max_g + wd * scan.max_p
    bound_b = mu * scan.max_b + bound_g
    bound_d = (bound_g + mu * bound_b if nesterov else bound_b) if mu != 0 else bound_g
    if not force and not (scan.max_p + lr * bound_d < _limit(p)):
        return UNSAFE
    if share != NULL:
        r.p, r.g, r.m, r.mask = <char*>p, <const char*>grad, <char*>buf, mask
        r.s, r.lr, r.mu, r.wd, r.nesterov, r.first = sc, lr, mu, wd, nesterov, first
        bad = _shared_update(share, _sgd_task)
    elif floating is float:
        bad = fastmlp_sgd_f(p, grad, buf, mask, n, <float>sc, <float>lr, <float>mu,
                            <float>wd, nesterov, first)
    else:
        bad = fastmlp_sgd_d(p, grad, buf, mask, n, sc, lr, mu, wd, nesterov, first)
    return NONFINITE_PARAMS if bad else OK


cdef int _adam(floating* p, const floating* grad, floating* m, floating* v,
               const unsigned char* mask, Py_ssize_t n, double lr, double beta1,
               double beta2, double eps, long t, double wd, bint decoupled,
               double clip, bint force, int helpers) noexcept nogil:
    """mask (never NULL) is 1 where weight decay applies, 0 elsewhere; up to `helpers`
    helper threads take part."""
    cdef int bad
    cdef double ratio, bound
    cdef _Ranges r
    cdef _Ranges* share = &r if _plan_ranges(&r, n, floating is double, helpers) else NULL
    cdef Scan scan = _scan(grad, p, NULL, n, clip > 0, share)
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
    # coupled decay adds cw·p to g; decoupled multiplies p by 1 - dk (mask permitting)
    cdef double cw = 0 if decoupled else wd
    cdef double dk = lr * wd if decoupled else 0
    if share != NULL:
        r.p, r.g, r.m, r.v, r.mask = <char*>p, <const char*>grad, <char*>m, <char*>v, mask
        r.s, r.cw, r.dk, r.b1, r.b2 = sc, cw, dk, beta1, beta2
        r.step, r.inv_rc2, r.eps = step, 1 / rc2, eps
        bad = _shared_update(share, _adam_task)
    elif floating is float:
        bad = fastmlp_adam_f(p, grad, m, v, mask, n, <float>sc, <float>cw, <float>dk,
                             <float>beta1, <float>beta2, <float>step, <float>(1 / rc2),
                             <float>eps)
    else:
        bad = fastmlp_adam_d(p, grad, m, v, mask, n, sc, cw, dk, beta1, beta2, step, 1 / rc2,
                             eps)
    return NONFINITE_PARAMS if bad else OK


cdef inline void* _ptr(cnp.ndarray a):
    return cnp.PyArray_DATA(a) if a is not None else NULL


def sgd_step(cnp.ndarray params, cnp.ndarray grads, cnp.ndarray buf, cnp.ndarray mask,
             double lr, double momentum, bint nesterov, double weight_decay,
             double clip, bint first, bint force=False, int helpers=0):
    """One SGD update in place; returns a STATUS code.  buf is the momentum buffer
    (None without momentum); first says it holds nothing yet; up to `helpers` helper
    threads share the work."""
    cdef Py_ssize_t n = cnp.PyArray_SIZE(params)
    cdef void* p = _ptr(params)
    cdef void* g = _ptr(grads)
    cdef void* b = _ptr(buf)
    cdef unsigned char* mk = <unsigned char*>_ptr(mask)
    cdef int status
    if cnp.PyArray_TYPE(params) == cnp.NPY_DOUBLE:
        with nogil:
            status = _sgd(<double*>p, <double*>g, <double*>b, mk, n, lr, momentum,
                          nesterov, weight_decay, clip, first, force, helpers)
    else:
        with nogil:
            status = _sgd(<float*>p, <float*>g, <float*>b, mk, n, lr, momentum,
                          nesterov, weight_decay, clip, first, force, helpers)
    return status


def adam_step(cnp.ndarray params, cnp.ndarray grads, cnp.ndarray m, cnp.ndarray v,
              cnp.ndarray mask, double lr, double beta1, double beta2, double eps,
              long t, double weight_decay, bint decoupled, double clip, bint force=False,
              int helpers=0):
    """One Adam (decoupled=False) or AdamW (decoupled=True) update in place, t >= 1;
    returns a STATUS code; up to `helpers` helper threads share the work."""
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
                           beta1, beta2, eps, t, weight_decay, decoupled, clip, force,
                           helpers)
    else:
        with nogil:
            status = _adam(<float*>p, <float*>g, <float*>mm, <float*>vv, mk, n, lr,
                           beta1, beta2, eps, t, weight_decay, decoupled, clip, force,
                           helpers)
    return status
