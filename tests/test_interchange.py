"""Networks to and from scikit-learn and PyTorch: the predictions of the source model
(computed by scikit-learn / torch themselves) are the reference, to 1e-12 in float64."""
import warnings

import numpy as np
import pytest

import fastmlp
from fastmlp import Network, Standardizer

sklearn = pytest.importorskip("sklearn")
from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402

TOL = 1e-12


def fitted(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


def rel(a, b):
    return np.abs(np.asarray(a) - np.asarray(b)).max() / max(np.abs(b).max(), 1e-300)


@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
@pytest.mark.parametrize("kind", ["multiclass", "binary", "multilabel", "regression"])
def test_from_sklearn_predicts_as_the_estimator(activation, kind):
    rng = np.random.default_rng(0)
    if kind == "regression":
        X, y = make_regression(150, 6, n_targets=2, random_state=0)
        est = MLPRegressor(hidden_layer_sizes=(9, 5), activation=activation, max_iter=30,
                           random_state=0)
    else:
        X, y = make_classification(150, 6, n_informative=4, n_classes=3 if kind == "multiclass"
                                   else 2, random_state=0)
        if kind == "multilabel":
            y = np.stack([y, (X[:, 0] > 0).astype(int), rng.integers(0, 2, 150)], axis=1)
        else:
            y = np.array(["a", "b", "c"])[y]                   # string labels
        est = MLPClassifier(hidden_layer_sizes=(9, 5), activation=activation, max_iter=30,
                            random_state=0)
    est = fitted(est, X, y)
    net = Network.from_sklearn(est)
    if kind == "regression":
        assert rel(net.predict(X), est.predict(X)) <= TOL
    elif kind == "binary":
        assert net.loss_name == "binary_cross_entropy" and net.sizes[-1] == 1
        assert rel(net.predict_proba(X)[:, 0], est.predict_proba(X)[:, 1]) <= TOL
    else:
        assert rel(net.predict_proba(X), est.predict_proba(X)) <= TOL
    # and back: a scikit-learn estimator that predicts exactly as the original
    back = net.to_sklearn()
    assert type(back) is type(est)
    np.testing.assert_array_equal(back.predict(X), est.predict(X))
    if kind != "regression":
        assert rel(back.predict_proba(X), est.predict_proba(X)) <= TOL
        np.testing.assert_array_equal(back.classes_, est.classes_)


def test_from_sklearn_keeps_float32_and_the_classes():
    X, y = make_classification(100, 5, n_informative=3, n_classes=3, random_state=2)
    est = fitted(MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0),
                 X.astype(np.float32), y + 10)
    net = Network.from_sklearn(est)
    assert net.dtype == np.float32
    assert net.training["classes"] == [10, 11, 12]


TORCH_ACTIVATIONS = ["Identity", "ReLU", "Tanh", "Sigmoid", "LeakyReLU", "ELU", "Softplus",
                     "GELU"]


def torch_module(torch, name):
    return {"LeakyReLU": lambda: torch.nn.LeakyReLU(0.2), "ELU": lambda: torch.nn.ELU(0.7)}.get(
        name, lambda: getattr(torch.nn, name)())()


@pytest.mark.parametrize("name", TORCH_ACTIVATIONS)
@pytest.mark.parametrize("ending", ["mse", "softmax", "logits_ce", "logits_bce"])
def test_from_torch_and_back(torch, name, ending):
    nn = torch.nn
    layers = [nn.Linear(5, 7), torch_module(torch, name), nn.Linear(7, 6),
              torch_module(torch, name), nn.Linear(6, 3)]
    if ending == "softmax":
        layers.append(nn.Softmax(dim=-1))
    model = nn.Sequential(*layers).double()
    x = np.random.default_rng(1).standard_normal((20, 5))
    out = model(torch.tensor(x)).detach().numpy()
    loss = {"mse": None, "softmax": None, "logits_ce": "cross_entropy",
            "logits_bce": "binary_cross_entropy"}[ending]
    net = Network.from_torch(model, loss=loss)
    reference = {"mse": out, "softmax": out,
                 "logits_ce": np.exp(out) / np.exp(out).sum(axis=1, keepdims=True),
                 "logits_bce": 1 / (1 + np.exp(-out))}[ending]
    assert net.dtype == np.float64
    assert rel(net.forward(x), reference) <= TOL
    assert rel(net.to_torch()(torch.tensor(x)).detach().numpy(), reference) <= TOL


def test_to_torch_of_a_trained_network(torch):
    X, y = fastmlp.datasets.spirals(200, seed=0)
    net = Network([2, 16, 16, 2], activation="elu", dtype=np.float64, seed=0, alpha=0.5)
    net.fit(X, y, epochs=5, seed=0, standardize=False)
    model = net.to_torch()
    assert rel(model(torch.tensor(X)).detach().numpy(), net.forward(X)) <= TOL
    assert np.array_equal(Network.from_torch(model).params, net.params)


def test_unsupported_layers_are_named(torch):
    nn = torch.nn
    with pytest.raises(ValueError, match="Dropout"):
        Network.from_torch(nn.Sequential(nn.Linear(2, 3), nn.Dropout(), nn.Linear(3, 1)))
    with pytest.raises(ValueError, match="Conv1d"):
        Network.from_torch(nn.Sequential(nn.Conv1d(1, 1, 3)))
    with pytest.raises(ValueError, match="Hardswish"):
        Network.from_torch(nn.Sequential(nn.Linear(2, 3), nn.Hardswish()))
    with pytest.raises(ValueError, match="GELU|approximate"):
        Network.from_torch(nn.Sequential(nn.Linear(2, 3), nn.GELU(approximate="tanh")))
    with pytest.raises(TypeError, match="nn.Sequential"):
        Network.from_torch(nn.Linear(2, 3))
    with pytest.raises(ValueError, match="ends in tanh"):
        Network.from_torch(nn.Sequential(nn.Linear(2, 3), nn.Tanh()), loss="cross_entropy")


def test_what_scikit_learn_cannot_hold_is_refused():
    with pytest.raises(ValueError, match="hidden activation"):
        Network([3, 4, 2], activation="gelu", loss="mse").to_sklearn()
    with pytest.raises(ValueError, match="2 classes"):
        Network([3, 4, 2], activation="relu").to_sklearn()
    net = Network([3, 4, 1], activation="relu", loss="mse")
    net.scaler = Standardizer(np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="standardizes"):
        net.to_sklearn()
    with pytest.raises(TypeError, match="fitted"):
        Network.from_sklearn(MLPClassifier())
