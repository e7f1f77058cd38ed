"""What fastmlp's estimators add around scikit-learn's epochs: validation rows given
to fit (``validation_data``), the validation loss curve, per-epoch callbacks and a
progress line (``verbose >= 2``)."""
import sys
import time

import numpy as np
import scipy.sparse
from sklearn.base import ClassifierMixin
from sklearn.utils.validation import _check_sample_weight, column_or_1d, validate_data


class Rows:
    """Rows prepared for the network (training or validation rows): X, y (as given,
    for the score), the network's targets T or labels, and the sample weights (or
    None)."""

    def __init__(self, X, y, T, labels, sw):
        self.X, self.y, self.T, self.labels, self.sw = X, y, T, labels, sw

    def take(self, rows):
        """A subset of the rows (early stopping's random split)."""
        return Rows(*(None if a is None else a[rows]
                      for a in (self.X, self.y, self.T, self.labels, self.sw)))

    def score(self, est):
        """scikit-learn's score (accuracy or R²) of the estimator on these rows."""
        return est._score_prepared(self.X, self.y, self.sw)

    def loss(self, est):
        """The loss on these rows in scikit-learn's convention (as loss_curve_'s,
        without the L2 penalty), weighted by the sample weights if any."""
        weights = None
        if self.sw is not None and self.sw.sum() > 0:
            weights = self.sw / self.sw.sum()
        value = est.network_._loss_and_output(self.X, self.T, self.labels,
                                              row_weights=weights, penalty=False)[0]
        return est._sklearn_loss(value, 0.0, 0.0)


def check_validation_data(est, validation_data):
    """validation_data's form, checked before fit changes anything."""
    if validation_data is None:
        return
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        raise ValueError("validation_data must be a tuple (X_val, y_val) or (X_val, y_val, "
                         f"sample_weight_val), got {type(validation_data).__name__}")
    if est.solver == "lbfgs":
        raise ValueError("validation_data needs a stochastic solver ('sgd' or 'adam'), "
                         "not 'lbfgs'")


def prepare_validation(est, validation_data, dtype):
    """Validation rows from fit's validation_data=(X_val, y_val) or
    (X_val, y_val, sample_weight_val), checked as fit checks X and y."""
    X, y = validate_data(est, validation_data[0], validation_data[1], reset=False,
                         accept_sparse=["csr", "csc", "coo"], multi_output=True,
                         dtype=(np.float64, np.float32),
                         y_numeric=not isinstance(est, ClassifierMixin))
    if y.ndim == 2 and y.shape[1] == 1:
        y = column_or_1d(y, warn=True)
    if scipy.sparse.issparse(X):
        X = X.toarray()
    sw = None
    if len(validation_data) == 3 and validation_data[2] is not None:
        sw = _check_sample_weight(validation_data[2], X, dtype=np.float64,
                                  ensure_non_negative=True)
    sw = est._weigh_classes(y, sw, fitted=True)
    T, labels = est._targets(y, "validation_data")
    X = np.ascontiguousarray(X, dtype=dtype)
    if T is not None:
        T = np.ascontiguousarray(T, dtype=dtype)
    return Rows(X, y, T, labels, sw)


def check_callbacks(callbacks):
    """None, one callable or a list of them, as a list."""
    if callbacks is None:
        return []
    if callable(callbacks):
        return [callbacks]
    try:
        callbacks = list(callbacks)
    except TypeError:
        callbacks = [callbacks]
    bad = [cb for cb in callbacks if not callable(cb)]
    if bad:
        raise TypeError(f"callbacks must be callables f(estimator, history), got {bad[0]!r}")
    return callbacks


class EpochHooks:
    """After each epoch (lbfgs: iteration): the progress line and the callbacks.

    A callback is called as f(estimator, history), history being a dict of the
    curves so far ("epoch", "loss", "validation_score", "validation_loss"); it
    stops the fit by returning False.
    """

    def __init__(self, est, callbacks):
        self.callbacks = callbacks
        self.progress = not isinstance(est.verbose, bool) and est.verbose >= 2
        self.start = time.perf_counter()

    def __call__(self, est, epoch, total):
        """True when a callback asks to stop."""
        history = {"epoch": epoch, "loss": list(est.loss_curve_),
                   "validation_score": _copy(est.validation_scores_),
                   "validation_loss": _copy(est.validation_loss_curve_)}
        if self.progress:
            self._show(history, total)
        return any(cb(est, history) is False for cb in self.callbacks)

    def _show(self, history, total):
        """One line, rewritten in place: a bar, the epoch, the losses, the time."""
        done = history["epoch"]
        width = 20
        filled = width * done // max(total, 1)
        parts = [f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}",
                 f"loss {history['loss'][-1]:.6g}"]
        if history["validation_loss"]:
            parts.append(f"val_loss {history['validation_loss'][-1]:.6g}")
        if history["validation_score"]:
            parts.append(f"val_score {history['validation_score'][-1]:.4f}")
        parts.append(f"{time.perf_counter() - self.start:.1f} s")
        sys.stderr.write("\r" + "  ".join(parts))
        sys.stderr.flush()

    def close(self):
        if self.progress:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _copy(values):
    return None if values is None else list(values)
