"""Sums over partitions in a FIXED order, whichever worker holds which partition and
whichever finishes first: a pairwise tree over the partitions' indices,

    ((p0 + p1) + (p2 + p3)) + p4

so the rounding, and therefore the result, is the same from run to run (and after a
worker is lost and its blocks recomputed).
"""
import numpy as np


def add(a, b):
    """a + b for partial results: numbers, arrays, tuples of them, or dicts of
    numbers (e.g. compute seconds per worker, summed key by key)."""
    if isinstance(a, dict):
        return {k: a.get(k, 0) + b.get(k, 0) for k in a.keys() | b.keys()}
    if isinstance(a, tuple):
        return tuple(add(x, y) for x, y in zip(a, b))
    if a is None:
        return None
    return np.add(a, b) if isinstance(a, np.ndarray) else a + b


def tree_sum(client, futures):
    """One future holding the fixed-order pairwise sum of the partial results."""
    level = list(futures)
    while len(level) > 1:
        pairs = [client.submit(add, level[i], level[i + 1], pure=False)
                 for i in range(0, len(level) - 1, 2)]
        level = pairs + level[len(level) - len(level) % 2:]
    return level[0]
