"""invert() where users meet it: binary classifiers (one logistic output), scikit-learn
Pipelines of affine scalers ending in an MLP (answers in raw units), feature names and
class labels.  Reference: scikit-learn's own predict / predict_proba at the returned x."""
import numpy as np
import pytest

import fastmlp
from fastmlp import Network

skd = pytest.importorskip("sklearn.datasets")
pd = pytest.importorskip("pandas")
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.neural_network import MLPClassifier as SkMLPClassifier  # noqa: E402
from sklearn.neural_network import MLPRegressor as SkMLPRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, StandardScaler  # noqa: E402

from fastmlp.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Stochastic Optimizer. Maximum iterations")


@pytest.mark.parametrize("mlp", [MLPClassifier, SkMLPClassifier])
def test_binary_classifier_in_a_pipeline_reaches_both_classes(mlp):
    X, y = skd.load_breast_cancer(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), mlp(hidden_layer_sizes=(16,), max_iter=300,
                                               random_state=0))
    pipe.fit(X, y)
    lo, hi = X.min(axis=0), X.max(axis=0)
    for c in (0, 1):
        result = fastmlp.invert(pipe, class_index=c, bounds=np.c_[lo, hi], n_restarts=8,
                                seed=0)
        assert result.success, result.message
        x = result.x[None]
        assert np.all(x >= lo - 1e-9) and np.all(x <= hi + 1e-9)          # raw units
        assert pipe.predict_proba(x)[0, c] >= 0.99
        assert pipe.predict(x)[0] == pipe.classes_[c]
        assert result.output[0] == pytest.approx(pipe.predict_proba(x)[0, 1], abs=1e-5)


def test_labels_names_and_training_bounds_through_scalers():
    iris = skd.load_iris(as_frame=True)
    X = iris.data
    y = iris.target_names[iris.target]                       # string labels
    pipe = make_pipeline(StandardScaler(), MinMaxScaler(),
                         MLPClassifier(hidden_layer_sizes=(16,), max_iter=1000,
                                       learning_rate_init=0.01, random_state=0,
                                       dtype=np.float64))
    pipe.fit(X, y)
    assert pipe.score(X, y) >= 0.95
    fixed = {"sepal length (cm)": 6.0}
    result = fastmlp.invert(pipe, target_class="virginica", fixed=fixed, n_restarts=8,
                            seed=0)
    assert result.success, result.message
    assert "virginica" in result.message
    frame = pd.DataFrame([result.x], columns=X.columns)
    assert pipe.predict(frame)[0] == "virginica"
    assert pipe.predict_proba(frame)[0, list(pipe.classes_).index("virginica")] >= 0.99
    assert result.x[0] == 6.0                                  # held exactly, raw units
    # default bounds: the training range, in raw units
    assert np.all(result.x >= X.min().to_numpy() - 1e-9)
    assert np.all(result.x <= X.max().to_numpy() + 1e-9)
    # class_index also takes a label; a wrong label or name is refused by name
    same = fastmlp.invert(pipe, class_index="virginica", fixed=fixed, n_restarts=8, seed=0)
    np.testing.assert_array_equal(same.x, result.x)
    with pytest.raises(ValueError, match="daisy"):
        fastmlp.invert(pipe, target_class="daisy")
    with pytest.raises(ValueError, match="petal colour"):
        fastmlp.invert(pipe, target_class="setosa", fixed={"petal colour": 1.0})


@pytest.mark.parametrize("mlp", [MLPRegressor, SkMLPRegressor])
def test_regression_pipeline_answers_in_raw_units(mlp):
    X, y = skd.load_diabetes(return_X_y=True)
    y = y / 100
    pipe = make_pipeline(MaxAbsScaler(), StandardScaler(), mlp(hidden_layer_sizes=(32,),
                                                               max_iter=500, random_state=0))
    pipe.fit(X, y)
    lo, hi = X.min(axis=0), X.max(axis=0)
    target = float(np.percentile(pipe.predict(X), 80))
    result = fastmlp.invert(pipe, target=[target], fixed={2: X[0, 2]}, bounds=np.c_[lo, hi],
                            n_restarts=8, seed=0)
    assert result.success, result.message
    assert pipe.predict(result.x[None])[0] == pytest.approx(target, abs=2e-3)
    assert result.x[2] == X[0, 2]
    assert np.all(result.x >= lo - 1e-12) and np.all(result.x <= hi + 1e-12)


def test_other_steps_are_refused_clearly():
    X, y = skd.load_wine(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), PCA(5), MLPClassifier(max_iter=20, random_state=0))
    pipe.fit(X, y)
    with pytest.raises(ValueError, match="'pca' .PCA. is not one invert"):
        fastmlp.invert(pipe, class_index=0)
    pipe = make_pipeline(MinMaxScaler(clip=True), MLPClassifier(max_iter=20, random_state=0))
    pipe.fit(X, y)
    with pytest.raises(ValueError, match="clip"):
        fastmlp.invert(pipe, class_index=0)
    with pytest.raises(TypeError, match="Pipeline"):
        fastmlp.invert(StandardScaler().fit(X), class_index=0)


def test_network_fitted_on_a_dataframe_takes_feature_names():
    frame = skd.load_wine(as_frame=True).frame
    X, y = frame.drop(columns="target"), frame["target"]
    net = Network([13, 32, 3], dtype=np.float64, seed=0)
    net.fit(X, y, epochs=200, seed=0)
    result = fastmlp.invert(net, class_index=2, fixed={"alcohol": 13.0}, n_restarts=8,
                            seed=0)
    assert result.success, result.message
    assert result.x[list(X.columns).index("alcohol")] == 13.0
    assert net.predict(pd.DataFrame([result.x], columns=X.columns))[0] == 2


def test_dataframe_fitted_estimator_takes_names_and_labels():
    frame = skd.load_wine(as_frame=True).frame
    X = frame.drop(columns="target")
    y = np.array(["barolo", "grignolino", "barbera"])[frame["target"]]
    clf = SkMLPClassifier(hidden_layer_sizes=(32,), max_iter=1000, random_state=0)
    clf.fit(X / X.max(), y)                           # a DataFrame of 0..1 inputs
    result = fastmlp.invert(clf, target_class="barbera", fixed={"alcohol": 0.9},
                            bounds=(0.0, 1.0), n_restarts=8, seed=0)
    assert result.success, result.message
    x = pd.DataFrame([result.x], columns=X.columns)
    assert clf.predict(x)[0] == "barbera" and result.x[0] == 0.9
