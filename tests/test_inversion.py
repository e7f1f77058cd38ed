"""Input inversion (fastmlp.invert) and the input derivatives it is built on
(Network.jacobian, Network.input_gradient), against independent references.

References
----------
* Jacobians and input gradients: PyTorch float64 autograd on a copy of the network
  (conftest.TorchReference; the scaler written out in torch), and central differences of
  net.forward written here.  Error: conftest.rel_err per sample (the whole n_out × n_in
  block), float64 ≤ 1e-10, float32 ≤ 1e-4 (reference from the float32 parameters).
* Inversion: networks whose inverse is known in closed form — identity-activation nets
  (an affine map x -> A x + c, A and c composed here from the layers' W and b): exact
  solutions, the ridge closed form (AᵀA + reg·D⁻²)⁻¹(Aᵀ(t - c) + reg·D⁻² x_ref), the
  minimum-norm solution (np.linalg.lstsq) as reg -> 0, the box-constrained least-squares
  point (scipy.optimize.lsq_linear) for unreachable targets; a net fitted to an
  invertible linear map (np.linalg.solve, tolerance from the measured fit error); 1-D
  monotone nets (scipy.optimize.brentq on net.forward).
* Class targets on a small MNIST-24k network (trained here, seed fixed): the class
  probability of every returned x recomputed with conftest.np_forward (float64 NumPy).

Every test is deterministic (seeds fixed); the file runs in well under a minute.
"""
from pathlib import Path

import numpy as np
import pytest
import scipy.optimize

import fastmlp
from fastmlp import Network, Standardizer, invert

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
HIDDEN = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "gelu"]
MSE_OUTPUTS = ["identity", "sigmoid", "tanh", "softmax", "gelu", "softplus", "elu",
               "leaky_relu", "relu"]


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def _seed(*parts):
    import zlib
    return zlib.crc32(repr(parts).encode())


def random_net(rng, act, loss, dtype=np.float64, out_act=None, scaler=False, max_width=10,
               weight_sd=0.8):
    """A random architecture (1-3 layers, widths 1..max_width) with random parameters
    large enough that every activation works off its linear regime."""
    depth = int(rng.integers(1, 4))
    widths = [int(w) for w in rng.integers(1, max_width + 1, size=depth + 1)]
    if loss == "cross_entropy":
        widths[-1] = max(widths[-1], 2)
    alpha = None
    if act == "leaky_relu":
        alpha = [None, 0.0, 0.2][int(rng.integers(3))]
    elif act == "elu":
        alpha = [None, 0.5, 1.7][int(rng.integers(3))]
    kw = {"output_activation": out_act} if out_act else {}
    net = Network(widths, act, loss, dtype=dtype, seed=int(rng.integers(2**31)),
                  alpha=alpha, **kw)
    net.set_params(rng.normal(0, weight_sd, net.n_params).astype(dtype))
    if scaler:
        net.scaler = Standardizer(rng.normal(0, 2, widths[0]),
                                  rng.uniform(0.2, 5.0, widths[0]))
    return net


def random_inputs(rng, net, B, sd=1.5):
    n_in = net.sizes[0]
    X = rng.normal(0, sd, (B, n_in))
    if net.scaler is not None:                      # raw units around the scaler's mean
        X = net.scaler.mean + net.scaler.scale * X
    return X.astype(net.dtype)


def torch_jacobian(torch, h, net, X, logits=False):
    """(B, n_out, n_in): d output / d RAW input, float64 autograd, row by row."""
    ref = h.TorchReference(torch, net)
    mean = scale = None
    if net.scaler is not None:
        mean = torch.tensor(net.scaler.mean)
        scale = torch.tensor(net.scaler.scale)

    def f(x):
        xs = x if mean is None else (x - mean) / scale
        return ref.output(xs[None, :], logits=logits)[0]

    X = np.asarray(X, np.float64)
    return np.stack([torch.autograd.functional.jacobian(f, torch.tensor(row)).numpy()
                     for row in X])


def torch_input_gradient(torch, h, net, X, y):
    """d (batch-mean loss + penalty) / d RAW X, float64 autograd."""
    ref = h.TorchReference(torch, net)
    Xt = torch.tensor(np.asarray(X, np.float64), requires_grad=True)
    Xs = Xt
    if net.scaler is not None:
        Xs = (Xt - torch.tensor(net.scaler.mean)) / torch.tensor(net.scaler.scale)
    ref.loss(Xs, y).backward()
    return Xt.grad.numpy()


def worst_sample_err(h, J, R):
    return max(h.rel_err(J[b], R[b]) for b in range(J.shape[0]))


def affine_map(net):
    """(A, c) with net(x) = A x + c for an identity-activation mse net (raw units)."""
    A = np.eye(net.sizes[0])
    c = np.zeros(net.sizes[0])
    for layer in net.layers:
        W, b = layer.W.astype(np.float64), layer.b.astype(np.float64)
        A, c = W.T @ A, W.T @ c + b
    if net.scaler is not None:                      # x_s = (x - m) / s
        s, m = net.scaler.scale, net.scaler.mean
        A, c = A / s, c - (A / s) @ m
    return A, c


def identity_net(n_in, n_out, seed, hidden=(), scaler=None):
    net = Network([n_in, *hidden, n_out], "identity", "mse", dtype=np.float64, seed=seed)
    if scaler is not None:
        net.scaler = scaler
    return net


def values_tolerance(t, atol=1e-4, rtol=1e-3):
    t = np.asarray(t, np.float64)
    return atol + rtol * np.abs(t[~np.isnan(t)]).max()


# ---------------------------------------------------------------------------
# 1. Jacobian and input gradient
# ---------------------------------------------------------------------------

OUTPUT_CASES = [("mse", False), ("cross_entropy", False), ("cross_entropy", True),
                ("binary_cross_entropy", False), ("binary_cross_entropy", True)]


@pytest.mark.parametrize("scaled", [False, True], ids=["raw", "scaler"])
@pytest.mark.parametrize("loss,logits", OUTPUT_CASES,
                         ids=[f"{l}{'-logits' if g else ''}" for l, g in OUTPUT_CASES])
@pytest.mark.parametrize("act", HIDDEN)
def test_jacobian_against_torch(h, torch, act, loss, logits, scaled):
    rng = np.random.default_rng(_seed("jac", act, loss, logits, scaled))
    out_act = MSE_OUTPUTS[int(rng.integers(len(MSE_OUTPUTS)))] if loss == "mse" else None
    for _ in range(3):                                   # three random architectures
        net = random_net(rng, act, loss, out_act=out_act, scaler=scaled)
        X = random_inputs(rng, net, int(rng.integers(1, 6)))
        J = net.jacobian(X, logits=logits)
        assert J.shape == (X.shape[0], net.sizes[-1], net.sizes[0])
        R = torch_jacobian(torch, h, net, X, logits)
        err = worst_sample_err(h, J, R)
        assert err <= 1e-10, (net, out_act, err)


@pytest.mark.parametrize("out_act", MSE_OUTPUTS)
def test_jacobian_every_mse_output_activation(h, torch, out_act):
    rng = np.random.default_rng(_seed("jac-out", out_act))
    for scaled in (False, True):
        net = random_net(rng, "tanh", "mse", out_act=out_act, scaler=scaled)
        X = random_inputs(rng, net, 4)
        assert worst_sample_err(h, net.jacobian(X), torch_jacobian(torch, h, net, X)) <= 1e-10


@pytest.mark.parametrize("act", HIDDEN)
def test_jacobian_float32(h, torch, act):
    """float32 networks (the default, and what invert() usually runs on).  Moderate
    weights and inputs: a saturated softmax/sigmoid has a Jacobian ~ p(1 - p) that
    float32 cannot resolve relative to itself (1 - p rounds away)."""
    rng = np.random.default_rng(_seed("jac32", act))
    for loss, logits in OUTPUT_CASES:
        net = random_net(rng, act, loss, dtype=np.float32, scaler=True, weight_sd=0.4,
                         out_act="sigmoid" if loss == "mse" else None)
        X = random_inputs(rng, net, 3, sd=0.7)
        J = net.jacobian(X, logits=logits)
        assert J.dtype == np.float32
        assert worst_sample_err(h, J, torch_jacobian(torch, h, net, X, logits)) <= 1e-4


@pytest.mark.parametrize("act", ["sigmoid", "tanh", "softplus", "gelu", "elu"])
def test_jacobian_against_central_differences(act):
    """Central differences of net.forward (written here), in raw units, scaler on."""
    rng = np.random.default_rng(_seed("jac-fd", act))
    for loss, logits in [("mse", False), ("cross_entropy", False),
                         ("binary_cross_entropy", False)]:
        net = random_net(rng, act, loss, scaler=True,
                         out_act="tanh" if loss == "mse" else None)
        X = random_inputs(rng, net, 3)
        J = net.jacobian(X, logits=logits)
        n_in = net.sizes[0]
        for b in range(X.shape[0]):
            num = np.empty((net.sizes[-1], n_in))
            for i in range(n_in):
                step = 1e-5 * net.scaler.scale[i]
                up, down = X[b].copy(), X[b].copy()
                up[i] += step
                down[i] -= step
                num[:, i] = (net.forward(up)[0] - net.forward(down)[0]) / (up[i] - down[i])
            scale = max(np.abs(num).max(), 1e-300)
            assert np.abs(J[b] - num).max() / scale <= 1e-6, (act, loss, b)


@pytest.mark.parametrize("loss", ["mse", "cross_entropy", "binary_cross_entropy"])
@pytest.mark.parametrize("act", HIDDEN)
def test_input_gradient_against_torch(h, torch, act, loss):
    rng = np.random.default_rng(_seed("igrad", act, loss))
    for scaled in (False, True):
        net = random_net(rng, act, loss, scaler=scaled,
                         out_act="sigmoid" if loss == "mse" else None)
        net.l2 = 0.1                                  # the penalty does not depend on X
        X = random_inputs(rng, net, int(rng.integers(1, 7)))
        kind = ["labels", "onehot", "soft"][int(rng.integers(3))]
        y = h.make_targets(rng, loss, X.shape[0], net.sizes[-1], kind)
        g = net.input_gradient(X, y)
        assert g.shape == X.shape
        assert h.rel_err(g, torch_input_gradient(torch, h, net, X, y)) <= 1e-10


@pytest.mark.parametrize("loss", ["mse", "cross_entropy", "binary_cross_entropy"])
def test_input_gradient_is_the_loss_seed_times_the_jacobian(h, loss):
    """∂L/∂x_b = (1/B) Σ_k ∂ℓ/∂f_k · ∂f_k/∂x_b, with f the logits under CE / BCE."""
    rng = np.random.default_rng(_seed("chain", loss))
    net = random_net(rng, "tanh", loss, scaler=True, out_act="identity" if loss == "mse" else None)
    X = random_inputs(rng, net, 5)
    B, K = X.shape[0], net.sizes[-1]
    y = h.make_targets(rng, loss, B, K, "soft")
    out = net.forward(X)
    seed = out - y              # softmax - y (rows of y sum to 1), sigmoid - y, a - y
    J = net.jacobian(X, logits=loss != "mse")
    expect = np.einsum("bk,bki->bi", seed / B, J)
    assert h.rel_err(net.input_gradient(X, y), expect) <= 1e-10


# ---------------------------------------------------------------------------
# 2. Networks whose inverse is known
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("n_in,hidden,n_out", [(3, (), 3), (5, (4,), 2), (6, (8, 3), 3)])
def test_identity_net_reaches_targets_exactly(n_in, hidden, n_out):
    rng = np.random.default_rng(_seed("id", n_in, hidden, n_out))
    net = identity_net(n_in, n_out, seed=int(rng.integers(1000)), hidden=hidden)
    A, c = affine_map(net)
    Xc = rng.normal(size=(4, n_in))
    assert np.allclose(net.forward(Xc), Xc @ A.T + c, atol=1e-12)   # the map is right
    for _ in range(3):
        t = A @ rng.normal(size=n_in) + c                            # reachable
        r = invert(net, t, bounds=None, seed=1)
        assert r.success, r.message
        assert np.abs(A @ r.x + c - t).max() <= 1e-8
        for x, out, res in r.solutions:
            if res <= values_tolerance(t):
                assert np.abs(A @ x + c - t).max() <= 1e-8


@pytest.mark.parametrize("reg", [1e-3, 0.1, 1.0, 10.0])
def test_ridge_closed_form(reg):
    """min ½‖Ax + c - t‖² + ½ reg ‖x - x_ref‖² has x = (AᵀA + reg I)⁻¹(Aᵀ(t - c) + reg x_ref)."""
    rng = np.random.default_rng(_seed("ridge", reg))
    net = identity_net(5, 2, seed=3, hidden=(4,))
    A, c = affine_map(net)
    t = rng.normal(size=2)
    for x_ref in (np.zeros(5), rng.normal(size=5)):
        r = invert(net, t, bounds=None, reg=reg, x_ref=x_ref, seed=0)
        expect = np.linalg.solve(A.T @ A + reg * np.eye(5), A.T @ (t - c) + reg * x_ref)
        assert np.abs(r.x - expect).max() <= 1e-6
        # the problem is strictly convex: every restart lands on the same point
        assert len(r.solutions) == 1


@pytest.mark.parametrize("reg", [1e-2, 1.0])
def test_ridge_is_measured_in_the_scalers_units(reg):
    """With a scaler, reg penalizes ((x - x_ref) / scale)²: x = (AᵀA + reg D⁻²)⁻¹ (...)."""
    rng = np.random.default_rng(_seed("ridge-scaled", reg))
    s, m = np.array([100.0, 0.01, 1.0]), np.array([10.0, -5.0, 0.0])
    net = identity_net(3, 2, seed=1, scaler=Standardizer(m, s))
    A, c = affine_map(net)
    Xc = m + s * rng.normal(size=(4, 3))
    assert np.allclose(net.forward(Xc), Xc @ A.T + c, atol=1e-10)
    t, x_ref = np.array([0.5, -0.2]), np.array([0.0, -5.0, 1.0])
    r = invert(net, t, bounds=None, reg=reg, x_ref=x_ref, seed=0)
    D2 = np.diag(1 / s**2)
    expect = np.linalg.solve(A.T @ A + reg * D2, A.T @ (t - c) + reg * D2 @ x_ref)
    assert np.abs((r.x - expect) / s).max() <= 1e-6


def test_small_reg_approaches_the_minimum_norm_solution():
    net = identity_net(6, 2, seed=5, hidden=(3,))
    A, c = affine_map(net)
    t = np.array([0.4, -1.1])
    x_mn = np.linalg.lstsq(A, t - c, rcond=None)[0]
    prev = np.inf
    for reg in (1e-2, 1e-4, 1e-6):
        r = invert(net, t, bounds=None, reg=reg, x_ref=np.zeros(6), seed=0)
        d = np.abs(r.x - x_mn).max()
        assert d < prev                                  # closer as reg shrinks
        prev = d
    assert prev <= 1e-4
    assert np.abs(A @ r.x + c - t).max() <= 1e-5


def _fit_linear_map(sizes, act, epochs, seed=7):
    rng = np.random.default_rng(seed)
    A = np.array([[2.0, 0.5, -0.3], [0.4, 1.5, 0.2], [-0.2, 0.3, 1.0]])   # invertible
    X = rng.uniform(-1, 1, (2000, 3))
    net = Network(sizes, act, "mse", dtype=np.float64, seed=0)
    net.fit(X, X @ A.T, optimizer="lbfgs", epochs=epochs, standardize=False)
    G = rng.uniform(-1, 1, (20000, 3))
    fit_err = np.abs(net.forward(G) - G @ A.T).max(axis=1).max()   # ∞-norm, sup estimate
    return net, A, fit_err, rng


@pytest.mark.parametrize("sizes,act,epochs,max_fit_err",
                         [([3, 3], "identity", 200, 1e-4), ([3, 16, 3], "tanh", 1000, 0.1)],
                         ids=["3-3-identity", "3-16-3-tanh"])
def test_net_fitted_to_an_invertible_linear_map(sizes, act, epochs, max_fit_err):
    """x = A⁻¹ t up to the fit: ‖x - A⁻¹t‖∞ ≤ ‖A⁻¹‖∞ (‖f - A·‖∞ + ‖f(x) - t‖∞)."""
    net, A, fit_err, rng = _fit_linear_map(sizes, act, epochs)
    assert fit_err <= max_fit_err                       # the setup itself
    inv_norm = np.linalg.norm(np.linalg.inv(A), np.inf)
    for x_true in rng.uniform(-0.7, 0.7, (4, 3)):
        t = A @ x_true
        r = invert(net, t, seed=0)                      # default bounds: training box
        assert r.success, r.message
        bound = inv_norm * (2 * fit_err + r.residual) + 1e-9
        assert np.abs(r.x - np.linalg.solve(A, t)).max() <= bound


def test_monotone_1d_net_against_bisection():
    x = np.linspace(-2, 2, 400)[:, None]
    net = Network([1, 10, 1], "tanh", "mse", dtype=np.float64, seed=0)
    net.fit(x, np.tanh(2 * x) + 0.3 * x, optimizer="lbfgs", epochs=500, standardize=False)
    grid = np.linspace(-2, 2, 20001)[:, None]
    f = net.forward(grid).ravel()
    assert np.all(np.diff(f) > 0), "the fitted net should be increasing on [-2, 2]"

    def g(v, t):
        return net.forward(np.array([[v]]))[0, 0] - t

    for t in np.linspace(f[0], f[-1], 9)[1:-1]:
        root = scipy.optimize.brentq(g, -2.0, 2.0, args=(t,), xtol=1e-15,
                                     rtol=4 * np.finfo(float).eps)
        r = invert(net, [t], seed=0)
        assert r.success
        assert abs(r.x[0] - root) <= 1e-8, (t, r.x, root)
        # a unique inverse: the restarts that converged all agree
        for xs, _, res in r.solutions:
            if res <= 1e-10:
                assert abs(xs[0] - root) <= 1e-8


def test_float32_network_regression_target(h):
    """The default dtype: targets reached to the float32 resolution; the output of the
    answer recomputed in float64 NumPy from the (float32) parameters."""
    rng = np.random.default_rng(_seed("f32"))
    net = Network([4, 16, 3], "tanh", "mse", seed=2)            # float32
    for _ in range(3):
        x_true = rng.uniform(-1, 1, 4)
        t = net.forward(x_true)[0].astype(np.float64)
        r = invert(net, t, bounds=(-1, 1), seed=0)
        assert r.success, r.message
        ref = h.np_forward(net, r.x[None].astype(np.float32))[1][-1][0]
        assert np.abs(ref - t).max() <= 1e-4 + 1e-3 * np.abs(t).max()


def test_x0_is_the_first_start():
    net = identity_net(3, 2, seed=4)
    A, c = affine_map(net)
    x0 = np.array([0.2, -0.1, 0.4])
    r = invert(net, A @ x0 + c, x0=x0, n_restarts=1, bounds=None)
    assert r.n_iter == 0 and np.array_equal(r.x, x0) and r.success


# ---------------------------------------------------------------------------
# 3. Class targets on an MNIST-24k network
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mnist_net():
    if not MNIST_DIR.is_dir():
        pytest.skip(f"MNIST-24k not found at {MNIST_DIR}")
    X, y = fastmlp.datasets.load_mnist(MNIST_DIR, "train")
    net = Network([784, 128, 10], "relu", "cross_entropy", seed=0)
    net.fit(X, y, epochs=2, batch_size=128, lr=1e-3, seed=0, standardize=False)
    return net


def _np_probabilities(h, net, X):
    return h.np_forward(net, X)[1][-1]


@pytest.mark.parametrize("objective", ["cross_entropy", "margin"])
def test_mnist_every_class_reaches_099(h, mnist_net, objective):
    net = mnist_net
    for c in range(10):
        r = invert(net, class_index=c, objective=objective, n_restarts=64, bounds=(0, 1),
                   seed=c)
        assert r.success, (c, r.message)
        assert r.output[c] >= 0.99
        assert len(r.solutions) > 1
        X = np.array([x for x, _, _ in r.solutions])
        assert X.min() >= 0.0 and X.max() <= 1.0
        outs = np.array([o for _, o, _ in r.solutions])
        assert np.all(outs[:, c] >= 0.99), (c, outs[:, c].min())          # all 64 restarts
        assert np.all(_np_probabilities(h, net, X)[:, c] >= 0.99 - 1e-5)   # independent
        # residual is 1 - p_c, sorted best first
        res = np.array([s[2] for s in r.solutions])
        assert np.allclose(res, 1 - outs[:, c], atol=1e-12)
        assert np.all(np.diff(res) >= 0)


def test_mnist_default_bounds_are_the_training_range(mnist_net):
    net = mnist_net
    lo = np.array(net.training["input_min"])
    hi = np.array(net.training["input_max"])
    r = invert(net, class_index=3, n_restarts=16, seed=0)
    assert r.success
    for x, _, _ in r.solutions:
        assert np.all(x >= lo) and np.all(x <= hi)
        assert np.all(x[lo == hi] == lo[lo == hi])       # dead pixels stay put


# ---------------------------------------------------------------------------
# 4. Constraints, partial targets, several solutions
# ---------------------------------------------------------------------------

def test_bounds_are_respected_exactly():
    rng = np.random.default_rng(_seed("bounds"))
    net = random_net(rng, "tanh", "mse", scaler=True)
    while net.sizes[0] < 3:
        net = random_net(rng, "tanh", "mse", scaler=True)
    n_in = net.sizes[0]
    lo = net.scaler.mean - 0.3 * net.scaler.scale
    hi = net.scaler.mean + 0.2 * net.scaler.scale
    lo[0], hi[1] = -np.inf, np.inf
    b = np.column_stack([lo, hi])
    for t in (net.forward(net.scaler.mean)[0], 10 * np.ones(net.sizes[-1])):  # reachable / not
        r = invert(net, t, bounds=b, seed=0)
        assert len(r.solutions) >= 1
        for x, _, _ in r.solutions:
            assert x.shape == (n_in,)
            assert np.all(x >= lo) and np.all(x <= hi)
    # unreachable target pushes coordinates onto the bounds themselves
    assert any(np.any((x == lo) | (x == hi)) for x, _, _ in r.solutions)


def test_fixed_features_dict_and_mask():
    rng = np.random.default_rng(_seed("fixed"))
    net = Network([5, 12, 2], "tanh", "mse", dtype=np.float64, seed=2)
    x_true = rng.uniform(-0.5, 0.5, 5)
    t = net.forward(x_true)[0]
    fixed = {1: x_true[1], 3: 0.123456789}
    t2 = net.forward(np.where(np.arange(5) == 3, 0.123456789, x_true))[0]
    r = invert(net, t2, fixed=fixed, bounds=(-1, 1), seed=0)
    assert r.success, r.message
    for x, out, _ in r.solutions:
        assert x[1] == x_true[1] and x[3] == 0.123456789
        assert np.allclose(out, net.forward(x)[0], rtol=0, atol=1e-12)
    mask = np.array([True, False, False, True, False])
    x0 = x_true.copy()
    r = invert(net, t, fixed=mask, x0=x0, bounds=(-1, 1), seed=0)
    assert r.success, r.message
    for x, _, _ in r.solutions:
        assert np.array_equal(x[mask], x_true[mask])
    assert np.array_equal(x0, x_true)                    # the caller's x0 is untouched


def test_fixed_with_a_scaler_and_regression_to_the_reference():
    net = Network([3, 6, 1], "tanh", "mse", dtype=np.float64, seed=4)
    net.scaler = Standardizer(np.array([50.0, 0.0, -3.0]), np.array([20.0, 0.5, 2.0]))
    r = invert(net, [0.1], fixed={0: 61.5}, bounds=None, reg=1e-3, seed=0)
    assert all(x[0] == 61.5 for x, _, _ in r.solutions)


def test_partial_targets_only_constrain_the_specified_outputs():
    net = identity_net(3, 3, seed=8, hidden=(2,))      # rank 2: not every target reachable
    A, c = affine_map(net)
    x_true = np.array([0.3, -0.2, 0.5])
    full = A @ x_true + c
    t = full.copy()
    t[1] = np.nan
    r_nan = invert(net, t, bounds=None, seed=0)
    assert r_nan.success, r_nan.message
    for x, out, res in r_nan.solutions:
        assert abs(res - np.abs(out - full)[[0, 2]].max()) <= 1e-12
    assert np.abs(A[[0, 2]] @ r_nan.x + c[[0, 2]] - full[[0, 2]]).max() <= 1e-8
    # the free output takes whatever value: the same run with output 1 masked out,
    # whatever is written there, gives the very same answer
    t_junk = full.copy()
    t_junk[1] = 1e6
    r_mask = invert(net, t_junk, mask=[True, False, True], bounds=None, seed=0)
    assert np.array_equal(r_mask.x, r_nan.x)
    # and that target (with output 1 = 1e6) is NOT what was reached
    assert abs(r_nan.output[1] - 1e6) > 1


def test_non_unique_inverse_gives_several_distinct_solutions():
    net = identity_net(4, 1, seed=5)
    A, c = affine_map(net)
    t = np.array([0.3])
    r = invert(net, t, bounds=(-1, 1), n_restarts=16, seed=0, distinct_tol=1e-3)
    assert r.success
    X = np.array([x for x, _, _ in r.solutions])
    assert len(X) >= 8
    assert np.abs(X @ A.T + c - t).max() <= 1e-8
    for i in range(len(X)):
        for j in range(i):
            assert np.abs(X[i] - X[j]).max() / 2.0 > 1e-3     # width of the box = 2


def test_solutions_are_sorted_by_residual_and_best_is_first():
    rng = np.random.default_rng(_seed("sorted"))
    net = Network([2, 6, 2], "tanh", "mse", dtype=np.float64, seed=3)
    t = np.array([0.9, -0.9])                             # may or may not be reachable
    r = invert(net, t, bounds=(-1, 1), n_restarts=24, max_iter=5, seed=int(rng.integers(99)))
    res = [s[2] for s in r.solutions]
    assert res == sorted(res)
    assert np.array_equal(r.x, r.solutions[0][0]) and r.residual == res[0]
    for x, out, rr in r.solutions:                       # residual = max |f - t|, recomputed
        assert abs(rr - np.abs(net.forward(x)[0] - t).max()) <= 1e-12
    assert r.n_iter >= 1 and r.n_evaluations >= r.n_iter


def test_same_seed_same_answer_and_starts_are_used():
    net = identity_net(3, 1, seed=2)
    A, c = affine_map(net)
    a = invert(net, [0.2], bounds=(-1, 1), seed=11)
    b = invert(net, [0.2], bounds=(-1, 1), seed=11)
    assert np.array_equal(a.x, b.x)
    # a start that already solves the problem is returned unchanged
    x_star = np.linalg.lstsq(A, np.array([0.2]) - c, rcond=None)[0]
    assert np.all(np.abs(x_star) < 1)
    r = invert(net, A @ x_star + c, starts=x_star[None], n_restarts=1, bounds=(-1, 1))
    assert np.abs(r.x - x_star).max() <= 1e-12


# ---------------------------------------------------------------------------
# 5. Bad requests and unreachable targets
# ---------------------------------------------------------------------------

def _mse_net():
    return Network([3, 5, 2], "tanh", "mse", dtype=np.float64, seed=0)


def _ce_net():
    return Network([3, 5, 4], "tanh", "cross_entropy", dtype=np.float64, seed=0)


BAD = [
    ("target wrong length", _mse_net, dict(target=[0.0, 1.0, 2.0]), r"target must have 2"),
    ("class_index too large", _ce_net, dict(class_index=4), r"class_index.*\[0, 4\)"),
    ("class_index negative", _ce_net, dict(class_index=-1), r"class_index.*\[0, 4\)"),
    ("class_index on mse", _mse_net, dict(class_index=0), r"cross_entropy"),
    ("target and class_index", _ce_net, dict(target=[0.1] * 4, class_index=0), r"exactly one"),
    ("neither", _mse_net, dict(), r"exactly one"),
    ("bounds lo > hi", _mse_net, dict(target=[0, 0], bounds=[(0, 1), (2, 1), (0, 1)]),
     r"feature 1: lo = 2.0 > hi = 1.0"),
    ("bounds pair lo > hi", _mse_net, dict(target=[0, 0], bounds=(1, 0)), r"lo = 1.0 > hi"),
    ("bounds wrong shape", _mse_net, dict(target=[0, 0], bounds=[(0, 1)] * 2), r"\(3, 2\)"),
    ("fixed outside bound", _mse_net, dict(target=[0, 0], bounds=(0, 1), fixed={1: 2.0}),
     r"fixed value 2.0 of feature 1 lies outside"),
    ("fixed mask value outside bound", _mse_net,
     dict(target=[0, 0], bounds=(0, 1), fixed=[False, True, False], x0=[0.5, 1.5, 0.5]),
     r"outside its bounds"),
    ("fixed index out of range", _mse_net, dict(target=[0, 0], fixed={3: 0.0}),
     r"feature index 3 is not in \[0, 3\)"),
    ("fixed negative index", _mse_net, dict(target=[0, 0], fixed={-1: 0.0}),
     r"feature index -1"),
    ("all fixed (dict)", _mse_net, dict(target=[0, 0], fixed={0: 0, 1: 0, 2: 0}),
     r"every feature is fixed"),
    ("all fixed (mask)", _mse_net, dict(target=[0, 0], fixed=[True] * 3, x0=[0, 0, 0]),
     r"every feature is fixed"),
    ("fixed mask without x0", _mse_net, dict(target=[0, 0], fixed=[True, False, False]),
     r"give x0"),
    ("x0 wrong length", _mse_net, dict(target=[0, 0], x0=[0.0, 0.0]), r"x0 must have 3"),
    ("x0 NaN", _mse_net, dict(target=[0, 0], x0=[0.0, np.nan, 0.0]), r"x0 contains NaN"),
    ("target all NaN", _mse_net, dict(target=[np.nan, np.nan]), r"no output is specified"),
    ("target all masked", _mse_net, dict(target=[0, 0], mask=[False, False]),
     r"no output is specified"),
    ("target infinite", _mse_net, dict(target=[0, np.inf]), r"infinity"),
    ("min_prob 1", _ce_net, dict(class_index=0, min_prob=1.0), r"min_prob"),
    ("unknown objective", _ce_net, dict(class_index=0, objective="hinge"), r"objective"),
    ("negative reg", _mse_net, dict(target=[0, 0], reg=-1.0), r"reg"),
    ("x_ref wrong length", _mse_net, dict(target=[0, 0], reg=1.0, x_ref=[0, 0]), r"x_ref"),
    ("starts wrong width", _mse_net, dict(target=[0, 0], starts=np.zeros((2, 2))), r"starts"),
    ("bounds NaN", _mse_net, dict(target=[0, 0], bounds=(0, np.nan)), r"NaN"),
    ("bounds unknown word", _mse_net, dict(target=[0, 0], bounds="train"), r"bounds"),
]


@pytest.mark.parametrize("net_fn,kwargs,match", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_requests_raise_value_error(net_fn, kwargs, match):
    with pytest.raises(ValueError, match=match):
        invert(net_fn(), **kwargs)


def test_nan_in_starts_is_reported_as_starts():
    """The error should name the argument the user gave (starts), not an internal X."""
    with pytest.raises(ValueError, match=r"starts"):
        invert(_mse_net(), [0.0, 0.0], bounds=None, starts=np.full((2, 3), np.nan))


def test_sigmoid_output_cannot_reach_2():
    net = Network([3, 8, 1], "tanh", "mse", output_activation="sigmoid", dtype=np.float64,
                  seed=1)
    r = invert(net, [2.0], bounds=None, seed=0)
    assert not r.success
    assert "unreachable" in r.message
    assert 0 < r.output[0] < 1 and abs(r.residual - (2.0 - r.output[0])) <= 1e-12
    assert np.allclose(r.output, net.forward(r.x)[0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("n_in,n_out,box,seed", [(2, 2, (0.0, 1.0), 3), (3, 3, (-0.5, 0.5), 6),
                                                 (2, 3, (-0.5, 0.5), 4)])
def test_unreachable_target_gives_the_box_constrained_least_squares_point(n_in, n_out, box, seed):
    net = identity_net(n_in, n_out, seed=seed)
    A, c = affine_map(net)
    rng = np.random.default_rng(seed)
    lo, hi = box
    for _ in range(3):
        # a target whose exact preimage lies outside the box
        x_out = rng.uniform(lo, hi, n_in)
        x_out[0] = hi + 1.5 * (hi - lo)
        t = A @ x_out + c + (0.3 * rng.normal(size=n_out) if n_out > n_in else 0)
        ref = scipy.optimize.lsq_linear(A, t - c, bounds=box, method="bvls", tol=1e-14)
        if not np.isfinite(ref.cost) or np.abs(A @ ref.x + c - t).max() <= 1e-3:
            continue                                         # happened to be reachable
        r = invert(net, t, bounds=box, seed=0)
        assert not r.success
        assert "unreachable" in r.message
        assert np.abs(r.x - ref.x).max() <= 1e-6, (r.x, ref.x)
        assert np.all(r.x >= lo) and np.all(r.x <= hi)


def test_reachable_target_traded_off_by_reg_is_not_called_unreachable():
    """With reg > 0 the answer trades the target against the pull toward x_ref.  When the
    target IS reachable (reg = 0 reaches it, no bounds), the message must not claim it is
    'unreachable within the bounds' nor that x is 'the closest point'."""
    net = identity_net(4, 2, seed=1, hidden=(6,))
    t = np.array([0.3, -0.7])
    assert invert(net, t, bounds=None, seed=0).success
    r = invert(net, t, bounds=None, reg=1.0, x_ref=np.zeros(4), seed=0)
    assert "unreachable" not in r.message, r.message


# ---------------------------------------------------------------------------
# 6. Units: a scaler must not change what inversion can find
# ---------------------------------------------------------------------------

def test_inversion_does_not_depend_on_the_input_units():
    """The same function, once with raw inputs and once behind a Standardizer whose
    units differ by 10^4 between features (scale 100, 0.01, 1).  invert() draws random
    starts as scaler.mean + scaler.scale · N(0, 1) (zeros + N(0, 1) without a scaler),
    so with the same seed both searches start from the very same points in the scaled
    space and face the very same problem there.  Without the scaler every trial reaches
    its target to ~1e-10 in ≤ 100 L-BFGS-B iterations; behind the scaler the search
    must do as well (success, residual ≤ 1e-6)."""
    s, m = np.array([100.0, 0.01, 1.0]), np.array([10.0, -5.0, 0.0])
    rng = np.random.default_rng(0)
    bad = []
    for trial in range(6):
        net = Network([3, 8, 2], "tanh", "mse", dtype=np.float64, seed=trial)
        t = net.forward(rng.uniform(-1, 1, 3))[0]
        plain = invert(net, t, bounds=None, seed=0)
        assert plain.success and plain.residual <= 1e-8 and plain.n_iter <= 200
        scaled_net = net.copy()
        scaled_net.scaler = Standardizer(m, s)
        scaled = invert(scaled_net, t, bounds=None, seed=0)
        if not (scaled.success and scaled.residual <= 1e-6):
            bad.append(f"trial {trial}: plain residual {plain.residual:.1e} in "
                       f"{plain.n_iter} iterations; scaled success={scaled.success}, "
                       f"residual {scaled.residual:.1e} in {scaled.n_iter} iterations")
    assert not bad, "\n".join(bad)


# ---------------------------------------------------------------------------
# 7. Model files
# ---------------------------------------------------------------------------

def test_saved_and_loaded_model_keeps_its_default_bounds(tmp_path):
    rng = np.random.default_rng(3)
    X = np.column_stack([rng.uniform(0, 1, 500), rng.uniform(-2, 3, 500)])
    y = (X[:, 0] + X[:, 1])[:, None]
    net = Network([2, 1], "identity", "mse", dtype=np.float64, seed=0)
    net.fit(X, y, optimizer="lbfgs", epochs=50, standardize=True)
    path = tmp_path / "model.npz"
    net.save(path)
    loaded = Network.load(path)
    lo, hi = X.min(axis=0), X.max(axis=0)
    assert np.array_equal(loaded.training["input_min"], lo)
    assert np.array_equal(loaded.training["input_max"], hi)
    assert loaded.scaler is not None
    for model in (net, loaded):
        # the largest output the training box allows is about 1 + 3 = 4
        r = invert(model, [6.0], seed=0)
        assert not r.success and "unreachable" in r.message
        assert np.all(r.x >= lo) and np.all(r.x <= hi)
        assert np.abs(r.x - hi).max() <= 1e-6           # the closest corner
        assert invert(model, [6.0], bounds=None, seed=0).success
        r = invert(model, [1.5], seed=0)
        assert r.success
        for x, _, _ in r.solutions:
            assert np.all(x >= lo) and np.all(x <= hi)
    a = invert(net, [1.5], seed=5)
    b = invert(loaded, [1.5], seed=5)
    assert np.array_equal(a.x, b.x)


# ---------------------------------------------------------------------------
# 8. The compiled solver under invert (fastmlp._search), on problems with known answers
# ---------------------------------------------------------------------------

from fastmlp._search import distinct_rows, minimize_rows  # noqa: E402


def _quadratic_rows(R, n, seed):
    """Per row, ½ Σ a_i (u_i - t_i)²; inside a box its minimizer is clip(t, lo, hi)."""
    rng = np.random.default_rng(seed)
    A = rng.uniform(0.1, 10.0, (R, n))
    T = rng.normal(0, 2, (R, n))

    def fg(U, rows, G):
        D = U - T[rows]
        G[:] = A[rows] * D
        return 0.5 * np.sum(A[rows] * D * D, axis=1), np.zeros(len(rows), bool)

    return fg, T, rng


def test_solver_box_constrained_quadratics_reach_the_clipped_minimizer():
    R, n = 12, 30
    fg, T, rng = _quadratic_rows(R, n, 0)
    lo = np.full(n, -1.0)
    hi = np.full(n, 1.5)
    lo[:5], hi[5:10] = -np.inf, np.inf                    # some sides unbounded
    U, iterations, calls = minimize_rows(fg, rng.normal(0, 3, (R, n)), lo, hi)
    ref = np.clip(T, lo, hi)
    # the active bounds hold exactly; the free coordinates are as exact as f's rounding
    # allows: f ~ 100 here (the clipped coordinates' part), so the last relative
    # decrease of 1e-15 (ftol) leaves |u - t| ~ sqrt(2e-13 / a) ~ 1e-6
    assert np.array_equal(U[ref != T], ref[ref != T])
    assert np.abs(U - ref).max() <= 1e-5
    assert np.all(iterations >= 1) and calls > iterations.max()


def test_solver_rosenbrock_rows_match_scipy_lbfgsb():
    # a different, non-separable problem per row: the Rosenbrock function scaled by row
    R, n = 6, 8
    scale = np.linspace(1.0, 3.0, R)
    lo, hi = np.full(n, -2.0), np.full(n, 0.8)          # the box cuts off the minimum (1, ..)

    def rosen(u, s):
        return s * scipy.optimize.rosen(u), s * scipy.optimize.rosen_der(u)

    def fg(U, rows, G):
        f = np.empty(len(rows))
        for k, r in enumerate(rows):
            f[k], G[k] = rosen(U[k], scale[r])
        return f, np.zeros(len(rows), bool)

    U0 = np.random.default_rng(1).uniform(-2, 0.8, (R, n))
    U, _, _ = minimize_rows(fg, U0, lo, hi, max_iter=2000)
    for r in range(R):
        ref = scipy.optimize.minimize(rosen, U0[r], args=(scale[r],), jac=True,
                                      method="L-BFGS-B", bounds=list(zip(lo, hi)),
                                      options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 5000})
        assert np.abs(U[r] - ref.x).max() <= 1e-5, r
        assert rosen(U[r], scale[r])[0] <= ref.fun + 1e-10


def test_solver_rows_that_are_done_leave_and_keep_their_point():
    R, n = 8, 5
    fg, T, rng = _quadratic_rows(R, n, 2)
    first = np.zeros(R, bool)
    first[::2] = True                                     # even rows: done at the start

    def fg_done(U, rows, G):
        f, done = fg(U, rows, G)
        return f, first[rows] if len(rows) == R else done

    U0 = rng.normal(size=(R, n))
    U, iterations, _ = minimize_rows(fg_done, U0, np.full(n, -np.inf), np.full(n, np.inf))
    assert np.array_equal(U[::2], U0[::2]) and np.all(iterations[::2] == 0)
    assert np.abs(U[1::2] - T[1::2]).max() <= 1e-8


def test_solver_workspace_reuse_and_threads_change_no_result():
    from concurrent.futures import ThreadPoolExecutor
    problems = [(_quadratic_rows(R, n, s), R, n) for s, (R, n) in enumerate(
        [(5, 40), (9, 7), (5, 40), (16, 40)])]

    def solve(k):
        (fg, T, _), R, n = problems[k]
        U0 = np.random.default_rng(100 + k).normal(size=(R, n))
        return minimize_rows(fg, U0, np.full(n, -0.5), np.full(n, 0.5), max_iter=7)[0]

    serial = [solve(k) for k in range(4)] + [solve(k) for k in range(4)]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(solve, list(range(4)) * 4))
    for k, U in enumerate(serial + threaded):
        assert np.array_equal(U, serial[k % 4]), k


def test_solver_aimed_steps_reach_a_goal_value_in_fewer_evaluations():
    # per row, f(u) = Σ softplus(-w_i u_i) decays exponentially, with no minimizer;
    # the goal f <= 0.01, reached when fg says so
    R, n = 10, 4
    W = np.random.default_rng(4).uniform(0.5, 3.0, (R, n))
    goal = 0.01

    def fg(U, rows, G):
        z = -W[rows] * U
        G[:] = -W[rows] * 0.5 * (1 + np.tanh(0.5 * z))          # softplus' = sigmoid
        f = np.logaddexp(0, z).sum(axis=1)
        return f, f <= goal

    U0 = np.full((R, n), -2.0)
    box = np.full(n, -np.inf), np.full(n, np.inf)
    plain = minimize_rows(fg, U0, *box)
    aimed = minimize_rows(fg, U0, *box, aim=goal / 2)
    for U, _, _ in (plain, aimed):
        assert np.all(np.logaddexp(0, -W * U).sum(axis=1) <= goal)
    assert aimed[2] < plain[2]


def test_solver_aimed_step_that_overshoots_falls_back_to_the_lbfgs_step():
    """f(u) = Σ softplus(-u) + (u / 2)^4 from u = 0.5, goal f <= 1.25: the log of f,
    extrapolated, aims far past the quartic wall, where f is higher than at the start.
    Such a step is refused and the search goes on at once from the L-BFGS step: it still
    reaches the goal, at the cost of at most one refused candidate per iteration."""
    R, n = 6, 3
    goal = 1.25

    def f_of(U):
        return (np.logaddexp(0, -U) + (U / 2) ** 4).sum(axis=1)

    def fg(U, rows, G):
        G[:] = -0.5 * (1 + np.tanh(-0.5 * U)) + U ** 3 / 4
        f = f_of(U)
        return f, f <= goal

    U0 = np.full((R, n), 0.5) - np.arange(R)[:, None] * 0.1
    box = np.full(n, -np.inf), np.full(n, np.inf)
    plain = minimize_rows(fg, U0, *box)
    U, iterations, calls = minimize_rows(fg, U0, *box, aim=goal / 2)
    assert np.all(f_of(plain[0]) <= goal) and np.all(f_of(U) <= goal)
    refused = calls - 1 - iterations.max()
    assert refused >= 1                          # the fallback did happen
    assert calls <= plain[2] + iterations.max()


def test_distinct_rows_against_a_pairwise_reference():
    rng = np.random.default_rng(5)
    base = rng.uniform(0, 1, (10, 6))
    X = np.vstack([base, base[:4] + rng.uniform(-1e-4, 1e-4, (4, 6)), base[7:9] + 0.01])
    order = rng.permutation(len(X)).astype(np.intp)
    tol = 1e-3
    kept = []                                   # greedy, with the whole distance matrix
    dist = np.abs(X[:, None, :] - X[None, :, :]).max(axis=2)
    for i in order:
        if all(dist[i, k] > tol for k in kept):
            kept.append(int(i))
    assert distinct_rows(X, order, tol) == kept
    assert len(kept) == 12                      # the 4 near-copies merge, the 2 shifted don't


def test_inversions_of_one_network_in_threads_match_serial_ones():
    """Threads inverting the same network at once: each evaluation holds the network's
    lock across its forward and backward passes, and each search gets its own
    workspace, so every answer equals the one computed alone."""
    from concurrent.futures import ThreadPoolExecutor
    X, y = fastmlp.datasets.spirals(300, seed=1)
    net = Network([2, 16, 16, 2], activation="tanh", loss="cross_entropy", seed=1)
    net.fit(X, y, epochs=30, batch_size=32, lr=1e-2, seed=1, standardize=False)
    jobs = [dict(class_index=c, n_restarts=n, seed=s)
            for c in (0, 1) for n, s in ((8, 0), (24, 1))]
    serial = [invert(net, **kw) for kw in jobs]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda kw: invert(net, **kw), jobs * 3))
    for k, r in enumerate(threaded):
        ref = serial[k % len(jobs)]
        assert np.array_equal(r.x, ref.x) and r.n_evaluations == ref.n_evaluations, k
        assert len(r.solutions) == len(ref.solutions)
