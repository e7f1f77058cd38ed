"""Whole-network loss, parameter gradient and input gradient against PyTorch
autograd (float64), on many randomly drawn architectures.

Error measure: conftest.rel_err per parameter block (W0, b0, W1, ...), for
∂L/∂X and for the loss value: max|a - r| / max(max|r|, tiny).  The reference
is computed in float64 from the network's own (for float32: float32-rounded)
parameters and data.  Tolerances: float64 1e-10, float32 1e-4.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch", exc_type=ImportError)

from fastmlp import Network  # noqa: E402

HIDDEN = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "gelu"]
LOSSES = ["mse", "cross_entropy", "binary_cross_entropy"]
POISSON = "poisson"       # drawn from its own generator: the draws above stay as they were
MSE_OUTPUTS = [None, "identity", "sigmoid", "tanh", "softmax", "gelu", "softplus", "elu",
               "leaky_relu", "relu"]
TOL = {"float64": 1e-10, "float32": 1e-4}


def _draw(rng, act, loss, dtype, min_depth):
    depth = int(rng.integers(min_depth, 5))                  # number of layers, 1..4
    widths = [int(w) for w in rng.integers(1, 65, size=depth + 1)]
    if loss == "cross_entropy":
        widths[-1] = max(widths[-1], 2)
    if rng.uniform() < 0.25:                                 # exercise the extremes
        widths[int(rng.integers(0, depth + 1))] = int(rng.choice([1, 64]))
        if loss == "cross_entropy":
            widths[-1] = max(widths[-1], 2)
    batch = int(rng.choice([1, 2, 64, *rng.integers(1, 65, size=5)]))
    alpha = None
    if act == "leaky_relu":
        alpha = [None, 0.0, 0.1, 0.3][int(rng.integers(4))]
    elif act == "elu":
        alpha = [None, 0.5, 1.7][int(rng.integers(3))]
    l2 = [0.0, 0.0, 1e-3, 0.1][int(rng.integers(4))]
    out_act = None
    if loss == "mse":
        out_act = MSE_OUTPUTS[int(rng.integers(len(MSE_OUTPUTS)))]
    target = None
    if loss == "cross_entropy":
        target = ["labels", "onehot", "soft"][int(rng.integers(3))]
    return dict(sizes=widths, activation=act, loss=loss, dtype=dtype, alpha=alpha, l2=l2,
                output_activation=out_act, batch=batch, target=target,
                seed=int(rng.integers(2**31)))


def _configs():
    rng = np.random.default_rng(20240601)
    out = []
    # every hidden activation x every loss x both dtypes, with at least one hidden layer
    for dtype in ("float64", "float32"):
        for act in HIDDEN:
            for loss in LOSSES:
                out.append(_draw(rng, act, loss, dtype, min_depth=2))
    # plus free draws, depth 1..4
    for _ in range(40):
        out.append(_draw(rng, HIDDEN[int(rng.integers(len(HIDDEN)))],
                         LOSSES[int(rng.integers(3))],
                         ["float64", "float32"][int(rng.integers(2))], min_depth=1))
    rng = np.random.default_rng(20261202)
    for dtype in ("float64", "float32"):
        for act in HIDDEN:
            out.append(_draw(rng, act, POISSON, dtype, min_depth=int(rng.integers(1, 3))))
    return out


CONFIGS = _configs()


def _cid(c):
    extra = f"-a{c['alpha']}" if c["alpha"] is not None else ""
    extra += f"-out_{c['output_activation']}" if c["output_activation"] else ""
    extra += f"-{c['target']}" if c["target"] else ""
    extra += f"-l2_{c['l2']}" if c["l2"] else ""
    return (f"{c['dtype']}-{c['activation']}{extra}-{c['loss']}-"
            f"{'x'.join(map(str, c['sizes']))}-B{c['batch']}")


def _build(c):
    net = Network(c["sizes"], activation=c["activation"], loss=c["loss"],
                  dtype=np.dtype(c["dtype"]), seed=c["seed"],
                  output_activation=c["output_activation"], alpha=c["alpha"], l2=c["l2"])
    rng = np.random.default_rng(c["seed"] + 1)
    X = rng.standard_normal((c["batch"], c["sizes"][0]))
    return net, X, rng


def _targets(h, rng, c):
    return h.make_targets(rng, c["loss"], c["batch"], c["sizes"][-1], c["target"])


def test_configuration_coverage():
    """The drawn configurations really span the space the suite claims to cover."""
    depths = {len(c["sizes"]) - 1 for c in CONFIGS}
    widths = {w for c in CONFIGS for w in c["sizes"]}
    batches = {c["batch"] for c in CONFIGS}
    assert depths == {1, 2, 3, 4}
    assert 1 in widths and 64 in widths
    assert 1 in batches and 64 in batches
    assert {(c["activation"], c["loss"], c["dtype"]) for c in CONFIGS} >= \
        {(a, l, d) for a in HIDDEN for l in [*LOSSES, POISSON] for d in ("float64", "float32")}
    assert any(c["l2"] > 0 for c in CONFIGS)
    assert {c["alpha"] for c in CONFIGS if c["activation"] == "leaky_relu"} - {None}
    assert {c["alpha"] for c in CONFIGS if c["activation"] == "elu"} - {None}
    assert {c["target"] for c in CONFIGS} >= {"labels", "onehot", "soft"}
    assert len(CONFIGS) >= 60


@pytest.mark.parametrize("c", CONFIGS, ids=_cid)
def test_loss_and_gradients_match_torch(h, torch_ref, c):
    net, X, rng = _build(c)
    y = _targets(h, rng, c)
    ref = torch_ref(net)
    Xr = X.astype(net.dtype)                      # the data the network really sees
    r_loss, r_grad, r_dX = ref.loss_and_grads(Xr, y)
    tol = TOL[c["dtype"]]

    value = net.loss(X, y)
    g_value, grad = net.gradient(X, y)
    dX = net.input_gradient(X, y)

    assert grad.dtype == net.dtype and grad.shape == (net.n_params,)
    assert dX.dtype == net.dtype and dX.shape == X.shape
    assert h.rel_err(value, r_loss) <= tol
    assert h.rel_err(g_value, r_loss) <= tol
    errs = h.blockwise_rel_err(net, grad, r_grad)
    assert max(errs.values()) <= tol, errs
    assert h.rel_err(dX, r_dX) <= tol


# every hidden activation x loss in float64 (the first 24 configurations), half of
# them again in float32, and a few free draws
STEP_CONFIGS = CONFIGS[:24] + CONFIGS[24:48:2] + CONFIGS[48::8]


@pytest.mark.parametrize("c", STEP_CONFIGS, ids=_cid)
def test_train_step_matches_torch_sgd(h, torch_ref, c):
    """Params after 1 and after 5 plain SGD steps (different batches) equal
    torch.optim.SGD on the same loss; train_step returns the loss BEFORE the step."""
    net, _, rng = _build(c)
    batches = []
    for _ in range(5):
        X = rng.standard_normal((c["batch"], c["sizes"][0])).astype(net.dtype)
        batches.append((X, _targets(h, rng, c)))
    lr = 0.05 if c["loss"] != POISSON else 0.005     # e^z: steps grow with the mean
    tol = TOL[c["dtype"]]
    p0 = net.get_params().astype(np.float64)
    ref = torch_ref(net)

    r_losses = ref.sgd_steps(batches[:1], lr)
    losses = [net.train_step(*batches[0], lr)]
    for name, s in h.block_slices(net):
        # the update itself, and the parameters
        upd = net.params[s].astype(np.float64) - p0[s]
        r_upd = ref.flat(ref.parameters())[s] - p0[s]
        assert h.rel_err(upd, r_upd) <= (tol if c["dtype"] == "float64" else 1e-3), name
        assert h.rel_err(net.params[s], ref.flat(ref.parameters())[s]) <= tol, name

    r_losses += ref.sgd_steps(batches[1:], lr)
    losses += [net.train_step(X, y, lr) for X, y in batches[1:]]
    errs = h.blockwise_rel_err(net, net.params, ref.flat(ref.parameters()))
    assert max(errs.values()) <= tol, errs
    np.testing.assert_allclose(losses, r_losses, rtol=tol, atol=0)


def test_train_step_lr_zero_and_gradient_consistency(h, rng):
    """lr = 0 leaves params unchanged; one step equals params - lr * gradient()."""
    net = Network([4, 8, 3], activation="tanh", loss="cross_entropy", dtype=np.float64,
                  seed=1, l2=0.01)
    X = rng.standard_normal((10, 4))
    y = rng.integers(0, 3, 10)
    p0 = net.get_params()
    loss0 = net.train_step(X, y, 0.0)
    np.testing.assert_array_equal(net.params, p0)
    value, grad = net.gradient(X, y)
    assert loss0 == pytest.approx(value, rel=1e-14)
    net.train_step(X, y, 0.3)
    assert h.rel_err(net.params - p0, -0.3 * grad) <= 1e-10


# ---------------------------------------------------------------------------
# The seed-003 network
# ---------------------------------------------------------------------------

def test_seed_003_network_matches_torch(h):
    """Three layers tanh/tanh/identity, every weight and bias 0.1, mse.

    The article stores samples as columns: x = [[3, 2], [4, 5]] holds samples
    (3, 4) and (2, 5); fastmlp takes rows, so X = [[3, 4], [2, 5]].  Its loss is
    the mean over ALL elements of (out - y)²; fastmlp's mse is (1/B) Σ_i ½ Σ_k
    (out - y)², and with B = K = 2 both are sum/4: checked here in torch, values
    AND gradients, before comparing fastmlp with the article's loss."""
    X = np.array([[3.0, 4.0], [2.0, 5.0]])
    Y = np.array([[2.0, 2.0], [1.0, 2.0]])
    net = Network([2, 3, 3, 2], activation="tanh", loss="mse", dtype=np.float64, seed=0)
    assert [l.activation for l in net.layers] == ["tanh", "tanh", "identity"]
    assert [l.W.shape for l in net.layers] == [(2, 3), (3, 3), (3, 2)]
    net.set_params(np.full(net.n_params, 0.1))

    Ws = [torch.full(s, 0.1, dtype=torch.float64, requires_grad=True)
          for s in [(2, 3), (3, 3), (3, 2)]]
    bs = [torch.full((n,), 0.1, dtype=torch.float64, requires_grad=True) for n in (3, 3, 2)]

    def losses():
        a = torch.tensor(X)
        a = torch.tanh(a @ Ws[0] + bs[0])
        a = torch.tanh(a @ Ws[1] + bs[1])
        out = a @ Ws[2] + bs[2]
        T = torch.tensor(Y)
        article = ((out - T) ** 2).mean()
        ours = 0.5 * ((out - T) ** 2).sum() / X.shape[0]
        return article, ours

    def flat_grad(value):
        params = [p for pair in zip(Ws, bs) for p in pair]
        grads = torch.autograd.grad(value, params)
        return np.concatenate([g.numpy().ravel() for g in grads])

    article, ours = losses()
    article_value = float(article.detach())
    assert article_value == pytest.approx(float(ours.detach()), rel=1e-15)
    g_article = flat_grad(article)
    g_ours = flat_grad(losses()[1])
    np.testing.assert_allclose(g_article, g_ours, rtol=1e-14, atol=1e-16)

    value, grad = net.gradient(X, Y)
    assert h.rel_err(value, article_value) <= 1e-12
    assert h.rel_err(net.loss(X, Y), article_value) <= 1e-12
    errs = h.blockwise_rel_err(net, grad, g_article)
    assert max(errs.values()) <= 1e-12, errs
    # symmetry of the construction: all hidden units are identical, so every
    # column of dW0 and dW1 is the same
    W0g = grad[:6].reshape(2, 3)
    assert np.allclose(W0g, W0g[:, :1], rtol=1e-13)
