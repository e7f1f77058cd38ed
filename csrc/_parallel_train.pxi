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
# never splits the inner (K) dimension, so the sums are those of one thread.  A helper
# that is late (descheduled) leaves its blocks to the caller (workers.h), so on a busy
# machine the step runs at one-thread speed or better.
#
# Where the CPU has AVX-512 (or AVX2 and FMA), the float32 weight-gradient GEMMs
# (Xᵀ @ δ) run sgemm_tn.h (sgemm_tn_avx2.h) instead of the BLAS (_gemm_op), shared or
# not; a step on one thread also runs its forward GEMMs on sgemm.h (_layer_forward).

cdef extern from "sgemm.h" nogil:
    int fm_sgemm_tn_cols(int M, int N)
    void fm_sgemm_tn(int M, int N, int K, float alpha, const float* A, int lda,
                     const float* B, int ldb, float beta, float* C, int ldc)

cdef enum:
    SHARED_GEMM_MIN = 262144    # M·N·K below which a GEMM runs on the caller alone
    SHARED_GEMM_ALIGN = 16      # block edges (rows or columns) are multiples of this

# a step no helper shares runs its GEMMs on the own kernels (one thread) only when the
# BLAS would run one thread too: off where fastmlp cannot set the BLAS's threads
cdef bint _own_unshared = True


def own_kernels_unshared(bint on):
    """Whether training steps that no helper thread shares use fastmlp's own GEMMs
    (on: their BLAS runs one thread, as fastmlp._workers.step_threads arranges where it
    can set the BLAS's threads) or the BLAS with whatever threads it has (off); returns
    the previous setting."""
    global _own_unshared
    before = _own_unshared
    _own_unshared = on
    return before


cdef void _gemm_op(char ta, char tb, int M, int N, int K, floating alpha,
                   const floating* A, int lda, const floating* B, int ldb,
                   floating beta, floating* C, int ldc) noexcept nogil:
    """_gemm (one thread), but Aᵀ @ B in float32 by sgemm_tn.h (AVX-512) or
    sgemm_tn_avx2.h, unless use_own_sgemm(False): the columns fm_sgemm_tn_cols gives
    them (outputs below a size, see sgemm.h), the rest by the BLAS.  Zen 4, one
    thread, BLAS / own: 784x128 from 32 rows 1.16, from 256 rows 1.20; 784x512 from
    128 rows 1.08; 512x256 from 128 rows 1.14."""
    cdef int head
    if floating is float and ta == c't' and tb == c'n' and _own_sgemm:
        head = fm_sgemm_tn_cols(M, N)
        if head > 0:
            fm_sgemm_tn(M, head, K, alpha, A, lda, B, ldb, beta, C, ldc)
        if head == N:
            return
        B, C, N = B + head, C + head, N - head
    _gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)


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
        _gemm_op(g.ta, g.tb, n if g.by_rows else g.M, g.N if g.by_rows else n, g.K,
              <double>g.alpha, <const double*>g.A + a, g.lda, <const double*>g.B + b,
              g.ldb, <double>g.beta, <double*>g.C + c, g.ldc)
    else:
        _gemm_op(g.ta, g.tb, n if g.by_rows else g.M, g.N if g.by_rows else n, g.K,
              <float>g.alpha, <const float*>g.A + a, g.lda, <const float*>g.B + b,
              g.ldb, <float>g.beta, <float*>g.C + c, g.ldc)


cdef void _gemm_shared(char ta, char tb, int M, int N, int K, floating alpha,
                       const floating* A, int lda, const floating* B, int ldb,
                       floating beta, floating* C, int ldc, int helpers) noexcept nogil:
    """_gemm, its output cut into one block per thread when helpers > 0 and the GEMM
    is large enough to pay for the hand-off."""
    cdef _Gemm g
    cdef int side, blocks
    if helpers <= 0 and not _own_unshared:     # the BLAS with its own threads
        _gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
        return
    if helpers <= 0 or <double>M * N * K < SHARED_GEMM_MIN:
        _gemm_op(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
        return
    g.by_rows = M > N
    side = M if g.by_rows else N
    # one block per thread, each of at least SHARED_GEMM_MIN (many cores, mid sizes)
    blocks = <int>min(<double>(helpers + 1), <double>M * N * K / SHARED_GEMM_MIN,
                      <double>FM_MAX_CHUNKS)
    g.width = (side + blocks - 1) // blocks
    g.width = (g.width + SHARED_GEMM_ALIGN - 1) // SHARED_GEMM_ALIGN * SHARED_GEMM_ALIGN
    if g.width >= side:
        _gemm_op(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
        return
    g.A, g.B, g.C = <const char*>A, <const char*>B, <char*>C
    g.M, g.N, g.K, g.lda, g.ldb, g.ldc = M, N, K, lda, ldb, ldc
    g.f64 = floating is double
    g.ta, g.tb = ta, tb
    g.alpha, g.beta = alpha, beta
    fm_run(&fm_the_pool, _gemm_task, &g, (side + g.width - 1) // g.width, helpers)


def sgemm_tn(float[:, :] A, float[:, :] B, float[:, :] C, float alpha, float beta,
             bint own, int repeat=1):
    """C := alpha · Aᵀ @ B + beta · C, `repeat` times, by sgemm_tn.h's path (own, as a
    training step's weight gradient; beta = 0: C is not read) or the BLAS alone; rows
    may be strided, columns must be contiguous.  For tests and benchmarks."""
    cdef int K = <int>A.shape[0], M = <int>A.shape[1], N = <int>B.shape[1], t
    if B.shape[0] != K or C.shape[0] != M or C.shape[1] != N:
        raise ValueError("shapes do not match")
    if M < 1 or N < 1 or K < 1:
        raise ValueError("empty")
    cdef int lda = _leading(A), ldb = _leading(B), ldc = _leading(C)
    if lda < 0 or ldb < 0 or ldc < 0:
        raise ValueError(_ROWS_ERROR)
    if own and not HAVE_OWN_SGEMM:
        raise RuntimeError("this CPU has neither AVX-512 nor AVX2 with FMA")
    before = use_own_sgemm(own)
    try:
        with nogil:
            for t in range(repeat):
                _gemm_op(c't', c'n', M, N, K, alpha, &A[0, 0], lda, &B[0, 0], ldb, beta,
                         &C[0, 0], ldc)
    finally:
        use_own_sgemm(before)
