"""fit's argument checks: each bad argument raises ValueError or TypeError naming it, and a
rejected call leaves the network unchanged."""

import numpy as np
import pytest

from fastmlp import Network

from _training_helpers import _class_data


# ---------------------------------------------------------------------------
# Bad arguments
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, exc, pattern", [
    (dict(epochs=0), ValueError, "epochs"),
    (dict(epochs=-3), ValueError, "epochs"),
    (dict(epochs=2.5), TypeError, "epochs"),
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(batch_size=None), TypeError, "batch_size"),
    (dict(validation_fraction=1), ValueError, "validation_fraction"),
    (dict(validation_fraction=1.5), ValueError, "validation_fraction"),
    (dict(validation_fraction=-0.1), ValueError, "validation_fraction"),
    (dict(validation_fraction=0.001), ValueError, "validation_fraction"),
    (dict(early_stopping=True), ValueError, "early_stopping"),
    (dict(optimizer="rmsprop"), ValueError, "optimizer"),
    (dict(optimizer=42), ValueError, "optimizer"),
    (dict(optimizer="sgd", lr=-0.1), ValueError, "lr"),
    (dict(patience=0), ValueError, "patience"),
    (dict(min_delta=-1.0), ValueError, "min_delta"),
    (dict(clip_norm=0.0), ValueError, "clip_norm"),
    (dict(weight_decay=-0.1), ValueError, "weight_decay"),
    (dict(schedule="warmup"), ValueError, "schedule"),
    (dict(validation_data=(np.zeros((5, 2)), np.zeros(5, int))), ValueError,
     r"validation_data\[0\]"),
    (dict(validation_data=(np.zeros((5, 3)), np.zeros(4, int))), ValueError,
     r"validation_data\[1\]"),
])
def test_bad_fit_arguments(rng, kwargs, exc, pattern):
    X, y = _class_data(rng, n=40)
    net = Network([3, 4, 3], activation="tanh", dtype=np.float64, seed=0)
    before = net.get_params()
    with pytest.raises(exc, match=pattern):
        net.fit(X, y, **{"epochs": 2, **kwargs}, standardize=False)
    assert np.array_equal(net.params, before)


@pytest.mark.parametrize("kwargs", [dict(early_stopping=True), dict(optimizer="rmsprop")],
                         ids=["early_stopping-without-validation", "unknown-optimizer"])
def test_rejected_fit_leaves_the_network_unchanged(rng, kwargs):
    """A fit call rejected for its arguments must not modify the network.

    Fails: training.fit sets net.scaler (standardize=True) and overwrites
    net.training before it checks early_stopping / the optimizer name, so a
    rejected call leaves a Standardizer on the network, which then transforms every
    later input and is reused by the next fit."""
    X, y = _class_data(rng, n=40)
    net = Network([3, 4, 3], activation="tanh", dtype=np.float64, seed=0)
    with pytest.raises(ValueError):
        net.fit(X * 10 + 3, y, epochs=2, standardize=True, **kwargs)
    assert net.scaler is None
    assert net.training == {}
