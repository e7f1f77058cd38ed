# Which passes give the BLAS a call that OpenBLAS would split over several threads
# (included by _kernels.pyx, after the passes it describes).
#
# OpenBLAS runs a GEMM of M·N·K up to OPENBLAS_ONE_THREAD on one thread whatever its
# count.  A pass none of whose BLAS calls is larger needs no thread count set around
# it: setting it to one and back costs ~2-3 us (two openblas_set_num_threads calls,
# a lock and the Python around them), as much as all the Python of a one-row
# predict.  The answers follow the choices _parallel_forward.pxi and
# _parallel_train.pxi make between fastmlp's own GEMMs and the BLAS: a call counted
# that is not made only costs the setting; one made and not counted would run on
# OpenBLAS's threads.


cdef bint _forward_calls_blas(Plan p, Py_ssize_t B):
    """Plan.forward_calls_blas: whether an inference pass of B rows through p may give
    the BLAS a call that OpenBLAS would run on several threads (M·N·K above
    OPENBLAS_ONE_THREAD): in float64, without the own GEMM, on more rows than it
    serves, or where a layer's columns past sgemm.h's last whole 64-column panel (the
    BLAS's, _affine) make such a call.  If not, the BLAS's thread count need not be
    set (which costs ~3 us a call).  Those columns once went uncounted: 64 rows
    through 784-100-10 with n_threads=1 kept OpenBLAS's second thread busy throughout
    (a 64×36×784 call)."""
    cdef int l, tail
    if p.f64 or not (_own_sgemm and B <= _own_sgemm_rows):
        return True
    for l in range(p.n_layers):
        tail = p.sizes[l + 1] % _own_panel if _own_panel else 0
        if not _own_panel and <double>p.sizes[l] * p.sizes[l + 1] >= OWN_AVX2_MAX_W:
            tail = p.sizes[l + 1]       # the whole layer is the BLAS's (_affine)
        if <double>B * p.sizes[l] * tail > OPENBLAS_ONE_THREAD:
            return True
    return False


cdef bint _step_calls_blas(Plan p, Py_ssize_t B):
    """Plan.step_calls_blas: whether a training step of B rows through p shared with
    helper threads (with its dropout masks, no input gradient) may give the BLAS a
    call that OpenBLAS would split over several threads (M·N·K above
    OPENBLAS_ONE_THREAD), counting each GEMM whole (its blocks are smaller): the
    forward's (the inference pass's, or under dropout every layer's), δ @ Wᵀ below
    the first layer, and the columns of Xᵀ @ δ past those sgemm_tn.h takes
    (fm_sgemm_tn_cols; cut by columns, a last block too narrow for it goes to the
    BLAS whole).  tests/test_step_blas_threads.py checks the answers against
    OpenBLAS's worker thread, which gets no CPU time through steps answered False."""
    cdef int l, n_in, n_out, cols
    if B == 1 or p.f64:
        return True
    if p.has_dropout:
        for l in range(p.n_layers):
            if <double>B * p.sizes[l] * p.sizes[l + 1] > OPENBLAS_ONE_THREAD:
                return True
    elif _forward_calls_blas(p, B):
        return True
    for l in range(p.n_layers):
        n_in, n_out = p.sizes[l], p.sizes[l + 1]
        if l > 0 and <double>B * n_in * n_out > OPENBLAS_ONE_THREAD:
            return True
        cols = n_out - (fm_sgemm_tn_cols(n_in, n_out) if _own_sgemm else 0)
        if cols < n_out and n_in <= n_out:
            cols = min(n_out, cols + SHARED_GEMM_ALIGN - 1)
        if <double>n_in * cols * B > OPENBLAS_ONE_THREAD:
            return True
    return False
