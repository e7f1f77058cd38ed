# Fused-type wrappers over scipy's Fortran BLAS, for row-major (C-order) arrays.
#
# A row-major r×c matrix is, to column-major BLAS, its c×r transpose with the
# same leading dimension.  So C = op(A) @ op(B) in row-major terms is computed as
# Cᵀ = op(B)ᵀ @ op(A)ᵀ in column-major terms: swap the operands and m/n, never copy.
#
# Header-style: every function is `cdef inline`, so modules that cimport this file
# compile the wrappers into themselves and need no runtime import.
# Sizes are 32-bit BLAS integers; Python rejects anything >= 2**31 before we get here.

from scipy.linalg.cython_blas cimport sgemm, dgemm, sgemv, dgemv

ctypedef fused floating:
    float
    double


cdef inline void _gemm(char ta, char tb, int M, int N, int K,
                       floating alpha, const floating* A, int lda,
                       const floating* B, int ldb,
                       floating beta, floating* C, int ldc) noexcept nogil:
    """Row-major C(M×N) := alpha · op(A)(M×K) @ op(B)(K×N) + beta · C.

    ta / tb are b'n' or b't' and say whether A / B are read transposed.
    lda, ldb, ldc are the row lengths (row-major leading dimensions).
    """
    # Column-major view: Cᵀ(N×M) = op(B)ᵀ(N×K) @ op(A)ᵀ(K×M).
    if floating is float:
        sgemm(&tb, &ta, &N, &M, &K, &alpha, <float*>B, &ldb, <float*>A, &lda,
              &beta, C, &ldc)
    else:
        dgemm(&tb, &ta, &N, &M, &K, &alpha, <double*>B, &ldb, <double*>A, &lda,
              &beta, C, &ldc)


cdef inline void _gemv_rowvec(int K, int N, floating alpha, const floating* x,
                              const floating* W, floating beta,
                              floating* y) noexcept nogil:
    """y(N) := alpha · x(K) @ W(K×N) + beta · y, W row-major."""
    _gemv_rowvec_ld(K, N, alpha, x, W, N, beta, y)


cdef inline void _gemv_rowvec_ld(int K, int N, floating alpha, const floating* x,
                                 const floating* W, int ldw, floating beta,
                                 floating* y) noexcept nogil:
    """As _gemv_rowvec, W being N columns of a row-major matrix with rows of ldw."""
    # W row-major (K×ldw) is column-major (ldw×K); y = its first N rows @ x.
    cdef char tn = c'n'
    cdef int one = 1
    if floating is float:
        sgemv(&tn, &N, &K, &alpha, <float*>W, &ldw, <float*>x, &one, &beta, y, &one)
    else:
        dgemv(&tn, &N, &K, &alpha, <double*>W, &ldw, <double*>x, &one, &beta, y, &one)
