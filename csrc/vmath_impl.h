/* One instance of vmath.h's vector functions: included by vmath.h once per element
 * type and vector width, with these defined:
 *
 *   VM_T       float or double             VM_W       lanes per vector
 *   VM_V       the vector type             VM_I       the integer vector of VM_V's lanes
 *   VM_F64     1 for double                VM_TARGET  the ISA's target attribute
 *   VM_FN(f)   f with the instance's suffix  VM_FMA(a, b, c)  the ISA's a·b + c
 *
 * and #undefs them at its end.  Written in GNU C's generic vectors, so that one text
 * serves AVX-512 (16 floats, 8 doubles) and AVX2 (8, 4); every lane runs the same
 * operations, so each element's result is the same on both, at any position (a tail
 * runs padded to a whole vector).
 * NaN propagates: every clamp compares so that a NaN lane keeps its value.
 */

#define VM_INL VM_TARGET static inline __attribute__((always_inline))

#if VM_F64
#define VM_MAGIC 0x1.8p52           /* x + VM_MAGIC: x rounded to an integer, in the low bits */
#define VM_BIAS 1023
#define VM_MBITS 52
#define VM_SIGN INT64_MIN
#define VM_LN2_HI 0x1.62e42fee00000p-1     /* k · VM_LN2_HI is exact for |k| < 2^20 */
#define VM_LN2_LO 0x1.a39ef35793c76p-33
#define VM_EXP_LO -746.0            /* exp below: 0 (under 2^-1075) */
#define VM_EXP_HI 710.0             /* exp above: inf */
#define VM_EM1_LO -40.0             /* expm1 below: -1 (e^-40 < half an ulp of 1) */
#define VM_TANH_CUT 20.0            /* tanh beyond: ±1 (1 - tanh 20 < 2^-57) */
#define VM_EXP_DEGREE 13            /* e^r - 1 to r^13/13! */
#else
#define VM_MAGIC 0x1.8p23f
#define VM_BIAS 127
#define VM_MBITS 23
#define VM_SIGN INT32_MIN
#define VM_LN2_HI 0x1.62e400p-1f          /* k · VM_LN2_HI is exact for |k| < 2^9 */
#define VM_LN2_LO 0x1.7f7d1cp-20f
#define VM_EXP_LO -105.0f
#define VM_EXP_HI 89.0f
#define VM_EM1_LO -25.0f
#define VM_TANH_CUT 10.0f
#define VM_EXP_DEGREE 8
#endif
#define VM_LOG2E ((VM_T)1.44269504088896340736)

VM_INL VM_V VM_FN(vm_splat)(VM_T x)
{
    return (VM_V){0} + x;
}

/* a·b + c rounded once (VM_FMA: the ISA's fused multiply-add instruction, in both
 * codes, so that they agree; it also halves a polynomial's steps: exp in float 0.57 ->
 * 0.34 ns an element on Zen 4); fmac: c a scalar */
VM_INL VM_V VM_FN(vm_fma)(VM_V a, VM_V b, VM_V c)
{
    return VM_FMA(a, b, c);
}

VM_INL VM_V VM_FN(vm_fmac)(VM_V a, VM_V b, VM_T c)
{
    return VM_FMA(a, b, VM_FN(vm_splat)(c));
}

/* m ? a : b, lane by lane (m: a comparison's all-ones or zero lanes) */
VM_INL VM_V VM_FN(vm_sel)(VM_I m, VM_V a, VM_V b)
{
    return (VM_V)(((VM_I)a & m) | ((VM_I)b & ~m));
}

VM_INL VM_V VM_FN(vm_abs)(VM_V x)
{
    return (VM_V)((VM_I)x & ~((VM_I){0} + VM_SIGN));
}

/* 2^k for integer lanes k in the normal range */
VM_INL VM_V VM_FN(vm_pow2)(VM_I k)
{
    return (VM_V)((k + VM_BIAS) << VM_MBITS);
}

/* x = k·ln 2 + r with k the nearest integer to x/ln 2 and |r| <= ln2/2 (|x| < 2^20);
 * returns e^r - 1 = r + r²·P(r), P a Taylor polynomial (the first term left out:
 * under a quarter of an ulp) */
VM_INL VM_V VM_FN(vm_reduce)(VM_V x, VM_I *k)
{
    VM_V t = VM_FN(vm_fmac)(x, VM_FN(vm_splat)(VM_LOG2E), VM_MAGIC), kf, r, p;
    int i;
    kf = t - VM_MAGIC;
    *k = (VM_I)t - (VM_I)VM_FN(vm_splat)(VM_MAGIC);
    r = VM_FN(vm_fma)(kf, VM_FN(vm_splat)(-VM_LN2_HI), x);
    r = VM_FN(vm_fma)(kf, VM_FN(vm_splat)(-VM_LN2_LO), r);
    p = VM_FN(vm_splat)((VM_T)fm_inv_factorial[VM_EXP_DEGREE]);
#pragma GCC unroll 16               /* constants in registers, not a loop over a table */
    for (i = VM_EXP_DEGREE - 1; i >= 2; i--)
        p = VM_FN(vm_fmac)(p, r, (VM_T)fm_inv_factorial[i]);
    return VM_FN(vm_fma)(r * r, p, r);
}

/* e^x, all x: 2^k · (1 + q), 2^k applied in two halves so that results in the
 * subnormal range round once and those past the largest value become inf */
VM_INL VM_V VM_FN(vm_exp)(VM_V x)
{
    VM_I k, k1;
    VM_V q;
    x = VM_FN(vm_sel)(x < VM_EXP_LO, VM_FN(vm_splat)(VM_EXP_LO), x);
    x = VM_FN(vm_sel)(x > VM_EXP_HI, VM_FN(vm_splat)(VM_EXP_HI), x);
    q = VM_FN(vm_reduce)(x, &k);
    k1 = k >> 1;
    return (1 + q) * VM_FN(vm_pow2)(k1) * VM_FN(vm_pow2)(k - k1);
}

/* e^x - 1 for x <= 20 (float) or 40 (double): 2^k · q + (2^k - 1), both terms exact
 * but the sum (q alone for k = 0, so tiny x keep their relative accuracy) */
VM_INL VM_V VM_FN(vm_expm1)(VM_V x)
{
    VM_I k;
    VM_V q, s;
    x = VM_FN(vm_sel)(x < VM_EM1_LO, VM_FN(vm_splat)(VM_EM1_LO), x);
    q = VM_FN(vm_reduce)(x, &k);
    s = VM_FN(vm_pow2)(k);
    return VM_FN(vm_fma)(s, q, s - 1);
}

/* y[0:n] := F(v ARGS) for each vector v of x[0:n] (ARGS: nothing, or VM_COMMA and
 * more arguments), two vectors an iteration so that their dependency chains (the
 * polynomials) overlap; the tail padded with zeros */
#define VM_COMMA ,
#define VM_LOOP(F, ARGS) {                                                        \
    ptrdiff_t i;                                                                  \
    int j;                                                                        \
    VM_V v, w;                                                                    \
    VM_T buf[VM_W];                                                               \
    for (i = 0; i + 2 * VM_W <= n; i += 2 * VM_W) {                               \
        memcpy(&v, x + i, sizeof v);                                              \
        memcpy(&w, x + i + VM_W, sizeof w);                                       \
        v = F(v ARGS);                                                            \
        w = F(w ARGS);                                                            \
        memcpy(y + i, &v, sizeof v);                                              \
        memcpy(y + i + VM_W, &w, sizeof w);                                       \
    }                                                                             \
    for (; i < n; i += VM_W) {                                                    \
        for (j = 0; j < VM_W; j++)                                                \
            buf[j] = i + j < n ? x[i + j] : 0;                                    \
        memcpy(&v, buf, sizeof v);                                                \
        v = F(v ARGS);                                                            \
        memcpy(buf, &v, sizeof v);                                                \
        for (j = 0; j < VM_W && i + j < n; j++)                                   \
            y[i + j] = buf[j];                                                    \
    }                                                                             \
}

VM_INL VM_V VM_FN(vm_sigmoid)(VM_V x)
{
    /* 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) below: e^-|x| is never large */
    VM_V e = VM_FN(vm_exp)(-VM_FN(vm_abs)(x));
    return VM_FN(vm_sel)(x >= 0, VM_FN(vm_splat)(1), e) / (1 + e);
}

VM_INL VM_V VM_FN(vm_tanh)(VM_V x)
{
    /* tanh |x| = e / (e + 2), e = expm1(2|x|) >= 0 (no cancellation), x's sign */
    VM_V a = VM_FN(vm_abs)(x), e;
    a = VM_FN(vm_sel)(a > VM_TANH_CUT, VM_FN(vm_splat)(VM_TANH_CUT), a);
    e = VM_FN(vm_expm1)(2 * a);
    return (VM_V)((VM_I)(e / (e + 2)) | ((VM_I)x & VM_SIGN));
}

VM_INL VM_V VM_FN(vm_elu)(VM_V x, VM_T alpha)
{
    /* x > 0 ? x : α (e^x - 1), expm1 taken at min(x, 0) */
    VM_I pos = x > 0;
    VM_V m = alpha * VM_FN(vm_expm1)(VM_FN(vm_sel)(pos, VM_FN(vm_splat)(0), x));
    return VM_FN(vm_sel)(pos, x, m);
}

/* log(1 + u) for 0 <= u <= 1: w = 1 + u rounded, log w + (u - (w - 1)) / w (the
 * second term puts back what the rounding lost, and is all of it when w = 1);
 * log w = e ln 2 + log(1 + f) with 1 + f = w / 2^e in [1/√2, √2] (f exact), and
 * log(1 + f) = 2 atanh s = f - s (f - R), s = f / (2 + f), R = 2s²/3 + 2s⁴/5 + ... */
VM_INL VM_V VM_FN(vm_log1p_unit)(VM_V u)
{
    VM_V w = 1 + u, c, f, s, z, p, e;
    VM_I big;
    c = (u - (w - 1)) / w;
    big = w > (VM_T)1.41421356237309504880;
    f = VM_FN(vm_sel)(big, w * (VM_T)0.5, w) - 1;
    e = VM_FN(vm_sel)(big, VM_FN(vm_splat)(1), VM_FN(vm_splat)(0));
    s = f / (2 + f);
    z = s * s;
#if VM_F64
    p = VM_FN(vm_splat)((VM_T)(2.0 / 21));
    p = VM_FN(vm_fmac)(p, z, (VM_T)(2.0 / 19));
    p = VM_FN(vm_fmac)(p, z, (VM_T)(2.0 / 17));
    p = VM_FN(vm_fmac)(p, z, (VM_T)(2.0 / 15));
    p = VM_FN(vm_fmac)(p, z, (VM_T)(2.0 / 13));
    p = VM_FN(vm_fmac)(p, z, (VM_T)(2.0 / 11));
    p = VM_FN(vm_fmac)(p, z, (VM_T)(2.0 / 9));
    p = VM_FN(vm_fmac)(p, z, (VM_T)(2.0 / 7));
    p = VM_FN(vm_fmac)(p, z, (VM_T)(2.0 / 5));
    p = VM_FN(vm_fmac)(p, z, (VM_T)(2.0 / 3));
#else
    p = VM_FN(vm_splat)((VM_T)(2.0 / 9));
    p = VM_FN(vm_fmac)(p, z, (VM_T)(2.0 / 7));
    p = VM_FN(vm_fmac)(p, z, (VM_T)(2.0 / 5));
    p = VM_FN(vm_fmac)(p, z, (VM_T)(2.0 / 3));
#endif
    return (f - s * (f - z * p) + c) + e * (VM_T)0.69314718055994530942;
}

VM_INL VM_V VM_FN(vm_softplus)(VM_V x)
{
    /* log(1 + e^x) = max(x, 0) + log(1 + e^-|x|) */
    return VM_FN(vm_sel)(x > 0, x, VM_FN(vm_splat)(0))
           + VM_FN(vm_log1p_unit)(VM_FN(vm_exp)(-VM_FN(vm_abs)(x)));
}

VM_INL VM_V VM_FN(vm_softplus_slope)(VM_V a)
{
    /* at an output a = softplus(x) >= 0: sigmoid(x) = 1 - e^-a = -expm1(-a) */
    return -VM_FN(vm_expm1)(-a);
}

#if !VM_F64
VM_INL VM_V VM_FN(vm_erfc_h)(VM_V x, VM_V *t)
{
    /* h and t of erfc(|x|/√2) = t·e^h·e^(-x²/2) */
    VM_V a = VM_FN(vm_abs)(x) * (VM_T)0.70710678118654752440, s, h;
    int i;
    *t = 2 / (2 + a);
    s = 2 * *t - 1;
    h = VM_FN(vm_splat)(fm_erfc_fit[12]);
#pragma GCC unroll 16
    for (i = 11; i >= 0; i--)
        h = VM_FN(vm_fmac)(h, s, fm_erfc_fit[i]);
    return h;
}

/* a + b = s + *err exactly (Knuth's TwoSum; no FMA contraction, setup.py) */
VM_INL VM_V VM_FN(vm_two_sum)(VM_V a, VM_V b, VM_V *err)
{
    VM_V s = a + b, bb = s - a;
    *err = (a - (s - bb)) + (b - bb);
    return s;
}

/* Φ(x) (the normal distribution) and e^(-x²/2), for |x| <= 20: erfc(a) at a = |x|/√2 is
 * t·e^h(s)·e^(-a²) (the fit of fm_erfc_fit, vmath.h), and e^(-a²) = e^(-x²/2) is taken
 * from x² exactly: x·x = x2 + lo (an FMA gives lo), e^(-x2/2)·(1 - lo/2).  Computing a²
 * from the rounded a instead would cost a relative error of up to 2a²·eps in the tail
 * (100 ulps at x = -10).  The rounding of a itself only moves s, on which h is smooth. */
VM_INL VM_V VM_FN(vm_ncdf)(VM_V x, VM_V *gauss)
{
    VM_V x2 = x * x, lo = VM_FN(vm_fma)(x, x, -x2), t, h, e;
    *gauss = VM_FN(vm_exp)((VM_T)-0.5 * x2) * VM_FN(vm_fmac)(lo, VM_FN(vm_splat)(-0.5f), 1);
    h = VM_FN(vm_erfc_h)(x, &t);
    e = (VM_T)0.5 * t * VM_FN(vm_exp)(h) * *gauss;          /* ½ erfc(|x|/√2) */
    return VM_FN(vm_sel)(x > 0, 1 - e, e);
}

/* x clamped to ±20 for Φ (beyond, Φ is 0 or 1 and e^(-x²/2) is 0 in float) */
VM_INL VM_V VM_FN(vm_gelu_arg)(VM_V x)
{
    x = VM_FN(vm_sel)(x > 20, VM_FN(vm_splat)(20), x);
    return VM_FN(vm_sel)(x < -20, VM_FN(vm_splat)(-20), x);
}

VM_INL VM_V VM_FN(vm_gelu)(VM_V x)
{
    /* x Φ(x), as vm_ncdf but with one exponential: e^h·e^(-x²/2) = e^(h + m), m = -x2/2
     * (exact).  The sum is split into hi + dl exactly (TwoSum), so that its rounding (up
     * to 100 in the argument: ~200 ulps of the result) does not reach the result, and
     * 16·ln 2 (as c_hi + c_lo) is added to it and 2^-16 taken at the end, so that a
     * result below the normal range is rounded once, not twice (15 ulps there without
     * the shift, 9.4 with it); the x² correction as in vm_ncdf */
    const VM_T c_hi = (VM_T)11.090354919433594, c_lo = (VM_T)-3.0474469170371776e-08;
    VM_V c = VM_FN(vm_gelu_arg)(x), x2 = c * c, lo = VM_FN(vm_fma)(c, c, -x2), t, h, hi,
         d1, d2, e;
    h = VM_FN(vm_erfc_h)(c, &t);
    hi = VM_FN(vm_two_sum)((VM_T)-0.5 * x2, VM_FN(vm_splat)(c_hi), &d1);
    hi = VM_FN(vm_two_sum)(hi, h, &d2);
    e = (VM_T)0.5 * t * VM_FN(vm_exp)(hi) * (1 + ((d1 + c_lo + d2) - (VM_T)0.5 * lo));
    e *= (VM_T)1.52587890625e-05;                 /* 2^-16 */
    return x * VM_FN(vm_sel)(c > 0, 1 - e, e);
}

VM_INL VM_V VM_FN(vm_gelu_slope)(VM_V x)
{
    /* gelu'(x) = Φ(x) + x φ(x), φ(x) = e^(-x²/2) / √(2π) */
    VM_V g, p = VM_FN(vm_ncdf)(VM_FN(vm_gelu_arg)(x), &g);
    return VM_FN(vm_fma)(x * (VM_T)0.39894228040143267794, g, p);
}
#endif

VM_TARGET static void VM_FN(fm_vexp)(const VM_T *x, VM_T *y, ptrdiff_t n)
VM_LOOP(VM_FN(vm_exp), )

VM_TARGET static void VM_FN(fm_vsigmoid)(const VM_T *x, VM_T *y, ptrdiff_t n)
VM_LOOP(VM_FN(vm_sigmoid), )

VM_TARGET static void VM_FN(fm_vtanh)(const VM_T *x, VM_T *y, ptrdiff_t n)
VM_LOOP(VM_FN(vm_tanh), )

VM_TARGET static void VM_FN(fm_velu)(const VM_T *x, VM_T *y, ptrdiff_t n, VM_T alpha)
VM_LOOP(VM_FN(vm_elu), VM_COMMA alpha)

VM_TARGET static void VM_FN(fm_vsoftplus)(const VM_T *x, VM_T *y, ptrdiff_t n)
VM_LOOP(VM_FN(vm_softplus), )

VM_TARGET static void VM_FN(fm_vsoftplus_slope)(const VM_T *x, VM_T *y, ptrdiff_t n)
VM_LOOP(VM_FN(vm_softplus_slope), )

#if !VM_F64
VM_TARGET static void VM_FN(fm_vgelu)(const VM_T *x, VM_T *y, ptrdiff_t n)
VM_LOOP(VM_FN(vm_gelu), )

VM_TARGET static void VM_FN(fm_vgelu_slope)(const VM_T *x, VM_T *y, ptrdiff_t n)
VM_LOOP(VM_FN(vm_gelu_slope), )
#endif

#undef VM_LOOP
#undef VM_COMMA
#undef VM_INL
#undef VM_MAGIC
#undef VM_BIAS
#undef VM_MBITS
#undef VM_SIGN
#undef VM_LN2_HI
#undef VM_LN2_LO
#undef VM_EXP_LO
#undef VM_EXP_HI
#undef VM_EM1_LO
#undef VM_TANH_CUT
#undef VM_EXP_DEGREE
#undef VM_LOG2E
#undef VM_T
#undef VM_F64
#undef VM_W
#undef VM_V
#undef VM_I
#undef VM_TARGET
#undef VM_FMA
#undef VM_FN
