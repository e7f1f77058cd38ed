"""Hostile model files and IDX files (issue 10 §2 and §5): every file of the corpus
that tests/hostile_files.py writes, and randomly damaged copies of valid files, give
a clean ValueError naming the file (never a crash, a hang or a large allocation),
or, for damage that misses everything that matters, the very same model.

FASTMLP_FUZZ_FILES=N runs N damaged copies of each valid file (default 150).
"""
import gzip
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from fastmlp import Network, Standardizer, datasets
from fastmlp import io as fio
from fastmlp._npz import Member

import hostile_files as hostile

N_MUTATIONS = int(os.environ.get("FASTMLP_FUZZ_FILES", "150"))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    (root / "models").mkdir()
    (root / "idx").mkdir()
    return hostile.model_corpus(root / "models"), hostile.idx_corpus(root / "idx")


def outcome(load, path):
    """'ok', 'ValueError' (naming the file) or a description of what went wrong."""
    try:
        load(path)
    except ValueError as exc:
        return "ValueError" if str(path) in str(exc) else f"ValueError not naming it: {exc}"
    except BaseException as exc:               # noqa: BLE001 - that is the finding
        return f"{type(exc).__name__}: {exc}"
    return "ok"


def test_every_hostile_model_file_is_a_value_error(corpus):
    models, _ = corpus
    assert len(models) > 90
    wrong = {f"{p.name} ({what})": r for p, what in models
             if (r := outcome(fio.load, p)) != "ValueError"}
    assert wrong == {}


def test_every_hostile_idx_file_is_a_value_error(corpus):
    _, files = corpus
    assert len(files) > 25
    wrong = {f"{p.name} ({what})": r for p, what in files
             if (r := outcome(datasets.load_idx, p)) != "ValueError"}
    assert wrong == {}


def test_the_corpus_control_loads(tmp_path):
    """The valid file the corpus is made from loads, with the parameters written."""
    net = fio.load(hostile.valid_model(tmp_path / "valid.npz"))
    assert list(net.sizes) == list(hostile.SIZES)
    assert np.array_equal(net.params, np.linspace(-1, 1, hostile.N_PARAMS))
    arr = datasets.load_idx(_write(tmp_path / "valid.idx", hostile.valid_idx()))
    assert np.array_equal(arr, np.arange(24, dtype=np.uint8).reshape(4, 3, 2))


def _write(path, data):
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------------------
# Headers before data: the bombs' data are never read
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name, words, read_before", [
    ("bomb_params", r"params has shape \(2097152,\), expected \(26,\)", ["meta"]),
    ("bomb_params_header_small", r"'params' entry is 16,777,344 bytes long, but its header",
     ["meta"]),
    ("bomb_meta", "'meta' holds 17,825,792 characters; model files hold at most 16,777,216",
     []),
    ("bomb_meta_header_small", "'meta' entry is 16,777,280 bytes long", []),
    ("bomb_claims_ratio", "'params' entry claims to inflate", ["meta"]),
    ("layers_300k", "declare 300,000 layers; model files hold at most 1,000", ["meta"]),
])
def test_bombs_are_refused_before_their_data_are_read(corpus, monkeypatch, name, words,
                                                      read_before):
    path = next(p for p, _ in corpus[0] if p.name == name + ".npz")
    read = []
    real = Member.read_into
    monkeypatch.setattr(Member, "read_into",
                        lambda self, out: (read.append(self.name), real(self, out))[1])
    with pytest.raises(ValueError, match=words):
        fio.load(path)
    assert read == read_before          # the bomb's own data were never read


def test_big_endian_params_load_with_their_values(tmp_path):
    """Byte order is whatever the .npy header says (the documented format)."""
    values = np.linspace(-3, 3, hostile.N_PARAMS)
    path = hostile.write_zip(tmp_path / "be.npz", [
        ("meta", hostile.meta_member()), ("params", hostile.params_member(values, ">f8"))])
    loaded = fio.load(path)
    assert loaded.params.dtype == np.dtype("=f8")
    assert np.array_equal(loaded.params, values)


def test_deflated_members_within_the_ratio_load(tmp_path):
    # zero parameters compress about 1000:1, within what deflate can do: a valid file
    path = hostile.write_zip(tmp_path / "z.npz", [
        ("meta", hostile.meta_member()), ("params", hostile.params_member(
            np.zeros(hostile.N_PARAMS)))], zipfile.ZIP_DEFLATED)
    assert not fio.load(path).params.any()


def test_meta_within_the_limit_loads(tmp_path):
    """A long training record (here 200,000 numbers) is not mistaken for a bomb."""
    meta = hostile.meta_dict(training={"history": list(range(200_000))})
    path = hostile.write_zip(tmp_path / "long.npz", [("meta", hostile.meta_member(meta)),
                                                     ("params", hostile.params_member())])
    assert fio.load(path).training["history"][-1] == 199_999


def test_the_layer_limit_is_inclusive(tmp_path):
    n = fio.MAX_LAYERS
    meta = hostile.meta_dict(sizes=[1] * (n + 1), activations=["tanh"] * (n - 1) + ["softmax"],
                             alphas=[0.0] * n, n_params=2 * n)
    members = [("meta", hostile.meta_member(meta)),
               ("params", hostile.npy("<f8", (2 * n,), np.ones(2 * n).tobytes()))]
    assert len(fio.load(hostile.write_zip(tmp_path / "deep.npz", members)).layers) == n
    meta.update(sizes=[1] * (n + 2), activations=["tanh"] * n + ["softmax"],
                alphas=[0.0] * (n + 1), n_params=2 * n + 2)
    members = [("meta", hostile.meta_member(meta)),
               ("params", hostile.npy("<f8", (2 * n + 2,), np.ones(2 * n + 2).tobytes()))]
    with pytest.raises(ValueError, match=f"declare {n + 1:,} layers"):
        fio.load(hostile.write_zip(tmp_path / "deeper.npz", members))


def test_idx_gzip_is_inflated_no_further_than_declared(tmp_path, monkeypatch):
    path = next(p for p, _ in hostile.idx_corpus(_mkdir(tmp_path / "c"))
                if p.name == "bomb_trailing.gz")
    inflated = []
    real = datasets._Stream.read
    monkeypatch.setattr(datasets._Stream, "read",
                        lambda self, n: inflated.append(len(chunk := real(self, n))) or chunk)
    with pytest.raises(ValueError, match="trailing bytes after the data: expected 3 data "
                                         "bytes after the header, found more than"):
        datasets.load_idx(path)
    assert sum(inflated) <= 4 + 4 + 3 + datasets._TRAILING_SHOWN + (1 << 16)


def _mkdir(path):
    path.mkdir()
    return path


def test_load_mnist_names_the_file_of_an_empty_image_set(tmp_path):
    images = tmp_path / "train-images-idx3-ubyte"
    images.write_bytes(hostile.idx(0x08, (0, 28, 28), b""))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(hostile.idx(0x08, (0,), b""))
    with pytest.raises(ValueError, match=f"{images}: MNIST images must be a non-empty"):
        datasets.load_mnist(tmp_path)


# ---------------------------------------------------------------------------
# Random damage (a fixed seed; FASTMLP_FUZZ_FILES=N for a longer campaign)
# ---------------------------------------------------------------------------

def _valid_bases(tmp_path):
    """(name, bytes, loader, check of a successful load) of valid files to damage."""
    rng = np.random.default_rng(1)
    net = Network([3, 5, 2], activation="elu", loss="cross_entropy", dtype=np.float32,
                  seed=0)
    net.params[...] = rng.standard_normal(net.n_params)
    net.scaler = Standardizer(rng.normal(size=3), rng.uniform(1, 2, 3))
    net.training = {"input_min": [-1.0, -2.0, 0.0], "input_max": [1.0, 2.0, 5.0],
                    "feature_names": ["a", "b", "c"], "classes": ["x", "y"]}
    net.save(tmp_path / "stored.npz")
    with np.load(tmp_path / "stored.npz") as z:
        members = {k: z[k] for k in z.files}
    with open(tmp_path / "deflated.npz", "wb") as f:
        np.savez_compressed(f, **members)

    def same_model(loaded):
        assert np.array_equal(loaded.params, net.params), "a damaged file loaded differently"
        assert loaded.training == json.loads(json.dumps(net.training))

    idx = hostile.idx(0x0C, (5, 4), np.arange(20, dtype=">i4").tobytes())
    return [("stored.npz", (tmp_path / "stored.npz").read_bytes(), fio.load, same_model),
            ("deflated.npz", (tmp_path / "deflated.npz").read_bytes(), fio.load, same_model),
            ("raw.idx", idx, datasets.load_idx, None),
            ("gz.idx", gzip.compress(idx, mtime=0), datasets.load_idx, None)]


def test_damaged_files_give_value_errors_or_the_same_model(tmp_path):
    bad = []
    for name, data, load, check in _valid_bases(tmp_path):
        rng = np.random.default_rng(sum(name.encode()))
        damaged = hostile.mutations(data, rng)
        path = tmp_path / ("damaged-" + name)
        for i in range(N_MUTATIONS):
            path.write_bytes(next(damaged))
            try:
                result = load(path)
            except ValueError as exc:
                if str(path) not in str(exc):
                    bad.append((name, i, f"ValueError not naming the file: {exc}"))
                continue
            except BaseException as exc:           # noqa: BLE001 - that is the finding
                bad.append((name, i, f"{type(exc).__name__}: {exc}"))
                continue
            if check is not None:
                try:
                    check(result)
                except AssertionError as exc:
                    bad.append((name, i, str(exc)))
    assert bad == []


# ---------------------------------------------------------------------------
# Memory: a legitimate model loads in about its own size
# ---------------------------------------------------------------------------

_PEAK = """
import sys, time
import fastmlp
def peak():     # VmHWM: this process's peak RSS (ru_maxrss would carry the parent's over exec)
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmHWM:"))
before = peak()
t = time.perf_counter()
net = fastmlp.Network.load(sys.argv[1])
seconds = time.perf_counter() - t
print(before, peak(), net.n_params)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="VmHWM in /proc/self/status (Linux)")
def test_loading_a_40_mb_model_peaks_below_twice_its_size(tmp_path):
    """issue 10 §2: a 160 MB model peaked at 799 MB (weights drawn, then overwritten).
    The parameters now go straight from the file into the network's buffer."""
    net = Network([1000, 5000, 1000, 10], dtype=np.float32, seed=0)   # 10M parameters
    path = tmp_path / "m.npz"
    net.save(path)
    size = path.stat().st_size
    assert size > 40e6
    proc = subprocess.run([sys.executable, "-c", _PEAK, str(path)], capture_output=True,
                          text=True, timeout=120, check=True, cwd=path.parent)
    before, after, n_params = map(int, proc.stdout.split())
    assert n_params == net.n_params
    assert after - before <= 2 * size + (16 << 20), (after - before) / size
