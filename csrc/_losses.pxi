# ---------------------------------------------------------------------------
# Losses, fused with the output layer (included by _kernels.pyx).  Each returns the
# batch-mean loss and, when G is not NULL, writes ∂L/∂(output) into G.  row_loss,
# when not NULL, receives each row's un-averaged loss (the numerical gradient uses
# it).  row_w, when not NULL, replaces the uniform 1/B by a weight per row (sample
# weights normalized to sum 1 by the caller): the loss is then Σ_rows w·loss_row,
# G's rows scale by w.
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
    cdef Py_ssize_t i, k, j, c
    cdef double total = 0, r, s, lse, t_sum
    cdef floating m, p
    cdef floating* z
    cdef floating inv_b = <floating>1 / B
    cdef floating buf[VCHUNK]
    for i in range(B):
        if row_w != NULL:
            inv_b = <floating>row_w[i]
        z = Z + i * n
        m = z[0]
        for k in range(1, n):
            if z[k] > m:
                m = z[k]
        s = 0
        j = 0
        while j < n:            # Σ e^(z_k - m), the exponentials a chunk at a time
            c = min(n - j, <Py_ssize_t>VCHUNK)
            for k in range(c):
                buf[k] = z[j + k] - m
            _vexp(buf, buf, c)
            for k in range(c):
                s += buf[k]
            j += c
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
            z[k] = <floating>(z[k] - lse)
        _vexp(z, z, n)
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
    cdef Py_ssize_t i, k, j, c
    cdef double total = 0, r
    cdef floating* z
    cdef const floating* t
    cdef floating inv_b = <floating>1 / B
    cdef floating sp[VCHUNK]
    for i in range(B):
        if row_w != NULL:
            inv_b = <floating>row_w[i]
        r = 0
        j = 0
        while j < n:            # a chunk of the row at a time: softplus, then σ in place
            c = min(n - j, <Py_ssize_t>VCHUNK)
            z = Z + i * n + j
            t = T + i * n + j
            _vsoftplus(z, sp, c)
            for k in range(c):
                r += <double>sp[k] - <double>t[k] * z[k]
            _vsigmoid(z, z, c)
            if G != NULL:
                for k in range(c):
                    G[i * n + j + k] = (z[k] - t[k]) * inv_b
            j += c
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
