"""Small built-in data sets: no files, no downloads.

    xor(n)        2 features, 2 classes: the sign of x0 · x1 (XOR of the quadrants)
    spirals(n)    2 features, 2 classes: two interleaved spirals
"""
import numpy as np


def xor(n=200, noise=0.1, seed=None, dtype=np.float64):
    """(X, y): points around the four corners (±1, ±1); class 1 where x0·x1 < 0."""
    rng = np.random.default_rng(seed)
    corners = rng.integers(0, 2, size=(n, 2)) * 2 - 1
    X = corners + noise * rng.standard_normal((n, 2))
    y = (corners[:, 0] != corners[:, 1]).astype(np.intp)
    return X.astype(dtype), y


def spirals(n=400, noise=0.2, turns=1.5, seed=None, dtype=np.float64):
    """(X, y): two interleaved spirals of n // 2 points each, classes 0 and 1."""
    rng = np.random.default_rng(seed)
    m = n // 2
    t = np.sqrt(rng.uniform(0, 1, m)) * turns * 2 * np.pi
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (turns * 2 * np.pi) * 3
    X = np.concatenate([arm, -arm]) + noise * rng.standard_normal((2 * m, 2)) / 3
    y = np.repeat(np.array([0, 1], dtype=np.intp), m)
    order = rng.permutation(2 * m)
    return X[order].astype(dtype), y[order]
