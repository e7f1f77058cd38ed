"""The model formats a Network can be read from and written to, behind one registry.

    formats.reader("onnx")(path)          what Network.from_onnx calls
    formats.writer("npz")(net, path)      what Network.save calls

Each format is a module and the names of its read and write functions; the module
is imported only when the format is first used, so the core (network.py) imports no
format module, and an optional package (scikit-learn, torch, onnx) is imported only
by the format that needs it.
"""
import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Format:
    name: str
    module: str          # imported on first use
    read: str            # name of its function making a Network (None: write-only)
    write: str           # name of its function taking a Network (None: read-only)
    description: str


_REGISTRY = {}


def register(name, module, read=None, write=None, description=""):
    """Add (or replace) a format: `module` defines the functions named `read` / `write`."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty string, got {name!r}")
    _REGISTRY[name] = Format(name, module, read, write, description)


def names():
    """The registered format names."""
    return sorted(_REGISTRY)


def _function(name, role):
    try:
        fmt = _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown model format {name!r} (known: {names()})") from None
    attr = getattr(fmt, role)
    if attr is None:
        raise ValueError(f"the {name!r} format cannot be {role}: it is "
                         f"{'write' if role == 'read' else 'read'}-only")
    return getattr(importlib.import_module(fmt.module), attr)


def reader(name):
    """The function that makes a Network from the format `name`."""
    return _function(name, "read")


def writer(name):
    """The function that writes a Network in the format `name`."""
    return _function(name, "write")


register("npz", "fastmlp.io", "load", "save", "fastmlp's own model file (a versioned .npz)")
register("sklearn", "fastmlp.interchange", "from_sklearn", "to_sklearn",
         "a fitted scikit-learn MLPClassifier / MLPRegressor")
register("torch", "fastmlp.interchange", "from_torch", "to_torch",
         "a PyTorch nn.Sequential of Linear layers and activations")
register("onnx", "fastmlp.onnx", "from_onnx", "to_onnx",
         "an ONNX model of an MLP (file, bytes or onnx.ModelProto)")
