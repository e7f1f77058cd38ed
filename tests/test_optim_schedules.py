"""fastmlp.optim's learning-rate schedules (Constant, StepDecay, Cosine, InverseScaling,
make_schedule) against factors written out by hand from their formulas, and an optimizer's
step and current_lr following lr · schedule(t)."""
import math

import numpy as np
import pytest

from fastmlp.optim import SGD, Constant, Cosine, InverseScaling, StepDecay, make_schedule


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
