"""Bad input never reaches the kernels: every case raises ValueError or TypeError
whose message names the offending argument, and nothing crashes.  Inputs that
are merely laid out differently (Fortran order, strided views, the other float
precision) are accepted and give the same result as C-ordered input.
"""
import tracemalloc

import numpy as np
import pytest

from fastmlp import Layer, Network

LOSSES = ["mse", "cross_entropy", "binary_cross_entropy"]


def _net(loss="cross_entropy", dtype=np.float64, sizes=(3, 5, 4), **kw):
    return Network(list(sizes), activation="tanh", loss=loss, dtype=dtype, seed=0, **kw)


def _good_y(loss, B=6, K=4, seed=0):
    rng = np.random.default_rng(seed)
    if loss == "cross_entropy":
        return rng.integers(0, K, B)
    if loss == "binary_cross_entropy":
        return rng.uniform(0, 1, (B, K))
    return rng.standard_normal((B, K))


def _X(B=6, n=3, seed=1):
    return np.random.default_rng(seed).standard_normal((B, n))


# every public entry point that takes X (and y)
def _calls_with_X(net, X, y):
    return {
        "forward": lambda: net.forward(X),
        "predict": lambda: net.predict(X),
        "loss": lambda: net.loss(X, y),
        "gradient": lambda: net.gradient(X, y),
        "input_gradient": lambda: net.input_gradient(X, y),
        "train_step": lambda: net.train_step(X, y, 0.1),
    }


def _calls_with_y(net, X, y):
    return {
        "loss": lambda: net.loss(X, y),
        "gradient": lambda: net.gradient(X, y),
        "input_gradient": lambda: net.input_gradient(X, y),
        "train_step": lambda: net.train_step(X, y, 0.1),
    }


def _assert_all_raise(calls, exc, match, net=None):
    p0 = None if net is None else net.get_params()
    for name, call in calls.items():
        with pytest.raises(exc, match=match):
            call()
    if net is not None:   # a rejected call changes nothing
        np.testing.assert_array_equal(net.params, p0)


# ---------------------------------------------------------------------------
# X: shapes, dtypes, values
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("bad_X", [
    np.zeros((6, 2)), np.zeros((6, 4)), np.zeros((6, 3, 1)), np.zeros(5), np.float64(1.0),
    np.zeros((1, 6, 3)),
], ids=["too_few_cols", "too_many_cols", "3d", "1d_wrong_len", "scalar", "3d_batch"])
def test_X_wrong_shape(loss, bad_X):
    net = _net(loss)
    y = _good_y(loss)
    _assert_all_raise(_calls_with_X(net, bad_X, y), ValueError, r"\bX\b", net)


@pytest.mark.parametrize("dtype", [np.float16, np.complex128, np.complex64, object, "U3"],
                         ids=lambda d: np.dtype(d).name)
def test_X_bad_dtype(dtype):
    net = _net()
    X = _X().astype(dtype) if dtype != "U3" else np.full((6, 3), "abc")
    y = _good_y("cross_entropy")
    _assert_all_raise(_calls_with_X(net, X, y), TypeError, r"\bX\b", net)
    with pytest.raises(TypeError, match=r"\bX\b"):
        Layer(3, 2, dtype=np.float64).forward(X)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.bool_])
def test_integer_and_boolean_X_are_cast_to_float(dtype):
    """As scikit-learn does: the same results as for X.astype(float64)."""
    net = _net()
    X = (_X() * 3).astype(dtype)
    y = _good_y("cross_entropy")
    Xf = X.astype(np.float64)
    np.testing.assert_array_equal(net.forward(X), net.forward(Xf))
    np.testing.assert_array_equal(net.gradient(X, y)[1], net.gradient(Xf, y)[1])
    np.testing.assert_array_equal(net.forward([[1, 2, 3]]), net.forward([[1.0, 2.0, 3.0]]))


def test_X_python_objects_rejected():
    net = _net()
    for X in (None, "abc", [[1.0, "a", 2.0]]):
        with pytest.raises((TypeError, ValueError), match=r"\bX\b"):
            net.forward(X)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: d.__name__)
def test_X_not_finite(loss, bad, dtype):
    net = _net(loss, dtype=dtype)
    X = _X().astype(dtype)
    X[4, 2] = bad
    _assert_all_raise(_calls_with_X(net, X, _good_y(loss)), ValueError, r"\bX\b", net)
    with pytest.raises(ValueError, match=r"\bX\b"):
        Layer(3, 2, dtype=dtype).forward(X)


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_X_too_large_for_dtype_is_not_finite():
    """float64 values beyond float32's range become inf in a float32 network."""
    net = _net(dtype=np.float32)
    X = _X()
    X[0, 0] = 1e300
    with pytest.raises(ValueError, match=r"\bX\b"):
        net.forward(X)


@pytest.mark.parametrize("loss", LOSSES)
def test_empty_batch(loss):
    net = _net(loss)
    y = _good_y(loss, B=0)
    _assert_all_raise(_calls_with_X(net, np.zeros((0, 3)), y), ValueError, r"\bX\b", net)
    with pytest.raises(ValueError, match=r"\bX\b"):
        Layer(3, 2).forward(np.zeros((0, 3), np.float32))


# ---------------------------------------------------------------------------
# Accepted layouts give the same answer
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: d.__name__)
def test_layouts_are_accepted_and_equivalent(dtype):
    net = _net("cross_entropy", dtype=dtype)
    rng = np.random.default_rng(5)
    big = rng.standard_normal((12, 6)).astype(dtype)
    X = np.ascontiguousarray(big[::2, ::2])                 # the C-ordered reference
    y = _good_y("cross_entropy")
    variants = {
        "fortran": np.asfortranarray(X),
        "strided": big[::2, ::2],
        "transposed_view": np.ascontiguousarray(X.T).T,
        "negative_stride": np.ascontiguousarray(X[::-1])[::-1],
        "other_precision": X.astype(np.float32 if dtype == np.float64 else np.float64),
        "big_endian": X.astype(np.dtype(dtype).newbyteorder(">")),
        "list": X.tolist(),
    }
    for name, V in variants.items():
        if name != "list":
            assert not (V.flags.c_contiguous and V.dtype == np.dtype(dtype)), name
        # the reference: the same values, C-ordered, in the network's dtype
        # (identical to X except for "other_precision" into a float64 network)
        R = np.ascontiguousarray(np.asarray(V, dtype=np.float64)).astype(dtype)
        if name != "other_precision" or dtype == np.float32:
            np.testing.assert_array_equal(R, X)
        np.testing.assert_array_equal(net.forward(V), net.forward(R))
        np.testing.assert_array_equal(net.gradient(V, y)[1], net.gradient(R, y)[1])
        np.testing.assert_array_equal(net.input_gradient(V, y), net.input_gradient(R, y))
        layer = net.layers[0]
        np.testing.assert_array_equal(layer.forward(V), layer.forward(R))
    # the caller's array is not modified
    before = variants["fortran"].copy()
    net.train_step(variants["fortran"], y, 0.1)
    np.testing.assert_array_equal(variants["fortran"], before)


def test_target_layouts_are_accepted_and_equivalent():
    rng = np.random.default_rng(9)
    X = _X()
    for loss in ("mse", "binary_cross_entropy"):
        net = _net(loss)
        Y = np.ascontiguousarray(_good_y(loss))
        ref = net.gradient(X, Y)[1]
        wide = np.repeat(Y, 2, axis=1)
        for V in (np.asfortranarray(Y), wide[:, ::2], Y[::-1][::-1],
                  Y.tolist()):
            np.testing.assert_array_equal(net.gradient(X, V)[1], ref)
    ce = _net("cross_entropy")
    labels = rng.integers(0, 4, 12)
    ref = ce.gradient(X, labels[::2].copy())[1]
    for V in (labels[::2], labels[::2].astype(np.int32), labels[::2].astype(np.uint8),
              labels[::2].tolist()):
        np.testing.assert_array_equal(ce.gradient(X, V)[1], ref)


def test_1d_X_is_one_row():
    net = _net()
    X = _X(1)
    np.testing.assert_array_equal(net.forward(X[0]), net.forward(X))


# ---------------------------------------------------------------------------
# y: shapes, values, labels
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("loss,bad_y", [
    ("mse", np.zeros((6, 3))), ("mse", np.zeros((5, 4))), ("mse", np.zeros(6)),
    ("mse", np.zeros((6, 4, 1))),
    ("binary_cross_entropy", np.zeros((6, 5))), ("binary_cross_entropy", np.zeros(6)),
    ("cross_entropy", np.zeros(5, int)), ("cross_entropy", np.zeros(7, int)),
    ("cross_entropy", np.zeros((6, 3))), ("cross_entropy", np.zeros((6, 4, 1))),
], ids=lambda v: v if isinstance(v, str) else "x".join(map(str, v.shape)))
def test_y_wrong_shape(loss, bad_y):
    net = _net(loss)
    _assert_all_raise(_calls_with_y(net, _X(), bad_y), ValueError, r"\by\b", net)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_y_not_finite(loss, bad):
    net = _net(loss)
    y = _good_y(loss).astype(np.float64)
    if loss == "cross_entropy":
        y = np.eye(4)[y.astype(int)]            # rows: NaN in a one-hot row
    y[2, 1] = bad
    _assert_all_raise(_calls_with_y(net, _X(), y), ValueError, r"\by\b", net)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_float_labels_not_finite(bad):
    net = _net("cross_entropy")
    y = _good_y("cross_entropy").astype(np.float64)
    y[3] = bad
    _assert_all_raise(_calls_with_y(net, _X(), y), (ValueError, TypeError), r"\by\b", net)


@pytest.mark.parametrize("labels", [[0, 1, 2, 3, 4, 0], [0, 1, -1, 2, 3, 0],
                                    [0, 1, 2, 3, 2**40, 0], [0, 0, 0, 0, 0, -2**40]],
                         ids=["equal_K", "negative", "huge", "huge_negative"])
def test_labels_out_of_range(labels):
    net = _net("cross_entropy")
    _assert_all_raise(_calls_with_y(net, _X(), np.array(labels)), ValueError, r"\by\b", net)


def test_labels_unsigned_out_of_range():
    net = _net("cross_entropy")
    y = np.array([0, 1, 2, 3, 2**63, 0], dtype=np.uint64)
    _assert_all_raise(_calls_with_y(net, _X(), y), ValueError, r"\by\b", net)


def test_labels_non_integer():
    net = _net("cross_entropy")
    for y in (np.array([0, 1.5, 2, 3, 0, 1]), np.array([0, 1, 2, 3, 0, 1e-9])):
        _assert_all_raise(_calls_with_y(net, _X(), y), TypeError, r"\by\b", net)
    for y in (np.array(["a"] * 6), np.array([0, 1, 2, 3, 0, 1], dtype=object),
              np.array([True, False] * 3), np.array([0, 1, 2, 3, 0, 1], dtype=complex)):
        _assert_all_raise(_calls_with_y(net, _X(), y), TypeError, r"\by\b", net)


def test_integer_valued_float_labels_and_onehot_rows_are_accepted():
    net = _net("cross_entropy")
    X = _X()
    y = _good_y("cross_entropy")
    l_int, g_int = net.gradient(X, y)
    l_flt, g_flt = net.gradient(X, y.astype(np.float64))
    l_hot, g_hot = net.gradient(X, np.eye(4)[y])
    assert l_int == l_flt and l_int == pytest.approx(l_hot, rel=1e-14)
    np.testing.assert_array_equal(g_int, g_flt)
    np.testing.assert_allclose(g_int, g_hot, rtol=1e-12, atol=1e-15)


def test_target_value_ranges():
    X = _X()
    bce = _net("binary_cross_entropy")
    for bad in (-0.01, 1.01):
        y = _good_y("binary_cross_entropy")
        y[0, 0] = bad
        _assert_all_raise(_calls_with_y(bce, X, y), ValueError, r"\by\b", bce)
    ce = _net("cross_entropy")
    y = np.eye(4)[_good_y("cross_entropy")]
    y[1, 2] = -0.5
    _assert_all_raise(_calls_with_y(ce, X, y), ValueError, r"\by\b", ce)
    # integer 0/1 targets are fine for BCE, 1-D targets for a single output
    bce.loss(X, (_good_y("binary_cross_entropy") > 0.5).astype(int))
    one = Network([3, 1], loss="mse", dtype=np.float64, seed=0)
    t = np.arange(6.0)
    assert one.loss(X, t) == one.loss(X, t.reshape(6, 1))


def test_y_bad_dtype():
    for loss in ("mse", "binary_cross_entropy"):
        net = _net(loss)
        y = _good_y(loss)
        for bad in (y.astype(np.float16), y.astype(complex), y.astype(object)):
            _assert_all_raise(_calls_with_y(net, _X(), bad), TypeError, r"\by\b", net)


# ---------------------------------------------------------------------------
# Construction
# ---------------------------------------------------------------------------

def test_mismatched_layer_sizes():
    with pytest.raises(ValueError, match=r"layers\[1\]"):
        Network([Layer(2, 3, "tanh"), Layer(4, 2, "softmax")])
    with pytest.raises(ValueError, match=r"layers\[2\]"):
        Network([Layer(2, 3), Layer(3, 3), Layer(2, 2, "softmax")])


def test_mixed_layer_dtypes():
    with pytest.raises(TypeError, match="dtype"):
        Network([Layer(2, 3, dtype=np.float32), Layer(3, 2, "softmax", dtype=np.float64)])


def test_softmax_only_on_output_and_loss_needs_its_output():
    with pytest.raises(ValueError, match=r"layers\[0\]"):
        Network([Layer(2, 3, "softmax"), Layer(3, 2, "softmax")])
    with pytest.raises(ValueError, match="softmax"):
        Network([Layer(2, 3), Layer(3, 2, "identity")], loss="cross_entropy")
    with pytest.raises(ValueError, match="sigmoid"):
        Network([Layer(2, 3), Layer(3, 2, "softmax")], loss="binary_cross_entropy")


def test_unknown_names():
    with pytest.raises(ValueError, match="activation"):
        Network([2, 3, 2], activation="swish")
    with pytest.raises(ValueError, match="activation"):
        Network([2, 3, 2], loss="mse", output_activation="swish")
    with pytest.raises(ValueError, match="activation"):
        Layer(2, 3, activation="ReLU")
    with pytest.raises(ValueError, match="activation"):
        Layer(2, 3, activation=None)
    with pytest.raises(ValueError, match="loss"):
        Network([2, 3, 2], loss="hinge")
    with pytest.raises(ValueError, match="loss"):
        Network([2, 3, 2], loss=None)


def test_output_activation_conflicts_with_loss():
    with pytest.raises(ValueError, match="output_activation"):
        Network([2, 3, 2], loss="cross_entropy", output_activation="sigmoid")
    with pytest.raises(ValueError, match="output_activation"):
        Network([2, 3, 2], loss="binary_cross_entropy", output_activation="softmax")
    # the matching one is accepted
    net = Network([2, 3, 2], loss="cross_entropy", output_activation="softmax", seed=0)
    assert net.layers[-1].activation == "softmax"


@pytest.mark.parametrize("sizes,match", [
    ([2, 0], r"sizes\[1\]"), ([0, 2], r"sizes\[0\]"), ([2, -3, 2], r"sizes\[1\]"),
    ([2, 2**31], r"sizes\[1\]"), ([2**31, 2], r"sizes\[0\]"), ([4, 3, 2**63], r"sizes\[2\]"),
    ([2, 2**31 + 5, 2], r"sizes\[1\]"), ([2, 10**30], r"sizes\[1\]"),
])
def test_bad_sizes_raise_before_allocating(sizes, match):
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=match):
            Network(sizes, seed=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"allocated {peak} bytes before rejecting {sizes}"


@pytest.mark.parametrize("sizes,exc,match", [
    ([2.0, 3], TypeError, r"sizes\[0\]"), ([2, "3"], TypeError, r"sizes\[1\]"),
    ([2, True], TypeError, r"sizes\[1\]"), ([2, None], TypeError, r"sizes\[1\]"),
    ([3], ValueError, "sizes"), ([], ValueError, "sizes"), (None, ValueError, "sizes"),
    ("23", ValueError, "sizes"), (5, ValueError, "sizes"),
])
def test_bad_sizes_types(sizes, exc, match):
    with pytest.raises(exc, match=match):
        Network(sizes)


def test_layer_bad_sizes():
    for n_in, n_out, match in [(0, 2, "n_in"), (2, 0, "n_out"), (-1, 2, "n_in"),
                               (2**31, 2, "n_in"), (2, 2**31, "n_out")]:
        tracemalloc.start()
        try:
            with pytest.raises(ValueError, match=match):
                Layer(n_in, n_out)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 1 << 20
    with pytest.raises(TypeError, match="n_in"):
        Layer(2.5, 3)


@pytest.mark.parametrize("dt", [np.float16, np.int32, np.complex128, "float128", object,
                                "nonsense", "float65"], ids=str)
def test_bad_dtype_argument(dt):
    """An unparseable dtype ("nonsense") must be refused like any other bad one."""
    with pytest.raises(TypeError, match="dtype"):
        Layer(2, 3, dtype=dt)
    with pytest.raises(TypeError, match="dtype"):
        Network([2, 3, 2], dtype=dt)


def test_alpha_validation():
    for act, alpha in [("leaky_relu", -0.1), ("leaky_relu", np.nan), ("leaky_relu", np.inf),
                       ("elu", 0.0), ("elu", -1.0)]:
        with pytest.raises(ValueError, match="alpha"):
            Layer(2, 3, act, alpha=alpha)
        with pytest.raises(ValueError, match="alpha"):
            Network([2, 3, 2], activation=act, alpha=alpha)
    # alpha on an activation that has none
    with pytest.raises(ValueError, match="alpha"):
        Layer(2, 3, "relu", alpha=0.1)
    with pytest.raises(ValueError, match="alpha"):
        Network([2, 3, 2], activation="tanh", alpha=0.1)
    # leaky_relu with slope 0 is allowed (it is ReLU)
    assert Layer(2, 3, "leaky_relu", alpha=0.0).alpha == 0.0


def test_l2_validation():
    for l2 in (-1e-3, np.nan, np.inf):
        with pytest.raises(ValueError, match="l2"):
            Network([2, 3, 2], l2=l2)
    for l2 in ("0.1", None, True):
        with pytest.raises(TypeError, match="l2"):
            Network([2, 3, 2], l2=l2)


# ---------------------------------------------------------------------------
# Training arguments and parameters
# ---------------------------------------------------------------------------

def test_bad_learning_rate():
    net = _net()
    X, y = _X(), _good_y("cross_entropy")
    p0 = net.get_params()
    for lr in (-0.1, np.nan, np.inf, -np.inf):
        with pytest.raises(ValueError, match="lr"):
            net.train_step(X, y, lr)
    for lr in ("0.1", None, True, [0.1], 1j):
        with pytest.raises(TypeError, match="lr"):
            net.train_step(X, y, lr)
    np.testing.assert_array_equal(net.params, p0)
    # numpy scalars are fine
    net.train_step(X, y, np.float32(0.01))
    net.train_step(X, y, np.float64(0.01))
    assert np.any(net.params != p0)


def test_set_params_validation():
    net = _net()
    p0 = net.get_params()
    for flat, exc in [(np.zeros(net.n_params - 1), ValueError),
                      (np.zeros(net.n_params + 1), ValueError),
                      (np.zeros((1, net.n_params)), ValueError),
                      (np.zeros(net.n_params, dtype=int), TypeError),
                      (np.zeros(net.n_params, dtype=complex), TypeError)]:
        with pytest.raises(exc, match="flat"):
            net.set_params(flat)
    for bad in (np.nan, np.inf):
        flat = p0.copy()
        flat[3] = bad
        with pytest.raises(ValueError, match="flat"):
            net.set_params(flat)
    np.testing.assert_array_equal(net.params, p0)


def test_layer_parameter_assignment_validation():
    layer = Layer(3, 2, dtype=np.float64, seed=0)
    W0 = layer.W.copy()
    with pytest.raises(ValueError, match=r"\bW\b"):
        layer.W = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"\bW\b"):
        layer.W = np.full((3, 2), np.nan)
    with pytest.raises(TypeError, match=r"\bW\b"):
        layer.W = np.zeros((3, 2), dtype=int)
    with pytest.raises(ValueError, match=r"\bb\b"):
        layer.b = np.zeros(3)
    with pytest.raises(ValueError, match=r"\bb\b"):
        layer.b = np.array([0.0, np.inf])
    np.testing.assert_array_equal(layer.W, W0)


def test_backward_before_forward():
    layer = Layer(3, 2, dtype=np.float64, seed=0)
    with pytest.raises((RuntimeError, ValueError), match="forward"):
        layer.backward(np.zeros((4, 2)))


def test_backward_delta_validation():
    layer = Layer(3, 2, dtype=np.float64, seed=0)
    layer.forward(_X(4))
    with pytest.raises(ValueError, match="delta"):
        layer.backward(np.zeros((5, 2)))          # wrong batch size
    with pytest.raises(ValueError, match="delta"):
        layer.backward(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="delta"):
        layer.backward(np.zeros((4, 3)))          # wrong width
    with pytest.raises(ValueError, match="delta"):
        layer.backward(np.full((4, 2), np.nan))
    with pytest.raises(TypeError, match="delta"):
        layer.backward(np.zeros((4, 2), dtype=int))
    # and the layer still works afterwards
    assert layer.backward(np.ones((4, 2))).shape == (4, 3)


# ---------------------------------------------------------------------------
# Never a crash: run the nastiest cases in a child process, so that a
# segfault / abort fails one test instead of killing the whole run
# ---------------------------------------------------------------------------

_PRELUDE = r"""
import numpy as np
import fastmlp
from fastmlp import Layer, Network

OK = (ValueError, TypeError, RuntimeError, AttributeError)

def attempt(fn):
    try:
        fn()
    except OK:
        pass
"""

# a dtype argument that does not parse must never reach the kernels
_CHILD_DTYPE = _PRELUDE + r"""
for dt in ("nonsense", "float65"):
    def layer_case(dt=dt):
        l = Layer(40, 30, "identity", dtype=dt, seed=0)
        l.forward(np.ones((500, 40), np.float32))
        l.backward(np.ones((500, 30), np.float32))
        l.forward(np.ones((500, 40), np.float64))
        l.backward(np.ones((500, 30), np.float32))
    attempt(layer_case)
    def net_case(dt=dt):
        layers = [Layer(40, 30, "tanh", dtype=dt, seed=0),
                  Layer(30, 3, "softmax", dtype=dt, seed=0)]
        net = Network(layers)
        X = np.ones((2000, 40), np.float32)
        net.gradient(X, np.zeros(2000, int))
        net.train_step(X, np.zeros(2000, int), 0.1)
    attempt(net_case)
print("survived")
"""

# assorted junk at every entry point
_CHILD_JUNK = _PRELUDE + r"""
for dtype in (np.float32, np.float64):
    net = Network([3, 5, 4], activation="gelu", dtype=dtype, seed=0)
    junk = [None, "abc", 3, [], [[]], np.zeros((0, 3)), np.zeros((3, 0)),
            np.zeros((2, 3, 4)), np.full((2, 3), np.nan), np.ones((2, 3), complex),
            np.ones((2, 3), object), np.ones((2, 3), np.float16),
            np.broadcast_to(np.ones(3), (5, 3)), np.ones((4, 6))[:, ::2], np.ones((2, 3)).T,
            np.ones((2, 3), np.float32), np.ones((2, 3), np.float64)]
    for X in junk:
        for y in junk + [np.array([0, 1]), np.array([7, -3]), np.ones((2, 4)),
                         np.array([0.5, 1]), np.array([0, 1], np.uint64)]:
            attempt(lambda: net.loss(X, y))
            attempt(lambda: net.gradient(X, y))
            attempt(lambda: net.input_gradient(X, y))
            attempt(lambda: net.train_step(X, y, 0.1))
            attempt(lambda: fastmlp.numerical_gradient(net, X, y))
        attempt(lambda: net.forward(X))
        attempt(lambda: net.layers[0].forward(X))
        attempt(lambda: net.layers[0].backward(X))
        attempt(lambda: net.layers[1].backward(X))
        attempt(lambda: net.set_params(X))
    assert np.all(np.isfinite(net.params))
print("survived")
"""


def _run_child(code, tmp_path):
    import os
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "survived" in proc.stdout, (
        f"child exited with {proc.returncode}\nstdout:\n{proc.stdout[-2000:]}\n"
        f"stderr:\n{proc.stderr[-2000:]}")


def test_junk_input_never_crashes_the_interpreter(tmp_path):
    _run_child(_CHILD_JUNK, tmp_path)


def test_unparseable_dtype_never_crashes_the_interpreter(tmp_path):
    """Layer(dtype="nonsense") must be refused; if it is not, arrays of the wrong
    precision reach the kernels and corrupt the heap."""
    _run_child(_CHILD_DTYPE, tmp_path)
