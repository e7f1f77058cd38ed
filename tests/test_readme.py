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


def test_every_python_block_is_tested():
    markers = ["hidden.backward(delta", "net.train_step(X[idx]", "check_gradients(net, X, y)",
               "net.fit(X, y, epochs=10, batch_size=128", "fastmlp.invert(net, target=[0.8]",
               "from fastmlp.sklearn import MLPClassifier",
               "distributed.fit(net, X, y, client=client"]      # in test_distributed.py
    assert len(blocks()) == len(markers)
    assert all(any(m in b for b in blocks()) for m in markers)
