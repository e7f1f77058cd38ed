"""fastmlp.optim: SGD / Adam / AdamW updates, clipping, weight-decay masks, learning-rate
schedules, argument checks and L-BFGS.

References are independent of the package:
  * torch.optim.SGD / Adam / AdamW (+ clip_grad_norm_, LambdaLR, param groups) fed the
    SAME gradient sequence as the fastmlp optimizer;
  * schedule factors written out by hand from their formulas;
  * np.linalg.lstsq / the ridge normal equations for L-BFGS on linear models.

Error measure: conftest.rel_err (max|a - r| / max|r|) over the whole parameter vector.
"""
import math

import numpy as np
import pytest

from fastmlp import Network
from fastmlp import optim
from fastmlp.optim import (SGD, Adam, AdamW, Constant, Cosine, InverseScaling, StepDecay,
                           make_schedule)

N_PARAMS = 300
N_STEPS = 50
TOL = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-5}
DTYPES = [np.float64, np.float32]


def _problem(rng, dtype, n=N_PARAMS, steps=N_STEPS, varying_scale=False):
    """A starting vector and a fixed sequence of random gradients."""
    p0 = rng.standard_normal(n).astype(dtype)
    grads = rng.standard_normal((steps, n))
    if varying_scale:                       # norms from ~2 to ~50 (sqrt(300) ~ 17)
        grads *= rng.uniform(0.1, 3.0, size=(steps, 1))
    return p0, grads.astype(dtype)


def _run_fastmlp(opt, p0, grads, mask=None):
    p = p0.copy()
    for g in grads:
        opt.step(p, np.ascontiguousarray(g), mask)
    return p


def _run_torch(torch, kind, p0, grads, *, mask=None, wd=0.0, clip=None, factor=None, **kw):
    """The same updates with torch.optim: weight decay on the entries where mask is
    true (all when mask is None) via two param groups, clipping by the global norm of
    both groups with clip_grad_norm_, the schedule with LambdaLR stepped per update."""
    dtype = {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32}[p0.dtype]
    mask = np.ones(p0.shape, bool) if mask is None else np.asarray(mask, bool)
    idx = [np.flatnonzero(mask), np.flatnonzero(~mask)]
    tensors = [torch.tensor(p0[i], dtype=dtype, requires_grad=True) for i in idx]
    groups = [{"params": [t], "weight_decay": w}
              for t, w, i in zip(tensors, (wd, 0.0), idx) if i.size]
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[kind]
    opt = cls(groups, **kw)
    sched = None if factor is None else torch.optim.lr_scheduler.LambdaLR(opt, factor)
    for g in grads:
        for t, i in zip(tensors, idx):
            t.grad = torch.tensor(g[i], dtype=dtype)
        if clip is not None:
            torch.nn.utils.clip_grad_norm_([t for t in tensors if t.numel()], clip)
        opt.step()
        if sched is not None:
            sched.step()
    out = np.empty_like(p0)
    for t, i in zip(tensors, idx):
        out[i] = t.detach().numpy()
    return out


# (id, fastmlp class, torch kind, shared keyword arguments, weight decay)
CONFIGS = [
    ("sgd", SGD, "sgd", dict(lr=0.05), 0.0),
    ("sgd-momentum", SGD, "sgd", dict(lr=0.05, momentum=0.9), 0.0),
    ("sgd-nesterov", SGD, "sgd", dict(lr=0.05, momentum=0.9, nesterov=True), 0.0),
    ("sgd-wd", SGD, "sgd", dict(lr=0.05), 0.1),
    ("sgd-momentum-wd", SGD, "sgd", dict(lr=0.05, momentum=0.8), 0.05),
    ("sgd-nesterov-wd", SGD, "sgd", dict(lr=0.02, momentum=0.95, nesterov=True), 0.01),
    ("adam", Adam, "adam", dict(lr=0.01), 0.0),
    ("adam-wd", Adam, "adam", dict(lr=0.01), 0.1),
    ("adam-betas-eps", Adam, "adam", dict(lr=0.03, betas=(0.8, 0.95), eps=1e-4), 0.02),
    ("adamw", AdamW, "adamw", dict(lr=0.01), 0.1),
    ("adamw-betas", AdamW, "adamw", dict(lr=0.05, betas=(0.5, 0.9), eps=1e-6), 0.3),
]


def _fastmlp_opt(cls, kw, wd, **extra):
    return cls(**kw, weight_decay=wd, **extra)


# ---------------------------------------------------------------------------
# Updates against torch.optim
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name, cls, kind, kw, wd", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_optimizer_matches_torch(torch, h, rng, name, cls, kind, kw, wd, dtype):
    p0, grads = _problem(rng, dtype)
    opt = _fastmlp_opt(cls, kw, wd)
    ours = _run_fastmlp(opt, p0, grads)
    ref = _run_torch(torch, kind, p0, grads, wd=wd, **kw)
    assert ours.dtype == np.dtype(dtype)
    assert opt.t == N_STEPS
    assert not np.array_equal(ours, p0)
    err = h.rel_err(ours, ref)
    assert err < TOL[np.dtype(dtype)], f"{name} {dtype.__name__}: rel err {err:.3g}"


@pytest.mark.parametrize("kind, cls", [("adam", Adam), ("adamw", AdamW)])
def test_adam_defaults_match_torch_defaults(torch, h, rng, kind, cls):
    """Adam() and AdamW() with no arguments == torch's defaults (lr 1e-3, betas
    (0.9, 0.999), eps 1e-8, AdamW weight_decay 1e-2)."""
    p0, grads = _problem(rng, np.float64)
    ours = _run_fastmlp(cls(), p0, grads)
    t = torch.tensor(p0.copy(), requires_grad=True)
    opt = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[kind]([t])
    for g in grads:
        t.grad = torch.tensor(g)
        opt.step()
    assert h.rel_err(ours, t.detach().numpy()) < 1e-10


SCHEDULED = [
    ("sgd-momentum-cosine", SGD, "sgd", dict(lr=0.1, momentum=0.9), 0.01,
     Cosine(40, 0.1), lambda t: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(t, 40) / 40))),
    ("adam-step", Adam, "adam", dict(lr=0.02), 0.05,
     StepDecay(7, 0.5), lambda t: 0.5 ** (t // 7)),
    ("adamw-invscaling", AdamW, "adamw", dict(lr=0.05), 0.1,
     InverseScaling(0.7), lambda t: 1.0 / (t + 1) ** 0.7),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name, cls, kind, kw, wd, schedule, factor", SCHEDULED,
                         ids=[c[0] for c in SCHEDULED])
def test_scheduled_optimizer_matches_torch_lambdalr(torch, h, rng, name, cls, kind, kw, wd,
                                                     schedule, factor, dtype):
    p0, grads = _problem(rng, dtype)
    ours = _run_fastmlp(_fastmlp_opt(cls, kw, wd, schedule=schedule), p0, grads)
    ref = _run_torch(torch, kind, p0, grads, wd=wd, factor=factor, **kw)
    assert h.rel_err(ours, ref) < TOL[np.dtype(dtype)]


# ---------------------------------------------------------------------------
# Clipping by global norm
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name, cls, kind, kw, wd",
                         [CONFIGS[4], CONFIGS[5], CONFIGS[7], CONFIGS[9]],
                         ids=["sgd-momentum-wd", "sgd-nesterov-wd", "adam-wd", "adamw"])
def test_clip_norm_matches_torch_clip_grad_norm(torch, h, rng, name, cls, kind, kw, wd, dtype):
    p0, grads = _problem(rng, dtype, varying_scale=True)
    clip = 15.0
    norms = np.linalg.norm(grads.astype(np.float64), axis=1)
    # both regimes occur, and no norm sits in torch's (clip - 1e-6, clip] edge window
    assert (norms > clip).sum() >= 10 and (norms < clip).sum() >= 10
    assert np.all(np.abs(norms - clip) > 1e-3)
    ours = _run_fastmlp(_fastmlp_opt(cls, kw, wd, clip_norm=clip), p0, grads)
    ref = _run_torch(torch, kind, p0, grads, wd=wd, clip=clip, **kw)
    unclipped = _run_torch(torch, kind, p0, grads, wd=wd, **kw)
    assert h.rel_err(ours, ref) < TOL[np.dtype(dtype)]
    assert h.rel_err(unclipped, ref) > 100 * TOL[np.dtype(dtype)]   # clipping mattered


@pytest.mark.parametrize("cls, kw", [(SGD, dict(lr=0.05, momentum=0.9)), (Adam, dict(lr=0.01)),
                                     (AdamW, dict(lr=0.01))], ids=["sgd", "adam", "adamw"])
def test_clip_norm_inactive_below_threshold(rng, cls, kw):
    """Every gradient norm is below clip_norm: the trajectory is bit-identical to the
    unclipped optimizer's."""
    p0, grads = _problem(rng, np.float64)
    norms = np.linalg.norm(grads, axis=1)
    clip = 1.5 * norms.max()
    clipped = _run_fastmlp(cls(**kw, clip_norm=clip), p0, grads)
    plain = _run_fastmlp(cls(**kw), p0, grads)
    np.testing.assert_array_equal(clipped, plain)


def test_clip_norm_single_step_by_hand(rng):
    """SGD without momentum: one clipped step is p - lr · g · clip / (‖g‖ + 1e-6)
    (torch.nn.utils.clip_grad_norm_'s factor)."""
    p0 = rng.standard_normal(N_PARAMS)
    g = 3.0 * rng.standard_normal(N_PARAMS)
    norm = math.sqrt(float(np.sum(g * g)))
    clip = norm / 4
    p = p0.copy()
    SGD(lr=0.1, clip_norm=clip).step(p, g)
    expected = p0 - 0.1 * (g * (clip / (norm + 1e-6)))
    np.testing.assert_allclose(p, expected, rtol=1e-13, atol=1e-15)
    # the step's norm is lr · clip · ‖g‖ / (‖g‖ + 1e-6)
    step_norm = 0.1 * clip * norm / (norm + 1e-6)
    assert abs(np.linalg.norm(p - p0) - step_norm) < 1e-12 * step_norm


# ---------------------------------------------------------------------------
# decay_mask
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("mask_dtype", [bool, np.uint8], ids=["bool", "uint8"])
@pytest.mark.parametrize("name, cls, kind, kw, wd",
                         [CONFIGS[3], CONFIGS[5], CONFIGS[7], CONFIGS[9]],
                         ids=["sgd-wd", "sgd-nesterov-wd", "adam-wd", "adamw"])
def test_decay_mask_matches_torch_param_groups(torch, h, rng, name, cls, kind, kw, wd,
                                               mask_dtype, dtype):
    p0, grads = _problem(rng, dtype)
    mask = rng.uniform(size=N_PARAMS) < 0.6
    ours = _run_fastmlp(_fastmlp_opt(cls, kw, wd), p0, grads, mask.astype(mask_dtype))
    ref = _run_torch(torch, kind, p0, grads, mask=mask, wd=wd, **kw)
    assert h.rel_err(ours, ref) < TOL[np.dtype(dtype)]
    # and the masked entries are exactly those of an optimizer without weight decay
    if dtype is np.float64:
        no_wd = _run_fastmlp(_fastmlp_opt(cls, kw, 0.0), p0, grads)
        assert h.rel_err(ours[~mask], no_wd[~mask]) < 1e-12
        assert h.rel_err(ours[mask], no_wd[mask]) > 1e-6


def test_decay_mask_of_wrong_shape_is_refused(rng):
    p, g = np.zeros(10), np.ones(10)
    with pytest.raises(ValueError, match="decay_mask"):
        SGD(weight_decay=0.1).step(p, g, np.ones(9, bool))
    assert np.all(p == 0)


# ---------------------------------------------------------------------------
# Schedules: hand-computed values
# ---------------------------------------------------------------------------

def test_constant_schedule():
    s = Constant()
    assert [s(t) for t in (0, 1, 10, 10**6)] == [1.0, 1.0, 1.0, 1.0]


def test_step_decay_values():
    s = StepDecay(3, 0.5)
    assert [s(t) for t in range(10)] == [1, 1, 1, .5, .5, .5, .25, .25, .25, .125]
    s = StepDecay(1, 0.1)
    for t in range(6):
        assert s(t) == pytest.approx(10.0 ** -t, rel=1e-14)
    s = StepDecay(10)                           # gamma defaults to 0.1
    assert s(9) == 1.0 and s(10) == pytest.approx(0.1) and s(25) == pytest.approx(0.01)


def test_cosine_values():
    s = Cosine(100, 0.1)
    assert s(0) == pytest.approx(1.0, abs=1e-15)
    assert s(50) == pytest.approx(0.1 + 0.9 * 0.5, rel=1e-14)          # cos(pi/2) = 0
    assert s(25) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.sqrt(0.5)), rel=1e-14)
    assert s(100) == pytest.approx(0.1, rel=1e-14)
    assert s(101) == pytest.approx(0.1, rel=1e-14)
    assert s(10**6) == pytest.approx(0.1, rel=1e-14)
    s0 = Cosine(10)                               # min_factor defaults to 0
    assert s0(5) == pytest.approx(0.5, rel=1e-14)
    assert s0(10) == pytest.approx(0.0, abs=1e-15)
    assert s0(20) == pytest.approx(0.0, abs=1e-15)
    vals = [s(t) for t in range(101)]
    assert all(a >= b for a, b in zip(vals, vals[1:]))                 # non-increasing


def test_inverse_scaling_values():
    s = InverseScaling(0.5)
    assert s(0) == 1.0
    assert s(3) == pytest.approx(0.5, rel=1e-15)
    assert s(8) == pytest.approx(1 / 3, rel=1e-15)
    assert s(99) == pytest.approx(0.1, rel=1e-15)
    assert InverseScaling(0.25)(15) == pytest.approx(0.5, rel=1e-15)
    assert InverseScaling(1.0)(4) == pytest.approx(0.2, rel=1e-15)
    assert InverseScaling(0.0)(1000) == 1.0
    assert InverseScaling()(3) == pytest.approx(0.5, rel=1e-15)         # scikit-learn's 0.5


def test_make_schedule_by_name_and_object():
    assert isinstance(make_schedule(None), Constant)
    assert make_schedule("constant", 10)(7) == 1.0
    assert make_schedule("invscaling")(3) == pytest.approx(0.5, rel=1e-15)
    cos = make_schedule("cosine", 200)
    assert cos(0) == pytest.approx(1.0) and cos(100) == pytest.approx(0.5)
    assert cos(200) == pytest.approx(0.0, abs=1e-15)
    obj = StepDecay(4, 0.5)
    assert make_schedule(obj, 99) is obj

    def fn(t):
        return 0.25
    assert make_schedule(fn) is fn
    with pytest.raises(ValueError, match="schedule"):
        make_schedule("linear", 10)
    with pytest.raises(ValueError, match="cosine"):
        make_schedule("cosine")                   # a horizon is needed by name
    with pytest.raises(ValueError, match="step"):
        make_schedule("step")


@pytest.mark.parametrize("total", [9, 30, 10, 11, 100])
def test_make_schedule_step_decays_twice_over_the_horizon(total):
    """make_schedule("step", total): "decays by 10x at a third and two thirds" of the
    horizon, so over the total updates t = 0 .. total-1 the factor takes exactly the
    values 1, 0.1, 0.01 and the last update uses 0.01.

    Fails when total is not a multiple of 3: StepDecay(total // 3) makes a THIRD
    decay (factor 0.001) for the last total % 3 updates (optim.py, make_schedule)."""
    s = make_schedule("step", total)
    factors = [s(t) for t in range(total)]
    assert factors[0] == 1.0
    assert factors[-1] == pytest.approx(0.01, rel=1e-12), \
        f"total={total}: last update uses factor {factors[-1]}"
    distinct = sorted({round(f, 12) for f in factors}, reverse=True)
    assert distinct == [1.0, 0.1, 0.01]


@pytest.mark.parametrize("schedule, factor", [
    (StepDecay(3, 0.5), lambda t: 0.5 ** (t // 3)),
    (Cosine(8, 0.2), lambda t: 0.2 + 0.8 * 0.5 * (1 + math.cos(math.pi * min(t, 8) / 8))),
    (InverseScaling(0.5), lambda t: 1 / math.sqrt(t + 1)),
    (None, lambda t: 1.0),
], ids=["step", "cosine", "invscaling", "none"])
def test_optimizer_uses_lr_times_schedule_of_t(rng, schedule, factor):
    """SGD without momentum: the t-th update (t = 0, 1, ...) moves p by exactly
    -lr · factor(t) · g, and current_lr announces lr · factor(t) before it."""
    lr = 0.3
    opt = SGD(lr=lr, schedule=schedule)
    p = rng.standard_normal(50)
    for t in range(12):
        assert opt.t == t
        assert opt.current_lr == pytest.approx(lr * factor(t), rel=1e-14)
        g = rng.standard_normal(50)
        before = p.copy()
        opt.step(p, g)
        np.testing.assert_allclose(p, before - (lr * factor(t)) * g, rtol=1e-14, atol=1e-15)
    assert opt.t == 12


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
# State: t, reset
# ---------------------------------------------------------------------------

def test_adam_state_continues_and_reset_forgets(torch, h, rng):
    p0, grads = _problem(rng, np.float64, steps=10)
    opt = Adam(lr=0.01, weight_decay=0.01)
    p = p0.copy()
    for i, g in enumerate(grads[:5]):
        opt.step(p, g)
        assert opt.t == i + 1
    # continuing across step() calls == one torch run of 10 steps (the state is
    # bound to the vector p: it continues on p itself)
    cont = p
    for g in grads[5:]:
        opt.step(cont, g)
    assert opt.t == 10
    assert h.rel_err(cont, _run_torch(torch, "adam", p0, grads, wd=0.01, lr=0.01)) < 1e-10

    # reset(): t back to 0, the next step is a fresh Adam's first step
    opt.reset()
    assert opt.t == 0 and opt.current_lr == 0.01
    start = cont.copy()
    g = grads[0]
    opt.step(cont, g)
    assert opt.t == 1
    fresh = _run_torch(torch, "adam", start, g[None], wd=0.01, lr=0.01)
    assert h.rel_err(cont, fresh) < 1e-12
    # by hand: the first Adam step (coupled decay) moves each entry by lr·ĝ/(|ĝ| + eps)
    gg = g + 0.01 * start
    np.testing.assert_allclose(cont - start, -0.01 * gg / (np.abs(gg) + 1e-8), rtol=1e-10)


def test_sgd_momentum_reset_forgets_the_buffer(rng):
    """After reset() the momentum buffer starts from the gradient again: the first
    step is p - lr·g exactly (no leftover momentum)."""
    opt = SGD(lr=0.1, momentum=0.9)
    p = rng.standard_normal(20)
    for _ in range(3):
        opt.step(p, rng.standard_normal(20))
    opt.reset()
    g = rng.standard_normal(20)
    before = p.copy()
    opt.step(p, g)
    np.testing.assert_allclose(p, before - 0.1 * g, rtol=1e-15, atol=1e-16)
    # and without reset the buffer is used: second step = p - lr (μ g1 + g2)
    g2 = rng.standard_normal(20)
    before = p.copy()
    opt.step(p, g2)
    np.testing.assert_allclose(p, before - 0.1 * (0.9 * g + g2), rtol=1e-14, atol=1e-15)


# ---------------------------------------------------------------------------
# L-BFGS
# ---------------------------------------------------------------------------

def _linear_data(rng, n=200, d=4):
    X = rng.standard_normal((n, d)) * np.array([1.0, 2.0, 0.5, 3.0])[:d] + 0.3
    w = rng.standard_normal(d)
    y = X @ w + 0.7 + 0.1 * rng.standard_normal(n)
    return X, y


def test_lbfgs_linear_regression_reaches_lstsq(rng):
    X, y = _linear_data(rng)
    net = Network([4, 1], loss="mse", dtype=np.float64, seed=3)
    assert net.layers[0].activation == "identity"
    res = optim.lbfgs(net, X, y, max_iter=500, tol=1e-12)
    A = np.hstack([X, np.ones((X.shape[0], 1))])
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    got = np.concatenate([net.layers[0].W.ravel(), net.layers[0].b])
    np.testing.assert_allclose(got, coef, rtol=1e-6, atol=1e-7)
    assert np.allclose(res.x, net.params)


def test_lbfgs_with_l2_reaches_the_ridge_solution(rng):
    """l2 penalizes the weights only: minimize 1/(2n)‖Xw + b - y‖² + l2/2 ‖w‖²,
    solved here by the normal equations with an unpenalized intercept."""
    X, y = _linear_data(rng)
    l2 = 0.5
    net = Network([4, 1], loss="mse", dtype=np.float64, seed=0, l2=l2)
    optim.lbfgs(net, X, y, max_iter=500, tol=1e-12)
    n = X.shape[0]
    A = np.hstack([X, np.ones((n, 1))])
    P = np.diag([l2] * 4 + [0.0])
    coef = np.linalg.solve(A.T @ A / n + P, A.T @ y / n)
    got = np.concatenate([net.layers[0].W.ravel(), net.layers[0].b])
    np.testing.assert_allclose(got, coef, rtol=1e-6, atol=1e-7)
    unpenalized, *_ = np.linalg.lstsq(A, y, rcond=None)
    assert np.abs(got - unpenalized).max() > 1e-3       # the penalty made a difference


def test_lbfgs_on_a_nonlinear_network_converges(rng):
    X = rng.uniform(-2, 2, size=(120, 2))
    y = np.sin(X[:, :1]) * np.cos(X[:, 1:])
    net = Network([2, 6, 1], activation="tanh", loss="mse", dtype=np.float64, seed=2)
    loss0, g0 = net.gradient(X, y)
    res = optim.lbfgs(net, X, y, max_iter=2000, tol=1e-10)
    loss1, g1 = net.gradient(X, y)
    # independent loss at the final parameters (NumPy forward pass)
    _, As = _np_forward(net, X)
    np.testing.assert_allclose(loss1, 0.5 * np.mean(np.sum((As - y) ** 2, axis=1)),
                               rtol=1e-12)
    assert loss1 < 0.01 * loss0
    # at a (local) minimum: the gradient has all but vanished (scipy stops on the
    # relative reduction of the loss, so "small" is relative to the starting gradient)
    assert np.linalg.norm(g1) < 2e-3 * np.linalg.norm(g0), (res.message, np.linalg.norm(g1))
    assert np.array_equal(net.params, res.x)


def _np_forward(net, X):
    A = np.asarray(X, np.float64)
    for layer in net.layers:
        Z = A @ layer.W + layer.b
        A = np.tanh(Z) if layer.activation == "tanh" else Z
    return Z, A


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
