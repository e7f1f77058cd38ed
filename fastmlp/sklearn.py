"""scikit-learn estimators trained by fastmlp's compiled kernels.

    from fastmlp.sklearn import MLPClassifier, MLPRegressor
    clf = MLPClassifier(hidden_layer_sizes=(256, 128), max_iter=20).fit(X, y)

They take scikit-learn's parameters with scikit-learn's meanings (hidden_layer_sizes,
activation, solver, alpha, batch_size, learning_rate, learning_rate_init, power_t,
max_iter, shuffle, random_state, tol, verbose, warm_start, momentum,
nesterovs_momentum, early_stopping, validation_fraction, beta_1, beta_2, epsilon,
n_iter_no_change, max_fun), plus ``dtype``, and set the same fitted attributes, so
Pipelines, grid searches and cross-validation work unchanged.  The training
semantics follow scikit-learn's MLP: Glorot-uniform initialization drawn from
``random_state`` in the same order, the L2 penalty ``alpha`` divided by each batch's
size (or weight sum), the stopping rule on ``tol`` / ``n_iter_no_change``, the
stratified early-stopping split, "invscaling" and "adaptive" rates for "sgd".

Where they differ:

- ``dtype`` (float32 by default, the fast choice) is the precision of the network
  and its arithmetic; scikit-learn computes in the dtype of X.  With
  ``dtype=np.float64`` and the same ``random_state``, a fit follows scikit-learn's
  own to rounding error: the same initial weights, batches, updates and stopping.
- activation also accepts fastmlp's own (sigmoid, leaky_relu, elu, softplus, gelu).
- Sparse X is accepted and densified (``X.toarray()``) first: the kernels are dense.
  Mind the memory that takes for a large, very sparse matrix.
- ``network_`` is the fitted fastmlp Network: ``fastmlp.invert(est.network_, ...)``,
  gradient checks, ``save``.  ``coefs_`` and ``intercepts_`` are views of its
  parameter buffer (assigning a list copies into it).
- With "lbfgs", ``loss_curve_`` holds the loss after every iteration.

scikit-learn (>= 1.6) is needed by this module only; ``import fastmlp`` never loads it.
"""
import numbers
import warnings

import numpy as np
import scipy.sparse

try:
    import sklearn  # noqa: F401
except ImportError as exc:
    raise ImportError('fastmlp.sklearn needs scikit-learn, which is not installed: '
                      'pip install "fastmlp[sklearn]"') from exc
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils import shuffle as shuffle_rows
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import (_check_sample_weight, check_is_fitted, column_or_1d,
                                      validate_data)

from . import optim
from .activations import ACTIVATIONS
from .network import Network
from .training import _Batches

__all__ = ["MLPClassifier", "MLPRegressor"]

_ACTIVATIONS = {"logistic": "sigmoid", **{name: name for name in ACTIVATIONS
                                          if name != "softmax"}}
_SOLVERS = ("sgd", "adam", "lbfgs")
_RATES = ("constant", "invscaling", "adaptive")
_OUT_ACTIVATION = {"cross_entropy": "softmax", "binary_cross_entropy": "logistic",
                   "mse": "identity"}
_SPARSE = ["csr", "csc", "coo"]
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class _BaseMLP(BaseEstimator):
    """What MLPClassifier and MLPRegressor share: parameters, fitting, forward."""

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 n_iter_no_change=10, max_fun=15000, dtype=np.float32):
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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True        # densified, see the module docstring
        return tags

    # -- the parameters, checked when fit starts (scikit-learn's convention) ----

    def _check_params(self):
        """Each parameter's type and range; the error names the parameter."""
        name = type(self).__name__

        def fail(param, expected, exc=ValueError):
            raise exc(f"{name}: the {param!r} parameter must be {expected}, "
                      f"got {getattr(self, param)!r}")

        def real(param, low, high=None, low_open=False, high_open=True):
            value = getattr(self, param)
            bounds = (f"{'>' if low_open else '>='} {low}" if high is None else
                      f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}")
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                fail(param, f"a real number {bounds}", TypeError)
            if not np.isfinite(value) or value < low or (low_open and value == low) or \
                    (high is not None and (value > high or (high_open and value == high))):
                fail(param, f"a real number {bounds}")

        def whole(param, low=1):
            value = getattr(self, param)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                fail(param, f"an integer >= {low}", TypeError)
            if value < low:
                fail(param, f"an integer >= {low}")

        def flag(param):
            if not isinstance(getattr(self, param), (bool, np.bool_)):
                fail(param, "True or False", TypeError)

        def choice(param, options):
            if not isinstance(getattr(self, param), str) or getattr(self, param) not in options:
                fail(param, f"one of {', '.join(map(repr, options))}")

        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, numbers.Integral) else sizes
        try:
            sizes = list(sizes)
        except TypeError:
            fail("hidden_layer_sizes", "an int or a sequence of ints >= 1", TypeError)
        if any(isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1
               for s in sizes):
            fail("hidden_layer_sizes", "an int or a sequence of ints >= 1")
        choice("activation", tuple(_ACTIVATIONS))
        choice("solver", _SOLVERS)
        real("alpha", 0.0)
        if not (isinstance(self.batch_size, str) and self.batch_size == "auto"):
            whole("batch_size")
        choice("learning_rate", _RATES)
        real("learning_rate_init", 0.0, low_open=True)
        real("power_t", 0.0)
        whole("max_iter")
        flag("shuffle")
        real("tol", 0.0)
        if not isinstance(self.verbose, numbers.Integral):
            fail("verbose", "a bool or an int", TypeError)
        flag("warm_start")
        real("momentum", 0.0, 1.0, high_open=False)
        flag("nesterovs_momentum")
        flag("early_stopping")
        real("validation_fraction", 0.0, 1.0)
        real("beta_1", 0.0, 1.0)
        real("beta_2", 0.0, 1.0)
        real("epsilon", 0.0, low_open=True)
        whole("n_iter_no_change")
        whole("max_fun")
        try:
            dtype = np.dtype(self.dtype)
        except TypeError:
            dtype = None
        if dtype not in (np.float32, np.float64):
            fail("dtype", "np.float32 or np.float64", TypeError)
        return [int(s) for s in sizes], dtype

    # -- fitting ----------------------------------------------------------------

    def _fit(self, X, y, sample_weight, incremental, classes=None):
        hidden, dtype = self._check_params()
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
            if sw.size and np.all(sw == sw[0]) and sw[0] > 0:
                sw = None                # equal weights: exactly the unweighted fit
        T, labels, loss = self._encode(y, first, classes)
        # the kernels take every array in the network's dtype, C-ordered
        X = np.ascontiguousarray(X, dtype=dtype)
        if T is not None:
            T = np.ascontiguousarray(T, dtype=dtype)
        rs = check_random_state(self.random_state)
        if first:
            self._initialize(X, hidden, loss, dtype, T, rs)
        elif self.network_.dtype != dtype:
            raise ValueError(f"dtype={np.dtype(self.dtype).name} differs from the "
                             f"fitted network's {self.network_.dtype.name}; refit "
                             "without warm_start")
        if self.solver == "lbfgs":
            self._fit_lbfgs(X, T, labels, sw)
        else:
            self._fit_stochastic(X, y, T, labels, sw, incremental, rs)
        if not np.all(np.isfinite(self.network_.params)):
            raise ValueError("the solver produced non-finite weights; scale the inputs "
                             "(a StandardScaler) or lower learning_rate_init")
        return self

    def _initialize(self, X, hidden, loss, dtype, T, rs):
        """A new network, initialized as scikit-learn's MLP would be from rs."""
        n_out = T.shape[1] if T is not None else len(self.classes_)
        sizes = [X.shape[1], *hidden, n_out]
        net = Network(sizes, activation=_ACTIVATIONS[self.activation], loss=loss,
                      dtype=dtype)
        factor = 2.0 if self.activation == "logistic" else 6.0
        for layer in net.layers:                  # scikit-learn's draws, in its order
            bound = np.sqrt(factor / (layer.n_in + layer.n_out))
            layer.W = rs.uniform(-bound, bound, (layer.n_in, layer.n_out))
            layer.b = rs.uniform(-bound, bound, layer.n_out)
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
        self._best_flat = None            # early stopping's best parameters
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

    def _make_optimizer(self):
        if self.solver == "adam":
            return _SklearnAdam(lr=self.learning_rate_init, betas=(self.beta_1, self.beta_2),
                                eps=self.epsilon)
        return optim.SGD(lr=self.learning_rate_init, momentum=self.momentum,
                         nesterov=self.nesterovs_momentum and self.momentum > 0)

    @staticmethod
    def _set_rate(opt, lr):
        """A new SGD rate.  scikit-learn's momentum accumulates rate-scaled steps,
        fastmlp's (PyTorch's) raw gradients; rescaling the buffer by old/new rate
        makes the next step exactly scikit-learn's."""
        if opt._state is not None and opt.momentum:
            buffer = opt._state[0]
            buffer *= opt.lr / lr
        opt.lr = lr

    def _fit_stochastic(self, X, y, T, labels, sw, incremental, rs):
        net = self.network_
        if not incremental or self._optimizer is None:
            self._optimizer = self._make_optimizer()
        opt = self._optimizer
        val = None
        if self.early_stopping:
            # scikit-learn stratifies single-output (binary) classification only
            stratify = T if isinstance(self, ClassifierMixin) and self.n_outputs_ == 1 else None
            train, held = train_test_split(np.arange(X.shape[0]), random_state=rs,
                                           test_size=self.validation_fraction,
                                           stratify=stratify)
            if held.size < 2:
                raise ValueError("the validation set is too small: increase "
                                 "validation_fraction or give more samples")
            val = (X[held], y[held], None if sw is None else sw[held])
            X, T, labels, sw = (None if a is None else a[train] for a in (X, T, labels, sw))
        n = X.shape[0]
        if self.batch_size == "auto":
            batch = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn(f"batch_size={self.batch_size} is larger than the {n} "
                              "samples; it is clipped to them", UserWarning)
            batch = min(self.batch_size, n)
        # scikit-learn's order: each epoch shuffles the previous epoch's order; each
        # batch's rows are gathered into one reused buffer (as Network.fit does)
        order = np.arange(n)
        batches = _Batches((X, T, labels, sw), batch)
        try:
            self.n_iter_ = 0
            for _ in range(self.max_iter):
                if self.shuffle:
                    order = shuffle_rows(order, random_state=rs)
                total = 0.0
                for Xb, Tb, Lb, Wb in batches(order if self.shuffle else None):
                    rows, weights = Xb.shape[0], None
                    l2 = self.alpha / rows
                    if Wb is not None:
                        w_sum = Wb.sum()
                        if w_sum == 0:
                            continue          # all-zero weights: nothing to learn
                        weights = Wb / w_sum
                        l2 = self.alpha / w_sum
                    weights_sq = self._weights_sq()          # before the step
                    try:
                        value = net._optimizer_step(Xb, Tb, Lb, opt, weights, l2)
                    except FloatingPointError as exc:
                        raise ValueError(f"training diverged in iteration {self.n_iter_ + 1}"
                                         f": {exc}; scale the inputs (a StandardScaler) or "
                                         "lower learning_rate_init") from None
                    total += self._sklearn_loss(value, l2, weights_sq) * rows
                self.n_iter_ += 1
                self.loss_ = total / n
                self.t_ += n
                self.loss_curve_.append(self.loss_)
                if self.verbose:
                    print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
                self._track_progress(val)
                if self.solver == "sgd" and self.learning_rate == "invscaling":
                    self._set_rate(opt, self.learning_rate_init / (self.t_ + 1) ** self.power_t)
                if self._no_improvement_count > self.n_iter_no_change:
                    if self._stalled(opt):
                        break
                if incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                                  "reached and the optimization hasn't converged yet.",
                                  ConvergenceWarning)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")
        if self.early_stopping and self._best_flat is not None:
            net.params[...] = self._best_flat

    def _track_progress(self, val):
        """scikit-learn's no-improvement count: on the validation score with early
        stopping (keeping the best weights), else on the training loss."""
        if val is not None:
            score = self._score_prepared(*val)
            self.validation_scores_.append(score)
            if self.verbose:
                print(f"Validation score: {score:f}")
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_ or self._best_flat is None:
                self.best_validation_score_ = score
                self._best_flat = self.network_.get_params()
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            self.best_loss_ = min(self.best_loss_, self.loss_curve_[-1])

    def _stalled(self, opt):
        """No improvement for n_iter_no_change epochs: stop (True), or for "sgd" with
        the "adaptive" rate divide the rate by 5 and go on until it falls below 1e-6."""
        what = "Validation score" if self.early_stopping else "Training loss"
        message = (f"{what} did not improve more than tol={self.tol:f} for "
                   f"{self.n_iter_no_change} consecutive epochs.")
        if self.solver == "sgd" and self.learning_rate == "adaptive" and opt.lr > 1e-6:
            self._set_rate(opt, opt.lr / 5.0)
            self._no_improvement_count = 0
            if self.verbose:
                print(f"{message} Setting learning rate to {opt.lr:f}")
            return False
        if self.verbose:
            print(f"{message} Stopping.")
        return True

    def _fit_lbfgs(self, X, T, labels, sw):
        """Full-batch L-BFGS-B (scipy) on the flat parameters, the analytic gradient
        from one compiled call per evaluation."""
        net = self.network_
        if sw is None:
            weights, w_sum = None, X.shape[0]
        else:
            w_sum = sw.sum()
            if w_sum == 0:
                raise ValueError("sample_weight sums to zero: there is nothing to fit")
            weights = sw / w_sum
        l2 = self.alpha / w_sum
        curve = []

        def record(intermediate_result):
            curve.append(self._sklearn_loss(intermediate_result.fun, l2,
                                            self._weights_sq(intermediate_result.x)))

        # scikit-learn sets gtol only, and keeps scipy's default ftol
        result = optim.lbfgs_prepared(net, X, T, labels, self.max_iter, self.tol,
                                      self.max_fun, record, ftol=1e7 * np.finfo(float).eps,
                                      l2=l2, row_weights=weights)
        if result.status == 1:
            warnings.warn(f"lbfgs failed to converge after {result.nit} iterations "
                          f"({result.message}); increase max_iter or scale the data",
                          ConvergenceWarning)
        self.n_iter_ = int(result.nit)
        self.loss_ = self._sklearn_loss(float(result.fun), l2, self._weights_sq(result.x))
        self.loss_curve_ = curve
        self.best_loss_ = min(self.loss_curve_, default=self.loss_)

    def _check_solver(self):
        if self.solver not in ("sgd", "adam"):
            raise AttributeError(f"partial_fit is only available for the stochastic "
                                 f"solvers 'sgd' and 'adam', not {self.solver!r}")
        return True

    # -- the fitted network -------------------------------------------------------

    def _forward(self, X):
        """The network's output for X, in float64 (scikit-learn's output precision)."""
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
        return self.network_.forward(X).astype(np.float64, copy=False)

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


class _SklearnAdam(optim.Adam):
    """Adam with scikit-learn's placement of epsilon: it adds eps to √v before the
    bias correction, fastmlp (as PyTorch) after it; the ε added after the correction
    at step t is therefore eps / √(1 - β₂ᵗ)."""

    def _eps(self, t):
        return self.eps / np.sqrt(1.0 - self.betas[1] ** t)


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """scikit-learn's MLPClassifier, trained by fastmlp (see the module docstring).

    Binary targets get one logistic output, several classes a softmax layer, a
    multilabel indicator matrix one logistic output per label.  Labels may be
    integers or strings; classes_ holds them sorted.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    def _encode(self, y, first, classes):
        """(T, labels, loss) for the network from y; classes_ set (first fit, from
        `classes` if given) or checked against y."""
        check_classification_targets(y)
        multilabel = type_of_target(y).startswith("multilabel")
        if first:
            self._kind = "multilabel" if multilabel else None
            self.classes_ = (np.arange(y.shape[1]) if multilabel else
                             unique_labels(y if classes is None else classes))
            if not multilabel:
                if len(self.classes_) < 2:
                    raise ValueError(f"{type(self).__name__} needs samples of at least 2 "
                                     "classes in the data, but the data contains only one "
                                     f"class: {self.classes_[0]!r}")
                self._kind = "binary" if len(self.classes_) == 2 else "multiclass"
        elif multilabel != (self._kind == "multilabel"):
            raise ValueError(f"y is {type_of_target(y)} but the estimator was fitted on "
                             f"{self._kind} targets")
        if multilabel:
            if y.shape[1] != len(self.classes_):
                raise ValueError(f"y has {y.shape[1]} labels, the estimator was fitted on "
                                 f"{len(self.classes_)}")
            return np.asarray(y, dtype=np.float64), None, "binary_cross_entropy"
        unseen = np.setdiff1d(unique_labels(y), self.classes_)
        if unseen.size:
            raise ValueError(f"y has classes {unseen.tolist()} that are not in classes_="
                             f"{self.classes_.tolist()} (partial_fit and warm_start keep "
                             "the classes of the first fit)")
        index = np.searchsorted(self.classes_, y)
        if self._kind == "binary":
            return index.astype(np.float64).reshape(-1, 1), None, "binary_cross_entropy"
        return None, index.astype(np.intp), "cross_entropy"

    def fit(self, X, y, sample_weight=None):
        """Fit on X (n_samples, n_features) and labels y, optionally weighted."""
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(lambda self: self._check_solver())
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y).  The first call needs classes (every label that
        will ever be seen) unless y is a multilabel indicator matrix."""
        if not hasattr(self, "network_"):
            if classes is None and not type_of_target(y).startswith("multilabel"):
                raise ValueError("classes must be passed on the first call to partial_fit")
        elif classes is not None and not np.array_equal(unique_labels(classes),
                                                        self.classes_):
            raise ValueError(f"classes={np.asarray(classes).tolist()} differs from the "
                             f"classes of the first call, {self.classes_.tolist()}")
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def predict(self, X):
        """The most probable class per row (a 0/1 indicator row for multilabel)."""
        return self._decode(self._forward(X))

    def _decode(self, P):
        """Labels from the network's output probabilities P."""
        if self._kind == "multilabel":
            return (P > 0.5).astype(np.intp)
        if self._kind == "binary":
            return self.classes_[(P[:, 0] > 0.5).astype(np.intp)]
        return self.classes_[P.argmax(axis=1)]

    def predict_proba(self, X):
        """Class probabilities, columns ordered as classes_ (per-label
        probabilities for multilabel)."""
        P = self._forward(X)
        if self._kind == "binary":
            return np.hstack([1 - P, P])
        return P

    def predict_log_proba(self, X):
        """log(predict_proba(X))."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def _score_prepared(self, X, y, sample_weight):
        """Accuracy on an X already validated (early stopping's held-out rows)."""
        return accuracy_score(y, self._decode(self.network_.forward(X)),
                              sample_weight=sample_weight)


class MLPRegressor(RegressorMixin, _BaseMLP):
    """scikit-learn's MLPRegressor (squared error, identity output), trained by
    fastmlp (see the module docstring).  y may have several columns."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _encode(self, y, first, classes):
        T = np.asarray(y, dtype=np.float64)
        T = T.reshape(-1, 1) if T.ndim == 1 else T
        if not first and T.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {T.shape[1]} outputs, the fitted network "
                             f"{self.n_outputs_}")
        return T, None, "mse"

    def fit(self, X, y, sample_weight=None):
        """Fit on X (n_samples, n_features) and targets y (n_samples,) or
        (n_samples, n_outputs), optionally weighted."""
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(lambda self: self._check_solver())
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), continuing from the current weights."""
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """The predicted targets: (n_samples,) for one output, else 2-D."""
        out = self._forward(X)
        return out.ravel() if self.n_outputs_ == 1 else out

    def _score_prepared(self, X, y, sample_weight):
        out = self.network_.forward(X)
        return r2_score(y, out.ravel() if self.n_outputs_ == 1 else out,
                        sample_weight=sample_weight)
