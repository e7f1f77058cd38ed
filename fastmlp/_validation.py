"""Every check that stands between user input and the compiled kernels.

The kernels run without bounds checks and without the GIL, so nothing reaches them
that has not passed through here: dtype, C order, shapes, finiteness, sizes.
Errors name the argument, what was expected and what was given.
"""
import math
import numbers
import os

import numpy as np

from . import _kernels

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
MAX_DIM = 2**31 - 1   # BLAS integers are 32-bit


def check_dtype(dtype, name="dtype"):
    """np.float32 or np.float64 (as a numpy dtype); anything else is a TypeError."""
    if dtype is None:           # np.dtype(None) would silently be float64
        raise TypeError(f"{name} must be np.float32 or np.float64, got None")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be np.float32 or np.float64, got {dtype!r}") from None
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be np.float32 or np.float64, got {dtype!r}")
    return dt


def make_rng(seed, name="seed"):
    """np.random.default_rng(seed), with an error naming the argument: seed must be
    None, a non-negative integer or a numpy Generator (or SeedSequence)."""
    if isinstance(seed, (bool, np.bool_)):
        raise TypeError(f"{name} must be None, a non-negative integer or a numpy "
                        f"Generator, got {seed!r}")
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{name} must be None, a non-negative integer or a numpy "
                        f"Generator, got {type(seed).__name__} {seed!r}") from None


def check_size(value, name, minimum=1):
    """A whole number in [minimum, 2**31 - 1]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if not minimum <= value <= MAX_DIM:
        raise ValueError(f"{name} must be between {minimum} and {MAX_DIM} "
                         f"(BLAS sizes are 32-bit), got {value}")
    return int(value)


# -- memory ------------------------------------------------------------------------

SMALL_ALLOCATION = 1 << 24     # below 16 MiB, check_allocation reads nothing


def available_memory():
    """Bytes this process can still allocate without swapping, or None if unknown:
    Linux's MemAvailable (lowered to the cgroup v2 limit's headroom when there is
    one), else the physical memory (os.sysconf)."""
    available = None
    try:
        with open("/proc/meminfo", "rb") as f:
            for line in f:
                if line.startswith(b"MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if available is None:
        try:
            available = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            return None
    try:
        with open("/sys/fs/cgroup/memory.max", "rb") as f:
            limit = f.read().strip()
        with open("/sys/fs/cgroup/memory.current", "rb") as f:
            current = int(f.read())
        if limit != b"max":
            available = min(available, max(int(limit) - current, 0))
    except (OSError, ValueError):
        pass
    return available


def format_bytes(n):
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def check_allocation(n_bytes, what):
    """Raise MemoryError, before anything is allocated, if `what` needs more than
    the memory available now (see available_memory).  Cheap: allocations under
    SMALL_ALLOCATION are not checked, so call it once per operation whose size a
    user gave, never per training step."""
    n_bytes = int(n_bytes)
    if n_bytes < SMALL_ALLOCATION:
        return
    available = available_memory()
    if available is not None and n_bytes > available:
        raise MemoryError(f"{what} needs {format_bytes(n_bytes)} ({n_bytes:,} bytes), but "
                          f"only {format_bytes(available)} of memory are available")


def check_path(path, name="path", writing=False):
    """A file name as str (a str, bytes or os.PathLike): non-empty, without NUL; for a
    file about to be written, not a directory (checked before anything is written)."""
    try:
        path = os.fspath(path)
    except TypeError:
        raise TypeError(f"{name} must be a file name (str or os.PathLike), got "
                        f"{type(path).__name__}") from None
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not path or "\0" in path:
        raise ValueError(f"{name} must be a non-empty file name without NUL characters, "
                         f"got {path!r}")
    if writing and (path.endswith(("/", os.sep)) or os.path.isdir(path)):
        raise IsADirectoryError(f"{name} {path!r} is a directory; a file name is needed")
    return path


def as_array(x, name, dtype=None):
    """np.asarray(x, dtype), with an error naming the argument (a ragged nested list,
    text where numbers belong, an object that is no array)."""
    try:
        return np.asarray(x, dtype=dtype)
    except ValueError as exc:
        if "inhomogeneous" in str(exc) or "sequence" in str(exc):
            raise ValueError(f"{name} is ragged: its rows have different lengths (or "
                             "nest differently); it must be a rectangular array") from None
        raise ValueError(f"{name} must be an array of numbers: {exc}") from None
    except TypeError as exc:
        raise TypeError(f"{name} must be an array of numbers, got "
                        f"{type(x).__name__}: {exc}") from None


def _check_float_dtype(arr, name):
    if arr.dtype.kind != "f" or arr.dtype.itemsize < 4:
        raise TypeError(f"{name} must hold float32 or float64 values, got dtype {arr.dtype}")


def _as_c_array(arr, dtype):
    """arr as a C-ordered array of dtype, copying only when it must.  Values beyond
    float32's range become inf here and are rejected by the finiteness check."""
    if arr.dtype != dtype or not arr.flags.c_contiguous:
        with np.errstate(over="ignore"):
            arr = np.ascontiguousarray(arr, dtype=dtype)
    return arr


def check_finite(arr, name, source=None):
    """arr holds no NaN or infinity; source: the array arr was cast from, if any (a
    finite float64 value beyond float32's range becomes inf in the cast)."""
    if _kernels.all_finite(arr):
        return
    if (source is not None and source.dtype.itemsize > arr.dtype.itemsize
            and np.all(np.isfinite(source))):
        raise ValueError(f"{name} holds values beyond the largest {arr.dtype.name} "
                         f"({np.finfo(arr.dtype).max:.4g}), the dtype it is computed in: "
                         "scale them down, or use float64")
    raise ValueError(f"{name} contains NaN or infinity")


def check_matrix(x, name, dtype, n_cols, allow_vector=True):
    """A finite, C-ordered (B, n_cols) array of `dtype`, B >= 1.

    A 1-D array of length n_cols is taken as one row when allow_vector is set.
    Fortran-ordered, strided and other-precision float arrays are copied.
    """
    if _kernels.ready_matrix(x, dtype, n_cols, MAX_DIM):
        return x                    # already what the kernels take, and finite
    arr = as_array(x, name)
    _check_float_dtype(arr, name)
    if arr.ndim == 1 and allow_vector and arr.shape[0] == n_cols:
        arr = arr.reshape(1, n_cols)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (batch, {n_cols}), "
                         f"got shape {arr.shape}")
    if arr.shape[1] != n_cols:
        raise ValueError(f"{name} must have {n_cols} columns, got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: a batch needs at least one row, got shape {arr.shape}")
    if arr.shape[0] > MAX_DIM:
        raise ValueError(f"{name} has {arr.shape[0]} rows; at most {MAX_DIM} are supported")
    out = _as_c_array(arr, dtype)
    check_finite(out, name, arr)
    return out


# the losses whose targets are plain values, and the range check_targets allows them
# (fastmlp._inputs gives the same to _kernels.ready_targets, its one-pass check)
VALUE_TARGET_RANGE = {"mse": (-np.inf, np.inf), "binary_cross_entropy": (0.0, 1.0),
                      "poisson": (0.0, np.inf)}


def check_targets(y, name, loss, n_out, batch, dtype):
    """Targets for `loss` as (T, labels): exactly one of them is not None.

    cross_entropy: integer class labels of shape (batch,) in [0, n_out), or rows
    of shape (batch, n_out) (one-hot or soft, non-negative).
    binary_cross_entropy: values in [0, 1] of shape (batch, n_out).
    mse: any finite values of shape (batch, n_out); poisson: the same, >= 0.
    For one output, shape (batch,) is accepted for the last two.
    """
    arr = as_array(y, name)
    if loss == "cross_entropy" and arr.ndim == 1:
        return None, check_labels(arr, name, n_out, batch)
    if arr.dtype.kind in "iub":
        arr = arr.astype(dtype)
    if arr.ndim == 1 and n_out == 1:
        arr = arr.reshape(-1, 1)
    _check_float_dtype(arr, name)
    if arr.shape != (batch, n_out):
        hint = f" or integer labels of shape ({batch},)" if loss == "cross_entropy" else ""
        raise ValueError(f"{name} must have shape ({batch}, {n_out}){hint} to match the "
                         f"batch and the network's outputs, got shape {np.shape(y)}")
    T = _as_c_array(arr, dtype)
    check_finite(T, name, arr)
    if loss == "cross_entropy" and T.min() < 0:
        raise ValueError(f"{name}: cross-entropy target rows must be non-negative")
    lo, hi = VALUE_TARGET_RANGE.get(loss, (-np.inf, np.inf))
    if loss == "binary_cross_entropy" and (T.min() < lo or T.max() > hi):
        raise ValueError(f"{name}: binary cross-entropy targets must lie in [0, 1]")
    if loss == "poisson" and T.min() < lo:
        raise ValueError(f"{name}: Poisson targets (counts or rates) must be >= 0")
    return T, None


def check_labels(y, name, n_classes, batch):
    """Class labels: integers of shape (batch,) in [0, n_classes), as intp."""
    arr = as_array(y, name)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or infinity")
        if np.any(arr != np.round(arr)):
            raise TypeError(f"{name} must hold integer class labels, got non-integer "
                            f"values of dtype {arr.dtype}")
    elif arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer class labels, got dtype {arr.dtype}")
    if arr.shape != (batch,):
        raise ValueError(f"{name} must have shape ({batch},) to match the batch, "
                         f"got shape {arr.shape}")
    labels = np.ascontiguousarray(arr, dtype=np.intp)
    bad = _kernels.first_label_outside(labels, n_classes)
    if bad >= 0:
        raise ValueError(f"{name} holds class label {labels[bad]}, outside [0, {n_classes})")
    return labels


def check_scalar(value, name, minimum=None, allow_zero=True):
    """A finite real number, optionally >= minimum (or > minimum if not allow_zero)."""
    if type(value) is not float:     # the common case skips the slower ABC check
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
        value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if minimum is not None:
        if value < minimum or (not allow_zero and value == minimum):
            op = ">=" if allow_zero else ">"
            raise ValueError(f"{name} must be {op} {minimum}, got {value}")
    return value
