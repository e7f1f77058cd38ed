"""Class labels survive the hand-off: a model that carries training["classes"] (as the
command line writes them) predicts, scores and evaluates in those labels after
Network.load.  Reference: scikit-learn's accuracy_score on the predicted labels, and the
same network without classes (output indices)."""
import numpy as np
import pytest

from fastmlp import Network
from fastmlp.cli import main
from fastmlp.datasets import save_csv

skd = pytest.importorskip("sklearn.datasets")
metrics = pytest.importorskip("sklearn.metrics")


def test_cli_model_on_labels_3_5_7_predicts_and_scores_them(tmp_path, capsys):
    X, y = skd.load_wine(return_X_y=True)
    labels = np.array([3, 5, 7])[y]
    names = [f"f{i}" for i in range(13)]
    save_csv(tmp_path / "wine.csv", X, labels, names, "kind")
    model = tmp_path / "wine.npz"
    assert main(["train", str(tmp_path / "wine.csv"), "--target", "kind", "--epochs", "60",
                 "--out", str(model)]) == 0
    capsys.readouterr()
    net = Network.load(model)
    assert net.classes == [3, 5, 7]
    predicted = net.predict(X)
    assert set(np.unique(predicted)) <= {3, 5, 7}
    accuracy = metrics.accuracy_score(labels, predicted)
    assert accuracy >= 0.9
    assert net.score(X, labels) == accuracy
    assert net.evaluate(X, labels)["accuracy"] == accuracy
    # the labels and the output indices agree with the network's own probabilities
    np.testing.assert_array_equal(predicted, np.array([3, 5, 7])[net.forward(X).argmax(1)])
    with pytest.raises(ValueError, match="label 4"):
        net.score(X, np.where(labels == 3, 4, labels))
    # CLI evaluate and gradcheck take the same labelled file
    assert main(["evaluate", str(model), str(tmp_path / "wine.csv")]) == 0
    assert main(["gradcheck", str(model), str(tmp_path / "wine.csv"), "--rows", "8"]) == 0


def test_string_classes_and_networks_without_classes(tmp_path):
    iris = skd.load_iris()
    X, y = iris.data, iris.target
    net = Network([4, 8, 3], dtype=np.float64, seed=0)
    net.fit(X, y, epochs=100, seed=0)
    indices = net.predict(X)
    assert indices.dtype.kind == "i" and net.classes is None     # unchanged
    loss = net.loss(X, y)
    net.training["classes"] = iris.target_names.tolist()
    net.save(tmp_path / "iris.npz")
    loaded = Network.load(tmp_path / "iris.npz")
    names = iris.target_names[y]
    np.testing.assert_array_equal(loaded.predict(X), iris.target_names[indices])
    assert loaded.score(X, names) == metrics.accuracy_score(names, loaded.predict(X))
    assert loaded.loss(X, names) == pytest.approx(loss, rel=1e-12)
