"""Training a Network: fit, partial_fit, evaluate, score.

The data are validated and standardized once.  Each epoch draws a permutation of the
rows; each batch's rows are gathered into one reused batch buffer, and a step is then
two compiled calls:

    loss = plan.gradient(Xb, yb)              forward + loss + backward, grads filled
    optimizer update(params, grads)           one fused loop over the flat vectors

With dropout, each step is a training step (fastmlp.dropout): fit(seed=s) restarts
the network's dropout stream at (key of s, step 0), so a fit is reproducible from
its seed; partial_fit continues the stream.

A NaN or inf loss or gradient stops the run with DivergenceError naming the epoch
and step, before the bad update, so the weights are those of the last finite step.
Ctrl-C stops it too, keeping the weights and the history so far.
"""
import math
import time

import numpy as np
import scipy.sparse

from . import _kernels, _tables, optim
from ._batches import Batches, SparseBatches
from ._validation import (as_array, check_allocation, check_finite, check_matrix,
                          check_scalar, check_size, check_targets, make_rng)
from .dropout import make_key
from .preprocessing import Standardizer

METRIC_ROWS = 2048       # training rows scored after each epoch (all, when fewer)


class DivergenceError(FloatingPointError):
    """Training produced a NaN or infinite loss or gradient."""

    def __init__(self, message, epoch, step, history):
        super().__init__(message)
        self.epoch, self.step, self.history = epoch, step, history


class History:
    """Per-epoch records of a fit: history["loss"], history["val_loss"], ...

    Each record has epoch, loss (mean training loss over the epoch's batches, weighted
    by sample_weight if given), accuracy or r2 (on the training rows after the epoch;
    a fixed random 2,048 of them when there are more), lr, seconds, and with
    validation data val_loss and val_accuracy or val_r2.  An unknown key is a KeyError.
    interrupted is True after Ctrl-C; stopped_early and best_epoch describe early
    stopping (the network then holds best_epoch's weights).
    """

    def __init__(self):
        self.records = []
        self.interrupted = False
        self.stopped_early = False
        self.best_epoch = None

    def __getitem__(self, key):
        if not any(key in r for r in self.records):
            known = sorted({k for r in self.records for k in r})
            raise KeyError(f"{key!r}: the history records {', '.join(known) or 'nothing yet'}")
        return [r.get(key) for r in self.records]

    def __len__(self):
        return len(self.records)

    def __repr__(self):
        flags = "".join([", interrupted" * self.interrupted,
                         f", stopped early (best epoch {self.best_epoch})" * self.stopped_early])
        last = self.records[-1] if self.records else {}
        return f"History({len(self)} epochs, last loss {last.get('loss')}{flags})"


# -- metrics ---------------------------------------------------------------------

def metric_name(net):
    return "accuracy" if net._loss.classifier else "r2"


def score(net, X, y):
    """Accuracy for classifiers (all labels right, for multi-label), R² for regression
    (averaged over outputs, as scikit-learn's r2_score)."""
    out = net.forward(X)
    T, labels = net._targets(y, out.shape[0])
    return _metric(net, out, T, labels)


def _metric(net, out, T, labels):
    """The score of output activations `out` against prepared targets."""
    if net.loss_name == "cross_entropy":
        truth = labels if labels is not None else T.argmax(axis=1)
        return float((out.argmax(axis=1) == truth).mean())
    if net.loss_name == "binary_cross_entropy":
        return float(((out > 0.5) == (T > 0.5)).all(axis=1).mean())
    T = T.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        ss_res = ((T - out) ** 2).sum(axis=0)
        ss_tot = ((T - T.mean(axis=0)) ** 2).sum(axis=0)
        # a constant column scores 1 if predicted exactly, else 0 (as scikit-learn)
        r2 = np.where(ss_tot > 0, 1 - ss_res / np.where(ss_tot > 0, ss_tot, 1),
                      np.where(ss_res == 0, 1.0, 0.0)).mean()
    if not (np.all(np.isfinite(ss_res)) and np.all(np.isfinite(ss_tot)) and np.isfinite(r2)):
        raise FloatingPointError("R² overflows float64: y or the network's outputs are too "
                                 "large, or its errors more than 1e308 times y's variance "
                                 "(in fit: diverging, lr too large?)")
    return float(r2)


def evaluate(net, X, y):
    """{"loss": ..., "accuracy" or "r2": ...} on (X, y)."""
    return {"loss": float(net.loss(X, y)), metric_name(net): score(net, X, y)}


# -- fitting ---------------------------------------------------------------------

def _prepare(net, X, y, name_X="X", name_y="y", sparse_ok=False):
    """Validated (X, T, labels); X stays a CSR matrix (float, finite) when sparse_ok."""
    X = _tables.as_array(X, name_X)
    if scipy.sparse.issparse(X):
        if not sparse_ok:
            X = X.toarray()
        else:
            if X.shape[1] != net.sizes[0] or X.shape[0] == 0:
                raise ValueError(f"{name_X} must have shape (n >= 1, {net.sizes[0]}), "
                                 f"got {X.shape}")
            if X.dtype.kind != "f":
                raise TypeError(f"{name_X} must hold float values, got dtype {X.dtype}")
            X = X.astype(np.float64)
            check_finite(np.ascontiguousarray(X.data), name_X)
    if not scipy.sparse.issparse(X):
        X = check_matrix(X, name_X, net.dtype, net.sizes[0])
    y = as_array(_tables.as_targets(y), name_y)
    if net.loss_name == "cross_entropy" and y.ndim == 2 and y.shape[1] == 1 != net.sizes[-1]:
        y = y.ravel()                        # a column of labels
    T, labels = check_targets(y, name_y, net.loss_name, net.sizes[-1], X.shape[0], net.dtype)
    return X, T, labels


def _input_range(X):
    """{"input_min", "input_max", "input_mean"}: X's columns' least and greatest
    values and float64 means, as lists; one compiled pass over a dense X
    (_kernels.column_range), NumPy's reductions over a sparse one."""
    if scipy.sparse.issparse(X):
        lo, hi = (np.asarray(a.todense()).ravel() for a in (X.min(axis=0), X.max(axis=0)))
        mean = np.asarray(X.mean(axis=0, dtype=np.float64)).ravel()
    else:
        lo, hi, mean = _kernels.column_range(X)
    return {"input_min": lo.tolist(), "input_max": hi.tolist(), "input_mean": mean.tolist()}


def _sample_weights(sample_weight, n):
    """The weights as float64 scaled to a largest weight of 1: every use of them is
    relative (each batch's weighted mean, the epoch's mean over batches), and so the
    sums cannot overflow, whatever their scale (weights of 1e308 summed to inf and
    turned every row's weight into 0)."""
    w = as_array(_tables.as_targets(sample_weight), "sample_weight")
    if w.dtype.kind not in "iuf" or w.shape != (n,):
        raise ValueError(f"sample_weight must hold {n} numbers (one per row), got "
                         f"shape {w.shape} and dtype {w.dtype}")
    w = w.astype(np.float64)
    if not np.all(np.isfinite(w)) or w.min() < 0:
        raise ValueError("sample_weight must be finite and non-negative")
    top = w.max()
    if top <= 0:
        raise ValueError("sample_weight sums to zero: there is nothing to fit")
    return w / top


def _sparse_scaler(X):
    """A Standardizer fitted on a sparse matrix without densifying it."""
    mean = np.asarray(X.mean(axis=0)).ravel()
    var = np.asarray(X.multiply(X).mean(axis=0)).ravel() - mean ** 2
    scale = np.sqrt(np.maximum(var, 0))
    return Standardizer(mean, np.where(scale > 0, scale, 1.0))


def _dense_rows(net, X, rows=None):
    """Rows of a (possibly sparse) training matrix as a scaled dense array."""
    part = X if rows is None else X[rows]
    if scipy.sparse.issparse(part):
        part = part.toarray()
    part = np.ascontiguousarray(part, dtype=net.dtype)
    return part if net.scaler is None else net.scaler.transform(part, net.dtype)


def _take(arr, idx):
    return None if arr is None else arr[idx]


def _pair(validation_data):
    """validation_data as (X, y), or an error naming it."""
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
        what = (f"{len(validation_data)} items" if isinstance(validation_data, (tuple, list))
                else type(validation_data).__name__)
        raise TypeError(f"validation_data must be a pair (X_val, y_val), got {what}")
    return validation_data


def _plain_seed(seed):
    """The seed as JSON can hold it: an int, None, or a description."""
    if seed is None or isinstance(seed, (int, np.integer)):
        return None if seed is None else int(seed)
    return repr(seed)


def check_lbfgs_options(net, **options):
    """Full-batch L-BFGS takes none of the stochastic optimizers' options, and needs a
    deterministic loss (no dropout); a ValueError names what does not apply."""
    ignored = [k for k, v in options.items() if v]
    if ignored:
        raise ValueError(f"optimizer='lbfgs' does not take {', '.join(ignored)} "
                         "(use l2 on the network for a penalty)")
    if any(net.dropout):
        raise ValueError("optimizer='lbfgs' needs a deterministic loss: it cannot train "
                         f"a network with dropout {net.dropout} (use a stochastic "
                         "optimizer, or a network without dropout)")


def fit(net, X, y, epochs=10, batch_size=128, optimizer="adam", lr=1e-3, shuffle=True,
        seed=None, validation_data=None, validation_fraction=0.0, early_stopping=False,
        patience=5, min_delta=1e-4, callbacks=None, verbose=0, schedule=None,
        clip_norm=None, weight_decay=0.0, standardize=True, sample_weight=None,
        print_fn=print, threads=None):
    """Network.fit (documented there); print_fn receives the progress lines; threads()
    gives the context each epoch runs in, made again every epoch: the helper threads
    that share each step (its .helpers) and the BLAS threads (default: the network's
    choice for batch_size, Network._step_threads; Network.fit passes its n_threads)."""
    epochs = check_size(epochs, "epochs")
    batch_size = check_size(batch_size, "batch_size")
    patience = check_size(patience, "patience")
    min_delta = check_scalar(min_delta, "min_delta", minimum=0.0)
    validation_fraction = check_scalar(validation_fraction, "validation_fraction", minimum=0.0)
    if validation_fraction >= 1:
        raise ValueError(f"validation_fraction must be below 1, got {validation_fraction}")
    if callable(callbacks) or not isinstance(callbacks, (list, tuple, type(None))):
        raise TypeError(f"callbacks must be a list of callables f(net, record), got "
                        f"{type(callbacks).__name__}")
    callbacks = list(callbacks or [])
    if any(not callable(cb) for cb in callbacks):
        raise TypeError("callbacks must be callables f(net, record)")
    if early_stopping and validation_data is None and validation_fraction == 0:
        raise ValueError("early_stopping needs validation_data or validation_fraction > 0")
    lbfgs = isinstance(optimizer, str) and optimizer == "lbfgs"
    if lbfgs:
        check_lbfgs_options(net, early_stopping=early_stopping, schedule=schedule,
                            clip_norm=clip_norm, weight_decay=weight_decay)
    if verbose and not callable(print_fn):
        raise TypeError(f"print_fn must be callable, got {type(print_fn).__name__}")
    rng = make_rng(seed)

    # validate once; split off validation rows; build the optimizer: nothing on the
    # network changes before every argument has been checked.  A sparse X stays
    # sparse: each batch is densified (and scaled) when it is gathered.
    names = _tables.feature_names(X)
    X, T, labels = _prepare(net, X, y, sparse_ok=True)
    sparse = scipy.sparse.issparse(X)
    if sparse and lbfgs:
        raise ValueError("optimizer='lbfgs' takes every row in each step and needs a dense X: "
                         "pass X.toarray() if it fits in memory, or use 'adam' or 'sgd', "
                         "which densify one batch at a time")
    weights = None if sample_weight is None else _sample_weights(sample_weight, X.shape[0])
    val = None
    if validation_data is not None:
        val = _prepare(net, *_pair(validation_data), "validation_data[0]",
                       "validation_data[1]")
    elif validation_fraction > 0:
        n_val = int(round(validation_fraction * X.shape[0]))
        if not 1 <= n_val < X.shape[0]:
            raise ValueError(f"validation_fraction={validation_fraction} of {X.shape[0]} "
                             "rows leaves no validation or no training rows")
        order = rng.permutation(X.shape[0])
        v, t = order[:n_val], order[n_val:]
        val = (X[v].toarray() if sparse else X[v], _take(T, v), _take(labels, v))
        X, T, labels, weights = X[t], _take(T, t), _take(labels, t), _take(weights, t)
        if weights is not None and weights.sum() <= 0:
            raise ValueError("sample_weight of the training rows (after the validation "
                             "split) sums to zero")
    n = X.shape[0]
    steps_per_epoch = math.ceil(n / batch_size)
    opt = None
    if not lbfgs:
        opt = optim.make_optimizer(
            optimizer, lr, **({} if isinstance(optimizer, optim.Optimizer) else
                              {"schedule": optim.make_schedule(schedule,
                                                               epochs * steps_per_epoch),
                               "clip_norm": clip_norm, "weight_decay": weight_decay}))
        opt._check_vector(net._params)            # not another network's optimizer
    # the settings as plain Python values (saved with the model as JSON)
    settings = {"optimizer": optimizer if isinstance(optimizer, str) else repr(optimizer),
                "lr": None if lr is None else check_scalar(lr, "lr", minimum=0.0),
                "epochs": epochs, "batch_size": batch_size, "seed": _plain_seed(seed),
                "standardize": bool(standardize or net.scaler is not None),
                "weight_decay": check_scalar(weight_decay, "weight_decay", minimum=0.0),
                "clip_norm": None if clip_norm is None else
                check_scalar(clip_norm, "clip_norm", minimum=0.0, allow_zero=False),
                "schedule": schedule if schedule is None or isinstance(schedule, str)
                else repr(schedule), "l2": float(net.l2),
                "sample_weight": weights is not None}
    # the training inputs' range and mean, in the user's units (input inversion
    # keeps its answers inside them by default; they are saved with the model)
    data_range = _input_range(X)
    _check_batch_memory(net, (X, T, labels), n if lbfgs else batch_size)
    scaler = net.scaler
    if standardize and scaler is None:
        scaler = _sparse_scaler(X) if sparse else Standardizer.fit(X)

    # from here on the network changes
    net.scaler = scaler
    if scaler is not None:
        if not sparse:
            X = scaler.transform(X, net.dtype)
        if val is not None:
            val = (scaler.transform(val[0], net.dtype),) + val[1:]
    history = History()
    if seed is not None:
        net.dropout_key, net.dropout_step = make_key(seed), 0
    net.training = {**settings, **data_range}
    if names is not None:
        net.training["feature_names"] = names
    # the training metric after each epoch: on (evenly spaced) training rows; drawing
    # them from rng would change every shuffle after it, and so the fit itself
    probe = (np.linspace(0, n - 1, METRIC_ROWS).astype(np.intp) if n > METRIC_ROWS
             else slice(None))
    probe = ((_dense_rows(net, X, probe) if sparse else X[probe]), _take(T, probe),
             _take(labels, probe))

    if lbfgs:
        return _fit_lbfgs(net, X, T, labels, val, epochs, history, verbose, print_fn,
                          None if weights is None else weights / weights.sum(), probe)

    net._optimizer = opt
    stopper = EarlyStopping(patience, min_delta) if early_stopping else None
    if threads is None:
        threads = lambda: net._step_threads(batch_size)     # noqa: E731
    t_start = time.perf_counter()
    batches = (SparseBatches(net, X, (T, labels, weights), batch_size) if sparse
               else Batches((X, T, labels, weights), batch_size))
    try:
        for epoch in range(1, epochs + 1):
            t0 = time.perf_counter()
            lr_now = opt.current_lr
            with threads() as step:
                loss = _epoch(net, opt, batches, rng.permutation(n) if shuffle else None,
                              epoch, history, step.helpers)
            try:
                record = {"epoch": epoch, "loss": loss,
                          metric_name(net): _train_metric(net, probe), "lr": lr_now}
                if val is not None:
                    record.update(_validation_scores(net, *val))
            except FloatingPointError as exc:      # finite steps, but weights that overflow
                raise DivergenceError(f"epoch {epoch} (lr={lr_now:g}): its steps were "
                                      f"finite but scoring its weights failed: {exc}; the "
                                      "weights are those after its last step", epoch, None,
                                      history) from None
            record["seconds"] = time.perf_counter() - t0
            history.records.append(record)
            if verbose:
                print_fn(_progress_line(record, epochs, n, time.perf_counter() - t_start,
                                        metric_name(net)))
            stop = any([cb(net, record) for cb in callbacks])     # every one is called
            if stopper is not None and stopper.update(record, net.get_params, history):
                stop = True
            if stop:
                break
    except KeyboardInterrupt:
        history.interrupted = True
        if verbose:
            print_fn(f"interrupted after {len(history)} epochs; weights and history kept")
    if stopper is not None and stopper.best_params is not None:
        net.set_params(stopper.best_params)
    return history


def _check_batch_memory(net, arrays, batch_size):
    """MemoryError, before anything is allocated, if batches of batch_size rows (at
    most all the rows) do not fit: the gathered batch and the plan's workspaces."""
    batch = min(batch_size, arrays[0].shape[0])
    row = sum(math.prod(a.shape[1:]) * a.dtype.itemsize for a in arrays if a is not None)
    check_allocation(batch * row + net._workspace_bytes(batch),
                     f"training with batch_size={batch_size} ({batch:,} rows per batch)")


class EarlyStopping:
    """Watches val_loss: keeps the best epoch's parameters, and says stop after `patience`
    epochs without an improvement of more than min_delta (history records the best
    epoch and whether it stopped early)."""

    def __init__(self, patience, min_delta):
        self.patience, self.min_delta = patience, min_delta
        self.best_loss, self.best_params, self.wait = math.inf, None, 0

    def update(self, record, params, history):
        """After an epoch's record; params() gives the current parameters.  True: stop."""
        if record["val_loss"] < self.best_loss - self.min_delta:
            self.best_loss, self.best_params, self.wait = record["val_loss"], params(), 0
            history.best_epoch = record["epoch"]
            return False
        self.wait += 1
        if self.wait >= self.patience:
            history.stopped_early = True
            return True
        return False


def _epoch(net, opt, batches, order, epoch, history, helpers=0):
    """One pass over the data (rows in `order`, or as stored); the mean training loss
    (weighted by the rows' sample weights, when the batches carry them).  helpers:
    helper threads sharing each step (the caller set the BLAS to one thread)."""
    total = weight = 0.0
    for step, (X, T, labels, *rest) in enumerate(batches(order, helpers), 1):
        w = rest[0] if rest else None
        row_weights, size = None, X.shape[0]
        if w is not None:
            size = float(w.sum())
            if size == 0:
                continue                          # all-zero weights: nothing to learn
            row_weights = w / size
        try:
            loss = net._optimizer_step(X, T, labels, opt, row_weights, helpers=helpers)
        except FloatingPointError as exc:
            raise DivergenceError(f"epoch {epoch}, step {step} (lr={opt.current_lr:g}): "
                                  f"{exc}; the weights are "
                                  "those of the last finite step", epoch, step,
                                  history) from None
        total += loss * size
        weight += size
    return total / weight


def _train_metric(net, probe):
    """Accuracy or R² on the probe rows (prepared, scaled) of the training data."""
    with np.errstate(over="ignore", invalid="ignore"):
        return _metric(net, net._forward_prepared(probe[0]), *probe[1:])


def _validation_scores(net, Xv, Tv, Lv):
    """val_loss and the metric on prepared (scaled) validation arrays."""
    loss, out = net._loss_and_output(Xv, Tv, Lv)
    return {"val_loss": loss, f"val_{metric_name(net)}": _metric(net, out, Tv, Lv)}


def _progress_line(record, epochs, n, elapsed, metric):
    e = record["epoch"]
    parts = [f"epoch {e:>{len(str(epochs))}}/{epochs}", f"loss {record['loss']:.4f}"]
    if record.get(metric) is not None:
        parts.append(f"{metric} {record[metric]:.2%}" if metric == "accuracy"
                     else f"r2 {record[metric]:.4f}")
    if "val_loss" in record:
        parts.append(f"val_loss {record['val_loss']:.4f}")
        value = record[f"val_{metric}"]
        parts.append(f"val_{metric} {value:.2%}" if metric == "accuracy"
                     else f"val_r2 {value:.4f}")
    parts.append(f"{n / record['seconds']:,.0f} samples/s")
    parts.append(f"{record['seconds']:.2f}s")
    if e < epochs:
        parts.append(f"ETA {elapsed / e * (epochs - e):.0f}s")
    return "  ".join(parts)


def _fit_lbfgs(net, X, T, labels, val, max_iter, history, verbose, print_fn, row_weights,
               probe):
    """Full-batch L-BFGS on prepared arrays; one history record per iteration."""
    t0 = [time.perf_counter()]

    def record(theta):
        loss = net._loss_and_output(X, T, labels, row_weights=row_weights)[0]
        entry = {"epoch": len(history) + 1, "loss": float(loss),
                 metric_name(net): _train_metric(net, probe), "lr": None}
        if val is not None:
            entry.update(_validation_scores(net, *val))
        entry["seconds"] = time.perf_counter() - t0[0]
        t0[0] = time.perf_counter()
        history.records.append(entry)
        if verbose:
            print_fn(f"iteration {entry['epoch']}  loss {entry['loss']:.6f}")

    try:
        optim.lbfgs_prepared(net, X, T, labels, max_iter=max_iter, callback=record,
                             row_weights=row_weights)
    except KeyboardInterrupt:
        history.interrupted = True
    return history


def partial_fit(net, X, y, batch_size=128, optimizer=None, lr=None, shuffle=True, seed=None):
    """One epoch over (X, y) with the network's persistent optimizer, whose state
    carries over from call to call.  It is created on first use (`optimizer`, a name
    or an Optimizer, default "adam"), or replaced when a different kind or another
    Optimizer object is given; lr, when given, sets its learning rate.  Returns the
    mean loss."""
    batch_size = check_size(batch_size, "batch_size")
    lr = None if lr is None else check_scalar(lr, "lr", minimum=0.0)
    rng = make_rng(seed)
    X, T, labels = _prepare(net, X, y)
    _check_batch_memory(net, (X, T, labels), batch_size)
    current = net._optimizer
    if isinstance(optimizer, optim.Optimizer):
        current = optimizer
    elif current is None or (optimizer is not None and
                             type(current) is not optim.optimizer_class(optimizer)):
        current = optim.make_optimizer(optimizer or "adam", lr)
    current._check_vector(net._params)        # not another network's optimizer
    # every argument is valid: from here on the network (and its optimizer) change
    if lr is not None:
        current.lr = lr
    net._optimizer = current
    if net.scaler is not None:
        X = net.scaler.transform(X, net.dtype)
    order = rng.permutation(X.shape[0]) if shuffle else None
    return _epoch(net, net._optimizer, Batches((X, T, labels), batch_size), order, 1,
                  History())
