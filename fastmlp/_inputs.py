"""How a Network takes what users give it: X through the input scaler (a DataFrame's
columns checked by name, integers cast, sparse rows densified) and y as targets,
class labels mapped to the outputs when the network carries its classes.  A mixin of
Network (fastmlp/network.py), kept apart so that file reads as the data path."""
import numpy as np
import scipy.sparse

from . import _kernels, _tables
from ._validation import MAX_DIM, VALUE_TARGET_RANGE, as_array, check_matrix, check_targets
from .preprocessing import Standardizer


class InputsMixin:
    @property
    def scaler(self):
        """A Standardizer applied to every X this network is given, or None."""
        return self._scaler

    @scaler.setter
    def scaler(self, value):
        if value is not None:
            if not isinstance(value, Standardizer):
                raise TypeError(f"scaler must be a Standardizer or None, got "
                                f"{type(value).__name__}")
            if value.n_features != self.sizes[0]:
                raise ValueError(f"scaler has {value.n_features} features, the network "
                                 f"takes {self.sizes[0]} inputs")
        self._scaler = value

    def _inputs(self, X, name="X"):
        if self._scaler is None and _kernels.ready_matrix(X, self._dtype, self._sizes[0],
                                                          MAX_DIM):
            return X        # already what the kernels take, and finite
        if type(X) is not np.ndarray or X.dtype.kind in "iub":
            X = self._table(X, name)
        X = check_matrix(X, name, self.dtype, self.sizes[0])
        if self._scaler is not None:
            X = self._scaler.transform(X, self.dtype)
        return X

    def _inputs_as_given(self, X):
        """(mean, scale) for an X that the compiled inference pass takes as it is and
        prepares itself, block by block (csrc/_inference_inputs.pxi): with a scaler,
        any C-contiguous float32 or float64 ndarray of the network's width, which the
        pass standardizes with the scaler's mean and scale; without one, such an array
        of the network's dtype, which it checks for NaN and infinity ((None, None)).
        None: X takes the full path (_inputs), as does an unscaled batch of fewer
        rows than the pass checks block by block (checked at once there, as here)."""
        scaler = self._scaler
        if scaler is None and not (type(X) is np.ndarray and X.ndim == 2 and
                                   X.shape[0] >= _kernels.ROWS_CHECKED_IN_BLOCKS):
            return None
        if not _kernels.ready_matrix(X, self._dtype if scaler is None else None,
                                     self._sizes[0], MAX_DIM, finite=False):
            return None
        if scaler is None:
            return None, None
        return scaler.float64_vectors()

    def _table(self, X, name):
        """What users have (a DataFrame, whose columns must be the fitted ones; integers,
        cast; a sparse matrix, densified) as an array for check_matrix."""
        _tables.check_names(self.training.get("feature_names"), _tables.feature_names(X), name)
        X = _tables.as_array(X, name)
        return X.toarray() if scipy.sparse.issparse(X) else X

    def _targets(self, y, batch, name="y"):
        if (self._loss.name == "cross_entropy" and "classes" not in self.training
                and _kernels.ready_labels(y, batch, self._sizes[-1])):
            return None, y      # already what the kernels take
        bounds = VALUE_TARGET_RANGE.get(self._loss.name)
        if bounds is not None and "classes" not in self.training:
            # values as users pass them (float64, int64): cast and checked in one pass
            # (check_targets: 2.7 us for 128 mse targets, 4.9 for binary cross-entropy)
            T = _kernels.ready_targets(y, self._dtype, self._sizes[-1], batch, *bounds)
            if T is not None:
                return T, None
        if "classes" in self.training or type(y) is not np.ndarray:
            y = self._class_indices(_tables.as_targets(y), name)
        return check_targets(y, name, self._loss.name, self.sizes[-1], batch, self.dtype)

    @property
    def classes(self):
        """The class labels of a softmax network trained with labels (the command line
        stores them in training["classes"], one per output), else None."""
        classes = self.training.get("classes")
        if (self._loss.name != "cross_entropy" or not isinstance(classes, list)
                or len(classes) != self.sizes[-1]):
            return None
        return classes

    def _class_indices(self, y, name="y"):
        """Labels (1-D) -> output indices, for a network that carries its classes."""
        classes = self.classes
        arr = as_array(y, name)
        if classes is None or arr.ndim != 1:
            return y
        lookup = {c: i for i, c in enumerate(classes)}
        try:
            return np.fromiter((lookup[v] for v in arr.tolist()), np.intp, arr.size)
        except (KeyError, TypeError) as exc:
            label = exc.args[0] if isinstance(exc, KeyError) else arr
            raise ValueError(f"{name} holds label {label!r}, which is not one of the "
                             f"network's classes {classes[:10]}") from None

