"""The estimators' parameters, checked when fit starts (scikit-learn's convention):
each one's type and range, the error naming the parameter."""
import math
import numbers

import numpy as np

from ..activations import ACTIVATIONS, OUTPUT_ONLY

ACTIVATION_NAMES = {"logistic": "sigmoid", **{name: name for name in ACTIVATIONS
                                              if name not in OUTPUT_ONLY}}
SOLVERS = ("sgd", "adam", "lbfgs")
RATES = ("constant", "invscaling", "adaptive")
LOSSES = ("squared_error", "poisson")          # MLPRegressor's
MAX_WIDTH = 2**31 - 1                           # a layer's width: a 32-bit BLAS size


def check_params(est):
    """(hidden layer sizes, activations, dtype or None) of the estimator `est`.

    activations (scikit-learn's names) has one entry per hidden layer, then the one
    whose initialization the output layer takes (scikit-learn: `activation`'s).
    """
    name = type(est).__name__

    def fail(param, expected, exc=ValueError):
        raise exc(f"{name}: the {param!r} parameter must be {expected}, "
                  f"got {getattr(est, param)!r}")

    def real(param, low, high=None, low_open=False, high_open=True):
        value = getattr(est, param)
        bounds = (f"{'>' if low_open else '>='} {low}" if high is None else
                  f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}")
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            fail(param, f"a real number {bounds}", TypeError)
        try:
            value = float(value)            # (an int beyond float64 overflows)
        except OverflowError:
            value = math.inf
        if not math.isfinite(value) or value < low or (low_open and value == low) or \
                (high is not None and (value > high or (high_open and value == high))):
            fail(param, f"a real number {bounds}")

    def whole(param, low=1):
        value = getattr(est, param)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            fail(param, f"an integer >= {low}", TypeError)
        if value < low:
            fail(param, f"an integer >= {low}")

    def flag(param):
        if not isinstance(getattr(est, param), (bool, np.bool_)):
            fail(param, "True or False", TypeError)

    def choice(param, options):
        if not isinstance(getattr(est, param), str) or getattr(est, param) not in options:
            fail(param, f"one of {', '.join(map(repr, options))}")

    sizes = est.hidden_layer_sizes
    sizes = [sizes] if isinstance(sizes, numbers.Integral) else sizes
    try:
        sizes = list(sizes)
    except TypeError:
        fail("hidden_layer_sizes", "an int or a sequence of ints >= 1", TypeError)
    if any(isinstance(s, bool) or not isinstance(s, numbers.Integral) or not 1 <= s <= MAX_WIDTH
           for s in sizes):
        fail("hidden_layer_sizes", f"an int or a sequence of ints in [1, {MAX_WIDTH}]")
    activations = est.activation
    if isinstance(activations, str):
        choice("activation", tuple(ACTIVATION_NAMES))
        activations = [activations] * (len(sizes) + 1)
    else:                                   # one per hidden layer (a fastmlp extra)
        try:
            activations = list(activations)
        except TypeError:
            fail("activation", f"one of {', '.join(map(repr, ACTIVATION_NAMES))}, or a "
                 "list of them, one per hidden layer", TypeError)
        if len(activations) != len(sizes) or any(
                not isinstance(a, str) or a not in ACTIVATION_NAMES for a in activations):
            fail("activation", f"a list of {len(sizes)} names (one per hidden layer) "
                 f"among {', '.join(map(repr, ACTIVATION_NAMES))}")
        activations.append(activations[-1] if activations else "relu")
    choice("solver", SOLVERS)
    real("alpha", 0.0)
    if not (isinstance(est.batch_size, str) and est.batch_size == "auto"):
        whole("batch_size")
    choice("learning_rate", RATES)
    real("learning_rate_init", 0.0, low_open=True)
    real("power_t", 0.0)
    whole("max_iter")
    flag("shuffle")
    real("tol", 0.0)
    if not isinstance(est.verbose, numbers.Integral):
        fail("verbose", "a bool or an int", TypeError)
    flag("warm_start")
    real("momentum", 0.0, 1.0, high_open=False)
    flag("nesterovs_momentum")
    flag("early_stopping")
    real("validation_fraction", 0.0, 1.0)
    real("beta_1", 0.0, 1.0)
    real("beta_2", 0.0, 1.0)
    real("epsilon", 0.0, low_open=True)
    if not (isinstance(est.n_iter_no_change, numbers.Real)
            and est.n_iter_no_change == np.inf):        # never stop on it (scikit-learn)
        whole("n_iter_no_change")
    whole("max_fun")
    if hasattr(est, "loss"):
        choice("loss", LOSSES)
    dtype = None
    if est.dtype is not None:
        try:
            dtype = np.dtype(est.dtype)
        except TypeError:
            pass
        if dtype not in (np.float32, np.float64):
            fail("dtype", "None (X's dtype), np.float32 or np.float64", TypeError)
    return [int(s) for s in sizes], activations, dtype


def check_dropout(est, n_hidden):
    """The estimator's `dropout` (a fastmlp extra) as one rate per layer, the output
    layer's 0: a number in [0, 1) for every hidden layer, or a list of them, one per
    hidden layer.  Not with solver="lbfgs", whose full-batch loss must be deterministic."""
    name, value = type(est).__name__, est.dropout
    rates = [value] * n_hidden if isinstance(value, numbers.Real) else value
    try:
        rates = list(rates)
    except TypeError:
        raise TypeError(f"{name}: the 'dropout' parameter must be a number in [0, 1) or a "
                        f"list of them, one per hidden layer, got {value!r}") from None
    if len(rates) != n_hidden or any(
            isinstance(r, bool) or not isinstance(r, numbers.Real) or not 0 <= r < 1
            for r in rates):
        raise ValueError(f"{name}: the 'dropout' parameter must be a number in [0, 1) or a "
                         f"list of {n_hidden} of them (one per hidden layer), got {value!r}")
    if any(rates) and est.solver == "lbfgs":
        raise ValueError(f"{name}: dropout needs a stochastic solver ('adam' or 'sgd'); "
                         "solver='lbfgs' minimizes a deterministic full-batch loss")
    return [float(r) for r in rates] + [0.0]
