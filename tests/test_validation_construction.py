"""Bad construction arguments of Network and Layer (layer sizes and dtypes that do not
chain, unknown activation and loss names, bad sizes, dtype, alpha and l2) raise
ValueError or TypeError naming the argument, before any large allocation.
"""
import tracemalloc

import numpy as np
import pytest

from fastmlp import Layer, Network


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
