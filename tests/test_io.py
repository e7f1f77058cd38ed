"""Model files (fastmlp.io): bit-exact round trips, the documented format, atomic
saves, and clear ValueErrors (naming the file) for every kind of bad file.
"""
import json
import os
import pickle
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

import fastmlp
from fastmlp import Layer, Network
from fastmlp import io as fio
from fastmlp.preprocessing import Standardizer

HIDDEN = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "gelu"]
LOSSES = ["mse", "cross_entropy", "binary_cross_entropy"]
DTYPES = [np.float32, np.float64]
ALPHA = {"leaky_relu": 0.23, "elu": 0.7}
META_KEYS = {"format", "version", "sizes", "activations", "alphas", "loss", "l2", "dtype",
             "n_params", "scaler", "training", "fastmlp_version"}
SIZES = [5, 6, 4, 3]


def _dtype_id(d):
    return np.dtype(d).name


def make_net(rng, activation="tanh", loss="cross_entropy", dtype=np.float64, scaler=False,
             **kw):
    net = Network(SIZES, activation=activation, loss=loss, dtype=dtype, seed=3,
                  alpha=ALPHA.get(activation), l2=0.0125, **kw)
    # random biases too (they start at zero), so every parameter is checked
    net.params[...] = rng.standard_normal(net.n_params).astype(dtype)
    if scaler:
        net.scaler = Standardizer(rng.normal(3.0, 2.0, SIZES[0]), rng.uniform(0.1, 5.0, SIZES[0]))
    return net


def inputs(rng, net, n=9):
    X = rng.standard_normal((n, net.sizes[0]))
    if net.scaler is not None:
        X = X * net.scaler.scale + net.scaler.mean
    return X


def assert_same_network(a, b, X):
    assert type(b) is Network
    assert b.sizes == a.sizes
    assert b.dtype == a.dtype and b.params.dtype == a.params.dtype
    assert [l.activation for l in b.layers] == [l.activation for l in a.layers]
    assert [l.alpha for l in b.layers] == [l.alpha for l in a.layers]
    assert b.loss_name == a.loss_name
    assert b.l2 == a.l2
    assert np.array_equal(b.params, a.params)
    assert b.params.tobytes() == a.params.tobytes()           # bit-exact, signed zeros too
    if a.scaler is None:
        assert b.scaler is None
    else:
        assert np.array_equal(b.scaler.mean, a.scaler.mean)
        assert np.array_equal(b.scaler.scale, a.scaler.scale)
    assert np.array_equal(b.forward(X), a.forward(X))
    assert np.array_equal(b.predict(X), a.predict(X))


def round_trip(net, tmp_path, name="model.npz"):
    path = tmp_path / name
    fio.save(net, path)
    return fio.load(path)


# ---------------------------------------------------------------------------
# Round trips
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=_dtype_id)
@pytest.mark.parametrize("activation", HIDDEN)
def test_round_trip_every_hidden_activation(tmp_path, rng, activation, dtype):
    net = make_net(rng, activation, "cross_entropy", dtype)
    loaded = round_trip(net, tmp_path)
    assert_same_network(net, loaded, inputs(rng, net))
    if activation in ALPHA:
        assert loaded.layers[0].alpha == ALPHA[activation]


@pytest.mark.parametrize("scaler", [False, True], ids=["no_scaler", "scaler"])
@pytest.mark.parametrize("dtype", DTYPES, ids=_dtype_id)
@pytest.mark.parametrize("loss", LOSSES)
def test_round_trip_every_loss(tmp_path, rng, loss, dtype, scaler):
    net = make_net(rng, "relu", loss, dtype, scaler=scaler)
    loaded = round_trip(net, tmp_path)
    assert_same_network(net, loaded, inputs(rng, net))
    # the loaded network trains identically: same loss, l2 and kernels
    X = inputs(rng, net, 16)
    y = {"mse": rng.standard_normal((16, SIZES[-1])),
         "cross_entropy": rng.integers(0, SIZES[-1], 16),
         "binary_cross_entropy": rng.integers(0, 2, (16, SIZES[-1])).astype(float)}[loss]
    assert net.train_step(X, y, 0.05) == loaded.train_step(X, y, 0.05)
    assert np.array_equal(net.params, loaded.params)


@pytest.mark.parametrize("dtype", DTYPES, ids=_dtype_id)
@pytest.mark.parametrize("out_act", HIDDEN)
def test_round_trip_mse_output_activations_with_per_layer_alphas(tmp_path, rng, out_act, dtype):
    alpha = {"leaky_relu": 0.31, "elu": 1.7}.get(out_act)
    hidden_alpha = 0.05 if out_act != "leaky_relu" else None
    layers = [Layer(4, 5, "leaky_relu", dtype, seed=1, alpha=hidden_alpha),
              Layer(5, 3, "elu", dtype, seed=2, alpha=0.4),
              Layer(3, 2, out_act, dtype, seed=3, alpha=alpha)]
    net = Network(layers, loss="mse", l2=0.5)
    net.params[...] = rng.standard_normal(net.n_params).astype(dtype)
    loaded = round_trip(net, tmp_path)
    assert_same_network(net, loaded, rng.standard_normal((6, 4)))
    assert [l.alpha for l in loaded.layers][:2] == [hidden_alpha or 0.01, 0.4]
    if alpha is not None:
        assert loaded.layers[2].alpha == alpha


def test_round_trip_is_bit_exact_for_awkward_values(tmp_path):
    net = Network([2, 3, 2], activation="elu", loss="mse", dtype=np.float64, seed=0,
                  alpha=0.1 + 0.2, l2=1e-300)
    tiny = np.finfo(np.float64).tiny
    vals = np.array([-0.0, 5e-324, tiny, -tiny / 3, 1e308, -1.7976931348623157e308,
                     0.1, 1 / 3, np.nextafter(1.0, 2.0)])
    net.params[...] = np.resize(vals, net.n_params)
    loaded = round_trip(net, tmp_path)
    assert loaded.params.tobytes() == net.params.tobytes()
    assert loaded.layers[0].alpha == 0.1 + 0.2 and loaded.l2 == 1e-300


def test_training_dict_round_trip(tmp_path, rng):
    net = make_net(rng)
    training = {"optimizer": "sgd", "lr": 0.1, "epochs": 12, "momentum": None,
                "shuffle": True, "history": {"loss": [2.3, 1.1, 0.30000000000000004],
                                             "epoch": [1, 2, 3]},
                "note": "naïve – ünïcode ☃", "nested": [[1, 2.5e-310], {"a": []}]}
    net.training = training
    loaded = round_trip(net, tmp_path)
    assert loaded.training == training
    assert loaded.training is not net.training
    assert json.dumps(loaded.training) == json.dumps(training)   # key order, float reprs


def test_training_tuples_come_back_as_lists(tmp_path, rng):
    net = make_net(rng)
    net.training = {"betas": (0.9, 0.999)}
    assert round_trip(net, tmp_path).training == {"betas": [0.9, 0.999]}


@pytest.mark.parametrize("training, error, words", [
    ({"loss": np.float32(0.5)}, TypeError, r"net\.training\['loss'\].*numpy\.float32"),
    ({"w": np.zeros(3)}, TypeError, r"net\.training\['w'\].*\.tolist"),
    ({"h": [1.0, float("nan")]}, ValueError, r"net\.training\['h'\]\[1\].*NaN"),
    ({"h": {"x": float("inf")}}, ValueError, r"net\.training\['h'\]\['x'\]"),
    ({1: "epoch one"}, TypeError, r"key 1 .*strings"),
    ({"f": object()}, TypeError, r"not JSON-serializable"),
    (["not", "a", "dict"], TypeError, r"must be a dict"),
], ids=["np_scalar", "ndarray", "nan", "inf", "int_key", "object", "list"])
def test_unserializable_training_is_refused_before_writing(tmp_path, rng, training, error,
                                                           words):
    path = tmp_path / "model.npz"
    good = make_net(rng)
    fio.save(good, path)
    before = path.read_bytes()
    net = make_net(rng)
    net.training = training
    with pytest.raises(error, match=words):
        fio.save(net, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]


def test_non_finite_params_are_refused_on_save(tmp_path, rng):
    net = make_net(rng)
    net.params[3] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        fio.save(net, tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


def test_save_needs_a_network(tmp_path):
    with pytest.raises(TypeError, match="Network"):
        fio.save(Layer(2, 3), tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------
# The documented format
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=_dtype_id)
def test_file_is_a_plain_npz_with_documented_meta(tmp_path, rng, dtype):
    net = make_net(rng, "leaky_relu", "binary_cross_entropy", dtype, scaler=True)
    net.training = {"epochs": 3}
    path = tmp_path / "model.npz"
    fio.save(net, path)
    assert zipfile.is_zipfile(path)
    with np.load(path, allow_pickle=False) as z:
        assert set(z.files) == {"meta", "params", "scaler_mean", "scaler_scale"}
        meta_arr = z["meta"]
        assert meta_arr.shape == () and meta_arr.dtype.kind == "U"
        meta = json.loads(str(meta_arr[()]))
        params, mean, scale = z["params"], z["scaler_mean"], z["scaler_scale"]
    assert set(meta) == META_KEYS
    assert meta == {
        "format": "fastmlp.model", "version": 1, "sizes": SIZES,
        "activations": ["leaky_relu", "leaky_relu", "sigmoid"],
        "alphas": [0.23, 0.23, 0.0], "loss": "binary_cross_entropy", "l2": 0.0125,
        "dtype": np.dtype(dtype).name, "n_params": net.n_params, "scaler": True,
        "training": {"epochs": 3}, "fastmlp_version": fastmlp.__version__}
    assert params.dtype == np.dtype(dtype) and params.shape == (net.n_params,)
    assert np.array_equal(params, net.params)
    assert mean.dtype == scale.dtype == np.float64
    assert np.array_equal(mean, net.scaler.mean) and np.array_equal(scale, net.scaler.scale)
    # the layout is W0.ravel(), b0, W1.ravel(), b1, ... (C order)
    off = 0
    for layer in net.layers:
        n = layer.W.size
        assert np.array_equal(params[off:off + n].reshape(layer.W.shape), layer.W)
        assert np.array_equal(params[off + n:off + n + layer.n_out], layer.b)
        off += n + layer.n_out
    assert off == params.size


def test_no_scaler_means_no_scaler_members(tmp_path, rng):
    net = make_net(rng, scaler=False)
    fio.save(net, tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as z:
        assert set(z.files) == {"meta", "params"}
        assert json.loads(str(z["meta"][()]))["scaler"] is False


def test_meta_json_is_strict_and_ascii(tmp_path, rng):
    net = make_net(rng)
    net.training = {"note": "☃"}
    fio.save(net, tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as z:
        text = str(z["meta"][()])
    assert text.isascii()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON token {c}"))


@pytest.mark.parametrize("name", ["model", "model.bin", "model.npz", "weights.v2"])
def test_path_is_used_exactly_as_given(tmp_path, rng, name):
    net = make_net(rng)
    fio.save(net, str(tmp_path / name))
    assert os.listdir(tmp_path) == [name]
    assert_same_network(net, fio.load(str(tmp_path / name)), inputs(rng, net))


def test_overwrite_replaces_the_file(tmp_path, rng):
    a, b = make_net(rng), make_net(rng, "gelu", "mse", np.float32)
    path = tmp_path / "m.npz"
    fio.save(a, path)
    fio.save(b, path)
    assert os.listdir(tmp_path) == ["m.npz"]
    assert_same_network(b, fio.load(path), inputs(rng, b))


def test_compressed_npz_is_read_too(tmp_path, rng):
    net = make_net(rng, scaler=True)
    fio.save(net, tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as z:
        members = {k: z[k] for k in z.files}
    with open(tmp_path / "c.npz", "wb") as f:
        np.savez_compressed(f, **members)
    with zipfile.ZipFile(tmp_path / "c.npz") as zf:
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in zf.infolist())
    assert_same_network(net, fio.load(tmp_path / "c.npz"), inputs(rng, net))


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_new_file_gets_umask_permissions_not_0600(tmp_path, rng):
    old = os.umask(0o027)
    try:
        fio.save(make_net(rng), tmp_path / "m.npz")
    finally:
        os.umask(old)
    assert (tmp_path / "m.npz").stat().st_mode & 0o777 == 0o640


# ---------------------------------------------------------------------------
# Atomic saves
# ---------------------------------------------------------------------------

class Crash(Exception):
    pass


def _partial_savez(f, *args, **kw):
    f.write(b"PK\x03\x04 half a model ...")
    raise Crash("disk on fire")


def _raise(*a, **k):
    raise Crash("boom")


@pytest.mark.parametrize("previous", [True, False], ids=["overwrite", "new_file"])
@pytest.mark.parametrize("target, crash", [
    ("savez", _partial_savez),
    ("fsync", _raise),
    ("replace", _raise),
    ("savez_interrupt", KeyboardInterrupt),
])
def test_crash_mid_save_leaves_old_file_and_no_temp(tmp_path, rng, monkeypatch, target, crash,
                                                    previous):
    path = tmp_path / "model.npz"
    old = make_net(rng, "tanh")
    if previous:
        fio.save(old, path)
        before = path.read_bytes()
    new = make_net(rng, "relu", "mse", np.float32)
    calls = []

    def crashing(*a, **k):
        calls.append(target)
        if crash is KeyboardInterrupt:
            a[0].write(b"partial")
            raise KeyboardInterrupt
        return crash(*a, **k)

    with monkeypatch.context() as m:
        if target.startswith("savez"):
            m.setattr(np, "savez", crashing)
        else:
            m.setattr(os, target, crashing)
        with pytest.raises(KeyboardInterrupt if crash is KeyboardInterrupt else Crash):
            fio.save(new, path)
    assert calls, "the crash was not triggered"
    if previous:
        assert os.listdir(tmp_path) == ["model.npz"]
        assert path.read_bytes() == before
        assert_same_network(old, fio.load(path), inputs(rng, old))
    else:
        assert os.listdir(tmp_path) == []


def test_temporary_file_is_in_the_target_directory(tmp_path, rng, monkeypatch):
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append((os.path.dirname(os.path.abspath(src)), os.path.abspath(dst)))
        assert os.path.getsize(src) > 0
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    target = tmp_path / "sub" / "m.npz"
    target.parent.mkdir()
    fio.save(make_net(rng), target)
    monkeypatch.undo()
    assert seen == [(str(target.parent), str(target))]
    assert os.listdir(target.parent) == ["m.npz"]


def test_save_into_missing_directory_raises_and_writes_nothing(tmp_path, rng):
    with pytest.raises(FileNotFoundError):
        fio.save(make_net(rng), tmp_path / "nope" / "m.npz")
    assert os.listdir(tmp_path) == []


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
