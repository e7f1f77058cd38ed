"""Standardizer.fit and transform (fastmlp/preprocessing.py, csrc/_standardize.pxi):
the compiled loops a C-ordered float32 or float64 X takes give the bits of the NumPy
expressions on a float64 copy of X, which every other X still takes; bad X is refused
as before.  Also the one-pass column range fit records (_kernels.column_range)."""
import numpy as np
import pytest

from fastmlp import _kernels
from fastmlp.preprocessing import Standardizer

SHAPES = [(1, 1), (1, 5), (2, 3), (7, 5), (100, 37), (1000, 1), (3000, 130)]


def numpy_fit(X):
    X64 = np.asarray(X, np.float64)
    mean, std = X64.mean(axis=0), X64.std(axis=0)
    return mean, np.where(std > 0, std, 1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_fit_gives_numpys_mean_and_std(dtype, shape):
    rng = np.random.default_rng(shape[0] * 7 + shape[1])
    X = (rng.normal(size=shape) * rng.uniform(0.01, 1e3, shape[1])
         + rng.uniform(-1e4, 1e4, shape[1])).astype(dtype)
    X[:, 0] = 2.5                               # a constant column: scale 1
    s = Standardizer.fit(X)
    mean, scale = numpy_fit(X)
    assert np.array_equal(s.mean, mean) and np.array_equal(s.scale, scale)
    assert s.scale[0] == 1.0
    # the same data as a list of rows and as a strided view take NumPy's path
    assert np.array_equal(Standardizer.fit(X.tolist()).scale, scale)
    wide = np.repeat(X, 2, axis=1)[:, ::2]
    assert np.array_equal(Standardizer.fit(wide).mean, mean)


@pytest.mark.parametrize("x_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dtype", [None, np.float32, np.float64])
def test_transform_gives_numpys_bits(x_dtype, dtype):
    rng = np.random.default_rng(3)
    s = Standardizer(rng.normal(0, 100, 37), rng.uniform(1e-3, 1e3, 37))
    for rows in (0, 1, 5, 1001):
        X = rng.normal(0, 300, (rows, 37)).astype(x_dtype)
        want = ((X - s.mean) / s.scale).astype(dtype or x_dtype)
        got = s.transform(X, dtype)
        assert got.dtype == want.dtype and got.flags.c_contiguous
        assert np.array_equal(got, want), rows
    # integers, a single row as a vector and a Fortran-ordered X take NumPy's path
    assert s.transform(np.arange(37)).dtype == np.float64
    X = rng.normal(size=(4, 37))
    assert np.array_equal(s.transform(X[0]), s.transform(X)[0])
    assert np.array_equal(s.transform(np.asfortranarray(X)), s.transform(X))


def test_bad_rows_are_refused_as_before():
    X = np.ones((50, 4), np.float32)
    for value in (np.nan, np.inf):
        bad = X.copy()
        bad[49, 3] = value
        with pytest.raises(ValueError, match="NaN or infinity"):
            Standardizer.fit(bad)
    with pytest.raises(ValueError, match="too large to standardize"):
        Standardizer.fit(np.array([[1e308], [1.7e308]]))
    with pytest.raises(ValueError, match="non-empty 2-D"):
        Standardizer.fit(np.empty((0, 3), np.float32))


def test_the_compiled_loops_refuse_what_they_cannot_read():
    X = np.ones((3, 4))
    for args in [(X[:, ::2], np.zeros(2), np.ones(2), np.float32),
                 (X, np.zeros(3), np.ones(4), np.float32),
                 (X, np.zeros(4, np.float32), np.ones(4), np.float32),
                 (X.astype(np.int64), np.zeros(4), np.ones(4), np.float32),
                 (X, np.zeros(4), np.ones(4), np.int32)]:
        with pytest.raises(ValueError):
            _kernels.standardize(*args)
    for bad in (X[:, ::2], X.astype(np.int32), np.empty((0, 4)), np.ones(4)):
        for loop in (_kernels.column_moments, _kernels.column_range):
            with pytest.raises(ValueError):
                loop(bad)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES + [(3, 4), (5, 9), (6, 2)])
def test_column_range_gives_numpys_min_max_and_mean(dtype, shape):
    """Four rows a time and the rest one by one: every row count up to 7 and more."""
    rng = np.random.default_rng(shape[0] * 5 + shape[1])
    X = (rng.normal(size=shape) * rng.uniform(0.01, 1e3, shape[1])
         + rng.uniform(-1e4, 1e4, shape[1])).astype(dtype)
    X[-1, 0] = -3e4                             # the extremes in the last row,
    X[-1, -1] = 3e4                             # which the four-row loop may leave
    lo, hi, mean = _kernels.column_range(X)
    assert lo.dtype == hi.dtype == mean.dtype == np.float64
    assert np.array_equal(lo, X.min(axis=0)) and np.array_equal(hi, X.max(axis=0))
    # the sums run over the rows in order: NumPy's for a matrix of several columns,
    # while one column NumPy sums pairwise (np.cumsum adds in order for any shape)
    in_order = np.cumsum(X.astype(np.float64), axis=0)[-1] / shape[0]
    assert np.array_equal(mean, in_order)
    if shape[1] > 1:
        assert np.array_equal(mean, X.mean(axis=0, dtype=np.float64))
