"""fastmlp's own weight-gradient GEMM, C := alpha·Aᵀ@B + beta·C in float32
(csrc/sgemm_tn.h on AVX-512 CPUs, sgemm_tn_avx2.h on AVX2 ones; an AVX-512 CPU runs
both here), against float64 NumPy.

The shapes cross every edge of the codes: 1-5 rows past a multiple of the 6-row tiles,
columns below, at and past the 64-column panels (AVX-512: the columns past the last
whole panel go to the BLAS) and the 8- and 16-column tiles (AVX2: below 8 columns the
BLAS, a last n < 8 columns through the tile that ends at N), K past the 1024- and
256-row blocks, strided rows, outputs past the AVX2 code's size limit (the BLAS);
beta = 0 must not read C (NaN there stays out of the result), and the columns of C's
parent array past N are left alone.  Training steps go through this code in every float32 test
(tests/conftest.py runs one thread; tests/test_parallel_train.py shares the steps)."""
import numpy as np
import pytest

from fastmlp import _kernels

ROWS = [1, 5, 6, 7, 13, 64, 127, 785]
COLS = [1, 7, 8, 9, 10, 15, 16, 17, 24, 31, 32, 63, 64, 65, 100, 128, 161, 200]
DEPTHS = [1, 3, 32, 129, 257, 1025]


@pytest.mark.parametrize("beta", [0.0, 1.0, 0.875])
@pytest.mark.parametrize("M", ROWS)
def test_sgemm_tn_matches_float64_numpy(own_code, beta, M):
    own = own_code != "blas"
    rng = np.random.default_rng(M)
    eps = np.finfo(np.float32).eps
    alpha = -0.37
    for N in COLS:
        for K in DEPTHS:
            if M * N * K > 6_000_000:
                continue
            pad = (M + N + K) % 3
            A = rng.standard_normal((K, M + pad)).astype(np.float32)[:, pad:]
            B = rng.standard_normal((K, N + 2 * pad)).astype(np.float32)[:, :N]
            parent = rng.standard_normal((M, N + 3)).astype(np.float32)
            if beta == 0.0:
                parent[:, :N] = np.nan
            parent[:, N:] = 7.0
            C0 = parent[:, :N].astype(np.float64)
            C = parent[:, :N]
            _kernels.sgemm_tn(A, B, C, alpha, beta, own)
            A64, B64 = A.astype(np.float64), B.astype(np.float64)
            ref = alpha * (A64.T @ B64) + (beta * C0 if beta else 0.0)
            scale = abs(alpha) * (np.abs(A64.T) @ np.abs(B64)) + (abs(beta) * np.abs(C0)
                                                                  if beta else 0.0)
            bound = (K + 3) * eps * scale
            assert np.all(np.abs(C - ref) <= bound), (M, N, K, beta, own_code)
            assert np.all(parent[:, N:] == 7.0), (M, N, K, beta, own_code)


def test_sgemm_tn_checks_its_arguments():
    A = np.ones((4, 3), np.float32)
    B = np.ones((4, 5), np.float32)
    with pytest.raises(ValueError, match="shapes"):
        _kernels.sgemm_tn(A, B, np.ones((3, 4), np.float32), 1.0, 0.0, False)
    with pytest.raises(ValueError, match="contiguous"):
        _kernels.sgemm_tn(A, B, np.ones((3, 10), np.float32)[:, ::2], 1.0, 0.0, False)
