"""Model files as untrusted input (issue 10): every field a loaded model hands to
compiled code is checked against the architecture on load, and again at the
compiled boundary; sizes are checked before anything is allocated.

References are independent of the code under test: hand-written JSON and .npy
members (the documented format), brute-force expectations (which index is bad),
and NumPy's own results.
"""
import json
import os
import re

import numpy as np
import pytest

from fastmlp import Network, invert
from fastmlp import io as fio
from fastmlp._search import distinct_rows, minimize_rows


def write_model(path, meta_changes=None, training=None, n_in=3, n_out=2, loss="mse"):
    """A valid model file written member by member (not by fastmlp.save), with
    meta keys changed / training replaced."""
    sizes = [n_in, 4, n_out]
    acts = ["tanh", {"mse": "identity", "cross_entropy": "softmax",
                     "binary_cross_entropy": "sigmoid"}[loss]]
    n_params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
    meta = {"format": "fastmlp.model", "version": 1, "sizes": sizes, "activations": acts,
            "alphas": [0.0, 0.0], "loss": loss, "l2": 0.0, "dtype": "float64",
            "n_params": n_params, "scaler": False, "training": training or {},
            "fastmlp_version": "test"}
    meta.update(meta_changes or {})
    params = np.linspace(-1, 1, n_params)
    with open(path, "wb") as f:
        np.savez(f, meta=np.array(json.dumps(meta)), params=params)
    return path


def raises_naming(path, words):
    return pytest.raises(ValueError, match=re.escape(f"'{path}' is not a valid fastmlp "
                                                     "model file") + ".*" + words)


# ---------------------------------------------------------------------------
# 1. training fields are checked against the architecture on load
# ---------------------------------------------------------------------------

GOOD_TRAINING = {"input_min": [-1.0, 0, 2.5], "input_max": [1.0, 0, 3], "input_mean": [0, 0, 3],
                 "feature_names": ["a", "b", "c"], "classes": ["no", 1], "target": "y"}


def test_valid_training_fields_load(tmp_path):
    path = write_model(tmp_path / "m.npz", training=GOOD_TRAINING, loss="cross_entropy")
    assert fio.load(path).training == GOOD_TRAINING


@pytest.mark.parametrize("change, words", [
    ({"input_min": [0.0]}, "input_min must be a list of 3 finite numbers"),
    ({"input_max": [1.0, 2.0, 3.0, 4.0]}, "input_max must be a list of 3"),
    ({"input_mean": [0.0]}, "input_mean must be a list of 3"),
    ({"input_min": [0.0, "a", 1.0]}, "input_min must be"),
    ({"input_min": [0.0, True, 1.0]}, "input_min must be"),
    ({"input_min": [0.0, None, 1.0]}, "input_min must be"),
    ({"input_min": [0.0, [1.0], 1.0]}, "input_min must be"),
    ({"input_min": {"0": 1.0}}, "input_min must be"),
    ({"input_min": 0.0}, "input_min must be"),
    ({"input_min": [1e308, 0.0, 2.0], "input_max": [-1e308, 0.0, 3.0]},
     r"input_min\[0\] = 1e\+308 exceeds input_max\[0\]"),
    ({"input_min": [-1.0, 0.5, 2.5]}, r"input_min\[1\] = 0.5 exceeds input_max\[1\] = 0"),
    ({"input_max": None}, "input_max must be"),
    ({"feature_names": ["a", "b"]}, "feature_names must be None or 3 distinct strings"),
    ({"feature_names": ["a", "b", 3]}, "feature_names"),
    ({"feature_names": ["a", "a", "b"]}, "feature_names"),
    ({"feature_names": "abc"}, "feature_names"),
    ({"classes": ["x"]}, "classes must be None or 2 distinct"),
    ({"classes": ["x", "y", "z"]}, "classes must be None or 2"),
    ({"classes": ["x", None]}, "classes"),
    ({"classes": [1, 1.0]}, "classes"),
    ({"classes": [[0], [1]]}, "classes"),
    ({"classes": {"a": 0, "b": 1}}, "classes"),
    ({"target": 1.5}, "target must be None, a column name or a column index"),
    ({"target": ["y"]}, "target"),
], ids=lambda v: json.dumps(v)[:50] if isinstance(v, dict) else None)
def test_bad_training_field_is_a_value_error(tmp_path, change, words):
    path = write_model(tmp_path / "m.npz", training={**GOOD_TRAINING, **change},
                       loss="cross_entropy")
    with raises_naming(path, "meta training: " + words):
        fio.load(path)


def test_bounds_must_come_in_pairs(tmp_path):
    training = {k: v for k, v in GOOD_TRAINING.items() if k != "input_max"}
    path = write_model(tmp_path / "m.npz", training=training, loss="cross_entropy")
    with raises_naming(path, "input_min and input_max must be given together"):
        fio.load(path)


@pytest.mark.parametrize("n_classes", [1, 2])
def test_a_single_binary_output_may_name_two_classes(tmp_path, n_classes):
    # scikit-learn's binary MLPClassifier: one logistic output, two classes_
    path = write_model(tmp_path / "m.npz", n_out=1, loss="binary_cross_entropy",
                       training={"classes": ["neg", "pos"][:n_classes]})
    assert fio.load(path).training["classes"] == ["neg", "pos"][:n_classes]


def test_save_refuses_training_fields_that_would_not_load(tmp_path):
    net = Network([3, 2], activation="tanh", loss="mse", dtype=np.float64, seed=0)
    net.training = {"input_min": [0.0], "input_max": [1.0]}
    with pytest.raises(ValueError, match=r"net.training: input_min must be a list of 3"):
        net.save(tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []


def test_the_issue_reproducer_is_refused_on_load(tmp_path):
    """issue 10 §1: length-1 training bounds on a wide network reached the search
    kernels, which read past them (valgrind: invalid reads in _projected_norm)."""
    n = 2000
    path = write_model(tmp_path / "h.npz", n_in=n, n_out=1,
                       training={"input_min": [0.0], "input_max": [1.0]})
    with raises_naming(path, f"input_min must be a list of {n} finite numbers"):
        Network.load(path)


# ---------------------------------------------------------------------------
# 1. ... and again where they reach compiled code
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("training, words", [
    ({"input_min": [0.0], "input_max": [1.0]}, r"input_min'\] must hold 5 finite numbers"),
    ({"input_min": [0.0] * 5, "input_max": [1.0] * 6}, r"input_max'\] must hold 5"),
    ({"input_min": [0.0] * 5}, "has no 'input_max'"),
    ({"input_max": [0.0] * 5}, "has no 'input_min'"),
    ({"input_min": [0.0] * 5, "input_max": [1.0, 1.0, -1.0, 1.0, 1.0]},
     r"input_min\[2\] = 0.0 exceeds input_max\[2\] = -1.0"),
    ({"input_min": [0.0] * 5, "input_max": [1.0, 1.0, float("nan"), 1.0, 1.0]},
     "input_max'] must hold 5 finite"),
    ({"input_min": [[0.0] * 5], "input_max": [[1.0] * 5]}, "input_min'] must hold 5"),
    ({"input_min": ["a"] * 5, "input_max": [1.0] * 5}, "input_min'] must hold 5"),
    ({"input_mean": [0.0]}, r"input_mean'\] must hold 5"),
])
def test_invert_rechecks_training_fields_set_after_loading(training, words):
    net = Network([5, 3, 1], activation="tanh", loss="mse", dtype=np.float64, seed=0)
    net.training = training
    before = net.get_params()
    with pytest.raises(ValueError, match=words):
        invert(net, target=[0.1], n_restarts=2, reg=0.1, seed=0)
    assert np.array_equal(net.params, before)


def test_minimize_rows_checks_the_bounds_length():
    def fg(U, rows, G):
        G[:] = 2 * U
        return (U * U).sum(axis=1), np.zeros(len(rows), bool)

    U0 = np.ones((2, 4))
    for lo, hi, words in [(np.zeros(1), np.ones(4), r"lo must have shape \(4,\)"),
                          (np.zeros(4), np.ones(5), r"hi must have shape \(4,\)"),
                          (np.zeros((4, 1)), np.ones(4), r"lo must have shape"),
                          (0.0, np.ones(4), r"lo must have shape")]:
        with pytest.raises(ValueError, match=words):
            minimize_rows(fg, U0, lo, hi)
    with pytest.raises(ValueError, match="U0 must be 2-D"):
        minimize_rows(fg, np.ones(4), np.zeros(4), np.ones(4))
    # the control: right shapes solve min ‖u‖² on [-1, 1] (answer 0)
    U, _, _ = minimize_rows(fg, U0, -np.ones(4), np.ones(4))
    assert np.abs(U).max() < 1e-6


@pytest.mark.parametrize("bad", ["f", "done"])
def test_minimize_rows_checks_what_fg_returns(bad):
    def fg(U, rows, G):
        G[:] = 2 * U
        f, done = (U * U).sum(axis=1), np.zeros(len(rows), bool)
        return (f[:1], done) if bad == "f" else (f, done[:1])

    with pytest.raises(ValueError, match=rf"fg must return {bad} with shape \(3,\)"):
        minimize_rows(fg, np.ones((3, 2)), -np.ones(2), np.ones(2))


@pytest.mark.parametrize("index", [-1, 4, 2**40])
def test_distinct_rows_checks_the_row_indices(index):
    X = np.arange(8.0).reshape(4, 2)
    with pytest.raises(ValueError, match=rf"order\[1\] = {index} is not a row index of X"):
        distinct_rows(X, np.array([0, index, 1], dtype=np.intp), 0.1)
    assert distinct_rows(X, np.array([3, 0, 3], dtype=np.intp), 0.1) == [3, 0]


# ---------------------------------------------------------------------------
# 2. sizes that cannot fit in memory are refused before anything is allocated
# ---------------------------------------------------------------------------

BIG = 2**31 - 1


@pytest.fixture
def capped_memory(monkeypatch):
    """The memory available, but at most 16 GiB: the sizes below must be refused on
    any machine, never allocated."""
    from fastmlp import _validation
    real = _validation.available_memory
    monkeypatch.setattr(_validation, "available_memory", lambda: min(real() or 0, 16 << 30))


def assert_memory_error(call, words, needs_at_least):
    """call() raises MemoryError naming what and a size >= needs_at_least bytes."""
    with pytest.raises(MemoryError, match=words) as info:
        call()
    needed = int(re.search(r"\(([\d,]+) bytes\)", str(info.value)).group(1).replace(",", ""))
    assert needed >= needs_at_least
    assert "available" in str(info.value)


def test_network_too_big_for_memory(capped_memory):
    # the weights alone: (2 + 1) · BIG + (BIG + 1) · 2 float32 values
    assert_memory_error(lambda: Network([2, BIG, 2]), r"Network\(\[2, 2147483647, 2\]\)",
                        4 * (5 * BIG + 2))


def test_layer_too_big_for_memory(capped_memory):
    from fastmlp import Layer
    assert_memory_error(lambda: Layer(BIG, 1000, dtype=np.float64),
                        r"Layer\(2147483647, 1000\)", 8 * BIG * 1000)


def test_a_network_of_big_layers_is_checked_before_its_buffers(monkeypatch):
    from fastmlp import Layer
    from fastmlp import _validation
    layers = [Layer(2, 3000, "tanh"), Layer(3000, 2000, "identity")]    # ~6M parameters
    monkeypatch.setattr(_validation, "available_memory", lambda: 30 << 20)
    assert_memory_error(lambda: Network(layers, loss="mse"), "a Network of 6,011,000 parameters",
                        2 * 4 * 6_011_000)
    assert all(layer._network is None for layer in layers)      # nothing was bound


def test_invert_with_too_many_restarts(capped_memory):
    net = Network([3, 4, 2], loss="mse", seed=0)
    assert_memory_error(lambda: invert(net, target=[0.0, 0.0], n_restarts=BIG),
                        "invert with n_restarts=2147483647", 8 * 3 * 20 * BIG)


@pytest.mark.parametrize("make, words, per_row", [
    ("xor", r"xor\(n=2147483647\)", 16),
    ("spirals", r"spirals\(n=2147483647\)", 16),
    ("regression", r"regression\(n=2147483647, n_features=2\)", 24),
])
def test_datasets_too_big_for_memory(capped_memory, make, words, per_row):
    from fastmlp import datasets
    assert_memory_error(lambda: getattr(datasets, make)(BIG), words, per_row * BIG)


def test_fit_batch_size_beyond_the_data_is_one_full_batch():
    """batch_size = 2**31 - 1 used to allocate batch buffers of 2**31 - 1 rows; a
    batch holds at most all the rows, so it trains exactly as batch_size = n."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((50, 3)), rng.integers(0, 2, 50)
    nets = [Network([3, 5, 2], seed=1, dtype=np.float64) for _ in range(2)]
    for net, batch_size in zip(nets, [50, BIG]):
        net.fit(X, y, epochs=3, batch_size=batch_size, seed=2)
    assert np.array_equal(nets[0].params, nets[1].params)
    assert nets[1].partial_fit(X, y, batch_size=BIG, seed=3) == \
        nets[0].partial_fit(X, y, batch_size=50, seed=3)


def test_fit_batches_too_big_for_memory_are_refused_before_training(monkeypatch):
    from fastmlp import _validation
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((4000, 2)), rng.integers(0, 2, 4000)
    net = Network([2, 4096, 2], seed=1)
    before, training = net.get_params(), dict(net.training)
    monkeypatch.setattr(_validation, "available_memory", lambda: 40 << 20)
    # a batch of 4000 rows: the plan keeps 3 · 4096 + 2 float32 values per row
    assert_memory_error(lambda: net.fit(X, y, batch_size=4000),
                        r"training with batch_size=4000 \(4,000 rows per batch\)",
                        4000 * 4 * (3 * 4096 + 2))
    assert np.array_equal(net.params, before) and net.training == training
    net.fit(X, y, batch_size=500, epochs=1)       # 8x smaller batches fit


@pytest.mark.skipif(not os.path.exists("/proc/meminfo"), reason="Linux /proc")
def test_available_memory_reads_meminfo():
    from fastmlp._validation import available_memory
    with open("/proc/meminfo") as f:
        fields = dict(line.split(":", 1) for line in f)
    reference = int(fields["MemAvailable"].split()[0]) * 1024
    measured = available_memory()
    assert abs(measured - reference) < 0.2 * reference + (64 << 20)


# ---------------------------------------------------------------------------
# 3. temporary files of interrupted saves are recognizable and cleaned up
# ---------------------------------------------------------------------------

_KILLED_MID_SAVE = """
import os, signal, sys
import numpy as np
from fastmlp import Network
def half_written(f, **arrays):
    f.write(b"PK\\x03\\x04 half a model")
    f.flush()
    os.kill(os.getpid(), signal.SIGKILL)          # as the OOM killer or kill -9 would
np.savez = half_written
Network([3, 4, 2], seed=0).save(sys.argv[1])
"""

TEMP = re.compile(r"\.(.+)\.fastmlp-(\d+)-[0-9a-f]{12}\.tmp")


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL and process ids (POSIX)")
def test_a_save_killed_midway_leaves_a_temp_file_the_next_save_removes(tmp_path):
    import signal
    import subprocess
    import sys
    target = tmp_path / "m.npz"
    left = []
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-c", _KILLED_MID_SAVE, str(target)],
                              capture_output=True, timeout=120, cwd=tmp_path)
        assert proc.returncode == -signal.SIGKILL, proc.stderr
        left.append([p.name for p in tmp_path.iterdir()])
    # each killed save left its temp file; the second save removed the first's
    assert len(left[0]) == len(left[1]) == 1 and left[0] != left[1]
    assert TEMP.fullmatch(left[1][0]).group(1) == "m.npz" and not target.exists()
    # someone else's files next to it: another target's, another program's, a running
    # process's (this one's) temp of the same target
    other = [f".other.npz.fastmlp-{_dead_pid()}-0123456789ab.tmp", ".m.npz.123.tmp",
             "m.npz.tmp", f".m.npz.fastmlp-{os.getppid()}-0123456789ab.tmp"]
    for name in other:
        (tmp_path / name).write_bytes(b"not ours to remove")
    net = Network([3, 4, 2], seed=1)
    net.save(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(other + ["m.npz"])
    assert np.array_equal(fio.load(target).params, net.params)


def test_the_temp_file_is_named_for_fastmlp_and_the_target(tmp_path, monkeypatch):
    seen = []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (seen.append(src), real(src, dst)))
    Network([2, 2], seed=0).save(tmp_path / "model.npz")
    match = TEMP.fullmatch(os.path.basename(seen[0]))
    assert match and match.group(1) == "model.npz" and int(match.group(2)) == os.getpid()


def _dead_pid():
    import subprocess
    import sys
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_valid_model_too_big_for_memory_is_a_memory_error_naming_it(tmp_path, monkeypatch):
    from fastmlp import _validation
    path = tmp_path / "big.npz"
    Network([2, 3000, 2000], dtype=np.float32, seed=0).save(path)      # 6,011,000 parameters
    monkeypatch.setattr(_validation, "available_memory", lambda: 30 << 20)
    with pytest.raises(MemoryError, match=re.escape(f"loading '{path}': a Network of "
                                                    "6,011,000 parameters needs")):
        fio.load(path)
    monkeypatch.undo()
    assert fio.load(path).n_params == 6_011_000
