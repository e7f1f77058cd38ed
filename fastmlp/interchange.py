"""Networks to and from scikit-learn and PyTorch.

    net = Network.from_sklearn(fitted MLPClassifier / MLPRegressor)
    est = net.to_sklearn()
    net = Network.from_torch(nn.Sequential(Linear, activation, Linear, ...), loss=...)
    model = net.to_torch()

Weights are copied (fastmlp's W is (n_in, n_out), like scikit-learn's coefs_; torch's
Linear.weight is its transpose), so predictions agree to rounding (1e-12 in float64).
scikit-learn and torch are imported only here, when these are called.
"""
import numpy as np

from .layer import Layer
from .losses import get_loss

# scikit-learn's hidden activations and output activations, by fastmlp name
_SKLEARN_HIDDEN = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
_SKLEARN_OUTPUT = {"softmax": "cross_entropy", "logistic": "binary_cross_entropy",
                   "identity": "mse", "exp": "poisson"}


def from_sklearn(estimator):
    """A Network with the weights of a fitted MLPClassifier or MLPRegressor."""
    from .network import Network
    for attr in ("coefs_", "intercepts_", "activation", "out_activation_"):
        if not hasattr(estimator, attr):
            raise TypeError(f"expected a fitted scikit-learn MLPClassifier or MLPRegressor, "
                            f"got {type(estimator).__name__} without {attr}")
    if estimator.activation not in _SKLEARN_HIDDEN:
        raise ValueError(f"unsupported scikit-learn activation {estimator.activation!r}")
    if estimator.out_activation_ not in _SKLEARN_OUTPUT:
        raise ValueError(f"unsupported scikit-learn output activation "
                         f"{estimator.out_activation_!r}")
    loss = _SKLEARN_OUTPUT[estimator.out_activation_]
    dtype = np.float32 if estimator.coefs_[0].dtype == np.float32 else np.float64
    hidden = _SKLEARN_HIDDEN[estimator.activation]
    out = {"cross_entropy": "softmax", "binary_cross_entropy": "sigmoid", "mse": "identity",
           "poisson": "exp"}[loss]
    layers = []
    for i, (W, b) in enumerate(zip(estimator.coefs_, estimator.intercepts_)):
        last = i == len(estimator.coefs_) - 1
        layer = Layer(W.shape[0], W.shape[1], out if last else hidden, dtype)
        layer.W, layer.b = W, b
        layers.append(layer)
    net = Network(layers, loss=loss)
    net.training = {"source": f"scikit-learn {type(estimator).__name__}"}
    if hasattr(estimator, "classes_"):
        net.training["classes"] = np.asarray(estimator.classes_).tolist()
    return net


def to_sklearn(net):
    """A fitted MLPClassifier (cross-entropy / binary cross-entropy networks) or
    MLPRegressor (mse with an identity output, or poisson) that predicts as this
    network does."""
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.preprocessing import LabelBinarizer
    if net.scaler is not None:
        raise ValueError("this network standardizes its inputs; scikit-learn's MLP has no "
                         "place for that (put a StandardScaler in a Pipeline)")
    hidden = {v: k for k, v in _SKLEARN_HIDDEN.items()}
    acts = {layer.activation for layer in net.layers[:-1]}
    if len(acts) > 1 or (acts and next(iter(acts)) not in hidden):
        raise ValueError(f"scikit-learn's MLP needs one hidden activation among "
                         f"{sorted(hidden)}, this network has {sorted(acts)}")
    activation = hidden[next(iter(acts))] if acts else "relu"
    if net.loss_name == "mse":
        if net.layers[-1].activation != "identity":
            raise ValueError("scikit-learn's MLPRegressor has an identity output layer, "
                             f"this network has {net.layers[-1].activation!r}")
        est = MLPRegressor(hidden_layer_sizes=tuple(net.sizes[1:-1]), activation=activation)
        est.out_activation_ = "identity"
    elif net.loss_name == "poisson":
        est = MLPRegressor(loss="poisson", hidden_layer_sizes=tuple(net.sizes[1:-1]),
                           activation=activation)
        est.out_activation_ = "exp"
    else:
        est = MLPClassifier(hidden_layer_sizes=tuple(net.sizes[1:-1]), activation=activation)
        n_out = net.sizes[-1]
        if net.loss_name == "cross_entropy":
            if n_out < 3:
                raise ValueError("scikit-learn represents 2 classes with one logistic output; "
                                 "a 2-way softmax network has no exact counterpart")
            est.out_activation_ = "softmax"
        else:
            est.out_activation_ = "logistic"
        classes = net.training.get("classes") or list(range(max(n_out, 2)))
        binarizer = LabelBinarizer()
        if net.loss_name == "binary_cross_entropy" and n_out > 1:
            binarizer.fit(np.eye(n_out, dtype=int))          # multi-label indicator
        else:
            binarizer.fit(classes)
        est._label_binarizer = binarizer
        est.classes_ = binarizer.classes_
    est.coefs_ = [layer.W.copy() for layer in net.layers]
    est.intercepts_ = [layer.b.copy() for layer in net.layers]
    est.n_layers_ = len(net.layers) + 1
    est.n_outputs_ = net.sizes[-1]
    est.n_features_in_ = net.sizes[0]
    est.n_iter_ = 0
    return est


# torch modules <-> fastmlp activations
def _torch_activation(module):
    """(name, alpha) of a supported torch activation module, else None."""
    import torch.nn as nn
    if isinstance(module, nn.Identity):
        return "identity", None
    if isinstance(module, nn.ReLU):
        return "relu", None
    if isinstance(module, nn.Tanh):
        return "tanh", None
    if isinstance(module, nn.Sigmoid):
        return "sigmoid", None
    if isinstance(module, nn.LeakyReLU) and module.negative_slope >= 0:
        return "leaky_relu", float(module.negative_slope)
    if isinstance(module, nn.ELU) and module.alpha > 0:
        return "elu", float(module.alpha)
    if isinstance(module, nn.Softplus) and module.beta == 1:
        return "softplus", None
    if isinstance(module, nn.GELU) and module.approximate == "none":
        return "gelu", None
    if isinstance(module, nn.Softmax) and module.dim in (-1, 1):
        return "softmax", None
    return None


def from_torch(model, loss=None):
    """A Network from an nn.Sequential of Linear layers, each optionally followed by one
    supported activation (Identity, ReLU, Tanh, Sigmoid, LeakyReLU, ELU, Softplus with
    beta 1, exact GELU, Softmax last).

    loss defaults to cross_entropy when the model ends in Softmax, else mse.
    (torch's Softplus turns into the identity above its threshold, 20 by default;
    fastmlp's stays exact, so there the two differ by up to log1p(e^-20) ≈ 2e-9.)  A model
    ending in Linear with loss="cross_entropy" (the usual PyTorch classifier, trained
    with CrossEntropyLoss on logits) gets a softmax output layer; with
    "binary_cross_entropy" (BCEWithLogitsLoss) a sigmoid one.
    """
    if loss is not None:
        get_loss(loss)
    import torch.nn as nn
    from .network import Network
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"expected an nn.Sequential, got {type(model).__name__}")
    modules = list(model)
    specs = []                                    # (Linear, activation, alpha)
    i = 0
    while i < len(modules):
        lin = modules[i]
        if not isinstance(lin, nn.Linear):
            raise ValueError(f"unsupported layer at position {i}: {lin!r} (expected Linear, "
                             "each followed by at most one supported activation)")
        act, alpha = "identity", None
        if i + 1 < len(modules) and not isinstance(modules[i + 1], nn.Linear):
            found = _torch_activation(modules[i + 1])
            if found is None:
                raise ValueError(f"unsupported module at position {i + 1}: {modules[i + 1]!r}")
            act, alpha = found
            i += 1
        specs.append((lin, act, alpha))
        i += 1
    if not specs:
        raise ValueError("the model has no Linear layer")
    last_act = specs[-1][1]
    if loss is None:
        loss = "cross_entropy" if last_act == "softmax" else "mse"
    needs = {"cross_entropy": "softmax", "binary_cross_entropy": "sigmoid"}.get(loss)
    if needs is not None:
        if last_act not in ("identity", needs):
            raise ValueError(f"loss {loss!r} needs the model to end in Linear (logits) or "
                             f"{needs}, it ends in {last_act}")
        specs[-1] = (specs[-1][0], needs, None)
    import torch
    dtype = np.float64 if specs[0][0].weight.dtype == torch.float64 else np.float32
    layers = []
    for k, (lin, act, alpha) in enumerate(specs):
        if act == "softmax" and k < len(specs) - 1:
            raise ValueError("Softmax is only supported after the last Linear layer")
        layer = Layer(lin.in_features, lin.out_features, act, dtype, alpha=alpha)
        layer.W = lin.weight.detach().cpu().numpy().T
        layer.b = (lin.bias.detach().cpu().numpy() if lin.bias is not None
                   else np.zeros(lin.out_features))
        layers.append(layer)
    net = Network(layers, loss=loss)
    net.training = {"source": "PyTorch nn.Sequential"}
    return net


def to_torch(net):
    """An nn.Sequential computing the network's output (softmax / sigmoid included
    under the cross-entropy losses), in the network's dtype."""
    import torch
    import torch.nn as nn
    if net.scaler is not None:
        raise ValueError("this network standardizes its inputs; to_torch exports the "
                         "layers only (apply net.scaler.transform to the inputs first)")
    dtype = torch.float64 if net.dtype == np.float64 else torch.float32
    modules = []
    for layer in net.layers:
        lin = nn.Linear(layer.n_in, layer.n_out, dtype=dtype)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(layer.W.T.copy()))
            lin.bias.copy_(torch.from_numpy(layer.b.copy()))
        modules.append(lin)
        modules += _torch_module(layer)
    return nn.Sequential(*modules)


def _torch_module(layer):
    import torch.nn as nn
    name = layer.activation
    if name == "identity":
        return []
    return [{"relu": lambda: nn.ReLU(), "tanh": lambda: nn.Tanh(), "sigmoid": lambda: nn.Sigmoid(),
             "leaky_relu": lambda: nn.LeakyReLU(layer.alpha), "elu": lambda: nn.ELU(layer.alpha),
             "softplus": lambda: nn.Softplus(), "gelu": lambda: nn.GELU(),
             "softmax": lambda: nn.Softmax(dim=-1)}[name]()]
