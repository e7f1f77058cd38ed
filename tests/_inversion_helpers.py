"""Shared pieces of the inversion tests (test_input_derivatives.py, test_inversion.py,
test_invert_*.py): per-case seeds, random networks, and identity-activation networks
with the affine map x -> A x + c they compute, composed here from the layers' W and b.
"""
import numpy as np

from fastmlp import Network, Standardizer


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
