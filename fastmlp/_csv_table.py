"""CSV tables: load_csv and save_csv (re-exported by fastmlp.datasets, where they
are documented for users).

A table is read record by record with the csv module into one float64 buffer; each
row's line in the file is kept, so that every error can name the file, the line and
the column.
"""
import csv
import io
import math
import warnings
from array import array

import numpy as np

from ._atomic import write_atomically
from ._validation import as_array, check_dtype, check_path

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

    def __init__(self, names, name, targets, missing, hint=""):
        self.names, self.name, self.targets, self.missing = names, name, targets, missing
        self.hint = hint                 # appended to a wrong field count (the delimiter?)
        self.values = array("d")
        self.labels = []                 # the single target's cells, stripped
        self.lines = array("q")          # each row's line in the file
        self.text_target = False         # some target cell is text, not a number
        self.n_rows = self.dropped = 0

    def add(self, fields, line):
        if len(fields) != len(self.names):
            raise ValueError(f"{self.name}: line {line}: expected {len(self.names)} fields "
                             f"(one per header column), found {len(fields)}{self.hint}")
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


def _delimiter_hint(names, delimiter):
    """For a header whose names hold another usual separator: a hint to pass that one."""
    for sep in (",", ";", "\t", "|"):
        if sep != delimiter and any(sep in col for col in names):
            shape = ("is one column" if len(names) == 1 else
                     f"has the columns {', '.join(map(repr, names[:4]))}"
                     + ", ..." * (len(names) > 4))
            return (f" (with delimiter={delimiter!r} the header {shape}; is the file "
                    f"separated by {sep!r}?)")
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
    name = path = check_path(path)
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
        hint = _delimiter_hint(names, delimiter)
        try:
            _check_column_names(names, header, index_column=len(names) > 1)
            targets = _target_columns(target, names, name)
        except ValueError as exc:
            raise ValueError(f"{exc}{hint}") from None
        rows = _Rows(names, name, targets, missing, hint)
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
                         + hint)
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
    path = check_path(path, writing=True)
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

    def write(binary):
        file = io.TextIOWrapper(binary, encoding="utf-8", newline="")
        writer = csv.writer(file, delimiter=delimiter, lineterminator="\n")
        writer.writerow(names)
        writer.writerows(rows)
        file.flush()
        file.detach()           # write_atomically syncs and closes the binary file
    write_atomically(path, write)
