"""Standardizer: x' = (x - mean) / scale, fitted on training data.

A Network that has one (net.scaler) applies it to every X it is given, so users
always speak in their own feature units; it is saved with the model.
"""
import numpy as np

from ._validation import as_array


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

    @classmethod
    def fit(cls, X):
        """Fit on the rows of X (n_samples × n_features)."""
        X = as_array(X, "X", np.float64)
        if X.ndim != 2 or X.shape[0] == 0:
            raise ValueError(f"X must be a non-empty 2-D array, got shape {X.shape}")
        if not np.all(np.isfinite(X)):
            raise ValueError("X contains NaN or infinity")
        with np.errstate(over="ignore", invalid="ignore"):
            mean, scale = X.mean(axis=0), X.std(axis=0)
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(scale))):
            raise ValueError("X is too large to standardize: its mean or spread overflows "
                             "float64")
        return cls(mean, np.where(scale > 0, scale, 1.0))

    @property
    def n_features(self):
        return self.mean.size

    def transform(self, X, dtype=None):
        """(X - mean) / scale, as `dtype` (default: X's float dtype)."""
        X = np.asarray(X)
        out = (X - self.mean) / self.scale
        return out.astype(dtype or (X.dtype if X.dtype.kind == "f" else np.float64), copy=False)

    def inverse_transform(self, Xs):
        """Back to the original units: Xs · scale + mean."""
        return np.asarray(Xs) * self.scale + self.mean

    def __repr__(self):
        return f"Standardizer(n_features={self.n_features})"
