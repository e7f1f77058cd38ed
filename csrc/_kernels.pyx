# fastmlp's compiled kernels.
#
#   layer forward    Z := X @ W + b ;  A := act(Z)  [; Ad := A ⊙ m, dropout in training]
#   layer backward   δz := G ⊙ act'(A) [⊙ m] ;  db := Σ_rows δz ;  D := δz @ Wᵀ ;  dW := Xᵀ @ δz
#   losses           the loss and ∂L/∂(output) in one pass over the rows
#   Plan             forward + loss + backward (+ SGD update) of a whole network in ONE
#                    call, looping over the layers in C with the GIL released
#
# Arrays are row-major (C order), float32 or float64, one code path via the fused
# type `floating`.  No `def` here validates anything: fastmlp._validation has already
# checked dtype, contiguity, shapes, finiteness and sizes (< 2**31) of every array,
# because everything below runs without bounds checks.

cimport numpy as cnp
from libc.math cimport log, round
from libc.stdint cimport uint32_t, uint64_t

from _blas cimport floating, _gemm, _gemv_rowvec, _gemv_rowvec_ld
from _activations cimport *
from _dropout cimport Drop, _drop_row, _stream

import numpy as np

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
    helpers: how many of fastmlp's helper threads share the GEMM (_parallel_train.pxi)."""
    cdef Py_ssize_t i, j
    cdef floating* z
    if B == 1:
        # Z = X @ W  (one row: GEMV)
        _gemv_rowvec(n_in, n_out, <floating>1, X, W, <floating>0, Z)
    else:
        # Z = X @ W
        _gemm_shared(c'n', c'n', B, n_out, n_in, <floating>1, X, n_in, W, n_out,
                     <floating>0, Z, n_out, helpers)
    for i in range(B):
        z = Z + i * n_out
        for j in range(n_out):
            z[j] += b[j]
        _act_row(z, A + i * n_out, n_out, act, alpha)
        if drop != NULL:
            _drop_row(A + i * n_out, Ad + i * n_out, n_out, drop.stream, i, drop.thr,
                      <floating>drop.scale)


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
    cdef Py_ssize_t i, j
    cdef floating* dz
    if db != NULL:
        for j in range(n_out):
            db[j] = 0
    for i in range(B):
        dz = dZ + i * n_out
        _dact_row(G + i * n_out, A + i * n_out, Z + i * n_out, dz, n_out, act, alpha)
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


# ---------------------------------------------------------------------------
# Losses, fused with the output layer.  Each returns the batch-mean loss and, when
# G is not NULL, writes ∂L/∂(output) into G.  row_loss, when not NULL, receives
# each row's un-averaged loss (the numerical gradient uses it).  row_w, when not
# NULL, replaces the uniform 1/B by a weight per row (sample weights normalized to
# sum 1 by the caller): the loss is then Σ_rows w·loss_row, G's rows scale by w.
# ---------------------------------------------------------------------------

cdef double _loss_mse(const floating* A, const floating* T, floating* G,
                      double* row_loss, const double* row_w, int B, int n) noexcept nogil:
    """L = Σ_rows ½ Σ_k (a - t)² / B ;  G := (A - T) / B  (∂L/∂A)."""
    cdef Py_ssize_t i, k
    cdef double total = 0, r
    cdef floating e
    cdef floating inv_b = <floating>1 / B
    for i in range(B):
        if row_w != NULL:
            inv_b = <floating>row_w[i]
        r = 0
        for k in range(n):
            e = A[i * n + k] - T[i * n + k]
            r += <double>e * e
            if G != NULL:
                G[i * n + k] = e * inv_b
        r *= 0.5
        if row_loss != NULL:
            row_loss[i] = r
        total += r if row_w == NULL else r * row_w[i]
    return total / B if row_w == NULL else total


cdef double _loss_softmax_ce(floating* Z, const floating* T, const intp* labels,
                             floating* G, double* row_loss, const double* row_w,
                             int B, int n) noexcept nogil:
    """Softmax + cross-entropy from logits Z, which are replaced by P = softmax(Z).

    L = Σ_rows Σ_k t_k (lse - z_k) / B, with lse = log Σ_k e^z_k;
    G := (P Σ_k t_k - T) / B  (∂L/∂Z).  Targets are labels (T is NULL) or rows T.
    """
    cdef Py_ssize_t i, k
    cdef double total = 0, r, s, lse, t_sum
    cdef floating m, p
    cdef floating* z
    cdef floating inv_b = <floating>1 / B
    for i in range(B):
        if row_w != NULL:
            inv_b = <floating>row_w[i]
        z = Z + i * n
        m = z[0]
        for k in range(1, n):
            if z[k] > m:
                m = z[k]
        s = 0
        for k in range(n):
            s += _exp(z[k] - m)
        lse = m + log(s)
        if labels != NULL:
            r = lse - z[labels[i]]
            t_sum = 1
        else:
            r = 0
            t_sum = 0
            for k in range(n):
                r += T[i * n + k] * (lse - z[k])
                t_sum += T[i * n + k]
        for k in range(n):
            z[k] = _exp(<floating>(z[k] - lse))
        if G != NULL:
            for k in range(n):
                p = z[k] * <floating>t_sum
                if labels != NULL:
                    if k == labels[i]:
                        p -= 1
                else:
                    p -= T[i * n + k]
                G[i * n + k] = p * inv_b
        if row_loss != NULL:
            row_loss[i] = r
        total += r if row_w == NULL else r * row_w[i]
    return total / B if row_w == NULL else total


cdef double _loss_sigmoid_bce(floating* Z, const floating* T, floating* G,
                              double* row_loss, const double* row_w,
                              int B, int n) noexcept nogil:
    """Sigmoid + binary cross-entropy from logits Z, which are replaced by P = σ(Z).

    L = Σ_rows Σ_k [softplus(z) - t z] / B  (= -t log p - (1-t) log(1-p), stably);
    G := (P - T) / B  (∂L/∂Z).
    """
    cdef Py_ssize_t i, k
    cdef double total = 0, r
    cdef floating z, p
    cdef floating inv_b = <floating>1 / B
    for i in range(B):
        if row_w != NULL:
            inv_b = <floating>row_w[i]
        r = 0
        for k in range(n):
            z = Z[i * n + k]
            r += <double>_softplus(z) - <double>T[i * n + k] * z
            p = _sigmoid(z)
            Z[i * n + k] = p
            if G != NULL:
                G[i * n + k] = (p - T[i * n + k]) * inv_b
        if row_loss != NULL:
            row_loss[i] = r
        total += r if row_w == NULL else r * row_w[i]
    return total / B if row_w == NULL else total


cdef double _loss_exp_poisson(floating* Z, const floating* T, floating* G,
                              double* row_loss, const double* row_w,
                              int B, int n) noexcept nogil:
    """Exponential output + Poisson deviance from log-means Z, which are replaced by
    A = e^Z.

    L = Σ_rows Σ_k [e^z - t z + t log t - t] / B  (half the Poisson deviance: the
    constant t log t - t makes it 0 at a = t, as scikit-learn reports it);
    G := (A - T) / B  (∂L/∂Z).
    """
    cdef Py_ssize_t i, k
    cdef double total = 0, r, t
    cdef floating z, a
    cdef floating inv_b = <floating>1 / B
    for i in range(B):
        if row_w != NULL:
            inv_b = <floating>row_w[i]
        r = 0
        for k in range(n):
            z = Z[i * n + k]
            t = T[i * n + k]
            a = _exp(z)
            r += <double>a - t * z - t
            if t > 0:
                r += t * log(t)
            Z[i * n + k] = a
            if G != NULL:
                G[i * n + k] = (a - T[i * n + k]) * inv_b
        if row_loss != NULL:
            row_loss[i] = r
        total += r if row_w == NULL else r * row_w[i]
    return total / B if row_w == NULL else total


cdef double _loss(int loss, floating* out, const floating* T, const intp* labels,
                  floating* G, double* row_loss, const double* row_w,
                  int B, int n) noexcept nogil:
    """Dispatch on the loss code.  out is the output activation for MSE, logits else."""
    if loss == LOSS_MSE:
        return _loss_mse(out, T, G, row_loss, row_w, B, n)
    if loss == LOSS_CROSS_ENTROPY:
        return _loss_softmax_ce(out, T, labels, G, row_loss, row_w, B, n)
    if loss == LOSS_POISSON:
        return _loss_exp_poisson(out, T, G, row_loss, row_w, B, n)
    return _loss_sigmoid_bce(out, T, G, row_loss, row_w, B, n)


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
    """A := act(Z), row by row (Z and A are B×n; A may be Z)."""
    cdef Py_ssize_t i, B = Z.shape[0], n = Z.shape[1]
    cdef void* z = _ptr(Z)
    cdef void* a = _ptr(A)
    if FASTMLP_DEBUG:
        _expect("A", A, B, n, _is_f64(Z))
    if _is_f64(Z):
        with nogil:
            for i in range(B):
                _act_row(<double*>z + i * n, <double*>a + i * n, n, act, alpha)
    else:
        with nogil:
            for i in range(B):
                _act_row(<float*>z + i * n, <float*>a + i * n, n, act, <float>alpha)


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


def first_label_outside(cnp.ndarray labels, intp n_classes):
    """Index of the first label (contiguous intp) outside [0, n_classes), or -1."""
    cdef Py_ssize_t i, n = cnp.PyArray_SIZE(labels)
    cdef intp* lab = <intp*>_ptr(labels)
    for i in range(n):
        if lab[i] < 0 or lab[i] >= n_classes:
            return i
    return -1


# ---------------------------------------------------------------------------
# Plan: a whole network in one call
# ---------------------------------------------------------------------------

cdef enum:
    MODE_GRADIENT = 0      # fill the flat gradient buffer
    MODE_SGD = 1           # fold a plain SGD step into the backward GEMMs
    MODE_INPUTS = 2        # only ∂L/∂X: no weight or bias gradients


cdef class Plan:
    """Raw pointers to a network's flat parameter and gradient buffers and to
    workspaces preallocated for the largest batch seen, so that forward, loss,
    backward and the SGD update of every layer run in one call without the GIL.

    Built by Network; holds references to every array it points into.
    """
    cdef readonly int n_layers
    cdef readonly int loss
    cdef readonly Py_ssize_t capacity
    cdef bint f64
    cdef bint fused_output   # the loss applies softmax/sigmoid/exp to the logits itself
    cdef int* sizes          # n_layers + 1 widths, input first
    cdef int* act            # activation code per layer
    cdef double* alpha       # activation parameter per layer
    cdef double* rate        # dropout rate per layer (0: none), applied only in training
    cdef Py_ssize_t* off     # offsets of W0, b0, W1, b1, ... in the flat buffers
    cdef char* params
    cdef char* grads
    cdef char** A            # per-layer output, capacity × sizes[l+1]
    cdef char** Z            # per-layer pre-activation if kept apart (GELU, ELU), else A
    cdef char** Ad           # per-layer output after dropout if its rate > 0, else A
    cdef char* delta0        # two δ buffers, capacity × widest layer, used in turn
    cdef char* delta1
    cdef int helpers         # helper threads sharing the GEMMs of the step in progress
    cdef bint has_dropout    # some layer has a dropout rate
    cdef object _owner       # the arrays the pointers above point into
    cdef object _work
    cdef cnp.ndarray _pointers

    def __cinit__(self, cnp.ndarray params, cnp.ndarray grads, cnp.ndarray sizes,
                  cnp.ndarray codes, cnp.ndarray alphas, cnp.ndarray offsets,
                  int loss, cnp.ndarray rates):
        """sizes: int32 (L+1); codes: int32 (L); alphas: float64 (L);
        offsets: intp (2L), W0, b0, W1, b1, ... offsets into params and grads;
        rates: float64 (L), dropout rates in [0, 1), 0 for the output layer."""
        self.n_layers = codes.shape[0]
        self.loss = loss
        self.fused_output = loss != LOSS_MSE
        self.f64 = _is_f64(params)
        self._owner = (params, grads, sizes, codes, alphas, offsets, rates)
        self.sizes = <int*>_ptr(sizes)
        self.act = <int*>_ptr(codes)
        self.alpha = <double*>_ptr(alphas)
        self.rate = <double*>_ptr(rates)
        self.has_dropout = bool((rates > 0).any())
        self.off = <Py_ssize_t*>_ptr(offsets)
        self.params = <char*>_ptr(params)
        self.grads = <char*>_ptr(grads)
        self.capacity = 0
        self._pointers = np.zeros(3 * self.n_layers, dtype=np.intp)
        self.A = <char**>_ptr(self._pointers)
        self.Z = self.A + self.n_layers
        self.Ad = self.Z + self.n_layers

    def reserve(self, Py_ssize_t batch):
        """Make the workspaces hold `batch` rows (they only ever grow)."""
        if batch <= self.capacity:
            return
        dtype = np.float64 if self.f64 else np.float32
        widest = max(self.sizes[l + 1] for l in range(self.n_layers))
        work = [np.empty(batch * widest, dtype=dtype),
                np.empty(batch * widest, dtype=dtype)]
        self.delta0 = <char*>_ptr(work[0])
        self.delta1 = <char*>_ptr(work[1])
        for l in range(self.n_layers):
            a = np.empty(batch * self.sizes[l + 1], dtype=dtype)
            z = np.empty_like(a) if _keeps_z(self.act[l]) else a
            ad = np.empty_like(a) if self.rate[l] > 0 else a
            work += [a, z, ad]
            self.A[l] = <char*>_ptr(a)
            self.Z[l] = <char*>_ptr(z)
            self.Ad[l] = <char*>_ptr(ad)
        self._work = work
        self.capacity = batch

    def forward(self, cnp.ndarray X, cnp.ndarray out, bint logits=False,
                tuple dropout=None, int helpers=0):
        """out := the network's output for X: probabilities under a fused loss,
        or with `logits` the output layer's Z (what the fused losses take).
        dropout = (key, step): the training forward, with that step's masks.
        helpers > 0 (inference only): up to that many helper threads share the work
        (_parallel_forward.pxi); every BLAS call must then run on one thread."""
        cdef int B = X.shape[0]
        cdef bint training = dropout is not None
        cdef uint64_t key = dropout[0] if training else 0
        cdef uint64_t step = dropout[1] if training else 0
        self.reserve(B)
        cdef void* x = _ptr(X)
        cdef void* o = _ptr(out)
        if FASTMLP_DEBUG:
            _expect("X", X, B, self.sizes[0], self.f64)
            _expect("out", out, B, self.sizes[self.n_layers], self.f64)
        if helpers > 0 and not training:
            if self.f64:
                with nogil:
                    _forward_shared(self, <double*>x, <double*>o, B, logits, helpers)
            else:
                with nogil:
                    _forward_shared(self, <float*>x, <float*>o, B, logits, helpers)
        elif self.f64:
            with nogil:
                _plan_forward(self, <double*>x, <double*>o, B, logits, training, key, step,
                              0, not training)
        else:
            with nogil:
                _plan_forward(self, <float*>x, <float*>o, B, logits, training, key, step,
                              0, not training)

    def gradient(self, cnp.ndarray X, cnp.ndarray T, cnp.ndarray labels,
                 double l2, cnp.ndarray dX, bint inputs_only=False,
                 cnp.ndarray row_loss=None, cnp.ndarray row_weights=None,
                 tuple dropout=None, int helpers=0):
        """The loss; fills the flat gradient buffer, and dX := ∂L/∂X if dX is given.
        With inputs_only, only dX (the weight-gradient GEMMs are skipped).  row_loss
        (float64, length B), if given, receives each row's loss (without penalty).
        row_weights (float64, length B, summing to 1), if given, weight the rows'
        losses in place of the batch mean.  dropout = (key, step): training, with
        that step's masks.  helpers: how many helper threads share the large GEMMs
        (the BLAS must then run one thread)."""
        return self._run(X, T, labels, 0.0, l2, dX,
                         MODE_INPUTS if inputs_only else MODE_GRADIENT, row_loss,
                         row_weights, dropout, helpers)

    def vjp(self, cnp.ndarray X, cnp.ndarray G, cnp.ndarray dX, bint logits=False,
            bint after_forward=False):
        """dX := Gᵀ ∂f/∂X row by row: the vector-Jacobian product of the network's
        output f (its logits with `logits`, under a fused loss) with G (B×n_out).
        after_forward: X is the batch of the forward() just before (same logits
        flag), whose activations are reused instead of recomputed; the caller holds
        the network's lock across both calls.  Only for the logits of a fused loss:
        there the backward needs nothing of the output layer's forward."""
        cdef int B = X.shape[0]
        self.reserve(B)
        cdef void* x = _ptr(X)
        cdef void* g = _ptr(G)
        cdef void* dx = _ptr(dX)
        if after_forward and not (logits and self.fused_output):
            raise ValueError("vjp(after_forward=True) needs logits under a fused loss")
        if FASTMLP_DEBUG:
            _expect("X", X, B, self.sizes[0], self.f64)
            _expect("G", G, B, self.sizes[self.n_layers], self.f64)
            _expect("dX", dX, B, self.sizes[0], self.f64)
        if self.f64:
            with nogil:
                _plan_vjp(self, <double*>x, <double*>g, <double*>dx, B, logits,
                          after_forward)
        else:
            with nogil:
                _plan_vjp(self, <float*>x, <float*>g, <float*>dx, B, logits,
                          after_forward)

    def sgd_step(self, cnp.ndarray X, cnp.ndarray T, cnp.ndarray labels,
                 double lr, double l2, tuple dropout=None, int helpers=0):
        """The loss before the step; then params := params - lr · (∇L + l2 · W),
        unless that loss is NaN or infinite (then nothing is updated).  helpers: as
        in gradient."""
        return self._run(X, T, labels, lr, l2, None, MODE_SGD, None, None, dropout,
                         helpers)

    cdef double _run(self, cnp.ndarray X, cnp.ndarray T, cnp.ndarray labels,
                     double lr, double l2, cnp.ndarray dX, int mode, cnp.ndarray row_loss,
                     cnp.ndarray row_weights, tuple dropout, int helpers):
        cdef int B = X.shape[0]
        cdef bint training = dropout is not None
        cdef uint64_t key = dropout[0] if training else 0
        cdef uint64_t step = dropout[1] if training else 0
        self.reserve(B)
        cdef void* x = _ptr(X)
        cdef void* t = _ptr(T)
        cdef intp* lab = <intp*>_ptr(labels)
        cdef void* dx = _ptr(dX)
        cdef double* rl = <double*>_ptr(row_loss)
        cdef double* rw = <double*>_ptr(row_weights)
        cdef double value
        if FASTMLP_DEBUG:
            _expect("X", X, B, self.sizes[0], self.f64)
            _expect("T", T, B, self.sizes[self.n_layers], self.f64)
            _expect("dX", dX, B, self.sizes[0], self.f64)
            if labels is not None and cnp.PyArray_SIZE(labels) != B:
                raise AssertionError("kernel argument labels: expected length B")
            if row_loss is not None and cnp.PyArray_SIZE(row_loss) != B:
                raise AssertionError("kernel argument row_loss: expected length B")
            if row_weights is not None and cnp.PyArray_SIZE(row_weights) != B:
                raise AssertionError("kernel argument row_weights: expected length B")
        self.helpers = max(helpers, 0)
        if self.f64:
            with nogil:
                value = _plan_step(self, <double*>x, <double*>t, lab, <double*>dx,
                                   B, lr, l2, mode, rl, rw, training, key, step)
        else:
            with nogil:
                value = _plan_step(self, <float*>x, <float*>t, lab, <float*>dx,
                                   B, lr, l2, mode, rl, rw, training, key, step)
        self.helpers = 0
        return value


cdef inline Drop* _layer_drop(Plan p, int l, bint training, uint64_t key,
                              uint64_t step, Drop* d) noexcept nogil:
    """d, filled with layer l's mask for (key, step), when training and the layer
    has a dropout rate; else NULL."""
    if not training or p.rate[l] <= 0:
        return NULL
    d[0] = _drop(key, step, l, p.rate[l])
    return d


cdef void _plan_forward(Plan p, const floating* X, floating* out, int B,
                        bint logits, bint training, uint64_t key,
                        uint64_t step, Py_ssize_t row0=0,
                        bint inference=False) noexcept nogil:
    """Every layer's forward; the last one writes into `out`.

    With `logits`, a fused loss's output layer stops at Z (the loss applies
    softmax/sigmoid itself); otherwise `out` is the output activation.
    training: hidden layers with a dropout rate pass on Ad = A ⊙ m, the masks of
    (key, step).  row0: X is rows row0.. of the batch, and the workspaces are used
    from that row on (row blocks of one batch may run at once, on different threads;
    dropout masks are drawn for rows 0.., so training calls keep row0 = 0).
    inference: each layer on this thread alone, in float32 by sgemm.h where the CPU
    allows (_dense); the layers' Z and A are stored all the same.
    """
    cdef int l, act, L = p.n_layers
    cdef const floating* inp = X
    cdef floating* P = <floating*>p.params
    cdef floating* a
    cdef floating* z
    cdef Drop d
    cdef Drop* dp
    if p.helpers > 0 and not inference and not (training and p.has_dropout) and B > 1:
        # a training step shared with the helpers: the inference pass's blocks (each
        # fused with its bias and activation), which store every layer's Z and A too
        _forward_shared(p, X, out, B, logits, p.helpers)
        return
    for l in range(L):
        dp = _layer_drop(p, l, training, key, step, &d)
        act = p.act[l]
        a = <floating*>p.A[l] + row0 * p.sizes[l + 1]
        z = <floating*>p.Z[l] + row0 * p.sizes[l + 1]
        if l == L - 1:
            if logits and p.fused_output:
                act = ACT_IDENTITY
            if z == a:
                z = out
            a = out
        if inference:
            _dense(inp, p.sizes[l], P + p.off[2 * l], p.sizes[l + 1], P + p.off[2 * l + 1],
                   z, a, p.sizes[l + 1], B, p.sizes[l], p.sizes[l + 1], act,
                   <floating>p.alpha[l])
        else:
            _layer_forward(inp, P + p.off[2 * l], P + p.off[2 * l + 1], z, a,
                           B, p.sizes[l], p.sizes[l + 1], act, <floating>p.alpha[l],
                           <floating*>p.Ad[l], dp, p.helpers)
        inp = <floating*>p.Ad[l] if dp != NULL else a


cdef double _plan_step(Plan p, const floating* X, const floating* T,
                       const intp* labels, floating* dX, int B, double lr, double l2,
                       int mode, double* row_loss, const double* row_w, bint training,
                       uint64_t key, uint64_t step) noexcept nogil:
    """One training step: forward, loss, backward; then the gradient or the SGD update.
    training: with the dropout masks of (key, step), in the forward and the δ kernels."""
    cdef int l, L = p.n_layers
    cdef floating* P = <floating*>p.params
    cdef floating* out = <floating*>p.A[L - 1]
    cdef double value, penalty = 0

    # L2 penalty ½·l2·Σ‖W‖², taken before any update
    if l2 != 0:
        for l in range(L):
            penalty += _sum_squares(P + p.off[2 * l], <Py_ssize_t>p.sizes[l] * p.sizes[l + 1])
        penalty *= 0.5 * l2

    # forward, then the loss and G = ∂L/∂(output), or ∂L/∂Z for a fused loss
    _plan_forward(p, X, out, B, True, training, key, step)
    value = _loss(p.loss, out, T, labels, <floating*>p.delta0, row_loss, row_w, B,
                  p.sizes[L]) + penalty
    if mode == MODE_SGD and value - value != 0:
        return value          # a NaN/inf loss: no update (the caller raises)
    _plan_backward(p, X, dX, B, p.fused_output, mode, lr, l2, training, key, step)
    return value


cdef void _plan_vjp(Plan p, const floating* X, const floating* G_out, floating* dX, int B,
                    bint logits, bint after_forward) noexcept nogil:
    """dX := the vector-Jacobian product of the network output with G_out."""
    cdef Py_ssize_t j
    if not after_forward:   # the forward Plan.forward runs (inference), so that reusing
        _plan_forward(p, X, <floating*>p.A[p.n_layers - 1], B, logits, False, 0, 0, 0,
                      True)  # its activations (after_forward) changes no bit
    cdef floating* G = <floating*>p.delta0
    for j in range(<Py_ssize_t>B * p.sizes[p.n_layers]):
        G[j] = G_out[j]
    _plan_backward(p, X, dX, B, logits and p.fused_output, MODE_INPUTS, 0, 0, False, 0, 0)


cdef void _plan_backward(Plan p, const floating* X, floating* dX, int B,
                         bint identity_output, int mode, double lr,
                         double l2, bint training, uint64_t key,
                         uint64_t step) noexcept nogil:
    """Backward from G = p.delta0 (∂L/∂ of the last layer's output, or of its Z when
    identity_output), last layer first.  The δ below each layer goes to the other
    δ buffer, the first layer's to dX (skipped if NULL).  mode: the gradient into
    p.grads (+ l2·W), the SGD update folded into the GEMMs, or inputs only.
    training: the forward's dropout masks of (key, step), recomputed in the δ kernels."""
    cdef int l, act, L = p.n_layers
    cdef floating* P = <floating*>p.params
    cdef floating* Gr = <floating*>p.grads
    cdef floating* G = <floating*>p.delta0
    cdef floating* below
    cdef floating* W
    cdef floating* b
    cdef floating* db
    cdef floating* dW
    cdef const floating* inp
    cdef Py_ssize_t j, n_w
    cdef Drop d
    cdef Drop* dp
    for l in range(L - 1, -1, -1):
        act = ACT_IDENTITY if (l == L - 1 and identity_output) else p.act[l]
        # the layer's input: the output below after its dropout (Ad is A without one)
        if l == 0:
            inp = X
        elif training:
            inp = <const floating*>p.Ad[l - 1]
        else:
            inp = <const floating*>p.A[l - 1]
        dp = _layer_drop(p, l, training, key, step, &d)
        if l == 0:
            below = dX
        elif G == <floating*>p.delta0:
            below = <floating*>p.delta1
        else:
            below = <floating*>p.delta0
        W = P + p.off[2 * l]
        b = P + p.off[2 * l + 1]
        dW = Gr + p.off[2 * l]
        db = Gr + p.off[2 * l + 1]
        n_w = <Py_ssize_t>p.sizes[l] * p.sizes[l + 1]
        if mode == MODE_SGD:
            # δ below from the old W, then W := (1 - lr·l2) W - lr · Xᵀ δz in the GEMM
            _layer_backward(G, G, <floating*>p.A[l], <floating*>p.Z[l], inp, W, below,
                            W, db, B, p.sizes[l], p.sizes[l + 1], act,
                            <floating>p.alpha[l], <floating>(-lr),
                            <floating>(1 - lr * l2), dp, p.helpers)
            # b := b - lr · db
            for j in range(p.sizes[l + 1]):
                b[j] -= <floating>lr * db[j]
        else:
            if mode == MODE_INPUTS:          # no weight or bias gradients at all
                dW = NULL
                db = NULL
            _layer_backward(G, G, <floating*>p.A[l], <floating*>p.Z[l], inp, W, below,
                            dW, db, B, p.sizes[l], p.sizes[l + 1], act,
                            <floating>p.alpha[l], <floating>1, <floating>0, dp,
                            p.helpers)
            if l2 != 0 and dW != NULL:
                # dW += l2 · W
                for j in range(n_w):
                    dW[j] += <floating>l2 * W[j]
        G = below


include "_parallel_forward.pxi"
include "_parallel_train.pxi"
