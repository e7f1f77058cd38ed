/* The weight-gradient GEMM of a training step in float32 on CPUs with AVX2 and FMA but
 * no AVX-512 (included by sgemm.h after sgemm_avx2.h, whose target attributes it uses;
 * sgemm_tn.h is the AVX-512 version and says where the product comes from):
 *
 *     C(M×N) := alpha · Aᵀ · B + beta · C       A is K×M, B is K×N, C is M×N
 *                                                (row-major, any leading dimensions)
 *
 * A tile holds up to 6 rows × 16 columns of C in 12 ymm accumulators; per k it loads
 * the 2 vectors of row k of B's 16-column panel and broadcasts 6 consecutive elements
 * of row k of A (the tile's 6 rows of Aᵀ): 8 loads for 12 FMAs.  Where N >= 32, A is
 * first packed FM2_TN_MC columns at a time into micro-panels of 6 (ft2_pack_a), so a
 * tile reads its A in one stream: in place, each k's 6 floats came from another row of
 * A, rows 1 KB apart sharing a few L1 sets (Zen 3, one thread, BLAS / own, 256x256 from
 * 32-256 rows: 0.86-0.88 in place, 0.99-1.04 packed; 50x256 1.07-1.22 -> 1.27-1.44).
 * For fewer columns the packing costs more than it saves (256x10: 0.66-0.72 packed),
 * and A is read in place, as it is if the buffer cannot be had.  Each panel
 * of B is first copied into a contiguous block (fm2_pack): read in place, its 64-byte
 * rows, ldb apart, fell into a few L1 sets and were read from L2 by every tile
 * (Zen 4 running this code, one thread, 512×256 from 128 rows: 375 -> 339 µs).
 * Tiles of fewer than 8 accumulators (the last 1-4 rows, the last 8 columns) keep U
 * partial sums over k side by side, so that an FMA does not wait on the one before.
 * alpha and beta · C are applied once, when the tile is stored; with beta = 0, C is
 * not read (it may hold anything, as the BLAS allows).
 *
 * N >= 8: columns go 16, then 8, at a time; the last n = N mod 8 are the end of the
 * tile of columns [N - 8, N), computed into a local array and copied (so no load or
 * store leaves the arrays, and none is masked).  K is taken FM2_TN_KC rows at a time,
 * so that a panel of B (FM2_TN_KC × 64 bytes, 16 KB) stays in L1.
 */
#ifndef FASTMLP_SGEMM_TN_AVX2_H
#define FASTMLP_SGEMM_TN_AVX2_H

#define FM2_TN_KC 256     /* rows of A and B per pass over C */
#define FM2_TN_MC 120     /* columns of A (rows of C) packed at a time: 120 KB */

/* c[0:R·V] += A[k, 0:R]ᵀ · B[k, 0:8V]: one k (ak, bk: row k of A and of B) */
FM2_INLINE void ft2_rank1(const int R, const int V, const float *ak, const float *bk,
                          __m256 *c)
{
    __m256 w[2], a;
    int r, v;
#pragma GCC unroll 2
    for (v = 0; v < V; v++)
        w[v] = _mm256_loadu_ps(bk + 8 * v);
#pragma GCC unroll 6
    for (r = 0; r < R; r++) {
        a = _mm256_broadcast_ss(ak + r);
#pragma GCC unroll 2
        for (v = 0; v < V; v++)
            c[r * V + v] = _mm256_fmadd_ps(a, w[v], c[r * V + v]);
    }
}

/* C[0:R, 0:8V] := alpha · A[0:kc, 0:R]ᵀ · B[0:kc, 0:8V] + beta · C[0:R, 0:8V] (C not
 * read if beta = 0).  R, V and U are constants once inlined (R·V·U <= 12): sum u
 * takes the k = u mod U. */
FM2_INLINE void ft2_tile(const int R, const int V, const int U, int kc, float alpha,
                         const float *A, int lda, const float *B, int ldb, float beta,
                         float *C, int ldc)
{
    __m256 c[12], s;
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    int r, v, u, k = 0;
#pragma GCC unroll 12
    for (r = 0; r < R * V * U; r++)
        c[r] = _mm256_setzero_ps();
    for (; k + U <= kc; k += U)
#pragma GCC unroll 8
        for (u = 0; u < U; u++)
            ft2_rank1(R, V, A + (size_t)(k + u) * lda, B + (size_t)(k + u) * ldb,
                      c + u * R * V);
    for (; k < kc; k++)
        ft2_rank1(R, V, A + (size_t)k * lda, B + (size_t)k * ldb, c);
    fm2_fold(R * V, U, c);
#pragma GCC unroll 6
    for (r = 0; r < R; r++)
#pragma GCC unroll 2
        for (v = 0; v < V; v++) {
            float *cr = C + (size_t)r * ldc + 8 * v;
            s = _mm256_mul_ps(va, c[r * V + v]);
            if (beta != 0.0f)
                s = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr), s);
            _mm256_storeu_ps(cr, s);
        }
}

typedef void (*ft2_tile_fn)(int, float, const float *, int, const float *, int, float,
                            float *, int);

#define FT2_TILE(R, V, U)                                                             \
FM2_TARGET static void ft2_tile_##R##x##V(int kc, float alpha, const float *A, int lda, \
                                          const float *B, int ldb, float beta,        \
                                          float *C, int ldc)                          \
{                                                                                     \
    ft2_tile(R, V, U, kc, alpha, A, lda, B, ldb, beta, C, ldc);                       \
}
FT2_TILE(1, 1, 8) FT2_TILE(2, 1, 4) FT2_TILE(3, 1, 2) FT2_TILE(4, 1, 2) FT2_TILE(5, 1, 2)
FT2_TILE(6, 1, 2)
FT2_TILE(1, 2, 4) FT2_TILE(2, 2, 2) FT2_TILE(3, 2, 2) FT2_TILE(4, 2, 1) FT2_TILE(5, 2, 1)
FT2_TILE(6, 2, 1)

/* tiles by rows (1..6) of 8 and of 16 columns */
static const ft2_tile_fn ft2_tiles8[7] = {0, ft2_tile_1x1, ft2_tile_2x1, ft2_tile_3x1,
                                          ft2_tile_4x1, ft2_tile_5x1, ft2_tile_6x1};
static const ft2_tile_fn ft2_tiles16[7] = {0, ft2_tile_1x2, ft2_tile_2x2, ft2_tile_3x2,
                                           ft2_tile_4x2, ft2_tile_5x2, ft2_tile_6x2};

/* A[0:kc, 0:m] (rows lda apart) as micro-panels of 6 columns: panel q at Q + 6·kc·q
 * holds A[k, 6q + r] at [6k + r], the rows of Aᵀ that one tile reads (a tile's A is
 * then 6 floats per k in one stream, lda 6; the last panel of m mod 6 has its
 * columns at the same places) */
FM2_INLINE void ft2_pack_a(int kc, int m, const float *A, int lda, float *Q)
{
    int k, i, r;
    for (k = 0; k < kc; k++) {
        const float *a = A + (size_t)k * lda;
        float *q = Q + 6 * (size_t)k;
        for (i = 0; i + 6 <= m; i += 6)
            memcpy(q + (size_t)kc * i, a + i, 6 * sizeof(float));
        for (r = 0; i + r < m; r++)
            q[(size_t)kc * i + r] = a[i + r];
    }
}

/* the A of the tile at row i of the block at i0: packed, or in place */
#define FT2_A(i) (Q ? Q + (size_t)kc * (i) : Ak + i0 + (i))

/* C := alpha · Aᵀ · B + beta · C with AVX2 and FMA; M, K >= 1, N >= 8 */
FM2_TARGET static void fm2_sgemm_tn(int M, int N, int K, float alpha, const float *A,
                                    int lda, const float *B, int ldb, float beta,
                                    float *C, int ldc)
{
    float P[FM2_TN_KC * 16] __attribute__((aligned(32)));
    float T[6 * 8], *Q = NULL;
    int i, i0, m, mc, j, k0, kc, r, q, c, la, N8 = N - N % 8;
    if (N8 >= 32)           /* enough panels of B to repay packing A */
        Q = (float *)aligned_alloc(64, sizeof(float) * FM2_TN_KC * FM2_TN_MC);
    la = Q ? 6 : lda;
    mc = Q ? FM2_TN_MC : M;     /* A in place: one block, each panel of B packed once */
    for (k0 = 0; k0 < K; k0 += FM2_TN_KC) {
        const float *Ak = A + (size_t)k0 * lda, *Bk = B + (size_t)k0 * ldb;
        kc = K - k0 < FM2_TN_KC ? K - k0 : FM2_TN_KC;
        for (i0 = 0; i0 < M; i0 += mc) {
            m = M - i0 < mc ? M - i0 : mc;
            if (Q)      /* else (no memory) A is read in place */
                ft2_pack_a(kc, m, Ak + i0, lda, Q);
            for (j = 0; j < N8; j += 16) {
                int width = N8 - j >= 16 ? 16 : 8;
                const ft2_tile_fn *tiles = width == 16 ? ft2_tiles16 : ft2_tiles8;
                fm2_pack(kc, Bk + j, ldb, width, P);
                for (i = 0; i < m; i += r) {
                    r = m - i < 6 ? m - i : 6;
                    tiles[r](kc, alpha, FT2_A(i), la, P, width, beta,
                             C + (size_t)(i0 + i) * ldc + j, ldc);
                }
            }
            if (N8 < N)     /* columns [N8, N): the end of the tile [N - 8, N) */
                for (i = 0; i < m; i += r) {
                    r = m - i < 6 ? m - i : 6;
                    ft2_tiles8[r](kc, alpha, FT2_A(i), la, Bk + N - 8, ldb, 0.0f, T, 8);
                    for (q = 0; q < r; q++) {
                        float *cq = C + (size_t)(i0 + i + q) * ldc;
                        for (c = N8; c < N; c++)
                            cq[c] = beta != 0.0f ? T[8 * q + c - (N - 8)] + beta * cq[c]
                                                 : T[8 * q + c - (N - 8)];
                    }
                }
        }
        beta = 1.0f;        /* the next block of K adds to what this one stored */
    }
    free(Q);
}
#undef FT2_A

#endif
