"""What fastmlp.optim refuses and how it fails: non-finite gradients and params, bad
constructor and step() arguments and overflowing updates raise and leave the parameters and
the optimizer state as they were, while huge but finite updates are still made exactly."""

import numpy as np
import pytest

from fastmlp.optim import SGD, Adam, AdamW, Cosine, InverseScaling, StepDecay

from _optim_helpers import N_PARAMS, CONFIGS, _problem, _fastmlp_opt, _run_torch


# ---------------------------------------------------------------------------
# Non-finite gradients
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name, cls, kind, kw, wd",
                         [CONFIGS[4], CONFIGS[7], CONFIGS[9]],
                         ids=["sgd-momentum-wd", "adam-wd", "adamw"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_nonfinite_gradient_raises_and_changes_nothing(torch, h, rng, name, cls, kind, kw,
                                                       wd, bad):
    """A NaN/inf gradient raises FloatingPointError, leaves params bit-identical and
    the optimizer state alone: the run equals torch's on the good gradients only."""
    p0, grads = _problem(rng, np.float64, steps=8)
    opt = _fastmlp_opt(cls, kw, wd, clip_norm=1e6)      # the norm pass runs too
    p = p0.copy()
    for g in grads[:4]:
        opt.step(p, g)
    copy = p.copy()
    poisoned = grads[4].copy()
    poisoned[N_PARAMS // 2] = bad
    with pytest.raises(FloatingPointError, match="grads contains NaN or inf"):
        opt.step(p, poisoned)
    assert np.array_equal(p, copy)
    assert opt.t == 4
    for g in grads[4:]:
        opt.step(p, g)
    ref = _run_torch(torch, kind, p0, grads, wd=wd, **kw)
    assert h.rel_err(p, ref) < 1e-10


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nonfinite_params_are_refused_by_name(bad):
    """A NaN/inf already in params is the caller's input, not an overflow of the update:
    ValueError naming params, nothing changed (it was FloatingPointError blaming the
    learning rate)."""
    opt = Adam(lr=0.1)
    p = np.array([bad, 1.0, 1.0])
    with pytest.raises(ValueError, match="params contains NaN or infinity"):
        opt.step(p, np.full(3, 0.5))
    assert opt.t == 0 and np.array_equal(p[1:], [1.0, 1.0])


def test_huge_but_finite_gradient_is_not_called_nonfinite():
    """A finite float64 gradient whose squared norm overflows double (entries above
    ~1.3e154) is a legal input; torch.optim.SGD applies it.  Its update here is
    exactly p - 1e-200 · g = [1 - 1, 2 - 1e-200] = [0, 2].

    Fails: _optim.pyx _grad_scale takes sqrt(Σ g²) = inf as "the gradient contains
    NaN or infinity" and refuses the step."""
    p = np.array([1.0, 2.0])
    g = np.array([1e200, 1.0])
    SGD(lr=1e-200).step(p, g)
    np.testing.assert_allclose(p, [0.0, 2.0], atol=1e-12)


# ---------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("make, exc, pattern", [
    (lambda: SGD(lr=-0.1), ValueError, "lr"),
    (lambda: Adam(lr=-1e-3), ValueError, "lr"),
    (lambda: AdamW(lr=float("nan")), ValueError, "lr"),
    (lambda: SGD(lr="0.1"), TypeError, "lr"),
    (lambda: SGD(momentum=-0.5), ValueError, "momentum"),
    (lambda: SGD(lr=0.1, nesterov=True), ValueError, "nesterov"),
    (lambda: SGD(weight_decay=-1e-4), ValueError, "weight_decay"),
    (lambda: Adam(betas=(1.0, 0.999)), ValueError, r"betas\[0\]"),
    (lambda: Adam(betas=(0.9, 1.0)), ValueError, r"betas\[1\]"),
    (lambda: AdamW(betas=(0.9, 1.5)), ValueError, r"betas\[1\]"),
    (lambda: Adam(betas=(-0.1, 0.999)), ValueError, r"betas\[0\]"),
    (lambda: Adam(eps=0.0), ValueError, "eps"),
    (lambda: Adam(clip_norm=0.0), ValueError, "clip_norm"),
    (lambda: SGD(clip_norm=-1.0), ValueError, "clip_norm"),
    (lambda: SGD(schedule="cosine"), ValueError, "cosine"),
    (lambda: SGD(schedule="warmup"), ValueError, "schedule"),
    (lambda: StepDecay(0), ValueError, "step_size"),
    (lambda: StepDecay(2, gamma=0.0), ValueError, "gamma"),
    (lambda: Cosine(0), ValueError, "total_steps"),
    (lambda: Cosine(10, min_factor=-0.1), ValueError, "min_factor"),
    (lambda: InverseScaling(-0.5), ValueError, "power_t"),
], ids=["sgd-neg-lr", "adam-neg-lr", "adamw-nan-lr", "str-lr", "neg-momentum",
        "nesterov-no-momentum", "neg-wd", "beta1=1", "beta2=1", "beta2>1", "neg-beta1",
        "eps0", "clip0", "clip-neg", "cosine-by-name", "unknown-schedule", "step_size0",
        "gamma0", "total_steps0", "neg-min_factor", "neg-power_t"])
def test_bad_constructor_arguments(make, exc, pattern):
    with pytest.raises(exc, match=pattern):
        make()


def _arrays(n=8, dtype=np.float64):
    return np.zeros(n, dtype), np.ones(n, dtype)


@pytest.mark.parametrize("case, exc, pattern", [
    ("shape", ValueError, "grads must match"),
    ("dtype", ValueError, "grads must match"),
    ("noncontig-params", TypeError, "params must be a 1-D C-contiguous"),
    ("noncontig-grads", TypeError, "grads must be a 1-D C-contiguous"),
    ("2d", TypeError, "params must be a 1-D"),
    ("int", TypeError, "params must be a 1-D C-contiguous float32/float64"),
    ("float16", TypeError, "float32/float64"),
    ("list", TypeError, "params"),
    ("readonly", ValueError, "writeable"),
])
def test_bad_step_arguments(case, exc, pattern):
    p, g = _arrays()
    if case == "shape":
        g = np.ones(7)
    elif case == "dtype":
        g = np.ones(8, np.float32)
    elif case == "noncontig-params":
        p = np.zeros(16)[::2]
    elif case == "noncontig-grads":
        g = np.ones(16)[::2]
    elif case == "2d":
        p, g = np.zeros((2, 4)), np.ones((2, 4))
    elif case == "int":
        p, g = np.zeros(8, np.int64), np.ones(8, np.int64)
    elif case == "float16":
        p, g = np.zeros(8, np.float16), np.ones(8, np.float16)
    elif case == "list":
        p = [0.0] * 8
    elif case == "readonly":
        p.flags.writeable = False
    for opt in (SGD(lr=0.1, momentum=0.9), Adam(), AdamW()):
        before = np.array(p, copy=True)
        with pytest.raises(exc, match=pattern):
            opt.step(p, g)
        assert np.array_equal(np.asarray(p), before)
        assert opt.t == 0


def test_longdouble_params_are_refused():
    """step() promises "1-D C-contiguous float32/float64" arrays.  np.longdouble
    (float128 on x86-64) must be refused.

    Fails: optim.py Optimizer.step only checks dtype.kind == "f" and itemsize >= 4,
    so float128 passes and _optim.pyx (any non-double dtype -> float*) reinterprets
    the 16-byte values as float32: SGD(lr=0.1).step(ones(4, longdouble),
    full(4, 0.5, longdouble)) silently writes [nan, 1, 1, 1]."""
    if np.dtype(np.longdouble).itemsize <= 8:
        pytest.skip("longdouble is double on this platform")
    p = np.ones(4, np.longdouble)
    g = np.full(4, 0.5, np.longdouble)
    try:
        SGD(lr=0.1).step(p, g)
    except TypeError:
        return
    pytest.fail(f"float128 params were accepted and updated to {p} "
                f"(a correct float128 SGD step would give {np.full(4, 0.95)})")


# ---------------------------------------------------------------------------
# Updates near overflow
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_update_the_bound_cannot_prove_finite_is_still_made_exactly(dtype):
    """max|p| near the dtype's limit makes the kernel's overflow bound fail, so it
    takes the backed-up path; the result must equal the plain formula all the same."""
    big = np.finfo(dtype).max / 1.5
    p = np.array([big, -big, 1.0, 2.0], dtype)
    g = np.array([0.5, -0.25, 1.0, 3.0], dtype)
    expected = p - dtype(0.1) * g
    opt = SGD(lr=0.1)
    opt.step(p, g)
    np.testing.assert_array_equal(p, expected)
    assert opt.t == 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_overflowing_update_restores_params_and_momentum(dtype):
    big = np.finfo(dtype).max / 1.5
    p = np.array([big, 1.0], dtype)
    opt = SGD(lr=1.0, momentum=0.9)
    opt.step(p, np.array([1.0, 1.0], dtype))               # fills the momentum buffer
    before_p, before_buf, t = p.copy(), opt._state[0].copy(), opt.t
    with pytest.raises(FloatingPointError, match="left as they were"):
        opt.step(p, np.array([-big, 0.0], dtype))            # p[0] + big overflows
    np.testing.assert_array_equal(p, before_p)
    np.testing.assert_array_equal(opt._state[0], before_buf)
    assert opt.t == t
