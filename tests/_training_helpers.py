"""Helpers shared by the training tests (test_training.py and tests/test_fit_*.py):
batches in order, a float64 torch training loop over given batches, torch param groups,
a NumPy forward pass, a small classification set and a per-epoch parameter snapshot.
"""
import numpy as np


def _batches(X, y, batch_size):
    return [(X[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(X), batch_size)]


def _torch_train(torch, h, net, batches, epochs, make_opt, clip=None, factor=None):
    """A float64 torch copy of `net` trained over `batches` (in order) for `epochs`;
    make_opt(weights, biases) builds the torch optimizer.  Returns the flat parameters
    (fastmlp layout) and the per-epoch row-weighted mean of the pre-update batch losses."""
    ref = h.TorchReference(torch, net)
    opt = make_opt(ref.Ws, ref.bs)
    sched = None if factor is None else torch.optim.lr_scheduler.LambdaLR(opt, factor)
    epoch_losses = []
    for _ in range(epochs):
        total, rows = 0.0, 0
        for Xb, yb in batches:
            opt.zero_grad()
            value = ref.loss(torch.tensor(np.asarray(Xb, np.float64)), yb)
            value.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(ref.parameters(), clip)
            opt.step()
            if sched is not None:
                sched.step()
            total += float(value.detach()) * len(Xb)
            rows += len(Xb)
        epoch_losses.append(total / rows)
    return ref.flat(ref.parameters()), epoch_losses


def _groups(Ws, bs, wd):
    """torch param groups: weight decay on the weights, none on the biases."""
    return [{"params": Ws, "weight_decay": wd}, {"params": bs, "weight_decay": 0.0}]


def _np_output(net, X):
    """(logits Z, output A) of the last layer, recomputed in float64 with NumPy."""
    A = np.asarray(X, np.float64)
    if net.scaler is not None:
        A = (A - net.scaler.mean) / net.scaler.scale
    for layer in net.layers:
        Z = A @ layer.W.astype(np.float64) + layer.b.astype(np.float64)
        if layer.activation == "tanh":
            A = np.tanh(Z)
        elif layer.activation == "relu":
            A = np.maximum(Z, 0)
        elif layer.activation == "identity":
            A = Z
        elif layer.activation == "sigmoid":
            A = 1 / (1 + np.exp(-Z))
        elif layer.activation == "softmax":
            e = np.exp(Z - Z.max(axis=1, keepdims=True))
            A = e / e.sum(axis=1, keepdims=True)
        else:
            raise KeyError(layer.activation)
    return Z, A


def _class_data(rng, n=50, d=3, k=3):
    X = rng.standard_normal((n, d))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.intp) + (X[:, 2] > 1).astype(np.intp)
    return X, np.minimum(y, k - 1)


class _Snapshots:
    """A callback storing a copy of the parameters after every epoch."""

    def __init__(self, net):
        self.params = {0: net.get_params()}
        self.records = []

    def __call__(self, net, record):
        self.params[record["epoch"]] = net.get_params()
        self.records.append(dict(record))
        return False
