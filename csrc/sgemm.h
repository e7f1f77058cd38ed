/* fastmlp's own float32 GEMM for the forward pass, on CPUs with AVX-512 (or AVX2):
 *
 *     C(M×N) := A(M×K) · W(K×N) + b      (row-major, any leading dimensions)
 *
 * Why not the BLAS: a forward pass multiplies a modest batch by a weight matrix that
 * the next call will read again.  OpenBLAS packs all of W into its own layout on every
 * call, and its small-M kernels are slow (a 64×784 by 784×512 product ran at about 1.4×
 * the time below).  Here every tile of up to 6 rows streams one 64-column panel of W
 * (K rows × 256 bytes) past its accumulators.  A small W (up to FM_INPLACE_W floats,
 * 1 MB) is read in place, as is any W for up to FM_SMALL_M rows.  A larger one, or one
 * whose rows are a multiple of 4 KB apart (every row in the same L1 sets), is read in
 * place by the panel's first tile only, which copies each block of FM_KC rows (32 KB)
 * as it goes; the panel's other tiles read that copy from L1.  A copy in a pass of its
 * own (as the BLAS packs) cost more than it saved on a Zen 4 (one thread, 64×784 by
 * 784×512: 483 µs packed in blocks of 392 rows, 457 µs in place), but reading in place
 * was slow on an Intel Xeon (Emerald Rapids, one thread, in place / copied by the first
 * tile: 64×784 by 784×512 1.26, 128 rows 1.45, 32 rows 1.21; 64×1024 by 1024×1024
 * 1.94, 128×1024 by 1024×4096 1.83; 64×512 by 512×256 in place 2-10% faster).  For K >
 * FM_INPLACE_K, blocks of W are copied in a pass of their own before the rows use them
 * (128×4096 by 4096×4096, Zen 4: 43.7 ms, 50.8 ms in place).  A is taken FM_MC rows at
 * a time, which stay in L2 while every panel of W passes.  The bias is the
 * accumulators' starting value, and a ReLU (relu) is applied to them as they are
 * stored the last time (max(c, 0): NaN and -0 become +0, as _act_row's ReLU does).
 *
 * The micro-kernel: up to 6 rows × 64 columns of C in 24 zmm registers; per k, one row
 * of the panel (4 loads), 6 broadcasts of A and 24 FMAs.  Whole panels load without a
 * mask (masked loads cost 9%: 538 vs 493 µs above, packed); the last panel's columns
 * (N not a multiple of 64) are masked.
 *
 * CPUs with AVX2 and FMA but no AVX-512 run sgemm_avx2.h instead (fm_sgemm_bias picks
 * at run time; fm_sgemm_isa() says which, and fm_sgemm_use_isa(2) makes an AVX-512 CPU
 * run the AVX2 code, for tests and benchmarks).  fm_sgemm_ok() says whether the CPU
 * runs either; where it does not (or the compiler is not GCC/Clang on x86-64), the
 * callers use the BLAS.  The weight-gradient GEMM has the same two codes (sgemm_tn.h,
 * sgemm_tn_avx2.h; fm_sgemm_tn).
 */
#ifndef FASTMLP_SGEMM_H
#define FASTMLP_SGEMM_H

#include <stddef.h>

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define FM_HAVE_SGEMM 1
#include <immintrin.h>

#define FM_NR 64          /* columns per panel: 4 zmm */
#define FM_MR 6           /* rows per micro-kernel call */
#define FM_KC 128         /* rows of a packed W block: 128 × 64 floats = 32 KB */
#define FM_INPLACE_W 262144 /* W of up to this many floats (1 MB): read in place */
#define FM_SMALL_M 8      /* ... and for up to this many rows of A, any W */
#define FM_INPLACE_K 2048 /* W of more rows: blocks packed in a pass of their own */
#define FM_MC 240         /* rows per block of A (a multiple of FM_MR) */

#define FM_TARGET __attribute__((target("avx512f,fma")))

#define FM_DECL(r) __m512 c##r##0, c##r##1, c##r##2, c##r##3;
#define FM_INIT(r)                                                                \
    if (first) {                                                                  \
        c##r##0 = _mm512_maskz_loadu_ps(m0, b);                                   \
        c##r##1 = _mm512_maskz_loadu_ps(m1, b + 16);                              \
        c##r##2 = _mm512_maskz_loadu_ps(m2, b + 32);                              \
        c##r##3 = _mm512_maskz_loadu_ps(m3, b + 48);                              \
    } else {                                                                      \
        const float *cr = C + (size_t)(r) * ldc;                                  \
        c##r##0 = _mm512_maskz_loadu_ps(m0, cr);                                  \
        c##r##1 = _mm512_maskz_loadu_ps(m1, cr + 16);                             \
        c##r##2 = _mm512_maskz_loadu_ps(m2, cr + 32);                             \
        c##r##3 = _mm512_maskz_loadu_ps(m3, cr + 48);                             \
    }
#define FM_FMA(r) {                                                               \
        __m512 a = _mm512_set1_ps(A[(size_t)(r) * lda + k]);                      \
        c##r##0 = _mm512_fmadd_ps(a, w0, c##r##0);                                \
        c##r##1 = _mm512_fmadd_ps(a, w1, c##r##1);                                \
        c##r##2 = _mm512_fmadd_ps(a, w2, c##r##2);                                \
        c##r##3 = _mm512_fmadd_ps(a, w3, c##r##3); }
#define FM_STORE(r) {                                                             \
        float *cr = C + (size_t)(r) * ldc;                                        \
        if (relu) {                                                               \
            c##r##0 = _mm512_max_ps(c##r##0, zero);                               \
            c##r##1 = _mm512_max_ps(c##r##1, zero);                               \
            c##r##2 = _mm512_max_ps(c##r##2, zero);                               \
            c##r##3 = _mm512_max_ps(c##r##3, zero);                               \
        }                                                                         \
        _mm512_mask_storeu_ps(cr, m0, c##r##0);                                   \
        _mm512_mask_storeu_ps(cr + 16, m1, c##r##1);                              \
        _mm512_mask_storeu_ps(cr + 32, m2, c##r##2);                              \
        _mm512_mask_storeu_ps(cr + 48, m3, c##r##3); }
/* masked loads: W's last panel may end before 64 columns (and before the buffer) */
#define FM_LOADW_MASKED                                                           \
        const float *w = W + (size_t)k * ldw;                                     \
        __m512 w0 = _mm512_maskz_loadu_ps(m0, w);                                 \
        __m512 w1 = _mm512_maskz_loadu_ps(m1, w + 16);                            \
        __m512 w2 = _mm512_maskz_loadu_ps(m2, w + 32);                            \
        __m512 w3 = _mm512_maskz_loadu_ps(m3, w + 48);
/* a whole panel: plain loads */
#define FM_LOADW_FULL                                                             \
        const float *w = W + (size_t)k * ldw;                                     \
        __m512 w0 = _mm512_loadu_ps(w);                                           \
        __m512 w1 = _mm512_loadu_ps(w + 16);                                      \
        __m512 w2 = _mm512_loadu_ps(w + 32);                                      \
        __m512 w3 = _mm512_loadu_ps(w + 48);

/* the same, and the row of W just read copied to P (whole 64-float rows, zeros past
 * the panel's columns): the first tile of a panel packs it for the others */
#define FM_LOADW_PACKING                                                          \
        FM_LOADW_MASKED                                                           \
        float *p = P + (size_t)FM_NR * k;                                         \
        _mm512_store_ps(p, w0);                                                   \
        _mm512_store_ps(p + 16, w1);                                              \
        _mm512_store_ps(p + 32, w2);                                              \
        _mm512_store_ps(p + 48, w3);

#define FM_TILE(NAME, LOADW, DECLS, INITS, FMAS, STORES)                          \
FM_TARGET static void NAME(int kc, const float *A, int lda, const float *W, int ldw, \
                           float *C, int ldc, int first, int relu, const float *b,  \
                           float *P, __mmask16 m0, __mmask16 m1, __mmask16 m2,    \
                           __mmask16 m3)                                          \
{                                                                                 \
    const __m512 zero = _mm512_setzero_ps();                                      \
    (void)P;                                                                      \
    int k;                                                                        \
    DECLS                                                                         \
    INITS                                                                         \
    for (k = 0; k < kc; k++) {                                                    \
        LOADW                                                                     \
        FMAS                                                                      \
    }                                                                             \
    STORES                                                                        \
}

/* the tiles of r = 1 .. 6 rows, with either kind of load */
#define FM_TILES(PREFIX, LOADW)                                                   \
FM_TILE(PREFIX##1, LOADW, FM_DECL(0), FM_INIT(0), FM_FMA(0), FM_STORE(0))          \
FM_TILE(PREFIX##2, LOADW, FM_DECL(0) FM_DECL(1), FM_INIT(0) FM_INIT(1),            \
        FM_FMA(0) FM_FMA(1), FM_STORE(0) FM_STORE(1))                             \
FM_TILE(PREFIX##3, LOADW, FM_DECL(0) FM_DECL(1) FM_DECL(2),                        \
        FM_INIT(0) FM_INIT(1) FM_INIT(2), FM_FMA(0) FM_FMA(1) FM_FMA(2),           \
        FM_STORE(0) FM_STORE(1) FM_STORE(2))                                      \
FM_TILE(PREFIX##4, LOADW, FM_DECL(0) FM_DECL(1) FM_DECL(2) FM_DECL(3),             \
        FM_INIT(0) FM_INIT(1) FM_INIT(2) FM_INIT(3),                              \
        FM_FMA(0) FM_FMA(1) FM_FMA(2) FM_FMA(3),                                  \
        FM_STORE(0) FM_STORE(1) FM_STORE(2) FM_STORE(3))                          \
FM_TILE(PREFIX##5, LOADW, FM_DECL(0) FM_DECL(1) FM_DECL(2) FM_DECL(3) FM_DECL(4),  \
        FM_INIT(0) FM_INIT(1) FM_INIT(2) FM_INIT(3) FM_INIT(4),                   \
        FM_FMA(0) FM_FMA(1) FM_FMA(2) FM_FMA(3) FM_FMA(4),                        \
        FM_STORE(0) FM_STORE(1) FM_STORE(2) FM_STORE(3) FM_STORE(4))              \
FM_TILE6(PREFIX##6, LOADW)
#define FM_TILE6(NAME, LOADW)                                                     \
FM_TILE(NAME, LOADW,                                                              \
        FM_DECL(0) FM_DECL(1) FM_DECL(2) FM_DECL(3) FM_DECL(4) FM_DECL(5),         \
        FM_INIT(0) FM_INIT(1) FM_INIT(2) FM_INIT(3) FM_INIT(4) FM_INIT(5),         \
        FM_FMA(0) FM_FMA(1) FM_FMA(2) FM_FMA(3) FM_FMA(4) FM_FMA(5),               \
        FM_STORE(0) FM_STORE(1) FM_STORE(2) FM_STORE(3) FM_STORE(4) FM_STORE(5))

/* C[0:r, 0:64] := (first ? b : C) + A[0:r, 0:kc] · W[0:kc, 0:64], then with relu
 * max(C, 0) (the last block of k): fm_tile<r> for the last panel (masked), fm_full<r>
 * for whole ones; fm_packing6 (6 rows, masked) also copies W's rows to P */
FM_TILES(fm_tile, FM_LOADW_MASKED)
FM_TILES(fm_full, FM_LOADW_FULL)
FM_TILE6(fm_packing6, FM_LOADW_PACKING)

typedef void (*fm_tile_fn)(int, const float *, int, const float *, int, float *, int, int,
                           int, const float *, float *, __mmask16, __mmask16, __mmask16,
                           __mmask16);

static inline __mmask16 fm_mask(int n)     /* the first n of 16 lanes, n clipped */
{
    return n >= 16 ? (__mmask16)0xffff : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

/* rows [0, M) of n <= 64 columns of C, over the k range of W (already offset); whole:
 * every row of W has 64 columns to read (a packed block, or n = 64) */
FM_TARGET static void fm_panel_rows(int M, int kc, const float *A, int lda, const float *W,
                                    int ldw, float *C, int ldc, int first, int relu,
                                    const float *b, int n, int whole)
{
    static const fm_tile_fn masked[FM_MR + 1] = {0, fm_tile1, fm_tile2, fm_tile3,
                                                 fm_tile4, fm_tile5, fm_tile6};
    static const fm_tile_fn full[FM_MR + 1] = {0, fm_full1, fm_full2, fm_full3, fm_full4,
                                               fm_full5, fm_full6};
    const fm_tile_fn *tiles = whole ? full : masked;
    __mmask16 m0 = fm_mask(n), m1 = fm_mask(n - 16), m2 = fm_mask(n - 32),
              m3 = fm_mask(n - 48);
    int i, r;
    for (i = 0; i < M; i += r) {
        r = M - i < FM_MR ? M - i : FM_MR;
        tiles[r](kc, A + (size_t)i * lda, lda, W, ldw, C + (size_t)i * ldc, ldc, first,
                 relu, b, NULL, m0, m1, m2, m3);
    }
}

/* fm_panel_rows(M, kc, ...) for M > FM_MR, W read in place by the first tile only,
 * which copies its kc rows to P (kc × 64 floats, 64-byte aligned); the other tiles
 * read that copy */
FM_TARGET static void fm_panel_rows_packing(int M, int kc, const float *A, int lda,
                                            const float *W, int ldw, float *P, float *C,
                                            int ldc, int first, int relu, const float *b,
                                            int n)
{
    __mmask16 m0 = fm_mask(n), m1 = fm_mask(n - 16), m2 = fm_mask(n - 32),
              m3 = fm_mask(n - 48);
    fm_packing6(kc, A, lda, W, ldw, C, ldc, first, relu, b, P, m0, m1, m2, m3);
    fm_panel_rows(M - FM_MR, kc, A + (size_t)FM_MR * lda, lda, P, FM_NR,
                  C + (size_t)FM_MR * ldc, ldc, first, relu, b, n, 1);
}

/* P[k, 0:64] := W[k, 0:n] and zeros, for k < kc (a whole panel from then on) */
FM_TARGET static void fm_pack(int kc, const float *W, int ldw, int n, float *P)
{
    __mmask16 m0 = fm_mask(n), m1 = fm_mask(n - 16), m2 = fm_mask(n - 32),
              m3 = fm_mask(n - 48);
    int k;
    for (k = 0; k < kc; k++) {
        const float *w = W + (size_t)k * ldw;
        float *p = P + (size_t)FM_NR * k;
        _mm512_store_ps(p, _mm512_maskz_loadu_ps(m0, w));
        _mm512_store_ps(p + 16, _mm512_maskz_loadu_ps(m1, w + 16));
        _mm512_store_ps(p + 32, _mm512_maskz_loadu_ps(m2, w + 32));
        _mm512_store_ps(p + 48, _mm512_maskz_loadu_ps(m3, w + 48));
    }
}

#define FM_16(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) \
                 X(12) X(13) X(14) X(15)
#define FM_GV_DECL(v) __m512 g##v = _mm512_loadu_ps(b + 16 * (v));
#define FM_GV_FMA(v) g##v = _mm512_fmadd_ps(a, _mm512_loadu_ps(w + 16 * (v)), g##v);
#define FM_GV_RELU(v) g##v = _mm512_max_ps(g##v, _mm512_setzero_ps());
#define FM_GV_STORE(v) _mm512_storeu_ps(y + 16 * (v), g##v);

/* y[0:256] := b[0:256] + x · W[:, 0:256], then with relu max(y, 0): one row, 1 KB of
 * every row of W in turn */
FM_TARGET static void fm_gemv256(int K, const float *x, const float *W, int ldw,
                                 const float *b, float *y, int relu)
{
    int k;
    FM_16(FM_GV_DECL)
    for (k = 0; k < K; k++) {
        const float *w = W + (size_t)k * ldw;
        __m512 a = _mm512_set1_ps(x[k]);
        FM_16(FM_GV_FMA)
    }
    if (relu) {
        FM_16(FM_GV_RELU)
    }
    FM_16(FM_GV_STORE)
}

/* y[0:N] := (b ? b[0:N] : 0) + x[0:K] · W[0:K, 0:N]: one row through a block of W's
 * rows (the caller adds the blocks' sums, fm_add_rows), each row of W read whole, 4
 * at a time: 4 sequential streams, which the prefetchers keep ahead of.  Read in
 * pieces of 256 or 128 columns (a block of columns), rows 2 KB apart ran at 80-107
 * GB/s, whole at 122-135 (Emerald Rapids, one thread, 800 KB of W in L2).  y: the
 * caller's, 64-byte aligned, in L1 throughout.  Only the last N mod 16 columns take
 * masked loads (every vector masked: 5-8% slower, 196 rows of 10 to 512 columns). */
FM_TARGET static void fm_gemv_rows(int K, int N, const float *x, const float *W, int ldw,
                                   const float *b, float *y)
{
    int j, k = 0, N16 = N - N % 16;
    __mmask16 mt = fm_mask(N - N16);
    for (j = 0; j < N16; j += 16)
        _mm512_store_ps(y + j, b ? _mm512_loadu_ps(b + j) : _mm512_setzero_ps());
    if (mt)
        _mm512_mask_store_ps(y + N16, mt, b ? _mm512_maskz_loadu_ps(mt, b + N16)
                                            : _mm512_setzero_ps());
    for (; k + 4 <= K; k += 4) {
        const float *w = W + (size_t)k * ldw;
        __m512 a0 = _mm512_set1_ps(x[k]), a1 = _mm512_set1_ps(x[k + 1]),
               a2 = _mm512_set1_ps(x[k + 2]), a3 = _mm512_set1_ps(x[k + 3]), t, u;
        for (j = 0; j < N16; j += 16) {
            t = _mm512_fmadd_ps(a0, _mm512_loadu_ps(w + j), _mm512_load_ps(y + j));
            u = _mm512_mul_ps(a1, _mm512_loadu_ps(w + ldw + j));
            t = _mm512_fmadd_ps(a2, _mm512_loadu_ps(w + 2 * (size_t)ldw + j), t);
            u = _mm512_fmadd_ps(a3, _mm512_loadu_ps(w + 3 * (size_t)ldw + j), u);
            _mm512_store_ps(y + j, _mm512_add_ps(t, u));
        }
        if (mt) {
            t = _mm512_fmadd_ps(a0, _mm512_maskz_loadu_ps(mt, w + j),
                                _mm512_maskz_load_ps(mt, y + j));
            u = _mm512_mul_ps(a1, _mm512_maskz_loadu_ps(mt, w + ldw + j));
            t = _mm512_fmadd_ps(a2, _mm512_maskz_loadu_ps(mt, w + 2 * (size_t)ldw + j), t);
            u = _mm512_fmadd_ps(a3, _mm512_maskz_loadu_ps(mt, w + 3 * (size_t)ldw + j), u);
            _mm512_mask_store_ps(y + j, mt, _mm512_add_ps(t, u));
        }
    }
    for (; k < K; k++) {
        const float *w = W + (size_t)k * ldw;
        __m512 a = _mm512_set1_ps(x[k]);
        for (j = 0; j < N16; j += 16)
            _mm512_store_ps(y + j, _mm512_fmadd_ps(a, _mm512_loadu_ps(w + j),
                                                   _mm512_load_ps(y + j)));
        if (mt)
            _mm512_mask_store_ps(y + j, mt, _mm512_fmadd_ps(a, _mm512_maskz_loadu_ps(mt, w + j),
                                                            _mm512_maskz_load_ps(mt, y + j)));
    }
}

/* z[0:N] := Y[0][0:N] + Y[1][0:N] + ... + Y[n-1][0:N], the rows of Y ldy floats apart
 * (64-byte aligned), added in that order */
FM_TARGET static void fm_add_rows(int n, int N, const float *Y, int ldy, float *z)
{
    int j, i;
    __m512 s;
    __mmask16 m;
    for (j = 0; j < N; j += 16) {
        m = fm_mask(N - j);
        s = _mm512_maskz_load_ps(m, Y + j);
        for (i = 1; i < n; i++)
            s = _mm512_add_ps(s, _mm512_maskz_load_ps(m, Y + (size_t)i * ldy + j));
        _mm512_mask_storeu_ps(z + j, m, s);
    }
}

/* C := A · W + b, then with relu C := max(C, 0) (see the top of this file); M, N,
 * K >= 1 */
FM_TARGET static void fm_sgemm_bias512(int M, int N, int K, const float *A, int lda,
                                       const float *W, int ldw, const float *b, float *C,
                                       int ldc, int relu)
{
    float P[FM_KC * FM_NR] __attribute__((aligned(64)));
    int i0, m, j, k0, kc, n, in_place, last;
    if (M > FM_MC) {        /* row blocks that stay in L2 while every panel uses them */
        for (i0 = 0; i0 < M; i0 += FM_MC) {
            m = M - i0 < FM_MC ? M - i0 : FM_MC;
            fm_sgemm_bias512(m, N, K, A + (size_t)i0 * lda, lda, W, ldw, b,
                             C + (size_t)i0 * ldc, ldc, relu);
        }
        return;
    }
    j = 0;
    if (M == 1)             /* one row: wide panels, each row of W read 1 KB at a time */
        for (; j + 4 * FM_NR <= N; j += 4 * FM_NR)
            fm_gemv256(K, A, W + j, ldw, b + j, C + j, relu);
    in_place = M <= FM_SMALL_M || (K <= FM_INPLACE_K && (size_t)K * ldw <= FM_INPLACE_W
                                    && ldw % 1024 != 0);
    for (; j < N; j += FM_NR) {
        n = N - j < FM_NR ? N - j : FM_NR;
        if (in_place) {
            fm_panel_rows(M, K, A, lda, W + j, ldw, C + j, ldc, 1, relu, b + j, n,
                          n == FM_NR);
            continue;
        }
        for (k0 = 0; k0 < K; k0 += FM_KC) {
            kc = K - k0 < FM_KC ? K - k0 : FM_KC;
            last = relu && k0 + kc == K;
            if (K <= FM_INPLACE_K) {
                fm_panel_rows_packing(M, kc, A + k0, lda, W + (size_t)k0 * ldw + j, ldw,
                                      P, C + j, ldc, k0 == 0, last, b + j, n);
                continue;
            }
            fm_pack(kc, W + (size_t)k0 * ldw + j, ldw, n, P);
            fm_panel_rows(M, kc, A + k0, lda, P, FM_NR, C + j, ldc, k0 == 0, last, b + j,
                          n, 1);
        }
    }
}

#include "sgemm_tn.h"
#include "sgemm_avx2.h"
#include "sgemm_tn_avx2.h"

/* which code this CPU runs: 512 (AVX-512F and FMA), 2 (AVX2 and FMA, sgemm_avx2.h) or
 * 0 (neither: the callers use the BLAS) */
static int fm_sgemm_cpu_isa(void)
{
    static int isa = -1;
    if (isa < 0) {
        __builtin_cpu_init();
        isa = !__builtin_cpu_supports("fma") ? 0
              : __builtin_cpu_supports("avx512f") ? 512
              : __builtin_cpu_supports("avx2") ? 2 : 0;
    }
    return isa;
}

/* the code the own GEMMs run: the CPU's, or AVX2 on an AVX-512 CPU after
 * fm_sgemm_use_isa(2) (tests and benchmarks: the code AVX2 machines run) */
static int fm_isa_chosen = -1;

static int fm_sgemm_isa(void)
{
    return fm_isa_chosen < 0 ? fm_sgemm_cpu_isa() : fm_isa_chosen;
}

/* runs the own GEMMs on `isa` (512 or 2) from now on, if this CPU can; returns whether
 * it can.  Not while another thread is inside them. */
static int fm_sgemm_use_isa(int isa)
{
    int cpu = fm_sgemm_cpu_isa();
    if (!((isa == 512 && cpu == 512) || (isa == 2 && cpu != 0)))
        return 0;
    fm_isa_chosen = isa;
    return 1;
}

static int fm_sgemm_ok(void) { return fm_sgemm_isa() != 0; }

/* C := A · W + b, then with relu C := max(C, 0) as _act_row's ReLU takes it (NaN and
 * -0 to +0), on whichever of the two codes the CPU runs (fm_sgemm_ok() first) */
static void fm_sgemm_bias(int M, int N, int K, const float *A, int lda, const float *W,
                          int ldw, const float *b, float *C, int ldc, int relu)
{
    int i, j;
    float *c, t;
    if (fm_sgemm_isa() == 512) {
        fm_sgemm_bias512(M, N, K, A, lda, W, ldw, b, C, ldc, relu);
        return;
    }
    fm2_sgemm_bias(M, N, K, A, lda, W, ldw, b, C, ldc);
    if (relu)           /* a pass of its own over the rows just written, in cache */
        for (i = 0; i < M; i++)
            for (c = C + (size_t)i * ldc, j = 0; j < N; j++) {
                t = c[j];
                c[j] = t > 0 ? t : 0;
            }
}

/* How many leading columns of an M×N output fm_sgemm_tn computes (the rest are the
 * caller's, for the BLAS).  Both codes stream A once per panel of C, which the BLAS's
 * blocking beats once A and C outgrow the caches: the AVX-512 code serves outputs
 * below 2^21 elements (Zen 4, one thread, BLAS / own: 1024x1024 from 256 rows 1.04,
 * 1024x4096 0.97, 4096x4096 0.92), the AVX2 one below 2^17 (Zen 3, one thread, from
 * 32-256 rows: 256x256 0.99-1.04, 50x256 1.27-1.44, 256x10 0.95-1.06; at 2^17 and over,
 * 512x256 0.94-1.00, 784x512 0.92-0.96).  AVX-512: whole 64-column panels (the
 * last panel costs a whole one, so the columns past them go to the BLAS: 784x100 from
 * 33 rows, 0.93x the BLAS's time with the own tail); AVX2: all columns from 8. */
static int fm_sgemm_tn_cols(int M, int N)
{
    size_t out = (size_t)M * N;
    switch (fm_sgemm_isa()) {
    case 512: return out < ((size_t)1 << 21) ? N - N % FM_NR : 0;
    case 2: return out < ((size_t)1 << 17) && N >= 8 ? N : 0;
    default: return 0;
    }
}

/* C := alpha · Aᵀ · B + beta · C by sgemm_tn.h or sgemm_tn_avx2.h, for
 * N = fm_sgemm_tn_cols(M, N) >= 1 */
static void fm_sgemm_tn(int M, int N, int K, float alpha, const float *A, int lda,
                        const float *B, int ldb, float beta, float *C, int ldc)
{
    if (fm_sgemm_isa() == 512)
        fm_sgemm_tn512(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else
        fm2_sgemm_tn(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

#else
#define FM_HAVE_SGEMM 0
static int fm_sgemm_isa(void) { return 0; }
static int fm_sgemm_use_isa(int isa) { (void)isa; return 0; }
static int fm_sgemm_ok(void) { return 0; }
static int fm_sgemm_tn_cols(int M, int N) { (void)M; (void)N; return 0; }
static void fm_sgemm_tn(int M, int N, int K, float alpha, const float *A, int lda,
                        const float *B, int ldb, float beta, float *C, int ldc)
{
    (void)M; (void)N; (void)K; (void)alpha; (void)A; (void)lda; (void)B; (void)ldb;
    (void)beta; (void)C; (void)ldc;
}
static void fm_sgemm_bias(int M, int N, int K, const float *A, int lda, const float *W,
                          int ldw, const float *b, float *C, int ldc, int relu)
{
    (void)M; (void)N; (void)K; (void)A; (void)lda; (void)W; (void)ldw; (void)b;
    (void)C; (void)ldc; (void)relu;
}
static void fm_gemv_rows(int K, int N, const float *x, const float *W, int ldw,
                         const float *b, float *y)
{
    (void)K; (void)N; (void)x; (void)W; (void)ldw; (void)b; (void)y;
}
static void fm_add_rows(int n, int N, const float *Y, int ldy, float *z)
{
    (void)n; (void)N; (void)Y; (void)ldy; (void)z;
}
#endif

#endif
