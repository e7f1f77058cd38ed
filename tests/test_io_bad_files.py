"""Model files (fastmlp.io): every kind of bad file -- truncated, corrupted, not a zip,
pickled, foreign, inconsistent meta, bad params or scaler -- is a ValueError naming the
file, and nothing in it is ever unpickled.
"""
import json
import pickle
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

from fastmlp import io as fio

from _io_helpers import META_KEYS, make_net, inputs, assert_same_network


# ---------------------------------------------------------------------------
# Bad files: always a ValueError naming the file
# ---------------------------------------------------------------------------

def raises_naming(path, words=""):
    return pytest.raises(ValueError, match=re.escape(str(path)) + ".*" + words)


@pytest.fixture
def saved(tmp_path, rng):
    """(path, net) of a small valid model file with a scaler."""
    net = make_net(rng, "elu", "cross_entropy", np.float32, scaler=True)
    net.training = {"epochs": 2}
    path = tmp_path / "good.npz"
    fio.save(net, path)
    return path, net


def rewrite(src, dst, meta=None, drop=(), arrays=None, meta_text=None):
    """Copy the model file src to dst, changing meta keys / members."""
    with np.load(src, allow_pickle=False) as z:
        members = {k: z[k] for k in z.files if k not in drop}
    m = json.loads(str(members["meta"][()])) if "meta" in members else None
    if meta is not None:
        for k, v in meta.items():
            if v is DELETE:
                del m[k]
            else:
                m[k] = v
    if "meta" in members:
        members["meta"] = np.array(meta_text if meta_text is not None else json.dumps(m))
    members.update(arrays or {})
    with open(dst, "wb") as f:
        np.savez(f, **members)
    return dst


DELETE = object()


def test_rewrite_helper_unchanged_file_still_loads(saved, tmp_path, rng):
    path, net = saved
    assert_same_network(net, fio.load(rewrite(path, tmp_path / "copy.npz")), inputs(rng, net))


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        fio.load(tmp_path / "absent.npz")


def test_every_truncation_is_a_value_error(saved, tmp_path):
    path, _ = saved
    data = path.read_bytes()
    bad = tmp_path / "cut.npz"
    for n in sorted(set(range(0, len(data), 7)) | {1, 2, 3, 4, len(data) // 2, len(data) - 1}):
        bad.write_bytes(data[:n])
        with raises_naming(bad):
            fio.load(bad)


@pytest.mark.parametrize("half", ["first", "second"])
def test_half_a_file_is_a_value_error(saved, tmp_path, half):
    path, _ = saved
    data = path.read_bytes()
    bad = tmp_path / "half.npz"
    bad.write_bytes(data[:len(data) // 2] if half == "first" else data[len(data) // 2:])
    with raises_naming(bad):
        fio.load(bad)


def test_every_single_byte_corruption_errors_or_loads_identically(saved, tmp_path, rng):
    """ZIP CRCs cover every member: a flipped byte is either caught or lands in
    bytes that do not matter (timestamps, attributes); never a different model."""
    path, net = saved
    data = bytearray(path.read_bytes())
    bad = tmp_path / "flip.npz"
    X = inputs(rng, net)
    n_caught = 0
    for i in range(len(data)):
        flipped = bytearray(data)
        flipped[i] ^= 0xFF
        bad.write_bytes(bytes(flipped))
        try:
            loaded = fio.load(bad)
        except ValueError as exc:
            assert str(bad) in str(exc)
            n_caught += 1
        else:
            assert_same_network(net, loaded, X)
    assert n_caught > 0.8 * len(data)


@pytest.mark.parametrize("content", [b"", b"\x00" * 100, b"hello, world\n",
                                     b"\x93NUMPY", "random"],
                         ids=["empty", "zeros", "text", "npy_magic", "random"])
def test_not_a_zip_is_a_value_error(tmp_path, content):
    bad = tmp_path / "bad.npz"
    if content == "random":
        content = np.random.default_rng(0).bytes(4096)
    bad.write_bytes(content)
    with raises_naming(bad, "not an .npz"):
        fio.load(bad)


def test_a_plain_npy_file_is_a_value_error(tmp_path):
    bad = tmp_path / "arr.npy"
    np.save(bad, np.arange(10.0))
    with raises_naming(bad, "not an .npz"):
        fio.load(bad)


def test_a_pickle_file_is_never_unpickled(tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "evil.npz"
    bad.write_bytes(pickle.dumps(_Evil(str(marker))))
    with raises_naming(bad):
        fio.load(bad)
    assert not marker.exists()


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_pickled_meta_is_never_unpickled(saved, tmp_path):
    path, _ = saved
    marker = tmp_path / "pwned"
    bad = tmp_path / "evil.npz"
    obj = np.empty((), dtype=object)
    obj[()] = _Evil(str(marker))
    with np.load(path, allow_pickle=False) as z:
        members = {k: z[k] for k in z.files}
    members["meta"] = obj
    with open(bad, "wb") as f:
        np.savez(f, **members)          # writes the object array pickled
    with raises_naming(bad, "pickled"):
        fio.load(bad)
    assert not marker.exists()


def test_zip_without_npy_members_is_a_value_error(tmp_path):
    bad = tmp_path / "plain.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("readme.txt", "not a model")
    with raises_naming(bad, "no 'meta'"):
        fio.load(bad)


def test_foreign_npz_without_meta_is_a_value_error(tmp_path):
    bad = tmp_path / "foreign.npz"
    np.savez(bad, weights=np.ones(3), params=np.zeros(4))
    with raises_naming(bad, "no 'meta'"):
        fio.load(bad)


def test_foreign_format_is_a_value_error(saved, tmp_path):
    bad = rewrite(saved[0], tmp_path / "f.npz", meta={"format": "someoneelse.model"})
    with raises_naming(bad, "format is 'someoneelse.model'"):
        fio.load(bad)


def test_meta_of_a_foreign_program_is_a_value_error(saved, tmp_path):
    bad = rewrite(saved[0], tmp_path / "f.npz", meta_text=json.dumps({"framework": "other"}))
    with raises_naming(bad, "format is None"):
        fio.load(bad)


@pytest.mark.parametrize("version", [2, 99])
def test_newer_version_is_a_value_error(saved, tmp_path, version):
    bad = rewrite(saved[0], tmp_path / "new.npz", meta={"version": version})
    with raises_naming(bad, "newer fastmlp"):
        fio.load(bad)


@pytest.mark.parametrize("version", [0, -1, "1", 1.0, True, None])
def test_bad_version_is_a_value_error(saved, tmp_path, version):
    bad = rewrite(saved[0], tmp_path / "v.npz", meta={"version": version})
    with raises_naming(bad, "version"):
        fio.load(bad)


@pytest.mark.parametrize("text", ["{not json", "", "[1, 2, 3]", '"a string"'])
def test_meta_not_a_json_object_is_a_value_error(saved, tmp_path, text):
    bad = rewrite(saved[0], tmp_path / "j.npz", meta_text=text)
    with raises_naming(bad, "JSON"):
        fio.load(bad)


def test_meta_of_the_wrong_array_kind_is_a_value_error(saved, tmp_path):
    path, _ = saved
    with np.load(path, allow_pickle=False) as z:
        text = str(z["meta"][()])
    bad = rewrite(path, tmp_path / "b.npz", arrays={"meta": np.array(text.encode())})
    with raises_naming(bad, "0-d unicode"):
        fio.load(bad)
    bad = rewrite(path, tmp_path / "l.npz", arrays={"meta": np.array([text])})
    with raises_naming(bad, "0-d unicode"):
        fio.load(bad)


@pytest.mark.parametrize("key", sorted(META_KEYS - {"format", "version"}))
def test_missing_meta_key_is_a_value_error(saved, tmp_path, key):
    bad = rewrite(saved[0], tmp_path / "k.npz", meta={key: DELETE})
    with raises_naming(bad, f"lacks the key.*'{key}'"):
        fio.load(bad)


@pytest.mark.parametrize("change, words", [
    ({"sizes": [5, 6, 4]}, "activations must be a list of 2"),
    ({"sizes": [5]}, "sizes"),
    ({"sizes": [5, 0, 4, 3]}, "sizes"),
    ({"sizes": [5, 6.0, 4, 3]}, "sizes"),
    ({"sizes": "5,6,4,3"}, "sizes"),
    ({"activations": ["elu", "swish", "softmax"]}, "unknown activation 'swish'"),
    ({"activations": ["elu", "elu"]}, "activations"),
    ({"activations": ["softmax", "elu", "softmax"]}, "softmax"),
    ({"alphas": [0.5, 0.5]}, "alphas"),
    ({"alphas": [0.5, None, 0.0]}, "alphas"),
    ({"alphas": [0.0, 1.0, 0.0]}, "alpha for elu"),
    ({"loss": "hinge"}, "unknown loss 'hinge'"),
    ({"loss": "mse", "activations": ["elu", "elu", "relu"]}, None),   # valid: control
    ({"loss": "binary_cross_entropy"}, "needs a sigmoid output"),
    ({"l2": -1.0}, "l2"),
    ({"l2": "0.1"}, "l2"),
    ({"dtype": "float16"}, "dtype"),
    ({"dtype": "float64"}, "params has dtype float32, expected float64"),
    ({"n_params": 7}, "n_params"),
    ({"scaler": "yes"}, "scaler must be true or false"),
    ({"training": [1, 2]}, "training must be a JSON object"),
], ids=lambda v: "-".join(map(str, v)) if isinstance(v, dict) else None)
def test_inconsistent_meta_is_a_value_error(saved, tmp_path, rng, change, words):
    bad = rewrite(saved[0], tmp_path / "m.npz", meta=change)
    if words is None:
        loaded = fio.load(bad)
        assert loaded.loss_name == "mse" and loaded.layers[-1].activation == "relu"
        return
    with raises_naming(bad, words):
        fio.load(bad)


@pytest.mark.parametrize("kind", ["short", "long", "2d", "float64", "int", "empty"])
def test_params_of_the_wrong_length_dtype_or_shape_are_a_value_error(saved, tmp_path, kind):
    path, net = saved
    p = net.params
    params = {"short": p[:-1], "long": np.append(p, p[:1]), "2d": p.reshape(1, -1),
              "float64": p.astype(np.float64), "int": p.astype(np.int32),
              "empty": p[:0]}[kind]
    bad = rewrite(path, tmp_path / "p.npz", arrays={"params": params})
    with raises_naming(bad, "params has"):
        fio.load(bad)


def test_missing_params_is_a_value_error(saved, tmp_path):
    bad = rewrite(saved[0], tmp_path / "p.npz", drop=("params",))
    with raises_naming(bad, "'params' entry is missing"):
        fio.load(bad)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_params_are_a_value_error(saved, tmp_path, value):
    path, net = saved
    params = net.params.copy()
    params[5] = value
    bad = rewrite(path, tmp_path / "nan.npz", arrays={"params": params})
    with raises_naming(bad, "NaN or infinity"):
        fio.load(bad)


@pytest.mark.parametrize("kind", ["missing", "short", "float32", "zero_scale", "nan_mean"])
def test_bad_scaler_is_a_value_error(saved, tmp_path, kind):
    path, net = saved
    mean, scale = net.scaler.mean, net.scaler.scale.copy()
    drop, arrays = (), {}
    if kind == "missing":
        drop = ("scaler_scale",)
    elif kind == "short":
        arrays = {"scaler_mean": mean[:-1]}
    elif kind == "float32":
        arrays = {"scaler_scale": scale.astype(np.float32)}
    elif kind == "zero_scale":
        scale[1] = 0.0
        arrays = {"scaler_scale": scale}
    else:
        m = mean.copy()
        m[0] = np.nan
        arrays = {"scaler_mean": m}
    bad = rewrite(path, tmp_path / "s.npz", drop=drop, arrays=arrays)
    with raises_naming(bad, "scaler"):
        fio.load(bad)


def test_unknown_extra_members_and_keys_are_ignored(saved, tmp_path, rng):
    path, net = saved
    ok = rewrite(path, tmp_path / "x.npz", meta={"comment": "added later"},
                 arrays={"extra": np.arange(3)})
    assert_same_network(net, fio.load(ok), inputs(rng, net))


def test_directory_is_not_a_model(tmp_path):
    with pytest.raises(OSError):
        fio.load(tmp_path)
