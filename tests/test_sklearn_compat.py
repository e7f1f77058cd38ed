"""fastmlp.sklearn as a drop-in: each behaviour of scikit-learn's MLP estimators that
user code relies on, compared with scikit-learn's own estimator on the same call, in
float64 (the same result to rounding, the same error type and message).
"""
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn import neural_network as sk                              # noqa: E402
from sklearn.datasets import load_iris, make_regression               # noqa: E402
from sklearn.preprocessing import StandardScaler                      # noqa: E402

from fastmlp.sklearn import MLPClassifier, MLPRegressor               # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

THEIRS = {MLPClassifier: sk.MLPClassifier, MLPRegressor: sk.MLPRegressor}


def _iris(scaled=True):
    X, y = load_iris(return_X_y=True)
    return (StandardScaler().fit_transform(X) if scaled else X), y


def _both(cls, **params):
    """(fastmlp's estimator in float64, scikit-learn's), the same parameters."""
    return cls(dtype=np.float64, **params), THEIRS[cls](**params)


def _same_fit(ours, theirs, X, atol=1e-9):
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=0, atol=atol)
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-9, atol=atol)


def _raises_alike(call):
    """call(pick) with pick(fastmlp's class) giving scikit-learn's class, then
    fastmlp's: both raise, the same type with the same message."""
    errors = []
    for pick in (THEIRS.get, lambda c: c):
        with pytest.raises(Exception) as info:
            call(pick)
        errors.append(info.value)
    assert type(errors[1]) is type(errors[0])
    assert str(errors[1]) == str(errors[0])


# -- parameters ----------------------------------------------------------------------

@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_n_iter_no_change_inf_never_stops_early(cls):
    X, y = _iris()
    ours, theirs = _both(cls, n_iter_no_change=np.inf, max_iter=25, random_state=0,
                         hidden_layer_sizes=(8,), tol=10.0)
    ours.fit(X, y)
    theirs.fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ == 25
    _same_fit(ours, theirs, X)


# -- the Poisson loss ------------------------------------------------------------------

def _counts(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    return X, rng.poisson(np.exp(0.6 * X[:, 0] - 0.3 * X[:, 1])).astype(np.float64)


@pytest.mark.parametrize("solver, params", [
    ("adam", {}), ("sgd", {"learning_rate_init": 0.01}),
    ("adam", {"early_stopping": True}), ("lbfgs", {"max_iter": 50})], ids=str)
def test_poisson_regressor_follows_sklearn(solver, params):
    X, y = _counts()
    ours, theirs = _both(MLPRegressor, loss="poisson", solver=solver, random_state=0,
                         hidden_layer_sizes=(10,), **{"max_iter": 40, **params})
    ours.fit(X, y)
    theirs.fit(X, y)
    assert ours.out_activation_ == theirs.out_activation_ == "exp"
    atol = 1e-6 if solver == "lbfgs" else 1e-9     # scipy's line search amplifies rounding
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=0, atol=atol)
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=1e-9 if solver != "lbfgs" else 1e-6)
    if solver != "lbfgs":
        np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-6)
    assert np.all(ours.predict(X) > 0)


def test_poisson_with_several_outputs_and_weights_follows_sklearn():
    X, y = _counts()
    Y = np.column_stack([y, np.random.default_rng(3).poisson(2.0, len(y))])
    sw = np.random.default_rng(4).uniform(0, 2, len(y))
    ours, theirs = _both(MLPRegressor, loss="poisson", random_state=0, max_iter=20,
                         hidden_layer_sizes=(6,))
    ours.fit(X, Y, sample_weight=sw)
    theirs.fit(X, Y, sample_weight=sw)
    _same_fit(ours, theirs, X)


def test_poisson_refuses_negative_targets():
    """A deliberate difference: scikit-learn fits a NaN loss; fastmlp says why."""
    X, y = _counts()
    with pytest.raises(ValueError, match="loss='poisson' needs y >= 0"):
        MLPRegressor(loss="poisson").fit(X, y - 1)
    with pytest.raises(ValueError, match="'loss'.*'squared_error', 'poisson'"):
        MLPRegressor(loss="absolute_error").fit(X, y)


# -- divergence --------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [MLPRegressor, MLPClassifier])
def test_diverging_fit_with_early_stopping_keeps_the_best_weights(cls):
    """The issue's reproducer: the validation score turns nan, the best finite
    weights are kept and fit returns."""
    X, y = _iris(scaled=False)
    params = dict(activation="identity", solver="sgd", learning_rate_init=1, max_iter=20,
                  early_stopping=True, random_state=0)
    if cls is MLPClassifier:
        # (its reported loss clips probabilities to [eps, 1 - eps], fastmlp's does not:
        # here the loss curves differ, the steps, scores and weights do not)
        params.update(activation="relu", learning_rate_init=1e30, momentum=0.0,
                      n_iter_no_change=30)
        X = X * 1e6
    ours, theirs = _both(cls, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)      # scikit-learn's overflows
        ours.fit(X, y)
        theirs.fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_,
                               rtol=1e-9)                    # nan where theirs is nan
    assert ours.best_validation_score_ == pytest.approx(theirs.best_validation_score_,
                                                        rel=1e-9)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
    if cls is MLPRegressor:
        assert np.isnan(theirs.validation_scores_[-1])
    assert np.all(np.isfinite(ours.network_.params))


def test_diverging_fit_raises_sklearns_error():
    X, y = make_regression(200, 5, random_state=0)
    params = dict(solver="sgd", learning_rate_init=10.0, momentum=0.0, random_state=0)
    with pytest.raises(ValueError) as theirs, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)            # its overflows
        sk.MLPRegressor(**params).fit(X * 1e3, y * 1e3)
    est = MLPRegressor(dtype=np.float64, **params)
    with pytest.raises(ValueError) as ours:
        est.fit(X * 1e3, y * 1e3)
    assert str(ours.value) == str(theirs.value)
    assert str(ours.value).startswith("Solver produced non-finite parameter weights")
    assert np.all(np.isfinite(est.network_.params))       # the last finite weights


# -- classes ----------------------------------------------------------------------------

def test_warm_start_with_fewer_classes_raises_sklearns_error():
    X, y = _iris()

    def call(c):
        est = c(MLPClassifier)(warm_start=True, max_iter=3, random_state=0)
        est.fit(X, y)
        est.fit(X[:100], y[:100])

    _raises_alike(call)


@pytest.mark.parametrize("call", [
    lambda c, X, y: c(max_iter=3).partial_fit(X, y, classes=[0, 1, 2]).partial_fit(
        X[:3], [0, 1, 7]),
    lambda c, X, y: c(max_iter=3).partial_fit(X, y, classes=[0, 1, 2]).partial_fit(
        X, y, classes=[0, 1]),
    lambda c, X, y: c(max_iter=3).partial_fit(X, y),
    lambda c, X, y: c(max_iter=3, early_stopping=True, validation_fraction=0.01).fit(
        X[:40], y[:40]),
], ids=["unseen class", "other classes", "no classes", "validation set too small"])
def test_errors_match_sklearn(call):
    X, y = _iris()
    _raises_alike(lambda c: call(c(MLPClassifier), X, y))


def test_stratified_split_error_names_the_labels():
    """scikit-learn's message, naming the class with one member by its own label
    (scikit-learn names its internal 0/1 encoding: ['True'])."""
    X, _ = _iris()
    y = np.where(np.arange(len(X)) == 0, "rare", "common")
    with pytest.raises(ValueError) as theirs:
        sk.MLPClassifier(early_stopping=True, max_iter=3).fit(X, y)
    with pytest.raises(ValueError) as ours:
        MLPClassifier(early_stopping=True, max_iter=3).fit(X, y)
    prefix = str(theirs.value).rsplit(":", 1)[0]
    assert str(ours.value) == f"{prefix}: ['rare']"


@pytest.mark.parametrize("label", [7, "only"])
def test_one_class_fits_and_predicts_it(label):
    X, _ = _iris()
    y = np.full(len(X), label)
    ours, theirs = _both(MLPClassifier, max_iter=5, random_state=0, hidden_layer_sizes=(5,))
    ours.fit(X, y)
    theirs.fit(X, y)
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-9)
    assert ours.predict(X).dtype == theirs.predict(X).dtype


# -- output dtypes ----------------------------------------------------------------------

@pytest.mark.parametrize("fit_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("predict_dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_output_dtypes_follow_sklearn(cls, fit_dtype, predict_dtype):
    """With dtype left to its default, the weights take X's dtype and predictions
    X @ coefs_'s, as scikit-learn's."""
    X, y = _iris()
    ours = cls(max_iter=3, random_state=0, hidden_layer_sizes=(4,))
    theirs = THEIRS[cls](max_iter=3, random_state=0, hidden_layer_sizes=(4,))
    ours.fit(X.astype(fit_dtype), y)
    theirs.fit(X.astype(fit_dtype), y)
    assert [c.dtype for c in ours.coefs_] == [c.dtype for c in theirs.coefs_]
    Xp = (X * 10).astype(predict_dtype)
    assert ours.predict(Xp).dtype == theirs.predict(Xp).dtype
    if cls is MLPClassifier:
        assert ours.predict_proba(Xp).dtype == theirs.predict_proba(Xp).dtype


def test_explicit_float32_predicts_in_the_promoted_dtype():
    """dtype=np.float32 computes in float32; the output dtype is still X @ coefs_'s."""
    X, y = _iris()
    est = MLPRegressor(dtype=np.float32, max_iter=3, random_state=0).fit(X, y)
    assert est.coefs_[0].dtype == np.float32
    assert est.predict(X).dtype == np.float64
    assert est.predict(X.astype(np.float32)).dtype == np.float32


def test_poisson_network_round_trips_through_sklearn():
    """scikit-learn's Poisson MLPRegressor becomes a fastmlp Network with an exp
    output, and back, predicting the same."""
    import fastmlp
    X, y = _counts(80)
    theirs = sk.MLPRegressor(loss="poisson", hidden_layer_sizes=(5,), max_iter=20,
                             random_state=0).fit(X, y)
    net = fastmlp.Network.from_sklearn(theirs)
    assert net.loss_name == "poisson" and net.layers[-1].activation == "exp"
    np.testing.assert_allclose(net.forward(X).ravel(), theirs.predict(X), rtol=1e-12)
    back = net.to_sklearn()
    assert back.loss == "poisson"
    np.testing.assert_allclose(back.predict(X), theirs.predict(X), rtol=1e-12)


# -- dropout (a fastmlp extra) ----------------------------------------------------------------

def test_dropout_trains_with_masks_and_never_drops_at_predict():
    X, y = load_iris(return_X_y=True)
    plain = MLPClassifier((16,), max_iter=30, random_state=0).fit(X, y)
    dropped = MLPClassifier((16,), max_iter=30, random_state=0, dropout=0.3).fit(X, y)
    again = MLPClassifier((16,), max_iter=30, random_state=0, dropout=0.3).fit(X, y)
    assert dropped.network_.dropout == [0.3]             # the hidden layer's rate
    assert dropped.network_.dropout_step > 0                  # masks were drawn in training
    # reproducible from random_state, and different from the fit without dropout
    np.testing.assert_array_equal(dropped.network_.params, again.network_.params)
    assert not np.allclose(dropped.network_.params, plain.network_.params)
    # predict never drops: it equals a NumPy forward pass with every unit kept
    net = dropped.network_
    hidden = np.maximum(X @ net.layers[0].W + net.layers[0].b, 0)
    z = hidden @ net.layers[1].W + net.layers[1].b
    p = np.exp(z - z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(dropped.predict_proba(X), p / p.sum(axis=1, keepdims=True),
                               rtol=1e-10, atol=1e-12)


def test_dropout_parameter_is_validated():
    X, y = np.random.default_rng(0).normal(size=(30, 3)), np.arange(30.0)
    with pytest.raises(ValueError, match="'dropout' parameter"):
        MLPRegressor(hidden_layer_sizes=(4, 4), dropout=[0.1]).fit(X, y)
    with pytest.raises(ValueError, match="'dropout' parameter"):
        MLPRegressor(hidden_layer_sizes=(4,), dropout=1.0).fit(X, y)
    with pytest.raises(ValueError, match="stochastic solver"):
        MLPRegressor(hidden_layer_sizes=(4,), dropout=0.2, solver="lbfgs").fit(X, y)
