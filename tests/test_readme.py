"""The README's Python examples run and do what their comments say."""
import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def run_block(code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code.replace("../shared/data/mnist", str(MNIST)), "README", "exec"),
         namespace)
    return namespace


def block_with(text):
    found = [b for b in blocks() if text in b]
    assert len(found) == 1, f"expected one README block containing {text!r}"
    return found[0]


def test_layer_by_layer_example(tmp_path, monkeypatch):
    ns = run_block(block_with("hidden.backward(delta"), tmp_path, monkeypatch)
    assert ns["loss"] < 1e-3                                   # "small loss"
    np.testing.assert_array_equal((ns["A"] > 0.5).astype(int), [[0, 1], [0, 1]])


def test_network_example(tmp_path, monkeypatch):
    ns = run_block(block_with("net.train_step(X[idx]"), tmp_path, monkeypatch)
    assert (ns["net"].predict(ns["X"]) == ns["y"]).mean() == 1.0          # "# 1.0"
    assert ns["grad"].shape == ns["net"].params.shape
    assert ns["dX"].shape == ns["X"].shape


def test_gradient_check_example(tmp_path, monkeypatch):
    ns = run_block(block_with("check_gradients(net, X, y)"), tmp_path, monkeypatch)
    assert ns["report"].ok
    assert ns["gx"].shape == ns["X"].shape


@pytest.mark.skipif(not MNIST.is_dir(), reason="MNIST-24k files not present")
def test_training_example(tmp_path, monkeypatch):
    ns = run_block(block_with("net.fit(X, y, epochs=10, batch_size=128"), tmp_path, monkeypatch)
    assert ns["net"].evaluate(ns["Xt"], ns["yt"])["accuracy"] > 0.96      # 10% held out
    assert (tmp_path / "mnist.npz").exists()


def test_inversion_example(tmp_path, monkeypatch):
    ns = run_block(block_with("fastmlp.invert(net, target=[0.8]"), tmp_path, monkeypatch)
    result = ns["result"]
    assert result.success and result.message.startswith("reached outputs [0.8]")
    assert result.x[1] == 0.5                                          # held exactly
    assert abs(result.x[0] - 0.60) < 0.01                              # "x0 ≈ 0.60"
    assert abs(result.output[0] - 0.8) < 1e-3
    # the answer is right for the true function too (the net fits it well)
    assert abs(np.sin(result.x[0]) * np.cos(0.5) + 0.5 * result.x[0] - 0.8) < 0.02


@pytest.mark.filterwarnings("ignore:Stochastic Optimizer. Maximum iterations")
def test_sklearn_estimator_example(tmp_path, monkeypatch, capsys):
    pytest.importorskip("sklearn")
    ns = run_block(block_with("from fastmlp.sklearn import MLPClassifier"), tmp_path,
                   monkeypatch)
    clf, result = ns["clf"], ns["result"]
    cv_mean = float(capsys.readouterr().out.splitlines()[0])
    assert abs(cv_mean - 0.93) < 0.01                                   # "≈ 0.93"
    assert clf.n_iter_ == 200 and clf.coefs_[0].shape == (64, 64)
    assert abs(clf.loss_curve_[-1] - 0.02) < 0.005                      # "≈ 0.02"
    assert clf.predict(result.x.reshape(1, -1))[0] == 3
    assert result.x.min() >= 0 and result.x.max() <= 1                 # the training range


def test_onnx_example(tmp_path, monkeypatch, capsys):
    for module in ("onnx", "onnxruntime", "skl2onnx", "sklearn"):
        pytest.importorskip(module)
    ns = run_block(block_with("Network.from_onnx(\"iris.onnx\")"), tmp_path, monkeypatch)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Network([4, 16, 3], activations=[relu, softmax], "
                             "loss='cross_entropy'")
    assert out[1] == "[2] True"
    assert ns["result"].success and ns["net"].scaler is not None
    assert np.all(ns["result"].x >= ns["X"].min(axis=0) - 1e-12)
    assert np.all(ns["result"].x <= ns["X"].max(axis=0) + 1e-12)
    assert (tmp_path / "iris_fastmlp.onnx").exists()


def test_dropout_example(tmp_path, monkeypatch, capsys):
    ns = run_block(block_with("dropout_step=7"), tmp_path, monkeypatch)
    net = ns["net"]
    score, ok = capsys.readouterr().out.split()
    assert abs(float(score) - 0.98) < 0.015 and ok == "True"           # "≈ 0.98", "True"
    assert net.dropout == [0.2, 0.2]
    assert net.dropout_step == 200 * 7                 # 200 epochs of 7 batches, one step each


def test_exact_example(tmp_path, monkeypatch):
    ns = run_block(block_with("fastmlp.output_bounds(net)"), tmp_path, monkeypatch)
    net, bounds, X = ns["net"], ns["bounds"], ns["X"]
    lo, hi = np.array(net.training["input_min"]), np.array(net.training["input_max"])
    grid = np.stack(np.meshgrid(np.linspace(lo[0], hi[0], 400),
                                np.linspace(lo[1], hi[1], 400)), -1).reshape(-1, 2)
    out = net.forward(grid)[:, 0].astype(np.float64)
    # certified bounds contain every sampled output, and are nearly attained
    assert bounds.lower[0] <= out.min() <= bounds.lower[0] + 0.02
    assert bounds.upper[0] - 0.02 <= out.max() <= bounds.upper[0]
    assert abs(bounds.lower[0] + 2.13) < 0.01 and abs(bounds.upper[0] - 2.06) < 0.01
    assert ns["result"].status == "unreachable" and "0.00220" in ns["result"].message
    assert not np.any(np.abs(out - (bounds.upper[0] + 0.05)) <= 0.0022)
    closest = ns["closest"]
    assert abs(closest.residual - (3.0 - out.max())) < 0.02                   # "≈ 0.94"
    assert abs(closest.residual - 0.94) < 0.01 and closest.gap < 1e-6
    cf = ns["cf"]
    assert cf.status == "reached" and cf.x[1] == X[0, 1]
    assert abs(cf.output[0] - 0.5) <= 1e-4 + 1e-3 * 0.5
    assert abs(cf.x[0] - 0.430) < 0.002                                      # "≈ 0.430"
    # no x0 closer to X[0] along the line reaches 0.5
    x0s = np.linspace(min(X[0, 0], cf.x[0]), max(X[0, 0], cf.x[0]), 2001)[1:-1]
    line = net.forward(np.c_[x0s, np.full_like(x0s, X[0, 1])])[:, 0]
    closer = np.abs(x0s - X[0, 0]) < abs(cf.x[0] - X[0, 0]) - 1e-6
    assert not np.any(np.abs(line[closer] - 0.5) <= 0.999 * (1e-4 + 1e-3 * 0.5))


def test_every_python_block_is_tested():
    markers = ["hidden.backward(delta", "net.train_step(X[idx]", "check_gradients(net, X, y)",
               "net.fit(X, y, epochs=10, batch_size=128", "fastmlp.invert(net, target=[0.8]",
               "from fastmlp.sklearn import MLPClassifier", "Network.from_onnx(\"iris.onnx\")",
               "dropout_step=7", "fastmlp.output_bounds(net)",
               "distributed.fit(net, X, y, client=client"]      # in test_distributed.py
    assert len(blocks()) == len(markers)
    assert all(any(m in b for b in blocks()) for m in markers)
