"""The command line end to end: train / predict / evaluate / gradcheck / info on a CSV
file and on the MNIST-24k IDX files, and one-line errors for bad input."""
import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastmlp
from fastmlp import datasets
from fastmlp.cli import main

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


@pytest.fixture
def blobs_csv(tmp_path):
    """Three well separated Gaussian blobs labelled 3, 5, 7 (not 0..K-1 on purpose)."""
    rng = np.random.default_rng(0)
    centers = np.array([[-4.0, 0.0, 10.0], [4.0, 0.0, 10.0], [0.0, 5.0, 10.0]])
    labels = np.array([3, 5, 7])
    k = rng.integers(0, 3, 300)
    X = centers[k] + rng.standard_normal((300, 3))
    path = tmp_path / "blobs.csv"
    datasets.save_csv(path, X, labels[k], ["u", "v", "w"], "kind")
    return path, X, labels[k]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_train_predict_evaluate_info_on_csv(tmp_path, capsys, blobs_csv):
    path, X, y = blobs_csv
    model = tmp_path / "m.npz"
    code, out, _ = run(capsys, "train", path, "--target", "kind", "--hidden", "16",
                       "--epochs", "30", "--lr", "0.01", "--out", model)
    assert code == 0 and model.exists()
    assert "epoch 30/30" in out and "samples/s" in out       # progress shown

    # predictions come back in the data's own labels and agree with the Python API
    preds = tmp_path / "p.csv"
    code, out, _ = run(capsys, "predict", model, path, "--out", preds)
    assert code == 0
    with open(preds) as f:
        rows = list(csv.DictReader(f))
    predicted = np.array([int(r["prediction"]) for r in rows])
    assert (predicted == y).mean() > 0.95
    net = fastmlp.Network.load(model)
    classes = np.array(net.training["classes"])
    assert classes.tolist() == [3, 5, 7]
    np.testing.assert_array_equal(predicted, classes[net.forward(X).argmax(axis=1)])
    np.testing.assert_array_equal(predicted, net.predict(X))      # labels, not indices

    code, out, _ = run(capsys, "evaluate", model, path)
    assert code == 0
    accuracy = float(out.split("accuracy")[1].split("%")[0]) / 100
    assert accuracy == pytest.approx((predicted == y).mean(), abs=1e-4)

    code, out, _ = run(capsys, "gradcheck", model, path, "--rows", "8")
    assert code == 0 and "OK" in out

    code, out, _ = run(capsys, "info", model)
    assert code == 0
    assert "3 -> 16 -> 3" in out and "cross_entropy" in out and f"{net.n_params:,}" in out


def test_regression_on_csv(tmp_path, capsys):
    X, y = datasets.regression(400, seed=1)
    path = tmp_path / "reg.csv"
    datasets.save_csv(path, X, y[:, 0], ["a", "b"], "y")
    model = tmp_path / "r.npz"
    code, _, _ = run(capsys, "train", path, "--target", "y", "--hidden", "32,32",
                     "--activation", "tanh", "--epochs", "60", "--lr", "0.01",
                     "--out", model)
    assert code == 0
    net = fastmlp.Network.load(model)
    assert net.loss_name == "mse" and net.scaler is not None
    pred = net.predict(X)[:, 0]
    r2 = 1 - ((pred - y[:, 0]) ** 2).sum() / ((y[:, 0] - y[:, 0].mean()) ** 2).sum()
    assert r2 > 0.8


def test_feature_columns_are_matched_by_name(tmp_path, capsys, blobs_csv):
    path, X, y = blobs_csv
    model = tmp_path / "m.npz"
    assert run(capsys, "train", path, "--target", "kind", "--epochs", "5",
               "--out", model)[0] == 0
    shuffled = tmp_path / "shuffled.csv"           # same data, columns in another order
    datasets.save_csv(shuffled, X[:, [2, 0, 1]], y, ["w", "u", "v"], "kind")
    a = run(capsys, "predict", model, path, "--show", "300")[1]
    b = run(capsys, "predict", model, shuffled, "--show", "300")[1]
    assert a == b


@pytest.mark.parametrize("argv, message", [
    (["train", "missing.csv", "--target", "y"], "no such file"),
    (["train", "{csv}", "--target", "nope"], "no column named 'nope'"),
    (["train", "{csv}"], "--target"),
    (["info", "{bad}"], "not a valid fastmlp model file"),
    (["evaluate", "missing.npz", "{csv}"], "no such model file"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, blobs_csv, argv, message):
    path = blobs_csv[0]
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a model")
    argv = [a.format(csv=path, bad=bad) for a in argv]
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_the_installed_command_reports_errors_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "fastmlp", "info", "nowhere.npz"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "fastmlp info: error: no such model file: nowhere.npz"


def test_help_for_every_command(tmp_path):
    for command in ["demo", "train", "predict", "evaluate", "gradcheck", "info"]:
        proc = subprocess.run([sys.executable, "-m", "fastmlp", command, "--help"],
                              capture_output=True, text=True, cwd=tmp_path)
        assert proc.returncode == 0 and "usage: fastmlp " + command in proc.stdout


@pytest.mark.skipif(not MNIST.is_dir(), reason="MNIST-24k files not present")
def test_train_and_evaluate_on_mnist_files(tmp_path, capsys):
    model = tmp_path / "mnist.npz"
    code, out, _ = run(capsys, "train", MNIST, "--hidden", "64", "--epochs", "2",
                       "--batch-size", "128", "--validation-fraction", "0",
                       "--out", model)
    assert code == 0
    code, out, _ = run(capsys, "evaluate", model, MNIST, "--split", "test")
    assert code == 0 and "10000 rows" in out
    accuracy = float(out.split("accuracy")[1].split("%")[0]) / 100
    assert accuracy > 0.93                      # a 784-64-10 net after 2 epochs
    X, y = datasets.load_mnist(MNIST, split="test")
    net = fastmlp.Network.load(model)
    assert accuracy == pytest.approx((net.predict(X) == y).mean(), abs=1e-4)


@pytest.fixture
def regression_model(tmp_path, capsys):
    X, y = datasets.regression(400, seed=2)
    path = tmp_path / "reg.csv"
    datasets.save_csv(path, X, y[:, 0], ["a", "b"], "y")
    model = tmp_path / "r.npz"
    assert run(capsys, "train", path, "--target", "y", "--hidden", "32,32", "--activation",
               "tanh", "--epochs", "60", "--lr", "0.01", "--out", model)[0] == 0
    return model


def test_invert_reaches_a_target_with_a_fixed_feature(tmp_path, capsys, regression_model):
    out_csv = tmp_path / "x.csv"
    code, out, _ = run(capsys, "invert", regression_model, "--target", "0.8", "--fix", "b=0.5",
                       "--restarts", "8", "--out", out_csv)
    assert code == 0 and out.startswith("reached")
    with open(out_csv) as f:
        rows = list(csv.DictReader(f))
    net = fastmlp.Network.load(regression_model)
    lo, hi = net.training["input_min"], net.training["input_max"]
    for row in rows:
        x = np.array([float(row["a"]), float(row["b"])])
        assert x[1] == 0.5                                        # fixed exactly
        assert lo[0] <= x[0] <= hi[0]                             # training range
        assert float(row["output0"]) == pytest.approx(net.predict(x[None])[0, 0], abs=1e-5)
    assert abs(float(rows[0]["output0"]) - 0.8) < 1e-3


def test_invert_unreachable_target_exits_1_with_closest_point(capsys, regression_model):
    code, out, _ = run(capsys, "invert", regression_model, "--target", "40", "--restarts", "4")
    assert code == 1 and "unreachable" in out


def test_invert_bad_requests(capsys, regression_model, blobs_csv, tmp_path):
    assert run(capsys, "invert", regression_model, "--target", "1,2")[0] == 2
    assert run(capsys, "invert", regression_model)[0] == 2           # neither target nor class
    assert run(capsys, "invert", regression_model, "--target", "1", "--fix", "zz=1")[0] == 2
    model = tmp_path / "m.npz"
    assert run(capsys, "train", blobs_csv[0], "--target", "kind", "--epochs", "20",
               "--lr", "0.01", "--out", model)[0] == 0
    code, _, err = run(capsys, "invert", model, "--class", "4")
    assert code == 2 and "3, 5, 7" in err
    code, out, _ = run(capsys, "invert", model, "--class", "7", "--restarts", "8")
    assert code == 0 and "reached class 2" in out       # label 7 is the third class


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_binary_scikit_learn_classifier_speaks_its_labels(tmp_path, capsys):
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    from sklearn.neural_network import MLPClassifier
    bunch = sklearn_datasets.load_breast_cancer(as_frame=True)
    df = bunch.frame.assign(target=bunch.target_names[bunch.target])     # malignant/benign
    X, y = df.drop(columns="target"), df["target"]
    est = MLPClassifier(hidden_layer_sizes=(8,), max_iter=50, random_state=0).fit(
        X.to_numpy(), y.to_numpy())
    net = fastmlp.Network.from_sklearn(est)
    net.training["feature_names"] = list(X.columns)
    net.save(tmp_path / "b.npz")
    df.to_csv(tmp_path / "bc.csv", index=False)
    out_csv = tmp_path / "p.csv"
    assert run(capsys, "predict", tmp_path / "b.npz", tmp_path / "bc.csv", "--target",
               "target", "--out", out_csv)[0] == 0
    with open(out_csv) as f:
        predicted = [row["prediction"] for row in csv.DictReader(f)]
    assert predicted == est.predict(X.to_numpy()).tolist()
    assert set(predicted) == {"malignant", "benign"}
    code, out, _ = run(capsys, "evaluate", tmp_path / "b.npz", tmp_path / "bc.csv",
                       "--target", "target")
    accuracy = float(out.split("accuracy")[1].split("%")[0]) / 100
    assert code == 0 and accuracy == pytest.approx(est.score(X.to_numpy(), y), abs=1e-4)
