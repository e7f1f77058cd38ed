"""_BaseMLP: what MLPClassifier and MLPRegressor share — the parameters, fitting
(validation, encoding, initialization), the loss in scikit-learn's convention, the
forward pass and the fitted attributes."""
import numpy as np
import scipy.sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import (_check_sample_weight, check_is_fitted, column_or_1d,
                                      validate_data)

from ..layer import Layer
from ..losses import LOSSES
from ..network import Network
from ..dropout import make_key
from ._params import ACTIVATION_NAMES, check_dropout, check_params
from ._monitor import (EpochHooks, Rows, check_callbacks, check_validation_data,
                       prepare_validation)
from ._solvers import NON_FINITE, _SolverMixin

_OUT_ACTIVATION = {"cross_entropy": "softmax", "binary_cross_entropy": "logistic",
                   "mse": "identity", "poisson": "exp"}
_SPARSE = ["csr", "csc", "coo"]
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def unchecked_forward(net, X):
    """net.forward(X) without its overflow check: early stopping scores a diverged
    epoch the way scikit-learn does (nan outputs, nan R², argmax accuracy)."""
    return net._forward_prepared(net._inputs(X), check=False)


class _BaseMLP(_SolverMixin, BaseEstimator):
    """What MLPClassifier and MLPRegressor share: parameters, fitting, forward."""

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 n_iter_no_change=10, max_fun=15000, dtype=None, dropout=0.0):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dtype = dtype
        self.dropout = dropout

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True        # densified, see the module docstring
        return tags

    # -- fitting ----------------------------------------------------------------

    def _fit(self, X, y, sample_weight, incremental, classes=None, validation_data=None,
             callbacks=None):
        hidden, activations, dtype = check_params(self)
        rates = check_dropout(self, len(hidden))
        callbacks = check_callbacks(callbacks)
        check_validation_data(self, validation_data)
        if incremental and self.early_stopping and self.solver != "lbfgs":
            raise ValueError("partial_fit does not support early_stopping=True")
        first = not hasattr(self, "network_") or (not self.warm_start and not incremental)
        X, y = validate_data(self, X, y, accept_sparse=_SPARSE, multi_output=True,
                             dtype=(np.float64, np.float32), reset=first,
                             y_numeric=not isinstance(self, ClassifierMixin))
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if scipy.sparse.issparse(X):
            X = X.toarray()
        sw = None
        if sample_weight is not None:
            sw = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                      ensure_non_negative=True)
        T, labels, loss = self._encode(y, first, classes)
        sw = self._weigh_classes(y, sw)
        if sw is not None and not np.isfinite(sw.sum()):
            # the loss divides by the sum (and alpha with it, as scikit-learn's does)
            raise ValueError("sample_weight (times class_weight) sums beyond float64's "
                             "range: scale the weights down")
        if sw is not None and sw.size and np.all(sw == sw[0]) and sw[0] > 0:
            sw = None                    # equal weights: exactly the unweighted fit
        if first:
            dtype = dtype or X.dtype     # None: X's dtype, as scikit-learn computes
        elif dtype is None:
            dtype = self.network_.dtype
        elif self.network_.dtype != dtype:
            raise ValueError(f"dtype={np.dtype(self.dtype).name} differs from the "
                             f"fitted network's {self.network_.dtype.name}; refit "
                             "without warm_start")
        # the kernels take every array in the network's dtype, C-ordered
        X = np.ascontiguousarray(X, dtype=dtype)
        if T is not None:
            T = np.ascontiguousarray(T, dtype=dtype)
        rs = check_random_state(self.random_state)
        if first:
            self._initialize(X, hidden, activations, loss, dtype, T, rs, rates)
        val = (None if validation_data is None else
               prepare_validation(self, validation_data, dtype))
        hooks = EpochHooks(self, callbacks)
        try:
            if self.solver == "lbfgs":
                self._fit_lbfgs(X, T, labels, sw, hooks)
            else:
                self._fit_stochastic(Rows(X, y, T, labels, sw), val, incremental, rs,
                                     hooks)
        finally:
            hooks.close()
        if not np.all(np.isfinite(self.network_.params)):
            raise ValueError(NON_FINITE)
        return self

    def _initialize(self, X, hidden, activations, loss, dtype, T, rs, rates):
        """A new network, initialized as scikit-learn's MLP would be from rs."""
        n_out = T.shape[1] if T is not None else len(self.classes_)
        sizes = [X.shape[1], *hidden, n_out]
        out = LOSSES[loss].output_activation or "identity"
        names = [ACTIVATION_NAMES[a] for a in activations[:-1]] + [out]
        net = Network([Layer(n_in, width, act, dtype, seed=0, dropout=rate)
                       for n_in, width, act, rate in zip(sizes[:-1], sizes[1:], names, rates)],
                      loss=loss)
        for layer, act in zip(net.layers, activations):
            # scikit-learn's draws, in its order (Glorot; factor 2 for logistic)
            bound = np.sqrt((2.0 if act == "logistic" else 6.0) / (layer.n_in + layer.n_out))
            layer.W = rs.uniform(-bound, bound, (layer.n_in, layer.n_out))
            layer.b = rs.uniform(-bound, bound, layer.n_out)
        if any(rates):       # the masks' key from random_state too (only with dropout)
            net.dropout_key = make_key(int(rs.randint(0, 2**31 - 1)))
        net.training = {"estimator": type(self).__name__, "solver": self.solver,
                        "alpha": float(self.alpha),
                        "input_min": X.min(axis=0).tolist(),
                        "input_max": X.max(axis=0).tolist(),
                        "input_mean": X.mean(axis=0, dtype=np.float64).tolist()}
        self.network_ = net
        self.n_outputs_ = n_out
        self.n_layers_ = len(sizes)
        self.out_activation_ = _OUT_ACTIVATION[loss]
        self.n_iter_ = 0
        self.t_ = 0
        self._optimizer = None
        self._best_flat = net.get_params()        # early stopping's best parameters
        self._no_improvement_count = 0
        self.loss_curve_ = []
        if self.early_stopping and self.solver != "lbfgs":
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_loss_ = np.inf
        self.validation_loss_curve_ = None if self.validation_scores_ is None else []

    def _weigh_classes(self, y, sw, fitted=False):
        """The sample weights with class weights applied (MLPClassifier's class_weight)."""
        return sw

    def _spreads_loss(self):
        """Whether scikit-learn's loss differs from the kernels': for several
        regression outputs it averages the squared error over them too."""
        return self.network_.loss_name == "mse" and self.n_outputs_ > 1

    def _sklearn_loss(self, value, l2, weights_sq):
        """A loss from the kernels in scikit-learn's convention (see _spreads_loss);
        weights_sq is Σ‖W‖² at the parameters the loss was taken at, for the
        penalty, which is not averaged."""
        if not self._spreads_loss():
            return value
        penalty = 0.5 * l2 * weights_sq
        return (value - penalty) / self.n_outputs_ + penalty

    def _weights_sq(self, flat=None):
        """Σ‖W‖² over the layers' weights, of a flat parameter vector or (None) of
        the network's current ones; 0 where no conversion is needed."""
        if not self._spreads_loss():
            return 0.0
        if flat is None:
            return sum(float(np.dot(w, w)) for w in
                       (layer.W.ravel() for layer in self.network_.layers))
        weights = flat[self.network_._weight_mask.view(bool)]
        return float(np.dot(weights, weights))

    # -- the fitted network -------------------------------------------------------

    def _forward(self, X):
        """The network's output for X, in the dtype of X @ coefs_ (as scikit-learn)."""
        if not hasattr(self, "network_"):
            check_is_fitted(self)                     # raises NotFittedError
        # A plain float matrix of the right width needs none of validate_data's work
        # (which costs ~50 µs, 15 times the forward pass of one row): the network
        # checks its finiteness.  Anything else goes through validate_data.
        if not (type(X) is np.ndarray and X.ndim == 2 and X.dtype in _FLOATS
                and X.shape[1] == self.n_features_in_
                and not hasattr(self, "feature_names_in_")):
            X = validate_data(self, X, accept_sparse=_SPARSE,
                              dtype=(np.float64, np.float32), reset=False)
            if scipy.sparse.issparse(X):
                X = X.toarray()
        # scikit-learn's output dtype, X @ coefs_'s: float32 only if both are float32
        out = self.network_.forward(X)
        return out if X.dtype == out.dtype else out.astype(np.float64)

    @property
    def coefs_(self):
        """The weight matrices (n_in, n_out) per layer: views of network_'s buffer."""
        check_is_fitted(self)
        return [layer.W for layer in self.network_.layers]

    @coefs_.setter
    def coefs_(self, values):
        self._assign("coefs_", values, "W")

    @property
    def intercepts_(self):
        """The bias vectors per layer: views of network_'s buffer."""
        check_is_fitted(self)
        return [layer.b for layer in self.network_.layers]

    @intercepts_.setter
    def intercepts_(self, values):
        self._assign("intercepts_", values, "b")

    def _assign(self, name, values, attr):
        check_is_fitted(self)
        layers = self.network_.layers
        values = list(values)
        if len(values) != len(layers):
            raise ValueError(f"{name} needs {len(layers)} arrays, got {len(values)}")
        for layer, value in zip(layers, values):
            setattr(layer, attr, value)           # shape- and finiteness-checked copy

