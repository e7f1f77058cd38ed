/* The weight-gradient GEMM of a training step in float32, on CPUs with AVX-512
 * (included by sgemm.h, whose panel width, masks and target attribute it shares):
 *
 *     C(M×N) := alpha · Aᵀ · B + beta · C       A is K×M, B is K×N, C is M×N
 *                                                (row-major, any leading dimensions)
 *
 * A is a layer's input X (K = the batch), B its δ and C its dW, or W itself when the
 * SGD update is folded in (alpha = -lr, beta = 1 - lr·l2).  As in sgemm.h, a tile
 * holds up to 6 rows × 64 columns of C in 24 zmm registers; per k it loads one row of
 * B's 64-column panel (4 loads, in place: the panel is K × 256 bytes, in L1 or L2 for
 * the batches people train with) and broadcasts 6 consecutive elements of row k of A
 * (the tile's 6 rows of Aᵀ).  The accumulators start at zero; alpha and beta · C are
 * applied once, when the tile is stored, and with beta = 0 C is not read (it may hold
 * anything, as the BLAS allows).  Zen 4, one thread, X 32×784 and δ 32×128 (784-128-10
 * at batch 32): OpenBLAS's sgemm 71 µs, this code 62 µs.
 *
 * K is taken FM_TN_KC rows at a time (C accumulates between blocks), so that a panel
 * of B stays in L2 for large batches.  A is read once per panel of C, in strips of 6
 * columns: the caller (_gemm_op in _parallel_train.pxi) leaves large outputs, where
 * the BLAS's blocking wins, and narrow last panels to the BLAS.
 */
#ifndef FASTMLP_SGEMM_TN_H
#define FASTMLP_SGEMM_TN_H

#define FM_TN_KC 1024     /* rows of A and B per pass over C */

#define FT_DECL(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps(), \
                          c##r##2 = _mm512_setzero_ps(), c##r##3 = _mm512_setzero_ps();
#define FT_FMA(r) {                                                               \
        __m512 a = _mm512_set1_ps(A[(size_t)k * lda + (r)]);                      \
        c##r##0 = _mm512_fmadd_ps(a, w0, c##r##0);                                \
        c##r##1 = _mm512_fmadd_ps(a, w1, c##r##1);                                \
        c##r##2 = _mm512_fmadd_ps(a, w2, c##r##2);                                \
        c##r##3 = _mm512_fmadd_ps(a, w3, c##r##3); }
/* C := alpha · acc (+ beta · C), the columns past n untouched */
#define FT_STORE1(r, q, m) {                                                      \
        __m512 s = _mm512_mul_ps(va, c##r##q);                                    \
        if (beta != 0.0f)                                                         \
            s = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m, cr + 16 * (q)), s);  \
        _mm512_mask_storeu_ps(cr + 16 * (q), m, s); }
#define FT_STORE(r) {                                                             \
        float *cr = C + (size_t)(r) * ldc;                                        \
        FT_STORE1(r, 0, m0) FT_STORE1(r, 1, m1) FT_STORE1(r, 2, m2) FT_STORE1(r, 3, m3) }
/* B's row k is loaded as sgemm.h loads W's (FM_LOADW_FULL, FM_LOADW_MASKED), hence
 * its names here: W, ldw */
#define FT_TILE(NAME, LOADW, DECLS, FMAS, STORES)                                 \
FM_TARGET static void NAME(int kc, float alpha, const float *A, int lda, const float *W, \
                           int ldw, float beta, float *C, int ldc,                \
                           __mmask16 m0, __mmask16 m1, __mmask16 m2, __mmask16 m3) \
{                                                                                 \
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);                 \
    int k;                                                                        \
    DECLS                                                                         \
    for (k = 0; k < kc; k++) {                                                    \
        LOADW                                                                     \
        FMAS                                                                      \
    }                                                                             \
    STORES                                                                        \
}

#define FT_TILES(PREFIX, LOADW)                                                   \
FT_TILE(PREFIX##1, LOADW, FT_DECL(0), FT_FMA(0), FT_STORE(0))                      \
FT_TILE(PREFIX##2, LOADW, FT_DECL(0) FT_DECL(1), FT_FMA(0) FT_FMA(1),              \
        FT_STORE(0) FT_STORE(1))                                                  \
FT_TILE(PREFIX##3, LOADW, FT_DECL(0) FT_DECL(1) FT_DECL(2),                        \
        FT_FMA(0) FT_FMA(1) FT_FMA(2), FT_STORE(0) FT_STORE(1) FT_STORE(2))        \
FT_TILE(PREFIX##4, LOADW, FT_DECL(0) FT_DECL(1) FT_DECL(2) FT_DECL(3),             \
        FT_FMA(0) FT_FMA(1) FT_FMA(2) FT_FMA(3),                                  \
        FT_STORE(0) FT_STORE(1) FT_STORE(2) FT_STORE(3))                          \
FT_TILE(PREFIX##5, LOADW, FT_DECL(0) FT_DECL(1) FT_DECL(2) FT_DECL(3) FT_DECL(4),  \
        FT_FMA(0) FT_FMA(1) FT_FMA(2) FT_FMA(3) FT_FMA(4),                        \
        FT_STORE(0) FT_STORE(1) FT_STORE(2) FT_STORE(3) FT_STORE(4))              \
FT_TILE(PREFIX##6, LOADW,                                                         \
        FT_DECL(0) FT_DECL(1) FT_DECL(2) FT_DECL(3) FT_DECL(4) FT_DECL(5),         \
        FT_FMA(0) FT_FMA(1) FT_FMA(2) FT_FMA(3) FT_FMA(4) FT_FMA(5),               \
        FT_STORE(0) FT_STORE(1) FT_STORE(2) FT_STORE(3) FT_STORE(4) FT_STORE(5))

/* C[0:r, 0:64] := alpha · A[0:kc, 0:r]ᵀ · B[0:kc, 0:64] + beta · C: ft_tile<r> for
 * the last panel (masked), ft_full<r> for whole ones */
FT_TILES(ft_tile, FM_LOADW_MASKED)
FT_TILES(ft_full, FM_LOADW_FULL)

typedef void (*ft_tile_fn)(int, float, const float *, int, const float *, int, float,
                           float *, int, __mmask16, __mmask16, __mmask16, __mmask16);

/* C := alpha · Aᵀ · B + beta · C (see the top of this file); M, N, K >= 1 */
FM_TARGET static void fm_sgemm_tn512(int M, int N, int K, float alpha, const float *A,
                                     int lda, const float *B, int ldb, float beta,
                                     float *C, int ldc)
{
    static const ft_tile_fn masked[FM_MR + 1] = {0, ft_tile1, ft_tile2, ft_tile3,
                                                 ft_tile4, ft_tile5, ft_tile6};
    static const ft_tile_fn full[FM_MR + 1] = {0, ft_full1, ft_full2, ft_full3, ft_full4,
                                               ft_full5, ft_full6};
    int i, j, k0, kc, n, r;
    for (k0 = 0; k0 < K; k0 += FM_TN_KC) {
        kc = K - k0 < FM_TN_KC ? K - k0 : FM_TN_KC;
        for (j = 0; j < N; j += FM_NR) {
            const ft_tile_fn *tiles;
            __mmask16 m0, m1, m2, m3;
            n = N - j < FM_NR ? N - j : FM_NR;
            tiles = n == FM_NR ? full : masked;
            m0 = fm_mask(n), m1 = fm_mask(n - 16), m2 = fm_mask(n - 32), m3 = fm_mask(n - 48);
            for (i = 0; i < M; i += r) {
                r = M - i < FM_MR ? M - i : FM_MR;
                tiles[r](kc, alpha, A + (size_t)k0 * lda + i, lda, B + (size_t)k0 * ldb + j,
                         ldb, beta, C + (size_t)i * ldc + j, ldc, m0, m1, m2, m3);
            }
        }
        beta = 1.0f;        /* the next block of K adds to what this one stored */
    }
}

#endif
