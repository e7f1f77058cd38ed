"""Model files: save(net, path) and load(path) -> Network.

The format ("fastmlp.model", version 1)
=======================================

A model file is a NumPy ``.npz`` archive: a ZIP file whose members are ``.npy``
arrays.  fastmlp writes it uncompressed (``np.savez``, ZIP_STORED; the parameters
are random-looking floats that barely compress) but reads compressed archives
(``np.savez_compressed``) too.  Nothing in it needs pickle: it loads with
``np.load(path, allow_pickle=False)``, and fastmlp never loads it any other way.

Members (the ``.npz`` keys):

    meta           0-d array of dtype ``<U…`` (a NumPy unicode string) holding one
                   JSON object, described below.
    params         1-D array of length ``n_params``, dtype ``float32`` or ``float64``
                   (the network's dtype): the flat parameter vector
                   ``[W0.ravel(), b0, W1.ravel(), b1, ...]`` (``Network.params``),
                   each ``Wi`` of shape ``(sizes[i], sizes[i+1])`` in C (row-major)
                   order, each ``bi`` of length ``sizes[i+1]``.  All finite.
    scaler_mean    only if meta["scaler"] is true: 1-D float64, length ``sizes[0]``,
    scaler_scale   finite (scale > 0); the input Standardizer, x' = (x - mean) / scale.

Byte order is whatever the ``.npy`` headers say (NumPy writes native order,
little-endian on all common platforms).  Readers ignore members they do not know.

The meta JSON object (every key is required):

    "format"           "fastmlp.model"
    "version"          1 (an integer; a reader refuses versions newer than its own)
    "sizes"            [n_in, n_hidden..., n_out]: ints >= 1, at least two
    "activations"      one activation name per layer (len(sizes) - 1 names), from
                       fastmlp.ACTIVATIONS; softmax only on the output layer
    "alphas"           one number per layer: the activation parameter (layer.alpha):
                       the slope of leaky_relu, the scale of elu; for the other
                       activations it is written as the registry default and ignored
    "loss"             "mse", "cross_entropy" or "binary_cross_entropy"
    "l2"               the L2 penalty coefficient, a finite number >= 0
    "dtype"            "float32" or "float64" (the dtype of params)
    "n_params"         len(params) = Σ (sizes[i] + 1) · sizes[i+1]
    "scaler"           true if the scaler_mean / scaler_scale members are present
    "training"         a JSON object: Network.training, how the network was trained.
                       The keys fastmlp reads back are checked against the
                       architecture: "input_min" / "input_max" (both or neither) and
                       "input_mean", n_in finite numbers each, min <= max;
                       "feature_names", null or n_in distinct strings; "classes",
                       null or distinct numbers/strings, one per output (two for a
                       single binary_cross_entropy output); "target", null, a string
                       or an integer.  save() refuses a net.training that breaks this.
    "fastmlp_version"  the fastmlp version that wrote the file (informational)

Optional keys (readers take an absent one as its default):

    "dropout"          one number per layer: its dropout rate in [0, 1) (layer.dropout),
                       0 for the output layer.  Written only when some layer has
                       dropout; absent (as in older files) means no dropout anywhere

The JSON is strict (``allow_nan=False``: no NaN or Infinity tokens) and ASCII
(non-ASCII characters are \\u-escaped).  Readers ignore keys they do not know, so
keys may be added without a version bump; a change that old readers would
misread bumps "version".

Numbers round-trip exactly: JSON floats are written with Python's shortest
repr, and params / scaler arrays are stored bit for bit, so a loaded network's
parameters and predictions are bit-identical to the saved one's.

Paths are used exactly as given: ``save(net, "model")`` writes a file named
``model``, not ``model.npz`` (``np.savez`` would append ``.npz`` to a name; we
write through a file object so it cannot).  ``.npz`` is the conventional suffix.

Saving is atomic: the archive is written to a temporary file in the target's
directory, flushed and fsync'ed, then renamed over the target (``os.replace``).
A crash or error mid-save leaves an existing target untouched and removes the
temporary file.  The new file gets the permissions an ordinary ``open()`` would
give it (0o666 minus the umask).  The temporary file is named
``.NAME.fastmlp-PID-XXXXXXXXXXXX.tmp`` (NAME the target's name, PID the saving
process's id): a process killed mid-save cannot remove it, so each save of NAME
first removes the temporary files of NAME left by processes that no longer run
(POSIX; only those: never another target's, another program's, or a save in
progress).

Loading treats the file as untrusted input and validates everything before it
builds a network: a file that is not a ZIP, is truncated or corrupted (ZIP CRCs
are checked), has no ``meta`` (a foreign ``.npz``), has meta that is not JSON or
not this format, is from a newer format version, lacks keys, or has params of the
wrong length, dtype or shape, or non-finite values, or names an unknown activation
or loss, or has training fields that do not fit the architecture, raises
ValueError naming the file.  OS errors opening the file (FileNotFoundError,
PermissionError, ...) pass through unchanged.

Limits, so that a small file cannot take much time or memory: every member's
``.npy`` header (shape, dtype; at most 10,000 bytes) is read and checked against
the architecture before its data, and no more data is inflated than the header
declares; a member must be stored or deflated, and may not claim to inflate more
than deflate can (1032:1); ``meta`` holds at most MAX_META_CHARS (16 Mi)
characters; ``sizes`` declares at most MAX_LAYERS (1000) layers; members holding
Python objects (pickles) are refused.  The parameters are read straight into the
new network's buffer (no initial weights are drawn), after a check that they fit
in the memory available (MemoryError if not): loading needs the parameters' bytes
plus one byte per parameter (1.25× the file size for a float32 model).
"""
import json
import math
import numbers
import zipfile

import numpy as np

from . import _kernels
from ._atomic import write_atomically
from ._npz import Archive, BadMember
from ._validation import check_path
from .activations import ACTIVATIONS
from .losses import LOSSES
from .network import Network, layers_from
from .preprocessing import Standardizer

FORMAT = "fastmlp.model"
VERSION = 1
_DTYPES = {"float32": np.dtype(np.float32), "float64": np.dtype(np.float64)}
MAX_LAYERS = 1000              # a model file declaring more is refused at once
MAX_META_CHARS = 1 << 24       # 16 Mi characters of meta JSON (64 MiB as a .npy member)
_META_KEYS = ("format", "version", "sizes", "activations", "alphas", "loss", "l2", "dtype",
              "n_params", "scaler", "training", "fastmlp_version")

__all__ = ["save", "load", "FORMAT", "VERSION"]


# ---------------------------------------------------------------------------
# save
# ---------------------------------------------------------------------------

def save(net, path):
    """Write `net` to the model file `path` (exactly that name), atomically.

    The file holds the architecture, the loss and l2, the parameters, the input
    scaler and net.training (see the module docstring for the format).  Raises
    TypeError / ValueError, before touching the file system, if net.training is
    not JSON-serializable or the parameters are not finite.
    """
    if not isinstance(net, Network):
        raise TypeError(f"save() needs a fastmlp Network, got {type(net).__name__}")
    path = check_path(path, writing=True)
    meta, arrays = _serialize(net)
    arrays = {"meta": np.array(meta), **arrays}   # 0-d '<U…': no pickle needed
    write_atomically(path, lambda f: np.savez(f, **arrays))   # no ".npz" appended


def _serialize(net):
    """(meta JSON text, {name: array}), all validated."""
    from . import __version__            # at call time: fastmlp/__init__ may import us

    training = _check_training(net.training)
    problem = training_problem(training, net.sizes[0], net.sizes[-1], net.loss_name)
    if problem:
        raise ValueError(f"net.training: {problem}; refusing to save a model that could "
                         "not be loaded")
    params = net.get_params()
    if not np.all(np.isfinite(params)):
        raise ValueError("the network's parameters contain NaN or infinity: refusing to "
                         "save a model that could not be loaded")
    scaler = net.scaler
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "sizes": [int(s) for s in net.sizes],
        "activations": [layer.activation for layer in net.layers],
        "alphas": [float(layer.alpha) for layer in net.layers],
        "loss": net.loss_name,
        "l2": float(net.l2),
        "dtype": np.dtype(net.dtype).name,
        "n_params": int(params.size),
        "scaler": scaler is not None,
        "training": training,
        "fastmlp_version": __version__,
    }
    if any(layer.dropout for layer in net.layers):
        meta["dropout"] = [float(layer.dropout) for layer in net.layers]
    text = json.dumps(meta, allow_nan=False)
    arrays = {"params": params}
    if scaler is not None:
        arrays["scaler_mean"], arrays["scaler_scale"] = scaler.float64_vectors()
    return text, arrays


def _check_training(training):
    """net.training, checked to survive the JSON round trip (tuples become lists)."""
    if not isinstance(training, dict):
        raise TypeError(f"net.training must be a dict, got {type(training).__name__}")
    _check_json(training, "net.training")
    return training


def _check_json(value, where):
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where} is {value}: NaN and infinity cannot be saved "
                             "(model files hold strict JSON); store None or a string")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where} has the key {key!r} of type {type(key).__name__}: "
                                "model files hold JSON, whose keys are strings")
            _check_json(item, f"{where}[{key!r}]")
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_json(item, f"{where}[{i}]")
        return
    hint = ""
    if isinstance(value, (np.generic, np.ndarray)):
        hint = " (convert NumPy values with .item() or .tolist())"
    raise TypeError(f"{where} is a {type(value).__module__}.{type(value).__qualname__}, "
                    f"which is not JSON-serializable{hint}: net.training may hold only "
                    "dicts with string keys, lists, str, int, float, bool and None")


# ---------------------------------------------------------------------------
# load
# ---------------------------------------------------------------------------

class _Invalid(Exception):
    """A problem with the file's contents (becomes a ValueError naming the file)."""


def load(path):
    """Read a model file written by save(): a Network with its parameters, input
    scaler and .training restored, bit for bit.

    Raises ValueError naming the file if it is not a valid fastmlp model file
    (see the module docstring), MemoryError naming it if the model it holds does
    not fit in the memory available; OS errors opening it pass through.
    """
    path = check_path(path)
    with open(path, "rb") as f:          # FileNotFoundError etc. pass through
        try:
            return _read(f)
        except _Invalid as exc:
            raise ValueError(f"'{path}' is not a valid fastmlp model file: {exc}") from None
        except MemoryError as exc:       # a valid model too big for the memory available
            raise MemoryError(f"loading '{path}': {exc}") from None
        except Exception as exc:         # zipfile / numpy / zlib errors on a bad file
            raise ValueError(f"'{path}' is not a valid fastmlp model file (corrupted or "
                             f"truncated?): {type(exc).__name__}: {exc}") from exc


def _read(f):
    head = f.read(4)
    f.seek(0)
    if head not in (b"PK\x03\x04", b"PK\x05\x06"):
        raise _Invalid("it is not an .npz (ZIP) archive")
    try:
        archive = Archive(f)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise _Invalid(f"its ZIP structure is damaged (truncated?): {exc}") from None
    try:
        return _read_members(archive)
    except BadMember as exc:
        raise _Invalid(str(exc)) from None
    finally:
        archive.close()


def _read_members(archive):
    """Headers first, data after: nothing is read or allocated in proportion to what
    a header declares before it has been checked against the architecture."""
    if "meta" not in archive:
        raise _Invalid(f"it has no 'meta' entry (members: {archive.names()[:10]}); "
                       "this .npz was not written by fastmlp")
    meta = _parse_meta(_meta_text(archive.member("meta")))
    params = _float_member(archive, "params", _DTYPES[meta["dtype"]], meta["n_params"])
    scaler = None
    if meta["scaler"]:
        float64, n_in = np.dtype(np.float64), meta["sizes"][0]
        mean = _float_member(archive, "scaler_mean", float64, n_in).read()
        scale = _float_member(archive, "scaler_scale", float64, n_in).read()
        try:
            scaler = Standardizer(mean, scale)
        except ValueError as exc:
            raise _Invalid(f"bad scaler: {exc}") from None
    return _build(meta, params, scaler)


def _meta_text(member):
    if member.shape != () or member.dtype.kind != "U":
        raise _Invalid(f"'meta' must be a 0-d unicode string array, got dtype "
                       f"{member.dtype} and shape {member.shape}")
    if member.dtype.itemsize > 4 * MAX_META_CHARS:
        raise _Invalid(f"'meta' holds {member.dtype.itemsize // 4:,} characters; model "
                       f"files hold at most {MAX_META_CHARS:,}")
    return str(member.read()[()])


def _float_member(archive, name, dtype, length):
    """The member `name`, its header checked: `length` values of `dtype` (any byte order)."""
    member = archive.member(name)
    if member.dtype.kind != "f" or member.dtype.itemsize != dtype.itemsize:
        raise _Invalid(f"{name} has dtype {member.dtype}, expected {dtype.name}")
    if member.shape != (length,):
        raise _Invalid(f"{name} has shape {member.shape}, expected {(length,)} for this "
                       "architecture")
    return member


def _parse_meta(text):
    try:
        meta = json.loads(text, parse_constant=_non_strict)
    except (ValueError, RecursionError) as exc:
        raise _Invalid(f"'meta' is not valid JSON: {exc}") from None
    if not isinstance(meta, dict):
        raise _Invalid(f"'meta' must be a JSON object, got {type(meta).__name__}")
    fmt = meta.get("format")
    if fmt != FORMAT:
        raise _Invalid(f"meta format is {fmt!r}, expected {FORMAT!r}")
    version = meta.get("version")
    if not _is_int(version) or version < 1:
        raise _Invalid(f"meta version must be a positive integer, got {version!r}")
    if version > VERSION:
        raise _Invalid(f"it was written by a newer fastmlp (format version {version}; this "
                       f"fastmlp reads versions up to {VERSION}): upgrade fastmlp")
    missing = [k for k in _META_KEYS if k not in meta]
    if missing:
        raise _Invalid(f"meta lacks the key(s) {', '.join(map(repr, missing))}")

    sizes = meta["sizes"]
    if (not isinstance(sizes, list) or len(sizes) < 2
            or not all(_is_int(s) and 1 <= s <= 2**31 - 1 for s in sizes)):
        raise _Invalid(f"meta sizes must be a list of at least two positive integers, "
                       f"got {sizes!r}")
    n_layers = len(sizes) - 1
    if n_layers > MAX_LAYERS:
        raise _Invalid(f"meta sizes declare {n_layers:,} layers; model files hold at most "
                       f"{MAX_LAYERS:,}")
    acts = meta["activations"]
    if not isinstance(acts, list) or len(acts) != n_layers:
        raise _Invalid(f"meta activations must be a list of {n_layers} names, got {acts!r}")
    for i, name in enumerate(acts):
        if not isinstance(name, str) or name not in ACTIVATIONS:
            raise _Invalid(f"unknown activation {name!r} for layer {i} (known: "
                           f"{sorted(ACTIVATIONS)})")
    alphas = meta["alphas"]
    if (not isinstance(alphas, list) or len(alphas) != n_layers
            or not all(_is_number(a) and math.isfinite(a) for a in alphas)):
        raise _Invalid(f"meta alphas must be a list of {n_layers} finite numbers, "
                       f"got {alphas!r}")
    dropout = meta.setdefault("dropout", [0.0] * n_layers)
    if (not isinstance(dropout, list) or len(dropout) != n_layers
            or not all(_is_number(p) and 0 <= p < 1 for p in dropout)):
        raise _Invalid(f"meta dropout must be a list of {n_layers} numbers in [0, 1), "
                       f"got {dropout!r}")
    loss = meta["loss"]
    if not isinstance(loss, str) or loss not in LOSSES:
        raise _Invalid(f"unknown loss {loss!r} (known: {sorted(LOSSES)})")
    l2 = meta["l2"]
    if not _is_number(l2) or not math.isfinite(l2) or l2 < 0:
        raise _Invalid(f"meta l2 must be a finite number >= 0, got {l2!r}")
    if meta["dtype"] not in _DTYPES:
        raise _Invalid(f"meta dtype must be 'float32' or 'float64', got {meta['dtype']!r}")
    expected = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
    if not _is_int(meta["n_params"]) or meta["n_params"] != expected:
        raise _Invalid(f"meta n_params is {meta['n_params']!r}, but sizes {sizes} have "
                       f"{expected} parameters")
    if not isinstance(meta["scaler"], bool):
        raise _Invalid(f"meta scaler must be true or false, got {meta['scaler']!r}")
    if not isinstance(meta["training"], dict):
        raise _Invalid(f"meta training must be a JSON object, got {meta['training']!r}")
    problem = training_problem(meta["training"], sizes[0], sizes[-1], loss)
    if problem:
        raise _Invalid(f"meta training: {problem}")
    return meta


def training_problem(training, n_in, n_out, loss):
    """What is wrong with the fields of `training` that fastmlp reads back, for a
    network of n_in inputs and n_out outputs, or None.

    input_min / input_max (both or neither): n_in finite numbers each, min <= max;
    input_mean: n_in finite numbers; feature_names: None or n_in distinct strings;
    classes: None or distinct JSON scalars, one per output (two for a single
    binary_cross_entropy output); target: None, a string or an integer.
    """
    if ("input_min" in training) != ("input_max" in training):
        return "input_min and input_max must be given together"
    for key in ("input_min", "input_max", "input_mean"):
        if key in training:
            values = training[key]
            if (not isinstance(values, (list, tuple)) or len(values) != n_in
                    or not all(_is_number(v) and math.isfinite(v) for v in values)):
                return f"{key} must be a list of {n_in} finite numbers (one per input), " \
                       f"got {_brief(values)}"
    if "input_min" in training:
        for i, (lo, hi) in enumerate(zip(training["input_min"], training["input_max"])):
            if not lo <= hi:
                return f"input_min[{i}] = {lo} exceeds input_max[{i}] = {hi}"
    names = training.get("feature_names")
    if names is not None and (not isinstance(names, (list, tuple)) or len(names) != n_in
                              or not all(isinstance(v, str) for v in names)
                              or len(set(names)) != n_in):
        return f"feature_names must be None or {n_in} distinct strings (one per input), " \
               f"got {_brief(names)}"
    classes = training.get("classes")
    if classes is not None:
        counts = (n_out, 2) if n_out == 1 and loss == "binary_cross_entropy" else (n_out,)
        if (not isinstance(classes, (list, tuple)) or len(classes) not in counts
                or not all(isinstance(c, (str, int, float)) for c in classes)
                or len(set(classes)) != len(classes)):
            return f"classes must be None or {' or '.join(map(str, counts))} distinct " \
                   f"numbers or strings (one per output class), got {_brief(classes)}"
    target = training.get("target")
    if target is not None and not isinstance(target, str) and not _is_int(target):
        return f"target must be None, a column name or a column index, got {_brief(target)}"
    return None


def _brief(value):
    """A short description of a (possibly huge) JSON value, for messages."""
    if isinstance(value, (list, tuple)):
        head = ", ".join(repr(v)[:20] for v in value[:3])
        return f"a list of {len(value)}: [{head}{', ...' * (len(value) > 3)}]"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _non_strict(token):
    raise ValueError(f"{token} is not strict JSON (model files hold no NaN or Infinity)")


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x):
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _build(meta, params, scaler):
    """The network, its parameters read from the file straight into its buffer (no
    initial weights drawn, no copy)."""
    dtype = _DTYPES[meta["dtype"]]
    sizes = meta["sizes"]
    try:
        layers = layers_from(zip(sizes[:-1], sizes[1:], meta["activations"], meta["alphas"],
                                 meta["dropout"]), dtype, empty=True)
        net = Network(layers, loss=meta["loss"], l2=meta["l2"])
    except (ValueError, TypeError) as exc:
        raise _Invalid(f"inconsistent architecture: {exc}") from None
    params.read_into(net.params)         # bit-exact; the file's byte order, fixed below
    if not params.dtype.isnative:
        net.params.byteswap(inplace=True)
    if not _kernels.all_finite(net.params):
        raise _Invalid("params contains NaN or infinity")
    net.scaler = scaler
    net.training = meta["training"]
    return net
