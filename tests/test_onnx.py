"""ONNX export and import (fastmlp.onnx), checked against ONNX Runtime and the real
exporters (torch.onnx, skl2onnx); hostile model files get clean errors."""
import io
import os
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import pytest

from fastmlp import ACTIVATIONS, Network, Standardizer, formats
from fastmlp.activations import OUTPUT_ONLY

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

HIDDEN = sorted(set(ACTIVATIONS) - set(OUTPUT_ONLY))
LOSSES = ["cross_entropy", "binary_cross_entropy", "mse", "poisson"]
DTYPES = [np.float32, np.float64]
TOL = {np.float32: 1e-6, np.float64: 1e-12}


def rel_err(a, ref):
    return np.abs(np.asarray(a, np.float64) - ref).max() / max(np.abs(ref).max(), 1e-300)


def run_ort(model, X):
    data = model if isinstance(model, bytes) else model.SerializeToString()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: X})


def make_net(act, loss, dtype, scaler, seed=0):
    rng = np.random.default_rng(seed)
    alpha = {"leaky_relu": 0.2, "elu": 0.7}.get(act)
    net = Network([5, 8, 6, 3], activation=act, loss=loss, dtype=dtype, seed=seed, alpha=alpha)
    net.set_params(rng.normal(scale=0.8, size=net.n_params))
    if scaler:
        net.scaler = Standardizer(rng.normal(size=5), rng.uniform(0.5, 3, 5))
    return net


# -- export ------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("act", HIDDEN)
@pytest.mark.parametrize("scaler", [False, True])
def test_export_matches_onnxruntime(act, loss, dtype, scaler):
    net = make_net(act, loss, dtype, scaler)
    X = np.random.default_rng(1).normal(scale=3, size=(17, 5)).astype(dtype)
    model = net.to_onnx()
    onnx.checker.check_model(model, full_check=True)
    outputs = run_ort(model, X)
    assert outputs[0].dtype == dtype
    # exp (the Poisson output) turns the logits' absolute float32 rounding, ~1e-7 times
    # |z| up to ~17 here, into relative error: each side is ~1e-6 from the float64 truth
    tol = 4 * TOL[dtype] if loss == "poisson" and dtype == np.float32 else TOL[dtype]
    assert rel_err(outputs[0], net.forward(X).astype(np.float64)) <= tol


@pytest.mark.parametrize("opset", [13, 17, 20])
def test_export_opsets_and_erf_gelu(opset):
    net = make_net("gelu", "mse", np.float32, True)
    model = net.to_onnx(opset=opset)
    assert model.opset_import[0].version == opset
    ops = {n.op_type for n in model.graph.node}
    assert ("Gelu" in ops) == (opset >= 20) and ("Erf" in ops) == (opset < 20)
    X = np.random.default_rng(2).normal(size=(9, 5)).astype(np.float32)
    assert rel_err(run_ort(model, X)[0], net.forward(X)) <= 1e-6


def test_export_names_labels_metadata_and_dynamic_batch(tmp_path):
    net = make_net("relu", "cross_entropy", np.float64, True)
    net.training = {"classes": ["cat", "dog", "eel"], "feature_names": list("abcde")}
    path = tmp_path / "m.onnx"
    model = net.to_onnx(path)
    assert path.read_bytes() == model.SerializeToString()
    assert [i.name for i in model.graph.input] == ["input"]
    assert [o.name for o in model.graph.output] == ["probabilities", "label"]
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["loss"] == "cross_entropy" and "fastmlp_version" in meta
    assert meta["classes"] == '["cat", "dog", "eel"]'
    for rows in (1, 4, 300):                                   # any batch size
        X = np.random.default_rng(rows).normal(size=(rows, 5))
        probs, label = run_ort(model, X)
        p = net.forward(X)
        np.testing.assert_allclose(probs, p, rtol=0, atol=1e-14)
        assert list(label) == [["cat", "dog", "eel"][k] for k in p.argmax(axis=1)]


def test_export_refuses_bad_arguments():
    net = make_net("relu", "mse", np.float32, False)
    with pytest.raises(ValueError, match="opset"):
        net.to_onnx(opset=7)
    with pytest.raises(ValueError, match="opset"):
        net.to_onnx(opset="20")
    from fastmlp.onnx import to_onnx
    with pytest.raises(TypeError, match="Network"):
        to_onnx("not a network")


# -- round trip -----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("act", HIDDEN)
def test_round_trip_is_exact(act, loss, dtype, tmp_path):
    net = make_net(act, loss, dtype, True)
    net.training = {"classes": [3, 5, 7]} if loss == "cross_entropy" else {}
    net.to_onnx(tmp_path / "m.onnx")
    back = Network.from_onnx(tmp_path / "m.onnx")
    assert back.dtype == net.dtype and back.loss_name == net.loss_name
    assert [(l.activation, l.alpha) for l in back.layers] == \
        [(l.activation, l.alpha) for l in net.layers]
    np.testing.assert_array_equal(back.params, net.params)
    np.testing.assert_array_equal(back.scaler.mean, net.scaler.mean)
    np.testing.assert_array_equal(back.scaler.scale, net.scaler.scale)
    if loss == "cross_entropy":
        assert back.training["classes"] == [3, 5, 7]


# -- import from the real exporters ------------------------------------------------------------

def _torch_models():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    torch.manual_seed(0)
    return {
        "gelu-softmax": nn.Sequential(nn.Linear(6, 9), nn.GELU(), nn.Linear(9, 4),
                                      nn.Softmax(dim=1)),
        "leaky-elu-logits": nn.Sequential(nn.Linear(6, 8), nn.LeakyReLU(0.1), nn.Linear(8, 7),
                                          nn.ELU(0.5), nn.Linear(7, 2)),
        "flatten-tanh-sigmoid": nn.Sequential(nn.Flatten(), nn.Linear(6, 5), nn.Tanh(),
                                              nn.Linear(5, 1), nn.Sigmoid()),
        "relu-softplus": nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 5),
                                       nn.Softplus(), nn.Linear(5, 3)),
    }


@pytest.mark.parametrize("dynamo, opset", [(False, 17), (False, 20), (True, 20)])
@pytest.mark.parametrize("name", ["gelu-softmax", "leaky-elu-logits", "flatten-tanh-sigmoid",
                                  "relu-softplus"])
def test_import_torch_onnx_export(name, opset, dynamo):
    torch = pytest.importorskip("torch")
    if dynamo:
        pytest.importorskip("onnxscript")
    model = _torch_models()[name].eval()
    buffer = io.BytesIO()
    shapes = ({"dynamic_shapes": ({0: torch.export.Dim("batch")},)} if dynamo else
              {"dynamic_axes": {"x": {0: "batch"}}})
    torch.onnx.export(model, (torch.randn(2, 6),), buffer, input_names=["x"], dynamo=dynamo,
                      opset_version=opset, **shapes)
    data = buffer.getvalue()
    net = Network.from_onnx(data)
    X = np.random.default_rng(3).normal(size=(11, 6)).astype(np.float32)
    reference = run_ort(data, X)[0]
    tolerance = 1e-6 if name != "relu-softplus" else 1e-5   # torch's Softplus threshold
    assert rel_err(net.forward(X), reference) <= tolerance
    with torch.no_grad():
        assert rel_err(net.forward(X), model(torch.from_numpy(X)).numpy()) <= 1e-5


def _sklearn_cases():
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, StandardScaler
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 4)) * [1, 10, 0.1, 3] + [0, 5, -1, 2]
    y3 = (X[:, 0] + X[:, 3] / 3 > 0.6).astype(int) + (X[:, 1] > 5)
    return X, {
        "multiclass": (MLPClassifier((6,), max_iter=400, random_state=0), y3),
        "binary-strings": (MLPClassifier((5, 4), activation="tanh", max_iter=400,
                                         random_state=0),
                           np.array(["no", "yes"])[(y3 > 0).astype(int)]),
        "regressor": (MLPRegressor(hidden_layer_sizes=(7,), max_iter=400, random_state=0),
                      X[:, 0] - X[:, 2]),
        "regressor-2-outputs": (MLPRegressor(hidden_layer_sizes=(7,), activation="logistic",
                                             max_iter=400, random_state=0), X[:, :2]),
        "standard-scaler": (make_pipeline(StandardScaler(), MLPClassifier(
            (6,), max_iter=400, random_state=0)), y3),
        "minmax-scaler": (make_pipeline(MinMaxScaler(), MLPRegressor(
            hidden_layer_sizes=(5,), max_iter=400, random_state=0)), X[:, 1]),
        "maxabs-scaler": (make_pipeline(MaxAbsScaler(), MLPClassifier(
            (6,), max_iter=400, random_state=0)), y3),
    }


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ["multiclass", "binary-strings", "regressor",
                                  "regressor-2-outputs", "standard-scaler", "minmax-scaler",
                                  "maxabs-scaler"])
def test_import_skl2onnx(case, dtype):
    skl2onnx = pytest.importorskip("skl2onnx")
    X, cases = _sklearn_cases()
    est, y = cases[case]
    est.fit(X, y)
    classifier = hasattr(est, "predict_proba")
    model = skl2onnx.to_onnx(est, X[:1].astype(dtype),
                             options={"zipmap": False} if classifier else None)
    net = Network.from_onnx(model)
    outputs = run_ort(model, X.astype(dtype))
    tol = TOL[dtype] * (10 if dtype == np.float32 else 1)
    if not classifier:
        assert net.loss_name == "mse"
        assert rel_err(net.forward(X).reshape(outputs[0].shape), outputs[0]) <= tol
        return
    p = net.forward(X)
    if p.shape[1] == 1:                         # one logistic output: P(second class)
        p = np.hstack([1 - p, p])
    assert rel_err(p, outputs[1]) <= tol
    assert net.training["classes"] == est.classes_.tolist()
    labels = np.asarray(net.training["classes"])[p.argmax(axis=1)]
    np.testing.assert_array_equal(labels, outputs[0])
    np.testing.assert_array_equal(labels, est.predict(X))


def _graph(nodes, inputs, outputs, inits, opset=17):
    model = helper.make_model(helper.make_graph(nodes, "g", inputs, outputs, inits),
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def _vi(name, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def _w(name, shape, seed=0):
    return numpy_helper.from_array(
        np.random.default_rng(seed).normal(size=shape).astype(np.float32), name)


def test_import_tf2onnx_style_matmul_add_with_add_mul_normalization():
    """MatMul + Add + Relu, a leading (x + c) · k normalization and transB Gemm."""
    mean, scale = np.array([1.0, -2.0, 0.5], np.float32), np.array([2.0, 4.0, 0.5], np.float32)
    nodes = [helper.make_node("Add", ["x", "neg_mean"], ["c"]),
             helper.make_node("Mul", ["c", "inv_scale"], ["s"]),
             helper.make_node("MatMul", ["s", "W0"], ["m0"]),
             helper.make_node("Add", ["m0", "b0"], ["z0"]),
             helper.make_node("Relu", ["z0"], ["a0"]),
             helper.make_node("Gemm", ["a0", "W1t", "b1"], ["z1"], transB=1),
             helper.make_node("Softmax", ["z1"], ["p"], axis=1)]
    inits = [numpy_helper.from_array(-mean, "neg_mean"),
             numpy_helper.from_array(1 / scale, "inv_scale"),
             _w("W0", (3, 5)), _w("b0", (5,), 1), _w("W1t", (2, 5), 2), _w("b1", (2,), 3)]
    model = _graph(nodes, [_vi("x", ["N", 3])], [_vi("p", ["N", 2])], inits)
    net = Network.from_onnx(model)
    assert net.loss_name == "cross_entropy" and net.scaler is not None
    X = np.random.default_rng(4).normal(size=(8, 3)).astype(np.float32)
    assert rel_err(net.forward(X), run_ort(model, X)[0]) <= 1e-6


# -- refusals ------------------------------------------------------------------------------

def test_refuses_conv_skip_connection_runtime_weights_and_dynamic_features():
    x = _vi("x", ["N", 3])
    conv = _graph([helper.make_node("Conv", ["x", "W"], ["y"], name="conv1")], [x],
                  [_vi("y", None)], [_w("W", (3, 3))])
    with pytest.raises(ValueError, match=r"'conv1' \(Conv\)"):
        Network.from_onnx(conv)
    skip = _graph([helper.make_node("Gemm", ["x", "W", "b"], ["z"], name="lin"),
                   helper.make_node("Relu", ["z"], ["a"], name="act"),
                   helper.make_node("Add", ["a", "x"], ["y"], name="skip")],
                  [x], [_vi("y", ["N", 3])], [_w("W", (3, 3)), _w("b", (3,))])
    with pytest.raises(ValueError, match="chain|skip"):
        Network.from_onnx(skip)
    runtime = _graph([helper.make_node("MatMul", ["x", "W"], ["y"], name="mm")],
                     [x, _vi("W", [3, 2])], [_vi("y", ["N", 2])], [])
    with pytest.raises(ValueError, match="one input|constant"):
        Network.from_onnx(runtime)
    dynamic = _graph([helper.make_node("MatMul", ["x", "W"], ["y"])],
                     [_vi("x", ["N", "F"])], [_vi("y", ["N", 2])], [_w("W", (3, 2))])
    with pytest.raises(ValueError, match="dynamic dimension 1"):
        Network.from_onnx(dynamic)
    hard = _graph([helper.make_node("Gemm", ["x", "W", "b"], ["z"]),
                   helper.make_node("HardSigmoid", ["z"], ["a"], name="hs"),
                   helper.make_node("Gemm", ["a", "W2", "b2"], ["y"])],
                  [x], [_vi("y", ["N", 2])],
                  [_w("W", (3, 3)), _w("b", (3,)), _w("W2", (3, 2)), _w("b2", (2,))])
    with pytest.raises(ValueError, match=r"'hs' \(HardSigmoid\)|HardSigmoid"):
        Network.from_onnx(hard)


def test_refuses_tanh_gelu_and_per_unit_activations():
    x = _vi("x", ["N", 3])
    gelu = _graph([helper.make_node("Gemm", ["x", "W", "b"], ["z"]),
                   helper.make_node("Gelu", ["z"], ["a"], approximate="tanh", name="g"),
                   helper.make_node("Gemm", ["a", "W2", "b2"], ["y"])], [x],
                  [_vi("y", ["N", 2])],
                  [_w("W", (3, 3)), _w("b", (3,)), _w("W2", (3, 2)), _w("b2", (2,))], opset=20)
    with pytest.raises(ValueError, match="tanh approximation"):
        Network.from_onnx(gelu)
    prelu = _graph([helper.make_node("Gemm", ["x", "W", "b"], ["z"]),
                    helper.make_node("Mul", ["z", "slopes"], ["a"]),
                    helper.make_node("Gemm", ["a", "W2", "b2"], ["y"])], [x],
                   [_vi("y", ["N", 2])],
                   [_w("W", (3, 3)), _w("b", (3,)), _w("W2", (3, 2)), _w("b2", (2,)),
                    numpy_helper.from_array(np.array([1, 2, 3], np.float32), "slopes")])
    with pytest.raises(ValueError, match="different function for different units"):
        Network.from_onnx(prelu)


# -- hostile files ------------------------------------------------------------------------------

def _small_model():
    return make_net("tanh", "mse", np.float32, False).to_onnx()


def test_truncated_and_garbage_files_get_clean_errors(tmp_path):
    data = _small_model().SerializeToString()
    for k, blob in enumerate([data[:len(data) // 2], data[:7], b"\x00" * 64,
                              os.urandom(256), b""]):
        path = tmp_path / f"bad{k}.onnx"
        path.write_bytes(blob)
        with pytest.raises(ValueError, match=f"bad{k}.onnx"):
            Network.from_onnx(path)
    with pytest.raises(FileNotFoundError):
        Network.from_onnx(tmp_path / "missing.onnx")
    with pytest.raises(TypeError, match="path, bytes or an onnx.ModelProto"):
        Network.from_onnx(3.5)


def test_tensor_size_must_match_its_data():
    model = _small_model()
    W = model.graph.initializer[0]
    W.raw_data = W.raw_data[:-4]                      # one float short
    with pytest.raises(ValueError, match="declares shape"):
        Network.from_onnx(model)
    model = _small_model()
    model.graph.initializer[0].dims[0] = 10**9        # a huge declared shape
    with pytest.raises(ValueError, match="declares shape"):
        Network.from_onnx(model)


def _external(model, location, offset=0, length=None):
    tensor = model.graph.initializer[0]
    n_bytes = len(tensor.raw_data)
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    del tensor.external_data[:]
    for key, value in (("location", location), ("offset", str(offset)),
                       ("length", str(n_bytes if length is None else length))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return model, n_bytes


def test_external_data_is_read_only_from_inside_the_model_folder(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    model = _small_model()
    weights = model.graph.initializer[0].raw_data
    (folder / "weights.bin").write_bytes(b"\x00" * 8 + weights)
    good, _ = _external(_small_model(), "weights.bin", offset=8)
    (folder / "good.onnx").write_bytes(good.SerializeToString())
    net = Network.from_onnx(folder / "good.onnx")
    np.testing.assert_array_equal(net.layers[0].W.ravel(),
                                  np.frombuffer(weights, np.float32))

    (tmp_path / "secret.bin").write_bytes(weights)
    link = folder / "link.bin"
    link.symlink_to(tmp_path / "secret.bin")
    for k, (location, offset) in enumerate([("../secret.bin", 0), (str(tmp_path / "secret.bin"), 0),
                                            ("link.bin", 0), ("weights.bin", 10**6),
                                            ("missing.bin", 0)]):
        bad, _ = _external(_small_model(), location, offset=offset)
        path = folder / f"bad{k}.onnx"
        path.write_bytes(bad.SerializeToString())
        with pytest.raises(ValueError, match="external data"):
            Network.from_onnx(path)
    bad, n_bytes = _external(_small_model(), "weights.bin", length=3)
    with pytest.raises(ValueError, match="external"):          # bytes: no folder at all
        Network.from_onnx(bad.SerializeToString())


@pytest.mark.parametrize("act, dtype", [("elu", np.float64), ("gelu", np.float64),
                                        ("relu", np.float32)])
def test_mutated_files_load_or_raise_valueerror(act, dtype):
    """Random byte flips and truncations of valid models: a Network with finite
    weights, or a ValueError; nothing else.  FASTMLP_FUZZ_FILES=N runs N per model."""
    net = make_net(act, "cross_entropy", dtype, True)
    net.training = {"classes": ["a", "b", "c"]}
    data = net.to_onnx().SerializeToString()
    rng = np.random.default_rng(0)
    for _ in range(int(os.environ.get("FASTMLP_FUZZ_FILES", 200))):
        blob = bytearray(data)
        for _ in range(rng.integers(1, 6)):
            blob[rng.integers(len(blob))] = rng.integers(256)
        if rng.random() < 0.2:
            blob = blob[:rng.integers(len(blob))]
        try:
            loaded = Network.from_onnx(bytes(blob))
        except ValueError:
            continue
        assert np.all(np.isfinite(loaded.params))


# -- packaging: the core never imports onnx; a clear message without it -------------------------

def _run(code):
    # from a folder outside the checkout: `-c` puts the working directory on sys.path
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120, cwd=tempfile.gettempdir())


def test_core_does_not_import_onnx():
    result = _run("""
        import sys, fastmlp
        net = fastmlp.Network([2, 3, 1], loss="mse")
        net.predict([[0.0, 1.0]])
        assert "onnx" not in sys.modules and "onnxruntime" not in sys.modules, sys.modules.keys()
        print("ok")
    """)
    assert result.stdout.strip() == "ok", result.stderr


def test_missing_onnx_says_which_extra():
    result = _run("""
        import sys
        sys.modules["onnx"] = None              # as if not installed
        import fastmlp
        try:
            fastmlp.Network([2, 1], loss="mse").to_onnx()
        except ImportError as exc:
            print(exc)
    """)
    assert 'pip install "fastmlp[onnx]"' in result.stdout, result.stderr


def test_registry_names_the_formats():
    assert {"npz", "sklearn", "torch", "onnx"} <= set(formats.names())
    with pytest.raises(ValueError, match="unknown model format 'pickle'"):
        formats.reader("pickle")


# -- the command line --------------------------------------------------------------------------

def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "fastmlp", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_cli_export_and_import_round_trip(tmp_path):
    net = make_net("elu", "cross_entropy", np.float64, True)
    net.training = {"classes": ["x", "y", "z"]}
    net.save(tmp_path / "m.npz")
    done = _cli("export", "m.npz", "--onnx", "m.onnx", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "outputs probabilities, label" in done.stdout
    X = np.random.default_rng(5).normal(size=(6, 5))
    probs, labels = run_ort(onnx.load(tmp_path / "m.onnx"), X)
    assert rel_err(probs, net.forward(X)) <= 1e-12
    done = _cli("import", "m.onnx", "--out", "back.npz", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    back = Network.load(tmp_path / "back.npz")
    np.testing.assert_array_equal(back.params, net.params)
    assert back.training["classes"] == ["x", "y", "z"]


def test_cli_conversion_errors_are_one_line(tmp_path):
    (tmp_path / "junk.onnx").write_bytes(b"not a protobuf at all" * 10)
    for args in (["import", "junk.onnx"], ["import", "missing.onnx"],
                 ["export", "missing.npz", "--onnx", "m.onnx"],
                 ["export", "junk.onnx", "--onnx", "m.onnx"]):
        done = _cli(*args, cwd=tmp_path)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
