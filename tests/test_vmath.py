"""The vector functions behind sigmoid, tanh, ELU, softplus, GELU (float32), softmax and
exp and the derivatives of ELU, softplus and GELU (csrc/vmath.h), through _kernels.activate and
_kernels.layer_backward, against references computed in higher precision: NumPy in
float64 for float32 results, in x86's 80-bit long double for float64 ones.  Errors are
counted in ulps of the correctly rounded result.  Also: IEEE special values and the
limits of the range, every row length (the tail of a row runs padded to a whole
vector), and the AVX-512 and AVX2 codes agreeing bit for bit."""
import numpy as np
import pytest
import scipy.special

from fastmlp import _kernels

CODES = _kernels.ACTIVATION_CODES
EXTENDED = np.finfo(np.longdouble).nmant >= 63      # x86: 80-bit long double
ALPHA = 0.7                                         # ELU's α (its product is rounded too)


def activate(name, x, dtype, alpha=ALPHA):
    """name(x) through the compiled activation, x as one row."""
    z = np.ascontiguousarray(np.asarray(x, dtype=dtype).reshape(1, -1))
    a = np.empty_like(z)
    _kernels.activate(z, a, CODES[name], alpha)
    return a[0]


def reference(name, x, wide):
    """name(x) in the wider type `wide` (x exact in it)."""
    x = np.asarray(x).astype(wide)
    with np.errstate(over="ignore", invalid="ignore"):
        if name == "exp":
            return np.exp(x)
        if name == "sigmoid":
            e = np.exp(-np.abs(x))
            return np.where(x >= 0, 1, e) / (1 + e)
        if name == "tanh":
            return np.tanh(x)
        if name == "elu":
            return np.where(x > 0, x, wide(ALPHA) * np.expm1(x))
        if name == "softplus":
            return np.where(x > 0, x + np.log1p(np.exp(-x)), np.log1p(np.exp(x)))
        if name == "gelu":
            return x * scipy.special.ndtr(x)         # float32 only: float64 reference
        if name == "softmax":
            e = np.exp(x - x.max())
            return e / e.sum()
    raise ValueError(name)


def ulps(y, ref, dtype):
    """|y - ref| in units of the spacing at ref rounded to dtype; 0 where they agree
    exactly (both inf, both NaN)."""
    with np.errstate(over="ignore", invalid="ignore"):
        rounded = ref.astype(dtype)
        same = (y == rounded) | (np.isnan(y) & np.isnan(rounded))
        spacing = np.spacing(np.abs(rounded)).astype(ref.dtype)
        err = np.abs(y.astype(ref.dtype) - ref) / spacing
    return np.where(same, 0, err)


def arguments(dtype, seed=0):
    rng = np.random.default_rng(seed)
    top = 700 if dtype == np.float64 else 87
    x = np.concatenate([rng.uniform(-1, 1, 4000), rng.uniform(-30, 30, 4000),
                        rng.uniform(-top, top, 4000), rng.standard_normal(2000) * 1e-4,
                        np.exp(rng.uniform(-60, 3, 2000)) * rng.choice([-1, 1], 2000)])
    return x.astype(dtype)


# the largest error allowed, in ulps (measured: exp 0.93, sigmoid 1.97, tanh 2.25,
# ELU 1.05, softplus 1.84 in either type)
BOUND = {"exp": 1.5, "sigmoid": 2.5, "tanh": 3.0, "elu": 2.0, "softplus": 2.5}


@pytest.mark.parametrize("name", sorted(BOUND))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_within_a_few_ulps_of_the_exact_result(own_code, name, dtype):
    if dtype == np.float64 and not EXTENDED:
        pytest.skip("no 80-bit long double for a float64 reference here")
    x = arguments(dtype)
    wide = np.float64 if dtype == np.float32 else np.longdouble
    err = ulps(activate(name, x, dtype), reference(name, x, wide), dtype)
    assert np.all(np.isfinite(err))
    assert err.max() <= BOUND[name], (name, x[err.argmax()], err.max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_rows_against_the_exact_probabilities(own_code, dtype):
    if dtype == np.float64 and not EXTENDED:
        pytest.skip("no 80-bit long double for a float64 reference here")
    rng = np.random.default_rng(1)
    wide = np.float64 if dtype == np.float32 else np.longdouble
    for n in (2, 10, 64, 1000):
        z = (rng.standard_normal(n) * 20).astype(dtype)
        p = activate("softmax", z, dtype)
        ref = reference("softmax", z, wide)
        # each exponential within 1.5 ulps of e^(z - max), whose argument is rounded
        # (relative error |z - max|·eps after exp); the sum of n of them, a division
        tol = (4 + n + np.abs(z - z.max()).astype(wide)) * np.finfo(dtype).eps
        assert np.all(np.abs(p - ref) <= tol * ref + np.finfo(dtype).tiny), n


SPECIAL = {   # name: [(x, exact result)], in both types
    "exp": [(0.0, 1.0), (-0.0, 1.0), (np.inf, np.inf), (-np.inf, 0.0), (1e4, np.inf),
            (-1e4, 0.0)],
    "sigmoid": [(0.0, 0.5), (-0.0, 0.5), (np.inf, 1.0), (-np.inf, 0.0), (1e4, 1.0),
                (-1e4, 0.0)],
    "tanh": [(0.0, 0.0), (np.inf, 1.0), (-np.inf, -1.0), (1e4, 1.0), (-1e4, -1.0),
             (25.0, 1.0)],
    "elu": [(0.0, 0.0), (np.inf, np.inf), (-np.inf, -ALPHA), (3.5, 3.5), (-1e4, -ALPHA)],
    "softplus": [(np.inf, np.inf), (-np.inf, 0.0), (1e4, 1e4), (-1e4, 0.0)],
    "gelu": [(0.0, 0.0), (np.inf, np.inf), (1e4, 1e4), (-1e4, 0.0), (-60.0, 0.0)],
}


@pytest.mark.parametrize("name", sorted(SPECIAL))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_special_values_and_limits(own_code, name, dtype):
    x = [v for v, _ in SPECIAL[name]] + [np.nan]
    want = np.array([r for _, r in SPECIAL[name]] + [np.nan], dtype=dtype)
    np.testing.assert_array_equal(activate(name, x, dtype), want)
    assert np.signbit(activate("tanh", [-0.0], dtype)[0])        # tanh(-0) = -0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_at_the_ends_of_the_range(own_code, dtype):
    """The largest finite result and the first infinite one; results in the
    subnormal range, each rounded once; zero below them."""
    info = np.finfo(dtype)
    top = np.log(np.float64(info.max))              # e^top = the largest value
    below = dtype(top)
    while below >= top:                             # the last argument of dtype below it
        below = np.nextafter(below, dtype(0))
    x = np.array([below, top * (1 + 4 * info.eps), -0.999 * np.log(2) * (
        info.maxexp + info.nmant - 2), -np.log(2) * (info.maxexp + info.nmant + 2)],
        dtype=dtype)
    y = activate("exp", x, dtype)
    assert np.isfinite(y[0]) and y[0] > info.max / 2
    assert y[1] == np.inf
    assert 0 < y[2] < info.tiny                      # subnormal, not flushed
    if EXTENDED or dtype == np.float32:
        wide = np.float64 if dtype == np.float32 else np.longdouble
        assert ulps(y[2:3], reference("exp", x[2:3], wide), dtype)[0] <= 1
    assert y[3] == 0


def test_float32_gelu_and_its_slope_within_a_few_ulps(own_code):
    """float32 GELU (vmath.h: an erfc fit, e^(-x²/2) from x² split exactly; the forward
    value with one exponential of a compensated sum) against x Φ(x) and Φ(x) + x φ(x)
    in float64 (scipy's ndtr): within 8 ulps where Φ(x) is a normal float, 12 below,
    where Φ has fewer bits (over 3 million arguments: 5.8, 9.4 and 7.1 for the slope);
    the libm form it replaced erred by up to 192 ulps in the negative tail, from the
    rounding of x/√2.  float64 keeps libm's erfc."""
    x = arguments(np.float32, seed=5)
    x = x[np.abs(x) < 40]
    ref = reference("gelu", x, np.float64)
    err = ulps(activate("gelu", x, np.float32), ref, np.float32)
    normal = scipy.special.ndtr(x.astype(np.float64)) >= np.finfo(np.float32).tiny
    assert err[normal].max() <= 8.0, x[normal][err[normal].argmax()]
    assert err.max() <= 12.0
    z = x.reshape(1, -1)
    n = z.shape[1]
    dz = np.empty_like(z)
    zeros = lambda *shape: np.zeros(shape, np.float32)     # noqa: E731
    _kernels.layer_backward(np.ones_like(z), dz, activate("gelu", x, np.float32)[None],
                            z.copy(), zeros(1, 1), zeros(1, n), zeros(1, 1), zeros(1, n),
                            zeros(n), CODES["gelu"], 0.0)
    xd = x.astype(np.float64)
    slope = scipy.special.ndtr(xd) + xd * np.exp(-0.5 * xd * xd) / np.sqrt(2 * np.pi)
    # Φ + x φ cancels near x = -0.75 (its root): there the bound is on the terms
    scale = np.maximum(np.abs(slope), scipy.special.ndtr(xd))
    assert np.all(np.abs(dz[0] - slope) <= 8 * np.spacing(scale.astype(np.float32)))


@pytest.mark.parametrize("name", ["softplus", "elu"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_derivatives_within_a_few_ulps(own_code, name, dtype):
    """layer_backward's δz = g ⊙ act' with g = 1: softplus' from its output a,
    1 - e^-a; ELU' from z, α e^z for z <= 0 (the reference from the same rounded a
    and z)."""
    if dtype == np.float64 and not EXTENDED:
        pytest.skip("no 80-bit long double for a float64 reference here")
    z = arguments(dtype, seed=4)
    n = z.size
    a = activate(name, z, dtype)
    row = lambda v: np.ascontiguousarray(v, dtype=dtype).reshape(1, -1)   # noqa: E731
    dz = np.empty((1, n), dtype)
    _kernels.layer_backward(row(np.ones(n)), dz, row(a), row(z), np.zeros((1, 1), dtype),
                            np.zeros((1, n), dtype), np.zeros((1, 1), dtype),
                            np.zeros((1, n), dtype), np.zeros(n, dtype), CODES[name], ALPHA)
    wide = np.float64 if dtype == np.float32 else np.longdouble
    if name == "softplus":
        ref = -np.expm1(-a.astype(wide))
    else:
        ref = np.where(z > 0, 1, wide(ALPHA) * np.exp(z.astype(wide)))
    err = ulps(dz[0], ref, dtype)
    assert err.max() <= 2.0, (name, z[err.argmax()], err.max())


@pytest.mark.parametrize("name", ["exp", "sigmoid", "tanh", "elu", "softplus", "gelu",
                                  "softmax"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_row_length_gives_each_element_its_own_result(name, dtype):
    """Whole vectors and the padded tail compute the same function: a row of any
    length 0-70 agrees with the same values one at a time (softmax: with NumPy)."""
    x = arguments(dtype, seed=2)[::97][:70]
    for n in range(71):
        row = activate(name, x[:n], dtype)
        if name == "softmax":
            if n:
                np.testing.assert_allclose(row, reference("softmax", x[:n], np.float64),
                                           rtol=200 * np.finfo(dtype).eps, atol=1e-30)
            continue
        one_by_one = np.array([activate(name, [v], dtype)[0] for v in x[:n]], dtype=dtype)
        np.testing.assert_array_equal(row, one_by_one)


@pytest.mark.skipif(_kernels.OWN_SGEMM_ISAS != ("avx512", "avx2"),
                    reason="needs a CPU that runs both vector codes")
@pytest.mark.parametrize("name", ["exp", "sigmoid", "tanh", "elu", "softplus", "gelu",
                                  "softmax"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_avx512_and_avx2_codes_agree_bit_for_bit(name, dtype):
    x = arguments(dtype, seed=3)
    before = _kernels.use_isa("avx2")
    try:
        avx2 = activate(name, x, dtype)
    finally:
        _kernels.use_isa(before)
    _kernels.use_isa("avx512")
    try:
        np.testing.assert_array_equal(activate(name, x, dtype), avx2)
    finally:
        _kernels.use_isa(before)
