"""Dropout: the counter-based masks against a NumPy re-implementation of their
definition (csrc/_dropout.pxd), their statistics, and the gradients under a fixed
mask against PyTorch autograd (fed the NumPy masks) and the numerical gradient.

Error measure: conftest.rel_err per block; float64 1e-10, float32 1e-4.
Statistical bounds are 6 standard deviations of the binomial count (a false alarm
has probability ~2e-9 per check).
"""
import math
import pickle

import numpy as np
import pytest

from fastmlp import Layer, Network, _kernels, optim
from fastmlp.dropout import dropout_mask
from fastmlp.gradcheck import check_gradients

HIDDEN = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "gelu"]
LOSSES = ["mse", "cross_entropy", "binary_cross_entropy"]
TOL = {"float64": 1e-10, "float32": 1e-4}

# ---------------------------------------------------------------------------
# The mask, from its definition, in plain Python / NumPy integers
# ---------------------------------------------------------------------------

M64 = 2**64 - 1
GAMMA = 0x9E3779B97F4A7C15


def _mix(z):
    """SplitMix64's output function on Python ints or uint64 arrays (mod 2**64)."""
    if isinstance(z, int):
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def np_keep(key, step, layer, rate, rows, units, row0=0):
    """Boolean (rows, units): which units training step `step` keeps in `layer`."""
    s = _mix((_mix((_mix(key) + step) & M64) + layer) & M64)
    row_keys = np.array([_mix((s + (row0 + r + 1) * GAMMA) & M64) for r in range(rows)],
                        dtype=np.uint64)
    pair = (np.arange(units) // 2 + 1).astype(np.uint64) * np.uint64(GAMMA)
    w = _mix(row_keys[:, None] + pair[None, :])                       # wraps mod 2**64
    u32 = np.where(np.arange(units) % 2 == 0, w & np.uint64(0xFFFFFFFF), w >> np.uint64(32))
    thr = min(math.floor(rate * 2**32 + 0.5), 2**32 - 1)
    return u32 >= np.uint64(thr)


def np_mask(key, step, layer, rate, rows, units, dtype=np.float64):
    """The multipliers: 0 for a dropped unit, 1/(1 - rate) (in dtype) for a kept one."""
    scale = np.asarray(1 / (1 - rate), dtype=dtype)
    return np.where(np_keep(key, step, layer, rate, rows, units), scale, 0).astype(dtype)


def net_masks(net, B, step):
    """The NumPy masks of a training step for each hidden layer (None: no dropout)."""
    return [np_mask(net.dropout_key, step, l, layer.dropout, B, layer.n_out, net.dtype)
            if layer.dropout else None for l, layer in enumerate(net.layers)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("units", [1, 2, 7, 64])
@pytest.mark.parametrize("rate", [0.1, 0.5, 0.3, 0.97])
def test_kernel_mask_equals_its_definition(dtype, units, rate):
    key, step, layer = 0xDEADBEEF12345678, 2**63 + 5, 3
    got = dropout_mask(key, step, layer, rate, (33, units), dtype)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, np_mask(key, step, layer, rate, 33, units, dtype))


def test_mask_rows_do_not_depend_on_the_batch_split():
    """Row r's mask is a function of r: computed in chunks (rows offset) it is the same."""
    whole = np.empty((50, 9))
    _kernels.dropout_mask(whole, 7, 11, 1, 0.4)
    parts = [np.empty((n, 9)) for n in (1, 20, 29)]
    row0 = 0
    for part in parts:
        _kernels.dropout_mask(part, 7, 11, 1, 0.4, row0)
        row0 += part.shape[0]
    np.testing.assert_array_equal(np.vstack(parts), whole)
    np.testing.assert_array_equal(whole != 0, np_keep(7, 11, 1, 0.4, 50, 9))


# ---------------------------------------------------------------------------
# Statistics of the masks
# ---------------------------------------------------------------------------

def _within(count, n, prob, sigmas=6.0):
    return abs(count - n * prob) <= sigmas * math.sqrt(n * prob * (1 - prob))


@pytest.mark.parametrize("rate", [0.05, 0.2, 0.5, 0.9])
def test_keep_rate_is_binomial(rate):
    rows, units = 1000, 999                       # odd: the last unit of a row too
    keep = dropout_mask(12345, 6, 2, rate, (rows, units)) != 0
    assert _within(keep.sum(), keep.size, 1 - rate)
    # every unit and every row on its own (each column is 1000 Bernoulli draws)
    assert all(_within(c, rows, 1 - rate) for c in keep.sum(axis=0))
    assert all(_within(c, units, 1 - rate) for c in keep.sum(axis=1))
    # the two units drawn from one 64-bit word are independent
    both = (keep[:, 0:-1:2] & keep[:, 1::2]).sum()
    assert _within(both, rows * (units // 2), (1 - rate) ** 2)
    # inverted dropout: the multipliers average to 1
    m = dropout_mask(12345, 6, 2, rate, (rows, units))
    assert set(np.unique(m)) <= {0.0, 1 / (1 - rate)}


@pytest.mark.parametrize("other", ["step", "layer", "key", "adjacent row"])
def test_masks_differ_across_steps_layers_and_keys(other):
    """Two masks that should be independent agree on a unit with probability
    p² + (1-p)², and not more."""
    rate, shape = 0.5, (400, 250)
    a = dropout_mask(99, 10, 1, rate, shape) != 0
    if other == "step":
        b = dropout_mask(99, 11, 1, rate, shape) != 0
    elif other == "layer":
        b = dropout_mask(99, 10, 2, rate, shape) != 0
    elif other == "key":
        b = dropout_mask(100, 10, 1, rate, shape) != 0
    else:
        a, b = a[:-1], a[1:]
    assert not np.array_equal(a, b)
    assert _within((a == b).sum(), a.size, rate ** 2 + (1 - rate) ** 2)


def test_same_seed_same_masks_other_seed_other_masks(rng):
    X = rng.standard_normal((16, 5))
    y = rng.integers(0, 3, 16)

    def grads(seed, steps=3):
        net = Network([5, 32, 3], activation="tanh", dtype=np.float64, seed=seed, dropout=0.5)
        return net.dropout_key, [net.gradient(X, y, training=True)[1] for _ in range(steps)]

    key, g = grads(4)
    key2, g2 = grads(4)
    key3, g3 = grads(5)
    assert key == key2 and key != key3
    for a, b in zip(g, g2):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(g[0], g3[0])
    assert not np.array_equal(g[0], g[1])                 # a new mask each step


def test_masks_are_the_same_whatever_the_blas_thread_count(rng):
    """The kernels draw the mask from (key, step, layer, row, unit) alone: with 1 or 2
    BLAS threads the same units are dropped and the gradients agree."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    layer = Layer(64, 512, "tanh", np.float64, seed=1, dropout=0.3)
    net = Network([64, 512, 256, 10], activation="tanh", dtype=np.float64, seed=1,
                  dropout=[0.3, 0.6])
    X = rng.standard_normal((256, 64))
    y = rng.integers(0, 10, 256)
    out, grads = {}, {}
    for threads in (1, 2):
        with threadpoolctl.threadpool_limits(limits=threads, user_api="blas"):
            layer.dropout_step = 17
            out[threads] = layer.forward(X, training=True)
            grads[threads] = net.gradient(X, y, dropout_step=17)[1]
    np.testing.assert_array_equal(out[1] == 0, out[2] == 0)
    np.testing.assert_array_equal(out[1] == 0, ~np_keep(layer.dropout_key, 17, 0, 0.3, 256, 512))
    np.testing.assert_allclose(out[1], out[2], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grads[1], grads[2], rtol=1e-10, atol=1e-14)


# ---------------------------------------------------------------------------
# Gradients under a fixed mask
# ---------------------------------------------------------------------------

def _configs():
    rng = np.random.default_rng(20261202)
    out = []
    for dtype in ("float64", "float32"):
        for act in HIDDEN:
            for loss in LOSSES:
                depth = int(rng.integers(2, 5))
                sizes = [int(w) for w in rng.integers(2, 40, size=depth + 1)]
                rates = [float(r) for r in rng.choice([0.0, 0.1, 0.5, 0.8], size=depth - 1)]
                rates[int(rng.integers(depth - 1))] = 0.5          # at least one layer drops
                out.append(dict(dtype=dtype, act=act, loss=loss, sizes=sizes, rates=rates,
                                batch=int(rng.choice([1, 3, 17, 40])),
                                l2=float(rng.choice([0.0, 0.01])),
                                step=int(rng.integers(2**64, dtype=np.uint64)),
                                seed=int(rng.integers(2**31))))
    return out


CONFIGS = _configs()


def _cid(c):
    return (f"{c['dtype']}-{c['act']}-{c['loss']}-{'x'.join(map(str, c['sizes']))}-"
            f"p{'_'.join(map(str, c['rates']))}-B{c['batch']}")


def _build(h, c):
    net = Network(c["sizes"], activation=c["act"], loss=c["loss"], dtype=np.dtype(c["dtype"]),
                  seed=c["seed"], l2=c["l2"], dropout=c["rates"])
    rng = np.random.default_rng(c["seed"])
    net.params[...] += rng.uniform(-0.1, 0.1, net.n_params).astype(net.dtype)   # biases too
    X = rng.standard_normal((c["batch"], c["sizes"][0])).astype(net.dtype)
    y = h.make_targets(rng, c["loss"], c["batch"], c["sizes"][-1])
    return net, X, y


def masked_reference(h, torch, net, masks):
    """conftest's float64 PyTorch reference, each hidden output multiplied by its mask."""
    tensors = [None if m is None else torch.tensor(m.astype(np.float64)) for m in masks]

    class Masked(h.TorchReference):
        def output(self, X, logits=False):
            A, n = X, len(self.Ws)
            for i, (W, b, name, alpha) in enumerate(zip(self.Ws, self.bs, self.activations,
                                                         self.alphas)):
                Z = A @ W + b
                if logits and i == n - 1:
                    return Z
                A = self._act(name, Z, alpha)
                if tensors[i] is not None:
                    A = A * tensors[i]
            return A

    return Masked(torch, net)


@pytest.mark.parametrize("c", CONFIGS, ids=_cid)
def test_gradient_with_a_fixed_mask_matches_torch(h, torch, c):
    net, X, y = _build(h, c)
    masks = net_masks(net, c["batch"], c["step"])
    ref = masked_reference(h, torch, net, masks)
    r_loss, r_grad, _ = ref.loss_and_grads(X, y)
    tol = TOL[c["dtype"]]

    value = net.loss(X, y, dropout_step=c["step"])
    g_value, grad = net.gradient(X, y, dropout_step=c["step"])
    assert h.rel_err(value, r_loss) <= tol
    assert h.rel_err(g_value, r_loss) <= tol
    errs = h.blockwise_rel_err(net, grad, r_grad)
    assert max(errs.values()) <= tol, errs
    # the mask matters: without it the reference differs
    _, plain, _ = h.TorchReference(torch, net).loss_and_grads(X, y)
    assert max(h.blockwise_rel_err(net, plain, r_grad).values()) > 0.01
    assert net.dropout_step == 0                  # fixed masks advance nothing


@pytest.mark.parametrize("c", CONFIGS[::4], ids=_cid)
def test_training_step_matches_torch_sgd_with_the_same_mask(h, torch, c):
    """train_step (the SGD update folded into the backward GEMMs) uses the masks of
    step dropout_step, then moves on to the next step."""
    net, X, y = _build(h, c)
    net.dropout_step = c["step"]
    ref = masked_reference(h, torch, net, net_masks(net, c["batch"], c["step"]))
    r_loss, = ref.sgd_steps([(X, y)], lr=0.1)
    loss = net.train_step(X, y, lr=0.1)
    tol = TOL[c["dtype"]]
    assert h.rel_err(loss, r_loss) <= tol
    errs = h.blockwise_rel_err(net, net.params, ref.flat(ref.parameters()))
    assert max(errs.values()) <= tol, errs
    assert net.dropout_step == (c["step"] + 1) % 2**64


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("act", HIDDEN)
def test_gradient_with_a_fixed_mask_matches_the_numerical_gradient(rng, act, dtype):
    net = Network([6, 12, 9, 3], activation=act, loss="cross_entropy", dtype=dtype, seed=2,
                  dropout=[0.4, 0.25])
    X = rng.standard_normal((8, 6))
    y = rng.integers(0, 3, 8)
    report = check_gradients(net, X, y, dropout_step=41)
    assert report.ok, str(report)
    assert report.max_rel_error < 1e-6
    # the check sees the mask: against the mask of another step it fails
    other = net.gradient(X, y, dropout_step=42)[1]
    own = net.gradient(X, y, dropout_step=41)[1]
    assert np.abs(other - own).max() > 1e-3 * np.abs(own).max()


def test_training_gradient_uses_the_next_step_and_advances(rng):
    net = Network([4, 10, 3], activation="tanh", dtype=np.float64, seed=0, dropout=0.5)
    X, y = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    net.dropout_step = 5
    fixed = net.gradient(X, y, dropout_step=5)
    assert net.dropout_step == 5
    drawn = net.gradient(X, y, training=True)
    assert net.dropout_step == 6
    np.testing.assert_array_equal(fixed[1], drawn[1])
    assert fixed[0] == drawn[0]
    # without training, the gradient of the deterministic loss, and nothing advances
    value, _ = net.gradient(X, y)
    assert value == net.loss(X, y) and net.dropout_step == 6


def test_optimizer_step_uses_the_same_masks_as_sgd(rng):
    """train_step with an SGD optimizer (the path fit takes) equals the folded SGD step."""
    a = Network([5, 16, 8, 2], activation="relu", dtype=np.float64, seed=3, dropout=[0.3, 0.5])
    b = a.copy()
    assert (b.dropout_key, b.dropout_step, b.dropout) == (a.dropout_key, 0, [0.3, 0.5])
    opt = optim.SGD(lr=0.2)
    for _ in range(3):
        X, y = rng.standard_normal((9, 5)), rng.integers(0, 2, 9)
        la = a.train_step(X, y, lr=0.2)
        lb = b.train_step(X, y, optimizer=opt)
        assert lb == pytest.approx(la, rel=1e-12)
    np.testing.assert_allclose(b.params, a.params, rtol=1e-12, atol=1e-14)
    assert a.dropout_step == b.dropout_step == 3


# ---------------------------------------------------------------------------
# No dropout outside training
# ---------------------------------------------------------------------------

def test_inference_never_drops(h, rng):
    net = Network([5, 20, 20, 3], activation="sigmoid", dtype=np.float64, seed=1, dropout=0.5)
    X, y = rng.standard_normal((30, 5)), rng.integers(0, 3, 30)
    net.fit(X, y, epochs=2, batch_size=8, seed=0, standardize=False)
    plain = Network([5, 20, 20, 3], activation="sigmoid", dtype=np.float64, seed=1)
    plain.set_params(net.params)
    _, As = h.np_forward(net, X)
    assert h.rel_err(net.forward(X), As[-1]) <= 1e-12
    np.testing.assert_array_equal(net.forward(X), plain.forward(X))
    np.testing.assert_array_equal(net.predict(X), plain.predict(X))
    assert net.loss(X, y) == plain.loss(X, y)
    assert net.evaluate(X, y) == plain.evaluate(X, y)
    assert net.gradient(X, y)[0] == plain.gradient(X, y)[0]
    np.testing.assert_array_equal(net.input_gradient(X, y), plain.input_gradient(X, y))


# ---------------------------------------------------------------------------
# fit and partial_fit
# ---------------------------------------------------------------------------

def test_fit_is_reproducible_from_its_seed(rng):
    X, y = rng.standard_normal((64, 6)), rng.integers(0, 3, 64)

    def fitted(seed, dropout, fit_seed=0):
        net = Network([6, 24, 3], activation="relu", dtype=np.float64, seed=seed,
                      dropout=dropout)
        net.fit(X, y, epochs=3, batch_size=16, seed=fit_seed)
        return net

    a, b = fitted(1, 0.4), fitted(1, 0.4)
    np.testing.assert_array_equal(a.params, b.params)
    assert a.dropout_step == 12                               # 3 epochs × 4 steps
    assert not np.array_equal(a.params, fitted(1, 0.0).params)
    assert not np.array_equal(a.params, fitted(1, 0.4, fit_seed=1).params)
    # the fit's seed, not the network's, keys its masks
    c = Network([6, 24, 3], activation="relu", dtype=np.float64, seed=1, dropout=0.4)
    c.dropout_key = 123
    c.fit(X, y, epochs=3, batch_size=16, seed=0)
    np.testing.assert_array_equal(c.params, a.params)
    # partial_fit continues the stream
    a.partial_fit(X, y, batch_size=16, seed=0)
    assert a.dropout_step == 16


def test_lbfgs_refuses_dropout(rng):
    net = Network([3, 5, 2], dtype=np.float64, seed=0, dropout=0.2)
    p0 = net.get_params()
    with pytest.raises(ValueError, match="lbfgs.*dropout"):
        net.fit(rng.standard_normal((8, 3)), rng.integers(0, 2, 8), optimizer="lbfgs")
    np.testing.assert_array_equal(net.params, p0)


# ---------------------------------------------------------------------------
# Layer
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("act", HIDDEN)
def test_layer_forward_and_backward_apply_one_mask(h, rng, act, dtype):
    layer = Layer(7, 9, act, dtype, seed=5, dropout=0.35)
    layer.b = rng.uniform(-0.5, 0.5, 9)
    X = rng.standard_normal((11, 7)).astype(dtype)
    G = rng.standard_normal((11, 9)).astype(dtype)
    key, step = layer.dropout_key, layer.dropout_step
    m = np_mask(key, step, 0, 0.35, 11, 9, dtype).astype(np.float64)
    alpha = layer.alpha if act in ("leaky_relu", "elu") else None
    Z = X.astype(np.float64) @ layer.W.astype(np.float64) + layer.b.astype(np.float64)
    tol = h.tol(dtype)

    A = layer.forward(X, training=True)
    assert layer.dropout_step == step + 1
    assert h.rel_err(A, h.np_act(act, Z, alpha) * m) <= tol
    assert np.all(A[m == 0] == 0)
    D = layer.backward(G)
    delta, dW, db, below = h.np_layer_backward(act, X, layer.W, layer.b, G * m, alpha)
    assert h.rel_err(layer.delta, delta) <= tol
    assert h.rel_err(layer.dW, dW) <= tol
    assert h.rel_err(layer.db, db) <= tol
    assert h.rel_err(D, below) <= tol
    # not training: no mask, nothing advances
    np.testing.assert_allclose(layer.forward(X), h.np_act(act, Z, alpha), rtol=tol, atol=tol)
    assert layer.dropout_step == step + 1


def test_network_built_from_layers_takes_their_rates():
    layers = [Layer(4, 8, "tanh", dropout=0.25), Layer(8, 8, "tanh"), Layer(8, 2, "identity")]
    net = Network(layers, loss="mse")
    assert net.dropout == [0.25, 0.0]
    assert "dropout=[0.25, 0.0]" in repr(net) and "dropout=0.25" in repr(layers[0])
    with pytest.raises(TypeError, match="dropout is set on each Layer"):
        Network([Layer(4, 8), Layer(8, 2, "softmax")], dropout=0.5)
    with pytest.raises(ValueError, match="output layer cannot have dropout"):
        Network([Layer(4, 8), Layer(8, 2, "softmax", dropout=0.5)])


# ---------------------------------------------------------------------------
# Bad input, copies, model files
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("bad, error, text", [
    (1.0, ValueError, r"dropout must be in \[0, 1\)"),
    (-0.1, ValueError, r"dropout must be in \[0, 1\)"),
    (float("nan"), ValueError, r"dropout must be in"),
    ("0.5", TypeError, "dropout must be a number"),
    (True, TypeError, "dropout must be a number"),
    ([0.5], ValueError, "list of 2 rates"),
    ([0.5, 1.5], ValueError, r"dropout\[1\] must be in"),
])
def test_bad_rates_are_refused(bad, error, text):
    with pytest.raises(error, match=text):
        Network([3, 4, 4, 2], dropout=bad)
    with pytest.raises(error if not isinstance(bad, list) else TypeError):
        Layer(3, 4, dropout=bad)


def test_bad_dropout_step_is_refused_and_changes_nothing(rng):
    net = Network([3, 4, 2], dtype=np.float64, seed=0, dropout=0.5)
    X, y = rng.standard_normal((2, 3)), [0, 1]
    for bad, error in ((-1, ValueError), (2**64, ValueError), (1.5, TypeError),
                       (True, TypeError)):
        with pytest.raises(error, match="dropout_step"):
            net.gradient(X, y, dropout_step=bad)
        with pytest.raises(error, match="dropout_step"):
            net.loss(X, y, dropout_step=bad)
        for obj in (net, net.layers[0]):
            for name in ("dropout_key", "dropout_step"):
                with pytest.raises(error, match=name):
                    setattr(obj, name, bad)
    assert net.dropout_step == 0 and net.layers[0].dropout_step == 0


def test_copies_pickles_and_model_files_keep_the_rates(tmp_path, rng):
    from fastmlp import io as fio
    net = Network([4, 6, 5, 3], activation="gelu", dtype=np.float32, seed=9,
                  dropout=[0.5, 0.125])
    net.dropout_step = 7
    X, y = rng.standard_normal((5, 4)), rng.integers(0, 3, 5)
    for other in (pickle.loads(pickle.dumps(net)), net.copy(), net.astype(np.float64)):
        assert other.dropout == [0.5, 0.125]
        assert (other.dropout_key, other.dropout_step) == (net.dropout_key, 7)
        np.testing.assert_allclose(other.gradient(X, y, training=True)[1],
                                   net.copy().gradient(X, y, training=True)[1], rtol=1e-5)
    fio.save(net, tmp_path / "m.npz")
    loaded = fio.load(tmp_path / "m.npz")
    assert loaded.dropout == [0.5, 0.125]
    np.testing.assert_array_equal(loaded.forward(X), net.forward(X))
    # a file without dropout has no "dropout" key (as files before it), and loads as 0
    plain = Network([4, 6, 3], seed=0)
    fio.save(plain, tmp_path / "p.npz")
    with np.load(tmp_path / "p.npz") as z:
        assert '"dropout"' not in str(z["meta"][()])
    assert fio.load(tmp_path / "p.npz").dropout == [0.0]


@pytest.mark.parametrize("bad", [[0.5, 1.0, 0.0], [0.5, 0.5], "0.5", [0.5, True, 0.0],
                                 [0.0, 0.0, 0.5]])
def test_model_file_with_bad_rates_is_refused(tmp_path, bad):
    import json
    from fastmlp import io as fio
    net = Network([3, 4, 4, 2], seed=0, dropout=0.5)
    fio.save(net, tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as z:
        meta, params = json.loads(str(z["meta"][()])), z["params"]
    assert meta["dropout"] == [0.5, 0.5, 0.0]
    meta["dropout"] = bad
    np.savez(tmp_path / "bad.npz", meta=np.array(json.dumps(meta)), params=params)
    with pytest.raises(ValueError, match="bad.npz.*dropout"):
        fio.load(tmp_path / "bad.npz")
