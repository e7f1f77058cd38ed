"""fastmlp.datasets: the IDX / MNIST loaders and the regression data set (CSV files:
test_csv.py).

References are independent of the package: IDX files are written byte by byte with
struct, and the regression target is recomputed from its documented formula.
"""
import gzip
import struct
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


def test_idx_loads_an_mnist_sized_file(tmp_path, rng):
    pixels = rng.integers(0, 256, (10000, 28, 28), dtype=np.uint8)
    head = struct.pack(">BBBBIII", 0, 0, 0x08, 3, 10000, 28, 28)
    path = write(tmp_path / "t10k-images-idx3-ubyte.gz", head + pixels.tobytes(), True)
    np.testing.assert_array_equal(datasets.load_idx(path), pixels)


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
