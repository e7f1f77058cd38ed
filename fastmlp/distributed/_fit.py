"""distributed.fit: Network.fit's arguments and History, with the data on Dask workers.

The client checks every argument, has the blocks validated (and the Standardizer
fitted from their statistics) on the workers, then runs one of two engines:

    optimizer="lbfgs"                   full-batch data-parallel L-BFGS (_lbfgs): exact
    "sgd" | "adam" | "adamw" | object   local steps on each worker's shard, averaged
                                        every sync_every steps (_local_sgd)

Nothing on the network changes before the inputs have passed every check; the
parameters are written once, at the end (or at Ctrl-C, with what was reached).
"""
import time

from .. import optim
from .._validation import check_scalar, check_size
from ..training import (EarlyStopping, History, _progress_line, check_lbfgs_options,
                        metric_name)
from . import _lbfgs, _local_sgd
from ._blocks import persist
from ._cluster import session
from ._metrics import partition_scores


def fit(net, X, y, *, client=None, optimizer="lbfgs", epochs=10, batch_size=128, lr=1e-3,
        shuffle=True, seed=None, validation_data=None, early_stopping=False, patience=5,
        min_delta=1e-4, callbacks=None, verbose=0, schedule=None, clip_norm=None,
        weight_decay=0.0, standardize=True, sync_every=1, print_fn=print):
    """Train `net` on dask arrays (or DataFrames) X, y chunked along rows; returns a
    History as Network.fit does, with each record's seconds split into
    compute_seconds (the busiest worker) and the rest (communication, scheduling).

    optimizer="lbfgs": full-batch L-BFGS, epochs = iterations; the same iterates as
    Network.fit(optimizer="lbfgs") up to rounding, whatever the partitioning.
    "sgd", "adam", "adamw" or an Optimizer: each worker steps on minibatches of
    batch_size rows of its own shard; parameters and optimizer state are averaged
    across workers every sync_every local steps (sync_every=1 with plain SGD is one
    large-batch step on the union of the workers' batches).
    validation_data: a (X, y) pair of dask arrays, scored after every epoch
    (iteration); early_stopping watches its loss (not with lbfgs, as in fit).
    client: a dask.distributed.Client; None starts a LocalCluster of one
    single-threaded worker process per core for this call and closes it after.
    """
    epochs = check_size(epochs, "epochs")
    batch_size = check_size(batch_size, "batch_size")
    sync_every = check_size(sync_every, "sync_every")
    patience = check_size(patience, "patience")
    min_delta = check_scalar(min_delta, "min_delta", minimum=0.0)
    callbacks = list(callbacks or [])
    if any(not callable(cb) for cb in callbacks):
        raise TypeError("callbacks must be callables f(net, record)")
    if early_stopping and validation_data is None:
        raise ValueError("early_stopping needs validation_data (a pair of dask arrays)")
    if validation_data is not None and (not isinstance(validation_data, (tuple, list))
                                        or len(validation_data) != 2):
        raise TypeError("validation_data must be a pair (X_val, y_val) of dask arrays")
    if optimizer == "lbfgs":
        check_lbfgs_options(net, early_stopping=early_stopping, schedule=schedule,
                            clip_norm=clip_norm, weight_decay=weight_decay)
    elif not isinstance(optimizer, optim.Optimizer):
        optim.make_optimizer(optimizer, lr)          # a bad name fails before any work

    with session(client) as client:
        parts, scaler = persist(client, net, X, y, scaler=net.scaler,
                                fit_scaler=standardize and net.scaler is None)
        val = None
        try:
            if validation_data is not None:
                val, _ = persist(client, net, *validation_data, scaler=scaler,
                                 name_X="validation_data[0]", name_y="validation_data[1]")
            # every check passed: from here on the network is being trained
            net.scaler = scaler
            net.training = {
                "optimizer": optimizer if isinstance(optimizer, str) else repr(optimizer),
                "lr": lr, "epochs": epochs, "batch_size": batch_size, "seed": seed,
                "standardize": scaler is not None, "weight_decay": weight_decay,
                "clip_norm": clip_norm, "schedule": schedule if schedule is None or
                isinstance(schedule, str) else repr(schedule), "l2": net.l2,
                "distributed": {"partitions": len(parts.futures), "sync_every": sync_every},
                **parts.data_range()}
            run = _Run(client, net, parts, val, epochs, callbacks, verbose, print_fn)
            if optimizer == "lbfgs":
                return run.lbfgs()
            return run.local_sgd(optimizer, lr, batch_size, shuffle, seed, schedule,
                                 clip_norm, weight_decay, sync_every, early_stopping,
                                 patience, min_delta)
        finally:
            parts.release()
            if val is not None:
                val.release()


class _Run:
    """One training run's bookkeeping: History records, progress lines, callbacks."""

    def __init__(self, client, net, parts, val, epochs, callbacks, verbose, print_fn):
        self.client, self.net, self.parts, self.val = client, net, parts, val
        self.epochs, self.callbacks = epochs, callbacks
        self.verbose, self.print_fn = verbose, print_fn
        self.history = History()
        self.t_start = self.t_last = time.perf_counter()

    def record(self, entry, theta, engine, timing):
        """Complete and store one History record; True when a callback asks to stop."""
        if self.val is not None:
            entry.update(partition_scores(self.client, engine, theta, self.val,
                                           self.net.loss_name))
        now = time.perf_counter()
        entry["seconds"] = now - self.t_last
        entry["compute_seconds"] = sum(busy for _, busy in timing)
        entry["evaluations"] = len(timing)
        self.t_last = now
        self.history.records.append(entry)
        return any([cb(self.net, entry) for cb in self.callbacks])   # every one is called

    # -- full-batch L-BFGS ----------------------------------------------------------

    def lbfgs(self):
        net, history = self.net, self.history
        objective = _lbfgs.Objective(self.client, net, self.parts)
        seen = [0]

        def iteration(theta, value):
            timing = objective.timing[seen[0]:]
            seen[0] = len(objective.timing)
            stop = self.record({"epoch": len(history) + 1, "loss": value, "lr": None},
                               theta, objective.engine, timing)
            if self.verbose:
                self.print_fn(f"iteration {len(history)}  loss {value:.6f}")
            if stop:
                raise StopIteration

        try:
            result = _lbfgs.minimize(objective, net.get_params(), self.epochs, iteration)
            net._params[...] = result.x
        except KeyboardInterrupt:
            history.interrupted = True
            if objective.last is not None:
                net._params[...] = objective.last[0]
        finally:
            objective.release()
        return history

    # -- local SGD with periodic averaging ------------------------------------------

    def local_sgd(self, optimizer, lr, batch_size, shuffle, seed, schedule, clip_norm,
                  weight_decay, sync_every, early_stopping, patience, min_delta):
        net, history = self.net, self.history
        trainer = _local_sgd.Trainer(self.client, net, self.parts, optimizer, lr, batch_size,
                                     shuffle, seed, schedule, clip_norm, weight_decay,
                                     sync_every, self.epochs)
        stopper = EarlyStopping(patience, min_delta) if early_stopping else None
        try:
            for epoch in range(1, self.epochs + 1):
                lr_now = trainer.current_lr
                loss, timing = trainer.epoch(epoch, history)
                stop = self.record({"epoch": epoch, "loss": loss, "lr": lr_now},
                                   trainer.state_params, trainer.engine, timing)
                record = history.records[-1]
                if self.verbose:
                    self.print_fn(_progress_line(record, self.epochs, self.parts.n_rows,
                                                 time.perf_counter() - self.t_start,
                                                 metric_name(net)))
                if stopper is not None and stopper.update(record, trainer.params, history):
                    stop = True
                if stop:
                    break
        except KeyboardInterrupt:
            history.interrupted = True
            if self.verbose:
                self.print_fn(f"interrupted after {len(history)} epochs; weights and "
                              "history kept")
        finally:         # also after a DivergenceError: the last averaged state
            final = trainer.finish()
            best = None if stopper is None else stopper.best_params
            net._params[...] = final if best is None else best
            net._optimizer = trainer.optimizer
        return history
