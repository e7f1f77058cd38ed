"""Reading an ONNX model and its tensors as untrusted input.

An .onnx file is a protobuf; its weights are TensorProtos whose bytes sit in the file
(raw_data or a typed list) or in an external file named by a relative path.  Nothing
here trusts a declared size: a tensor's element count (the product of its dims) must
equal the number of values actually present before any array is made; external data
must lie inside the model's own folder (no absolute paths, no "..", no symbolic link
out of it) and within the bytes the external file really has.  Every problem is a
ValueError naming the model and the tensor.
"""
import math
import os

import numpy as np

from .._validation import check_path

MAX_MODEL_BYTES = 2**31 - 1          # protobuf's own limit for one message

# TensorProto.DataType -> (NumPy dtype, the typed field holding the values)
_TYPES = {1: (np.dtype("<f4"), "float_data"), 11: (np.dtype("<f8"), "double_data"),
          7: (np.dtype("<i8"), "int64_data"), 6: (np.dtype("<i4"), "int32_data"),
          8: (np.dtype(object), "string_data")}
_EXTERNAL = 1                        # TensorProto.DataLocation.EXTERNAL


def onnx_module():
    try:
        import onnx
    except ImportError:
        raise ImportError('ONNX import needs the onnx package: pip install "fastmlp[onnx]"') \
            from None
    return onnx


def load_model(source):
    """(ModelProto, folder of the model or None, a name for messages) from a path,
    bytes or a ModelProto; external data is NOT read here (see tensor_array)."""
    onnx = onnx_module()
    if isinstance(source, onnx.ModelProto):
        return source, None, "the ONNX model"
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _parse(onnx, bytes(source), "the ONNX bytes"), None, "the ONNX bytes"
    try:
        path = check_path(source, "model")
    except TypeError:
        raise TypeError("model must be a path, bytes or an onnx.ModelProto, got "
                        f"{type(source).__name__}") from None
    size = os.path.getsize(path)     # FileNotFoundError etc. pass through
    if size > MAX_MODEL_BYTES:
        raise ValueError(f"'{path}' is {size} bytes, more than an ONNX protobuf can hold")
    with open(path, "rb") as f:
        data = f.read()
    name = f"'{path}'"
    return _parse(onnx, data, name), os.path.dirname(os.path.realpath(path)), name


def _parse(onnx, data, name):
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as exc:         # google.protobuf's DecodeError and friends
        raise ValueError(f"{name} is not a valid ONNX model (truncated or not a protobuf?): "
                         f"{exc}") from None
    if not model.HasField("graph"):
        raise ValueError(f"{name} is not an ONNX model: it has no graph")
    return model


def tensor_array(tensor, folder, where):
    """The values of a TensorProto as a NumPy array (a copy, native byte order).

    where: how to name the tensor in messages (e.g. "'m.onnx', initializer 'W0'").
    """
    if tensor.data_type not in _TYPES:
        raise ValueError(f"{where}: tensor element type {tensor.data_type} is not supported "
                         "(float, double, int32, int64 or string)")
    dtype, field = _TYPES[tensor.data_type]
    dims = list(tensor.dims)
    if any(d < 0 for d in dims):
        raise ValueError(f"{where}: negative dimension in {dims}")
    count = math.prod(dims)
    if tensor.data_location == _EXTERNAL:
        data = _external_bytes(tensor, folder, where, count * dtype.itemsize, dtype)
        arr = np.frombuffer(data, dtype)
    elif tensor.HasField("raw_data"):
        if dtype == object:
            raise ValueError(f"{where}: string tensors cannot use raw_data")
        raw = tensor.raw_data
        if len(raw) != count * dtype.itemsize:
            raise ValueError(f"{where}: declares shape {dims} ({count} values) but holds "
                             f"{len(raw)} bytes of data")
        arr = np.frombuffer(raw, dtype)
    else:
        values = getattr(tensor, field)
        if len(values) != count:
            raise ValueError(f"{where}: declares shape {dims} ({count} values) but holds "
                             f"{len(values)} values")
        if dtype == object:
            arr = np.array([v.decode("utf-8", "replace") for v in values], dtype=object)
        else:
            arr = np.asarray(values, dtype=dtype.newbyteorder("="))
    return arr.astype(dtype.newbyteorder("=") if dtype != object else dtype).reshape(dims)


def _external_bytes(tensor, folder, where, n_bytes, dtype):
    """Exactly n_bytes of a tensor's external data, read from inside `folder`."""
    if dtype == object:
        raise ValueError(f"{where}: string tensors cannot use external data")
    if folder is None:
        raise ValueError(f"{where}: its data is in an external file, which needs the model "
                         "loaded from a path (not bytes or a ModelProto)")
    info = {entry.key: entry.value for entry in tensor.external_data}
    location = info.get("location", "")
    if not location or os.path.isabs(location) or os.path.splitdrive(location)[0]:
        raise ValueError(f"{where}: external data location {location!r} must be a relative "
                         "path inside the model's folder")
    target = os.path.realpath(os.path.join(folder, location))
    if os.path.commonpath([target, folder]) != folder:
        raise ValueError(f"{where}: external data location {location!r} points outside the "
                         "model's folder; refusing to read it")
    try:
        offset = int(info.get("offset", 0))
        length = int(info.get("length", n_bytes))
    except ValueError:
        raise ValueError(f"{where}: external data offset/length are not integers") from None
    if offset < 0 or length != n_bytes:
        raise ValueError(f"{where}: external data has offset {offset} and length {length}, "
                         f"but the tensor's shape needs {n_bytes} bytes")
    if not os.path.isfile(target):
        raise ValueError(f"{where}: external data file {location!r} does not exist")
    if os.path.getsize(target) < offset + n_bytes:
        raise ValueError(f"{where}: external data file {location!r} is shorter than the "
                         f"{offset + n_bytes} bytes the tensor needs")
    with open(target, "rb") as f:
        f.seek(offset)
        data = f.read(n_bytes)
    if len(data) != n_bytes:         # pragma: no cover  (the file shrank meanwhile)
        raise ValueError(f"{where}: external data file {location!r} ended early")
    return data
