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


cdef inline void _row_exp_sums(const floating* z, Py_ssize_t rows, Py_ssize_t n,
                               floating* m, double* s) noexcept nogil:
    """For `rows` adjacent rows of z (n values each): m[r] := row r's max and s[r] :=
    Σ_k e^(z_rk - m[r]), summed in k order in double; the exponentials VCHUNK values
    (of one row or several) per call of the vector code."""
    cdef Py_ssize_t r, k, q, c, rr, kk, done = 0, total = rows * n
    cdef floating buf[VCHUNK]
    for r in range(rows):
        m[r] = z[r * n]
        for k in range(1, n):
            if z[r * n + k] > m[r]:
                m[r] = z[r * n + k]
        s[r] = 0
    r = k = 0               # the row and column of the chunk's first value
    while done < total:
        c = min(total - done, <Py_ssize_t>VCHUNK)
        rr, kk = r, k
        for q in range(c):
            buf[q] = z[done + q] - m[rr]
            kk += 1
            if kk == n:
                rr, kk = rr + 1, 0
        _vexp(buf, buf, c)
        for q in range(c):
            s[r] += buf[q]
            k += 1
            if k == n:
                r, k = r + 1, 0
        done += c


cdef double _loss_softmax_ce(floating* Z, const floating* T, const intp* labels,
                             floating* G, double* row_loss, const double* row_w,
                             int B, int n) noexcept nogil:
    """Softmax + cross-entropy from logits Z, which are replaced by P = softmax(Z).

    L = Σ_rows Σ_k t_k (lse - z_k) / B, with lse = log Σ_k e^z_k;
    G := (P Σ_k t_k - T) / B  (∂L/∂Z).  Targets are labels (T is NULL) or rows T.
    A group of rows at a time (_rows_per_call), each of its two passes of
    exponentials one call of the vector code.
    """
    cdef Py_ssize_t i, k, r, c, i0, g, rows = _rows_per_call(n)
    cdef double total = 0, loss, lse
    cdef floating p
    cdef floating* z
    cdef floating inv_b = <floating>1 / B
    cdef floating m[VCHUNK]
    cdef double s[VCHUNK]
    cdef double t_sum[VCHUNK]
    for c in range((B + rows - 1) // rows):
        i0 = c * rows
        g = min(rows, B - i0)
        _row_exp_sums(Z + i0 * n, g, n, m, s)
        for r in range(g):
            i, z = i0 + r, Z + (i0 + r) * n
            lse = m[r] + log(s[r])
            if labels != NULL:
                loss = lse - z[labels[i]]
                t_sum[r] = 1
            else:
                loss = 0
                t_sum[r] = 0
                for k in range(n):
                    loss += T[i * n + k] * (lse - z[k])
                    t_sum[r] += T[i * n + k]
            for k in range(n):
                z[k] = <floating>(z[k] - lse)
            if row_loss != NULL:
                row_loss[i] = loss
            total += loss if row_w == NULL else loss * row_w[i]
        _vexp(Z + i0 * n, Z + i0 * n, g * n)
        if G == NULL:
            continue
        for r in range(g):
            i, z = i0 + r, Z + (i0 + r) * n
            if row_w != NULL:
                inv_b = <floating>row_w[i]
            for k in range(n):
                p = z[k] * <floating>t_sum[r]
                if labels != NULL:
                    if k == labels[i]:
                        p -= 1
                else:
                    p -= T[i * n + k]
                G[i * n + k] = p * inv_b
    return total / B if row_w == NULL else total


cdef double _loss_sigmoid_bce(floating* Z, const floating* T, floating* G,
                              double* row_loss, const double* row_w,
                              int B, int n) noexcept nogil:
    """Sigmoid + binary cross-entropy from logits Z, which are replaced by P = σ(Z).

    L = Σ_rows Σ_k [softplus(z) - t z] / B  (= -t log p - (1-t) log(1-p), stably);
    G := (P - T) / B  (∂L/∂Z).
    Z is taken VCHUNK values at a time, across rows (one call of the vector code
    each for softplus and σ), each row's loss summed in its own order.
    """
    cdef Py_ssize_t i = 0, k = 0, q, c, gi, gk, done = 0, count = <Py_ssize_t>B * n
    cdef double total = 0, loss = 0
    cdef floating* z
    cdef const floating* t
    cdef floating inv_b
    cdef floating sp[VCHUNK]
    while done < count:
        c = min(count - done, <Py_ssize_t>VCHUNK)
        z, t = Z + done, T + done
        gi, gk = i, k       # the row and column of the chunk's first value
        _vsoftplus(z, sp, c)
        for q in range(c):
            loss += <double>sp[q] - <double>t[q] * z[q]
            k += 1
            if k == n:      # the end of row i
                if row_loss != NULL:
                    row_loss[i] = loss
                total += loss if row_w == NULL else loss * row_w[i]
                i, k, loss = i + 1, 0, 0
        _vsigmoid(z, z, c)
        if G != NULL:
            inv_b = <floating>1 / B if row_w == NULL else <floating>row_w[gi]
            for q in range(c):
                G[done + q] = (z[q] - t[q]) * inv_b
                gk += 1
                if gk == n:
                    gi, gk = gi + 1, 0
                    if row_w != NULL and gi < B:
                        inv_b = <floating>row_w[gi]
        done += c
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
