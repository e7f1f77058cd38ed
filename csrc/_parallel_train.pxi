# The training step's GEMMs on several cores (included by _kernels.pyx).
#
# With helpers > 0 (Plan.gradient / Plan.sgd_step, the BLAS set to one thread by the
# caller: fastmlp._workers.step_threads), each large GEMM of the step is cut along the
# longer side of its output into one block per thread, and every block is a one-thread
# BLAS call on fastmlp's helper threads (workers.h); without dropout the forward pass
# is the inference one (_parallel_forward.pxi: blocks fused with bias and activation).
# The optimizer update that follows (_optim_shared.pxi) runs on the same helpers, so
# no second thread pool spins on a core the next job wants: with OpenBLAS's threads
# doing the GEMMs, its idle worker held the second core through the update.
#
# Each block is the same one-thread kernel over a slice of the output, and the BLAS
# never splits the inner (K) dimension, so the sums are those of one thread.  A
# helper that is late (descheduled) leaves its blocks to the caller (workers.h), so
# on a busy machine the step runs at one-thread speed or better.

cdef enum:
    SHARED_GEMM_MIN = 262144    # M·N·K below which a GEMM runs on the caller alone
    SHARED_GEMM_ALIGN = 16      # block edges (rows or columns) are multiples of this


ctypedef struct _Gemm:
    const char* A
    const char* B
    char* C
    int M, N, K, lda, ldb, ldc
    int width                   # rows (by_rows) or columns per block
    bint by_rows, f64
    char ta, tb
    double alpha, beta


cdef void _gemm_task(void* ctx, int chunk) noexcept nogil:
    cdef _Gemm* g = <_Gemm*>ctx
    cdef int lo = chunk * g.width
    cdef int n = min(g.width, (g.M if g.by_rows else g.N) - lo)
    cdef Py_ssize_t a = 0, b = 0, c = 0     # element offsets of the block
    if g.by_rows:       # C[lo:lo+n, :] = op(A)[lo:lo+n, :] @ op(B)
        a = <Py_ssize_t>lo * g.lda if g.ta == c'n' else lo
        c = <Py_ssize_t>lo * g.ldc
    else:               # C[:, lo:lo+n] = op(A) @ op(B)[:, lo:lo+n]
        b = lo if g.tb == c'n' else <Py_ssize_t>lo * g.ldb
        c = lo
    if g.f64:
        _gemm(g.ta, g.tb, n if g.by_rows else g.M, g.N if g.by_rows else n, g.K,
              <double>g.alpha, <const double*>g.A + a, g.lda, <const double*>g.B + b,
              g.ldb, <double>g.beta, <double*>g.C + c, g.ldc)
    else:
        _gemm(g.ta, g.tb, n if g.by_rows else g.M, g.N if g.by_rows else n, g.K,
              <float>g.alpha, <const float*>g.A + a, g.lda, <const float*>g.B + b,
              g.ldb, <float>g.beta, <float*>g.C + c, g.ldc)


cdef void _gemm_shared(char ta, char tb, int M, int N, int K, floating alpha,
                       const floating* A, int lda, const floating* B, int ldb,
                       floating beta, floating* C, int ldc, int helpers) noexcept nogil:
    """_gemm, its output cut into one block per thread when helpers > 0 and the GEMM
    is large enough to pay for the hand-off."""
    cdef _Gemm g
    cdef int side, blocks
    if helpers <= 0 or <double>M * N * K < SHARED_GEMM_MIN:
        _gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
        return
    g.by_rows = M > N
    side = M if g.by_rows else N
    # one block per thread, each of at least SHARED_GEMM_MIN (many cores, mid sizes)
    blocks = <int>min(<double>(helpers + 1), <double>M * N * K / SHARED_GEMM_MIN,
                      <double>FM_MAX_CHUNKS)
    g.width = (side + blocks - 1) // blocks
    g.width = (g.width + SHARED_GEMM_ALIGN - 1) // SHARED_GEMM_ALIGN * SHARED_GEMM_ALIGN
    if g.width >= side:
        _gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
        return
    g.A, g.B, g.C = <const char*>A, <const char*>B, <char*>C
    g.M, g.N, g.K, g.lda, g.ldb, g.ldc = M, N, K, lda, ldb, ldc
    g.f64 = floating is double
    g.ta, g.tb = ta, tb
    g.alpha, g.beta = alpha, beta
    fm_run(&fm_the_pool, _gemm_task, &g, (side + g.width - 1) // g.width, helpers)
