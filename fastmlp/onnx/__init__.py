"""ONNX in and out: fastmlp networks to ONNX models, and MLPs from any framework's ONNX.

    model = fastmlp.onnx.to_onnx(net, "model.onnx")      # or net.to_onnx("model.onnx")
    net = fastmlp.onnx.from_onnx("model.onnx")           # or Network.from_onnx(...)

Export writes standard operators only (Gemm, the activations, Softmax/Sigmoid, Sub/Div
for the input scaler), with a dynamic batch dimension, in the network's dtype.
Import reads the graphs that real exporters write for an MLP (torch.onnx, skl2onnx,
tf2onnx-style MatMul + Add) and refuses anything else naming the node.

Both need the `onnx` package (`pip install "fastmlp[onnx]"`); fastmlp's core never
imports it.  Model files are untrusted input: see fastmlp.onnx.tensors.
"""
from .export import to_onnx
from .importer import from_onnx

__all__ = ["to_onnx", "from_onnx"]
