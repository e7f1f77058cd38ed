"""ONNX -> Network: read the graph an exporter wrote for an MLP.

The graph is walked from its one input along a chain:

    [Cast] [Flatten | Reshape] [Sub / Add / Mul / Div by constants, or ml.Scaler]   -> Standardizer
    ( Gemm  |  MatMul [Add] )  elementwise nodes                                     -> one Layer
    ...
    ( Gemm  |  MatMul [Add] )  [output activation]  [ArgMax, ZipMap, ...]           -> last Layer, classes

Linear nodes must take constant weights; the nodes between two of them must be
elementwise and together compute one fastmlp activation (fastmlp.onnx.elementwise);
what follows the output activation may only be the post-processing classifiers'
exporters append (ArgMax, ZipMap, ArrayFeatureExtractor or Gather of the class labels,
Reshape, Cast, Concat of 1 - p and p).  Anything else — a Conv, a skip connection, a
weight computed at run time, a dynamic dimension other than the batch — is refused
with the node's name and type.
"""
import json
import math

import numpy as np

from ..losses import get_loss
from . import elementwise
from .tensors import load_model, onnx_module, tensor_array

_LINEAR = {"Gemm", "MatMul"}
_PREFIX = {"Cast", "Flatten", "Reshape", "Identity", "Sub", "Add", "Mul", "Div", "Scaler"}
_POST = {"ArgMax", "ZipMap", "ArrayFeatureExtractor", "Reshape", "Cast", "Concat", "Identity",
         "Gather", "Squeeze", "Unsqueeze", "Flatten"}
_OUTPUT_ACTIVATIONS = {"Softmax": "softmax", "Sigmoid": "sigmoid", "Exp": "exp"}
_FLOAT_TYPES = {1: np.float32, 11: np.float64}
# the fewest inputs each operator needs (checked before any is read)
_ARITY = {"Gemm": 2, "MatMul": 2, "Add": 2, "Sub": 2, "Mul": 2, "Div": 2, "Pow": 2,
          "Reshape": 2, "Where": 3, "Greater": 2, "Less": 2, "GreaterOrEqual": 2,
          "LessOrEqual": 2, "ArrayFeatureExtractor": 2, "Gather": 2, "Max": 1, "Min": 1}


class _Graph:
    """The model's graph as lookups: constants, consumers, producers, attributes."""

    def __init__(self, model, folder, name):
        self.name, self.graph = name, model.graph
        onnx = onnx_module()
        self.attrs = {}
        self.constants = {}
        for init in self.graph.initializer:
            self.constants[init.name] = tensor_array(init, folder,
                                                     f"{name}, initializer {init.name!r}")
        self.nodes = list(self.graph.node)
        self.consumers = {}
        for node in self.nodes:
            if len(node.output) < 1 or len(node.input) < _ARITY.get(node.op_type, 1) \
                    and node.op_type != "Constant":
                raise self.error(node, f"has {len(node.input)} inputs and {len(node.output)} "
                                       "outputs: too few for its operator")
            self.attrs[id(node)] = {a.name: _text(onnx.helper.get_attribute_value(a))
                                    for a in node.attribute}
            for attr in node.attribute:
                if attr.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
                    raise self.error(node, "has a subgraph (control flow), which no MLP has")
            if node.op_type == "Constant":
                self.constants[node.output[0]] = self._constant_node(node, folder)
            for value in node.input:
                self.consumers.setdefault(value, []).append(node)
        self.outputs = {o.name for o in self.graph.output}

    def _constant_node(self, node, folder):
        at = self.attrs[id(node)]
        where = f"{self.name}, Constant node {node.name!r}"
        if "value" in at:
            return tensor_array(at["value"], folder, where)
        for key in ("value_float", "value_floats", "value_int", "value_ints"):
            if key in at:
                return np.asarray(at[key], dtype=np.float64 if "float" in key else np.int64)
        raise self.error(node, "is a Constant of a kind fastmlp does not read")

    def error(self, node, text):
        return ValueError(f"{self.name}: node {node.name!r} ({node.op_type}) {text}")

    def only_consumer(self, value, what):
        users = self.consumers.get(value, [])
        if len(users) != 1:
            names = [f"{n.name!r} ({n.op_type})" for n in users]
            raise ValueError(f"{self.name}: {what} {value!r} is read by "
                             f"{len(users)} nodes {names}; fastmlp reads a chain of layers "
                             "(no branches or skip connections)")
        return users[0]

    def const(self, node, value):
        if value not in self.constants:
            raise self.error(node, f"takes {value!r} computed at run time; fastmlp needs "
                                   "constant weights")
        return self.constants[value]


def _text(value):
    """Attribute strings arrive as bytes."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def from_onnx(model, loss=None):
    """A Network from an ONNX model of an MLP: a path, bytes or an onnx.ModelProto.

    loss: None infers it from the output (softmax -> cross_entropy, sigmoid ->
    binary_cross_entropy, else mse); "cross_entropy" on a model ending in logits gives
    a softmax output layer (as Network.from_torch does).
    """
    if loss is not None:
        get_loss(loss)                  # a bad name, before the file is read
    proto, folder, name = load_model(model)
    g = _Graph(proto, folder, name)
    x, n_in = _graph_input(g)
    x, mean, scale = _prefix(g, x, n_in)
    layers, x, out_act = _layers(g, x, n_in)
    classes = _postprocessing(g, x)
    return _build(g, proto, layers, out_act, classes, mean, scale, loss)


def _graph_input(g):
    inits = set(g.constants)
    inputs = [i for i in g.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise ValueError(f"{g.name}: an MLP has one input, this graph has "
                         f"{[i.name for i in inputs]}")
    tensor = inputs[0].type.tensor_type
    if tensor.elem_type not in _FLOAT_TYPES and tensor.elem_type not in (6, 7):
        raise ValueError(f"{g.name}: input {inputs[0].name!r} has element type "
                         f"{tensor.elem_type}; fastmlp takes float, double or integer inputs")
    dims = list(tensor.shape.dim)
    if len(dims) < 2:
        raise ValueError(f"{g.name}: input {inputs[0].name!r} must have a batch dimension "
                         f"and features, got rank {len(dims)}")
    for k, d in enumerate(dims[1:], 1):
        if not d.HasField("dim_value") or d.dim_value < 1:
            raise ValueError(f"{g.name}: input {inputs[0].name!r} has a dynamic dimension "
                             f"{k} ({d.dim_param or '?'}); only the batch (dimension 0) may "
                             "be dynamic")
    return inputs[0].name, math.prod(d.dim_value for d in dims[1:])


def _prefix(g, x, n_in):
    """Follow casts, flattening and per-feature affine maps before the first layer.
    Returns (value, mean, scale): the layers see (input - mean) / scale.  The usual
    Sub(mean), Div(scale) pair gives mean and scale back bit for bit."""
    mean, scale = np.zeros(n_in), np.ones(n_in)
    while True:
        node = g.only_consumer(x, "the value")
        op = node.op_type
        if op in _LINEAR or op not in _PREFIX:
            return x, mean, scale
        at = g.attrs[id(node)]
        if op == "Cast" and at.get("to") not in _FLOAT_TYPES:
            raise g.error(node, "casts the input to a non-float type")
        if op == "Flatten" and at.get("axis", 1) != 1:
            raise g.error(node, "flattens at an axis other than 1")
        if op == "Reshape":
            shape = np.asarray(g.const(node, node.input[1])).ravel().tolist()
            if len(shape) != 2 or shape[1] not in (n_in, -1) or shape[0] not in (-1, 0):
                raise g.error(node, f"reshapes to {shape}, not to (batch, {n_in})")
        if op == "Scaler":               # ai.onnx.ml: y = (x - offset) · factor
            offset = _per_feature(g, node, at.get("offset", [0.0]), n_in)
            factor = _per_feature(g, node, at.get("scale", [1.0]), n_in)
            mean, scale = mean + offset * scale, scale / factor
        elif op in ("Sub", "Add", "Mul", "Div"):
            if node.input[0] != x:
                raise g.error(node, "applies the input as its second operand; fastmlp folds "
                                    "only x - c, x + c, x · c and x / c into its scaler")
            c = _per_feature(g, node, g.const(node, node.input[1]), n_in)
            # (x - m) / s  then  - c, + c, · c, / c
            if op == "Sub":
                mean = mean + c * scale
            elif op == "Add":
                mean = mean - c * scale
            elif op == "Mul":
                scale = scale / c
            else:
                scale = scale * c
        x = node.output[0]


def _per_feature(g, node, value, n_in):
    c = np.asarray(value, dtype=np.float64)
    if c.size == 1:
        c = np.full(n_in, c.ravel()[0])
    c = c.reshape(-1)
    if c.shape != (n_in,) or not np.all(np.isfinite(c)):
        raise g.error(node, f"uses a constant of shape {np.shape(value)}: a per-feature "
                            f"constant for {n_in} features, finite, is needed")
    return c


def _linear(g, node, x, n_in):
    """(W of shape (n_in, n_out), b, the layer's output value)."""
    at = g.attrs[id(node)]
    W = np.asarray(g.const(node, node.input[1]))
    if node.op_type == "Gemm":
        if at.get("transA", 0):
            raise g.error(node, "transposes its input (transA=1)")
        if at.get("transB", 0):
            W = W.T
        with np.errstate(all="ignore"):     # a NaN/inf scale is refused with the weights
            W = W * at.get("alpha", 1.0)
    if W.ndim != 2 or W.shape[0] != n_in or W.dtype.kind != "f":
        raise g.error(node, f"has weights of shape {W.shape} and dtype {W.dtype}; "
                            f"float weights of shape ({n_in}, n_out) are needed")
    out = node.output[0]
    b = np.zeros(W.shape[1], W.dtype)
    if node.op_type == "Gemm" and len(node.input) > 2 and node.input[2]:
        with np.errstate(all="ignore"):
            b = at.get("beta", 1.0) * np.asarray(g.const(node, node.input[2]))
    elif node.op_type == "MatMul":
        users = g.consumers.get(out, [])
        if len(users) == 1 and users[0].op_type == "Add":
            add = users[0]
            other = [v for v in add.input if v != out]
            if len(other) == 1 and other[0] in g.constants:
                b, out = np.asarray(g.constants[other[0]]), add.output[0]
    b = np.asarray(b)
    if b.size == 1 and W.shape[1] != 1:
        b = np.full(W.shape[1], b.ravel()[0], dtype=W.dtype)
    if b.reshape(-1).shape != (W.shape[1],):
        raise g.error(node, f"has a bias of shape {b.shape} for {W.shape[1]} outputs")
    return W, b.reshape(-1), out


def _layers(g, x, n_in):
    """[(W, b, activation, alpha)], the value after the output activation, its name."""
    layers = []
    while True:
        node = g.only_consumer(x, "the value")
        if node.op_type not in _LINEAR:
            raise g.error(node, "is not supported here: fastmlp reads linear layers "
                                "(Gemm, MatMul + Add) each followed by an activation")
        W, b, z = _linear(g, node, x, n_in)
        nodes, exit_name, next_linear = _segment(g, z)
        if next_linear is None:                   # the output layer
            act, alpha, x = _output_activation(g, z, W.shape[1])
            layers.append((W, b, act, alpha))
            return layers, x, act
        act, alpha = _activation(g, nodes, z, exit_name, W.shape[1])
        layers.append((W, b, act, alpha))
        x, n_in = exit_name, W.shape[1]


def _reach(g, z):
    """The elementwise nodes reachable from z without passing a linear node (in graph
    order), and the (linear node, value it reads) pairs where the walk stopped."""
    seen, frontier, stops = set(), [z], []
    while frontier:
        value = frontier.pop()
        for node in g.consumers.get(value, []):
            if id(node) in seen:
                continue
            if node.op_type in _LINEAR:
                stops.append((node, value))
            elif node.op_type in elementwise.ELEMENTWISE:
                seen.add(id(node))
                frontier.extend(node.output)
    return [n for n in g.nodes if id(n) in seen], stops


def _segment(g, z):
    """The elementwise nodes after the linear output z, up to the next linear node:
    (nodes in graph order, the value the next linear node reads, that node or None)."""
    nodes, stops = _reach(g, z)
    if not stops:
        return nodes, None, None
    if len({id(n) for n, _ in stops}) != 1:
        raise ValueError(f"{g.name}: the value {z!r} feeds {len(stops)} linear nodes "
                         f"{[n.name for n, _ in stops]}; fastmlp reads a chain of layers")
    node, exit_name = stops[0]
    if node.input[0] != exit_name:
        raise g.error(node, "takes the layer below as its weights, not as its input")
    inside = {id(n) for n in nodes}
    for n in nodes:
        for out in n.output:
            for user in g.consumers.get(out, []):
                if id(user) not in inside and user is not node:
                    raise g.error(user, f"reads {out!r} inside a layer's activation: not a "
                                        "chain of layers (a skip connection?)")
            if out in g.outputs:
                raise ValueError(f"{g.name}: graph output {out!r} is an inner value of a "
                                 "layer")
    return nodes, exit_name, node


def _activation(g, nodes, z, exit_name, width):
    for n in nodes:
        if n.op_type == "Cast" and g.attrs[id(n)].get("to") not in _FLOAT_TYPES:
            raise g.error(n, "casts to a non-float type inside an activation")
    if len(nodes) == 1 and nodes[0].op_type in elementwise.SINGLE and \
            list(nodes[0].input)[:1] == [z]:
        name, key = elementwise.SINGLE[nodes[0].op_type]
        default = {"leaky_relu": 0.01, "elu": 1.0}.get(name)
        alpha = g.attrs[id(nodes[0])].get(key, default) if key else None
        if alpha is not None:         # a float32 attribute: its shortest decimal (0.7, not
            alpha = float(str(np.float32(alpha)))     # 0.699999988) is what was meant
        return name, alpha
    if len(nodes) == 1 and nodes[0].op_type == "Gelu":
        if g.attrs[id(nodes[0])].get("approximate", "none") != "none":
            raise g.error(nodes[0], "is the tanh approximation of GELU; fastmlp has the "
                                    "exact (erf) GELU only")
    try:
        return elementwise.identify(nodes, z, exit_name, g.constants, width, g.attrs)
    except ValueError as exc:
        raise ValueError(f"{g.name}: {exc}") from None


def _output_activation(g, z, width):
    """(name, alpha, value) of the output layer's activation after the logits z."""
    users = g.consumers.get(z, [])
    if z in g.outputs or not users:
        return "identity", None, z
    node = users[0]
    if len(users) == 1 and node.op_type in _OUTPUT_ACTIVATIONS:
        if node.op_type == "Softmax" and g.attrs[id(node)].get("axis", -1) not in (-1, 1):
            raise g.error(node, "is a softmax over an axis other than the features")
        return _OUTPUT_ACTIVATIONS[node.op_type], None, node.output[0]
    if all(u.op_type in _POST for u in users):
        return "identity", None, z
    nodes, _ = _reach(g, z)
    ends = [o for n in nodes for o in n.output if o in g.outputs]
    if len(ends) != 1:
        raise g.error(node, "follows the last linear layer, but is neither an output "
                            "activation nor a classifier's post-processing")
    act, alpha = _activation(g, nodes, z, ends[0], width)
    return act, alpha, ends[0]


def _postprocessing(g, x):
    """Check what follows the output activation; the class labels it names, if any."""
    classes, frontier, seen = None, [x], set()
    while frontier:
        value = frontier.pop()
        for node in g.consumers.get(value, []):
            if id(node) in seen:
                continue
            seen.add(id(node))
            op = node.op_type
            if op == "Sub" and node.input[1] == value and node.input[0] in g.constants \
                    and np.all(np.asarray(g.constants[node.input[0]]) == 1):
                pass                               # 1 - p: the binary classifiers' 2nd column
            elif op not in _POST:
                raise g.error(node, "follows the output layer, but is neither an output "
                                    "activation nor a classifier's post-processing")
            if op in ("ArrayFeatureExtractor", "Gather") and node.input[0] in g.constants:
                labels = np.asarray(g.constants[node.input[0]]).ravel()
                classes = [v.item() if hasattr(v, "item") else str(v) for v in labels]
            frontier.extend(node.output)
    return classes


def _build(g, proto, layers, out_act, classes, mean, scale, loss):
    from ..layer import Layer
    from ..network import Network
    from ..preprocessing import Standardizer
    dtypes = {W.dtype for W, _, _, _ in layers}
    if dtypes - {np.dtype(np.float32), np.dtype(np.float64)}:
        raise ValueError(f"{g.name}: weights of dtype {sorted(map(str, dtypes))}; fastmlp "
                         "reads float32 or float64")
    dtype = np.float64 if np.dtype(np.float64) in dtypes else np.float32
    if loss is None:
        loss = {"softmax": "cross_entropy", "sigmoid": "binary_cross_entropy",
                "exp": "poisson"}.get(out_act, "mse")
    needs = {"cross_entropy": "softmax", "binary_cross_entropy": "sigmoid",
             "poisson": "exp"}.get(loss)
    if needs is not None and out_act not in ("identity", needs):
        raise ValueError(f"{g.name}: loss {loss!r} needs the model to end in logits or "
                         f"{needs}, it ends in {out_act}")
    built = []
    for k, (W, b, act, alpha) in enumerate(layers):
        last = k == len(layers) - 1
        if act == "softmax" and not last:
            raise ValueError(f"{g.name}: softmax is only supported on the output layer")
        if last and needs is not None:
            act = needs
        layer = Layer(W.shape[0], W.shape[1], act, dtype,
                      alpha=alpha if act in ("leaky_relu", "elu") else None)
        layer.W, layer.b = W, b
        built.append(layer)
    net = Network(built, loss=loss)
    if not (np.all(scale == 1) and np.all(mean == 0)):
        if not (np.all(scale > 0) and np.all(np.isfinite(scale)) and
                np.all(np.isfinite(mean))):
            raise ValueError(f"{g.name}: the input is scaled by a non-positive or infinite "
                             "factor; fastmlp's Standardizer needs positive finite scales")
        net.scaler = Standardizer(mean, scale)
    meta = {p.key: p.value for p in proto.metadata_props}
    net.training = {"source": f"ONNX ({proto.producer_name or 'unknown producer'})"}
    if classes is None and "classes" in meta:
        classes = _json_list(meta["classes"])
    if classes is not None:
        net.training["classes"] = classes
    names = _json_list(meta.get("feature_names"))
    if names is not None and len(names) == net.sizes[0] and all(isinstance(s, str)
                                                                for s in names):
        net.training["feature_names"] = names
    return net


def _json_list(text):
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) and
                                       not isinstance(v, bool) for v in value):
        return value
    return None
