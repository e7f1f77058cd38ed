"""Every bad argument to the Python API gets an error that names the argument.

A table of (call, argument name): each call must raise ValueError or TypeError
(or AttributeError/RuntimeError where stated) whose message contains the name.
"""
import numpy as np
import pytest

import fastmlp
from fastmlp import (SGD, Adam, AdamW, Layer, Network, datasets, gradcheck,
                     invert, optim)

NET = Network([3, 4, 2], seed=0)
REG = Network([3, 4, 1], activation="tanh", loss="mse", seed=0)
X = np.ones((5, 3))
Y = np.array([0, 1, 0, 1, 1])
RAGGED = [[1.0, 2.0, 3.0], [1.0, 2.0]]


def layer_after_forward():
    layer = Layer(3, 2)
    layer.forward(X)
    return layer


CASES = [
    # construction
    (lambda: Network([3, "a", 2]), "sizes[1]"),
    (lambda: Network([3, -4, 2]), "sizes[1]"),
    (lambda: Network(5), "sizes"),
    (lambda: Network([3, 2], activation="bogus"), "activation"),
    (lambda: Network([3, 2], loss="bogus"), "loss"),
    (lambda: Network([3, 2], loss="mse", output_activation="bogus"), "output_activation"),
    (lambda: Network([3, 2], loss="mse", output_activation=["tanh"]), "output_activation"),
    (lambda: Network([3, 4, 2], activation="elu", alpha="x"), "alpha"),
    (lambda: Network([3, 4, 2], activation="leaky_relu", alpha=float("nan")), "alpha"),
    (lambda: Network([3, 2], dtype="int32"), "dtype"),
    (lambda: Network([3, 2], dtype=None), "dtype"),
    (lambda: Network([3, 2], seed=-1), "seed"),
    (lambda: Network([3, 2], seed="x"), "seed"),
    (lambda: Network([3, 2], l2=-1), "l2"),
    (lambda: Network([3, 2], l2="x"), "l2"),
    (lambda: Layer(0, 2), "n_in"),
    (lambda: Layer(2, 2.5), "n_out"),
    (lambda: Layer(2, 2, alpha="x", activation="elu"), "alpha"),
    (lambda: Layer(2, 2, seed=-5), "seed"),
    # arrays
    (lambda: NET.forward(RAGGED), "X"),
    (lambda: NET.forward("abc"), "X"),
    (lambda: NET.forward(np.ones((2, 4))), "X"),
    (lambda: NET.forward(np.array([[1, np.nan, 2]])), "X"),
    (lambda: NET.forward(np.ones((0, 3))), "X"),
    (lambda: NET.forward(np.ones(3, dtype=complex)), "X"),
    (lambda: NET.predict({"a": 1}), "X"),
    (lambda: NET.loss(X, [[0, 1], [1]]), "y"),
    (lambda: NET.loss(X, [0, 1, 2, 0, 1]), "y"),
    (lambda: NET.loss(X, Y[:3]), "y"),
    (lambda: NET.loss(X, ["a"] * 5), "y"),
    (lambda: NET.gradient(X, np.full(5, 0.5)), "y"),
    (lambda: NET.input_gradient(RAGGED, Y), "X"),
    (lambda: NET.jacobian(np.ones((2, 7))), "X"),
    (lambda: NET.evaluate(X, Y[:2]), "y"),
    (lambda: NET.score(RAGGED, Y), "X"),
    (lambda: NET.set_params(RAGGED), "flat"),
    (lambda: NET.set_params(np.ones(3)), "flat"),
    (lambda: NET.set_params(np.full(NET.n_params, np.inf)), "flat"),
    (lambda: setattr(NET.layers[0], "W", RAGGED), "W"),
    (lambda: setattr(NET.layers[0], "b", np.ones(9)), "b"),
    (lambda: setattr(NET, "scaler", "x"), "scaler"),
    (lambda: NET.astype("int8"), "dtype"),
    (lambda: Layer(3, 2).forward(RAGGED), "X"),
    (lambda: layer_after_forward().backward(np.ones((5, 7))), "delta"),
    (lambda: layer_after_forward().backward(np.ones((4, 2))), "delta"),
    (lambda: Layer(3, 2).backward(np.ones((5, 2))), "forward"),
    # training
    (lambda: NET.train_step(X, Y), "lr"),
    (lambda: NET.train_step(X, Y, lr=-1), "lr"),
    (lambda: NET.train_step(X, Y, lr="x"), "lr"),
    (lambda: NET.train_step(X, Y, optimizer="adam"), "optimizer"),
    (lambda: NET.copy().fit(X, Y, validation_data=(X,)), "validation_data"),
    (lambda: NET.copy().fit(X, Y, validation_data="abc"), "validation_data"),
    (lambda: NET.copy().fit(X, Y, validation_data=(RAGGED, Y)), "validation_data[0]"),
    (lambda: NET.copy().fit(X, Y, optimizer=["adam"]), "optimizer"),
    (lambda: NET.copy().fit(X, Y, optimizer="bogus"), "optimizer"),
    (lambda: NET.copy().fit(X, Y, epochs=0), "epochs"),
    (lambda: NET.copy().fit(X, Y, batch_size=0.5), "batch_size"),
    (lambda: NET.copy().fit(X, Y, seed=-1), "seed"),
    (lambda: NET.copy().fit(X, Y, schedule="bogus"), "schedule"),
    (lambda: NET.copy().fit(X, Y, clip_norm=0), "clip_norm"),
    (lambda: NET.copy().fit(X, Y, weight_decay=-1), "weight_decay"),
    (lambda: NET.copy().fit(X, Y, callbacks=[3]), "callbacks"),
    (lambda: NET.copy().fit(X, Y, callbacks=3), "callbacks"),
    (lambda: NET.copy().fit(X, Y, validation_fraction=2), "validation_fraction"),
    (lambda: NET.copy().fit(X, Y, patience=-1), "patience"),
    (lambda: NET.copy().fit(X, Y, min_delta="x"), "min_delta"),
    (lambda: NET.copy().fit(X, Y, bogus=1), "bogus"),
    (lambda: NET.copy().partial_fit(X, Y, lr="x"), "lr"),
    (lambda: NET.copy().partial_fit(X, Y, optimizer=["adam"]), "optimizer"),
    (lambda: NET.copy().partial_fit(X, Y, batch_size=-2), "batch_size"),
    (lambda: NET.copy().partial_fit(X, Y, seed=-1), "seed"),
    # optimizers and schedules
    (lambda: Adam(betas=None), "betas"),
    (lambda: Adam(betas=(0.9,)), "betas"),
    (lambda: Adam(betas=(0.9, 1.5)), "betas[1]"),
    (lambda: Adam(eps=0), "eps"),
    (lambda: AdamW(weight_decay=float("nan")), "weight_decay"),
    (lambda: SGD(lr=-1), "lr"),
    (lambda: SGD(momentum="x"), "momentum"),
    (lambda: SGD(nesterov=True), "nesterov"),
    (lambda: SGD(clip_norm=-1), "clip_norm"),
    (lambda: SGD(schedule="bogus"), "schedule"),
    (lambda: optim.Cosine(float("inf")), "total_steps"),
    (lambda: optim.Cosine(0), "total_steps"),
    (lambda: optim.Cosine(2.5), "total_steps"),
    (lambda: optim.Cosine(10, min_factor=-1), "min_factor"),
    (lambda: optim.StepDecay(float("inf")), "step_size"),
    (lambda: optim.StepDecay("x"), "step_size"),
    (lambda: optim.StepDecay(3, gamma=0), "gamma"),
    (lambda: optim.InverseScaling(power_t="x"), "power_t"),
    (lambda: SGD().step(np.ones(3), np.ones(4)), "grads"),
    (lambda: SGD().step([1.0], np.ones(1)), "params"),
    (lambda: SGD().step(np.ones(3), np.ones(3), np.ones(2)), "decay_mask"),
    (lambda: optim.lbfgs(NET.copy(), RAGGED, Y), "X"),
    # inversion
    (lambda: invert(REG, target=[0.5], tol="x"), "tol"),
    (lambda: invert(REG, target=[0.5], atol=float("inf")), "atol"),
    (lambda: invert(REG, target=[[0.5], [1]]), "target"),
    (lambda: invert(REG, target=["a"]), "target"),
    (lambda: invert(REG, target=[0.5], x0=RAGGED), "x0"),
    (lambda: invert(REG, target=[0.5], bounds=RAGGED), "bounds"),
    (lambda: invert(REG, target=[0.5], bounds="bogus"), "bounds"),
    (lambda: invert(REG, target=[0.5], starts=RAGGED), "starts"),
    (lambda: invert(REG, target=[0.5], n_restarts=0), "n_restarts"),
    (lambda: invert(REG, target=[0.5], max_iter=-1), "max_iter"),
    (lambda: invert(REG, target=[0.5], reg=-1), "reg"),
    (lambda: invert(REG, target=[0.5], seed=-1), "seed"),
    (lambda: invert(REG, target=[0.5], fixed={7: 1.0}), "fixed"),
    (lambda: invert(REG, target=[0.5], fixed={0: "x"}), "fixed[0]"),
    (lambda: invert(REG, target=[0.5], mask=[1, 0, 1]), "mask"),
    (lambda: invert(REG, target=[0.5], x_ref=[1, 2], reg=1), "x_ref"),
    (lambda: invert(NET, class_index=5), "class_index"),
    (lambda: invert(NET, class_index=0, min_prob=2), "min_prob"),
    (lambda: invert(NET, class_index=0, objective="bogus"), "objective"),
    (lambda: invert(NET, class_index=0, margin=-1, objective="margin"), "margin"),
    (lambda: invert("net", target=[0.5]), "net"),
    # data sets
    (lambda: datasets.xor(n=-1), "n"),
    (lambda: datasets.xor(noise="x"), "noise"),
    (lambda: datasets.spirals(turns=0), "turns"),
    (lambda: datasets.spirals(dtype="int8"), "dtype"),
    (lambda: datasets.regression(n_features=0), "n_features"),
    (lambda: datasets.regression(seed=-1), "seed"),
    # gradient checks
    (lambda: gradcheck.numerical_gradient(NET, X, Y, eps=-1), "eps"),
    (lambda: gradcheck.numerical_gradient(NET, X, Y, eps="x"), "eps"),
    (lambda: gradcheck.numerical_gradient(NET, X, Y, wrt="bogus"), "wrt"),
    (lambda: gradcheck.numerical_gradient(NET, RAGGED, Y), "X"),
    (lambda: gradcheck.numerical_gradient("net", X, Y), "net"),
    (lambda: fastmlp.check_gradients(NET, RAGGED, Y), "X"),
    (lambda: fastmlp.check_gradients(NET, X, Y, eps=0), "eps"),
    (lambda: fastmlp.check_gradients("net", X, Y), "net"),
    # found by the fuzz campaign
    (lambda: gradcheck.numerical_gradient(NET, X, Y, eps=2e307), "eps"),
    (lambda: fastmlp.check_gradients(NET, X, Y, eps=5.0), "eps"),
    (lambda: NET.copy().fit(X, Y, schedule=print), "schedule"),
    (lambda: NET.copy().fit(X, Y, schedule=lambda t: float("nan")), "schedule"),
    (lambda: SGD(schedule=lambda t: -1.0), "schedule"),
    (lambda: invert(REG, target=[0.5], mask=[False]), "mask"),
]


@pytest.mark.parametrize("call, name", CASES, ids=[f"{i}-{n}" for i, (_, n) in enumerate(CASES)])
def test_the_error_names_the_argument(call, name):
    with pytest.raises((ValueError, TypeError, RuntimeError, FloatingPointError)) as info:
        call()
    assert name in str(info.value), f"{type(info.value).__name__}: {info.value}"


def test_backward_before_forward_says_what_to_call_first():
    with pytest.raises(RuntimeError, match=r"call layer\.forward\(X\) first"):
        Layer(3, 2).backward(np.ones((1, 2)))


def test_ragged_input_is_called_ragged():
    with pytest.raises(ValueError, match="X is ragged"):
        NET.forward(RAGGED)


@pytest.mark.parametrize("cls, arg", [(optim.Cosine, "total_steps"),
                                      (optim.StepDecay, "step_size")])
def test_infinite_schedule_lengths_are_value_errors(cls, arg):
    with pytest.raises(ValueError, match=arg):            # was OverflowError
        cls(float("inf"))
    assert getattr(cls(4.0), arg) == 4                      # a whole float is fine


def test_a_bad_loss_name_is_named_before_a_model_is_read():
    """from_torch and from_onnx looked an unhashable loss up in a dict ("unhashable
    type: 'list'"); now the loss is checked first, as Network checks it."""
    torch = pytest.importorskip("torch", exc_type=ImportError)
    model = torch.nn.Sequential(torch.nn.Linear(3, 2))
    for bad in ([], {}, "nope"):
        with pytest.raises(ValueError, match=r"^loss must be one of"):
            Network.from_torch(model, loss=bad)
        with pytest.raises(ValueError, match=r"^loss must be one of"):
            Network.from_onnx(b"not read", loss=bad)
    pytest.importorskip("onnx")
    with pytest.raises(ValueError, match="model must be a non-empty file name"):
        Network.from_onnx("")
