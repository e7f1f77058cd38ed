/* fastmlp's own float32 GEMM on CPUs with AVX2 and FMA but no AVX-512 (included by
 * sgemm.h, which picks this or the AVX-512 code at run time):
 *
 *     C(M×N) := A(M×K) · W(K×N) + b      (row-major, any leading dimensions)
 *
 * 16 ymm registers (8 floats each) allow 12 accumulators, so the tiles are narrower
 * than the AVX-512 ones: per k, a tile loads V vectors of one row of W, broadcasts R
 * elements of A and does R·V FMAs; an FMA takes 4 cycles and two issue per cycle, so a
 * tile needs at least 8 accumulators to keep both FMA units busy.
 *
 *   M = 1, N >= 64     fm2_gemv: the output row stays in L1 while W streams past, 4
 *                      of its rows at a time (sequential reads, as the BLAS's GEMV)
 *   M <= FM2_SMALL_M   W is read in place, once per group of up to 6 rows, the row 4
 *   (24 rows if W      further on prefetched; the tile is as wide as the group's
 *   fits L2; 6 rows    accumulators allow (1×64, 2×32, 3×32, 4×24, 5×16, 6×16), so
 *   if N < 64)         that few rows still fill the FMA units.  Zen 3, one thread,
 *                      784×512, rows 7 / 8 / 12: 105 / 118 / 141 µs packed, 83 / 101 /
 *                      127 µs in place; 13-24 rows: packed is faster for 784×512 (158
 *                      vs 160 µs at 13, 238 vs 255 at 24), in place for 512×256 (47 vs
 *                      40, 75 vs 71) and 256×256 (23 vs 18, 37 vs 33).  The prefetch:
 *                      6 rows of 784×512, 73 -> 64 µs; 2 rows, 44 -> 37 µs.
 *   larger M           W is copied FM2_KC rows × FM2_NC columns at a time into panels
 *                      of 16 columns (16 KB each, L1) that every 6×16 tile of the rows
 *                      then reads, the W rows 8 further on prefetched; k blocks are the
 *                      outer loop, and A's block (FM2_MC rows × FM2_KC columns) is
 *                      copied to rows FM2_LDQ floats apart, so it stays in L2 while
 *                      every panel of W passes.  In place, rows of A 4 or 16 KB apart
 *                      (K = 1024, 4096) shared a few L1 sets with the panel and were
 *                      read from L2 again and again (Zen 3, one thread, 256 rows,
 *                      BLAS / own: 1024×4096 0.72 -> 0.86, 4096×1024 0.77 -> 0.83);
 *                      32 -> 64 columns of W at a time and the prefetch, 0.68-0.84 ->
 *                      0.90-0.94 on these (the same process, alternating).  Layers of
 *                      2^20 weights or more still go to the BLAS (_parallel_forward.pxi)
 *
 * Tails never touch memory outside the arrays, and no load or store is masked: tiles
 * read and write whole vectors of 8 columns; the last n = N mod 8 columns are either
 * the end of the 8 columns [N - 8, N), computed into a local tile and copied (W read
 * in place, N >= 8), or dot products over k (fm2_narrow: N < 8, and the packed path).
 * A tile of fewer than 8 accumulators (few rows, 8 or 16 columns) keeps U partial
 * sums over k, so that the FMAs of one accumulator do not wait on each other.
 */
#ifndef FASTMLP_SGEMM_AVX2_H
#define FASTMLP_SGEMM_AVX2_H

#define FM2_KC 256        /* rows of a packed W block: 256 × 16 floats = 16 KB */
#define FM2_NC 64         /* columns of W packed at a time (4 panels, 64 KB) */
#define FM2_MC 120        /* rows per block of A */
#define FM2_LDQ (FM2_KC + 8) /* row stride of a copied block of A (not a power of 2) */
#define FM2_BUFFER (FM2_KC * FM2_NC + FM2_MC * FM2_LDQ)   /* floats: W's block, A's */
#define FM2_SMALL_M 12    /* up to this many rows (6 if N < 64): W read in place */
#define FM2_SMALL_M_L2 24 /* ... and up to this many, if W fits in L2 (FM2_L2_FLOATS) */
#define FM2_L2_FLOATS (128 * 1024)
#define FM2_GEMV_NB 1024  /* one row: columns summed at a time (4 KB, in L1) */

#include <stdlib.h>
#include <string.h>

#define FM2_TARGET __attribute__((target("avx2,fma")))
#define FM2_INLINE static inline __attribute__((always_inline, target("avx2,fma")))

/* c[0:n] += c[u·n : u·n + n] for u in [1, U): U sets of partial sums into the first */
FM2_INLINE void fm2_fold(const int n, const int U, __m256 *c)
{
    int u, r;
#pragma GCC unroll 8
    for (u = 1; u < U; u++)
#pragma GCC unroll 12
        for (r = 0; r < n; r++)
            c[r] = _mm256_add_ps(c[r], c[u * n + r]);
}

/* C[0:R, 0:8V] := init[0:R, 0:8V] + A[0:R, 0:kc] · W[0:kc, 0:8V]; row r of init is at
 * init + r·ldi (ldi = 0: the bias, for every row).  All 8V columns are read and
 * written.  R, V and U are constants once inlined: the loops unroll and c[] is
 * registers.  U > 1 (tiles of fewer than 8 vectors): U sums, over k = u mod U, run
 * side by side, so that the FMAs do not wait on each other. */
FM2_INLINE void fm2_tile(const int R, const int V, const int U, int kc, const float *A,
                         int lda, const float *W, int ldw, float *C, int ldc,
                         const float *init, int ldi)
{
    __m256 c[12], w[8], a;
    int r, v, u, k = 0;
#pragma GCC unroll 12
    for (r = 0; r < R * V * U; r++)
        c[r] = _mm256_setzero_ps();
#pragma GCC unroll 8
    for (r = 0; r < R; r++)
#pragma GCC unroll 8
        for (v = 0; v < V; v++)
            c[r * V + v] = _mm256_loadu_ps(init + (size_t)r * ldi + 8 * v);
    if (U > 1)
        for (; k + U <= kc; k += U)
#pragma GCC unroll 8
            for (u = 0; u < U; u++) {
                const float *wk = W + (size_t)(k + u) * ldw;
#pragma GCC unroll 8
                for (v = 0; v < V; v++)
                    w[v] = _mm256_loadu_ps(wk + 8 * v);
#pragma GCC unroll 8
                for (r = 0; r < R; r++) {
                    a = _mm256_broadcast_ss(A + (size_t)r * lda + k + u);
#pragma GCC unroll 8
                    for (v = 0; v < V; v++)
                        c[(u * R + r) * V + v] = _mm256_fmadd_ps(a, w[v],
                                                                 c[(u * R + r) * V + v]);
                }
            }
    for (; k < kc; k++) {
        const float *wk = W + (size_t)k * ldw;
        if (ldw > 16 && k + 4 < kc)     /* W in place (not a packed block): its row
                                           4 further on, one prefetch per 64 bytes */
#pragma GCC unroll 8
            for (v = 0; v < V; v += 2)
                _mm_prefetch((const char *)(wk + 4 * (size_t)ldw + 8 * v), _MM_HINT_T0);
#pragma GCC unroll 8
        for (v = 0; v < V; v++)
            w[v] = _mm256_loadu_ps(wk + 8 * v);
#pragma GCC unroll 8
        for (r = 0; r < R; r++) {
            a = _mm256_broadcast_ss(A + (size_t)r * lda + k);
#pragma GCC unroll 8
            for (v = 0; v < V; v++)
                c[r * V + v] = _mm256_fmadd_ps(a, w[v], c[r * V + v]);
        }
    }
    fm2_fold(R * V, U, c);
#pragma GCC unroll 8
    for (r = 0; r < R; r++)
#pragma GCC unroll 8
        for (v = 0; v < V; v++)
            _mm256_storeu_ps(C + (size_t)r * ldc + 8 * v, c[r * V + v]);
}

typedef void (*fm2_tile_fn)(int, const float *, int, const float *, int, float *, int,
                            const float *, int);

#define FM2_TILE(R, V, U)                                                             \
FM2_TARGET static void fm2_tile_##R##x##V(int kc, const float *A, int lda,            \
                                          const float *W, int ldw, float *C, int ldc, \
                                          const float *init, int ldi)                 \
{                                                                                     \
    fm2_tile(R, V, U, kc, A, lda, W, ldw, C, ldc, init, ldi);                         \
}
FM2_TILE(1, 1, 8) FM2_TILE(2, 1, 4) FM2_TILE(3, 1, 2) FM2_TILE(4, 1, 2) FM2_TILE(5, 1, 1)
FM2_TILE(6, 1, 1)
FM2_TILE(1, 2, 4) FM2_TILE(2, 2, 2) FM2_TILE(3, 2, 1) FM2_TILE(4, 2, 1) FM2_TILE(5, 2, 1)
FM2_TILE(6, 2, 1)
FM2_TILE(1, 8, 1) FM2_TILE(2, 4, 1) FM2_TILE(3, 4, 1) FM2_TILE(4, 3, 1)

/* tiles by rows (1..6): 8 and 16 columns, and the widest that R rows allow */
static const fm2_tile_fn fm2_tiles8[7] = {0, fm2_tile_1x1, fm2_tile_2x1, fm2_tile_3x1,
                                          fm2_tile_4x1, fm2_tile_5x1, fm2_tile_6x1};
static const fm2_tile_fn fm2_tiles16[7] = {0, fm2_tile_1x2, fm2_tile_2x2, fm2_tile_3x2,
                                           fm2_tile_4x2, fm2_tile_5x2, fm2_tile_6x2};
static const fm2_tile_fn fm2_tiles_wide[7] = {0, fm2_tile_1x8, fm2_tile_2x4, fm2_tile_3x4,
                                              fm2_tile_4x3, fm2_tile_5x2, fm2_tile_6x2};
static const int fm2_wide_cols[7] = {0, 64, 32, 32, 24, 16, 16};

/* the sum of x's 8 lanes */
FM2_INLINE float fm2_hsum(__m256 x)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* The last n < 8 columns, every row: C[i, 0:n] := b[0:n] + A[i, :] · W[:, 0:n] as dot
 * products over k, the columns of W copied contiguous FM2_KC rows at a time (P) */
FM2_TARGET static void fm2_narrow(int M, int n, int K, const float *A, int lda,
                                  const float *W, int ldw, const float *b, float *C,
                                  int ldc)
{
    float P[7 * FM2_KC];
    int i, j, k, k0, kc;
    if (M <= 2) {           /* too few rows to repay the copy: W's columns in place,
                               two at a time */
        for (i = 0; i < M; i++)
            for (j = 0; j < n; j += 2) {
                const float *a = A + (size_t)i * lda, *w = W + j;
                float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
                float t0 = 0.0f, t1 = 0.0f, t2 = 0.0f, t3 = 0.0f;
                if (j + 1 == n) {       /* the last of an odd n */
                    for (k = 0; k + 4 <= K; k += 4) {
                        s0 = __builtin_fmaf(a[k], w[(size_t)k * ldw], s0);
                        s1 = __builtin_fmaf(a[k + 1], w[(size_t)(k + 1) * ldw], s1);
                        s2 = __builtin_fmaf(a[k + 2], w[(size_t)(k + 2) * ldw], s2);
                        s3 = __builtin_fmaf(a[k + 3], w[(size_t)(k + 3) * ldw], s3);
                    }
                    for (; k < K; k++)
                        s0 = __builtin_fmaf(a[k], w[(size_t)k * ldw], s0);
                    C[(size_t)i * ldc + j] = b[j] + ((s0 + s1) + (s2 + s3));
                    break;
                }
                for (k = 0; k + 4 <= K; k += 4) {
                    const float *w0 = w + (size_t)k * ldw, *w1 = w0 + ldw, *w2 = w1 + ldw,
                                *w3 = w2 + ldw;
                    s0 = __builtin_fmaf(a[k], w0[0], s0);
                    t0 = __builtin_fmaf(a[k], w0[1], t0);
                    s1 = __builtin_fmaf(a[k + 1], w1[0], s1);
                    t1 = __builtin_fmaf(a[k + 1], w1[1], t1);
                    s2 = __builtin_fmaf(a[k + 2], w2[0], s2);
                    t2 = __builtin_fmaf(a[k + 2], w2[1], t2);
                    s3 = __builtin_fmaf(a[k + 3], w3[0], s3);
                    t3 = __builtin_fmaf(a[k + 3], w3[1], t3);
                }
                for (; k < K; k++) {
                    s0 = __builtin_fmaf(a[k], w[(size_t)k * ldw], s0);
                    t0 = __builtin_fmaf(a[k], w[(size_t)k * ldw + 1], t0);
                }
                C[(size_t)i * ldc + j] = b[j] + ((s0 + s1) + (s2 + s3));
                C[(size_t)i * ldc + j + 1] = b[j + 1] + ((t0 + t1) + (t2 + t3));
            }
        return;
    }
    for (k0 = 0; k0 < K; k0 += FM2_KC) {
        kc = K - k0 < FM2_KC ? K - k0 : FM2_KC;
        for (k = 0; k < kc; k++)
            for (j = 0; j < n; j++)
                P[j * kc + k] = W[(size_t)(k0 + k) * ldw + j];
        for (i = 0; i < M; i++) {
            const float *a = A + (size_t)i * lda + k0;
            float *c = C + (size_t)i * ldc;
            for (j = 0; j < n; j++) {
                const float *p = P + j * kc;
                __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
                float s;
                for (k = 0; k + 32 <= kc; k += 32) {
                    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(p + k), s0);
                    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 8),
                                         _mm256_loadu_ps(p + k + 8), s1);
                    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 16),
                                         _mm256_loadu_ps(p + k + 16), s2);
                    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 24),
                                         _mm256_loadu_ps(p + k + 24), s3);
                }
                for (; k + 8 <= kc; k += 8)
                    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(p + k), s0);
                s = fm2_hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
                for (; k < kc; k++)
                    s += a[k] * p[k];
                c[j] = (k0 == 0 ? b[j] : c[j]) + s;
            }
        }
    }
}

/* y[0:n] += x[0:4] · w[0:4 rows, 0:n] (rows ldw apart), n a multiple of 8; with pf,
 * the 4 rows at p are prefetched */
FM2_INLINE void fm2_gemv4(const int pf, int n, const float *x, const float *w0, int ldw,
                          const float *p, float *y)
{
    const float *w1 = w0 + ldw, *w2 = w1 + ldw, *w3 = w2 + ldw;
    __m256 a0 = _mm256_broadcast_ss(x), a1 = _mm256_broadcast_ss(x + 1),
           a2 = _mm256_broadcast_ss(x + 2), a3 = _mm256_broadcast_ss(x + 3), s, t;
    int j = 0;
    if (pf)
        for (; j + 16 <= n; j += 16) {
            __m256 s2, t2;
            _mm_prefetch((const char *)(p + j), _MM_HINT_T0);
            _mm_prefetch((const char *)(p + ldw + j), _MM_HINT_T0);
            _mm_prefetch((const char *)(p + 2 * (size_t)ldw + j), _MM_HINT_T0);
            _mm_prefetch((const char *)(p + 3 * (size_t)ldw + j), _MM_HINT_T0);
            s = _mm256_fmadd_ps(a0, _mm256_loadu_ps(w0 + j), _mm256_loadu_ps(y + j));
            t = _mm256_mul_ps(a1, _mm256_loadu_ps(w1 + j));
            s2 = _mm256_fmadd_ps(a0, _mm256_loadu_ps(w0 + j + 8), _mm256_loadu_ps(y + j + 8));
            t2 = _mm256_mul_ps(a1, _mm256_loadu_ps(w1 + j + 8));
            s = _mm256_fmadd_ps(a2, _mm256_loadu_ps(w2 + j), s);
            t = _mm256_fmadd_ps(a3, _mm256_loadu_ps(w3 + j), t);
            s2 = _mm256_fmadd_ps(a2, _mm256_loadu_ps(w2 + j + 8), s2);
            t2 = _mm256_fmadd_ps(a3, _mm256_loadu_ps(w3 + j + 8), t2);
            _mm256_storeu_ps(y + j, _mm256_add_ps(s, t));
            _mm256_storeu_ps(y + j + 8, _mm256_add_ps(s2, t2));
        }
    for (; j < n; j += 8) {
        s = _mm256_fmadd_ps(a0, _mm256_loadu_ps(w0 + j), _mm256_loadu_ps(y + j));
        t = _mm256_mul_ps(a1, _mm256_loadu_ps(w1 + j));
        s = _mm256_fmadd_ps(a2, _mm256_loadu_ps(w2 + j), s);
        t = _mm256_fmadd_ps(a3, _mm256_loadu_ps(w3 + j), t);
        _mm256_storeu_ps(y + j, _mm256_add_ps(s, t));
    }
}

/* y[0:n] := b[0:n] + x · W[:, 0:n], n a multiple of 8 (at most FM2_GEMV_NB), summed
 * in y: fm2_gemv's work on one block of columns.  With far, the rows 8 further on are
 * prefetched. */
FM2_INLINE void fm2_gemv_block(int far, int n, int K, const float *x, const float *W,
                               int ldw, const float *b, float *y)
{
    int j, k = 0;
    for (j = 0; j < n; j += 8)
        _mm256_storeu_ps(y + j, _mm256_loadu_ps(b + j));
    if (far)
        for (; k + 12 <= K; k += 4)
            fm2_gemv4(1, n, x + k, W + (size_t)k * ldw, ldw, W + (size_t)(k + 8) * ldw, y);
    for (; k + 4 <= K; k += 4)
        fm2_gemv4(0, n, x + k, W + (size_t)k * ldw, ldw, W, y);
    for (; k < K; k++) {
        const float *w = W + (size_t)k * ldw;
        __m256 a = _mm256_broadcast_ss(x + k);
        for (j = 0; j < n; j += 8)
            _mm256_storeu_ps(y + j, _mm256_fmadd_ps(a, _mm256_loadu_ps(w + j),
                                                    _mm256_loadu_ps(y + j)));
    }
}

/* y[0:n] := b[0:n] + x · W[:, 0:n], n a multiple of 8: one row.  The sums stay in L1
 * while W streams past, 4 of its rows at a time (4 sequential reads; wider tiles of
 * accumulators, reading W in short pieces of many rows, were slower here).  They are
 * kept in a local array, FM2_GEMV_NB columns at a time, and y is written once: summed
 * in y itself, a y whose first or last cache line another thread's columns share (a
 * one-row pass cut into column blocks, _parallel_forward.pxi) bounced between the two
 * cores on every 4 rows of W (784×128 in two blocks of 64 columns, with one helper:
 * 5.5 µs, against 3.9 µs alone and 2.2 µs with the local sums; Zen 4 running this
 * code).  A W too big for L2 has the rows 8 further on prefetched (a 784×128 piece
 * of a 784×512 W: 9.3 -> 6.5 µs on Zen 3); the prefetches slow a W in L1 or L2
 * (50×256: 0.51 -> 0.70 µs), so smaller ones go without. */
FM2_TARGET static void fm2_gemv(int n, int K, const float *x, const float *W, int ldw,
                                const float *b, float *y)
{
    float acc[FM2_GEMV_NB] __attribute__((aligned(32)));
    int j0, j, m, far = (size_t)K * n >= 96 * 1024;    /* 384 KB of floats */
    for (j0 = 0; j0 < n; j0 += FM2_GEMV_NB) {
        m = n - j0 < FM2_GEMV_NB ? n - j0 : FM2_GEMV_NB;
        fm2_gemv_block(far, m, K, x, W + j0, ldw, b + j0, acc);
        for (j = 0; j < m; j += 8)
            _mm256_storeu_ps(y + j0 + j, _mm256_load_ps(acc + j));
    }
}

/* rows [0, r) (r <= 6), every column, W read in place: the widest tile, then 16- and
 * 8-column tiles, then the last n < 8 columns (fm2_narrow if N < 8) */
FM2_TARGET static void fm2_rows_in_place(int r, int N, int K, const float *A, int lda,
                                         const float *W, int ldw, const float *b,
                                         float *C, int ldc)
{
    float T[6 * 8];
    int wide = fm2_wide_cols[r], j = 0, i, c;
    for (; j + wide <= N; j += wide)
        fm2_tiles_wide[r](K, A, lda, W + j, ldw, C + j, ldc, b + j, 0);
    for (; j + 16 <= N; j += 16)
        fm2_tiles16[r](K, A, lda, W + j, ldw, C + j, ldc, b + j, 0);
    for (; j + 8 <= N; j += 8)
        fm2_tiles8[r](K, A, lda, W + j, ldw, C + j, ldc, b + j, 0);
    if (j == N)
        return;
    if (N < 8) {
        fm2_narrow(r, N, K, A, lda, W, ldw, b, C, ldc);
        return;
    }
    /* the last n < 8 columns: the tile of columns [N - 8, N) (inside every row of W
     * and b) into T, its last n columns copied to C */
    fm2_tiles8[r](K, A, lda, W + N - 8, ldw, T, 8, b + N - 8, 0);
    for (i = 0; i < r; i++)
        for (c = j; c < N; c++)
            C[(size_t)i * ldc + c] = T[8 * i + c - (N - 8)];
}

/* W[0:kc, 0:n] (n a multiple of 8, at most FM2_NC) copied into panels of 16 columns
 * (the last one 8 if n = 8 mod 16): panel p at P + 16·kc·p, its rows 16 (or 8) floats
 * apart.  Each row of W is read in one run of n floats: runs of 16, where W's rows do
 * not start on a cache line, read every line twice (once for each of two panels, the
 * line long gone from L1 in between): 784×512 with 16 rows, 183 -> 209 µs; in runs
 * of 32 columns, 188 µs (Zen 3; 64 columns were no faster). */
FM2_TARGET static void fm2_pack(int kc, const float *W, int ldw, int n, float *P)
{
    int k, c, last = n - n % 16;    /* columns [last, n): an 8-column panel */
    for (k = 0; k < kc; k++) {
        const float *w = W + (size_t)k * ldw;
        if (k + 8 < kc)
            for (c = 0; c < n; c += 16)
                _mm_prefetch((const char *)(w + 8 * (size_t)ldw + c), _MM_HINT_T0);
        for (c = 0; c < last; c += 16) {
            float *p = P + (size_t)kc * c + 16 * (size_t)k;
            _mm256_store_ps(p, _mm256_loadu_ps(w + c));
            _mm256_store_ps(p + 8, _mm256_loadu_ps(w + c + 8));
        }
        if (last < n)
            _mm256_store_ps(P + (size_t)kc * last + 8 * (size_t)k, _mm256_loadu_ps(w + last));
    }
}

/* C := A · W + b with AVX2 and FMA; M, N, K >= 1 */
FM2_TARGET static void fm2_sgemm_bias(int M, int N, int K, const float *A, int lda,
                                      const float *W, int ldw, const float *b, float *C,
                                      int ldc)
{
    float *P, *Q;
    const float *a0;
    int i0, i, r, g, m, j0, j, n, width, k0, kc, lda0, copy_a, N8 = N - N % 8;
    if (M == 1 && N >= 64) {
        fm2_gemv(N8, K, A, W, ldw, b, C);
        if (N8 < N)
            fm2_narrow(1, N - N8, K, A, lda, W + N8, ldw, b + N8, C + N8, ldc);
        return;
    }
    P = NULL;
    if (!(M <= 6 || (N >= 64 && (M <= FM2_SMALL_M
                                 || (M <= FM2_SMALL_M_L2 && (size_t)K * N <= FM2_L2_FLOATS)))))
        P = (float *)aligned_alloc(64, sizeof(float) * FM2_BUFFER);
    if (!P) {
        /* groups of at most 6 rows, as even as can be, each reading all of W (also
           where the buffer could not be had) */
        g = (M + 5) / 6;
        for (i = 0; i < M; i += r) {
            r = (M - i + g - 1) / g;
            g--;
            fm2_rows_in_place(r, N, K, A + (size_t)i * lda, lda, W, ldw, b,
                              C + (size_t)i * ldc, ldc);
        }
        return;
    }
    Q = P + FM2_KC * FM2_NC;
    /* A's block is copied where rows 4 KB apart would share L1 sets, or where enough
       panels of W reuse it to repay the copy (bench/predict.py, 64 rows through
       784-512-256-10, whose columns the threads take 64 at a time: 0.957x ONNX
       Runtime copying always, 1.088x with this rule; one run each) */
    copy_a = lda % 1024 == 0 || N8 >= 2 * FM2_NC;
    for (i0 = 0; i0 < M; i0 += FM2_MC) {
        m = M - i0 < FM2_MC ? M - i0 : FM2_MC;
        for (k0 = 0; k0 < K; k0 += FM2_KC) {
            kc = K - k0 < FM2_KC ? K - k0 : FM2_KC;
            a0 = A + (size_t)i0 * lda + k0;
            lda0 = lda;
            if (copy_a) {
                for (i = 0; i < m; i++)
                    memcpy(Q + (size_t)i * FM2_LDQ, a0 + (size_t)i * lda, sizeof(float) * kc);
                a0 = Q;
                lda0 = FM2_LDQ;
            }
            for (j0 = 0; j0 < N8; j0 += FM2_NC) {
                n = N8 - j0 < FM2_NC ? N8 - j0 : FM2_NC;
                fm2_pack(kc, W + (size_t)k0 * ldw + j0, ldw, n, P);
                for (j = j0; j < j0 + n; j += width) {
                    const float *p = P + (size_t)kc * (j - j0);
                    width = j0 + n - j >= 16 ? 16 : 8;
                    for (i = i0; i < i0 + m; i += r) {
                        float *c = C + (size_t)i * ldc + j;
                        r = i0 + m - i < 6 ? i0 + m - i : 6;
                        (width == 16 ? fm2_tiles16 : fm2_tiles8)[r](
                            kc, a0 + (size_t)(i - i0) * lda0, lda0, p, width, c, ldc,
                            k0 == 0 ? b + j : c, k0 == 0 ? 0 : ldc);
                    }
                }
            }
        }
        if (N8 < N)
            fm2_narrow(m, N - N8, K, A + (size_t)i0 * lda, lda, W + N8, ldw, b + N8,
                       C + (size_t)i0 * ldc + N8, ldc);
    }
    free(P);
}

#endif
