"""Model files (fastmlp.io): the documented format -- a plain .npz with a strict ASCII JSON
meta and the parameters in layer order -- the path used exactly as given, and the
permissions of a new file.
"""
import json
import os
import zipfile

import numpy as np
import pytest

import fastmlp
from fastmlp import io as fio

from _io_helpers import DTYPES, META_KEYS, SIZES, _dtype_id, make_net, inputs, assert_same_network


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
