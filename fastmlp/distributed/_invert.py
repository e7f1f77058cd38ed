"""Many inversion requests at once, spread over the workers.

The network is sent once to every worker; the requests are cut into chunks (about
four per worker, for balance), each chunk runs fastmlp.invert request by request on
a worker, and the results come back in request order: request i's answer is the one
invert(net, ...) gives locally with the same options (and the same seed).
"""
import math

import numpy as np

from ..inversion import invert
from ._cluster import session, share


def _invert_chunk(net, first, requests, options):
    results = []
    for i, request in enumerate(requests, first):
        try:
            results.append(invert(net, **request, **options))
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"request {i}: {exc}") from None
    return results


def _requests(net, targets, class_indices):
    if (targets is None) == (class_indices is None):
        raise ValueError("give exactly one of targets (one row of output values per "
                         "request) or class_indices (one class per request)")
    if targets is not None:
        T = np.asarray(targets, dtype=np.float64)
        if T.ndim != 2 or T.shape[1] != net.sizes[-1] or T.shape[0] == 0:
            raise ValueError(f"targets must have shape (n_requests, {net.sizes[-1]}), "
                             f"got {T.shape}")
        return [{"target": row} for row in T]
    c = np.asarray(class_indices)
    if c.ndim != 1 or c.size == 0 or c.dtype.kind not in "iu":
        raise ValueError(f"class_indices must be a non-empty 1-D array of integers, got "
                         f"{c.dtype} of shape {c.shape}")
    return [{"class_index": int(k)} for k in c]


def invert_many(net, targets=None, *, class_indices=None, client=None, chunk_size=None,
                **options):
    """fastmlp.invert for each row of `targets` (or each class of `class_indices`), on
    the workers; a list of InversionResult in request order.  `options` (bounds,
    fixed, n_restarts, seed, ...) are passed to every request."""
    requests = _requests(net, targets, class_indices)
    if "target" in options or "class_index" in options:
        raise TypeError("pass the targets as targets= or class_indices=, one per request")
    with session(client) as client:
        n_workers = max(1, len(client.scheduler_info()["workers"]))
        size = chunk_size or math.ceil(len(requests) / (4 * n_workers))
        engine = share(client, net)
        try:
            futures = [client.submit(_invert_chunk, engine, start,
                                     requests[start:start + size], options, pure=False)
                       for start in range(0, len(requests), size)]
            return [r for chunk in client.gather(futures) for r in chunk]
        finally:
            engine.release()
