"""Network.fit takes what users have, on scikit-learn's bundled tables: integer X,
(n, 1) targets, pandas and polars DataFrames (feature names kept and checked),
sample_weight, scipy.sparse X (densified one batch at a time), a History that refuses
unknown keys and records the training metric, and standardize on by default.

References: the same fit on the plain float array, the same fit on repeated or
selected rows (for weights), NumPy's mean/std, scikit-learn's accuracy and r2_score.
"""
import numpy as np
import pytest
import scipy.sparse

from fastmlp import Network, training

skd = pytest.importorskip("sklearn.datasets")
metrics = pytest.importorskip("sklearn.metrics")


def _fit(X, y, sizes, loss="cross_entropy", **kw):
    net = Network(sizes, loss=loss, dtype=np.float64, seed=0)
    history = net.fit(X, y, **{"epochs": 5, "batch_size": 64, "seed": 0, **kw})
    return net, history


def test_integer_X_is_cast():
    X, y = skd.load_digits(return_X_y=True)
    a, _ = _fit(X.astype(np.int64), y, [64, 16, 10])
    b, _ = _fit(X, y, [64, 16, 10])
    np.testing.assert_array_equal(a.params, b.params)
    np.testing.assert_array_equal(a.predict(X.astype(np.uint8)), b.predict(X))


def test_column_targets_for_regression_and_classes():
    X, y = skd.load_diabetes(return_X_y=True)
    a, _ = _fit(X, y.reshape(-1, 1), [10, 16, 1], "mse")
    b, _ = _fit(X, y, [10, 16, 1], "mse")
    np.testing.assert_array_equal(a.params, b.params)
    X, y = skd.load_iris(return_X_y=True)
    a, _ = _fit(X, y.reshape(-1, 1), [4, 8, 3])
    b, _ = _fit(X, y, [4, 8, 3])
    np.testing.assert_array_equal(a.params, b.params)
    # several regression targets (linnerud: 3 of them), scored as scikit-learn does
    X, Y = skd.load_linnerud(return_X_y=True)
    net, hist = _fit(X, Y, [3, 8, 3], "mse", epochs=50, batch_size=5)
    assert net.score(X, Y) == pytest.approx(metrics.r2_score(Y, net.predict(X)), abs=1e-12)
    assert hist["r2"][-1] == pytest.approx(net.score(X, Y), abs=1e-12)


@pytest.mark.parametrize("library", ["pandas", "polars"])
def test_dataframes_keep_and_check_feature_names(library):
    pytest.importorskip("pandas")
    frame = skd.load_wine(as_frame=True).frame
    X, y = frame.drop(columns="target"), frame["target"]
    if library == "polars":
        pl = pytest.importorskip("polars")
        X, y = pl.from_pandas(X), pl.from_pandas(y)
    net, _ = _fit(X, y, [13, 16, 3])
    ref, _ = _fit(frame.drop(columns="target").to_numpy(), frame["target"].to_numpy(),
                  [13, 16, 3])
    np.testing.assert_array_equal(net.params, ref.params)
    names = list(frame.columns[:-1])
    assert net.training["feature_names"] == names
    np.testing.assert_array_equal(net.predict(X), ref.predict(frame[names].to_numpy()))
    assert net.score(X, y) == ref.score(frame[names].to_numpy(), frame["target"].to_numpy())
    shuffled = frame[names[::-1]]
    with pytest.raises(ValueError, match="order"):
        net.predict(shuffled if library == "pandas" else pl.from_pandas(shuffled))
    dropped = frame[names[1:] + ["target"]]
    with pytest.raises(ValueError, match="alcohol"):
        net.predict(dropped if library == "pandas" else pl.from_pandas(dropped))
    net.predict(frame[names].to_numpy())          # a plain array is taken as it is
    text = frame[names].astype({"alcohol": str}).assign(alcohol="high")
    with pytest.raises(TypeError, match="alcohol"):
        net.fit(text if library == "pandas" else pl.from_pandas(text), y)


def test_sample_weight_is_the_weighted_mean_loss():
    X, y = skd.load_iris(return_X_y=True)
    k = np.random.default_rng(0).integers(1, 4, len(y))
    # full-batch L-BFGS: integer weights are the same rows repeated
    a, _ = _fit(X, y, [4, 8, 3], optimizer="lbfgs", epochs=30, sample_weight=k,
                standardize=False)
    b, _ = _fit(np.repeat(X, k, axis=0), np.repeat(y, k), [4, 8, 3], optimizer="lbfgs",
                epochs=30, standardize=False)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-6, atol=1e-8)
    # full-batch SGD: zero weights drop rows (the same steps as on the other rows)
    keep = y != 2
    w = keep.astype(float)
    a, ha = _fit(X, y, [4, 8, 3], optimizer="sgd", lr=0.1, batch_size=len(y),
                 sample_weight=w, standardize=False)
    b, hb = _fit(X[keep], y[keep], [4, 8, 3], optimizer="sgd", lr=0.1,
                 batch_size=int(keep.sum()), standardize=False)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ha["loss"], hb["loss"], rtol=1e-12)
    for bad, match in ((np.ones(3), "sample_weight"), (-w, "non-negative"),
                       (0 * w, "zero"), ([[1.0, 2.0], [3.0]] * 75, "sample_weight is ragged")):
        with pytest.raises(ValueError, match=match):
            _fit(X, y, [4, 8, 3], sample_weight=bad)


@pytest.mark.parametrize("scale", [2.0 ** 1020, 2.0 ** -1060])
def test_sample_weights_count_relative_to_each_other_at_any_scale(scale):
    """Weights near float64's largest (or smallest) value: their sums overflowed to inf,
    every row's weight became 0 and the history's loss NaN, silently.  Only their
    ratios count: the fit is the one with the same weights near 1, bit for bit (the
    scales are powers of two, so the ratios are exact)."""
    X, y = skd.load_iris(return_X_y=True)
    k = np.random.default_rng(1).integers(1, 4, len(y)).astype(float)
    a, ha = _fit(X, y, [4, 8, 3], epochs=3, batch_size=32, sample_weight=k * scale)
    b, hb = _fit(X, y, [4, 8, 3], epochs=3, batch_size=32, sample_weight=k)
    np.testing.assert_array_equal(a.params, b.params)
    assert np.all(np.isfinite(ha["loss"])) and ha["loss"] == hb["loss"]


def test_sparse_X_is_densified_one_batch_at_a_time(monkeypatch):
    X, y = skd.load_digits(return_X_y=True)
    X, y = np.tile(X, (3, 1)), np.tile(y, 3)          # 5,391 rows, 51% zeros
    S = scipy.sparse.csr_matrix(X)
    rows_densified = []
    real = scipy.sparse.csr_matrix.toarray

    def spy(self, *args, **kw):
        rows_densified.append(self.shape[0])
        return real(self, *args, **kw)

    monkeypatch.setattr(scipy.sparse.csr_matrix, "toarray", spy)
    a, _ = _fit(S, y, [64, 16, 10], validation_fraction=0.1)
    monkeypatch.undo()
    assert max(rows_densified) <= training.METRIC_ROWS < X.shape[0]
    b, _ = _fit(X, y, [64, 16, 10], validation_fraction=0.1)
    train_rows = np.random.default_rng(0).permutation(len(X))[539:]     # as fit splits
    np.testing.assert_allclose(a.scaler.mean, X[train_rows].mean(axis=0), rtol=1e-12)
    std = X[train_rows].std(axis=0)
    np.testing.assert_allclose(a.scaler.scale, np.where(std > 0, std, 1.0), rtol=1e-10)
    np.testing.assert_allclose(a.scaler.mean, b.scaler.mean, rtol=1e-12)
    np.testing.assert_allclose(a.scaler.scale, b.scaler.scale, rtol=1e-10)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-6, atol=1e-8)
    assert a.score(S, y) == b.score(X, y)
    with pytest.raises(ValueError, match="dense"):
        _fit(S, y, [64, 16, 10], optimizer="lbfgs")


def test_history_refuses_unknown_keys_and_records_the_training_metric():
    X, y = skd.load_breast_cancer(return_X_y=True)
    net, hist = _fit(X, y, [30, 16, 2], epochs=4)
    assert len(hist["accuracy"]) == 4
    assert hist["accuracy"][-1] == metrics.accuracy_score(y, net.predict(X))
    with pytest.raises(KeyError, match="val_acc"):
        hist["val_acc"]
    net, hist = _fit(X, y, [30, 16, 2], epochs=3, validation_fraction=0.2)
    assert len(hist["val_accuracy"]) == 3


@pytest.mark.parametrize("kind", ["float64", "float32 net", "sparse"])
def test_fit_records_the_training_rows_range_and_mean(kind):
    """training["input_min"/"input_max"/"input_mean"]: NumPy's, over the rows fit
    trained on (not the validation split), in the user's units."""
    X, y = skd.load_digits(return_X_y=True)
    X = X + np.random.default_rng(1).normal(0, 0.1, X.shape)       # not integers
    net = Network([64, 16, 10], dtype=np.float32 if kind == "float32 net" else np.float64,
                  seed=0)
    net.fit(scipy.sparse.csr_matrix(X) if kind == "sparse" else X, y, epochs=1, seed=0,
            validation_fraction=0.1)
    rows = X[np.random.default_rng(0).permutation(len(X))[180:]].astype(net.dtype)
    assert net.training["input_min"] == rows.min(axis=0).tolist()
    assert net.training["input_max"] == rows.max(axis=0).tolist()
    mean = rows.mean(axis=0, dtype=np.float64)
    if kind == "sparse":        # scipy adds the stored values in its own order
        np.testing.assert_allclose(net.training["input_mean"], mean, rtol=1e-13)
    else:
        assert net.training["input_mean"] == mean.tolist()


def test_standardize_is_the_default():
    X, y = skd.load_wine(return_X_y=True)
    net, _ = _fit(X, y, [13, 16, 3])
    np.testing.assert_allclose(net.scaler.mean, X.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(net.scaler.scale, X.std(axis=0), rtol=1e-12)
    net, _ = _fit(X, y, [13, 16, 3], standardize=False)
    assert net.scaler is None
