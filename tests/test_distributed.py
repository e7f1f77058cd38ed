"""fastmlp.distributed on a LocalCluster of two worker processes.

The references are independent of the distributed code: the single-process
Network.fit / predict / evaluate / invert on the same rows (gathered locally by the
test), the full-batch gradient taken by hand for SGD, Standardizer.fit on NumPy
data, and scikit-learn's own estimator for the dask-ml wrapper.
"""
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

import fastmlp                                         # noqa: E402
from fastmlp import distributed as fd                  # noqa: E402
from distributed import Client                         # noqa: E402

ITERATIONS = 15


@pytest.fixture(scope="module")
def client():
    with fd.local_cluster(2) as cluster, Client(cluster) as c:
        yield c


def _data(n=480, n_in=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_in)) * [1, 2, 3, 0.5, 10][:n_in] + 3
    y = (X[:, 0] + 0.2 * X[:, 1] ** 2 > 4).astype(int) + (X[:, 2] > 4)
    return X, y


def _targets(loss, X, y):
    if loss == "cross_entropy":
        return y
    if loss == "binary_cross_entropy":
        return np.stack([y > 0, y > 1], axis=1).astype(float)
    return np.stack([np.sin(X[:, 0]), X[:, 1] * 0.1], axis=1)


def _rel(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


def _nbytes(obj):
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    if isinstance(obj, dict):
        return sum(_nbytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_nbytes(v) for v in obj)
    return 8


# -- 1. full-batch L-BFGS: the single-process iterates -----------------------------------

@pytest.mark.parametrize("loss, chunks", [
    ("cross_entropy", 480), ("cross_entropy", (100, 37, 200, 143)), ("cross_entropy", 60),
    ("binary_cross_entropy", (100, 37, 200, 143)), ("mse", 60)])
def test_lbfgs_equals_single_process(client, loss, chunks):
    X, y = _data()
    t = _targets(loss, X, y)
    n_out = 3 if loss == "cross_entropy" else 2
    start = fastmlp.Network([5, 12, n_out], "tanh", loss, dtype=np.float64, seed=3, l2=1e-3)
    local, dist = start.copy(), start.copy()
    h_local = local.fit(X, t, optimizer="lbfgs", epochs=ITERATIONS, standardize=True)
    h = fd.fit(dist, da.from_array(X, chunks=(chunks, 5)),
               da.from_array(t, chunks=(chunks,) + t.shape[1:]), client=client,
               epochs=ITERATIONS, standardize=True)
    assert _rel(dist.params, local.params) < 1e-8
    assert len(h) == len(h_local)
    np.testing.assert_allclose(h["loss"], h_local["loss"], rtol=1e-9)
    np.testing.assert_allclose(dist.scaler.mean, local.scaler.mean, rtol=1e-12)
    np.testing.assert_allclose(dist.scaler.scale, local.scaler.scale, rtol=1e-12)
    for key in ("input_min", "input_max", "input_mean"):
        np.testing.assert_allclose(dist.training[key], local.training[key], rtol=1e-12)


def test_without_a_client_a_local_cluster_is_started_and_closed():
    import multiprocessing
    X, y = _data(200)
    start = fastmlp.Network([5, 4, 3], "tanh", dtype=np.float64, seed=0)
    local, dist = start.copy(), start.copy()
    local.fit(X, y, optimizer="lbfgs", epochs=5)
    before = len(multiprocessing.active_children())
    fd.fit(dist, da.from_array(X, chunks=(100, 5)), da.from_array(y, chunks=100), epochs=5)
    assert _rel(dist.params, local.params) < 1e-8
    assert len(multiprocessing.active_children()) <= before       # its workers are gone


def test_lbfgs_float32_and_dataframe(client):
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    X, y = _data()
    frame = pd.DataFrame(X, columns=list("abcde"))
    start = fastmlp.Network([5, 8, 3], "tanh", seed=0)              # float32
    local, dist = start.copy(), start.copy()
    local.fit(X, y, optimizer="lbfgs", epochs=5, standardize=True)
    fd.fit(dist, dd.from_pandas(frame, npartitions=2), dd.from_pandas(pd.Series(y),
           npartitions=2), client=client, epochs=5, standardize=True)
    assert dist.params.dtype == np.float32
    assert abs(dist.loss(X, y) - local.loss(X, y)) < 1e-4 * local.loss(X, y)


def test_client_never_computes_the_rows(client, monkeypatch):
    """The rows are made on the workers and never reach the client: only vectors of
    the parameters' size (and scalars) are gathered."""
    here = os.getpid()

    def make(block, block_info=None):
        assert os.getpid() != here, "a row block was computed on the client"
        rng = np.random.default_rng(block_info[None]["chunk-location"][0])
        return rng.standard_normal(block_info[None]["chunk-shape"])

    X = da.zeros((4000, 6), chunks=(500, 6)).map_blocks(make, dtype=float)
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    net = fastmlp.Network([6, 10, 2], "tanh", dtype=np.float64, seed=0)
    gathered = []
    real = client.gather
    monkeypatch.setattr(client, "gather",
                        lambda f, **kw: gathered.append(_nbytes(r := real(f, **kw))) or r)
    fd.fit(net, X, y, client=client, epochs=5)
    assert gathered and max(gathered) <= 8 * net.n_params + 4096
    assert net.training["input_min"] is not None


def test_bad_inputs_are_refused_before_training(client):
    X, y = _data(100)
    net = fastmlp.Network([5, 4, 3], dtype=np.float64, seed=0)
    before = net.get_params()
    Xd = da.from_array(X, chunks=(25, 5))
    with pytest.raises(ValueError, match=r"partition 1: X has 25 rows but y has 35"):
        fd.fit(net, Xd, da.from_array(y, chunks=(25, 35, 40)), client=client)
    with pytest.raises(ValueError, match="chunked along its columns"):
        fd.fit(net, da.from_array(X, chunks=(25, 2)), da.from_array(y, chunks=25),
               client=client)
    with pytest.raises(TypeError, match="must hold numbers"):
        fd.fit(net, Xd.astype(str), da.from_array(y, chunks=25), client=client)
    bad = X.copy()
    bad[60, 2] = np.nan
    with pytest.raises(ValueError, match=r"partition 2 \(rows 50-74\): X contains NaN"):
        fd.fit(net, da.from_array(bad, chunks=(25, 5)), da.from_array(y, chunks=25),
               client=client)
    labels = y.copy()
    labels[90] = 7
    with pytest.raises(ValueError, match=r"partition 3 .*class label 7"):
        fd.fit(net, Xd, da.from_array(labels, chunks=25), client=client)
    with pytest.raises(TypeError, match="dask array"):
        fd.fit(net, X, y, client=client)
    np.testing.assert_array_equal(net.get_params(), before)
    assert net.scaler is None and net.training == {}
    # full-batch L-BFGS needs a deterministic loss, as Network.fit's does
    dropped = fastmlp.Network([5, 4, 3], dtype=np.float64, seed=0, dropout=0.2)
    with pytest.raises(ValueError, match="deterministic loss.*dropout"):
        fd.fit(dropped, Xd, da.from_array(y, chunks=25), client=client)


def test_workers_run_one_blas_thread(client):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    infos = client.run(threadpoolctl.threadpool_info)
    assert len(infos) == 2
    for info in infos.values():
        assert all(lib["num_threads"] == 1 for lib in info if lib["user_api"] == "blas")


# -- 2. prediction and scoring -------------------------------------------------------------

@pytest.mark.parametrize("loss", ["cross_entropy", "binary_cross_entropy", "mse"])
def test_predict_and_score_equal_local(client, loss):
    X, y = _data(300)
    t = _targets(loss, X, y)
    net = fastmlp.Network([5, 9, 3 if loss == "cross_entropy" else 2], "tanh", loss,
                          dtype=np.float64, seed=2)
    net.fit(X, t, epochs=3, standardize=True)
    Xd = da.from_array(X, chunks=(70, 5))
    labels = fd.predict(net, Xd)
    assert isinstance(labels, da.Array)
    # the network is one key of the graph, however many blocks use it
    graph = dict(labels.__dask_graph__())
    assert sum(isinstance(getattr(v, "value", v), fastmlp.Network)
               for v in graph.values()) == 1
    np.testing.assert_array_equal(labels.compute(), net.predict(X))
    if loss != "mse":
        np.testing.assert_allclose(fd.predict_proba(net, Xd).compute(), net.predict_proba(X),
                                   rtol=1e-12, atol=1e-15)
    td = da.from_array(t, chunks=(70,) + t.shape[1:])
    scores, local = fd.evaluate(net, Xd, td, client=client), net.evaluate(X, t)
    assert scores.keys() == local.keys()
    for k in local:
        assert scores[k] == pytest.approx(local[k], rel=1e-12, abs=1e-14)
    assert fd.score(net, Xd, td) == pytest.approx(net.score(X, t), rel=1e-12)


def test_standardizer_from_blocks(client):
    X, _ = _data(333)
    s = fd.standardizer(da.from_array(X, chunks=(50, 5)), client=client)
    ref = fastmlp.Standardizer.fit(X)
    np.testing.assert_allclose(s.mean, ref.mean, rtol=1e-13)
    np.testing.assert_allclose(s.scale, ref.scale, rtol=1e-13)


# -- 3. local SGD with periodic averaging ----------------------------------------------

def test_sgd_sync_every_1_is_large_batch_sgd(client):
    """Two shards of 40 rows, batches of 8: each round must be one SGD step on the
    union of the two shards' batches (rows 8s..8s+7 of each, without shuffling)."""
    X, y = _data(80)
    start = fastmlp.Network([5, 7, 3], "tanh", dtype=np.float64, seed=4, l2=1e-2)
    dist = start.copy()
    fd.fit(dist, da.from_array(X, chunks=(40, 5)), da.from_array(y, chunks=40),
           client=client, optimizer="sgd", lr=0.1, batch_size=8, epochs=1, shuffle=False,
           standardize=False)
    ref = start.copy()
    for s in range(5):
        rows = np.r_[8 * s:8 * s + 8, 40 + 8 * s:40 + 8 * s + 8]
        _, grad = ref.gradient(X[rows], y[rows])          # mean over the 16 rows
        ref.set_params(ref.get_params() - 0.1 * grad)
    assert _rel(dist.params, ref.params) < 1e-12


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_local_adam_trains_with_early_stopping(client, optimizer):
    X, y = _data(600)
    Xv, yv = _data(200, seed=1)
    net = fastmlp.Network([5, 16, 3], "tanh", dtype=np.float64, seed=0)
    loss0 = net.loss(X, y)
    lines = []
    h = fd.fit(net, da.from_array(X, chunks=(150, 5)), da.from_array(y, chunks=150),
               client=client, optimizer=optimizer, lr=0.02, batch_size=32, epochs=6,
               sync_every=4, standardize=True, verbose=1, print_fn=lines.append,
               validation_data=(da.from_array(Xv, chunks=(100, 5)),
                                da.from_array(yv, chunks=100)),
               early_stopping=True, patience=2, seed=0)
    assert len(lines) == len(h) and lines[0].startswith("epoch 1/6  loss ")
    assert h["loss"][-1] < loss0 and h["val_accuracy"][-1] > 0.5
    best = int(np.argmin(h["val_loss"]))
    assert h.best_epoch == best + 1
    # the network holds the best epoch's weights: its local val loss is that record's
    assert net.loss(Xv, yv) == pytest.approx(h["val_loss"][best], rel=1e-10)
    assert net.evaluate(Xv, yv)["accuracy"] == pytest.approx(h["val_accuracy"][best])


# -- 5. inversion -------------------------------------------------------------------------

def test_invert_many_equals_local_invert(client):
    X, y = _data(300)
    reg = fastmlp.Network([5, 8, 2], "tanh", "mse", dtype=np.float64, seed=1)
    reg.fit(X, _targets("mse", X, y), epochs=5, standardize=True)
    targets = reg.forward(X[:6]) + 0.01
    results = fd.invert_many(reg, targets, client=client, n_restarts=4, seed=3,
                             max_iter=60, chunk_size=2)
    assert len(results) == 6
    for target, got in zip(targets, results):
        want = fastmlp.invert(reg, target, n_restarts=4, seed=3, max_iter=60)
        np.testing.assert_allclose(got.x, want.x, rtol=1e-10, atol=1e-12)
        assert got.success == want.success
    clf = fastmlp.Network([5, 8, 3], "tanh", dtype=np.float64, seed=1)
    clf.fit(X, y, epochs=5)
    results = fd.invert_many(clf, class_indices=[2, 0, 1], client=client, n_restarts=3,
                             seed=0)
    for c, got in zip([2, 0, 1], results):
        want = fastmlp.invert(clf, class_index=c, n_restarts=3, seed=0)
        np.testing.assert_allclose(got.x, want.x, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="targets must have shape"):
        fd.invert_many(reg, np.zeros((3, 5)), client=client)


# -- 6. a worker lost in the middle of a fit -------------------------------------------------

def test_fit_survives_a_killed_worker():
    """Kill one of two worker processes at iteration 3: its blocks are recomputed
    from their lineage (generated on the workers) and the fit ends where an
    undisturbed one does, exactly (the reduction order is fixed)."""
    rng_X = da.random.default_rng(5).standard_normal((2000, 4), chunks=(500, 4))
    y = (rng_X[:, 0] - rng_X[:, 1] > 0).astype(int)
    start = fastmlp.Network([4, 6, 2], "tanh", dtype=np.float64, seed=0)
    with fd.local_cluster(2) as cluster, Client(cluster) as c:
        calm = start.copy()
        fd.fit(calm, rng_X, y, client=c, epochs=8)
        killed = []

        def kill(net, record):
            if record["epoch"] == 3:
                pids = c.run(os.getpid)
                victim = sorted(pids)[0]
                os.kill(pids[victim], signal.SIGKILL)
                killed.append(victim)

        hit = start.copy()
        h = fd.fit(hit, rng_X, y, client=c, epochs=8, callbacks=[kill])
        assert killed and len(h) == 8
    np.testing.assert_array_equal(hit.params, calm.params)


# -- 7. dask-ml --------------------------------------------------------------------------

def test_dask_ml_parallel_post_fit(client):
    wrappers = pytest.importorskip("dask_ml.wrappers")
    from fastmlp.sklearn import MLPClassifier
    X, y = _data(400)
    est = wrappers.ParallelPostFit(MLPClassifier(hidden_layer_sizes=(8,), max_iter=30,
                                                 random_state=0))
    est.fit(X, y)
    Xd = da.from_array(X, chunks=(100, 5))
    got = est.predict(Xd)
    assert isinstance(got, da.Array)
    np.testing.assert_array_equal(got.compute(), est.estimator.predict(X))
    np.testing.assert_allclose(est.predict_proba(Xd).compute(),
                               est.estimator.predict_proba(X), rtol=1e-6)


def test_dask_ml_incremental(client):
    wrappers = pytest.importorskip("dask_ml.wrappers")
    from fastmlp.sklearn import MLPClassifier
    X, y = _data(400)
    inc = wrappers.Incremental(MLPClassifier(hidden_layer_sizes=(8,), random_state=0),
                               shuffle_blocks=False)
    inc.fit(da.from_array(X, chunks=(100, 5)), da.from_array(y, chunks=100),
            classes=[0, 1, 2])
    # one partial_fit per block, in order: the same as calling it locally
    ref = MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    for i in range(4):
        ref.partial_fit(X[100 * i:100 * i + 100], y[100 * i:100 * i + 100], classes=[0, 1, 2])
    np.testing.assert_allclose(inc.estimator_.predict_proba(X), ref.predict_proba(X),
                               rtol=1e-6)


# -- the README's example -----------------------------------------------------------------

def test_readme_example():
    import re
    from pathlib import Path
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    code, = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S)
             if "distributed.fit(net, X, y, client=client" in b]
    ns = {}
    exec(compile(code, "README", "exec"), ns)
    assert abs(ns["accuracy"] - 0.985) < 0.005                            # "≈ 0.985"
    assert isinstance(ns["labels"], da.Array) and len(ns["history"]) <= 20
    assert [a.success for a in ns["answers"]] == [True] * 3


# -- the core does not need Dask -------------------------------------------------------

def test_core_does_not_import_dask():
    code = "import sys, fastmlp; sys.exit('dask' in sys.modules or 'distributed' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd="/").returncode == 0


def test_missing_dask_names_the_extra(monkeypatch):
    from fastmlp.distributed import _cluster
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r'pip install "fastmlp\[dask\]"'):
        _cluster.import_distributed()
