# Optimizer updates over a network's flat parameter and gradient vectors, one fused
# loop each (float32 and float64 through the fused type, GIL released).
#
#   g     := s · grad                 s = min(1, clip / (‖grad‖ + 1e-6)) when clip > 0
#   g     += wd · p                   (coupled weight decay / L2, where mask allows)
#   SGD   buf := μ · buf + g ;  p -= lr · (g + μ · buf  if nesterov  else buf)
#   Adam  m := β1 m + (1-β1) g ;  v := β2 v + (1-β2) g² ;
#         p -= lr / (1-β1^t) · m / (√v / √(1-β2^t) + ε)
#   AdamW as Adam, with p *= 1 - lr·wd first instead of g += wd·p
#
# These are PyTorch's update rules (torch.optim.SGD with dampening 0, Adam, AdamW).
# A first pass computes ‖grad‖ in double; a NaN or inf there returns NONFINITE_GRAD
# before any parameter is touched.  The update pass reports whether every updated
# parameter is finite.  As everywhere in fastmlp, Python has validated the arrays.

cimport numpy as cnp
from libc.math cimport sqrt, pow

from _blas cimport floating

cnp.import_array()

cdef enum:
    OK = 0
    NONFINITE_GRAD = 1      # nothing was updated
    NONFINITE_PARAMS = 2    # the update left a NaN or inf in the parameters

STATUS = {"ok": OK, "nonfinite_grad": NONFINITE_GRAD, "nonfinite_params": NONFINITE_PARAMS}


cdef double _sq_norm(const floating* g, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef double s = 0
    for i in range(n):
        s += <double>g[i] * g[i]
    return s


cdef double _grad_scale(const floating* g, Py_ssize_t n, double clip,
                        bint* finite) noexcept nogil:
    """The clipping factor s, and whether ‖g‖ is finite."""
    cdef double norm = sqrt(_sq_norm(g, n))
    finite[0] = norm - norm == 0
    if clip > 0 and norm > clip:
        return clip / (norm + 1e-6)
    return 1.0


cdef int _sgd(floating* p, const floating* grad, floating* buf, const unsigned char* mask,
              Py_ssize_t n, double lr, double mu, bint nesterov, double wd, double clip,
              bint first) noexcept nogil:
    cdef Py_ssize_t i
    cdef bint finite
    cdef int bad = 0
    cdef floating g, b, d
    cdef floating s = <floating>_grad_scale(grad, n, clip, &finite)
    if not finite:
        return NONFINITE_GRAD
    cdef floating flr = <floating>lr, fmu = <floating>mu, fwd = <floating>wd
    for i in range(n):
        g = s * grad[i]
        if fwd != 0 and (mask == NULL or mask[i]):
            g = g + fwd * p[i]
        if fmu != 0:
            b = g if first else fmu * buf[i] + g
            buf[i] = b
            d = g + fmu * b if nesterov else b
        else:
            d = g
        p[i] -= flr * d
        bad |= (p[i] - p[i]) != 0
    return NONFINITE_PARAMS if bad else OK


cdef int _adam(floating* p, const floating* grad, floating* m, floating* v,
               const unsigned char* mask, Py_ssize_t n, double lr, double beta1,
               double beta2, double eps, long t, double wd, bint decoupled,
               double clip) noexcept nogil:
    cdef Py_ssize_t i
    cdef bint finite
    cdef int bad = 0
    cdef floating g, mi, vi
    cdef floating s = <floating>_grad_scale(grad, n, clip, &finite)
    if not finite:
        return NONFINITE_GRAD
    cdef floating b1 = <floating>beta1, b2 = <floating>beta2
    cdef floating step = <floating>(lr / (1 - pow(beta1, t)))
    cdef floating root_c2 = <floating>sqrt(1 - pow(beta2, t))
    cdef floating feps = <floating>eps, fwd = <floating>wd
    cdef floating shrink = <floating>(1 - lr * wd)
    for i in range(n):
        g = s * grad[i]
        if fwd != 0 and (mask == NULL or mask[i]):
            if decoupled:
                p[i] *= shrink
            else:
                g = g + fwd * p[i]
        mi = b1 * m[i] + (1 - b1) * g
        vi = b2 * v[i] + (1 - b2) * g * g
        m[i] = mi
        v[i] = vi
        p[i] -= step * mi / (sqrt(vi) / root_c2 + feps)
        bad |= (p[i] - p[i]) != 0
    return NONFINITE_PARAMS if bad else OK


cdef inline void* _ptr(cnp.ndarray a):
    return cnp.PyArray_DATA(a) if a is not None else NULL


def sgd_step(cnp.ndarray params, cnp.ndarray grads, cnp.ndarray buf, cnp.ndarray mask,
             double lr, double momentum, bint nesterov, double weight_decay,
             double clip, bint first):
    """One SGD update in place; returns OK, NONFINITE_GRAD (nothing updated) or
    NONFINITE_PARAMS.  buf is the momentum buffer (None without momentum)."""
    cdef Py_ssize_t n = cnp.PyArray_SIZE(params)
    cdef void* p = _ptr(params)
    cdef void* g = _ptr(grads)
    cdef void* b = _ptr(buf)
    cdef unsigned char* mk = <unsigned char*>_ptr(mask)
    cdef int status
    if cnp.PyArray_TYPE(params) == cnp.NPY_DOUBLE:
        with nogil:
            status = _sgd(<double*>p, <double*>g, <double*>b, mk, n, lr, momentum,
                          nesterov, weight_decay, clip, first)
    else:
        with nogil:
            status = _sgd(<float*>p, <float*>g, <float*>b, mk, n, lr, momentum,
                          nesterov, weight_decay, clip, first)
    return status


def adam_step(cnp.ndarray params, cnp.ndarray grads, cnp.ndarray m, cnp.ndarray v,
              cnp.ndarray mask, double lr, double beta1, double beta2, double eps,
              long t, double weight_decay, bint decoupled, double clip):
    """One Adam (decoupled=False) or AdamW (decoupled=True) update in place, t >= 1."""
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
                           beta1, beta2, eps, t, weight_decay, decoupled, clip)
    else:
        with nogil:
            status = _adam(<float*>p, <float*>g, <float*>mm, <float*>vv, mk, n, lr,
                           beta1, beta2, eps, t, weight_decay, decoupled, clip)
    return status
