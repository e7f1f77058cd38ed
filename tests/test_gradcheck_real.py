"""The gradient check on networks trained on real tables (scikit-learn's bundled
digits, wine, breast_cancer): a correct ReLU network passes, a planted error fails,
kink flags are exactly the stencil's zero crossings, and the sampled mode.

References: PyTorch autograd (float64) for the gradients, a brute-force NumPy scan
for the zero crossings, hand-computed losses for the cancellation-free row losses.
"""
import numpy as np
import pytest

from fastmlp import Network, check_gradients, gradcheck, numerical_gradient

datasets = pytest.importorskip("sklearn.datasets")


@pytest.fixture(scope="module")
def digits_nets():
    """digits, 64-128-10 ReLU (float32), trained until confident."""
    X, y = datasets.load_digits(return_X_y=True)
    nets = []
    for seed in (1, 2, 3):
        net = Network([64, 128, 10], activation="relu", seed=seed)
        net.fit(X[:1500], y[:1500], epochs=150, seed=seed, standardize=True)
        nets.append(net)
    return nets, X[1500:1532], y[1500:1532]


def test_trained_relu_networks_pass_on_held_out_rows(digits_nets, torch_ref):
    nets, X, y = digits_nets
    for net in nets:
        assert net.score(X, y) >= 0.9
        report = check_gradients(net, X, y)
        assert report.ok, str(report)
        # the float64 gradient it checked is PyTorch's, to float64 accuracy
        ref = net.astype(np.float64)
        _, grad_torch, _ = torch_ref(ref).loss_and_grads(ref.scaler.transform(X), y)
        _, grad = ref.gradient(X, y)
        assert np.abs(grad - grad_torch).max() <= 1e-12 * np.abs(grad_torch).max()


def test_planted_small_errors_still_fail(digits_nets, monkeypatch):
    nets, X, y = digits_nets
    net = nets[0].astype(np.float64)
    true_gradient = net.gradient
    _, g = true_gradient(X, y)
    W1 = slice(64 * 128 + 128, 64 * 128 + 128 + 128 * 10)
    k = W1.start + int(np.argmax(np.abs(g[W1])))
    for planted in ("scale", "one"):
        def wrong(X, y, planted=planted):
            v, g = true_gradient(X, y)
            if planted == "scale":
                return v, g * (1 + 1e-5)
            g = g.copy()
            g[k] *= 1 + 1e-4
            return v, g
        monkeypatch.setattr(net, "gradient", wrong)
        report = check_gradients(net, X, y)
        assert not report.ok, (planted, str(report))
        assert "FAILED" in str(report)


def test_kink_flags_are_exactly_the_zero_crossings():
    """One hidden ReLU layer on wine: W0[i, j] is kinked iff some row's pre-activation
    Z0[r, j] + s·step·X[r, i] changes sign for s in [-3, 3] (brute force over the
    rows); b0[j] iff Z0[r, j] + s·step does; the output layer never is."""
    X, y = datasets.load_wine(return_X_y=True)
    net = Network([13, 40, 3], activation="relu", dtype=np.float64, seed=0)
    net.fit(X, y, epochs=30, seed=0, standardize=True)
    Xs = net.scaler.transform(X[:20])
    h = 0.05                  # a long stencil: many crossings to find
    _, kinked, checked = gradcheck._numerical(net, X[:20], y[:20], h, "params")
    assert checked.all()
    Z0 = Xs @ net.layers[0].W + net.layers[0].b
    step = h / np.maximum(1.0, np.abs(Xs).max(axis=0))
    expect_W = np.zeros((13, 40), bool)
    for i in range(13):
        for j in range(40):
            lo = Z0[:, j] - 3 * step[i] * Xs[:, i]
            hi = Z0[:, j] + 3 * step[i] * Xs[:, i]
            expect_W[i, j] = np.any((lo > 0) != (hi > 0))
    expect_b = np.any(((Z0 - 3 * h) > 0) != ((Z0 + 3 * h) > 0), axis=0)
    n_w = 13 * 40
    assert expect_W.sum() > 0 and expect_b.sum() > 0
    np.testing.assert_array_equal(kinked[:n_w].reshape(13, 40), expect_W)
    np.testing.assert_array_equal(kinked[n_w:n_w + 40], expect_b)
    assert not kinked[n_w + 40:].any()


def test_row_losses_do_not_cancel():
    """A confident row's cross-entropy log(1 + 2e^-40) = 8.49e-18 (hand-computed);
    lse - z_y in float64 gives 0 or rounding noise of size 1e-15."""
    z = np.array([[40.0, 0.0, 0.0], [0.0, 40.0, 0.0]])
    r = gradcheck.row_losses("cross_entropy", z, None, np.array([0, 0]))
    assert abs(r[0] - 2 * np.exp(-40.0)) <= 1e-30
    assert abs(r[1] - (40.0 + np.log1p(2 * np.exp(-40.0)))) <= 1e-13
    T = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])
    r = gradcheck.row_losses("cross_entropy", z, T, None)
    assert abs(r[0] - 2 * np.exp(-40.0)) <= 1e-30 and abs(r[1] - 20.0) <= 1e-12
    r = gradcheck.row_losses("binary_cross_entropy", np.array([[40.0]]), np.array([[1.0]]),
                             None)
    assert abs(r[0] - np.exp(-40.0)) <= 1e-30          # softplus(-40)


def test_sampled_mode_checks_what_it_says(torch_ref):
    X, y = datasets.load_breast_cancer(return_X_y=True)
    net = Network([30, 32, 16, 2], activation="relu", dtype=np.float64, seed=0)
    net.fit(X, y, epochs=20, seed=0, standardize=True)
    calls = []
    report = check_gradients(net, X[:16], y[:16], n_coords=10, seed=7,
                             progress=lambda d, t, s: calls.append((d, t)))
    assert report.ok, str(report)
    blocks = [30 * 32, 32, 32 * 16, 16, 16 * 2, 2]
    assert [r[2] + r[3] for r in report.rows] == [min(10, n) for n in blocks]
    assert "sampled: up to 10 random coordinates of each W and b (seed 7)" in str(report)
    assert calls[-1] == (sum(min(10, n) for n in blocks),) * 2
    assert all(a[0] < b[0] for a, b in zip(calls, calls[1:]))
    # the sampled entries are the numerical gradient there, NaN elsewhere; against torch
    g = numerical_gradient(net, X[:16], y[:16], n_coords=10, seed=7)
    again = numerical_gradient(net, X[:16], y[:16], n_coords=10, seed=7)
    other = numerical_gradient(net, X[:16], y[:16], n_coords=10, seed=8)
    np.testing.assert_array_equal(np.isnan(g), np.isnan(again))
    assert (np.isnan(g) != np.isnan(other)).any()
    assert (~np.isnan(g)).sum() == sum(min(10, n) for n in blocks)
    _, grad_torch, _ = torch_ref(net).loss_and_grads(net.scaler.transform(X[:16]), y[:16])
    _, kinked, _ = gradcheck._numerical(net, X[:16], y[:16], None, "params", 10, 7)
    ok = ~np.isnan(g) & ~kinked
    assert np.abs(g[ok] - grad_torch[ok]).max() <= 1e-7 * np.abs(grad_torch).max()
    gx = numerical_gradient(net, X[:4], y[:4], wrt="inputs", n_coords=5, seed=0)
    assert gx.shape == (4, 30) and (~np.isnan(gx)).sum() == 5
    with pytest.raises(ValueError, match="n_coords"):
        numerical_gradient(net, X[:4], y[:4], n_coords=0)
    with pytest.raises(TypeError, match="progress"):
        check_gradients(net, X[:4], y[:4], progress="yes")


def test_cli_gradcheck_samples_large_networks(tmp_path, capsys):
    from fastmlp.cli import _StderrProgress, main
    X, y = datasets.load_digits(return_X_y=True)
    net = Network([64, 1024, 10], activation="relu", seed=0)      # 76,810 parameters
    net.fit(X, y, epochs=3, seed=0, standardize=True)
    net.save(tmp_path / "big.npz")
    path = tmp_path / "digits.csv"
    from fastmlp.datasets import save_csv
    save_csv(path, X[:40], y[:40], [f"p{i}" for i in range(64)], "target")
    argv = ["gradcheck", str(tmp_path / "big.npz"), str(path), "--target", "target",
            "--rows", "8"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "checking 200 random coordinates" in err
    assert "sampled: up to 200 random coordinates of each W and b (seed 0)" in out
    assert "OK" in out
    assert main(argv + ["--coords", "5", "--seed", "3"]) == 0
    out, _ = capsys.readouterr()
    assert "up to 5 random coordinates of each W and b (seed 3), 20 of 76,810" in out
    assert main(argv[:-2] + ["--rows", "1", "--all"]) == 0
    out, err = capsys.readouterr()
    assert "sampled" not in out and "sampled" not in err
    # the progress line: silent under a second, then throttled; always the last
    progress = _StderrProgress()
    progress(10, 100, 0.5)
    progress(20, 100, 2.0)
    progress(30, 100, 3.0)
    progress(100, 100, 4.0)
    err = capsys.readouterr().err
    assert err.count("gradient check:") == 2
    assert "20/100 coordinates (20%), 2 s, ETA 8 s" in err and "100/100" in err
