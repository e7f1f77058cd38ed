"""Fuzzing the Python API: malformed values into every public entry point.

For each entry point, one argument at a time is replaced by a drawn value (wrong
types, dtypes and shapes, NaN/inf, huge and tiny numbers, negative, zero and huge
sizes, ragged lists, ...) while the others stay valid.  The property: the call
returns a result with no NaN in it, or raises an allowed exception whose message
names the replaced argument.  A crash would end the run (that is the point: the
kernels run without bounds checks, so nothing may reach them unchecked).

Sizes stay memory-safe: the huge ones drawn (2**31 and up) must be refused before
any allocation; sizes that are valid stay small.

    pytest tests/test_fuzz.py                              a bounded run (CI)
    FASTMLP_FUZZ_EXAMPLES=20000 pytest -s tests/test_fuzz.py   a campaign, with a count

FASTMLP_FUZZ_EXAMPLES is the number of examples per entry point (default 20).
"""
import math
import os
import re
import tempfile
import warnings
from collections import Counter

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import fastmlp  # noqa: E402
from fastmlp import (SGD, Adam, AdamW, InversionResult, Layer, Network,  # noqa: E402
                     Standardizer, datasets, gradcheck, invert, optim)
from fastmlp.training import History  # noqa: E402

EXAMPLES = int(os.environ.get("FASTMLP_FUZZ_EXAMPLES", "20"))
ALLOWED = (ValueError, TypeError, MemoryError, FloatingPointError, RuntimeError)
CALLS = Counter()           # calls made, per entry point (printed with -s)
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
                suppress_health_check=list(HealthCheck))

# -- values ---------------------------------------------------------------------------

SPECIAL_FLOATS = [math.nan, math.inf, -math.inf, 1e300, -1e300, 3e38, -3e38, 1e-320, 0.0,
                  -0.0, 1e-30, 2.0 ** 31, 1e20]
JUNK = [None, True, False, "x", "", "nan", b"\x00", [], [1], [[1, 2], [3]], {}, {"a": 1},
        (1, 2), object(), np.float32(math.nan), np.int64(-1), np.float64(1e300),
        np.bool_(True), np.array(3.0), np.array(["a"]), 1 + 2j, slice(1), print]
SIZES = [-(2 ** 31), -1, 0, 2 ** 31, 2 ** 32, 2 ** 63, 2 ** 70, 1.0, 2.5, math.nan,
         np.int32(3), np.uint8(2), np.int64(2 ** 40)]
DTYPES = [np.float64, np.float32, np.float16, np.int64, np.int8, np.uint8, np.bool_,
          np.complex128, object, "U3", np.longdouble]


def scalars():
    """Any scalar-ish value: special floats, huge integers, junk objects.  Integers
    that are valid sizes stay small (a valid size of 10**9 would be allocated: the
    memory caps are tested elsewhere); the huge ones must be refused."""
    return st.one_of(st.sampled_from(SPECIAL_FLOATS), st.sampled_from(JUNK),
                     st.sampled_from(SIZES), st.floats(allow_nan=True, allow_infinity=True),
                     st.integers(-(2 ** 65), 64), st.integers(2 ** 31, 2 ** 65))


@st.composite
def arrays(draw, shape):
    """An array near `shape` (the valid one), of any dtype, with extreme values."""
    shape = tuple(shape)
    shapes = [shape, shape[::-1], shape[:-1], shape + (2,), (0,) + shape[1:], (1,) * len(shape)]
    if shape:
        shapes += [shape[:-1] + (shape[-1] + 1,), (shape[0] + 1,) + shape[1:], shape[-1:]]
    s = draw(st.one_of(st.sampled_from(shapes),
                       st.lists(st.integers(0, 5), min_size=0, max_size=3).map(tuple)))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    scale = draw(st.sampled_from([1.0, 1.0, 1e-30, 1e20, 1e38, 1e300]))
    values = np.asarray(rng.standard_normal(s) * scale)
    if values.size and draw(st.booleans()):
        idx = rng.integers(0, values.size, draw(st.integers(1, 3)))
        values.flat[idx] = draw(st.sampled_from(SPECIAL_FLOATS))
    dtype = draw(st.sampled_from(DTYPES))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        arr = np.asarray(values.astype(dtype))
    layout = draw(st.sampled_from(["c", "f", "strided", "list", "readonly"]))
    if layout == "f":
        arr = np.asfortranarray(arr)
    elif layout == "strided" and arr.ndim:
        arr = np.repeat(arr, 2, axis=0)[::2]
    elif layout == "list":
        return arr.tolist()
    elif layout == "readonly":
        arr = arr.copy()
        arr.flags.writeable = False
    return arr


def ragged(shape):
    rows = max(shape[0] if shape else 2, 2)
    cols = shape[-1] if len(shape) > 1 else 2
    return st.just([[0.5] * cols] * (rows - 1) + [[0.5] * (cols + 1)])


def bad(kind, shape=None):
    """A strategy of malformed values for an argument of this kind."""
    options = [scalars()]
    if kind == "array":
        options += [arrays(shape), arrays(shape), arrays(shape), ragged(shape)]
    elif kind == "size":
        options += [st.sampled_from(SIZES), st.integers(-3, 6)]
    elif kind == "name":
        options += [st.text(max_size=8), st.sampled_from(["relu", "RELU", "adam ", "lbfgs",
                                                           "softmax", "sgd", "mse"])]
    elif kind == "dtype":
        options += [st.sampled_from(DTYPES + ["float32", "f8", "int32", None])]
    elif kind == "callable":
        options += [st.sampled_from([lambda *a: None, lambda *a: True, len, 3])]
    return st.one_of(*options)


# -- the property ---------------------------------------------------------------------

def finite(result, seen=0):
    """Whether a result holds no NaN/inf (arrays, numbers, containers, result objects)."""
    if isinstance(result, np.ndarray):
        return result.dtype.kind not in "fc" or bool(np.all(np.isfinite(result)))
    if isinstance(result, (float, np.floating)):
        return math.isfinite(result)
    if isinstance(result, (list, tuple)):
        return all(finite(r) for r in result)
    if isinstance(result, dict):
        return all(finite(r) for r in result.values())
    if isinstance(result, InversionResult):
        return finite([result.x, result.output, result.residual, result.solutions])
    if isinstance(result, History):
        return finite([{k: v for k, v in r.items() if k != "lr"} for r in result.records])
    if isinstance(result, fastmlp.OutputBounds):
        return finite([result.lower, result.upper])
    if isinstance(result, gradcheck.GradientReport):
        return finite([result.max_rel_error, result.rows])
    return True


def names(name, message):
    return re.search(rf"(?<![A-Za-z_]){re.escape(name)}(?![A-Za-z_])", message) is not None


def check_call(entry, name, call):
    """Run call(); a result must be finite, an error must be allowed and name `name`."""
    CALLS[entry] += 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = call()
    except ALLOWED as exc:
        message = str(exc)
        # X and y must agree in rows: a wrong row count may be reported on the partner
        partner = {"X": "y", "y": "X"}.get(name)
        assert names(name, message) or (partner and names(partner, message)
                                        and "match" in message), \
            f"{entry}: bad {name} gave {type(exc).__name__} not naming it: {message}"
        return
    assert finite(result), f"{entry}: a non-finite result for {name}: {result!r}"


def fuzz(entry, make_call, valid, kinds):
    """A hypothesis test: one argument of make_call(**valid) replaced by a bad value."""
    names = sorted(kinds)

    @FUZZ
    @given(st.data())
    def test(data):
        name = data.draw(st.sampled_from(names), label="argument")
        kind, shape = kinds[name] if isinstance(kinds[name], tuple) else (kinds[name], None)
        args = {k: (v() if callable(v) and not isinstance(v, type) else v)
                for k, v in valid.items()}
        args[name] = data.draw(bad(kind, shape), label=name)
        check_call(entry, name, lambda: make_call(**args))
    return test


# -- the entry points -----------------------------------------------------------------

B, N_IN, N_OUT = 5, 3, 2
_rng = np.random.default_rng(0)
X_OK = _rng.standard_normal((B, N_IN))
LABELS = np.array([0, 1, 1, 0, 1])
Y_REG = _rng.standard_normal((B, 1))


def net(loss="cross_entropy", dtype=np.float64, n_out=N_OUT):
    return Network([N_IN, 4, n_out], activation="tanh", loss=loss, dtype=dtype, seed=0)


def trained_reg():
    r = net("mse", n_out=1)
    r.fit(X_OK, Y_REG, epochs=1, seed=0)
    return r


def relu_reg():
    return Network([N_IN, 4, 1], activation="relu", loss="mse", seed=0)


BOX = [[-1.0, 1.0]] * N_IN
CSV_PATH = os.path.join(tempfile.mkdtemp(prefix="fastmlp-fuzz-"), "table.csv")


def good_csv():
    """A valid table at CSV_PATH (the save_csv entry point may have written another)."""
    datasets.save_csv(CSV_PATH, X_OK, LABELS, feature_names=["a", "b", "c"], target_name="t")
    return CSV_PATH


X_KIND = ("array", (B, N_IN))
Y_KIND = ("array", (B,))
ARRAY_IO = {"X": X_KIND, "y": Y_KIND}

ENTRY_POINTS = {
    "Network": (lambda **a: Network(**a),
                dict(sizes=[N_IN, 4, N_OUT], activation="relu", loss="cross_entropy",
                     dtype=np.float32, seed=0, output_activation=None, alpha=None, l2=0.0),
                dict(sizes=("array", (3,)), activation="name", loss="name", dtype="dtype",
                     seed="any", output_activation="name", alpha="any", l2="any")),
    "Layer": (lambda **a: Layer(**a),
              dict(n_in=3, n_out=2, activation="leaky_relu", dtype=np.float64, seed=1,
                   alpha=0.1),
              dict(n_in="size", n_out="size", activation="name", dtype="dtype", seed="any",
                   alpha="any")),
    "Layer.forward": (lambda X: Layer(N_IN, 2, "elu", np.float32).forward(X),
                      dict(X=X_OK), dict(X=X_KIND)),
    "Layer.backward": (lambda delta, need_below: _layer_backward(delta, need_below),
                       dict(delta=np.ones((B, 2)), need_below=True),
                       dict(delta=("array", (B, 2)), need_below="any")),
    "forward": (lambda X, dtype: net(dtype=dtype).forward(X),
                dict(X=X_OK, dtype=np.float32), dict(X=X_KIND)),
    "predict": (lambda X, n_threads: net().predict(X, n_threads=n_threads),
                dict(X=X_OK, n_threads=None), dict(X=X_KIND, n_threads="size")),
    "predict_proba": (lambda X: net(dtype=np.float32).predict_proba(X), dict(X=X_OK),
                      dict(X=X_KIND)),
    "loss": (lambda X, y: net().loss(X, y), dict(X=X_OK, y=LABELS), ARRAY_IO),
    "loss(mse)": (lambda X, y: net("mse", np.float32).loss(X, y),
                  dict(X=X_OK, y=np.ones((B, 2))), {"X": X_KIND, "y": ("array", (B, 2))}),
    "loss(bce)": (lambda X, y: net("binary_cross_entropy").loss(X, y),
                  dict(X=X_OK, y=np.ones((B, 2))), {"y": ("array", (B, 2))}),
    "gradient": (lambda X, y: net().gradient(X, y), dict(X=X_OK, y=LABELS), ARRAY_IO),
    "input_gradient": (lambda X, y: net(dtype=np.float32).input_gradient(X, y),
                       dict(X=X_OK, y=LABELS), ARRAY_IO),
    "jacobian": (lambda X, logits: net().jacobian(X, logits), dict(X=X_OK, logits=False),
                 dict(X=X_KIND, logits="any")),
    "train_step(lr)": (lambda X, y, lr, n_threads: net(dtype=np.float32).train_step(
                           X, y, lr=lr, n_threads=n_threads),
                       dict(X=X_OK, y=LABELS, lr=0.1, n_threads=None),
                       {**ARRAY_IO, "lr": "any", "n_threads": "size"}),
    "train_step(optimizer)": (lambda X, y, optimizer: net().train_step(X, y,
                                                                       optimizer=optimizer),
                              dict(X=X_OK, y=LABELS, optimizer=lambda: Adam()),
                              {**ARRAY_IO, "optimizer": "name"}),
    "fit": (lambda **a: net().fit(**a),
            dict(X=X_OK, y=LABELS, epochs=2, batch_size=2, optimizer="adam", lr=1e-2,
                 shuffle=True, seed=0, validation_data=None, validation_fraction=0.0,
                 early_stopping=False, patience=2, min_delta=1e-4, callbacks=None,
                 verbose=0, schedule=None, clip_norm=None, weight_decay=0.0,
                 standardize=True, sample_weight=None, n_threads=None),
            dict(X=X_KIND, y=Y_KIND, epochs="size", batch_size="size", optimizer="name",
                 lr="any", seed="any", validation_data=("array", (2, B, N_IN)),
                 validation_fraction="any", patience="size", min_delta="any",
                 callbacks="callable", schedule="name", clip_norm="any",
                 weight_decay="any", sample_weight=("array", (B,)), n_threads="size",
                 shuffle="any", early_stopping="any", verbose="any", standardize="any")),
    "fit(regression)": (lambda **a: net("mse", n_out=1).fit(**a),
                        dict(X=X_OK, y=Y_REG, epochs=2, batch_size=3, optimizer="sgd",
                             lr=1e-2, validation_fraction=0.4, early_stopping=True),
                        dict(y=("array", (B, 1)), lr="any", optimizer="name",
                             validation_fraction="any")),
    "fit(lbfgs)": (lambda **a: net().fit(**a),
                   dict(X=X_OK, y=LABELS, epochs=3, optimizer="lbfgs"),
                   dict(X=X_KIND, y=Y_KIND, epochs="size")),
    "partial_fit": (lambda **a: net().partial_fit(**a),
                    dict(X=X_OK, y=LABELS, batch_size=2, optimizer="sgd", lr=0.1,
                         shuffle=True, seed=0),
                    dict(X=X_KIND, y=Y_KIND, batch_size="size", optimizer="name",
                         lr="any", seed="any")),
    "evaluate": (lambda X, y: net().evaluate(X, y), dict(X=X_OK, y=LABELS), ARRAY_IO),
    "score": (lambda X, y: net("mse", n_out=1).score(X, y), dict(X=X_OK, y=Y_REG),
              {"X": X_KIND, "y": ("array", (B, 1))}),
    "set_params": (lambda flat: net().set_params(flat), dict(flat=np.zeros(26)),
                   dict(flat=("array", (26,)))),
    "W": (lambda W: setattr(net().layers[0], "W", W), dict(W=np.zeros((3, 4))),
          dict(W=("array", (3, 4)))),
    "b": (lambda b: setattr(net().layers[1], "b", b), dict(b=np.zeros(2)),
          dict(b=("array", (2,)))),
    "l2": (lambda l2: setattr(net(), "l2", l2), dict(l2=0.1), dict(l2="any")),
    "scaler": (lambda scaler: setattr(net(), "scaler", scaler), dict(scaler=None),
               dict(scaler="any")),
    "astype": (lambda dtype: net().astype(dtype), dict(dtype=np.float32),
               dict(dtype="dtype")),
    "SGD": (lambda **a: SGD(**a),
            dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.0, schedule=None,
                 clip_norm=None),
            dict(lr="any", momentum="any", weight_decay="any", schedule="name",
                 clip_norm="any")),
    "Adam": (lambda **a: Adam(**a),
             dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0),
             dict(lr="any", betas=("array", (2,)), eps="any", weight_decay="any")),
    "AdamW": (lambda **a: AdamW(**a), dict(lr=1e-3, weight_decay=0.01),
              dict(lr="any", weight_decay="any")),
    "Optimizer.step": (lambda **a: Adam(lr=0.1).step(**a),
                       dict(params=lambda: np.ones(4), grads=np.full(4, 0.5),
                            decay_mask=None),
                       dict(params=("array", (4,)), grads=("array", (4,)),
                            decay_mask=("array", (4,)))),
    "Cosine": (lambda **a: optim.Cosine(**a), dict(total_steps=10, min_factor=0.1),
               dict(total_steps="size", min_factor="any")),
    "StepDecay": (lambda **a: optim.StepDecay(**a), dict(step_size=3, gamma=0.5),
                  dict(step_size="size", gamma="any")),
    "InverseScaling": (lambda **a: optim.InverseScaling(**a), dict(power_t=0.5),
                       dict(power_t="any")),
    "make_schedule": (lambda schedule, total_steps: optim.make_schedule(schedule, total_steps),
                      dict(schedule="cosine", total_steps=10),
                      dict(schedule="name", total_steps="size")),
    "lbfgs": (lambda **a: optim.lbfgs(net(), **a),
              dict(X=X_OK, y=LABELS, max_iter=5, tol=1e-7, max_fun=50),
              dict(X=X_KIND, y=Y_KIND, max_iter="size", tol="any", max_fun="size")),
    "invert": (lambda **a: invert(trained_reg(), **a),
               dict(target=[0.3], n_restarts=2, max_iter=10, seed=0, bounds="training",
                    x0=None, fixed=None, mask=None, reg=0.0, x_ref=None, starts=None,
                    tol=1e-15, gtol=1e-10, atol=1e-4, rtol=1e-3, distinct_tol=1e-3,
                    n_threads=None),
               dict(target=("array", (1,)), n_restarts="size", max_iter="size",
                    seed="any", bounds=("array", (N_IN, 2)), x0=("array", (N_IN,)),
                    fixed=("array", (N_IN,)), mask=("array", (1,)), reg="any",
                    x_ref=("array", (N_IN,)), starts=("array", (2, N_IN)), tol="any",
                    gtol="any", atol="any", rtol="any", distinct_tol="any",
                    n_threads="size")),
    "invert(class)": (lambda **a: invert(net(), **a),
                      dict(class_index=1, min_prob=0.9, objective="cross_entropy",
                           margin=2.0, n_restarts=2, max_iter=10, seed=0),
                      dict(class_index="size", min_prob="any", objective="name",
                           margin="any")),
    "invert(exact)": (lambda **a: invert(relu_reg(), **a),
                      dict(target=[0.3], method="exact", bounds=BOX, x0=None, fixed=None,
                           norm="l1", time_limit=5.0, n_restarts=2, max_iter=10, seed=0),
                      dict(target=("array", (1,)), method="name", bounds=("array", (N_IN, 2)),
                           x0=("array", (N_IN,)), fixed=("array", (N_IN,)), norm="name",
                           time_limit="any")),
    "output_bounds": (lambda **a: fastmlp.output_bounds(relu_reg(), **a),
                      dict(bounds=BOX, fixed=None, x0=None, time_limit=5.0),
                      dict(bounds=("array", (N_IN, 2)), fixed=("array", (N_IN,)),
                           x0=("array", (N_IN,)), time_limit="any")),
    "save_csv": (lambda **a: datasets.save_csv(CSV_PATH, **a),
                 dict(X=X_OK, y=LABELS, feature_names=["a", "b", "c"], target_name="t",
                      delimiter=","),
                 dict(X=X_KIND, y=Y_KIND, feature_names=("array", (N_IN,)),
                      target_name="name", delimiter="name")),
    "load_csv": (lambda **a: datasets.load_csv(good_csv(), **a),
                 dict(target="t", delimiter=",", dtype=np.float32, missing="error"),
                 dict(target="any", delimiter="name", dtype="dtype", missing="name")),
    "xor": (lambda **a: datasets.xor(**a), dict(n=20, noise=0.1, seed=0, dtype=np.float64),
            dict(n="size", noise="any", seed="any", dtype="dtype")),
    "spirals": (lambda **a: datasets.spirals(**a),
                dict(n=20, noise=0.2, turns=1.5, seed=0, dtype=np.float32),
                dict(n="size", noise="any", turns="any", seed="any", dtype="dtype")),
    "regression": (lambda **a: datasets.regression(**a),
                   dict(n=20, n_features=2, noise=0.05, seed=0, dtype=np.float64),
                   dict(n="size", n_features="size", noise="any", seed="any",
                        dtype="dtype")),
    "numerical_gradient": (lambda **a: gradcheck.numerical_gradient(net(), **a),
                           dict(X=X_OK, y=LABELS, eps=None, wrt="params"),
                           {**ARRAY_IO, "eps": "any", "wrt": "name"}),
    "check_gradients": (lambda **a: fastmlp.check_gradients(net(dtype=np.float32), **a),
                        dict(X=X_OK, y=LABELS, eps=None, tolerance=None, rel_floor=None),
                        {**ARRAY_IO, "eps": "any", "tolerance": "any", "rel_floor": "any"}),
    "Standardizer": (lambda **a: Standardizer(**a), dict(mean=np.zeros(3), scale=np.ones(3)),
                     dict(mean=("array", (3,)), scale=("array", (3,)))),
    "Standardizer.fit": (lambda X: Standardizer.fit(X), dict(X=X_OK), dict(X=X_KIND)),
}


def _layer_backward(delta, need_below):
    layer = Layer(N_IN, 2, "gelu", np.float64, seed=0)
    layer.forward(X_OK)
    return layer.backward(delta, need_below)


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_fuzz(entry):
    make_call, valid, kinds = ENTRY_POINTS[entry]
    # the valid call itself works (or the harness would test nothing)
    args = {k: (v() if callable(v) and not isinstance(v, type) else v) for k, v in valid.items()}
    check_call(entry, "(valid)", lambda: make_call(**args))
    fuzz(entry, make_call, valid, kinds)()


def test_zz_report_the_count():
    """Prints the number of fuzzed calls (run with -s); last in the module."""
    total = sum(CALLS.values())
    print(f"\nfastmlp fuzz: {total} calls over {len(CALLS)} entry points, "
          f"{EXAMPLES} examples each; no crash")
    assert total >= len(ENTRY_POINTS)
