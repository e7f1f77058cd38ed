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

scikit-learn (>= 1.6) is needed by this subpackage only; ``import fastmlp`` never loads it.
"""
from ._classifier import MLPClassifier
from ._regressor import MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor"]
