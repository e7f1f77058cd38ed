"""fastmlp.datasets: IDX / MNIST / CSV loaders and the regression data set.

References are independent of the package: IDX files are written byte by byte with
struct, CSV files with the csv module, and the regression target is recomputed
from its documented formula.
"""
import csv
import gzip
import struct
import time
from pathlib import Path

import numpy as np
import pytest

from fastmlp import datasets

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


# ---------------------------------------------------------------------------
# IDX: written by hand
# ---------------------------------------------------------------------------

# type code, struct format character, native numpy dtype
IDX_VARIANTS = {
    "uint8": (0x08, "B", np.uint8),
    "int8": (0x09, "b", np.int8),
    "int16": (0x0B, "h", np.int16),
    "int32": (0x0C, "i", np.int32),
    "float32": (0x0D, "f", np.float32),
    "float64": (0x0E, "d", np.float64),
}


def idx_bytes(code, fmt, shape, values):
    """An IDX file's bytes, packed field by field with struct (big-endian)."""
    head = struct.pack(">BBBB", 0, 0, code, len(shape)) + struct.pack(f">{len(shape)}I", *shape)
    return head + struct.pack(f">{len(values)}{fmt}", *values)


def write(path, data, compress=False):
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def sample_values(kind, n, rng):
    if kind == "uint8":
        return rng.integers(0, 256, n).tolist()
    if kind == "int8":
        return rng.integers(-128, 128, n).tolist()
    if kind == "int16":
        return rng.integers(-2**15, 2**15, n).tolist()
    if kind == "int32":
        return rng.integers(-2**31, 2**31, n).tolist()
    if kind == "float32":       # values exactly representable in float32
        return np.float32(rng.standard_normal(n) * 1e3).astype(float).tolist()
    return (rng.standard_normal(n) * 10.0 ** rng.integers(-300, 300, n)).tolist()


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("kind, shape", [
    ("uint8", (7, 28, 28)), ("uint8", (11,)), ("int8", (3, 4)), ("int16", (2, 3, 4)),
    ("int32", (5, 3)), ("float32", (4, 6)), ("float64", (3, 2, 2, 5)), ("float64", (0, 3)),
])
def test_idx_round_trip(tmp_path, rng, kind, shape, compress):
    code, fmt, dtype = IDX_VARIANTS[kind]
    n = int(np.prod(shape))
    values = sample_values(kind, n, rng)
    path = write(tmp_path / "data.idx", idx_bytes(code, fmt, shape, values), compress)
    arr = datasets.load_idx(path)
    assert arr.shape == shape
    assert arr.dtype == np.dtype(dtype)          # native byte order
    assert arr.ravel().tolist() == values        # exactly, element for element
    arr[...] = 0                                 # a writable array of its own


def test_idx_gzip_detected_by_content_not_name(tmp_path):
    data = idx_bytes(0x08, "B", (2, 3), [1, 2, 3, 4, 5, 6])
    gz_without_suffix = write(tmp_path / "images-idx", data, compress=True)
    raw_with_suffix = write(tmp_path / "images-idx.gz", data)
    for path in (gz_without_suffix, raw_with_suffix, str(raw_with_suffix)):
        np.testing.assert_array_equal(datasets.load_idx(path), [[1, 2, 3], [4, 5, 6]])


def test_idx_loads_mnist_sized_file_fast(tmp_path, rng):
    pixels = rng.integers(0, 256, (10000, 28, 28), dtype=np.uint8)
    head = struct.pack(">BBBBIII", 0, 0, 0x08, 3, 10000, 28, 28)
    path = write(tmp_path / "t10k-images-idx3-ubyte.gz", head + pixels.tobytes(), True)
    start = time.perf_counter()
    arr = datasets.load_idx(path)
    elapsed = time.perf_counter() - start
    np.testing.assert_array_equal(arr, pixels)
    assert elapsed < 1.0, f"load_idx took {elapsed:.2f} s for 10000x28x28"


GOOD = idx_bytes(0x0C, "i", (2, 3), [1, -2, 3, -4, 5, -6])


@pytest.mark.parametrize("data, message", [
    (GOOD[:-1], "truncated: expected 24 data bytes after the header, found 23"),
    (GOOD[:12], "truncated: expected 24 data bytes after the header, found 0"),
    (GOOD[:10], "truncated header"),
    (GOOD[:3], "too short"),
    (b"", "too short"),
    (b"\x01" + GOOD[1:], "not an IDX file"),
    (b"\x00\x08" + GOOD[2:], "not an IDX file"),
    (b"PK\x03\x04" + GOOD[4:], "not an IDX file"),
    (GOOD[:2] + b"\x0A" + GOOD[3:], "unknown IDX element type 0x0A"),
    (GOOD[:2] + b"\x07" + GOOD[3:], "unknown IDX element type 0x07"),
    (GOOD[:3] + b"\x00", "zero dimensions"),
    (GOOD + b"\x00", "trailing bytes after the data: expected 24 data bytes after the "
                      "header, found 25"),
    (GOOD + b"garbage!", "expected 24 data bytes after the header, found 32"),
], ids=["truncated-1", "no-data", "truncated-header", "3-bytes", "empty", "magic-01",
        "magic-0008", "zip-file", "type-0A", "type-07", "zero-dims", "trailing-1",
        "trailing-8"])
@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
def test_idx_errors_name_the_file(tmp_path, data, message, compress):
    path = write(tmp_path / "bad-file.idx", data, compress)
    with pytest.raises(ValueError) as info:
        datasets.load_idx(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


@pytest.mark.parametrize("damage", ["truncated", "flipped-payload", "bad-crc", "bad-method"])
def test_idx_corrupt_gzip(tmp_path, damage):
    gz = bytearray(gzip.compress(GOOD * 50, mtime=0))
    if damage == "truncated":
        gz = gz[:len(gz) // 2]
    elif damage == "flipped-payload":
        for i in range(12, len(gz) - 8):
            gz[i] ^= 0x5A
    elif damage == "bad-crc":
        gz[-8] ^= 0xFF
    else:
        gz[2] = 7                                # compression method other than deflate
    path = write(tmp_path / "images.gz", bytes(gz))
    with pytest.raises(ValueError, match="corrupt gzip") as info:
        datasets.load_idx(path)
    assert str(path) in str(info.value)


def test_idx_missing_file(tmp_path):
    path = tmp_path / "nowhere.idx"
    with pytest.raises(FileNotFoundError) as info:
        datasets.load_idx(path)
    assert str(path) in str(info.value)


# ---------------------------------------------------------------------------
# MNIST: a synthetic directory, then the real data if present
# ---------------------------------------------------------------------------

def write_mnist(directory, prefix, images, labels, compress=True, label_code=0x08):
    """IDX image and label files as MNIST names them; images (n, rows, cols) uint8."""
    suffix = ".gz" if compress else ""
    n, rows, cols = images.shape
    write(directory / f"{prefix}-images-idx3-ubyte{suffix}",
          idx_bytes(0x08, "B", (n, rows, cols), images.ravel().tolist()), compress)
    write(directory / f"{prefix}-labels-idx1-ubyte{suffix}",
          idx_bytes(label_code, "B", (len(labels),), list(labels)), compress)


@pytest.fixture
def mnist_dir(tmp_path, rng):
    train = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    train[0, 0, 0], train[0, 0, 1] = 0, 255
    test = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    write_mnist(tmp_path, "train", train, [5, 0, 4, 1, 9], compress=True)
    write_mnist(tmp_path, "t10k", test, [7, 2, 1], compress=False)
    return tmp_path, {"train": (train, [5, 0, 4, 1, 9]), "test": (test, [7, 2, 1])}


@pytest.mark.parametrize("split", ["train", "test"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mnist_synthetic(mnist_dir, split, dtype):
    directory, truth = mnist_dir
    images, labels = truth[split]
    X, y = datasets.load_mnist(directory, split=split, dtype=dtype)
    assert X.shape == (len(labels), 784) and X.dtype == dtype
    ref = np.array([[p / 255 for p in img.ravel().tolist()] for img in images], dtype=dtype)
    np.testing.assert_array_equal(X, ref)
    assert y.dtype == np.intp and y.tolist() == labels
    X3, y3 = datasets.load_mnist(str(directory), split=split, dtype=dtype, flatten=False)
    assert X3.shape == (len(labels), 28, 28)
    np.testing.assert_array_equal(X3.reshape(len(labels), -1), X)
    if split == "train":
        assert X[0, 0] == 0.0 and X[0, 1] == 1.0


def test_mnist_default_split_and_dtype(mnist_dir):
    directory, truth = mnist_dir
    X, y = datasets.load_mnist(directory)
    assert X.dtype == np.float32 and y.tolist() == truth["train"][1]


def test_mnist_prefers_the_uncompressed_file(mnist_dir):
    directory, _ = mnist_dir
    other = np.full((5, 28, 28), 51, dtype=np.uint8)
    write_mnist(directory, "train", other, [3, 3, 3, 3, 3], compress=False)
    X, y = datasets.load_mnist(directory, "train")
    assert y.tolist() == [3] * 5 and np.all(X == np.float32(0.2))


def test_mnist_missing_files(tmp_path, mnist_dir):
    with pytest.raises(FileNotFoundError) as info:
        datasets.load_mnist(tmp_path / "empty-dir-that-does-not-exist")
    msg = str(info.value)
    assert "train-images-idx3-ubyte" in msg and "train-images-idx3-ubyte.gz" in msg
    directory, _ = mnist_dir
    (directory / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError) as info:
        datasets.load_mnist(directory, "test")
    assert str(directory / "t10k-labels-idx1-ubyte.gz") in str(info.value)


def test_mnist_bad_split(mnist_dir):
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        datasets.load_mnist(mnist_dir[0], split="validation")


def test_mnist_checks_files(tmp_path, rng):
    images = rng.integers(0, 256, (4, 28, 28), dtype=np.uint8)
    write_mnist(tmp_path, "train", images, [1, 2, 3])                 # count mismatch
    with pytest.raises(ValueError, match="4 images .* 3 labels"):
        datasets.load_mnist(tmp_path)
    write_mnist(tmp_path, "train", images, [1, 2, 10, 3])             # label out of range
    with pytest.raises(ValueError, match="label 10 at index 2 is outside 0..9"):
        datasets.load_mnist(tmp_path)
    write_mnist(tmp_path, "train", images, [1, 2, 3, 4], label_code=0x09)   # int8 labels
    with pytest.raises(ValueError, match="labels must be a 1-D uint8 array"):
        datasets.load_mnist(tmp_path)
    write(tmp_path / "train-labels-idx1-ubyte.gz",
          idx_bytes(0x08, "B", (2, 2), [1, 2, 3, 4]), True)            # 2-D labels
    with pytest.raises(ValueError, match="labels must be a 1-D uint8 array"):
        datasets.load_mnist(tmp_path)
    write(tmp_path / "train-images-idx3-ubyte.gz",
          idx_bytes(0x0C, "i", (4, 2, 2), list(range(16))), True)      # int32 images
    with pytest.raises(ValueError, match="images must be a 3-D uint8 array"):
        datasets.load_mnist(tmp_path)


@pytest.fixture(scope="module")
def real_mnist():
    if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"real MNIST files not found in {MNIST_DIR}")
    return MNIST_DIR


def test_real_mnist_test_split(real_mnist):
    X, y = datasets.load_mnist(real_mnist, "test")
    assert X.shape == (10000, 784) and X.dtype == np.float32
    assert X.min() == 0.0 and X.max() == 1.0
    assert y[0] == 7 and y[1] == 2                      # the first two MNIST test digits
    counts = np.bincount(y, minlength=10)
    assert counts.sum() == 10000 and np.all((counts >= 800) & (counts <= 1300)), counts
    # independently: the raw bytes after the 16-byte header, / 255
    raw = gzip.decompress((real_mnist / "t10k-images-idx3-ubyte.gz").read_bytes())
    assert struct.unpack(">IIII", raw[:16]) == (0x803, 10000, 28, 28)
    pixels = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(10000, 784)
    np.testing.assert_array_equal(X, pixels.astype(np.float32) / np.float32(255))


def test_real_mnist_train_split(real_mnist):
    X, y = datasets.load_mnist(real_mnist, "train", flatten=False)
    assert X.shape == (24345, 28, 28) and y.shape == (24345,)
    assert X.min() == 0.0 and X.max() == 1.0
    assert y[:5].tolist() == [5, 0, 4, 1, 9]             # the first MNIST training digits
    assert set(np.unique(y).tolist()) == set(range(10))


# ---------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------

def write_rows(path, rows, delimiter=","):
    with open(path, "w", newline="") as f:
        csv.writer(f, delimiter=delimiter).writerows(rows)
    return path


def write_text(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_round_trip_with_save_csv(tmp_path, rng):
    X = rng.standard_normal((50, 4)) * 10.0 ** rng.integers(-20, 20, (50, 4))
    y = rng.integers(0, 3, 50)
    path = tmp_path / "data.csv"
    datasets.save_csv(path, X, y, feature_names=["a", "b c", "d,e", 'q"uote'], target_name="cls")
    X2, y2, names = datasets.load_csv(path, target="cls")
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)
    assert X2.dtype == np.float64 and y2.dtype == np.float64
    assert names == ["a", "b c", "d,e", 'q"uote']
    with open(path, newline="") as f:                   # independently: the header row
        assert next(csv.reader(f)) == ["a", "b c", "d,e", 'q"uote', "cls"]


def test_csv_round_trip_float32(tmp_path, rng):
    X = rng.standard_normal((20, 3)).astype(np.float32)
    path = tmp_path / "f32.csv"
    datasets.save_csv(path, X, y=X[:, 0] * 2, target_name="t")
    X2, y2, names = datasets.load_csv(path, target="t", dtype=np.float32)
    assert X2.dtype == np.float32 and names == ["x0", "x1", "x2"]
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, X[:, 0] * 2)


def test_csv_written_with_csv_module(tmp_path):
    rows = [["age", "income", "label"], ["31", "1.5e3", "1"], [" 40", "-0.25", "0"],
            ["27", "7", "1"]]
    path = write_rows(tmp_path / "people.csv", rows, delimiter=";")
    X, y, names = datasets.load_csv(path, target="label", delimiter=";")
    np.testing.assert_array_equal(X, [[31, 1500], [40, -0.25], [27, 7]])
    np.testing.assert_array_equal(y, [1, 0, 1])
    assert names == ["age", "income"]
    # by index, positive and negative
    for target in (0, -3):
        X, y, names = datasets.load_csv(path, target=target, delimiter=";")
        np.testing.assert_array_equal(y, [31, 40, 27])
        np.testing.assert_array_equal(X, [[1500, 1], [-0.25, 0], [7, 1]])
        assert names == ["income", "label"]
    # no target: every column is a feature
    X, y, names = datasets.load_csv(path, delimiter=";")
    assert y is None and X.shape == (3, 3) and names == ["age", "income", "label"]


def test_csv_quoted_fields_bom_and_blank_lines(tmp_path):
    text = '\ufeff"a","b"\n\n"1","2"\n3,"4"\n\n'
    X, y, names = datasets.load_csv(write_text(tmp_path / "q.csv", text), target="b")
    assert names == ["a"]
    np.testing.assert_array_equal(X, [[1], [3]])
    np.testing.assert_array_equal(y, [2, 4])


def test_csv_non_numeric_cell_names_line_and_column(tmp_path):
    rows = [["id", "age", "score"], ["1", "30", "2.5"], ["2", "abc", "3.5"]]
    path = write_rows(tmp_path / "data.csv", rows)
    with pytest.raises(ValueError) as info:
        datasets.load_csv(path, target="score")
    assert str(info.value) == f"{path}: line 3, column 'age': 'abc' is not a number"


@pytest.mark.parametrize("cell, phrase", [
    ("", "empty cell a missing value"), ("  ", "empty cell"), ("nan", "'nan' is a missing value"),
    ("NA", "'NA' is a missing value; drop such rows"),
    ("-inf", "'-inf' is not a finite number"), ("1,5", "'1,5' is not a number"),
    ("0x10", "'0x10' is not a number"),
])
def test_csv_bad_cells(tmp_path, cell, phrase):
    rows = [["x", "y"], ["1", "2"], ["3", "4"], ["5", cell], ["7", "8"]]
    path = write_rows(tmp_path / "cells.csv", rows)
    with pytest.raises(ValueError) as info:
        datasets.load_csv(path)
    assert f"{path}: line 4, column 'y': " in str(info.value)
    assert phrase in str(info.value)


def test_csv_line_numbers_count_blank_lines_and_multiline_records(tmp_path):
    # line 1 header, 2 blank, 3-4 one record (a quoted field spanning two lines), 5 bad
    text = 'a,b\n\n"1\n",2\n3,x\n'
    path = write_text(tmp_path / "lines.csv", text)
    with pytest.raises(ValueError, match=r"line 5, column 'b': 'x' is not a number"):
        datasets.load_csv(path)


@pytest.mark.parametrize("row, found", [(["1"], 1), (["1", "2", "3"], 3)])
def test_csv_wrong_field_count(tmp_path, row, found):
    path = write_rows(tmp_path / "ragged.csv", [["a", "b"], ["1", "2"], row, ["5", "6"]])
    with pytest.raises(ValueError) as info:
        datasets.load_csv(path)
    assert str(path) in str(info.value)
    assert f"line 3: expected 2 fields (one per header column), found {found}" in str(info.value)


def test_csv_unknown_target_lists_columns(tmp_path):
    path = write_rows(tmp_path / "t.csv", [["age", "income"], ["1", "2"]])
    with pytest.raises(ValueError) as info:
        datasets.load_csv(path, target="price")
    msg = str(info.value)
    assert str(path) in msg and "'price'" in msg and "'age', 'income'" in msg
    with pytest.raises(ValueError, match="index 2 is out of range for 2 columns"):
        datasets.load_csv(path, target=2)
    with pytest.raises(TypeError):
        datasets.load_csv(path, target=1.0)


@pytest.mark.parametrize("text, phrase", [
    ("", "the file is empty"),
    ("\n\n", "the file is empty"),
    ("a,b\n", "header row but no data rows"),
    ("a,b\n\n", "header row but no data rows"),
    ("a,a\n1,2\n", "'a' appears more than once"),
    ("a,,c\n1,2,3\n", "column 2 has an empty name"),
    ("only\n1\n", "no feature columns"),
])
def test_csv_structure_errors(tmp_path, text, phrase):
    path = write_text(tmp_path / "s.csv", text)
    with pytest.raises(ValueError) as info:
        datasets.load_csv(path, target="only" if "only" in text else None)
    assert str(path) in str(info.value) and phrase in str(info.value)


def test_csv_text_labels_as_the_target(tmp_path):
    rows = [["a", "b", "kind"], ["1", "2", "setosa"], ["3", "4", " virginica "],
            ["5", "6", "3"]]
    X, y, names = datasets.load_csv(write_rows(tmp_path / "t.csv", rows), target="kind")
    assert y.dtype.kind == "U" and y.tolist() == ["setosa", "virginica", "3"]
    np.testing.assert_array_equal(X, [[1, 2], [3, 4], [5, 6]])
    with pytest.raises(ValueError, match="line 2, column 'kind': 'setosa' is not a number"):
        datasets.load_csv(tmp_path / "t.csv")                     # a text feature


def test_csv_several_targets(tmp_path):
    rows = [["a", "b", "c"], ["1", "2", "3"], ["4", "5", "6"]]
    path = write_rows(tmp_path / "m.csv", rows)
    X, y, names = datasets.load_csv(path, target=["c", "a"])
    np.testing.assert_array_equal(y, [[3, 1], [6, 4]])
    assert names == ["b"] and X.shape == (2, 1)
    X, y, names = datasets.load_csv(path, target=["c"])           # a list: 2-D y
    assert y.shape == (2, 1)
    with pytest.raises(ValueError, match="distinct columns"):
        datasets.load_csv(path, target=["a", "a"])


def test_csv_missing_values_dropped_with_a_warning(tmp_path):
    rows = [["a", "b"], ["1", "2"], ["NA", "4"], ["5", ""], ["7", "n/a"], ["9", "?"],
            ["11", "12"]]
    path = write_rows(tmp_path / "na.csv", rows)
    with pytest.warns(UserWarning, match="left out 4 row"):
        X, y, names = datasets.load_csv(path, target="b", missing="drop")
    np.testing.assert_array_equal(X[:, 0], [1, 11])
    np.testing.assert_array_equal(y, [2, 12])
    with pytest.raises(ValueError, match="line 3, column 'a': 'NA' is a missing value"):
        datasets.load_csv(path)
    with pytest.raises(ValueError, match="missing must be"):
        datasets.load_csv(path, missing="mean")


def test_csv_pandas_index_column(tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"x": [0.5, 1.5, 2.5], "y": [1, 0, 1]}, index=[7, 2, 9])
    frame.to_csv(tmp_path / "p.csv")                      # header ",x,y"
    with pytest.warns(UserWarning, match="pandas index column"):
        X, y, names = datasets.load_csv(tmp_path / "p.csv", target="y")
    assert names == ["x"] and X[:, 0].tolist() == [0.5, 1.5, 2.5]
    # an unnamed first column that is not an index (repeated values) is refused
    write_text(tmp_path / "q.csv", ",x\n1,2\n1,3\n")
    with pytest.raises(ValueError, match="column 1 has an empty name"):
        datasets.load_csv(tmp_path / "q.csv")


def test_csv_delimiter_from_the_file_name(tmp_path):
    path = write_text(tmp_path / "t.tsv", "a\tb\n1\t2\n3\t4\n")
    X, y, names = datasets.load_csv(path, target="b", delimiter=None)
    np.testing.assert_array_equal(X, [[1], [3]])
    assert names == ["a"]


def test_csv_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        datasets.load_csv(tmp_path / "absent.csv")
    assert "absent.csv" in str(info.value)


def test_save_csv_rejects_bad_input(tmp_path):
    path = tmp_path / "out.csv"
    with pytest.raises(ValueError, match="NaN"):
        datasets.save_csv(path, np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="2 names for 3 columns"):
        datasets.save_csv(path, np.zeros((2, 3)), feature_names=["a", "b"])
    with pytest.raises(ValueError, match="shape"):
        datasets.save_csv(path, np.zeros((2, 3)), y=np.zeros(3))
    with pytest.raises(ValueError, match="more than once"):
        datasets.save_csv(path, np.zeros((2, 1)), y=[1, 2], feature_names=["target"])


def test_csv_100k_rows_load_in_seconds(tmp_path, rng):
    X = rng.standard_normal((100_000, 19))
    y = rng.integers(0, 10, 100_000)
    path = tmp_path / "big.csv"
    datasets.save_csv(path, X, y)
    start = time.perf_counter()
    X2, y2, names = datasets.load_csv(path, target="target")
    elapsed = time.perf_counter() - start
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)
    assert elapsed < 5.0, f"load_csv took {elapsed:.1f} s for 100k x 20"


# ---------------------------------------------------------------------------
# regression
# ---------------------------------------------------------------------------

def reference_f(X):
    """The documented target: sin(x0)·cos(x1) + 0.5·x0 + 0.25·Σ_{j≥2} x_j², x1 = 0 if absent."""
    out = []
    for row in X.tolist():
        x0, x1 = row[0], (row[1] if len(row) > 1 else 0.0)
        out.append(np.sin(x0) * np.cos(x1) + 0.5 * x0 + 0.25 * sum(v * v for v in row[2:]))
    return np.array(out).reshape(-1, 1)


@pytest.mark.parametrize("n_features", [1, 2, 5])
def test_regression_matches_documented_formula(n_features):
    X, y = datasets.regression(300, n_features=n_features, noise=0.0, seed=3)
    assert X.shape == (300, n_features) and y.shape == (300, 1)
    assert X.min() >= -2 and X.max() <= 2 and X.min() < -1.9 and X.max() > 1.9
    np.testing.assert_allclose(y, reference_f(X), rtol=1e-13, atol=1e-13)


def test_regression_is_seeded_and_noise_is_additive():
    X1, y1 = datasets.regression(20000, noise=0.1, seed=7)
    X2, y2 = datasets.regression(20000, noise=0.1, seed=7)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    X3, y3 = datasets.regression(20000, noise=0.1, seed=8)
    assert not np.array_equal(X1, X3)
    X0, y0 = datasets.regression(20000, noise=0.0, seed=7)
    np.testing.assert_array_equal(X0, X1)          # X is drawn before the noise
    residual = (y1 - reference_f(X1)).ravel()
    assert abs(residual.mean()) < 0.005 and 0.097 < residual.std() < 0.103


def test_regression_dtype_and_arguments():
    X, y = datasets.regression(10, dtype=np.float32, seed=0)
    assert X.dtype == np.float32 and y.dtype == np.float32
    with pytest.raises(ValueError):
        datasets.regression(0)
    with pytest.raises(ValueError):
        datasets.regression(10, n_features=0)
    with pytest.raises(ValueError):
        datasets.regression(10, noise=-0.1)
