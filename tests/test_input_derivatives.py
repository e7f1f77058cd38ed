"""The input derivatives invert() is built on (Network.jacobian, Network.input_gradient),
against PyTorch float64 autograd on a copy of the network (conftest.TorchReference; the
scaler written out in torch) and central differences of net.forward written here.  Error:
conftest.rel_err per sample (the whole n_out × n_in block), float64 ≤ 1e-10, float32 ≤ 1e-4
(reference from the float32 parameters).
"""

import numpy as np
import pytest

from _inversion_helpers import _seed, random_net

HIDDEN = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "gelu"]
MSE_OUTPUTS = ["identity", "sigmoid", "tanh", "softmax", "gelu", "softplus", "elu",
               "leaky_relu", "relu"]


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
