"""Prediction and scoring on dask arrays: lazy and block-wise.

The network travels as ONE key of the graph (dask.delayed of the Network): each
worker receives it once, however many blocks it scores.  predict and predict_proba
return dask arrays with X's row chunks; score and evaluate compute, adding the
blocks' partial sums in row order (_metrics).
"""
import dask
import numpy as np

from . import _metrics
from ._blocks import _check_block, as_dask_array, check_inputs, row_blocks


def _block_output(Xb, net, kind, block_info=None):
    """predict / predict_proba of one block; errors name the partition."""
    try:
        return getattr(net, kind)(Xb)
    except (ValueError, TypeError) as exc:
        where = ""
        if block_info:
            i = block_info[0]["chunk-location"][0]
            lo, hi = block_info[0]["array-location"][0]
            where = f"partition {i} (rows {lo}-{hi - 1}): "
        raise type(exc)(f"{where}{exc}") from None


def _lazy(net, X, kind):
    X = as_dask_array(X, "X")
    if X.shape[1] != net.sizes[0]:
        raise ValueError(f"X must have {net.sizes[0]} columns (the network's inputs), "
                         f"got shape {X.shape}")
    shipped = dask.delayed(net, pure=True)
    n_out = net.sizes[-1]
    if kind == "predict" and net.loss_name == "cross_entropy":
        return X.map_blocks(_block_output, shipped, kind, dtype=np.intp, drop_axis=1,
                            meta=np.empty((0,), np.intp))
    dtype = np.intp if kind == "predict" and net.loss_name == "binary_cross_entropy" \
        else net.dtype
    return X.map_blocks(_block_output, shipped, kind, dtype=dtype,
                        chunks=(X.chunks[0], (n_out,)), meta=np.empty((0, 0), dtype))


def predict(net, X):
    """net.predict of every row of the dask array X, as a lazy dask array."""
    return _lazy(net, X, "predict")


def predict_proba(net, X):
    """net.predict_proba of every row of the dask array X, as a lazy dask array."""
    if not net._loss.classifier:
        raise AttributeError("predict_proba needs a classification loss "
                             f"(cross_entropy or binary_cross_entropy), not {net.loss_name!r}")
    return _lazy(net, X, "predict_proba")


def _scores(net, Xb, yb, i, start, n_total):
    X, T, labels = _check_block(Xb, yb, i, start, net, "X", "y")
    if net.scaler is not None:
        X = net.scaler.transform(X, net.dtype)
    return _metrics.block_scores(net, None, (X, T, labels), n_total, i == 0)


def evaluate(net, X, y, client=None):
    """{"loss": ..., "accuracy" or "r2": ...} over dask arrays X, y, as
    Network.evaluate; computed on `client`, or on dask's current scheduler."""
    X, y = check_inputs(X, y, net.sizes[0])
    starts = np.concatenate([[0], np.cumsum(X.chunks[0])[:-1]]).astype(int)
    shipped = dask.delayed(net, pure=True)
    parts = [dask.delayed(_scores, pure=True)(shipped, xb, yb, i, int(s), X.shape[0])
             for i, (xb, yb, s) in enumerate(zip(row_blocks(X), row_blocks(y), starts))]
    scores = client.gather(client.compute(parts)) if client is not None \
        else dask.compute(*parts)
    return {k: float(v) for k, v in _metrics.combine(net.loss_name, scores,
                                                     X.shape[0]).items()}


def score(net, X, y, client=None):
    """Accuracy (classification) or R² (regression) over dask arrays X, y."""
    return evaluate(net, X, y, client)["accuracy" if net._loss.classifier else "r2"]
