/* Vectorized exp, sigmoid, tanh, ELU, softplus and GELU over arrays of float or double,
 * for the activations and losses (_activations.pxd, _losses.pxi):
 *
 *     fm_vexp_f(x, y, n)      y := e^x          (and _d for double)
 *     fm_vsigmoid_f(x, y, n)  y := 1 / (1 + e^-x)
 *     fm_vtanh_f(x, y, n)     y := tanh x
 *     fm_velu_f(x, y, n, α)   y := x > 0 ? x : α (e^x - 1)
 *     fm_vsoftplus_f(x, y, n) y := log(1 + e^x)
 *     fm_vsoftplus_slope_f(a, y, n)  y := 1 - e^-a (softplus' at the output a >= 0)
 *     fm_vgelu_f(x, y, n)     y := x Φ(x)  (float only: float64 keeps libm's erfc)
 *     fm_vgelu_slope_f(x, y, n)  y := Φ(x) + x φ(x)
 *
 * y may be x.  Why: libm's scalar calls took 4-15 ns an element here (Zen 4), so a
 * tanh or sigmoid layer, or a softmax over many classes, cost more than its GEMM (one
 * thread, 20,000 rows through 50-100-64: ReLU 5.8 ms, tanh 37 ms; bench/activations.py
 * times whole steps and passes against PyTorch).
 *
 * How: e^x = 2^k · e^r with k the nearest integer to x / ln 2 and |r| <= ln2/2 (ln 2
 * in two parts, so that r is exact to the last bits); e^r - 1 by its Taylor series to
 * r^8/8! (float) or r^13/13! (double), whose remainder is a small fraction of an ulp;
 * 2^k built in the exponent bits.  e^x - 1 = 2^k (e^r - 1) + (2^k - 1) keeps small x
 * accurate; tanh |x| = e / (e + 2) with e = e^{2|x|} - 1 has no cancellation; softplus
 * through log(1 + u) = 2 atanh(u / (2 + u)); Φ through a fitted erfc.  Each result is
 * within 2.4 ulps of the correctly rounded one, GELU's within 8 (tests/test_vmath.py,
 * against float64 references for float32 and 80-bit long double ones for float64; at
 * most exp 0.94, sigmoid 2.0, tanh 2.3, ELU 1.1, softplus 1.8, GELU 6.9); NaN gives
 * NaN, ±inf and huge arguments their limits, subnormal results are rounded once.
 *
 * The AVX-512 and AVX2 codes are one text (vmath_impl.h, GNU C generic vectors)
 * compiled for each; they give the same result for every element.  Which one runs
 * follows the own GEMMs' choice (fm_sgemm_isa, sgemm.h: FASTMLP_ISA=avx2 selects the
 * AVX2 code on an AVX-512 CPU).  Elsewhere (no AVX2 and FMA, another compiler or
 * architecture) libm's scalar functions do the work.
 */
#ifndef FASTMLP_VMATH_H
#define FASTMLP_VMATH_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sgemm.h"

/* erfc(a) = t·e^(-a²)·e^(Σ_k c_k s^k), t = 2 / (2 + a), s = 2t - 1, 0 <= a <= 10.5
 * (beyond, erfc is below float32's least value): fastmlp/onnx/export.py's
 * _erfc_coefficients(12, 10.5), a least-squares fit on Chebyshev's basis as powers of
 * s (relative error 6e-10), rounded to float; float32's GELU (vm_ncdf) */
static const float fm_erfc_fit[13] = {
    -0x1.57f564p-1f, 0x1.5864b2p-1f, 0x1.83d618p-5f,
    -0x1.802b0cp-5f, -0x1.4380d2p-7f, 0x1.2122a6p-7f,
    0x1.ccca54p-10f, -0x1.32654p-9f, -0x1.2d4dbep-13f,
    0x1.52a8f4p-11f, -0x1.770cf4p-14f, -0x1.0b665ep-13f,
    0x1.854784p-15f,
};

/* 1/k!: the Taylor coefficients of e^r - 1 (vmath_impl.h's vm_reduce) */
static const double fm_inv_factorial[14] = {
    1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040, 1.0 / 40320,
    1.0 / 362880, 1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600, 1.0 / 6227020800,
};

/* FM_VDISPATCH's PARAMS and ARGS start with it: a comma inside a macro argument */
#define FM_COMMA ,

#if FM_HAVE_SGEMM
typedef float fm_v16f __attribute__((vector_size(64)));
typedef int32_t fm_v16i __attribute__((vector_size(64)));
typedef double fm_v8d __attribute__((vector_size(64)));
typedef int64_t fm_v8l __attribute__((vector_size(64)));
typedef float fm_v8f __attribute__((vector_size(32)));
typedef int32_t fm_v8i __attribute__((vector_size(32)));
typedef double fm_v4d __attribute__((vector_size(32)));
typedef int64_t fm_v4l __attribute__((vector_size(32)));

/* the four instances of vmath_impl.h (which #undefs these after each) */
#define VM_T float
#define VM_F64 0
#define VM_W 16
#define VM_V fm_v16f
#define VM_I fm_v16i
#define VM_TARGET __attribute__((target("avx512f")))
#define VM_FMA _mm512_fmadd_ps
#define VM_FN(f) f##_f512
#include "vmath_impl.h"

#define VM_T float
#define VM_F64 0
#define VM_W 8
#define VM_V fm_v8f
#define VM_I fm_v8i
#define VM_TARGET __attribute__((target("avx2,fma")))
#define VM_FMA _mm256_fmadd_ps
#define VM_FN(f) f##_f256
#include "vmath_impl.h"

#define VM_T double
#define VM_F64 1
#define VM_W 8
#define VM_V fm_v8d
#define VM_I fm_v8l
#define VM_TARGET __attribute__((target("avx512f")))
#define VM_FMA _mm512_fmadd_pd
#define VM_FN(f) f##_d512
#include "vmath_impl.h"

#define VM_T double
#define VM_F64 1
#define VM_W 4
#define VM_V fm_v4d
#define VM_I fm_v4l
#define VM_TARGET __attribute__((target("avx2,fma")))
#define VM_FMA _mm256_fmadd_pd
#define VM_FN(f) f##_d256
#include "vmath_impl.h"

/* NAME_f / NAME_d: the code this CPU runs (PARAMS, ARGS: parameters and arguments
 * after n, each starting with FM_COMMA) */
#define FM_VDISPATCH(NAME, T, SUFFIX, W512, W256, PARAMS, ARGS, SCALAR)           \
static void NAME##_##SUFFIX(const T *x, T *y, ptrdiff_t n PARAMS)                 \
{                                                                                 \
    ptrdiff_t i;                                                                  \
    switch (fm_sgemm_isa()) {                                                     \
    case 512: NAME##_##W512(x, y, n ARGS); return;                                \
    case 2: NAME##_##W256(x, y, n ARGS); return;                                  \
    default: for (i = 0; i < n; i++) y[i] = SCALAR; return;                       \
    }                                                                             \
}
#else
#define FM_VDISPATCH(NAME, T, SUFFIX, W512, W256, PARAMS, ARGS, SCALAR)           \
static void NAME##_##SUFFIX(const T *x, T *y, ptrdiff_t n PARAMS)                 \
{                                                                                 \
    ptrdiff_t i;                                                                  \
    for (i = 0; i < n; i++) y[i] = SCALAR;                                        \
}
#endif

/* the scalar forms, as _activations.pxd had them: libm, sigmoid split on the sign */
#define FM_SIGMOID(EXP, t) ((t) >= 0 ? 1 / (1 + EXP(-(t))) : EXP(t) / (1 + EXP(t)))

FM_VDISPATCH(fm_vexp, float, f, f512, f256, , , expf(x[i]))
FM_VDISPATCH(fm_vexp, double, d, d512, d256, , , exp(x[i]))
FM_VDISPATCH(fm_vsigmoid, float, f, f512, f256, , , FM_SIGMOID(expf, x[i]))
FM_VDISPATCH(fm_vsigmoid, double, d, d512, d256, , , FM_SIGMOID(exp, x[i]))
FM_VDISPATCH(fm_vtanh, float, f, f512, f256, , , tanhf(x[i]))
FM_VDISPATCH(fm_vtanh, double, d, d512, d256, , , tanh(x[i]))
FM_VDISPATCH(fm_vsoftplus, float, f, f512, f256, , ,
             x[i] > 0 ? x[i] + log1pf(expf(-x[i])) : log1pf(expf(x[i])))
FM_VDISPATCH(fm_vsoftplus, double, d, d512, d256, , ,
             x[i] > 0 ? x[i] + log1p(exp(-x[i])) : log1p(exp(x[i])))
FM_VDISPATCH(fm_vsoftplus_slope, float, f, f512, f256, , , -expm1f(-x[i]))
FM_VDISPATCH(fm_vsoftplus_slope, double, d, d512, d256, , , -expm1(-x[i]))
FM_VDISPATCH(fm_velu, float, f, f512, f256, FM_COMMA float alpha, FM_COMMA alpha,
             x[i] > 0 ? x[i] : alpha * expm1f(x[i]))
FM_VDISPATCH(fm_velu, double, d, d512, d256, FM_COMMA double alpha, FM_COMMA alpha,
             x[i] > 0 ? x[i] : alpha * expm1(x[i]))

/* GELU in float32 only (float64 keeps libm's erfc): x Φ(x) and Φ(x) + x φ(x) */
FM_VDISPATCH(fm_vgelu, float, f, f512, f256, , ,
             0.5f * x[i] * erfcf(-x[i] * 0.70710678f))
FM_VDISPATCH(fm_vgelu_slope, float, f, f512, f256, , ,
             0.5f * erfcf(-x[i] * 0.70710678f)
             + x[i] * 0.39894228f * expf(-0.5f * x[i] * x[i]))

#endif
