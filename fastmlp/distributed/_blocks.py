"""Row blocks: the checks on dask inputs, and the training data as validated blocks
held on the workers.

    X, y  (dask arrays chunked along rows, or dask DataFrames / Series)
      │ check_inputs: one column chunk, numeric dtypes, row chunks that line up
      ▼
    one task per partition: check_matrix / check_targets on the block (NaN, labels,
    shapes), cast to the network's dtype, scaled if the network has a Standardizer
      ▼
    Partitions: a future per block (X, T, labels), resident on a worker, recomputed
    from its lineage if that worker is lost; plus per-block row counts and column
    statistics (the only things the client receives).
"""
import math

import dask
import numpy as np

from .._validation import check_matrix
from ..preprocessing import Standardizer


# -- the inputs, before any task runs -----------------------------------------------

def as_dask_array(data, name, ndim=(2,)):
    """A dask array with known row chunks from a dask array, DataFrame or Series."""
    import dask.array as da
    if hasattr(data, "to_dask_array"):                       # a DataFrame or Series
        import dask.dataframe as dd
        if isinstance(data, dd.DataFrame):
            bad = [c for c, t in data.dtypes.items() if not _numeric(np.dtype(t))]
            if bad:
                raise TypeError(f"{name} has non-numeric columns {bad}: fastmlp takes "
                                "numbers (encode categories first)")
        elif not _numeric(np.dtype(data.dtype)):
            raise TypeError(f"{name} must hold numbers, got dtype {data.dtype}")
        data = data.to_dask_array(lengths=True)
    if not isinstance(data, da.Array):
        raise TypeError(f"{name} must be a dask array (chunked along rows) or a dask "
                        f"DataFrame, got {type(data).__name__}; wrap a NumPy array "
                        "with dask.array.from_array(X, chunks=(rows_per_block, -1))")
    if data.ndim not in ndim:
        raise ValueError(f"{name} must have {' or '.join(map(str, ndim))} dimensions, "
                         f"got shape {data.shape}")
    if not _numeric(data.dtype):
        raise TypeError(f"{name} must hold numbers, got dtype {data.dtype}")
    if any(math.isnan(c) for c in data.chunks[0]):
        raise ValueError(f"{name} has unknown row-chunk sizes: call "
                         f"{name}.compute_chunk_sizes() first")
    if data.ndim == 2 and len(data.chunks[1]) > 1:
        raise ValueError(f"{name} is chunked along its columns {data.chunks[1]}: every "
                         f"block must hold whole rows (use {name}.rechunk({{1: -1}}))")
    return data


def _numeric(dtype):
    return dtype.kind in "biuf"


def check_inputs(X, y, n_in, name_X="X", name_y="y"):
    """X and y as dask arrays whose row blocks line up, X with n_in columns."""
    X = as_dask_array(X, name_X)
    if X.shape[1] != n_in:
        raise ValueError(f"{name_X} must have {n_in} columns (the network's inputs), got "
                         f"shape {X.shape}")
    y = as_dask_array(y, name_y, ndim=(1, 2))
    if X.chunks[0] != y.chunks[0]:
        for i, (a, b) in enumerate(zip(X.chunks[0], y.chunks[0])):
            if a != b:
                raise ValueError(f"partition {i}: {name_X} has {a} rows but {name_y} has "
                                 f"{b}; the row chunks of {name_X} and {name_y} must line "
                                 f"up (use {name_y}.rechunk({{0: {name_X}.chunks[0]}}))")
        raise ValueError(f"{name_X} has {len(X.chunks[0])} row blocks but {name_y} has "
                         f"{len(y.chunks[0])}; their row chunks must line up")
    return X, y


def row_blocks(arr):
    """The delayed row blocks of a dask array chunked along rows only."""
    return list(arr.to_delayed().ravel())


# -- on the workers ----------------------------------------------------------------

def _check_block(Xb, yb, i, start, net, name_X, name_y):
    """(X, T, labels) of partition i, validated and cast as Network.fit would."""
    where = f"partition {i} (rows {start}-{start + len(Xb) - 1})"
    try:
        X = check_matrix(Xb, name_X, net.dtype, net.sizes[0], allow_vector=False)
        T, labels = net._targets(yb, X.shape[0], name_y)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"{where}: {exc}") from None
    return X, T, labels


def _summary(block):
    """Row count and per-column min, max, mean and M2 = Σ (x - mean)² of a block."""
    X = block[0]
    X64 = X.astype(np.float64)
    mean = X64.mean(axis=0)
    return {"n": X.shape[0], "min": X.min(axis=0), "max": X.max(axis=0), "mean": mean,
            "m2": ((X64 - mean) ** 2).sum(axis=0)}


def _scaled(block, scaler, dtype):
    X, T, labels = block
    return scaler.transform(X, dtype), T, labels


def _column_summary(Xb, i, start):
    X = np.asarray(Xb, dtype=np.float64)
    if not np.all(np.isfinite(X)):
        raise ValueError(f"partition {i} (rows {start}-{start + len(X) - 1}): X contains "
                         "NaN or infinity")
    return _summary((X,))


# -- the client's view ---------------------------------------------------------------

def combine_moments(summaries):
    """(n, mean, M2) of all rows from the blocks' own, merged one block after another
    in their order by Chan et al.'s update (no Σx² - (Σx)²/n cancellation)."""
    n, mean, m2 = 0, 0.0, 0.0
    for s in summaries:
        nb = s["n"]
        delta = s["mean"] - mean
        total = n + nb
        mean = mean + delta * (nb / total)
        m2 = m2 + s["m2"] + delta ** 2 * (n * nb / total)
        n = total
    return n, mean, m2


def standardizer_from(summaries):
    """The Standardizer that Standardizer.fit would give on all rows of the blocks."""
    n, mean, m2 = combine_moments(summaries)
    scale = np.sqrt(m2 / n)
    return Standardizer(mean, np.where(scale > 0, scale, 1.0))


class Partitions:
    """Validated (and scaled) row blocks on the workers: futures, in row order."""

    def __init__(self, futures, counts, summaries):
        self.futures = futures
        self.counts = counts
        self.summaries = summaries

    @property
    def n_rows(self):
        return sum(self.counts)

    def data_range(self):
        """The training inputs' range and mean (as Network.fit saves in net.training)."""
        n, mean, _ = combine_moments(self.summaries)
        return {"input_min": np.min([s["min"] for s in self.summaries], axis=0).tolist(),
                "input_max": np.max([s["max"] for s in self.summaries], axis=0).tolist(),
                "input_mean": np.asarray(mean, np.float64).tolist()}

    def release(self):
        for f in self.futures:
            f.release()


def persist(client, net, X, y, *, scaler=None, fit_scaler=False, name_X="X", name_y="y"):
    """Partitions of (X, y) validated on the workers, then scaled by `scaler` (or by
    a Standardizer fitted here from the blocks' statistics, with fit_scaler).  Every
    error of every block is raised here, naming its partition, before training
    starts.  Returns (Partitions, the scaler applied or None)."""
    X, y = check_inputs(X, y, net.sizes[0], name_X, name_y)
    starts = np.concatenate([[0], np.cumsum(X.chunks[0])[:-1]]).astype(int)
    template = dask.delayed(net, pure=True)            # shipped once, as one key
    checked = [dask.delayed(_check_block, pure=True)(xb, yb, i, int(s), template, name_X,
                                                    name_y)
               for i, (xb, yb, s) in enumerate(zip(row_blocks(X), row_blocks(y), starts))]
    futures = client.compute(checked)
    try:
        summaries = client.gather(client.map(_summary, futures, pure=False))
    except BaseException:
        for f in futures:
            f.release()
        raise
    if fit_scaler:
        scaler = standardizer_from(summaries)
    if scaler is not None:
        scaled = client.map(_scaled, futures, scaler=scaler, dtype=net.dtype, pure=False)
        for f in futures:
            f.release()
        futures = scaled
    return Partitions(futures, [s["n"] for s in summaries], summaries), scaler


def standardizer(X, client=None):
    """The Standardizer of the rows of a dask array (or DataFrame) X, from per-block
    column moments combined on the client in one pass: Standardizer.fit's answer,
    without gathering X.  Computed on `client`, or on dask's current scheduler."""
    X = as_dask_array(X, "X")
    starts = np.concatenate([[0], np.cumsum(X.chunks[0])[:-1]]).astype(int)
    parts = [dask.delayed(_column_summary, pure=True)(xb, i, int(s))
             for i, (xb, s) in enumerate(zip(row_blocks(X), starts))]
    summaries = client.gather(client.compute(parts)) if client is not None \
        else dask.compute(*parts)
    return standardizer_from(summaries)
