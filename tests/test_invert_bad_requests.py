"""Requests invert() cannot fulfil: malformed arguments raise ValueError naming the
argument, and unreachable targets return the closest point found (for an identity net,
the box-constrained least-squares point of scipy.optimize.lsq_linear) with success False.
"""

import numpy as np
import pytest
import scipy.optimize

from fastmlp import Network, invert

from _inversion_helpers import affine_map, identity_net


def _mse_net():
    return Network([3, 5, 2], "tanh", "mse", dtype=np.float64, seed=0)


def _ce_net():
    return Network([3, 5, 4], "tanh", "cross_entropy", dtype=np.float64, seed=0)


BAD = [
    ("target wrong length", _mse_net, dict(target=[0.0, 1.0, 2.0]), r"target must have 2"),
    ("class_index too large", _ce_net, dict(class_index=4), r"class_index.*\[0, 4\)"),
    ("class_index negative", _ce_net, dict(class_index=-1), r"class_index.*\[0, 4\)"),
    ("class_index on mse", _mse_net, dict(class_index=0), r"cross_entropy"),
    ("target and class_index", _ce_net, dict(target=[0.1] * 4, class_index=0), r"exactly one"),
    ("neither", _mse_net, dict(), r"exactly one"),
    ("bounds lo > hi", _mse_net, dict(target=[0, 0], bounds=[(0, 1), (2, 1), (0, 1)]),
     r"feature 1: lo = 2.0 > hi = 1.0"),
    ("bounds pair lo > hi", _mse_net, dict(target=[0, 0], bounds=(1, 0)), r"lo = 1.0 > hi"),
    ("bounds wrong shape", _mse_net, dict(target=[0, 0], bounds=[(0, 1)] * 2), r"\(3, 2\)"),
    ("fixed outside bound", _mse_net, dict(target=[0, 0], bounds=(0, 1), fixed={1: 2.0}),
     r"fixed value 2.0 of feature 1 lies outside"),
    ("fixed mask value outside bound", _mse_net,
     dict(target=[0, 0], bounds=(0, 1), fixed=[False, True, False], x0=[0.5, 1.5, 0.5]),
     r"outside its bounds"),
    ("fixed index out of range", _mse_net, dict(target=[0, 0], fixed={3: 0.0}),
     r"feature index 3 is not in \[0, 3\)"),
    ("fixed negative index", _mse_net, dict(target=[0, 0], fixed={-1: 0.0}),
     r"feature index -1"),
    ("all fixed (dict)", _mse_net, dict(target=[0, 0], fixed={0: 0, 1: 0, 2: 0}),
     r"every feature is fixed"),
    ("all fixed (mask)", _mse_net, dict(target=[0, 0], fixed=[True] * 3, x0=[0, 0, 0]),
     r"every feature is fixed"),
    ("fixed mask without x0", _mse_net, dict(target=[0, 0], fixed=[True, False, False]),
     r"give x0"),
    ("x0 wrong length", _mse_net, dict(target=[0, 0], x0=[0.0, 0.0]), r"x0 must have 3"),
    ("x0 NaN", _mse_net, dict(target=[0, 0], x0=[0.0, np.nan, 0.0]), r"x0 contains NaN"),
    ("target all NaN", _mse_net, dict(target=[np.nan, np.nan]), r"no output is specified"),
    ("target all masked", _mse_net, dict(target=[0, 0], mask=[False, False]),
     r"no output is specified"),
    ("target infinite", _mse_net, dict(target=[0, np.inf]), r"infinity"),
    ("min_prob 1", _ce_net, dict(class_index=0, min_prob=1.0), r"min_prob"),
    ("unknown objective", _ce_net, dict(class_index=0, objective="hinge"), r"objective"),
    ("negative reg", _mse_net, dict(target=[0, 0], reg=-1.0), r"reg"),
    ("x_ref wrong length", _mse_net, dict(target=[0, 0], reg=1.0, x_ref=[0, 0]), r"x_ref"),
    ("starts wrong width", _mse_net, dict(target=[0, 0], starts=np.zeros((2, 2))), r"starts"),
    ("bounds NaN", _mse_net, dict(target=[0, 0], bounds=(0, np.nan)), r"NaN"),
    ("bounds unknown word", _mse_net, dict(target=[0, 0], bounds="train"), r"bounds"),
]


@pytest.mark.parametrize("net_fn,kwargs,match", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_requests_raise_value_error(net_fn, kwargs, match):
    with pytest.raises(ValueError, match=match):
        invert(net_fn(), **kwargs)


def test_nan_in_starts_is_reported_as_starts():
    """The error should name the argument the user gave (starts), not an internal X."""
    with pytest.raises(ValueError, match=r"starts"):
        invert(_mse_net(), [0.0, 0.0], bounds=None, starts=np.full((2, 3), np.nan))


def test_sigmoid_output_cannot_reach_2():
    net = Network([3, 8, 1], "tanh", "mse", output_activation="sigmoid", dtype=np.float64,
                  seed=1)
    r = invert(net, [2.0], bounds=None, seed=0)
    assert not r.success
    assert "unreachable" in r.message
    assert 0 < r.output[0] < 1 and abs(r.residual - (2.0 - r.output[0])) <= 1e-12
    assert np.allclose(r.output, net.forward(r.x)[0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("n_in,n_out,box,seed", [(2, 2, (0.0, 1.0), 3), (3, 3, (-0.5, 0.5), 6),
                                                 (2, 3, (-0.5, 0.5), 4)])
def test_unreachable_target_gives_the_box_constrained_least_squares_point(n_in, n_out, box, seed):
    net = identity_net(n_in, n_out, seed=seed)
    A, c = affine_map(net)
    rng = np.random.default_rng(seed)
    lo, hi = box
    for _ in range(3):
        # a target whose exact preimage lies outside the box
        x_out = rng.uniform(lo, hi, n_in)
        x_out[0] = hi + 1.5 * (hi - lo)
        t = A @ x_out + c + (0.3 * rng.normal(size=n_out) if n_out > n_in else 0)
        ref = scipy.optimize.lsq_linear(A, t - c, bounds=box, method="bvls", tol=1e-14)
        if not np.isfinite(ref.cost) or np.abs(A @ ref.x + c - t).max() <= 1e-3:
            continue                                         # happened to be reachable
        r = invert(net, t, bounds=box, seed=0)
        assert not r.success
        assert "unreachable" in r.message
        assert np.abs(r.x - ref.x).max() <= 1e-6, (r.x, ref.x)
        assert np.all(r.x >= lo) and np.all(r.x <= hi)


def test_reachable_target_traded_off_by_reg_is_not_called_unreachable():
    """With reg > 0 the answer trades the target against the pull toward x_ref.  When the
    target IS reachable (reg = 0 reaches it, no bounds), the message must not claim it is
    'unreachable within the bounds' nor that x is 'the closest point'."""
    net = identity_net(4, 2, seed=1, hidden=(6,))
    t = np.array([0.3, -0.7])
    assert invert(net, t, bounds=None, seed=0).success
    r = invert(net, t, bounds=None, reg=1.0, x_ref=np.zeros(4), seed=0)
    assert "unreachable" not in r.message, r.message
