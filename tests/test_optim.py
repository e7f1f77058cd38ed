"""fastmlp.optim's SGD / Adam / AdamW updates against torch.optim fed the SAME gradient
sequence: plain and scheduled (torch's LambdaLR), clipped by global norm (clip_grad_norm_),
with a weight-decay mask (two param groups), and the state kept across step() and reset().

Error measure: conftest.rel_err (max|a - r| / max|r|) over the whole parameter vector.
"""
import math

import numpy as np
import pytest

from fastmlp.optim import SGD, Adam, AdamW, Cosine, InverseScaling, StepDecay

from _optim_helpers import (
    N_PARAMS, N_STEPS, CONFIGS, _problem, _fastmlp_opt, _run_fastmlp, _run_torch)

TOL = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-5}
DTYPES = [np.float64, np.float32]


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
