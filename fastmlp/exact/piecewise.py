"""A network as the piecewise-linear map the exact methods reason about.

    z_1 = x W_0' + b_0'             (the scaler, if any, folded into W_0', b_0')
    a_k = σ_k(z_k)                  σ: identity, relu, or leaky_relu with slope α ∈ [0, 1]
    z_{k+1} = a_k W_k + b_k         ...  the output z_L: the network's output (identity)
                                         or its logits (softmax)

Everything is float64: a float32 network's weights are exact float64 numbers, so the
map is the network itself, and fastmlp's float64 forward pass is its reference.
"""
from dataclasses import dataclass

import numpy as np

HIDDEN = ("identity", "relu", "leaky_relu")
OUTPUT = ("identity", "softmax")


@dataclass
class PiecewiseLinear:
    Ws: list            # (n_k, n_{k+1}) float64, user units at the input
    bs: list
    alphas: list        # per hidden layer: the slope below 0 (1 = identity, 0 = relu)
    logits: bool        # the output is softmax(z_L): z_L are logits

    @property
    def sizes(self):
        return [self.Ws[0].shape[0]] + [W.shape[1] for W in self.Ws]


def check_piecewise_linear(net):
    """Why `net` is not piecewise linear (a message), or None when it is."""
    for k, layer in enumerate(net.layers[:-1]):
        if layer.activation not in HIDDEN:
            return (f"hidden layer {k} has activation {layer.activation!r}; exact answers "
                    f"need {' / '.join(HIDDEN)} hidden layers")
        if layer.activation == "leaky_relu" and not 0 <= layer.alpha <= 1:
            return f"hidden layer {k}: leaky_relu slope {layer.alpha} is outside [0, 1]"
    out = net.layers[-1].activation
    if out not in OUTPUT:
        return (f"the output layer has activation {out!r}; exact answers need an identity "
                f"output (mse) or softmax logits")
    return None


def piecewise_linear(net):
    """The PiecewiseLinear map of `net` (raises ValueError when it is not one)."""
    why = check_piecewise_linear(net)
    if why is not None:
        raise ValueError(f"method='exact' needs a piecewise-linear network: {why}")
    Ws = [layer.W.astype(np.float64) for layer in net.layers]
    bs = [layer.b.astype(np.float64) for layer in net.layers]
    if net.scaler is not None:                  # x_s = (x - m) / s
        m, s = net.scaler.mean, net.scaler.scale
        bs[0] = bs[0] - (m / s) @ Ws[0]
        Ws[0] = Ws[0] / s[:, None]
    alphas = [{"identity": 1.0, "relu": 0.0}.get(layer.activation, layer.alpha)
              for layer in net.layers[:-1]]
    return PiecewiseLinear(Ws, bs, [float(a) for a in alphas],
                           net.layers[-1].activation == "softmax")


def forward64(net, X):
    """The network's output (logits for softmax) in fastmlp's own float64 forward pass."""
    net64 = net if net.dtype == np.float64 else net.astype(np.float64)
    X = np.atleast_2d(np.asarray(X, np.float64))
    if not net.layers[-1].activation == "softmax":
        return net64.forward(X)
    Xs = net64._inputs(X)
    out = np.empty((len(Xs), net.sizes[-1]))
    with net64._lock:
        net64._plan.forward(Xs, out, True)       # the fused loss's logits
    return out


def pattern_affine(pl, x, eps=0.0):
    """The linear piece through x: (A, c) with z_L = A x + c there, and the region's
    constraints G x <= h (every hidden neuron keeps the sign it has at x, with a margin
    eps).  Identity neurons add no constraint."""
    on, a = [], x
    for W, b, alpha in zip(pl.Ws[:-1], pl.bs[:-1], pl.alphas):
        z = a @ W + b
        on.append(z >= 0)
        a = np.where(on[-1], z, alpha * z)
    return piece_affine(pl, on, len(x), eps)


def piece_affine(pl, on, n_in, eps=0.0):
    """The linear piece where each hidden layer's neurons are on (z >= 0) as the boolean
    arrays `on` say and off elsewhere: (A, c, G, h) as pattern_affine gives them."""
    A, c = np.eye(n_in), np.zeros(n_in)
    G, h = [], []
    for W, b, alpha, on_k in zip(pl.Ws[:-1], pl.bs[:-1], pl.alphas, on):
        Az, cz = W.T @ A, W.T @ c + b              # z = Az x + cz on this piece
        if alpha != 1.0:
            sign = np.where(on_k, -1.0, 1.0)        # on: -z <= -eps;  off: z <= -eps
            G.append(sign[:, None] * Az)
            h.append(-sign * cz - eps)
            slope = np.where(on_k, 1.0, alpha)
            Az, cz = slope[:, None] * Az, slope * cz
        A, c = Az, cz
    A, c = pl.Ws[-1].T @ A, pl.Ws[-1].T @ c + pl.bs[-1]
    if G:
        return A, c, np.vstack(G), np.concatenate(h)
    return A, c, np.empty((0, n_in)), np.empty(0)
