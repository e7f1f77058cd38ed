"""A call that fails leaves the network as it was; what fit records is plain Python.

The reference is a snapshot of everything fit and partial_fit may change (the
parameters, the scaler, the training record, the kept optimizer), taken before the
call.
"""
import copy

import numpy as np
import pytest

from fastmlp import Adam, Network, Standardizer, optim


def snapshot(net):
    opt = net._optimizer
    return (net.get_params(), net.scaler, copy.deepcopy(net.training), opt,
            None if opt is None else (opt.lr, opt.t))


def assert_unchanged(net, before):
    params, scaler, training, opt, opt_state = before
    np.testing.assert_array_equal(net.params, params)
    assert net.scaler is scaler
    assert net.training == training
    assert net._optimizer is opt
    if opt is not None:
        assert (opt.lr, opt.t) == opt_state


@pytest.fixture
def data(rng):
    return rng.standard_normal((30, 3)) * 5 + 2, rng.integers(0, 2, 30)


BAD_FIT_ARGUMENTS = [
    dict(clip_norm=-1), dict(clip_norm=float("nan")), dict(weight_decay=-0.1),
    dict(weight_decay=float("inf")), dict(schedule="bogus"), dict(schedule=3),
    dict(optimizer="bogus"), dict(optimizer=["adam"]), dict(optimizer=None),
    dict(lr=-1.0), dict(lr=float("nan")), dict(lr="fast"),
    dict(epochs=0), dict(batch_size=-1), dict(patience=0), dict(min_delta=-1),
    dict(validation_fraction=1.5), dict(validation_data=(np.ones((2, 3)),)),
    dict(validation_data="abc"), dict(validation_data=(np.ones((2, 4)), [0, 1])),
    dict(callbacks=[1]), dict(seed=-1), dict(seed=1.5),
    dict(early_stopping=True), dict(optimizer="lbfgs", clip_norm=1.0),
    dict(verbose=1, print_fn=None),
]


@pytest.mark.parametrize("kwargs", BAD_FIT_ARGUMENTS, ids=repr)
@pytest.mark.parametrize("history", ["fresh", "trained"])
def test_a_fit_with_a_bad_argument_changes_nothing(data, kwargs, history):
    X, y = data
    net = Network([3, 4, 2], seed=0)
    if history == "trained":
        net.fit(X, y, epochs=1, seed=0)
    before = snapshot(net)
    with pytest.raises((ValueError, TypeError)):
        net.fit(X, y, epochs=2, standardize=True, **kwargs)
    assert_unchanged(net, before)


def test_the_issue_reproducer(data):
    X, y = data
    net = Network([3, 4, 2], seed=0)
    with pytest.raises(ValueError, match="clip_norm"):
        net.fit(X, y, standardize=True, clip_norm=-1)
    assert net.scaler is None and net.training == {}


def test_fit_with_another_networks_optimizer_changes_nothing(data):
    X, y = data
    opt = Adam(lr=0.01)
    Network([3, 4, 2], seed=1).fit(X, y, epochs=1, optimizer=opt)
    net = Network([3, 4, 2], seed=0)
    before = snapshot(net)
    with pytest.raises(ValueError, match="one optimizer per network"):
        net.fit(X, y, epochs=1, optimizer=opt, standardize=True)
    assert_unchanged(net, before)


@pytest.mark.parametrize("kwargs", [
    dict(X=np.ones((3, 5))), dict(y=[0, 1, 5]), dict(lr=-1.0), dict(batch_size=0),
    dict(optimizer="bogus"), dict(optimizer=["adam"]), dict(seed=-1),
], ids=repr)
def test_a_partial_fit_with_a_bad_argument_changes_nothing(data, kwargs):
    X, y = data
    net = Network([3, 4, 2], seed=0)
    net.partial_fit(X, y, optimizer="sgd", lr=0.1)
    before = snapshot(net)
    args = {"X": X[:3], "y": y[:3], "lr": 0.5, **kwargs}
    with pytest.raises((ValueError, TypeError)):
        net.partial_fit(args.pop("X"), args.pop("y"), **args)
    assert_unchanged(net, before)


def test_partial_fit_does_not_touch_a_given_optimizer_when_the_data_are_bad(data):
    X, y = data
    net = Network([3, 4, 2], seed=0)
    opt = optim.SGD(lr=0.1)
    with pytest.raises(ValueError):
        net.partial_fit(np.ones((3, 7)), y[:3], optimizer=opt, lr=0.9)
    assert opt.lr == 0.1 and net._optimizer is None


def test_numpy_scalars_in_fit_are_saved_as_python_values(data, tmp_path):
    X, y = data
    net = Network([3, 4, 2], seed=0)
    net.fit(X, y, epochs=np.int64(2), batch_size=np.int32(8), lr=np.float32(1e-3),
            seed=np.int64(3), weight_decay=np.float64(0.0), clip_norm=np.float32(5),
            standardize=np.bool_(True))
    net.save(tmp_path / "m.npz")                  # was: TypeError in save
    loaded = Network.load(tmp_path / "m.npz")
    t = loaded.training
    assert t["lr"] == float(np.float32(1e-3)) and type(t["lr"]) is float
    assert t["epochs"] == 2 and t["batch_size"] == 8 and t["seed"] == 3
    assert t["clip_norm"] == 5.0 and t["standardize"] is True
    for value in net.training.values():
        assert type(value) in (str, int, float, bool, list, type(None)), value
    assert isinstance(net.scaler, Standardizer)
