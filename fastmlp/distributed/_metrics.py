"""Loss and score over row blocks: each block gives a few numbers, the client adds
them in the blocks' order.

    loss      Σ_b Σ_{i∈b} ℓ_i / N  (+ the L2 penalty, once)
    accuracy  Σ_b (rows right in b) / N
    R²        per output, from each block's (n, mean of y, Σ (y - mean)², Σ (y - ŷ)²),
              the block moments combined by Chan's pairwise update (no cancellation)
"""
import numpy as np

from .. import _kernels
from ._blocks import combine_moments
from ._cluster import share


def block_scores(net, theta, block, n_total, with_penalty):
    """The block's share of the loss and its metric counts, at parameters θ (or the
    network's own when θ is None)."""
    X, T, labels = block
    out = np.empty((X.shape[0], net.sizes[-1]), net.dtype)
    with net._lock:
        if theta is not None:
            net._params[...] = theta
        net._plan.forward(X, out, True)            # the logits under a fused loss
        penalty = net._penalty() if with_penalty else 0.0
    # the fused losses replace the logits in `out` by the output activations
    loss = _kernels.loss_forward(net._loss.code, out, T, labels, None, None,
                                 np.full(X.shape[0], 1.0 / n_total)) + penalty
    if net.loss_name == "cross_entropy":
        truth = labels if labels is not None else T.argmax(axis=1)
        return {"loss": loss, "right": int((out.argmax(axis=1) == truth).sum())}
    if net.loss_name == "binary_cross_entropy":
        return {"loss": loss, "right": int(((out > 0.5) == (T > 0.5)).all(axis=1).sum())}
    T64 = T.astype(np.float64)
    mean = T64.mean(axis=0)
    return {"loss": loss, "n": X.shape[0], "mean": mean, "m2": ((T64 - mean) ** 2).sum(axis=0),
            "ss_res": ((T64 - out) ** 2).sum(axis=0)}


def combine(loss_name, scores, n_total):
    """{"loss": ..., "accuracy" or "r2": ...} from the blocks' scores, in order."""
    loss = 0.0
    for s in scores:
        loss += s["loss"]
    if loss_name != "mse":
        return {"loss": loss, "accuracy": sum(s["right"] for s in scores) / n_total}
    _, _, ss_tot = combine_moments(scores)
    ss_res = np.sum([s["ss_res"] for s in scores], axis=0)
    # a constant column scores 1 if predicted exactly, else 0 (as scikit-learn)
    r2 = np.where(ss_tot > 0, 1 - ss_res / np.where(ss_tot > 0, ss_tot, 1),
                  np.where(ss_res == 0, 1.0, 0.0))
    return {"loss": loss, "r2": float(r2.mean())}


def partition_scores(client, engine, theta, parts, loss_name):
    """val_loss and val_<metric> on persisted Partitions, at θ (an array or a future)."""
    if isinstance(theta, np.ndarray):
        theta = share(client, np.array(theta, np.float64))
    futures = [client.submit(block_scores, engine, theta, block, parts.n_rows, i == 0,
                             pure=False) for i, block in enumerate(parts.futures)]
    scores = combine(loss_name, client.gather(futures), parts.n_rows)
    return {f"val_{k}": v for k, v in scores.items()}
