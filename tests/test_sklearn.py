"""fastmlp.sklearn: scikit-learn conformance, and agreement with scikit-learn's own MLP.

The independent reference is scikit-learn itself: in float64 and with the same
random_state, fastmlp's estimators draw the same initial weights, the same batches
and the same early-stopping split, so every solver must follow scikit-learn's
trajectory to rounding error.
"""
import pickle
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

import scipy.sparse                                                   # noqa: E402
from sklearn import neural_network as sk                              # noqa: E402
from sklearn.base import clone                                        # noqa: E402
from sklearn.datasets import load_digits, load_iris, make_classification, \
    make_multilabel_classification, make_regression                   # noqa: E402
from sklearn.exceptions import ConvergenceWarning                     # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline                            # noqa: E402
from sklearn.preprocessing import StandardScaler                      # noqa: E402
from sklearn.utils.estimator_checks import (                          # noqa: E402
    check_dataframe_column_names_consistency, check_sample_weight_equivalence_on_dense_data,
    estimator_checks_generator)

import fastmlp                                                        # noqa: E402
from fastmlp.sklearn import MLPClassifier, MLPRegressor               # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# -- conformance: every check of check_estimator ---------------------------------------

# Checks that cannot pass, with the reason.  Run as strict expected failures: one
# that starts passing is an error, and this list must shrink.  (The two sample-weight
# equivalence checks, once listed here, pass since the default computes in X's
# dtype; in float32 their 1e-7 tolerance is below float32 rounding.)
EXPECTED_FAILURES = {}

# In float32 a row's prediction depends, at the rounding level, on the batch it is
# computed in: OpenBLAS's sgemm rounds a row differently according to how many rows
# share the call (its kernels for a batch's remainder, and GEMV for a single row, sum
# in another order; numpy's float32 matmul, hence scikit-learn's own MLP in float32,
# does the same).  These checks' 1e-7 tolerance can catch that.  The default (X's
# dtype: float64 here) must pass them exactly; dtype=np.float32 is held to the
# tolerance scikit-learn's own tests use for float32 (rtol 1e-4,
# sklearn.utils._testing.assert_allclose).
BATCH_INVARIANCE = {"check_methods_subset_invariance", "check_methods_sample_order_invariance"}


def _check_cases():
    for est in (MLPClassifier(), MLPRegressor()):
        for estimator, check in estimator_checks_generator(est, legacy=True, mark=None):
            name = getattr(check, "func", check).__name__
            marks = ([pytest.mark.xfail(strict=True, reason=EXPECTED_FAILURES[name])]
                     if name in EXPECTED_FAILURES else [])
            yield pytest.param(estimator, check,
                               id=f"{type(estimator).__name__}-{name}", marks=marks)


@pytest.mark.parametrize("estimator, check", list(_check_cases()))
def test_sklearn_conformance(estimator, check):
    name = getattr(check, "func", check).__name__
    check(estimator)
    if name in BATCH_INVARIANCE:
        _assert_batch_invariant(clone(estimator).set_params(dtype=np.float32), rtol=1e-4)


def _assert_batch_invariant(estimator, rtol):
    rng = np.random.default_rng(0)
    X = 3 * rng.uniform(size=(20, 3))
    y = (X[:, 0] > 1.5).astype(int) if isinstance(estimator, MLPClassifier) else X[:, 0]
    est = clone(estimator).set_params(random_state=0).fit(X, y)
    method = est.predict_proba if isinstance(est, MLPClassifier) else est.predict
    whole = method(X)
    for size in (1, 3, 7):
        parts = np.concatenate([method(X[i:i + size]) for i in range(0, len(X), size)])
        np.testing.assert_allclose(parts, whole, rtol=rtol, atol=1e-6)


@pytest.mark.parametrize("estimator", [MLPClassifier(), MLPRegressor()],
                         ids=["classifier", "regressor"])
def test_dataframe_column_names_consistency(estimator):
    """scikit-learn's DataFrame feature-name check, which check_estimator leaves out
    for these estimators: run with pandas (a test extra), so it runs, not skips."""
    pytest.importorskip("pandas")
    check_dataframe_column_names_consistency(type(estimator).__name__, estimator)


@pytest.mark.parametrize("estimator", [
    MLPClassifier(solver="lbfgs", dtype=np.float64),
    MLPRegressor(solver="lbfgs", dtype=np.float64)], ids=["classifier", "regressor"])
def test_sample_weight_equivalence_full_batch(estimator):
    """Full batch, a weight of 2 is exactly a duplicated row, 0 a removed one."""
    check_sample_weight_equivalence_on_dense_data(type(estimator).__name__, estimator)


# -- the same fit as scikit-learn's own --------------------------------------------------

def _iris(labels=None):
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    return X, (y if labels is None else np.asarray(labels)[y])


def _pair(cls, **params):
    """(fastmlp estimator in float64, scikit-learn's), same parameters."""
    params = {"hidden_layer_sizes": (12,), "random_state": 0, "max_iter": 60, **params}
    ours = cls(dtype=np.float64, **params)
    theirs = {MLPClassifier: sk.MLPClassifier, MLPRegressor: sk.MLPRegressor}[cls](**params)
    return ours, theirs


def _assert_same_fit(ours, theirs, X, atol=1e-9):
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=0, atol=atol)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.t_ == theirs.t_
    np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=1e-9)
    if hasattr(theirs, "predict_proba"):
        np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=atol)
    if isinstance(ours, MLPClassifier):
        np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    else:
        np.testing.assert_allclose(ours.predict(X), theirs.predict(X), atol=atol)


CLASSIFIER_SETTINGS = [
    dict(solver="adam"),
    dict(solver="sgd"),
    dict(solver="sgd", nesterovs_momentum=False, momentum=0.5),
    dict(solver="sgd", momentum=0.0, learning_rate_init=0.05),
    dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.1),
    dict(solver="sgd", learning_rate="adaptive", learning_rate_init=0.1, max_iter=300,
         n_iter_no_change=2, tol=1e-2),
    dict(solver="adam", early_stopping=True, validation_fraction=0.2),
    dict(solver="sgd", early_stopping=True, n_iter_no_change=3),
    dict(solver="adam", batch_size=16, shuffle=False, alpha=0.1, activation="tanh"),
    # several batches an epoch, shuffled: every epoch's order must be scikit-learn's
    dict(solver="adam", batch_size=32),
    dict(solver="sgd", batch_size=40, early_stopping=True, n_iter_no_change=3),
    dict(solver="adam", activation="logistic", hidden_layer_sizes=(8, 6)),
    dict(solver="adam", tol=1e-2, n_iter_no_change=2, max_iter=200),
]


@pytest.mark.parametrize("params", CLASSIFIER_SETTINGS, ids=str)
def test_classifier_follows_sklearn(params):
    X, y = _iris()
    ours, theirs = _pair(MLPClassifier, **params)
    ours.fit(X, y)
    theirs.fit(X, y)
    _assert_same_fit(ours, theirs, X)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)
    if params.get("early_stopping"):
        np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_)
        assert ours.best_validation_score_ == theirs.best_validation_score_
        assert ours.best_loss_ is None
    else:
        np.testing.assert_allclose(ours.best_loss_, theirs.best_loss_, rtol=1e-9)


def test_classifier_lbfgs_follows_sklearn():
    X, y = _iris()
    ours, theirs = _pair(MLPClassifier, solver="lbfgs", max_iter=40)
    ours.fit(X, y)
    theirs.fit(X, y)
    _assert_same_fit(ours, theirs, X, atol=1e-6)      # scipy's line search amplifies rounding
    assert len(ours.loss_curve_) == ours.n_iter_
    assert ours.loss_curve_[-1] == pytest.approx(ours.loss_, rel=1e-12)


@pytest.mark.parametrize("y_kind", ["binary", "strings", "multilabel"])
def test_target_kinds_follow_sklearn(y_kind):
    X, y = _iris()
    if y_kind == "binary":
        y = (y == 2).astype(int)
    elif y_kind == "strings":
        y = np.array(["setosa", "versicolor", "virginica"])[y]
    else:
        X, y = make_multilabel_classification(120, 6, n_classes=4, random_state=0)
    ours, theirs = _pair(MLPClassifier, solver="adam")
    ours.fit(X, y)
    theirs.fit(X, y)
    _assert_same_fit(ours, theirs, X)
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    assert ours.out_activation_ == theirs.out_activation_
    assert ours.n_outputs_ == theirs.n_outputs_ and ours.n_layers_ == theirs.n_layers_
    if y_kind != "multilabel":
        np.testing.assert_allclose(ours.predict_log_proba(X), theirs.predict_log_proba(X),
                                   atol=1e-8)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("n_targets", [1, 3])
def test_regressor_with_sample_weight_follows_sklearn(solver, n_targets):
    X, y = make_regression(150, 5, n_targets=n_targets, noise=1.0, random_state=0)
    y = y / 100
    sw = np.random.default_rng(0).uniform(0, 2, len(X))
    ours, theirs = _pair(MLPRegressor, solver=solver, alpha=0.01)
    ours.fit(X, y, sample_weight=sw)
    theirs.fit(X, y, sample_weight=sw)
    _assert_same_fit(ours, theirs, X)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)
    assert ours.predict(X).shape == y.shape
    assert ours.score(X, y, sample_weight=sw) == pytest.approx(
        theirs.score(X, y, sample_weight=sw), abs=1e-9)


def test_classifier_sample_weight_follows_sklearn():
    X, y = _iris()
    sw = np.random.default_rng(1).uniform(0, 3, len(X))
    ours, theirs = _pair(MLPClassifier, solver="sgd", early_stopping=True)
    ours.fit(X, y, sample_weight=sw)
    theirs.fit(X, y, sample_weight=sw)
    _assert_same_fit(ours, theirs, X)


def test_partial_fit_follows_sklearn():
    X, y = _iris()
    ours, theirs = _pair(MLPClassifier, solver="adam")
    for start in range(0, 150, 50):
        kwargs = {"classes": [0, 1, 2]} if start == 0 else {}
        ours.partial_fit(X[start:start + 50], y[start:start + 50], **kwargs)
        theirs.partial_fit(X[start:start + 50], y[start:start + 50], **kwargs)
    _assert_same_fit(ours, theirs, X)


def test_warm_start_follows_sklearn():
    X, y = make_regression(100, 4, random_state=1)
    y = y / 50
    ours, theirs = _pair(MLPRegressor, warm_start=True, max_iter=20)
    for _ in range(3):
        ours.fit(X, y)
        theirs.fit(X, y)
    _assert_same_fit(ours, theirs, X)
    assert len(ours.loss_curve_) == 60


# -- estimator results against the plain Network API ---------------------------------

def test_estimator_equals_network_train_steps():
    """An SGD estimator without shuffling is, step for step, Network.train_step with
    the same optimizer and l2 = alpha / batch size (equal batches)."""
    X, y = _iris()
    est = MLPClassifier(hidden_layer_sizes=(10,), solver="sgd", batch_size=30,
                        shuffle=False, alpha=0.3, max_iter=5, tol=0, random_state=0,
                        dtype=np.float64, learning_rate_init=0.05)
    est.fit(X, y)
    rs = np.random.RandomState(0)
    net = fastmlp.Network([4, 10, 3], dtype=np.float64, l2=0.3 / 30)
    for layer in net.layers:                 # scikit-learn's initialization
        bound = np.sqrt(6 / (layer.n_in + layer.n_out))
        layer.W = rs.uniform(-bound, bound, (layer.n_in, layer.n_out))
        layer.b = rs.uniform(-bound, bound, layer.n_out)
    opt = fastmlp.SGD(lr=0.05, momentum=0.9, nesterov=True)
    for _ in range(5):
        for start in range(0, 150, 30):
            net.train_step(X[start:start + 30], y[start:start + 30], optimizer=opt)
    np.testing.assert_allclose(est.network_.params, net.params, rtol=0, atol=1e-13)
    np.testing.assert_allclose(est.predict_proba(X), net.predict_proba(X), atol=1e-13)


def test_coefs_are_views_of_the_network():
    X, y = _iris()
    est = MLPClassifier(hidden_layer_sizes=(6,), max_iter=5, random_state=0).fit(X, y)
    params = est.network_.params
    for W, b in zip(est.coefs_, est.intercepts_):
        assert np.shares_memory(W, params) and np.shares_memory(b, params)
    before = est.predict_proba(X)
    est.coefs_[1][...] = 0                    # in place: the network sees it
    est.intercepts_[1][...] = 0
    np.testing.assert_allclose(est.predict_proba(X), np.full_like(before, 1 / 3), atol=1e-6)
    est.coefs_ = [np.ones((4, 6)), np.ones((6, 3))]        # assignment copies in
    assert np.all(est.network_.layers[0].W == 1)
    with pytest.raises(ValueError, match="coefs_ needs 2 arrays"):
        est.coefs_ = [np.ones((4, 6))]


def test_network_goes_to_the_inversion():
    """network_ is a fastmlp Network: invert a fitted regressor to a chosen output."""
    X, y = make_regression(300, 3, random_state=0)
    y = y / y.std()
    est = MLPRegressor(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=300,
                       random_state=0, dtype=np.float64).fit(X, y)
    target = float(np.median(est.predict(X)))
    result = fastmlp.invert(est.network_, [target], n_restarts=8, seed=0)
    assert result.success
    assert est.predict(result.x[None])[0] == pytest.approx(target, abs=1e-4)
    assert np.all(result.x >= X.min(axis=0) - 1e-12) and np.all(result.x <= X.max(axis=0) + 1e-12)


# -- scikit-learn's tools ---------------------------------------------------------------

def test_pipeline_cross_val_score_matches_a_manual_loop():
    X, y = load_digits(return_X_y=True)
    X, y = X[:600], y[:600]
    settings = dict(hidden_layer_sizes=(32,), max_iter=30, learning_rate_init=0.01,
                    random_state=0)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(**settings))
    scores = cross_val_score(pipe, X, y, cv=KFold(3))
    manual = []
    for train, test in KFold(3).split(X):
        scaler = StandardScaler().fit(X[train])
        est = MLPClassifier(**settings)
        est.fit(scaler.transform(X[train]), y[train])
        manual.append(np.mean(est.predict(scaler.transform(X[test])) == y[test]))
    np.testing.assert_allclose(scores, manual)
    assert scores.mean() > 0.85


def test_grid_search_two_jobs_agrees_with_one():
    X, y = _iris()
    grid = {"alpha": [1e-4, 1.0], "hidden_layer_sizes": [(4,), (16,)]}
    est = MLPClassifier(max_iter=40, random_state=0, learning_rate_init=0.01)
    two = GridSearchCV(est, grid, cv=3, n_jobs=2).fit(X, y)
    one = GridSearchCV(est, grid, cv=3, n_jobs=1).fit(X, y)
    np.testing.assert_allclose(two.cv_results_["mean_test_score"],
                               one.cv_results_["mean_test_score"])
    assert two.best_params_ == one.best_params_
    np.testing.assert_array_equal(two.predict(X), one.predict(X))


@pytest.mark.parametrize("cls, solver", [(MLPClassifier, "adam"), (MLPRegressor, "sgd"),
                                         (MLPClassifier, "lbfgs")])
def test_pickle_round_trip_predicts_identically_and_keeps_training(cls, solver):
    X, y = _iris()
    if cls is MLPRegressor:
        y = X[:, 0] * 2 - X[:, 1]
    est = cls(hidden_layer_sizes=(8,), solver=solver, max_iter=10, random_state=0).fit(X, y)
    copy = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(copy.predict(X), est.predict(X))
    assert copy.get_params() == est.get_params()
    if solver != "lbfgs":          # the optimizer state travels too
        est.partial_fit(X, y)
        copy.partial_fit(X, y)
        np.testing.assert_array_equal(copy.network_.params, est.network_.params)


def test_sparse_input_is_densified():
    X, y = _iris()
    dense = MLPClassifier(hidden_layer_sizes=(8,), max_iter=10, random_state=0).fit(X, y)
    sparse = MLPClassifier(hidden_layer_sizes=(8,), max_iter=10, random_state=0)
    sparse.fit(scipy.sparse.csr_matrix(X), y)
    np.testing.assert_array_equal(sparse.network_.params, dense.network_.params)
    np.testing.assert_array_equal(sparse.predict_proba(scipy.sparse.csc_matrix(X)),
                                  dense.predict_proba(X))


def test_feature_names_are_kept():
    pd = pytest.importorskip("pandas")
    X, y = _iris()
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    est = MLPClassifier(hidden_layer_sizes=(4,), max_iter=5, random_state=0).fit(frame, y)
    assert list(est.feature_names_in_) == ["a", "b", "c", "d"]
    assert est.n_features_in_ == 4


def test_float32_scores_like_sklearn():
    """dtype=np.float32 (the fast choice) reaches scikit-learn's (float64) test accuracy."""
    X, y = make_classification(3000, 20, n_informative=10, random_state=0)
    ours = MLPClassifier(hidden_layer_sizes=(64,), max_iter=30, random_state=0,
                         dtype=np.float32)
    theirs = sk.MLPClassifier(hidden_layer_sizes=(64,), max_iter=30, random_state=0)
    ours.fit(X[:2000], y[:2000])
    theirs.fit(X[:2000], y[:2000])
    assert ours.network_.dtype == np.float32
    assert ours.predict_proba(X).dtype == np.float64
    assert abs(ours.score(X[2000:], y[2000:]) - theirs.score(X[2000:], y[2000:])) <= 0.01


# -- bad input and parameters ------------------------------------------------------------

@pytest.mark.parametrize("param, value, error, match", [
    ("hidden_layer_sizes", (10, 0), ValueError, r"'hidden_layer_sizes'.*ints in \[1, "),
    ("hidden_layer_sizes", 2**70, ValueError, r"'hidden_layer_sizes'.*2147483647\]"),
    ("hidden_layer_sizes", "wide", ValueError, "'hidden_layer_sizes'"),
    ("activation", "swish", ValueError, "'activation'.*'relu'"),
    ("solver", "newton", ValueError, "'solver'.*'sgd', 'adam', 'lbfgs'"),
    ("alpha", -1.0, ValueError, "'alpha'.*>= 0"),
    ("alpha", "big", TypeError, "'alpha'.*real number"),
    ("tol", 10**400, ValueError, "'tol'.*real number"),      # beyond float64, not a crash
    ("beta_1", 2**70, ValueError, r"'beta_1'.*\[0.0, 1.0\)"),
    ("batch_size", 0, ValueError, "'batch_size'.*>= 1"),
    ("learning_rate", "fast", ValueError, "'learning_rate'.*'constant'"),
    ("learning_rate_init", 0.0, ValueError, "'learning_rate_init'.*> 0"),
    ("max_iter", 0, ValueError, "'max_iter'.*>= 1"),
    ("max_iter", 2.5, TypeError, "'max_iter'.*integer"),
    ("momentum", 1.5, ValueError, r"'momentum'.*\[0.0, 1.0\]"),
    ("validation_fraction", 1.0, ValueError, r"'validation_fraction'.*\[0.0, 1.0\)"),
    ("beta_2", 1.0, ValueError, "'beta_2'"),
    ("epsilon", 0.0, ValueError, "'epsilon'.*> 0"),
    ("n_iter_no_change", 0, ValueError, "'n_iter_no_change'"),
    ("shuffle", "yes", TypeError, "'shuffle'.*True or False"),
    ("dtype", np.int32, TypeError, "'dtype'.*None.*float32 or np.float64"),
])
def test_bad_parameters_are_named(param, value, error, match):
    X, y = _iris()
    est = MLPClassifier(**{param: value})
    with pytest.raises(error, match=match):
        est.fit(X, y)
    assert not hasattr(est, "network_")


def test_bad_targets_and_calls():
    X, y = _iris()
    with pytest.raises(ValueError, match="Unknown label type"):
        MLPClassifier().fit(X, X[:, 0])
    with pytest.raises(ValueError, match="classes must be passed"):
        MLPClassifier().partial_fit(X, y)
    est = MLPClassifier(max_iter=2).partial_fit(X[:10], y[:10], classes=[0, 1, 2])
    with pytest.raises(ValueError, match=r"`y` has classes not in `self.classes_`"):
        est.partial_fit(X[:2], [0, 7])
    with pytest.raises(ValueError, match="is not the same as on last call to partial_fit"):
        est.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(X, y, classes=[0, 1, 2])
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")
    with pytest.raises(AttributeError, match="has no attribute 'partial_fit'"):
        MLPRegressor(solver="lbfgs").partial_fit(X, X[:, 0])
    with pytest.raises(ValueError, match="sample_weight"):
        MLPClassifier().fit(X, y, sample_weight=-np.ones(len(X)))
    fitted = MLPClassifier(max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="expecting 4 features"):
        fitted.predict(X[:, :3])
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fitted.predict(bad)


def test_import_fastmlp_does_not_import_sklearn(tmp_path):
    import subprocess
    import sys
    code = "import sys, fastmlp; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=tmp_path)
    assert out.stdout.strip() == "False"


def test_convergence_warning_names_the_limit():
    X, y = _iris()
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(3\)"):
        warnings.simplefilter("always")
        MLPClassifier(max_iter=3).fit(X, y)
