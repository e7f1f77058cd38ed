"""Standardizer: x' = (x - mean) / scale, fitted on training data.

A Network that has one (net.scaler) applies it to every X it is given, so users
always speak in their own feature units; it is saved with the model.
"""
import numpy as np

from . import _kernels
from ._validation import MAX_DIM, as_array

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _float_matrix(X, n_cols):
    """X is what the compiled loops take: a C-contiguous, aligned, native float32 or
    float64 matrix of n_cols columns (and 1 to MAX_DIM rows), as _kernels.ready_matrix
    says for the kernels."""
    return _kernels.ready_matrix(X, None, n_cols, MAX_DIM, finite=False)


class Standardizer:
    """Per-feature standardization.  Features with zero spread keep scale 1."""

    def __init__(self, mean, scale):
        mean = as_array(mean, "mean", np.float64)
        scale = as_array(scale, "scale", np.float64)
        if mean.ndim != 1 or scale.shape != mean.shape:
            raise ValueError(f"mean and scale must be 1-D arrays of one length, got shapes "
                             f"{mean.shape} and {scale.shape}")
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(scale)) and np.all(scale > 0)):
            raise ValueError("mean must be finite and scale finite and positive")
        self.mean = mean
        self.scale = scale

    def float64_vectors(self):
        """(mean, scale) as C-contiguous float64 arrays: what the compiled loops and
        model files take (the arrays themselves when they already are)."""
        return (np.ascontiguousarray(self.mean, np.float64),
                np.ascontiguousarray(self.scale, np.float64))

    @classmethod
    def fit(cls, X):
        """Fit on the rows of X (n_samples × n_features): the mean and spread of each
        column, as NumPy's mean and std of X in float64 (for a C-ordered float32 or
        float64 X, compiled loops give those bits without a float64 copy of X)."""
        fast = type(X) is np.ndarray and X.ndim == 2 and _float_matrix(X, X.shape[1])
        X = X if fast else as_array(X, "X", np.float64)
        if X.ndim != 2 or X.shape[0] == 0:
            raise ValueError(f"X must be a non-empty 2-D array, got shape {X.shape}")
        if not (_kernels.all_finite(X) if fast else np.all(np.isfinite(X))):
            raise ValueError("X contains NaN or infinity")
        with np.errstate(over="ignore", invalid="ignore"):
            if fast:
                mean, var = _kernels.column_moments(X)
                scale = np.sqrt(var)
            else:
                mean, scale = X.mean(axis=0), X.std(axis=0)
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(scale))):
            raise ValueError("X is too large to standardize: its mean or spread overflows "
                             "float64")
        return cls(mean, np.where(scale > 0, scale, 1.0))

    @property
    def n_features(self):
        return self.mean.size

    def transform(self, X, dtype=None):
        """(X - mean) / scale, computed in float64, as `dtype` (default: X's float
        dtype); one compiled pass for a C-ordered float32 or float64 matrix."""
        X = np.asarray(X)
        dtype = np.dtype(dtype or (X.dtype if X.dtype.kind == "f" else np.float64))
        if (dtype in _FLOATS and self.mean.shape == self.scale.shape == (self.mean.size,)
                and _float_matrix(X, self.mean.size)):
            return _kernels.standardize(X, *self.float64_vectors(), dtype)
        out = (X - self.mean) / self.scale
        return out.astype(dtype, copy=False)

    def inverse_transform(self, Xs):
        """Back to the original units: Xs · scale + mean."""
        return np.asarray(Xs) * self.scale + self.mean

    def __repr__(self):
        return f"Standardizer(n_features={self.n_features})"
