"""Model files (fastmlp.io): bit-exact round trips for every activation, loss, dtype and
scaler, the training dict, and what save refuses before writing anything.
"""
import json
import os

import numpy as np
import pytest

from fastmlp import Layer, Network
from fastmlp import io as fio

from _io_helpers import ALPHA, DTYPES, SIZES, _dtype_id, make_net, inputs, assert_same_network

HIDDEN = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "gelu"]
LOSSES = ["mse", "cross_entropy", "binary_cross_entropy"]


def round_trip(net, tmp_path, name="model.npz"):
    path = tmp_path / name
    fio.save(net, path)
    return fio.load(path)


# ---------------------------------------------------------------------------
# Round trips
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=_dtype_id)
@pytest.mark.parametrize("activation", HIDDEN)
def test_round_trip_every_hidden_activation(tmp_path, rng, activation, dtype):
    net = make_net(rng, activation, "cross_entropy", dtype)
    loaded = round_trip(net, tmp_path)
    assert_same_network(net, loaded, inputs(rng, net))
    if activation in ALPHA:
        assert loaded.layers[0].alpha == ALPHA[activation]


@pytest.mark.parametrize("scaler", [False, True], ids=["no_scaler", "scaler"])
@pytest.mark.parametrize("dtype", DTYPES, ids=_dtype_id)
@pytest.mark.parametrize("loss", LOSSES)
def test_round_trip_every_loss(tmp_path, rng, loss, dtype, scaler):
    net = make_net(rng, "relu", loss, dtype, scaler=scaler)
    loaded = round_trip(net, tmp_path)
    assert_same_network(net, loaded, inputs(rng, net))
    # the loaded network trains identically: same loss, l2 and kernels
    X = inputs(rng, net, 16)
    y = {"mse": rng.standard_normal((16, SIZES[-1])),
         "cross_entropy": rng.integers(0, SIZES[-1], 16),
         "binary_cross_entropy": rng.integers(0, 2, (16, SIZES[-1])).astype(float)}[loss]
    assert net.train_step(X, y, 0.05) == loaded.train_step(X, y, 0.05)
    assert np.array_equal(net.params, loaded.params)


@pytest.mark.parametrize("dtype", DTYPES, ids=_dtype_id)
@pytest.mark.parametrize("out_act", HIDDEN)
def test_round_trip_mse_output_activations_with_per_layer_alphas(tmp_path, rng, out_act, dtype):
    alpha = {"leaky_relu": 0.31, "elu": 1.7}.get(out_act)
    hidden_alpha = 0.05 if out_act != "leaky_relu" else None
    layers = [Layer(4, 5, "leaky_relu", dtype, seed=1, alpha=hidden_alpha),
              Layer(5, 3, "elu", dtype, seed=2, alpha=0.4),
              Layer(3, 2, out_act, dtype, seed=3, alpha=alpha)]
    net = Network(layers, loss="mse", l2=0.5)
    net.params[...] = rng.standard_normal(net.n_params).astype(dtype)
    loaded = round_trip(net, tmp_path)
    assert_same_network(net, loaded, rng.standard_normal((6, 4)))
    assert [l.alpha for l in loaded.layers][:2] == [hidden_alpha or 0.01, 0.4]
    if alpha is not None:
        assert loaded.layers[2].alpha == alpha


def test_round_trip_is_bit_exact_for_awkward_values(tmp_path):
    net = Network([2, 3, 2], activation="elu", loss="mse", dtype=np.float64, seed=0,
                  alpha=0.1 + 0.2, l2=1e-300)
    tiny = np.finfo(np.float64).tiny
    vals = np.array([-0.0, 5e-324, tiny, -tiny / 3, 1e308, -1.7976931348623157e308,
                     0.1, 1 / 3, np.nextafter(1.0, 2.0)])
    net.params[...] = np.resize(vals, net.n_params)
    loaded = round_trip(net, tmp_path)
    assert loaded.params.tobytes() == net.params.tobytes()
    assert loaded.layers[0].alpha == 0.1 + 0.2 and loaded.l2 == 1e-300


def test_training_dict_round_trip(tmp_path, rng):
    net = make_net(rng)
    training = {"optimizer": "sgd", "lr": 0.1, "epochs": 12, "momentum": None,
                "shuffle": True, "history": {"loss": [2.3, 1.1, 0.30000000000000004],
                                             "epoch": [1, 2, 3]},
                "note": "naïve – ünïcode ☃", "nested": [[1, 2.5e-310], {"a": []}]}
    net.training = training
    loaded = round_trip(net, tmp_path)
    assert loaded.training == training
    assert loaded.training is not net.training
    assert json.dumps(loaded.training) == json.dumps(training)   # key order, float reprs


def test_training_tuples_come_back_as_lists(tmp_path, rng):
    net = make_net(rng)
    net.training = {"betas": (0.9, 0.999)}
    assert round_trip(net, tmp_path).training == {"betas": [0.9, 0.999]}


@pytest.mark.parametrize("training, error, words", [
    ({"loss": np.float32(0.5)}, TypeError, r"net\.training\['loss'\].*numpy\.float32"),
    ({"w": np.zeros(3)}, TypeError, r"net\.training\['w'\].*\.tolist"),
    ({"h": [1.0, float("nan")]}, ValueError, r"net\.training\['h'\]\[1\].*NaN"),
    ({"h": {"x": float("inf")}}, ValueError, r"net\.training\['h'\]\['x'\]"),
    ({1: "epoch one"}, TypeError, r"key 1 .*strings"),
    ({"f": object()}, TypeError, r"not JSON-serializable"),
    (["not", "a", "dict"], TypeError, r"must be a dict"),
], ids=["np_scalar", "ndarray", "nan", "inf", "int_key", "object", "list"])
def test_unserializable_training_is_refused_before_writing(tmp_path, rng, training, error,
                                                           words):
    path = tmp_path / "model.npz"
    good = make_net(rng)
    fio.save(good, path)
    before = path.read_bytes()
    net = make_net(rng)
    net.training = training
    with pytest.raises(error, match=words):
        fio.save(net, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]


def test_non_finite_params_are_refused_on_save(tmp_path, rng):
    net = make_net(rng)
    net.params[3] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        fio.save(net, tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


def test_save_needs_a_network(tmp_path):
    with pytest.raises(TypeError, match="Network"):
        fio.save(Layer(2, 3), tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []
