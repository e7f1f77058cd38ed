"""Data sets: small built-in ones (no files, no downloads) and loaders for files.

Built in:
    xor(n)            2 features, 2 classes: the sign of x0 · x1 (XOR of the quadrants)
    spirals(n)        2 features, 2 classes: two interleaved spirals
    regression(n)     n_features features, one smooth nonlinear real target

From files:
    load_idx(path)          one array from an IDX file (the MNIST format), gzipped or raw
    load_mnist(directory)   MNIST images scaled to [0, 1] and their labels
    load_csv(path)          a CSV/TSV table with a header row (numbers; text labels as target)
    save_csv(path, X, y)    the reverse of load_csv

Every loader raises ValueError naming the file for malformed content;
FileNotFoundError passes through with the path.
"""
import csv
import gzip
import math
import os
import warnings
import zlib
from array import array
from pathlib import Path

import numpy as np

from ._validation import (as_array, check_allocation, check_dtype, check_scalar, check_size,
                          make_rng)


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
    name = os.fspath(path)
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


# ---------------------------------------------------------------------------
# CSV files
# ---------------------------------------------------------------------------

# cells read as missing values (case-insensitive, surrounding spaces ignored)
MISSING = frozenset(["", "na", "n/a", "nan", "null", "none", "?"])


def _csv_records(file, name, delimiter):
    """(line, fields) for each non-blank record of an open CSV file; `line` is the
    1-based line of the file on which the record starts (quoted fields may span lines)."""
    reader = csv.reader(file, delimiter=delimiter)
    while True:
        line = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ValueError(f"{name}: line {line}: {exc}") from None
        except UnicodeDecodeError as exc:
            raise ValueError(f"{name}: line {line}: not UTF-8 text ({exc.reason})") from None
        if fields:
            yield line, fields


def _check_column_names(names, where, index_column=False):
    """Column names must be non-empty and distinct (the first may be empty when it
    can be an index column)."""
    seen = set()
    for j, col in enumerate(names):
        if not col and not (index_column and j == 0):
            raise ValueError(f"{where}: column {j + 1} has an empty name; every column "
                             "needs one")
        if col in seen:
            raise ValueError(f"{where}: column name {col!r} appears more than once")
        seen.add(col)


class _Rows:
    """Parses data rows into one float buffer; the target columns' cells are also
    kept as text, so that a column of labels such as 'setosa' can be the target."""

    def __init__(self, names, name, targets, missing):
        self.names, self.name, self.targets, self.missing = names, name, targets, missing
        self.values = array("d")
        self.labels = []                 # the single target's cells, stripped
        self.lines = array("q")          # each row's line in the file
        self.text_target = False         # some target cell is text, not a number
        self.n_rows = self.dropped = 0

    def add(self, fields, line):
        if len(fields) != len(self.names):
            raise ValueError(f"{self.name}: line {line}: expected {len(self.names)} fields "
                             f"(one per header column), found {len(fields)}")
        try:
            values = list(map(float, fields))
            if not all(map(math.isfinite, values)):
                values = None
        except ValueError:
            values = None
        if values is None:
            values = self._slow_row(fields, line)
            if values is None:
                self.dropped += 1
                return
        self.values.extend(values)
        self.lines.append(line)
        if len(self.targets) == 1:
            self.labels.append(fields[self.targets[0]].strip())
        self.n_rows += 1

    def check_range(self, table, columns, dtype):
        """A ValueError naming the first cell of `columns` beyond dtype's largest value
        (it would turn into infinity)."""
        top = np.finfo(dtype).max
        with np.errstate(invalid="ignore"):
            over = np.abs(table[:, columns]) > top
        if over.any():
            r, j = np.argwhere(over)[0]
            raise ValueError(f"{self.name}: line {self.lines[r]}, column "
                             f"{self.names[columns[j]]!r}: {table[r, columns[j]]:.6g} is "
                             f"beyond the largest {dtype.name} ({top:.6g}); load it as "
                             "float64 or rescale the column")

    def _slow_row(self, fields, line):
        """The row's values, None to drop it, or a ValueError naming the bad cell."""
        values = []
        for j, (col, cell) in enumerate(zip(self.names, fields)):
            where = f"{self.name}: line {line}, column {col!r}"
            if cell.strip().lower() in MISSING:
                if self.missing == "drop":
                    return None
                what = "empty cell" if not cell.strip() else f"{cell.strip()!r} is"
                raise ValueError(f"{where}: {what} a missing value; drop such rows "
                                 "(missing='drop'; --drop-missing on the command line) "
                                 "or fill them in")
            try:
                value = float(cell)
            except ValueError:
                if self.targets == [j]:          # a text label: kept as text
                    self.text_target = True
                    value = math.nan
                elif j in self.targets:
                    raise ValueError(f"{where}: {cell!r} is not a number (text labels "
                                     "need a single target column)") from None
                else:
                    raise ValueError(f"{where}: {cell!r} is not a number") from None
            if not math.isfinite(value) and not (self.text_target and self.targets == [j]):
                raise ValueError(f"{where}: {cell!r} is not a finite number")
            values.append(value)
        return values


def _target_column(target, names, name):
    """The index of the target column, given by name or by (possibly negative) index."""
    if isinstance(target, str):
        if target not in names:
            raise ValueError(f"{name}: no column named {target!r} (the target); the "
                             "columns are " + ", ".join(repr(col) for col in names if col))
        return names.index(target)
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        if not -len(names) <= target < len(names):
            raise ValueError(f"{name}: target column index {target} is out of range for "
                             f"{len(names)} columns")
        return int(target) % len(names)
    raise TypeError(f"target must be a column name (str) or index (int), or a list of "
                    f"them, got {type(target).__name__} {target!r}")


def _target_columns(target, names, name):
    """The target column indices: [] for None, one for a name/index, several for a list."""
    if target is None:
        return []
    many = isinstance(target, (list, tuple))
    columns = [_target_column(t, names, name) for t in (target if many else [target])]
    if not columns or len(set(columns)) != len(columns):
        raise ValueError(f"target must name distinct columns, got {target!r}")
    return columns


def _one_column_hint(names, delimiter):
    """For a header read as one column that holds another separator: a hint to pass it."""
    if len(names) == 1:
        for sep in (",", ";", "\t", "|"):
            if sep != delimiter and sep in names[0]:
                return (f" (with delimiter={delimiter!r} the header is one column; is the "
                        f"file separated by {sep!r}?)")
    return ""


def _is_index(column):
    """A column of distinct integers, as pandas writes its index."""
    return bool(np.all(column == np.round(column)) and np.unique(column).size == column.size)


def load_csv(path, target=None, delimiter=",", dtype=np.float64, missing="error"):
    """(X, y, feature_names) from a numeric CSV file with a header row.

    Format: UTF-8 text (a leading byte-order mark is ignored), fields separated by
    `delimiter` and optionally quoted as the csv module does.  The first non-blank
    record is the header of column names (surrounding spaces stripped; names must be
    non-empty and distinct); every later record is one data row with exactly one
    field per column.  Completely blank lines are skipped.  Every feature cell must
    be a finite number as Python's float() reads it ("3", "-0.5", "1e-3", " 2 ");
    text and "inf" are errors.  Empty cells and NA, N/A, NaN, null, None, ? (any
    case) are missing values: an error naming the cell with missing="error", and the
    row is left out with missing="drop" (a warning says how many).

    A first column with an empty name that holds distinct integers is the index
    column pandas' DataFrame.to_csv writes: it is left out, with a warning.

    target: a column name or an int column index (negative counts from the end);
        that column becomes y, shape (n,), and the others X.  A list of names or
        indices gives y of shape (n, k).  With target None, y is None and every
        column is a feature.  A single target column may hold text labels
        ("setosa"): y is then an array of str.
    delimiter: the field separator; None picks a tab for .tsv/.tab files, else ",".
    dtype: np.float32 or np.float64, for X and (numeric) y; with float32, a cell beyond
        its largest value (about 3.4e38) is an error naming the cell, not infinity.

    Returns X of shape (n, n_features), y, and the list of X's column names.
    Errors are ValueErrors naming the file and, for a bad row or cell, its line
    number in the file and the column, e.g.
        data.csv: line 17, column 'age': 'abc' is not a number
    """
    dtype = check_dtype(dtype)
    if missing not in ("error", "drop"):
        raise ValueError(f"missing must be 'error' or 'drop', got {missing!r}")
    name = os.fspath(path)
    if delimiter is None:
        delimiter = "\t" if name.lower().endswith((".tsv", ".tab")) else ","
    _check_delimiter(delimiter)
    with open(path, newline="", encoding="utf-8-sig") as file:
        records = _csv_records(file, name, delimiter)
        first = next(records, None)
        if first is None:
            raise ValueError(f"{name}: the file is empty; expected a header row of "
                             "column names")
        names = [col.strip() for col in first[1]]
        header = f"{name}: line {first[0]} (header)"
        _check_column_names(names, header, index_column=len(names) > 1)
        try:
            targets = _target_columns(target, names, name)
        except ValueError as exc:
            raise ValueError(f"{exc}{_one_column_hint(names, delimiter)}") from None
        rows = _Rows(names, name, targets, missing)
        for line, fields in records:
            rows.add(fields, line)
    if rows.dropped:
        warnings.warn(f"{name}: left out {rows.dropped} row(s) with missing values",
                      stacklevel=2)
    if rows.n_rows == 0:
        raise ValueError(f"{name}: the file has a header row but no data rows"
                         + " left" * bool(rows.dropped))
    table = np.frombuffer(rows.values, dtype=np.float64).reshape(rows.n_rows, len(names))
    features = [j for j in range(len(names)) if j not in targets]
    if not names[0] and 0 in features:
        if not _is_index(table[:, 0]):
            _check_column_names(names, header)            # raises: an empty name
        features.remove(0)
        warnings.warn(f"{name}: the first column has no name and holds distinct integers: "
                      "taken as a pandas index column and left out", stacklevel=2)
    if not features:
        raise ValueError(f"{name}: no feature columns: the only column is the target"
                         + _one_column_hint(names, delimiter))
    if dtype != np.float64:
        rows.check_range(table, features + targets, dtype)
    X = np.ascontiguousarray(table[:, features], dtype=dtype)
    if not targets:
        y = None
    elif rows.text_target:
        y = np.array(rows.labels, dtype=str)
    else:
        y = table[:, targets[0] if len(targets) == 1 and not isinstance(target, (list, tuple))
                  else targets].astype(dtype)
    return X, y, [names[j] for j in features]


def _as_cells(arr, what):
    """The values of a real, finite array as Python numbers (bools as ints), via tolist."""
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{what} must hold real numbers, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} contains NaN or infinity, which load_csv rejects")
    return (arr.astype(np.int64) if arr.dtype.kind == "b" else arr).tolist()


def _check_delimiter(delimiter):
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '"\r\n':
        raise TypeError(f"delimiter must be one character (not a quote or a line end), "
                        f"got {delimiter!r}")


def _column_labels(labels, name):
    """Column names from a sequence of strings or integers (a DataFrame's columns)."""
    if (isinstance(labels, (str, bytes)) or not hasattr(labels, "__iter__")
            or (isinstance(labels, np.ndarray) and labels.ndim != 1)):
        raise TypeError(f"{name} must be a sequence of column names, got "
                        f"{type(labels).__name__}")
    out = []
    for label in labels:
        if not isinstance(label, (str, int, np.integer)) or isinstance(label, bool):
            raise TypeError(f"{name} must hold strings (or integers), got "
                            f"{type(label).__name__} {label!r:.40}")
        out.append(str(label))
    return out


def save_csv(path, X, y=None, feature_names=None, target_name="target", delimiter=","):
    """Write X, and y as a last column named `target_name`, as a CSV file with a header.

    X: a non-empty 2-D array of finite real numbers; y: None or n finite real numbers,
    shape (n,) or (n, 1).  feature_names default to x0, x1, ...  Floats are written
    with Python's shortest round-trip repr, integers as integers, so
    load_csv(path, target=target_name) gives back exactly X and y (as float64; or as
    float32 for float32 inputs read with dtype=np.float32).
    """
    _check_delimiter(delimiter)
    X = as_array(X, "X")
    if X.ndim != 2 or X.size == 0:
        raise ValueError(f"X must be a non-empty 2-D array, got shape {X.shape}")
    names = ([f"x{j}" for j in range(X.shape[1])] if feature_names is None
             else _column_labels(feature_names, "feature_names"))
    if len(names) != X.shape[1]:
        raise ValueError(f"feature_names has {len(names)} names for the {X.shape[1]} columns "
                         "of X")
    rows = _as_cells(X, "X")
    if y is not None:
        if not isinstance(target_name, str):
            raise TypeError(f"target_name must be a str, got {type(target_name).__name__}")
        y = as_array(y, "y")
        if y.shape not in ((X.shape[0],), (X.shape[0], 1)):
            raise ValueError(f"y must have shape ({X.shape[0]},) or ({X.shape[0]}, 1) to "
                             f"match X, got shape {y.shape}")
        for row, value in zip(rows, _as_cells(y.reshape(-1), "y")):
            row.append(value)
    _check_column_names(names, "save_csv: feature_names")
    if y is not None:
        names.append(target_name)
        _check_column_names(names, "save_csv: target_name")
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, delimiter=delimiter, lineterminator="\n")
        writer.writerow(names)
        writer.writerows(rows)
