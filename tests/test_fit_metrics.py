"""The metrics fit records and evaluate / score report: validation_data and the
validation_fraction hold-out (val_loss, val_accuracy, val_r2), standardize fitted on the
training rows only, and evaluate / score for classification and regression.

References: a NumPy forward pass and losses, sklearn.metrics.r2_score.
"""

import numpy as np
import pytest

from fastmlp import Network, _kernels, datasets

from _training_helpers import _np_output, _class_data


# ---------------------------------------------------------------------------
# Validation data, validation_fraction, standardize
# ---------------------------------------------------------------------------

def test_validation_fraction_holds_out_rows(rng):
    """Column 0 of X is 2**i for row i, so the standardizer's mean of column 0
    (fitted on the training rows only) spells out exactly which rows were used for
    training.  With lr=0 the parameters never move, so the training loss of every
    epoch is the loss over those rows, and val_loss / val_r2 are those of the others."""
    from sklearn.metrics import r2_score
    n, frac = 40, 0.25
    n_val = 10
    X = np.column_stack([2.0 ** np.arange(n), rng.standard_normal(n)])
    y = rng.standard_normal((n, 1))
    net = Network([2, 4, 1], activation="tanh", loss="mse", dtype=np.float64, seed=0)
    hist = net.fit(X, y, epochs=2, batch_size=8, optimizer="sgd", lr=0.0, seed=3,
                   validation_fraction=frac, standardize=True)
    code = int(round(net.scaler.mean[0] * (n - n_val)))
    train = np.array([(code >> i) & 1 for i in range(n)], bool)
    assert train.sum() == n - n_val
    val = ~train
    assert not np.all(train[:n - n_val])     # a random split, not the first rows
    np.testing.assert_allclose(net.scaler.mean, X[train].mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(net.scaler.scale, X[train].std(axis=0), rtol=1e-12)
    _, A = _np_output(net, X)
    per_row = 0.5 * np.sum((A - y) ** 2, axis=1)
    np.testing.assert_allclose(hist["loss"], [per_row[train].mean()] * 2, rtol=1e-10)
    np.testing.assert_allclose(hist["val_loss"], [per_row[val].mean()] * 2, rtol=1e-10)
    np.testing.assert_allclose(hist["val_r2"], [r2_score(y[val], A[val])] * 2, rtol=1e-10)


def test_validation_data_is_used_as_given(h, rng):
    X, y = _class_data(rng, n=60)
    Xv, yv = _class_data(rng, n=25)
    net = Network([3, 7, 3], activation="tanh", dtype=np.float64, seed=0)
    hist = net.fit(X, y, epochs=4, batch_size=16, optimizer="adam", lr=0.01,
                   validation_data=(Xv, yv), standardize=False)
    assert len(hist["val_loss"]) == 4 and None not in hist["val_loss"]
    Z, A = _np_output(net, Xv)
    assert hist["val_loss"][-1] == pytest.approx(h.np_loss("cross_entropy", Z, yv), rel=1e-10)
    assert hist["val_accuracy"][-1] == np.mean(A.argmax(axis=1) == yv)
    assert "val_r2" not in hist.records[-1]
    # no validation: no val_ keys
    hist2 = net.fit(X, y, epochs=1, batch_size=16, standardize=False)
    assert set(hist2.records[0]) >= {"loss", "accuracy", "lr", "seconds"}
    with pytest.raises(KeyError, match="val_loss"):
        hist2["val_loss"]


def test_standardize_fits_training_rows_and_predictions_take_raw_units(rng):
    """Features in wildly different raw units; standardize=True stores the training
    rows' mean / std, validation rows and later inputs go through it."""
    X, y = datasets.xor(300, seed=4)
    Xv, yv = datasets.xor(100, seed=5)
    scale, shift = np.array([1000.0, 0.001]), np.array([5000.0, -3.0])
    Xr, Xvr = X * scale + shift, Xv * scale + shift
    net = Network([2, 8, 2], activation="tanh", dtype=np.float64, seed=0)
    assert net.scaler is None
    hist = net.fit(Xr, y, epochs=60, batch_size=16, optimizer="adam", lr=0.02, seed=0,
                   standardize=True, validation_data=(Xvr, yv))
    np.testing.assert_allclose(net.scaler.mean, Xr.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(net.scaler.scale, Xr.std(axis=0), rtol=1e-12)
    # forward on raw inputs == NumPy forward on (X - mean) / std
    Z = (Xvr - Xr.mean(axis=0)) / Xr.std(axis=0)
    for layer in net.layers[:-1]:
        Z = np.tanh(Z @ layer.W + layer.b)
    Z = Z @ net.layers[-1].W + net.layers[-1].b
    P = np.exp(Z - Z.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(net.forward(Xvr), P, rtol=1e-10, atol=1e-14)
    assert np.mean(net.predict(Xvr) == yv) > 0.95
    assert hist["val_accuracy"][-1] == np.mean(P.argmax(axis=1) == yv)


# ---------------------------------------------------------------------------
# evaluate / score
# ---------------------------------------------------------------------------

def test_evaluate_and_score_classification(h, rng):
    net = Network([4, 6, 3], activation="tanh", dtype=np.float64, seed=2)
    X = rng.standard_normal((200, 4))
    y = rng.integers(0, 3, 200)
    Z, A = _np_output(net, X)
    acc = np.mean(A.argmax(axis=1) == y)
    assert 0 < acc < 1
    res = net.evaluate(X, y)
    assert set(res) == {"loss", "accuracy"}
    assert res["accuracy"] == acc == net.score(X, y)
    assert res["loss"] == pytest.approx(h.np_loss("cross_entropy", Z, y), rel=1e-12)
    # one-hot targets give the same accuracy
    assert net.score(X, np.eye(3)[y]) == acc


def test_score_binary_cross_entropy_counts_rows_with_all_labels_right(rng):
    net = Network([4, 5, 3], activation="tanh", loss="binary_cross_entropy",
                  dtype=np.float64, seed=2)
    X = rng.standard_normal((300, 4))
    _, A = _np_output(net, X)
    T = (A > 0.5).astype(float)
    flip = rng.uniform(size=T.shape) < 0.1
    T[flip] = 1 - T[flip]
    expected = np.mean(np.all((A > 0.5) == (T > 0.5), axis=1))
    assert 0 < expected < 1
    assert net.score(X, T) == expected
    assert net.evaluate(X, T)["accuracy"] == expected


@pytest.mark.parametrize("n_out", [1, 3])
def test_evaluate_and_score_regression_against_sklearn(h, rng, n_out):
    from sklearn.metrics import r2_score
    net = Network([3, 8, n_out], activation="tanh", loss="mse", dtype=np.float64, seed=3)
    X = rng.standard_normal((150, 3))
    _, A = _np_output(net, X)
    y = A + 0.3 * rng.standard_normal(A.shape) * np.arange(1, n_out + 1)
    r2 = r2_score(y, A)                               # uniform average over outputs
    res = net.evaluate(X, y)
    assert set(res) == {"loss", "r2"}
    assert res["r2"] == pytest.approx(r2, rel=1e-12)
    assert net.score(X, y) == pytest.approx(r2, rel=1e-12)
    assert res["loss"] == pytest.approx(0.5 * np.mean(np.sum((A - y) ** 2, axis=1)),
                                        rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_loss_shares_its_pass_and_gives_the_same_bits_on_any_thread_count(h, rng, dtype):
    """loss (and evaluate's, and fit's validation scores) runs predict's pass, shared
    with the helper threads: one row, a few rows (column blocks) and row blocks give
    the loss and outputs of one thread (float32, on the own GEMM: bit for bit; float64,
    the BLAS's, whose sums depend on the rows of each call: to rounding), and within
    rounding of NumPy's."""
    net = Network([30, 300, 70, 5], dtype=dtype, seed=4)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for B in (1, 64, 300, 1031):
        X = rng.standard_normal((B, 30)).astype(dtype)
        y = rng.integers(0, 5, B)
        T, labels = net._targets(y, B)
        one = net._loss_and_output(X, T, labels, n_threads=1)
        two = net._loss_and_output(X, T, labels, n_threads=2)
        if dtype == np.float32 and _kernels.HAVE_OWN_SGEMM:
            assert one[0] == two[0] and np.array_equal(one[1], two[1]), B
        assert one[0] == pytest.approx(two[0], rel=1e-14), B
        np.testing.assert_allclose(one[1], two[1], rtol=1e-12 if dtype == np.float64
                                   else 0, atol=0)
        Z, _ = h.np_forward(net, X)
        assert net.loss(X, y) == pytest.approx(h.np_loss("cross_entropy", Z[-1], y),
                                               rel=tol), B
