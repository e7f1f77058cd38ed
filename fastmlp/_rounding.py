"""How far float64 rounding alone can move each gradient coordinate.

check_gradients compares two float64 computations of one gradient; a coordinate
passes when they agree to the tolerance OR when they differ by no more than the
rounding both computations can make.  The allowance is the textbook running-error
bound, eps · (the same sums with every term replaced by its absolute value):

  backprop   dW_l = A_{l-1}ᵀ δ_l / B:   eps · |A_{l-1}|ᵀ D_l / B,  where D is δ pushed
             back through |W| and |f'| from the output's operand sizes (|p| + |t|:
             the δ of a row the network is sure of, p - 1, is a cancellation).
  stencil    each loss it differences carries the rounding of the pre-activations it
             recomputes, Σ |δ_m| · (|A_{m-1}| |W_m| + |b_m|), and of the loss itself;
             the stencil multiplies that by Σ|w_s| / step.

Both are O(one backward pass) in NumPy.  On trained networks (digits, MNIST, wine,
breast_cancer) the correct gradients differ by at most a few percent of it, while a
gradient off by a relative 1e-6 of its block is far above it.
"""
import numpy as np
from scipy.special import expit, xlogy

from .activations import ACTIVATIONS

EPS = np.finfo(np.float64).eps
SAFETY = 4.0


def allowance(net, X, T, labels, steps):
    """Per parameter (flat, like net.params): the rounding allowance for |a - n|.

    X: validated, scaled float64 inputs; steps: the stencil's unit step per parameter.
    """
    acts = [ACTIVATIONS[l.activation] for l in net.layers]
    A, Z, Zabs = [X], [], []
    for layer, act in zip(net.layers, acts):
        z = A[-1] @ layer.W + layer.b
        Z.append(z)
        Zabs.append(np.abs(A[-1]) @ np.abs(layer.W) + np.abs(layer.b))
        A.append(act.forward(z, layer.alpha))
    T = np.eye(net.sizes[-1])[labels] if labels is not None else T.astype(np.float64)
    delta, D, row_loss = _output(net, Z[-1], Zabs[-1], A[-1], T)
    deltas, Ds = [delta], [D]
    for m in range(len(net.layers) - 2, -1, -1):
        layer, up = net.layers[m], net.layers[m + 1]
        d = acts[m].derivative(A[m + 1], Z[m], layer.alpha)
        deltas.insert(0, (deltas[0] @ up.W.T) * d)
        Ds.insert(0, (Ds[0] @ np.abs(up.W.T)) * np.abs(d))
    B = X.shape[0]
    out = np.empty(net.n_params)
    offset = 0
    weights_sum = 110.0 / 60.0            # Σ|w_s| of the sixth-order stencil
    for l, layer in enumerate(net.layers):
        # the rounding of one stencil loss when layer l's parameters move
        noise = np.abs(row_loss).copy()
        for m in range(l, len(net.layers)):
            noise += (np.abs(deltas[m]) * Zabs[m]).sum(axis=1)
        loss_noise = EPS * noise.mean()
        backprop_w = EPS * (np.abs(A[l]).T @ Ds[l]) / B
        backprop_b = EPS * Ds[l].sum(axis=0) / B
        for block in (backprop_w.ravel(), backprop_b):
            n = block.size
            out[offset:offset + n] = block + weights_sum * loss_noise / steps[offset:offset + n]
            offset += n
    return SAFETY * out


def _output(net, z, zabs, a, T):
    """δ at the output (per row, not divided by B), its rounding size D, row losses."""
    if net.loss_name == "cross_entropy":
        m = z.max(axis=1, keepdims=True)
        lse = m + np.log(np.exp(z - m).sum(axis=1, keepdims=True))
        p = np.exp(z - lse)
        t_sum = T.sum(axis=1, keepdims=True)
        D = np.abs(T) + p * t_sum * (1 + zabs + np.abs(lse))
        return p * t_sum - T, D, (T * (lse - z)).sum(axis=1)
    if net.loss_name == "binary_cross_entropy":
        p = expit(z)
        loss = (T * np.logaddexp(0, -z) + (1 - T) * np.logaddexp(0, z)).sum(axis=1)
        return p - T, np.abs(T) + p * (1 + zabs), loss
    if net.loss_name == "poisson":
        e = np.exp(z)
        loss = (e - T * z + xlogy(T, T) - T).sum(axis=1)
        return e - T, np.abs(T) + e * (1 + zabs), loss
    g = a - T                                         # mse: ∂L/∂a per row
    act = ACTIVATIONS[net.layers[-1].activation]
    if act.name == "softmax":
        delta = a * (g - (g * a).sum(axis=1, keepdims=True))
    else:
        delta = g * act.derivative(a, z, net.layers[-1].alpha)
    D = np.abs(a) + np.abs(T) + zabs
    return delta, D, 0.5 * (g * g).sum(axis=1)
