"""The one-pass check of plain target values (_kernels.ready_targets,
csrc/_ready_targets.pxi) against the full check it stands in front of
(fastmlp._validation.check_targets): wherever it answers, the same array, dtype and
bits; wherever check_targets refuses, it does not answer; a read-only y is only read.
"""
import numpy as np
import pytest

from fastmlp import Network, _kernels
from fastmlp._validation import check_targets

BOUNDS = {"mse": (-np.inf, np.inf), "binary_cross_entropy": (0.0, 1.0),
          "poisson": (0.0, np.inf)}
B = 37


def _candidates(rng, n_out):
    """Targets as users pass them, good and bad: dtypes, shapes, layouts, byte
    orders, values."""
    base = rng.uniform(0, 1, (B, n_out))
    out = {"float64": base, "float32": base.astype(np.float32),
           "int64 0/1": (base > 0.5).astype(np.int64),
           "int32": (base > 0.5).astype(np.int32), "bool": base > 0.5,
           "negative": base - 0.5, "above one": base + 0.5, "large": base * 1e39,
           "huge float32": np.full((B, n_out), 3.5e38), "-0.0": -0.0 * base,
           "fortran": np.asfortranarray(base), "strided": np.repeat(base, 2, axis=1)[:, ::2],
           "short": base[:-1], "wide": np.hstack([base, base]), "3-D": base[..., None],
           "0-d": np.array(0.5), "empty": np.zeros((0, n_out)),
           "big-endian": base.astype(">f8")}
    for name, value in (("nan", np.nan), ("inf", np.inf), ("-inf", -np.inf)):
        bad = base.copy()
        bad[B // 2, -1] = value
        out[name] = bad
    if n_out == 1:
        out["vector"] = base.ravel()
        out["int64 vector"] = (base.ravel() > 0.5).astype(np.int64)
    readonly = base.astype(np.float32)
    readonly.flags.writeable = False
    out["read-only float32"] = readonly
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("n_out", [1, 3])
@pytest.mark.parametrize("loss", sorted(BOUNDS))
def test_answers_only_what_check_targets_accepts_and_with_its_bits(rng, loss, n_out, dtype):
    answered = 0
    for name, y in _candidates(rng, n_out).items():
        before = y.copy()
        fast = _kernels.ready_targets(y, np.dtype(dtype), n_out, B, *BOUNDS[loss])
        try:
            T, labels = check_targets(y, "y", loss, n_out, B, dtype)
        except (ValueError, TypeError):
            assert fast is None, name
            continue
        assert labels is None
        if fast is not None:
            answered += 1
            assert fast.dtype == T.dtype and fast.shape == T.shape, name
            assert fast.flags.c_contiguous, name
            np.testing.assert_array_equal(fast, T, err_msg=name)
            assert np.array_equal(np.signbit(fast), np.signbit(T)), name
        np.testing.assert_array_equal(y, before, err_msg=name)      # y only read
    assert answered >= 5          # the common cases take the fast path


def test_train_step_refuses_what_it_refused_and_takes_what_users_pass():
    """Through the public call: the same errors naming y, the same steps."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((B, 4)).astype(np.float32)
    for loss, good, bad, match in [
            ("binary_cross_entropy", rng.integers(0, 2, B), np.full(B, 1.5), r"\[0, 1\]"),
            ("mse", rng.standard_normal(B), np.full(B, 1e39), "overflow|float32"),
            ("poisson", rng.poisson(2.0, B), np.full(B, -1.0), ">= 0")]:
        a = Network([4, 5, 1], loss=loss, dtype=np.float32, seed=0)
        b = Network([4, 5, 1], loss=loss, dtype=np.float32, seed=0)
        a.train_step(X, good, lr=0.1)                               # as users pass them
        b.train_step(X, good.astype(np.float32).reshape(-1, 1), lr=0.1)
        np.testing.assert_array_equal(a.params, b.params)
        params = a.params.copy()
        with pytest.raises(ValueError, match=match):
            a.train_step(X, bad, lr=0.1)
        np.testing.assert_array_equal(a.params, params)
