# fastmlp's compiled kernels.
#
#   layer forward    Z := X @ W + b ;  A := act(Z)  [; Ad := A ⊙ m, dropout in training]
#   layer backward   δz := G ⊙ act'(A) [⊙ m] ;  db := Σ_rows δz ;  D := δz @ Wᵀ ;  dW := Xᵀ @ δz
#   losses           the loss and ∂L/∂(output) in one pass over the rows (_losses.pxi)
#   Plan             forward + loss + backward (+ SGD update) of a whole network in ONE
#                    call, looping over the layers in C with the GIL released (_plan.pxi;
#                    on several threads: _parallel_forward.pxi, _parallel_train.pxi)
#
# Arrays are row-major (C order), float32 or float64, one code path via the fused
# type `floating`.  No `def` here validates anything: fastmlp._validation has already
# checked dtype, contiguity, shapes, finiteness and sizes (< 2**31) of every array,
# because everything below runs without bounds checks.

cimport numpy as cnp
from libc.math cimport log, round
from libc.stdint cimport int64_t, uint32_t, uint64_t

from _blas cimport floating, _gemm, _gemv_rowvec, _gemv_rowvec_ld
from _activations cimport *
from _dropout cimport Drop, _drop_row, _stream

import numpy as np

from fastmlp._aligned import aligned_empty

cnp.import_array()

ACTIVATION_CODES = {
    "identity": ACT_IDENTITY, "sigmoid": ACT_SIGMOID, "tanh": ACT_TANH,
    "relu": ACT_RELU, "leaky_relu": ACT_LEAKY_RELU, "elu": ACT_ELU,
    "softplus": ACT_SOFTPLUS, "gelu": ACT_GELU, "softmax": ACT_SOFTMAX, "exp": ACT_EXP,
}

cdef enum:
    LOSS_MSE = 0
    LOSS_CROSS_ENTROPY = 1
    LOSS_BINARY_CROSS_ENTROPY = 2
    LOSS_POISSON = 3

LOSS_CODES = {"mse": LOSS_MSE, "cross_entropy": LOSS_CROSS_ENTROPY,
              "binary_cross_entropy": LOSS_BINARY_CROSS_ENTROPY, "poisson": LOSS_POISSON}

ctypedef cnp.npy_intp intp


# ---------------------------------------------------------------------------
# Layer kernels
# ---------------------------------------------------------------------------

cdef void _layer_forward(const floating* X, const floating* W, const floating* b,
                         floating* Z, floating* A, int B, int n_in, int n_out,
                         int act, floating alpha, floating* Ad,
                         const Drop* drop, int helpers) noexcept nogil:
    """Z := X @ W + b ;  A := act(Z).  Z aliases A unless the layer keeps Z (GELU, ELU).
    With drop (not NULL): Ad := A ⊙ m, the dropout mask, row by row while A is in cache.
    helpers: how many of fastmlp's helper threads share the GEMM (_parallel_train.pxi).
    On one thread (and the BLAS on one: own_kernels_unshared), float32 batches that
    sgemm.h serves go through it, the bias in its accumulators (as an inference pass:
    _dense, with a ReLU applied as the sums are stored)."""
    cdef Py_ssize_t i, j, c, i0, i1, g
    cdef floating* z
    cdef bint biased = False
    cdef int done = 0       # leading columns already activated
    if B == 1:
        # Z = X @ W  (one row: GEMV)
        _gemv_rowvec(n_in, n_out, <floating>1, X, W, <floating>0, Z)
    elif (floating is float and helpers == 0 and _own_unshared and _own_sgemm
            and B <= _own_sgemm_rows):
        # Z = X @ W + b (and the ReLU of its first `done` columns)
        done = _affine(X, n_in, W, n_out, b, Z, n_out, B, n_in, n_out, True,
                       act == ACT_RELU and A == Z)
        biased = True
    else:
        # Z = X @ W
        _gemm_shared(c'n', c'n', B, n_out, n_in, <floating>1, X, n_in, W, n_out,
                     <floating>0, Z, n_out, helpers)
    # a group of rows at a time (one row, unless the rows are narrow): the bias, the
    # activation (one call of the vector code for the group), the dropout mask
    g = _rows_per_call(n_out)
    for c in range((B + g - 1) // g):
        i0, i1 = c * g, min(c * g + g, B)
        if not biased:
            for i in range(i0, i1):
                z = Z + i * n_out
                for j in range(n_out):
                    z[j] += b[j]
        if done == 0:
            _act_rows(Z + i0 * n_out, A + i0 * n_out, i1 - i0, n_out, act, alpha)
        elif done < n_out:
            for i in range(i0, i1):
                _act_row(Z + i * n_out + done, A + i * n_out + done, n_out - done, act,
                         alpha)
        if drop != NULL:
            for i in range(i0, i1):
                _drop_row(A + i * n_out, Ad + i * n_out, n_out, drop.stream, i,
                          drop.thr, <floating>drop.scale)


cdef void _layer_backward(const floating* G, floating* dZ, const floating* A,
                          const floating* Z, const floating* X, const floating* W,
                          floating* D, floating* dW, floating* db,
                          int B, int n_in, int n_out, int act, floating alpha,
                          floating w_scale, floating w_beta,
                          const Drop* drop, int helpers) noexcept nogil:
    """The δ kernel, from G = ∂L/∂A (∂L/∂Ad under dropout):

        δz := G ⊙ act'(A) [⊙ m]        (into dZ, which may alias G; m when drop)
        db := Σ_rows δz                (skipped when db is NULL)
        D  := δz @ Wᵀ                  (the δ of the layer below; skipped when D is NULL)
        dW := w_scale · Xᵀ @ δz + w_beta · dW      (skipped when dW is NULL)

    D is computed before dW is written, so dW may be W itself: with
    w_scale = -lr and w_beta = 1 - lr·l2 the SGD update is folded into the GEMM.
    helpers: how many of fastmlp's helper threads share each GEMM.
    """
    cdef Py_ssize_t i, j, c, i0, i1
    cdef Py_ssize_t g = 1 if act == ACT_SOFTMAX else _rows_per_call(n_out)
    cdef floating* dz
    if db != NULL:
        for j in range(n_out):
            db[j] = 0
    # a group of rows at a time, as _layer_forward (softmax's derivative is per row)
    for c in range((B + g - 1) // g):
        i0, i1 = c * g, min(c * g + g, B)
        _dact_row(G + i0 * n_out, A + i0 * n_out, Z + i0 * n_out, dZ + i0 * n_out,
                  (i1 - i0) * n_out, act, alpha)
        for i in range(i0, i1):
            dz = dZ + i * n_out
            if drop != NULL:
                _drop_row(dz, dz, n_out, drop.stream, i, drop.thr, <floating>drop.scale)
            if db != NULL:
                for j in range(n_out):
                    db[j] += dz[j]
    if D != NULL:
        # D = dZ @ W.T
        _gemm_shared(c'n', c't', B, n_in, n_out, <floating>1, dZ, n_out, W, n_out,
                     <floating>0, D, n_in, helpers)
    if dW != NULL:
        # dW = w_scale * X.T @ dZ + w_beta * dW
        _gemm_shared(c't', c'n', n_in, n_out, B, w_scale, X, n_in, dZ, n_out, w_beta, dW,
                     n_out, helpers)


include "_losses.pxi"


cdef double _sum_squares(const floating* x, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef double s = 0
    for i in range(n):
        s += <double>x[i] * x[i]
    return s


# ---------------------------------------------------------------------------
# Entry points for one layer (Layer uses these) and for checks
# ---------------------------------------------------------------------------

cdef inline bint _is_f64(cnp.ndarray a):
    return cnp.PyArray_TYPE(a) == cnp.NPY_DOUBLE


cdef inline void* _ptr(cnp.ndarray a):
    return cnp.PyArray_DATA(a) if a is not None else NULL


cdef extern from *:
    # set by setup.py: 1 when built with FASTMLP_DEBUG=1
    bint FASTMLP_DEBUG


cdef _expect(str name, cnp.ndarray a, Py_ssize_t rows, Py_ssize_t cols, bint f64):
    """Debug builds only: the array the kernel will index as rows×cols really is one."""
    if a is None:
        return
    if not cnp.PyArray_IS_C_CONTIGUOUS(a) or _is_f64(a) != f64 or \
            cnp.PyArray_SIZE(a) != rows * cols:
        raise AssertionError(f"kernel argument {name}: expected a C-contiguous "
                             f"{'float64' if f64 else 'float32'} array of {rows}x{cols}, "
                             f"got {(<object>a).dtype} {(<object>a).shape}")


cdef uint32_t _threshold(double rate) noexcept nogil:
    """round(rate · 2³²), at most 2³² - 1: a unit whose u32 is below it is dropped."""
    cdef double t = round(rate * 4294967296.0)
    return <uint32_t>(t if t < 4294967295.0 else 4294967295.0)


cdef Drop _drop(uint64_t key, uint64_t step, uint64_t layer, double rate) noexcept nogil:
    """The mask of (key, step, layer) at dropout rate 0 < rate < 1."""
    cdef Drop d
    d.stream = _stream(key, step, layer)
    d.thr = _threshold(rate)
    d.scale = 1 / (1 - rate)
    return d


def dropout_mask(cnp.ndarray out, uint64_t key, uint64_t step, uint64_t layer,
                 double rate, Py_ssize_t row0=0):
    """out (B×n) := the dropout multipliers m (0 or 1/(1-rate)) of rows row0..row0+B-1
    of (key, step, layer): the very mask the training kernels apply."""
    cdef Py_ssize_t i, B = out.shape[0], n = out.shape[1]
    cdef Drop d = _drop(key, step, layer, rate)
    cdef void* o = _ptr(out)
    if FASTMLP_DEBUG:
        _expect("out", out, B, n, _is_f64(out))
    if _is_f64(out):
        with nogil:
            for i in range(B * n):
                (<double*>o)[i] = 1
            for i in range(B):
                _drop_row(<double*>o + i * n, <double*>o + i * n, n, d.stream, row0 + i,
                          d.thr, <double>d.scale)
    else:
        with nogil:
            for i in range(B * n):
                (<float*>o)[i] = 1
            for i in range(B):
                _drop_row(<float*>o + i * n, <float*>o + i * n, n, d.stream, row0 + i,
                          d.thr, <float>d.scale)


def layer_forward(cnp.ndarray X, cnp.ndarray W, cnp.ndarray b, cnp.ndarray Z,
                  cnp.ndarray A, int act, double alpha, cnp.ndarray Ad=None,
                  tuple dropout=None):
    """Z := X @ W + b ; A := act(Z).  Pass Z = A unless the layer keeps Z.
    dropout = (key, step, layer, rate), rate > 0: also Ad := A ⊙ m (Ad not A)."""
    cdef int B = X.shape[0], n_in = W.shape[0], n_out = W.shape[1]
    cdef Drop mask
    cdef Drop* dp = NULL
    if dropout is not None:
        if Ad is None:
            raise ValueError("layer_forward with dropout needs Ad")
        mask = _drop(dropout[0], dropout[1], dropout[2], dropout[3])
        dp = &mask
    cdef void* ad = _ptr(Ad)
    cdef void* x = _ptr(X)
    cdef void* w = _ptr(W)
    cdef void* bb = _ptr(b)
    cdef void* z = _ptr(Z)
    cdef void* a = _ptr(A)
    cdef bint f64 = _is_f64(X)
    if FASTMLP_DEBUG:
        _expect("X", X, B, n_in, f64); _expect("W", W, n_in, n_out, f64)
        _expect("b", b, 1, n_out, f64); _expect("Z", Z, B, n_out, f64)
        _expect("A", A, B, n_out, f64)
        if dp != NULL:
            _expect("Ad", Ad, B, n_out, f64)
    if f64:
        with nogil:
            _layer_forward(<double*>x, <double*>w, <double*>bb, <double*>z, <double*>a,
                           B, n_in, n_out, act, alpha, <double*>ad, dp, 0)
    else:
        with nogil:
            _layer_forward(<float*>x, <float*>w, <float*>bb, <float*>z, <float*>a,
                           B, n_in, n_out, act, <float>alpha, <float*>ad, dp, 0)


def layer_backward(cnp.ndarray G, cnp.ndarray dZ, cnp.ndarray A, cnp.ndarray Z,
                   cnp.ndarray X, cnp.ndarray W, cnp.ndarray D, cnp.ndarray dW,
                   cnp.ndarray db, int act, double alpha, tuple dropout=None):
    """δz := G ⊙ act'(A) ; db := Σ δz ; D := δz @ Wᵀ (if D is not None) ; dW := Xᵀ @ δz.
    dropout = (key, step, layer, rate) of the forward: δz also ⊙ m (A is before the mask)."""
    cdef int B = X.shape[0], n_in = W.shape[0], n_out = W.shape[1]
    cdef Drop mask
    cdef Drop* dp = NULL
    if dropout is not None:
        mask = _drop(dropout[0], dropout[1], dropout[2], dropout[3])
        dp = &mask
    cdef void* g = _ptr(G)
    cdef void* dz = _ptr(dZ)
    cdef void* a = _ptr(A)
    cdef void* z = _ptr(Z)
    cdef void* x = _ptr(X)
    cdef void* w = _ptr(W)
    cdef void* d = _ptr(D)
    cdef void* dw = _ptr(dW)
    cdef void* dbb = _ptr(db)
    cdef bint f64 = _is_f64(X)
    if FASTMLP_DEBUG:
        _expect("G", G, B, n_out, f64); _expect("dZ", dZ, B, n_out, f64)
        _expect("A", A, B, n_out, f64); _expect("Z", Z, B, n_out, f64)
        _expect("X", X, B, n_in, f64); _expect("W", W, n_in, n_out, f64)
        _expect("D", D, B, n_in, f64); _expect("dW", dW, n_in, n_out, f64)
        _expect("db", db, 1, n_out, f64)
    if f64:
        with nogil:
            _layer_backward(<double*>g, <double*>dz, <double*>a, <double*>z, <double*>x,
                            <double*>w, <double*>d, <double*>dw, <double*>dbb,
                            B, n_in, n_out, act, alpha, <double>1, <double>0, dp, 0)
    else:
        with nogil:
            _layer_backward(<float*>g, <float*>dz, <float*>a, <float*>z, <float*>x,
                            <float*>w, <float*>d, <float*>dw, <float*>dbb,
                            B, n_in, n_out, act, <float>alpha, <float>1, <float>0, dp, 0)


def activate(cnp.ndarray Z, cnp.ndarray A, int act, double alpha):
    """A := act(Z), row by row (Z and A are B×n; A may be Z; rows narrower than
    VCHUNK values a group at a time, _act_block)."""
    cdef Py_ssize_t B = Z.shape[0], n = Z.shape[1]
    cdef void* z = _ptr(Z)
    cdef void* a = _ptr(A)
    if FASTMLP_DEBUG:
        _expect("A", A, B, n, _is_f64(Z))
    if _is_f64(Z):
        with nogil:
            _act_block(<double*>z, <double*>a, B, n, act, alpha)
    else:
        with nogil:
            _act_block(<float*>z, <float*>a, B, n, act, <float>alpha)


def loss_forward(int loss, cnp.ndarray out, cnp.ndarray T, cnp.ndarray labels,
                 cnp.ndarray G, cnp.ndarray row_loss, cnp.ndarray row_weights=None):
    """Batch-mean loss of `out` against T (rows) or labels; G := ∂L/∂out if given.

    For cross-entropy, binary cross-entropy and Poisson `out` holds logits (log-means
    for Poisson) and is replaced by the probabilities (the means e^out).  row_loss (float64, length B), if given, gets each row's loss.
    row_weights (float64, length B, summing to 1), if given, replace the mean by
    a weighted sum.
    """
    cdef int B = out.shape[0], n = out.shape[1]
    cdef void* o = _ptr(out)
    cdef void* t = _ptr(T)
    cdef intp* lab = <intp*>_ptr(labels)
    cdef void* g = _ptr(G)
    cdef double* rl = <double*>_ptr(row_loss)
    cdef double* rw = <double*>_ptr(row_weights)
    cdef double value
    cdef bint f64 = _is_f64(out)
    if FASTMLP_DEBUG:
        _expect("T", T, B, n, f64); _expect("G", G, B, n, f64)
        if labels is not None and (cnp.PyArray_SIZE(labels) != B or
                                   cnp.PyArray_TYPE(labels) != cnp.NPY_INTP):
            raise AssertionError("kernel argument labels: expected intp of length B")
        if row_loss is not None and cnp.PyArray_SIZE(row_loss) != B:
            raise AssertionError("kernel argument row_loss: expected length B")
        if row_weights is not None and cnp.PyArray_SIZE(row_weights) != B:
            raise AssertionError("kernel argument row_weights: expected length B")
    if f64:
        with nogil:
            value = _loss(loss, <double*>o, <double*>t, lab, <double*>g, rl, rw, B, n)
    else:
        with nogil:
            value = _loss(loss, <float*>o, <float*>t, lab, <float*>g, rl, rw, B, n)
    return value


cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    #include "clones.h"
    /* No NaN or +-inf in x: no element has an all-ones exponent.  Adding the
       exponent's lowest bit to the masked exponent carries into the sign bit exactly
       for those; a branch-free integer OR reduction, which vectorizes (the float test
       (t - t) != 0 took twice the instructions, counted with callgrind).  AMD EPYC
       Zen 4, a 32 x 784 float32 batch: 0.94 us with AVX-512, 1.85 us with SSE2. */
    #define FASTMLP_ALL_FINITE(NAME, U, EXP, LOW, SIGN)                              \
    FASTMLP_CLONES_512 static int NAME(const void* restrict data, Py_ssize_t n) {   \
        const U* restrict x = (const U*)data;                                       \
        U bad = 0;                                                                   \
        for (Py_ssize_t i = 0; i < n; i++)                                           \
            bad |= (x[i] & EXP) + LOW;                                               \
        return (bad & SIGN) == 0;                                                    \
    }
    FASTMLP_ALL_FINITE(fastmlp_all_finite_f, uint32_t, 0x7f800000u, 0x00800000u, 0x80000000u)
    FASTMLP_ALL_FINITE(fastmlp_all_finite_d, uint64_t, 0x7ff0000000000000ull,
                       0x0010000000000000ull, 0x8000000000000000ull)
    """
    bint fastmlp_all_finite_f(const void* x, Py_ssize_t n) noexcept nogil
    bint fastmlp_all_finite_d(const void* x, Py_ssize_t n) noexcept nogil


def all_finite(cnp.ndarray a):
    """True when no element of the contiguous float array is NaN or ±inf."""
    return _all_finite(a)


cdef bint _all_finite(cnp.ndarray a):
    cdef Py_ssize_t n = cnp.PyArray_SIZE(a)
    cdef void* p = _ptr(a)
    cdef bint ok
    if n < 65536:           # a few µs at most: not worth releasing the GIL
        return fastmlp_all_finite_d(p, n) if _is_f64(a) else fastmlp_all_finite_f(p, n)
    if _is_f64(a):
        with nogil:
            ok = fastmlp_all_finite_d(p, n)
    else:
        with nogil:
            ok = fastmlp_all_finite_f(p, n)
    return ok


def ready_matrix(x, dtype, Py_ssize_t n_cols, Py_ssize_t max_rows, bint finite=True):
    """True when x is already what the kernels take, every element finite: exactly an
    ndarray, 2-D, C-contiguous, aligned, in native byte order, of dtype (an np.dtype,
    float32 or float64; None: either), with n_cols columns and 1 to max_rows rows (and
    finite=False: its elements not looked at).  False: the caller's full check
    (fastmlp._validation.check_matrix) decides, and names what is wrong.  One compiled
    call for the common case of every forward and training step."""
    if type(x) is not np.ndarray or not (dtype is None or isinstance(dtype, cnp.dtype)):
        return False
    cdef cnp.ndarray a = <cnp.ndarray>x
    cdef int have = cnp.PyArray_TYPE(a)
    cdef int want = have if dtype is None else (<cnp.dtype>dtype).type_num
    if (cnp.PyArray_NDIM(a) != 2 or have != want
            or (want != cnp.NPY_FLOAT and want != cnp.NPY_DOUBLE)
            or not cnp.PyArray_ISCARRAY_RO(a)      # C-contiguous, aligned, native order
            or a.shape[1] != n_cols or a.shape[0] < 1 or a.shape[0] > max_rows):
        return False
    return not finite or _all_finite(a)


def ready_labels(y, Py_ssize_t batch, intp n_classes):
    """True when y is already the class labels the kernels take: exactly an ndarray,
    1-D, C-contiguous, aligned, native intp, of length batch, every label in [0,
    n_classes).  False: the caller's full check (fastmlp._validation.check_labels)
    decides, and names what is wrong."""
    if type(y) is not np.ndarray:
        return False
    cdef cnp.ndarray a = <cnp.ndarray>y
    if (cnp.PyArray_NDIM(a) != 1 or cnp.PyArray_TYPE(a) != cnp.NPY_INTP
            or not cnp.PyArray_ISCARRAY_RO(a) or a.shape[0] != batch):
        return False
    return first_label_outside(a, n_classes) < 0


def first_label_outside(cnp.ndarray labels, intp n_classes):
    """Index of the first label (contiguous intp) outside [0, n_classes), or -1."""
    cdef Py_ssize_t i, n = cnp.PyArray_SIZE(labels)
    cdef intp* lab = <intp*>_ptr(labels)
    for i in range(n):
        if lab[i] < 0 or lab[i] >= n_classes:
            return i
    return -1


include "_ready_targets.pxi"
include "_standardize.pxi"
include "_inference_inputs.pxi"
include "_plan.pxi"

include "_parallel_forward.pxi"
include "_parallel_train.pxi"
include "_blas_calls.pxi"
include "_gather.pxi"
