"""Minibatch training with periodic averaging (local SGD), synchronous.

The row blocks are grouped into K shards (K = the number of workers, at most one per
block), contiguous in row order; shard k is gathered once into one array on a worker.
Then, every round:

    state (θ, optimizer moments, step count t)  ── to every shard
    shard k: sync_every optimizer steps on minibatches of its own rows
    average: θ, moments ← their mean over the K shards, in shard order

With plain SGD and sync_every = 1 a round is exactly one step on the union of the K
batches (the mean of K batch-mean gradients, for batches of one size).  Larger
sync_every sends K·sync_every fewer vectors per epoch, but the shards drift apart
between averagings: on different data their local optima differ, so the averaged
model is worse than sequential SGD with the same number of steps, and the gap grows
with sync_every and the learning rate.  Each epoch every shard draws a new order of
its rows and takes S = ceil(n_min / batch_size) steps, n_min its smallest shard's
row count (rows of a larger shard beyond S batches wait for a later epoch's order).

The whole epoch is submitted as a chain of tasks; the client receives, per round,
only the loss sums.
"""
import copy
import math
import threading
import time

import numpy as np

from .. import optim
from ..training import DivergenceError
from ._cluster import share, worker_key


# -- on the workers -------------------------------------------------------------------

# a round sets the worker's network to the averaged state and steps it: one round at
# a time per worker process (each step takes the network's own lock)
_ROUND_LOCK = threading.Lock()


def _concat(*blocks):
    """One shard from its blocks, in row order."""
    X = np.concatenate([b[0] for b in blocks])
    T = None if blocks[0][1] is None else np.concatenate([b[1] for b in blocks])
    labels = None if blocks[0][2] is None else np.concatenate([b[2] for b in blocks])
    return X, T, labels


def _order(n, seed, epoch, shard, shuffle):
    """The order in which a shard visits its rows in an epoch."""
    if not shuffle:
        return None
    return np.random.default_rng([seed, epoch, shard]).permutation(n)


def _round(net, optimizer, state, shard, order, first_step, n_steps, batch_size):
    """n_steps optimizer steps from `state` on the shard's batches first_step, ...;
    the new state and {loss: Σ loss · rows, rows, seconds per worker}."""
    t0 = time.perf_counter()
    params, moments, t = state
    X, T, labels = shard
    opt = copy.copy(optimizer)
    opt._state = None if moments is None else tuple(m.copy() for m in moments)
    opt.t = t
    total, rows = 0.0, 0
    with _ROUND_LOCK:
        net._params[...] = params
        for s in range(first_step, first_step + n_steps):
            idx = slice(s * batch_size, min((s + 1) * batch_size, len(X)))
            if order is not None:
                idx = order[idx]
            Xb = X[idx]
            try:
                loss = net._optimizer_step(Xb, T[idx] if T is not None else None,
                                           labels[idx] if labels is not None else None, opt)
            except FloatingPointError as exc:
                raise FloatingPointError(f"step {s + 1}: {exc}") from None
            total += loss * len(Xb)
            rows += len(Xb)
        new = (net._params.copy(), opt._state, opt.t)
    return new, {"loss": total, "rows": rows, "seconds": {worker_key(): time.perf_counter() - t0}}


def _average(*results):
    """The mean state of the shards' results (summed in shard order), and their info."""
    states = [r[0] for r in results]
    k = len(states)
    params = states[0][0].astype(np.float64)
    for s in states[1:]:
        params += s[0]
    moments = None
    if states[0][1] is not None:
        moments = []
        for j in range(len(states[0][1])):
            m = states[0][1][j].astype(np.float64)
            for s in states[1:]:
                m += s[1][j]
            moments.append((m / k).astype(states[0][1][j].dtype))
        moments = tuple(moments)
    info = {"loss": sum(r[1]["loss"] for r in results),
            "rows": sum(r[1]["rows"] for r in results),
            "seconds": max(max(r[1]["seconds"].values()) for r in results)}
    return ((params / k).astype(states[0][0].dtype), moments, states[0][2]), info


def _info(averaged):
    return averaged[1]


def _state(averaged):
    return averaged[0]


def _params(state):
    return state[0]


# -- on the client ---------------------------------------------------------------------

class Trainer:
    """Runs the epochs; holds the future of the current averaged state."""

    def __init__(self, client, net, parts, optimizer, lr, batch_size, shuffle, seed,
                 schedule, clip_norm, weight_decay, sync_every, epochs):
        self.client, self.batch_size, self.sync_every = client, batch_size, sync_every
        self.shuffle = shuffle
        self.seed = int(np.random.default_rng(seed).integers(2**63))
        n_workers = max(1, len(client.scheduler_info()["workers"]))
        blocks = parts.futures
        k = min(n_workers, len(blocks))
        groups = [list(range(i * len(blocks) // k, (i + 1) * len(blocks) // k))
                  for i in range(k)]
        self.shard_rows = [sum(parts.counts[j] for j in g) for g in groups]
        self.shards = [client.submit(_concat, *[blocks[j] for j in g], pure=False)
                       for g in groups]
        self.steps = math.ceil(min(self.shard_rows) / batch_size)
        self.optimizer = optim.make_optimizer(
            optimizer, lr, **({} if isinstance(optimizer, optim.Optimizer) else
                              {"schedule": optim.make_schedule(schedule, epochs * self.steps),
                               "clip_norm": clip_norm, "weight_decay": weight_decay}))
        self.engine = share(client, net)
        self.template = share(client, self.optimizer)
        moments = self.optimizer._state
        self.t = self.optimizer.t
        self.state = share(client, (net.get_params(), moments, self.t))

    @property
    def current_lr(self):
        return self.optimizer.lr * self.optimizer.schedule(self.t)

    @property
    def state_params(self):
        return self.client.submit(_params, self.state, pure=False)

    def epoch(self, epoch, history):
        """One epoch of rounds; (mean training loss, [(wall, compute) per round])."""
        client, t0 = self.client, time.perf_counter()
        orders = [client.submit(_order, n, self.seed, epoch, k, self.shuffle, pure=False)
                  for k, n in enumerate(self.shard_rows)]
        infos, state = [], self.state
        for first in range(0, self.steps, self.sync_every):
            n_steps = min(self.sync_every, self.steps - first)
            results = [client.submit(_round, self.engine, self.template, state, shard, order,
                                     first, n_steps, self.batch_size, pure=False)
                       for shard, order in zip(self.shards, orders)]
            averaged = client.submit(_average, *results, pure=False)
            state = client.submit(_state, averaged, pure=False)
            infos.append(client.submit(_info, averaged, pure=False))
        try:
            infos = client.gather(infos)
        except FloatingPointError as exc:
            raise DivergenceError(f"epoch {epoch}, {exc}; the weights are those of the "
                                  "epoch before", epoch, None, history) from None
        self.state = state
        self.t += self.steps
        wall = time.perf_counter() - t0
        compute = sum(i["seconds"] for i in infos)
        loss = sum(i["loss"] for i in infos) / sum(i["rows"] for i in infos)
        return loss, [(wall, compute)]

    def params(self):
        return self.client.gather(self.state_params)

    def finish(self):
        """The averaged parameters, with the optimizer holding the averaged state."""
        params, moments, t = self.client.gather(self.state)
        self.optimizer._state, self.optimizer.t = moments, t
        for f in self.shards + [self.engine, self.template, self.state]:
            f.release()
        return params
