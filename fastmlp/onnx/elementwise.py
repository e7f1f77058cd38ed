"""Which fastmlp activation does a run of elementwise ONNX nodes compute?

Exporters write one activation in many ways: a single Relu or Gelu node, GELU as
Div, Erf, Add, Mul, Mul (torch before opset 20), LeakyRelu as Where(x > 0, x, αx)
(fastmlp's own float64 export), and so on.  Rather than pattern-match every form,
the nodes between two linear layers are evaluated here, in float64 with NumPy, on a
grid of inputs, and the result is compared with each fastmlp activation (the slope or
scale of leaky_relu and elu read off the curve).  A run that matches none is refused.
Only the elementwise operators listed in _OPS can take part; any other stops the
import with the node's name and type.
"""
import functools

import numpy as np
from scipy.special import erf, expit

from ..activations import ACTIVATIONS

_GRID = np.concatenate([np.linspace(-12.0, 12.0, 241), [-40.0, -1e-3, 1e-3, 40.0]])
_TOLERANCE = 1e-6               # relative to max(1, |f|): float32 constants pass


def _gelu(x, approximate="none"):
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1 + erf(x / np.sqrt(2)))


# op type -> f(inputs, attributes) in float64
_OPS = {
    "Identity": lambda a, at: a[0],
    "Dropout": lambda a, at: a[0],            # inference: the identity
    "Cast": lambda a, at: a[0],               # float to float only (checked by the caller)
    "Relu": lambda a, at: np.maximum(a[0], 0),
    "LeakyRelu": lambda a, at: np.where(a[0] > 0, a[0], at.get("alpha", 0.01) * a[0]),
    "Elu": lambda a, at: np.where(a[0] > 0, a[0],
                                  at.get("alpha", 1.0) * np.expm1(np.minimum(a[0], 0))),
    "Sigmoid": lambda a, at: expit(a[0]),
    "Tanh": lambda a, at: np.tanh(a[0]),
    "Softplus": lambda a, at: np.logaddexp(0, a[0]),
    "Gelu": lambda a, at: _gelu(a[0], at.get("approximate", "none")),
    "Erf": lambda a, at: erf(a[0]),
    "Exp": lambda a, at: np.exp(a[0]),
    "Log": lambda a, at: np.log(a[0]),
    "Abs": lambda a, at: np.abs(a[0]),
    "Neg": lambda a, at: -a[0],
    "Sqrt": lambda a, at: np.sqrt(a[0]),
    "Reciprocal": lambda a, at: 1 / a[0],
    "Pow": lambda a, at: np.power(a[0], a[1]),
    "Add": lambda a, at: a[0] + a[1],
    "Sub": lambda a, at: a[0] - a[1],
    "Mul": lambda a, at: a[0] * a[1],
    "Div": lambda a, at: a[0] / a[1],
    "Max": lambda a, at: functools.reduce(np.maximum, a),
    "Min": lambda a, at: functools.reduce(np.minimum, a),
    "Where": lambda a, at: np.where(a[0], a[1], a[2]),
    "Greater": lambda a, at: a[0] > a[1],
    "Less": lambda a, at: a[0] < a[1],
    "GreaterOrEqual": lambda a, at: a[0] >= a[1],
    "LessOrEqual": lambda a, at: a[0] <= a[1],
    "Not": lambda a, at: ~a[0],
}
ELEMENTWISE = frozenset(_OPS)

# single-node activations: op type -> (fastmlp name, attribute holding alpha)
SINGLE = {"Relu": ("relu", None), "Sigmoid": ("sigmoid", None), "Tanh": ("tanh", None),
          "Softplus": ("softplus", None), "Identity": ("identity", None),
          "Dropout": ("identity", None), "LeakyRelu": ("leaky_relu", "alpha"),
          "Elu": ("elu", "alpha")}


def evaluate(nodes, start, constants, width, attributes):
    """The values the nodes give, in order, when `start` holds the grid in every one
    of `width` columns; constants: name -> array; attributes: node -> dict."""
    values = {start: np.repeat(_GRID[:, None], width, axis=1)}
    with np.errstate(all="ignore"):
        for node in nodes:
            args = []
            for name in node.input:
                if name in values:
                    args.append(values[name])
                elif name in constants:
                    args.append(np.asarray(constants[name], dtype=np.float64)
                                if np.asarray(constants[name]).dtype.kind in "fiu"
                                else constants[name])
                else:
                    raise ValueError(f"node {node.name!r} ({node.op_type}) reads {name!r}, "
                                     "which is neither the layer's value nor a constant")
            try:
                values[node.output[0]] = np.asarray(_OPS[node.op_type](args,
                                                                      attributes[id(node)]))
            except (ValueError, TypeError, IndexError) as exc:
                raise ValueError(f"node {node.name!r} ({node.op_type}) cannot be evaluated "
                                 f"on its inputs: {exc}") from None
    return values


def identify(nodes, start, exit_name, constants, width, attributes):
    """(activation name, alpha) of the elementwise run nodes: start -> exit_name."""
    if not nodes:
        return "identity", None
    values = evaluate(nodes, start, constants, width, attributes)
    out = np.broadcast_to(values[exit_name], (len(_GRID), width)).astype(np.float64)
    if not np.all(out == out[:, :1]):
        raise ValueError(f"the nodes {[n.name for n in nodes]} compute a different function "
                         "for different units; fastmlp's activations are one per layer")
    f = out[:, 0]
    if not np.all(np.isfinite(f)):
        raise ValueError(f"the nodes {[n.name for n in nodes]} are not finite on [-40, 40]: "
                         "not one of fastmlp's activations")
    for name in ("identity", "relu", "sigmoid", "tanh", "softplus", "gelu", "leaky_relu",
                 "elu"):
        alpha = None
        if name == "leaky_relu":
            alpha = -float(f[_GRID == -1.0][0])
        elif name == "elu":
            alpha = -float(f[_GRID == -40.0][0])
        if alpha is not None and not (np.isfinite(alpha) and alpha >= 0):
            continue
        act = ACTIVATIONS[name]
        ref = act.forward(_GRID, alpha) if alpha is not None else act.forward(_GRID)
        if np.all(np.abs(f - ref) <= _TOLERANCE * np.maximum(1.0, np.abs(ref))):
            if name == "elu" and alpha == 0:
                continue
            return name, alpha
    ops = [n.op_type for n in nodes]
    raise ValueError(f"the nodes {[n.name for n in nodes]} ({' -> '.join(ops)}) compute no "
                     "activation fastmlp has (identity, relu, leaky_relu, elu, sigmoid, tanh, "
                     "softplus, exact gelu)")
