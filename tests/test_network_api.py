"""Network's API: the flat parameter buffer and its views, parameter / gradient
layout, seeding and initialization, predict semantics, construction from Layers,
dtype conversion, training to a good accuracy, and thread safety.

References are written here: NumPy forward/backward passes (conftest), hand
layouts, and statistical properties of the documented initializers.
"""
import threading

import numpy as np
import pytest

import fastmlp
from fastmlp import Layer, Network


def _hand_n_params(sizes):
    return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))


# ---------------------------------------------------------------------------
# One flat buffer, layer views into it
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: d.__name__)
def test_params_is_one_flat_buffer_with_layer_views(dtype):
    sizes = [3, 5, 4, 2]
    net = Network(sizes, activation="tanh", loss="cross_entropy", dtype=dtype, seed=0)
    assert net.sizes == tuple(sizes)
    assert net.n_params == _hand_n_params(sizes) == net.params.size
    assert net.params.ndim == 1 and net.params.dtype == dtype
    for layer in net.layers:
        assert np.shares_memory(layer.W, net.params)
        assert np.shares_memory(layer.b, net.params)
        assert layer.W.dtype == dtype and layer.W.flags.c_contiguous
    # the layout W0, b0, W1, b1, W2, b2: write 0, 1, 2, ... and read back by hand
    net.params[:] = np.arange(net.n_params)
    off = 0
    for a, b, layer in zip(sizes[:-1], sizes[1:], net.layers):
        np.testing.assert_array_equal(layer.W, np.arange(off, off + a * b).reshape(a, b))
        off += a * b
        np.testing.assert_array_equal(layer.b, np.arange(off, off + b))
        off += b
    assert off == net.n_params
    # writes through a layer view reach params, and assignments copy into the buffer
    net.layers[1].W[2, 3] = -7.0
    assert net.params[3 * 5 + 5 + 2 * 4 + 3] == -7.0
    src = np.full((4, 2), 0.25)
    net.layers[2].W = src
    src[...] = 99.0
    assert np.all(net.layers[2].W == 0.25)
    assert np.shares_memory(net.layers[2].W, net.params)


def test_views_survive_training_and_set_params(rng):
    net = Network([3, 6, 2], activation="relu", loss="cross_entropy", dtype=np.float64,
                  seed=0)
    W0 = net.layers[0].W
    X = rng.standard_normal((8, 3))
    y = rng.integers(0, 2, 8)
    before = W0.copy()
    net.train_step(X, y, 0.5)
    assert net.layers[0].W is W0 or np.shares_memory(net.layers[0].W, net.params)
    assert np.any(W0 != before)            # the view itself saw the update
    net.set_params(np.zeros(net.n_params))
    assert np.all(W0 == 0)


def test_get_params_set_params_round_trip(rng):
    net = Network([4, 7, 3], activation="sigmoid", loss="mse", dtype=np.float64, seed=1)
    p = net.get_params()
    assert not np.shares_memory(p, net.params)
    p[:] = 123.0                            # a copy: the network is untouched
    assert not np.any(net.params == 123.0)
    new = rng.standard_normal(net.n_params)
    net.set_params(new)
    np.testing.assert_array_equal(net.get_params(), new)
    assert not np.shares_memory(net.params, new)
    new[0] = 5.0
    assert net.params[0] != 5.0
    # the network really uses them: forward matches NumPy on those parameters
    X = rng.standard_normal((5, 4))
    Zs, As = _np_forward_from_flat(net.get_params(), [4, 7, 3], X, ["sigmoid", "identity"])
    np.testing.assert_allclose(net.forward(X), As[-1], rtol=1e-12)
    # float32 values into a float64 network are taken exactly
    net.set_params(new.astype(np.float32))
    np.testing.assert_array_equal(net.params, new.astype(np.float32).astype(np.float64))


def _np_forward_from_flat(flat, sizes, X, acts):
    from scipy.special import expit
    f = {"sigmoid": expit, "tanh": np.tanh, "identity": lambda z: z}
    off, A, Zs, As = 0, X, [], []
    for (a, b), act in zip(zip(sizes[:-1], sizes[1:]), acts):
        W = flat[off:off + a * b].reshape(a, b)
        off += a * b
        bias = flat[off:off + b]
        off += b
        Z = A @ W + bias
        A = f[act](Z)
        Zs.append(Z)
        As.append(A)
    return Zs, As


def test_gradient_layout_against_numpy_backprop(rng):
    """grad = [dW0.ravel(), db0, dW1.ravel(), db1] for tanh → softmax-CE, checked
    against a NumPy backprop written here."""
    net = Network([4, 6, 3], activation="tanh", loss="cross_entropy", dtype=np.float64,
                  seed=2)
    X = rng.standard_normal((9, 4))
    y = rng.integers(0, 3, 9)
    W0, b0, W1, b1 = (net.layers[0].W, net.layers[0].b, net.layers[1].W, net.layers[1].b)
    A1 = np.tanh(X @ W0 + b0)
    Z2 = A1 @ W1 + b1
    P = np.exp(Z2 - Z2.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    D2 = (P - np.eye(3)[y]) / 9
    D1 = (D2 @ W1.T) * (1 - A1 ** 2)
    expected = np.concatenate([(X.T @ D1).ravel(), D1.sum(0), (A1.T @ D2).ravel(), D2.sum(0)])
    loss, grad = net.gradient(X, y)
    assert loss == pytest.approx(-np.log(P[np.arange(9), y]).mean(), rel=1e-13)
    np.testing.assert_allclose(grad, expected, rtol=1e-11, atol=1e-15)
    # the layers' dW / db views and net.grads hold the same numbers
    np.testing.assert_array_equal(net.grads, grad)
    np.testing.assert_array_equal(net.layers[0].dW.ravel(), grad[:24])
    np.testing.assert_array_equal(net.layers[0].db, grad[24:30])
    np.testing.assert_array_equal(net.layers[1].dW.ravel(), grad[30:48])
    np.testing.assert_array_equal(net.layers[1].db, grad[48:])
    assert np.shares_memory(net.layers[1].dW, net.grads)
    # gradient() returns a copy, not the live buffer
    assert not np.shares_memory(grad, net.grads)


def test_l2_penalty_convention(rng):
    """loss += ½·l2·Σ‖W‖² (weights only), gradient += l2·W (biases untouched)."""
    kw = dict(activation="tanh", loss="mse", dtype=np.float64, seed=4)
    plain = Network([3, 5, 2], **kw)
    reg = Network([3, 5, 2], l2=0.7, **kw)
    reg.set_params(plain.get_params())
    X, Y = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    l0, g0 = plain.gradient(X, Y)
    l1, g1 = reg.gradient(X, Y)
    Ws = [l.W for l in plain.layers]
    assert l1 == pytest.approx(l0 + 0.5 * 0.7 * sum((W ** 2).sum() for W in Ws), rel=1e-13)
    assert reg.loss(X, Y) == pytest.approx(l1, rel=1e-13)
    extra = np.concatenate([0.7 * Ws[0].ravel(), np.zeros(5), 0.7 * Ws[1].ravel(),
                            np.zeros(2)])
    np.testing.assert_allclose(g1, g0 + extra, rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------------
# Seeding and initialization
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: d.__name__)
def test_seed_reproducibility(dtype):
    sizes = [10, 20, 5]
    a = Network(sizes, activation="relu", dtype=dtype, seed=7)
    b = Network(sizes, activation="relu", dtype=dtype, seed=7)
    c = Network(sizes, activation="relu", dtype=dtype, seed=8)
    assert a.params.tobytes() == b.params.tobytes()
    assert np.mean(a.params != c.params) > 0.9     # weights differ (biases are 0)
    assert Layer(4, 3, seed=1, dtype=dtype).W.tobytes() == \
        Layer(4, 3, seed=1, dtype=dtype).W.tobytes()
    assert not np.array_equal(Layer(4, 3, seed=1).W, Layer(4, 3, seed=2).W)
    # unseeded networks differ from each other
    assert not np.array_equal(Network(sizes).params, Network(sizes).params)
    # training is deterministic too
    X, y = fastmlp.datasets.xor(64, seed=0)
    a, b = (Network([2, 16, 2], activation="relu", dtype=dtype, seed=7) for _ in range(2))
    for net in (a, b):
        for _ in range(20):
            net.train_step(X, y, 0.1)
    assert a.params.tobytes() == b.params.tobytes()


def test_datasets_are_seeded():
    for make in (fastmlp.datasets.xor, fastmlp.datasets.spirals):
        X1, y1 = make(100, seed=3)
        X2, y2 = make(100, seed=3)
        X3, _ = make(100, seed=4)
        np.testing.assert_array_equal(X1, X2)
        np.testing.assert_array_equal(y1, y2)
        assert not np.array_equal(X1, X3)
        assert X1.dtype == np.float64 and X1.shape == (100, 2)
        assert set(np.unique(y1)) == {0, 1}
    # xor: class 1 where the two coordinates' corners differ in sign
    X, y = fastmlp.datasets.xor(400, noise=0.1, seed=0)
    assert np.mean((np.sign(X[:, 0]) != np.sign(X[:, 1])) == y.astype(bool)) > 0.99


def test_he_init_for_relu_layers():
    net = Network([400, 300, 10], activation="relu", dtype=np.float64, seed=11)
    W = net.layers[0].W
    target = np.sqrt(2.0 / 400)                  # He: N(0, 2/fan_in)
    assert abs(W.std() / target - 1) < 0.02       # n = 120000: sampling error ~0.2 %
    assert abs(W.mean()) < 4 * target / np.sqrt(W.size)
    # normal, not uniform: ~68.3 % within one standard deviation, tails beyond 3 sd
    assert abs(np.mean(np.abs(W) < target) - 0.6827) < 0.01
    assert np.abs(W).max() > 3.5 * target
    assert np.all(net.layers[0].b == 0)
    # hidden ReLU-family layers all get He; the fan-in sets the scale
    for act in ("leaky_relu", "elu"):
        W = Network([300, 200, 10], activation=act, dtype=np.float64, seed=1).layers[0].W
        assert abs(W.std() / np.sqrt(2.0 / 300) - 1) < 0.03


@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
def test_glorot_init_for_tanh_layers(act):
    net = Network([400, 300, 10], activation=act, dtype=np.float64, seed=12)
    W = net.layers[0].W
    limit = np.sqrt(6.0 / (400 + 300))          # Glorot: U(-limit, limit)
    assert np.abs(W).max() <= limit
    assert np.abs(W).max() > 0.999 * limit
    assert abs(W.var() / (limit ** 2 / 3) - 1) < 0.02
    assert abs(np.mean(np.abs(W) < limit / 2) - 0.5) < 0.01   # uniform, not normal
    # the softmax output layer is Glorot as well
    W1 = net.layers[1].W
    assert np.abs(W1).max() <= np.sqrt(6.0 / (300 + 10))
    assert np.all(net.layers[1].b == 0)


# ---------------------------------------------------------------------------
# predict / predict_proba
# ---------------------------------------------------------------------------

def test_predict_cross_entropy(h, rng):
    net = Network([4, 8, 5], activation="tanh", loss="cross_entropy", dtype=np.float64,
                  seed=3)
    X = rng.standard_normal((20, 4))
    _, As = h.np_forward(net, X)
    P = net.predict_proba(X)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-14)
    assert np.all(P > 0)
    np.testing.assert_allclose(P, As[-1], rtol=1e-12)
    np.testing.assert_array_equal(net.forward(X), P)
    pred = net.predict(X)
    np.testing.assert_array_equal(pred, As[-1].argmax(axis=1))
    assert pred.shape == (20,) and np.issubdtype(pred.dtype, np.integer)


def test_predict_binary_cross_entropy(h, rng):
    net = Network([4, 8, 3], activation="tanh", loss="binary_cross_entropy",
                  dtype=np.float64, seed=3)
    net.layers[1].W = 3 * net.layers[1].W          # spread the probabilities
    X = rng.standard_normal((30, 4))
    _, As = h.np_forward(net, X)
    P = net.predict_proba(X)
    np.testing.assert_allclose(P, As[-1], rtol=1e-12)
    assert np.all((P > 0) & (P < 1))
    pred = net.predict(X)
    np.testing.assert_array_equal(pred, (As[-1] > 0.5).astype(int))
    assert 0 < pred.mean() < 1                      # both labels occur


def test_predict_mse(h, rng):
    net = Network([4, 8, 3], activation="gelu", loss="mse", dtype=np.float64, seed=3)
    X = rng.standard_normal((7, 4))
    _, As = h.np_forward(net, X)
    np.testing.assert_allclose(net.predict(X), As[-1], rtol=1e-12, atol=1e-15)
    with pytest.raises((AttributeError, TypeError, ValueError), match="predict_proba"):
        net.predict_proba(X)


# ---------------------------------------------------------------------------
# Construction from Layers, astype, copy
# ---------------------------------------------------------------------------

def test_network_from_layers_copies_their_values(h, rng):
    W0 = rng.standard_normal((3, 4))
    b0 = rng.standard_normal(4)
    W1 = rng.standard_normal((4, 2))
    b1 = rng.standard_normal(2)
    l0 = Layer(3, 4, "elu", dtype=np.float64, alpha=0.5)
    l1 = Layer(4, 2, "softmax", dtype=np.float64)
    l0.W, l0.b, l1.W, l1.b = W0, b0, W1, b1
    net = Network([l0, l1], loss="cross_entropy")
    np.testing.assert_array_equal(net.params,
                                  np.concatenate([W0.ravel(), b0, W1.ravel(), b1]))
    assert net.layers == (l0, l1) and net.sizes == (3, 4, 2)
    assert net.dtype == np.float64
    assert np.shares_memory(l0.W, net.params)      # the layers now view the buffer
    assert not np.shares_memory(W0, net.params)    # the caller's arrays were copied
    W0[...] = 0
    assert np.any(net.layers[0].W != 0)
    # and the network computes with them: elu(alpha=0.5) → softmax
    X = rng.standard_normal((5, 3))
    Z = X @ net.layers[0].W + b0
    A = np.where(Z > 0, Z, 0.5 * np.expm1(np.minimum(Z, 0)))
    np.testing.assert_allclose(net.forward(X), h.np_act("softmax", A @ W1 + b1), rtol=1e-12)


def test_reusing_layers_for_a_second_network_keeps_the_first_consistent(rng):
    """Building a second Network from the same Layer objects must either be refused
    or leave the first network intact: its layers still view ITS params, and its
    loss() agrees with gradient()'s loss (the L2 penalty reads layer.W)."""
    layers = [Layer(2, 3, "tanh", dtype=np.float64, seed=0),
              Layer(3, 2, "softmax", dtype=np.float64, seed=1)]
    n1 = Network(layers, l2=1.0)
    try:
        Network(layers, l2=1.0)
    except (ValueError, RuntimeError):
        return                                     # refusing is fine
    for layer in n1.layers:
        assert np.shares_memory(layer.W, n1.params)
    n1.set_params(3 * n1.get_params())
    X = rng.standard_normal((4, 2))
    y = np.array([0, 1, 0, 1])
    assert n1.loss(X, y) == pytest.approx(n1.gradient(X, y)[0], rel=1e-12)


@pytest.mark.parametrize("kw", [
    dict(activation="leaky_relu", alpha=0.2, loss="mse", output_activation="tanh", l2=0.3),
    dict(activation="elu", alpha=1.7, loss="cross_entropy"),
    dict(activation="gelu", loss="binary_cross_entropy", l2=0.01),
], ids=["leaky-mse-tanh-l2", "elu-ce", "gelu-bce"])
def test_astype_and_copy(rng, kw):
    net = Network([3, 6, 4], dtype=np.float64, seed=5, **kw)
    X = rng.standard_normal((6, 3))
    y = rng.integers(0, 4, 6) if kw["loss"] == "cross_entropy" else rng.uniform(0, 1, (6, 4))
    c = net.copy()
    assert c.dtype == np.float64 and not np.shares_memory(c.params, net.params)
    np.testing.assert_array_equal(c.params, net.params)
    # same architecture, activation parameters, loss and l2: bit-identical results
    assert [(l.activation, l.alpha) for l in c.layers] == \
        [(l.activation, l.alpha) for l in net.layers]
    assert c.loss_name == net.loss_name and c.l2 == net.l2
    l_a, g_a = net.gradient(X, y)
    l_b, g_b = c.gradient(X, y)
    assert l_a == l_b
    np.testing.assert_array_equal(g_a, g_b)
    c.params[:] = 0
    assert np.any(net.params != 0)
    # float64 → float32 → float64: the float32 rounding of the parameters
    n32 = net.astype(np.float32)
    assert n32.dtype == np.float32 and n32.params.dtype == np.float32
    np.testing.assert_array_equal(n32.params, net.params.astype(np.float32))
    back = n32.astype(np.float64)
    np.testing.assert_array_equal(back.params, net.params.astype(np.float32).astype(np.float64))
    assert n32.astype(np.float32).params.tobytes() == n32.params.tobytes()
    # the float32 network computes the same function to float32 accuracy
    np.testing.assert_allclose(n32.forward(X), net.forward(X), rtol=1e-4, atol=1e-6)
    assert n32.loss(X, y) == pytest.approx(net.loss(X, y), rel=1e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pickle_and_deepcopy_rebuild_an_identical_network(rng, dtype):
    import copy
    import pickle
    net = Network([3, 6, 4], activation="leaky_relu", alpha=0.2, dtype=dtype, seed=1, l2=0.01)
    net.scaler = fastmlp.Standardizer(np.ones(3), np.full(3, 2.0))
    X = rng.standard_normal((8, 3))
    y = rng.integers(0, 4, 8)
    opt = fastmlp.Adam(lr=0.01)
    net.train_step(X, y, optimizer=opt)
    net._optimizer = opt                      # fit / partial_fit keep it here
    for clone in (pickle.loads(pickle.dumps(net)), copy.deepcopy(net)):
        assert clone.dtype == dtype and not np.shares_memory(clone.params, net.params)
        np.testing.assert_array_equal(clone.params, net.params)
        assert [(l.activation, l.alpha) for l in clone.layers] == \
            [(l.activation, l.alpha) for l in net.layers]
        assert clone.l2 == net.l2 and clone.training == net.training
        np.testing.assert_array_equal(clone.scaler.scale, net.scaler.scale)
        np.testing.assert_array_equal(clone.forward(X), net.forward(X))
        # the optimizer state came along: the next step is the same step
        twin = net.copy()
        twin_opt = copy.deepcopy(opt)
        twin.train_step(X, y, optimizer=twin_opt)
        clone.train_step(X, y, optimizer=clone._optimizer)
        np.testing.assert_array_equal(clone.params, twin.params)


# ---------------------------------------------------------------------------
# Training reaches a good accuracy
# ---------------------------------------------------------------------------

def test_train_xor_to_high_accuracy():
    X, y = fastmlp.datasets.xor(200, noise=0.1, seed=0)
    net = Network([2, 8, 2], activation="tanh", loss="cross_entropy", seed=0)
    first = net.loss(X, y)
    for _ in range(1000):
        net.train_step(X, y, 0.5)
    assert net.loss(X, y) < first / 5
    assert np.mean(net.predict(X) == y) >= 0.98
    Xt, yt = fastmlp.datasets.xor(200, noise=0.1, seed=1)      # fresh points
    assert np.mean(net.predict(Xt) == yt) >= 0.95


def test_train_spirals_to_95_percent():
    X, y = fastmlp.datasets.spirals(400, seed=0)
    net = Network([2, 64, 64, 2], activation="tanh", loss="cross_entropy", seed=0)
    acc = np.mean(net.predict(X) == y)
    assert acc < 0.8                                  # not solved at initialization
    for _ in range(12):                               # at most 3000 steps
        for _ in range(250):
            net.train_step(X, y, 0.3)
        acc = np.mean(net.predict(X) == y)
        if acc >= 0.95:
            break
    assert acc >= 0.95


def test_train_binary_cross_entropy_and_mse(rng):
    X, y = fastmlp.datasets.xor(200, noise=0.1, seed=2)
    bce = Network([2, 8, 1], activation="tanh", loss="binary_cross_entropy", seed=0)
    for _ in range(1000):
        bce.train_step(X, y.reshape(-1, 1), 0.5)
    assert np.mean(bce.predict(X).ravel() == y) >= 0.95
    # regression: fit y = sin(3x) on [-1, 1]
    Xr = np.linspace(-1, 1, 64).reshape(-1, 1)
    Yr = np.sin(3 * Xr)
    reg = Network([1, 32, 1], activation="tanh", loss="mse", dtype=np.float64, seed=0)
    first = reg.loss(Xr, Yr)
    for _ in range(2000):
        reg.train_step(Xr, Yr, 0.2)
    assert reg.loss(Xr, Yr) < first / 20


# ---------------------------------------------------------------------------
# Threads
# ---------------------------------------------------------------------------

def _run_threads(targets):
    errors = []

    def wrap(fn):
        try:
            fn()
        except BaseException as exc:   # pragma: no cover (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=wrap, args=(fn,)) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors


def test_two_threads_train_the_same_network():
    X, y = fastmlp.datasets.spirals(300, seed=1)
    net = Network([2, 32, 32, 2], activation="tanh", loss="cross_entropy", seed=0)
    first = net.loss(X, y)

    def train(lo, hi):
        for _ in range(400):
            net.train_step(X[lo:hi], y[lo:hi], 0.1)   # different batch sizes

    _run_threads([lambda: train(0, 200), lambda: train(200, 300)])
    assert np.all(np.isfinite(net.params))
    assert net.loss(X, y) < first


def test_concurrent_gradients_are_exact(rng):
    """Calls on one network from several threads give exactly the single-threaded
    answers (the shared workspaces are not trampled)."""
    net = Network([6, 40, 30, 3], activation="gelu", loss="cross_entropy",
                  dtype=np.float64, seed=0)
    data = [(rng.standard_normal((b, 6)), rng.integers(0, 3, b)) for b in (1, 17, 64)]
    expected = [(net.gradient(X, y), net.input_gradient(X, y), net.forward(X))
                for X, y in data]
    mismatches = []

    def worker(k):
        X, y = data[k]
        (l_ref, g_ref), dx_ref, out_ref = expected[k]
        for _ in range(150):
            l, g = net.gradient(X, y)
            ok = (l == l_ref and np.array_equal(g, g_ref)
                  and np.array_equal(net.input_gradient(X, y), dx_ref)
                  and np.array_equal(net.forward(X), out_ref))
            if not ok:
                mismatches.append(k)

    _run_threads([lambda k=k: worker(k) for k in range(3)])
    assert not mismatches


def test_repr_and_properties():
    net = Network([3, 4, 2], activation="elu", loss="binary_cross_entropy", dtype=np.float32,
                  seed=0, l2=0.5)
    r = repr(net)
    assert "[3, 4, 2]" in r and "binary_cross_entropy" in r and "float32" in r
    assert net.loss_name == "binary_cross_entropy" and net.l2 == 0.5
    assert [l.activation for l in net.layers] == ["elu", "sigmoid"]
    assert "elu" in repr(net.layers[0])


# ---------------------------------------------------------------------------
# The suite itself runs against the installed package
# ---------------------------------------------------------------------------

def test_suite_uses_the_installed_package(h):
    assert h.CHECKOUT not in __import__("pathlib").Path(fastmlp.__file__).resolve().parents


def test_running_from_the_checkout_fails_loudly(h, tmp_path):
    """`python -m pytest` from the checkout puts the source tree first on sys.path;
    the conftest (or the package itself) must refuse rather than test the wrong
    fastmlp."""
    import os
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         str(h.CHECKOUT / "tests" / "test_seeds.py")],
        cwd=h.CHECKOUT, env=env, capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-2000:]
    assert ("source checkout" in out) or ("compiled kernels" in out), out[-2000:]
