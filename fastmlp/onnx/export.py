"""Network -> ONNX: standard operators, a dynamic batch dimension, metadata.

The graph, for a network with a scaler and a softmax output:

    input ─ Sub(mean) ─ Div(scale) ─ Gemm(W0, b0) ─ act ─ ... ─ Gemm(Wk, bk) ─ Softmax ─ probabilities
                                                                                 └ ArgMax (─ Gather(classes)) ─ label

The scaler runs in float64 (between two Casts in a float32 model), as fastmlp's own
Standardizer does, so its mean and scale are stored and round-trip bit for bit.
Outputs are named for what they hold: "probabilities" (and "label") for the
cross-entropy losses, "predictions" for mse.  Weights are stored as initializers
in the network's dtype (W as fastmlp keeps it, n_in × n_out, so Gemm needs no
transpose).  ONNX Runtime has no float64 kernels for LeakyRelu, Elu, Softplus, Gelu or Erf;
in float64 models they are written as the same functions of standard operators that
it does run in float64 (Where, Exp, Log, Abs, ...; erfc by a fitted expansion exact
to float64 rounding).  In float32, Gelu is the Gelu operator from opset 20 on, its
erf form before.
"""
import functools
import json

import numpy as np

DEFAULT_OPSET = 20
MIN_OPSET = 13           # Softmax over the last axis alone, Gemm with optional C


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ImportError('ONNX export needs the onnx package: pip install "fastmlp[onnx]"') \
            from None
    return onnx


class _Graph:
    """Nodes and initializers under construction, with unique value names."""

    def __init__(self, onnx, dtype):
        self.onnx, self.dtype = onnx, np.dtype(dtype)
        self.nodes, self.initializers, self._count = [], [], {}

    def name(self, stem):
        n = self._count.get(stem, 0)
        self._count[stem] = n + 1
        return stem if n == 0 else f"{stem}_{n}"

    def const(self, stem, value, dtype=None):
        arr = np.asarray(value, dtype=dtype or self.dtype)
        name = self.name(stem)
        self.initializers.append(self.onnx.numpy_helper.from_array(arr, name))
        return name

    def node(self, op, inputs, stem=None, output=None, **attrs):
        out = output or self.name(stem or op.lower())
        self.nodes.append(self.onnx.helper.make_node(op, list(inputs), [out],
                                                     name=self.name(f"{op}"), **attrs))
        return out


def _activation(g, x, name, alpha, opset, stem):
    """The nodes of one activation applied to the value x; the output's name."""
    double = g.dtype == np.float64
    if name == "identity":
        return x
    if name in ("relu", "sigmoid", "tanh", "exp"):
        return g.node({"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "exp": "Exp"}[name],
                      [x], stem)
    if name == "softmax":
        return g.node("Softmax", [x], stem, axis=-1)
    if name == "leaky_relu":
        if not double:
            return g.node("LeakyRelu", [x], stem, alpha=float(alpha))
        # where(x > 0, x, alpha·x)
        positive = g.node("Greater", [x, g.const("zero", 0.0)])
        return g.node("Where", [positive, x, g.node("Mul", [x, g.const("alpha", alpha)])], stem)
    if name == "elu":
        if not double:
            return g.node("Elu", [x], stem, alpha=float(alpha))
        # where(x > 0, x, alpha·(exp(min(x, 0)) - 1))
        zero = g.const("zero", 0.0)
        neg = g.node("Sub", [g.node("Exp", [g.node("Min", [x, zero])]), g.const("one", 1.0)])
        return g.node("Where", [g.node("Greater", [x, zero]), x,
                                g.node("Mul", [neg, g.const("alpha", alpha)])], stem)
    if name == "softplus":
        if not double:
            return g.node("Softplus", [x], stem)
        # max(x, 0) + log(1 + exp(-|x|)): no overflow for large |x|
        tail = g.node("Exp", [g.node("Neg", [g.node("Abs", [x])])])
        return g.node("Add", [g.node("Relu", [x]),
                              g.node("Log", [g.node("Add", [tail, g.const("one", 1.0)])])], stem)
    if name == "gelu":
        if double:
            return _gelu_float64(g, x, stem)
        if opset >= 20:
            return g.node("Gelu", [x], stem)
        # ½ x (1 + erf(x / √2))
        erf = g.node("Erf", [g.node("Div", [x, g.const("sqrt2", np.sqrt(2.0))])])
        half_x = g.node("Mul", [x, g.const("half", 0.5)])
        return g.node("Mul", [half_x, g.node("Add", [erf, g.const("one", 1.0)])], stem)
    raise ValueError(f"no ONNX form for activation {name!r}")   # pragma: no cover


@functools.lru_cache(maxsize=2)
def _erfc_coefficients(degree=24, top=26.0):
    """Power-series coefficients c of erfc(a) ≈ t·exp(-a² + Σ c_k s^k), s = 2t - 1,
    t = 2 / (2 + a), 0 <= a <= top: a least-squares Chebyshev fit (the form of
    Numerical Recipes' erfc), relative error below 1e-13 over the whole float64 range
    at the defaults; degree 12 to 10.5 (float32's range) gives 5e-10, what
    csrc/vmath.h's float32 GELU uses."""
    from numpy.polynomial import chebyshev
    from scipy.special import erfc
    a = np.linspace(0.0, top, 4001)
    t = 2.0 / (2.0 + a)
    fit = chebyshev.chebfit(2 * t - 1, np.log(erfc(a) / t) + a * a, degree)
    return chebyshev.cheb2poly(fit)


def _gelu_float64(g, x, stem):
    """½ x erfc(-x/√2) from operators ONNX Runtime runs in float64 (it has no float64
    Erf or Gelu): erfc by the fit above, Horner's rule as Mul/Add nodes."""
    u = g.node("Div", [g.node("Neg", [x]), g.const("sqrt2", np.sqrt(2.0))])
    a = g.node("Abs", [u])
    two, one = g.const("two", 2.0), g.const("one", 1.0)
    t = g.node("Div", [two, g.node("Add", [a, two])])
    s = g.node("Sub", [g.node("Mul", [t, two]), one])
    coef = _erfc_coefficients()
    h = g.const("erfc_c", coef[-1])
    for c in coef[-2::-1]:
        h = g.node("Add", [g.node("Mul", [h, s]), g.const("erfc_c", c)])
    tail = g.node("Mul", [t, g.node("Exp", [g.node("Sub", [h, g.node("Mul", [a, a])])])])
    erfc_u = g.node("Where", [g.node("GreaterOrEqual", [u, g.const("zero", 0.0)]), tail,
                              g.node("Sub", [two, tail])])
    return g.node("Mul", [g.node("Mul", [x, g.const("half", 0.5)]), erfc_u], stem)


def build_model(net, opset=None):
    """The network as an onnx.ModelProto (checked by onnx.checker)."""
    onnx = _onnx()
    from .. import __version__
    from ..network import Network
    if not isinstance(net, Network):
        raise TypeError(f"to_onnx needs a fastmlp Network, got {type(net).__name__}")
    opset = DEFAULT_OPSET if opset is None else opset
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) \
            or not MIN_OPSET <= opset <= onnx.defs.onnx_opset_version():
        raise ValueError(f"opset must be an integer from {MIN_OPSET} to "
                         f"{onnx.defs.onnx_opset_version()}, got {opset!r}")
    opset = int(opset)
    elem = onnx.helper.np_dtype_to_tensor_dtype(net.dtype)
    g = _Graph(onnx, net.dtype)

    x = "input"
    if net.scaler is not None:
        # as fastmlp does it: in float64, then rounded to the network's dtype once
        double = onnx.TensorProto.DOUBLE
        if net.dtype != np.float64:
            x = g.node("Cast", [x], "input_float64", to=double)
        x = g.node("Sub", [x, g.const("scaler_mean", net.scaler.mean, np.float64)], "centered")
        x = g.node("Div", [x, g.const("scaler_scale", net.scaler.scale, np.float64)],
                   "standardized")
        if net.dtype != np.float64:
            x = g.node("Cast", [x], "standardized_float32", to=elem)
    n_layers = len(net.layers)
    outputs = []
    for i, layer in enumerate(net.layers):
        last = i == n_layers - 1
        z = g.node("Gemm", [x, g.const(f"W{i}", layer.W), g.const(f"b{i}", layer.b)],
                   "logits" if last else f"z{i}")
        if not last:
            x = _activation(g, z, layer.activation, layer.alpha, opset, f"a{i}")
            continue
        if net.loss_name in ("cross_entropy", "binary_cross_entropy"):
            probs = _activation(g, z, layer.activation, layer.alpha, opset, "probabilities")
            outputs.append(onnx.helper.make_tensor_value_info(probs, elem, ["batch",
                                                                            layer.n_out]))
            if net.loss_name == "cross_entropy":
                outputs.append(_label_output(g, onnx, probs, net.training.get("classes")))
        else:
            pred = _activation(g, z, layer.activation, layer.alpha, opset, "predictions")
            if pred == z:                     # identity output: name what it holds
                pred = g.node("Identity", [z], output="predictions")
            outputs.append(onnx.helper.make_tensor_value_info(pred, elem, ["batch",
                                                                           layer.n_out]))

    graph = onnx.helper.make_graph(
        g.nodes, "fastmlp_network",
        [onnx.helper.make_tensor_value_info("input", elem, ["batch", net.sizes[0]])],
        outputs, g.initializers)
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)],
                                   producer_name="fastmlp", producer_version=__version__)
    # the oldest IR version that carries this opset: the widest set of runtimes reads it
    model.ir_version = onnx.helper.find_min_ir_version_for(list(model.opset_import), True)
    onnx.helper.set_model_props(model, _metadata(net, __version__))
    onnx.checker.check_model(model, full_check=True)
    return model


def _label_output(g, onnx, probs, classes):
    """The predicted class: ArgMax, mapped through the stored class labels if any."""
    index = g.node("ArgMax", [probs], "class_index", axis=1, keepdims=0)
    if not classes:
        label = g.node("Identity", [index], output="label")
        return onnx.helper.make_tensor_value_info(label, onnx.TensorProto.INT64, ["batch"])
    values = np.asarray(classes)
    if values.dtype.kind in "iub":
        values = values.astype(np.int64)
    elif values.dtype.kind == "f":
        values = values.astype(np.float64)
    else:
        values = values.astype(str).astype(object)
    table = g.name("classes")
    g.initializers.append(onnx.numpy_helper.from_array(values, table))
    label = g.node("Gather", [table, index], output="label", axis=0)
    elem = onnx.helper.np_dtype_to_tensor_dtype(values.dtype) if values.dtype != object \
        else onnx.TensorProto.STRING
    return onnx.helper.make_tensor_value_info(label, elem, ["batch"])


def _metadata(net, version):
    meta = {"fastmlp_version": version, "loss": net.loss_name,
            "sizes": json.dumps(list(map(int, net.sizes))),
            "activations": json.dumps([layer.activation for layer in net.layers]),
            "dtype": np.dtype(net.dtype).name}
    for key in ("classes", "feature_names"):
        value = net.training.get(key)
        if value is not None:
            meta[key] = json.dumps(value)
    return meta


def to_onnx(net, path=None, opset=None):
    """The network as an onnx.ModelProto; also written to `path` when one is given."""
    from .._atomic import write_atomically
    from .._validation import check_path
    if path is not None:
        path = check_path(path, writing=True)
    model = build_model(net, opset)
    if path is not None:
        data = model.SerializeToString()
        write_atomically(path, lambda f: f.write(data))
    return model
