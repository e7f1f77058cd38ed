"""Data sets: small built-in ones (no files, no downloads) and loaders for files.

Built in:
    xor(n)            2 features, 2 classes: the sign of x0 · x1 (XOR of the quadrants)
    spirals(n)        2 features, 2 classes: two interleaved spirals
    regression(n)     n_features features, one smooth nonlinear real target

From files:
    load_idx(path)          one array from an IDX file (the MNIST format), gzipped or raw
    load_mnist(directory)   MNIST images scaled to [0, 1] and their labels
    load_csv(path)          a CSV/TSV table with a header row (numbers; text labels as target)
    save_csv(path, X, y)    the reverse of load_csv (both in fastmlp._csv_table)

Every loader raises ValueError naming the file for malformed content;
FileNotFoundError passes through with the path.
"""
import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from ._csv_table import load_csv, save_csv  # noqa: F401  (loaders of this module)
from ._validation import (check_allocation, check_dtype, check_path, check_scalar,
                          check_size, make_rng)


def _finite(values, dtype, noise):
    """values as dtype, or a ValueError when `noise` made them overflow it."""
    with np.errstate(over="ignore", invalid="ignore"):
        out = values.astype(dtype)
    if not np.all(np.isfinite(out)):
        raise ValueError(f"noise={noise:g} is too large: the data overflow {dtype.name}")
    return out


def xor(n=200, noise=0.1, seed=None, dtype=np.float64):
    """(X, y): points around the four corners (±1, ±1); class 1 where x0·x1 < 0."""
    n = check_size(n, "n")
    noise = check_scalar(noise, "noise", minimum=0.0)
    dtype = check_dtype(dtype)
    check_allocation(n * 96, f"xor(n={n})")      # X, y and the draws, 12 values a row
    rng = make_rng(seed)
    corners = rng.integers(0, 2, size=(n, 2)) * 2 - 1
    X = corners + noise * rng.standard_normal((n, 2))
    y = (corners[:, 0] != corners[:, 1]).astype(np.intp)
    return _finite(X, dtype, noise), y


def spirals(n=400, noise=0.2, turns=1.5, seed=None, dtype=np.float64):
    """(X, y): two interleaved spirals of n // 2 points each, classes 0 and 1."""
    n = check_size(n, "n", minimum=2)
    noise = check_scalar(noise, "noise", minimum=0.0)
    turns = check_scalar(turns, "turns", minimum=0.0, allow_zero=False)
    if not math.isfinite(turns * 2 * np.pi):
        raise ValueError(f"turns is too large: {turns}")
    dtype = check_dtype(dtype)
    check_allocation(n * 128, f"spirals(n={n})")  # X, y, the draws and temporaries
    rng = make_rng(seed)
    m = n // 2
    t = np.sqrt(rng.uniform(0, 1, m)) * turns * 2 * np.pi
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (turns * 2 * np.pi) * 3
    X = np.concatenate([arm, -arm]) + noise * rng.standard_normal((2 * m, 2)) / 3
    y = np.repeat(np.array([0, 1], dtype=np.intp), m)
    order = rng.permutation(2 * m)
    return _finite(X[order], dtype, noise), y[order]


def regression(n=500, n_features=2, noise=0.05, seed=None, dtype=np.float64):
    """(X, y): X of shape (n, n_features), uniform in [-2, 2]; y of shape (n, 1),

        y = f(X) + noise · ε,   ε ~ N(0, 1) independently per row, where
        f(x) = sin(x0) · cos(x1) + 0.5 · x0 + 0.25 · Σ_{j≥2} x_j²

    For n_features = 1 there is no x1 and f(x) = sin(x0) + 0.5 · x0 (cos(0) = 1).
    X is drawn first, so X does not depend on `noise` for a given seed.
    """
    n = check_size(n, "n")
    n_features = check_size(n_features, "n_features")
    noise = check_scalar(noise, "noise", minimum=0.0)
    dtype = check_dtype(dtype)
    # X, its float64 temporaries, y and the per-row temporaries
    check_allocation(n * (24 * n_features + 64), f"regression(n={n}, n_features={n_features})")
    rng = make_rng(seed)
    X = rng.uniform(-2.0, 2.0, size=(n, n_features))
    x0 = X[:, 0]
    x1 = X[:, 1] if n_features > 1 else np.zeros(n)
    f = np.sin(x0) * np.cos(x1) + 0.5 * x0 + 0.25 * np.sum(X[:, 2:] ** 2, axis=1)
    y = f + noise * rng.standard_normal(n)
    return X.astype(dtype), _finite(y.reshape(n, 1), dtype, noise)


# ---------------------------------------------------------------------------
# IDX files (MNIST)
# ---------------------------------------------------------------------------

# type byte -> element type; multi-byte types are big-endian in the file
IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"


_GZIP_MAX_RATIO = 1032          # deflate inflates at most 1032 bytes per byte
_TRAILING_SHOWN = 1 << 16        # trailing bytes counted for the message, at most


class _Stream:
    """The bytes of a file, decompressed as they are read if it starts with the gzip
    magic; gzip errors become ValueErrors naming the file."""

    def __init__(self, file, name):
        self.name, self.file = name, file
        self.gzipped = file.read(2) == GZIP_MAGIC
        file.seek(0)
        self.size = os.fstat(file.fileno()).st_size
        self.stream = gzip.GzipFile(fileobj=file, mode="rb") if self.gzipped else file

    def read(self, n):
        """Up to n bytes (fewer only at the end)."""
        try:
            return self.stream.read(n)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"{self.name}: corrupt gzip stream ({exc})") from None

    def read_into(self, view):
        """Fill the memoryview as far as the data go; the number of bytes read."""
        pos = 0
        while pos < len(view):
            chunk = self.read(min(1 << 20, len(view) - pos))
            if not chunk:
                break
            view[pos:pos + len(chunk)] = chunk
            pos += len(chunk)
        return pos

    def count_rest(self, limit):
        """How many bytes are left, counting no further than `limit`."""
        n = 0
        while n <= limit:
            chunk = self.read(1 << 16)
            if not chunk:
                break
            n += len(chunk)
        return n


def load_idx(path):
    """The array stored in an IDX file (the format of the MNIST files), gzipped or raw.

    Layout (all integers big-endian):
        bytes 0-1     0x00 0x00
        byte  2       element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                      0x0D float32, 0x0E float64
        byte  3       number of dimensions d (at least 1)
        4 · d bytes   the size of each dimension, uint32
        the rest      the elements in C (row-major) order, exactly prod(sizes) of them

    A file starting with the gzip magic bytes 1f 8b is decompressed first, whatever
    its name, as a stream: the header is checked first, and no more bytes are
    inflated than it declares (plus a few, to report trailing data).  Returns a new,
    writable array in native byte order with the file's element type and shape.
    Malformed files raise ValueError naming the file; a size that cannot fit in
    memory, MemoryError.
    """
    name = path = check_path(path)
    with open(path, "rb") as file:
        return _read_idx(_Stream(file, name), name)


def _read_idx(data, name):
    head = data.read(4)
    if len(head) < 4:
        raise ValueError(f"{name}: not an IDX file: {len(head)} bytes, too short for a header")
    if head[0] != 0 or head[1] != 0:
        raise ValueError(f"{name}: not an IDX file: it must start with bytes 00 00, "
                         f"found {head[0]:02x} {head[1]:02x}")
    code, ndim = head[2], head[3]
    if code not in IDX_TYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_TYPES)
        raise ValueError(f"{name}: unknown IDX element type 0x{code:02X} (known: {known})")
    if ndim == 0:
        raise ValueError(f"{name}: the IDX header gives zero dimensions")
    header = 4 + 4 * ndim
    dims = data.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise ValueError(f"{name}: truncated header: {ndim} dimensions need {header} "
                         f"header bytes, the file has {4 + len(dims)}")
    shape = tuple(int(s) for s in np.frombuffer(dims, dtype=">u4"))
    dtype = IDX_TYPES[code]
    count = math.prod(shape)
    expected = count * dtype.itemsize
    what = f"shape {shape} of {dtype.name}"
    # what the file can hold at most: its size, or what its gzip stream can inflate to
    most = data.size * (_GZIP_MAX_RATIO if data.gzipped else 1) - (0 if data.gzipped else header)
    if expected > most:
        found = f"found {most}" if not data.gzipped else \
            f"a {data.size}-byte gzip file inflates to at most {most}"
        raise ValueError(f"{name}: truncated: expected {expected} data bytes after the "
                         f"header, {found} ({what})")
    check_allocation(expected, f"{name} ({what})")
    arr = np.empty(count, dtype=dtype)
    found = data.read_into(memoryview(arr).cast("B"))
    if found == expected:
        found += data.count_rest(_TRAILING_SHOWN)
    if found != expected:
        problem = "truncated" if found < expected else "trailing bytes after the data"
        more = "more than " * (found > expected + _TRAILING_SHOWN)
        raise ValueError(f"{name}: {problem}: expected {expected} data bytes after the "
                         f"header, found {more}{found} ({what})")
    return arr.reshape(shape).astype(dtype.newbyteorder("="))


# ---------------------------------------------------------------------------
# MNIST
# ---------------------------------------------------------------------------

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _find_file(directory, base):
    """directory/base if it exists, else directory/base.gz; FileNotFoundError if neither."""
    candidates = [directory / base, directory / (base + ".gz")]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    looked = " or ".join(str(c) for c in candidates)
    hint = "" if directory.is_dir() else f" (the directory {directory} does not exist)"
    raise FileNotFoundError(f"MNIST file not found: looked for {looked}{hint}")


def load_mnist(directory, split="train", dtype=np.float32, flatten=True):
    """(X, y) for one MNIST split from the four standard IDX files in `directory`.

    split "train" reads train-images-idx3-ubyte and train-labels-idx1-ubyte, split
    "test" reads t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte; each may also be
    gzipped with a .gz suffix (the uncompressed file is used when both exist).

    X: the images as `dtype` (np.float32 or np.float64), pixel / 255 so in [0, 1],
       of shape (n, rows · cols), i.e. (n, 784) for MNIST, or (n, rows, cols) =
       (n, 28, 28) when flatten is False.
    y: the labels, np.intp of shape (n,), in 0..9.

    The image file must hold a 3-D uint8 array and the label file a 1-D uint8 array
    of the same length with values 0..9; anything else is a ValueError.
    """
    if split not in MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    dtype = check_dtype(dtype)
    directory = Path(directory)
    image_file, label_file = (_find_file(directory, base) for base in MNIST_FILES[split])
    images, labels = load_idx(image_file), load_idx(label_file)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(f"{image_file}: MNIST images must be a 3-D uint8 array, got "
                         f"{images.ndim}-D {images.dtype} of shape {images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(f"{label_file}: MNIST labels must be a 1-D uint8 array, got "
                         f"{labels.ndim}-D {labels.dtype} of shape {labels.shape}")
    if 0 in images.shape:
        raise ValueError(f"{image_file}: MNIST images must be a non-empty array, got shape "
                         f"{images.shape}")
    if labels.shape[0] != images.shape[0]:
        raise ValueError(f"{image_file} holds {images.shape[0]} images but {label_file} "
                         f"holds {labels.shape[0]} labels")
    if labels.size and labels.max() > 9:
        i = int(np.argmax(labels > 9))
        raise ValueError(f"{label_file}: label {labels[i]} at index {i} is outside 0..9")
    X = images.reshape(images.shape[0], -1) if flatten else images
    X = X.astype(dtype)
    X /= 255
    return X, labels.astype(np.intp)
