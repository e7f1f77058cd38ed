"""fastmlp.sklearn's extras over scikit-learn's MLP (issue 12 §3), each against an
independent reference: scikit-learn's own estimator on the equivalent call (sample
weights for class_weight, warm-started single epochs for the validation curves), its
printed output, NumPy forward passes, and its feature-name checks on DataFrames.
"""
import re
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from scipy.special import erfc                                        # noqa: E402
from sklearn import neural_network as sk                              # noqa: E402
from sklearn.datasets import load_iris, make_multilabel_classification  # noqa: E402
from sklearn.metrics import log_loss                                  # noqa: E402
from sklearn.preprocessing import StandardScaler                      # noqa: E402
from sklearn.utils.class_weight import compute_sample_weight          # noqa: E402

from fastmlp.sklearn import MLPClassifier, MLPRegressor               # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _assert_same_weights(ours, theirs, atol=1e-9):
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=0, atol=atol)


# -- class_weight ------------------------------------------------------------------------

@pytest.mark.parametrize("class_weight", ["balanced", {0: 1.0, 1: 3.0, 2: 0.5}])
@pytest.mark.parametrize("with_sample_weight", [False, True])
def test_class_weight_is_sklearns_fit_with_those_sample_weights(class_weight,
                                                                with_sample_weight):
    """As LogisticRegression: each row's weight times its class's weight."""
    X, y = _iris()
    keep = np.r_[0:50, 50:80, 100:150]                 # unbalanced: 50, 30, 50
    X, y = X[keep], y[keep]
    sw = np.random.default_rng(0).uniform(0.5, 2, len(y)) if with_sample_weight else None
    params = dict(hidden_layer_sizes=(8,), max_iter=30, random_state=0, solver="sgd",
                  early_stopping=True)
    ours = MLPClassifier(class_weight=class_weight, dtype=np.float64, **params)
    ours.fit(X, y, sample_weight=sw)
    weights = compute_sample_weight(class_weight, y) * (1 if sw is None else sw)
    theirs = sk.MLPClassifier(**params).fit(X, y, sample_weight=weights)
    _assert_same_weights(ours, theirs)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)
    np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_)


def test_class_weight_refusals():
    X, y = _iris()
    with pytest.raises(ValueError, match="'balanced' is not supported for partial_fit"):
        MLPClassifier(class_weight="balanced").partial_fit(X, y, classes=[0, 1, 2])
    Xm, Ym = make_multilabel_classification(60, 5, n_classes=3, random_state=0)
    with pytest.raises(ValueError, match="not supported for multilabel"):
        MLPClassifier(class_weight="balanced").fit(Xm, Ym)
    assert MLPClassifier().get_params()["class_weight"] is None


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_sample_weights_whose_sum_overflows_are_refused(solver):
    """The loss divides by the weights' sum (alpha too): a sum beyond float64 made every
    weight 0 and alpha 0, silently; now an error naming sample_weight, before fitting."""
    X, y = _iris()
    est = MLPClassifier(solver=solver, max_iter=5)
    with pytest.raises(ValueError, match="sample_weight .*sums beyond float64"):
        est.fit(X, y, sample_weight=np.full(len(y), 1e307))
    assert not hasattr(est, "network_")
    est.fit(X, y, sample_weight=np.full(len(y), 1e300))      # a large finite sum is fine
    assert np.isfinite(est.network_.params).all()


# -- validation_data and the validation curves ----------------------------------------

def _epoch_by_epoch(cls, X, y, X_val, y_val, epochs, **params):
    """scikit-learn's own estimator trained one epoch at a time (plain SGD, no
    shuffling: the same trajectory as one fit), scored on the validation rows after
    each epoch: (score per epoch, validation loss per epoch, weights per epoch)."""
    est = getattr(sk, cls.__name__)(warm_start=True, max_iter=1, shuffle=False,
                                    solver="sgd", momentum=0.0, **params)
    scores, losses, weights = [], [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(epochs):
            est.fit(X, y)
            scores.append(est.score(X_val, y_val))
            if cls is MLPClassifier:
                losses.append(log_loss(y_val, est.predict_proba(X_val), labels=est.classes_))
            else:
                losses.append(0.5 * np.mean((est.predict(X_val) - y_val) ** 2))
            weights.append([w.copy() for w in est.coefs_ + est.intercepts_])
    return scores, losses, weights


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_validation_data_records_the_validation_curves(cls):
    X, y = _iris()
    if cls is MLPRegressor:
        y = X[:, 0] - 0.5 * X[:, 1] ** 2
        X = X[:, 1:]
    order = np.random.default_rng(0).permutation(len(X))
    train, held = order[:110], order[110:]
    params = dict(hidden_layer_sizes=(6,), random_state=0, learning_rate_init=0.05)
    ours = cls(solver="sgd", momentum=0.0, shuffle=False, max_iter=12, tol=0,
               dtype=np.float64, **params)
    ours.fit(X[train], y[train], validation_data=(X[held], y[held]))
    scores, losses, weights = _epoch_by_epoch(cls, X[train], y[train], X[held], y[held],
                                              12, **params)
    np.testing.assert_allclose(ours.validation_scores_, scores, rtol=1e-9)
    np.testing.assert_allclose(ours.validation_loss_curve_, losses, rtol=1e-9)
    for a, b in zip(ours.coefs_ + ours.intercepts_, weights[-1]):
        np.testing.assert_allclose(a, b, atol=1e-9)
    assert ours.best_validation_score_ is None       # no early stopping: the last weights


def test_validation_data_drives_early_stopping():
    """With early_stopping, the stopping rule runs on the given rows (no random split)
    and the best epoch's weights come back."""
    X, y = _iris()
    order = np.random.default_rng(1).permutation(len(X))
    train, held = order[:100], order[100:]
    params = dict(hidden_layer_sizes=(6,), random_state=0, learning_rate_init=0.05)
    ours = MLPClassifier(solver="sgd", momentum=0.0, shuffle=False, max_iter=60,
                         early_stopping=True, n_iter_no_change=3, tol=1e-3,
                         dtype=np.float64, **params)
    ours.fit(X[train], y[train], validation_data=(X[held], y[held]))
    scores, _, weights = _epoch_by_epoch(MLPClassifier, X[train], y[train], X[held],
                                         y[held], ours.n_iter_, **params)
    np.testing.assert_allclose(ours.validation_scores_, scores)
    # scikit-learn's rule, by hand: stop once the score has not beaten best + tol
    # for more than n_iter_no_change epochs
    best, count, stop = -np.inf, 0, None
    for epoch, score in enumerate(scores, 1):
        count = count + 1 if score < best + 1e-3 else 0
        best = max(best, score)
        if count > 3:
            stop = epoch
            break
    assert stop == ours.n_iter_ < 60
    first_best = int(np.argmax(scores))
    for a, b in zip(ours.coefs_ + ours.intercepts_, weights[first_best]):
        np.testing.assert_allclose(a, b, atol=1e-9)


def test_validation_data_errors():
    X, y = _iris()
    est = MLPClassifier(max_iter=2)
    with pytest.raises(ValueError, match="validation_data must be a tuple"):
        est.fit(X, y, validation_data=X)
    with pytest.raises(ValueError, match="expecting 4 features"):
        est.fit(X, y, validation_data=(X[:, :3], y))
    with pytest.raises(ValueError, match="validation_data has classes not in"):
        est.fit(X[y < 2], y[y < 2], validation_data=(X, y))
    with pytest.raises(ValueError, match="stochastic solver"):
        MLPClassifier(solver="lbfgs").fit(X, y, validation_data=(X, y))


# -- callbacks and progress ---------------------------------------------------------------

@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_callback_sees_the_history_and_stops_the_fit(solver):
    X, y = _iris()
    seen = []

    def stop_after_three(est, history):
        seen.append(history)
        return history["epoch"] < 3

    params = dict(hidden_layer_sizes=(8,), random_state=0, solver=solver,
                  dtype=np.float64)
    ours = MLPClassifier(max_iter=50, **params).fit(X, y, callbacks=[stop_after_three])
    assert [h["epoch"] for h in seen] == [1, 2, 3]
    assert seen[-1]["loss"] == ours.loss_curve_ and len(ours.loss_curve_) == 3
    assert [len(h["loss"]) for h in seen] == [1, 2, 3]
    if solver == "adam":        # three epochs are scikit-learn's fit with max_iter=3
        theirs = sk.MLPClassifier(max_iter=3, **{k: v for k, v in params.items()
                                                 if k != "dtype"}).fit(X, y)
        _assert_same_weights(ours, theirs)
        assert ours.n_iter_ == 3


def test_callbacks_must_be_callable():
    X, y = _iris()
    with pytest.raises(TypeError, match="callbacks must be callables"):
        MLPClassifier(max_iter=2).fit(X, y, callbacks=[1])


def test_verbose_prints_sklearns_lines_and_two_a_progress_line(capsys):
    X, y = _iris()
    params = dict(hidden_layer_sizes=(5,), max_iter=4, random_state=0,
                  early_stopping=True)
    sk.MLPClassifier(verbose=True, **params).fit(X, y)
    theirs = capsys.readouterr().out
    MLPClassifier(verbose=True, dtype=np.float64, **params).fit(X, y)
    assert capsys.readouterr().out == theirs
    MLPClassifier(verbose=2, **params).fit(X, y)
    out = capsys.readouterr()
    assert out.out == ""
    lines = out.err.split("\r")
    assert len([line for line in lines if line]) == 4
    assert re.search(r"\[#+\.*\] 4/4  loss [\d.]+  val_loss [\d.]+  val_score [\d.]+",
                     out.err)


# -- activations ---------------------------------------------------------------------------

def _numpy_forward(est, X, hidden):
    A = X
    for i, (W, b) in enumerate(zip(est.coefs_, est.intercepts_)):
        Z = A @ W + b
        A = hidden[i](Z) if i < len(hidden) else Z
    return A


def test_per_layer_activations():
    X, y = _iris()
    y = X[:, 0] * 2 - X[:, 1]
    est = MLPRegressor(hidden_layer_sizes=(7, 5), activation=["relu", "tanh"], max_iter=20,
                       random_state=0).fit(X, y)
    assert [l.activation for l in est.network_.layers] == ["relu", "tanh", "identity"]
    ref = _numpy_forward(est, X, [lambda z: np.maximum(z, 0), np.tanh]).ravel()
    np.testing.assert_allclose(est.predict(X), ref, rtol=1e-12)
    # the same activation for every layer, as a list, is the plain parameter
    same = MLPRegressor(hidden_layer_sizes=(7, 5), activation=["tanh", "tanh"], max_iter=20,
                        random_state=0).fit(X, y)
    plain = sk.MLPRegressor(hidden_layer_sizes=(7, 5), activation="tanh", max_iter=20,
                            random_state=0).fit(X, y)
    _assert_same_weights(same, plain)
    with pytest.raises(ValueError, match="a list of 2 names"):
        MLPRegressor(hidden_layer_sizes=(7, 5), activation=["relu"]).fit(X, y)


def test_fastmlp_extra_activation():
    X, y = _iris()
    est = MLPClassifier(hidden_layer_sizes=(6,), activation="gelu", max_iter=30,
                        random_state=0).fit(X, y)
    Z = _numpy_forward(est, X, [lambda z: 0.5 * z * erfc(-z / np.sqrt(2))])
    P = np.exp(Z - Z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(est.predict_proba(X), P / P.sum(axis=1, keepdims=True),
                               rtol=1e-10)


# -- DataFrames ---------------------------------------------------------------------------

def _frame(lib, A, columns):
    if lib == "pandas":
        return pytest.importorskip("pandas").DataFrame(A, columns=columns)
    return pytest.importorskip("polars").DataFrame(A, schema=columns)


def _outcome(call):
    """(exception type and message or the result, the warnings' messages)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = ("ok", call())
        except Exception as exc:                         # noqa: BLE001 - compared below
            result = (type(exc).__name__, str(exc))
    return result, [str(w.message) for w in caught if "Convergence" not in str(w.category)]


@pytest.mark.parametrize("lib", ["pandas", "polars"])
def test_dataframes_get_sklearns_feature_name_checks(lib):
    X, y = _iris()
    cols = ["a", "b", "c", "d"]
    ours = MLPClassifier(max_iter=3, random_state=0, dtype=np.float64).fit(_frame(lib, X, cols), y)
    theirs = sk.MLPClassifier(max_iter=3, random_state=0).fit(_frame(lib, X, cols), y)
    assert list(ours.feature_names_in_) == list(theirs.feature_names_in_) == cols
    for Xp in (_frame(lib, X, cols), _frame(lib, X, cols[::-1]),
               _frame(lib, X, ["a", "b", "c", "e"]), _frame(lib, X[:, :3], cols[:3]), X):
        for method in ("predict", "predict_proba"):
            (kind, a), warned = _outcome(lambda: getattr(ours, method)(Xp))
            (kind_ref, b), warned_ref = _outcome(lambda: getattr(theirs, method)(Xp))
            assert (kind, warned) == (kind_ref, warned_ref)
            if kind == "ok":
                np.testing.assert_allclose(a, b, atol=1e-9)
            else:
                assert a == b
    # fitted without names, given names: the same warning as scikit-learn's
    plain = MLPClassifier(max_iter=3, random_state=0).fit(X, y)
    plain_ref = sk.MLPClassifier(max_iter=3, random_state=0).fit(X, y)
    assert _outcome(lambda: plain.predict(_frame(lib, X, cols)))[1] == \
        _outcome(lambda: plain_ref.predict(_frame(lib, X, cols)))[1]
