"""scikit-learn estimators trained by fastmlp's compiled kernels.

    from fastmlp.sklearn import MLPClassifier, MLPRegressor
    clf = MLPClassifier(hidden_layer_sizes=(256, 128), max_iter=20).fit(X, y)

They take scikit-learn's parameters with scikit-learn's meanings and defaults
(MLPRegressor's ``loss`` first: "squared_error" or "poisson"; hidden_layer_sizes,
activation, solver, alpha, batch_size, learning_rate, learning_rate_init, power_t,
max_iter, shuffle, random_state, tol, verbose, warm_start, momentum,
nesterovs_momentum, early_stopping, validation_fraction, beta_1, beta_2, epsilon,
n_iter_no_change, max_fun) and set the same fitted attributes, so Pipelines, grid
searches and cross-validation work unchanged.  The training semantics follow
scikit-learn's MLP: Glorot-uniform initialization drawn from ``random_state`` in the
same order, the L2 penalty ``alpha`` divided by each batch's size (or weight sum), the
stopping rule on ``tol`` / ``n_iter_no_change``, the stratified early-stopping split,
"invscaling" and "adaptive" rates for "sgd", nan validation scores and the best
finite weights when a fit with early stopping diverges, scikit-learn's errors.

``dtype`` (default None) is the precision of the network and its arithmetic: None
computes in X's dtype, as scikit-learn does, so a float64 fit follows scikit-learn's
own to rounding error (the same initial weights, batches, updates and stopping);
``dtype=np.float32`` is the fast choice for float64 data.  Predictions have the dtype
of X @ coefs_, as scikit-learn's.

Extras, each off by default (scikit-learn's behaviour unchanged):

- ``dropout`` (default 0): inverted dropout on the hidden layers' outputs while
  training (a number, or a list with one rate per hidden layer), in the compiled
  engine, its masks keyed from ``random_state``; never at predict.  Not with
  solver="lbfgs".
- ``class_weight`` (MLPClassifier): "balanced" or {label: weight}, as
  LogisticRegression's: each row's sample weight times its class's weight.
- ``fit(X, y, validation_data=(X_val, y_val[, sample_weight_val]))``: these rows are
  scored after every epoch (``validation_scores_``, ``validation_loss_curve_``) and,
  with ``early_stopping=True``, drive the stopping rule instead of a random split.
  With early stopping's split, ``validation_loss_curve_`` is recorded too.
- ``fit(..., callbacks=[f, ...])``: f(estimator, history) after every epoch (every
  iteration for "lbfgs"), history holding "epoch", "loss", "validation_score" and
  "validation_loss" so far; returning False stops the fit.
- ``verbose=2`` (or more): one progress line on stderr, rewritten each epoch,
  instead of scikit-learn's printed lines (``verbose=True`` prints those).
- ``activation`` takes a list, one per hidden layer, and fastmlp's own activations
  (sigmoid, leaky_relu, elu, softplus, gelu) besides scikit-learn's.

Other differences:

- Sparse X is accepted and densified (``X.toarray()``) first: the kernels are dense.
  Mind the memory that takes for a large, very sparse matrix.
- ``network_`` is the fitted fastmlp Network: ``fastmlp.invert(est.network_, ...)``,
  gradient checks, ``save``.  ``coefs_`` and ``intercepts_`` are views of its
  parameter buffer (assigning a list copies into it).
- With "lbfgs", ``loss_curve_`` holds the loss after every iteration.
- loss="poisson" refuses y < 0 (scikit-learn fits a NaN loss).
- A diverging fit without early stopping raises scikit-learn's error at once, keeping
  the last finite weights, instead of finishing its epochs with NaN weights.
- The reported loss of a classifier is the exact log-loss; scikit-learn clips
  probabilities to [eps, 1 - eps] first, which differs only for predictions within
  float64's eps of 0 or 1.

scikit-learn (>= 1.6) is needed by this subpackage only; ``import fastmlp`` never loads it.
"""
try:
    import sklearn  # noqa: F401
except ImportError as exc:
    raise ImportError('fastmlp.sklearn needs scikit-learn, which is not installed: '
                      'pip install "fastmlp[sklearn]"') from exc

from ._classifier import MLPClassifier
from ._regressor import MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor"]
