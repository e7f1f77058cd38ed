#!/usr/bin/env python
"""Benchmark fastmlp.sklearn's estimators against scikit-learn's own, same settings.

    python bench/sklearn_compare.py              full run (2 interleaved rounds; ~2-4 min)
    python bench/sklearn_compare.py --quick      smoke run (1 round, fewer iterations)
    python bench/sklearn_compare.py --markdown   the table as Markdown (for the README)
    python bench/sklearn_compare.py --data DIR   the MNIST IDX files (default
                                                 ../shared/data/mnist from the repository root)
    also: --rounds R, --max-wait S (wait up to S s for a quiet machine before each fit)

The problems (the same arrays go to both estimators)
----------------------------------------------------
mnist       MNIST-24k (the first 24,345 training images; the 10k test images), pixels
            / 255 in float64, as scikit-learn users get them (fetch_openml, then / 255);
            MLPClassifier(hidden_layer_sizes=(256, 128)).  Skipped without the IDX files.
mnist f32   the same in float32, in which scikit-learn computes too: both then run the
            same float32 GEMMs (numpy's and scipy's OpenBLAS), so this row shows what is
            left once the precision is equal.
tabular     make_classification(100_000, 50, n_informative=30, n_classes=4,
            random_state=0), float64 as generated; 80,000 rows to fit, 20,000 to test;
            MLPClassifier(hidden_layer_sizes=(128, 64)).
regression  make_regression(50_000, 50, n_informative=30, noise=10, random_state=0), y
            divided by its standard deviation, float64; 40,000 / 10,000 rows;
            MLPRegressor(hidden_layer_sizes=(128, 64)).
small tables  scikit-learn's bundled breast_cancer (569 x 30, two classes: one logistic
            output) and digits (1,797 x 64, ten classes), a stratified 80/20 split
            (random_state=0), standardized by a StandardScaler fitted on the 80%;
            MLPClassifier's defaults (one hidden layer of 100) and its default
            max_iter=200 (--quick: 20), with its stopping rule: the tables a newcomer
            starts from, where a fit is 1-3 steps an epoch and the work around the
            steps counts.

Every estimator: solver "adam", scikit-learn's defaults otherwise (alpha 1e-4, batch
min(200, n), learning_rate_init 1e-3, tol 1e-4), max_iter=10 (--quick: 2; the small
tables 200), random_state=0.  fastmlp's estimators run at their default (dtype=None: X's dtype, as
scikit-learn computes) and, where X is float64, again with dtype=np.float32 (the fast
choice; one row each in the table).  With the same random_state all start from the
same weights and see the same batches.

How it is measured
------------------
Fit: the wall time of ``fit`` on a fresh clone, after one untimed warm-up fit of each
estimator (first calls pay for page faults and thread start-up), R interleaved rounds
(default 2), the order alternating; a fit's time is the MIN over the rounds in which other processes
stayed quiet (all rounds if none did).  Predict: ``predict`` on the whole test set,
timed in interleaved blocks (bench/_common.measure), the best quiet block.  Also the
latency of predicting one row.  Score: accuracy (classifiers) or R² on the test rows.
"Ratio" is scikit-learn's time over fastmlp's, measured in the same run.  Fit floor:
the fitted fastmlp estimator's number of minibatch steps times the time of its compiled
gradient call on one batch (forward + backward GEMMs; no update, no data handling),
timed as predict is; scikit-learn's fit time over it bounds the fit ratio any fastmlp
could reach with the same GEMMs.
Targets: fit ≥ 3×, predict ≥ 5×, at a test score within 0.3 points.
"""
import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from _common import (MONITOR, Contender, CpuMonitor, cpu_line, fmt_ratio, fmt_time, measure,
                     section, table, wait_for_quiet)

TARGET_FIT = 3.0
TARGET_PREDICT = 5.0
TARGET_SCORE_GAP = 0.003
ITERATIONS = 10
QUICK_ITERATIONS = 2
SMALL_ITERATIONS = 200                # the small tables: scikit-learn's default max_iter
QUICK_SMALL_ITERATIONS = 20
FASTMLP = "fastmlp"                   # the default, dtype=None: X's dtype
FASTMLP_F32 = "fastmlp float32"       # dtype=np.float32


def default_data_dir():
    return Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "mnist"


def problems(data_dir, quick=False):
    """(name, kind, hidden, X_fit, y_fit, X_test, y_test, max_iter or None: the run's)
    for each problem."""
    from sklearn.datasets import (load_breast_cancer, load_digits, make_classification,
                                  make_regression)
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler
    out = []
    try:
        from fastmlp.datasets import load_mnist
        X, y = load_mnist(data_dir, "train", dtype=np.float64)
        Xt, yt = load_mnist(data_dir, "test", dtype=np.float64)
        out.append(("mnist (24,345 × 784)", "classifier", (256, 128), X, y, Xt, yt, None))
        out.append(("mnist, float32 input", "classifier", (256, 128), X.astype(np.float32),
                    y, Xt.astype(np.float32), yt, None))
    except (OSError, ValueError) as exc:
        print(f"note: MNIST skipped ({exc})")
    X, y = make_classification(100_000, 50, n_informative=30, n_classes=4, random_state=0)
    out.append(("tabular (100,000 × 50)", "classifier", (128, 64),
                X[:80_000], y[:80_000], X[80_000:], y[80_000:], None))
    X, y = make_regression(50_000, 50, n_informative=30, noise=10, random_state=0)
    y = y / y.std()
    out.append(("regression (50,000 × 50)", "regressor", (128, 64),
                X[:40_000], y[:40_000], X[40_000:], y[40_000:], None))
    for name, load in (("breast_cancer (569 × 30)", load_breast_cancer),
                       ("digits (1,797 × 64)", load_digits)):
        X, y = load(return_X_y=True)
        X, Xt, y, yt = train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)
        scaler = StandardScaler().fit(X)
        out.append((name, "classifier", (100,), scaler.transform(X), y, scaler.transform(Xt),
                    yt, QUICK_SMALL_ITERATIONS if quick else SMALL_ITERATIONS))
    return out


def estimators(kind, hidden, max_iter, x_dtype):
    """fastmlp's estimator at its default (dtype=None: X's dtype), and with
    dtype=np.float32 where X is float64; scikit-learn's."""
    import fastmlp.sklearn
    import sklearn.neural_network
    name = "MLPClassifier" if kind == "classifier" else "MLPRegressor"
    params = dict(hidden_layer_sizes=hidden, solver="adam", max_iter=max_iter,
                  random_state=0)
    ours = getattr(fastmlp.sklearn, name)
    out = {FASTMLP: ours(**params)}
    if x_dtype != np.float32:
        out[FASTMLP_F32] = ours(dtype=np.float32, **params)
    out["sklearn"] = getattr(sklearn.neural_network, name)(**params)
    return out


def run_problem(problem, max_iter, rounds, max_wait):
    from sklearn.base import clone
    name, kind, hidden, X, y, Xt, yt, own_max_iter = problem
    protos = estimators(kind, hidden, own_max_iter or max_iter, X.dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for proto in protos.values():                 # warm-up, untimed
            clone(proto).set_params(max_iter=1).fit(X[:2000], y[:2000])
    fits = {key: [] for key in protos}
    fitted = {}
    for r in range(rounds):
        for key in (list(protos) if r % 2 == 0 else list(protos)[::-1]):
            wait_for_quiet(max_wait)
            est = clone(protos[key])
            start = MONITOR.snapshot()
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")       # ConvergenceWarning at max_iter
                est.fit(X, y)
            seconds = time.perf_counter() - t0
            fits[key].append((seconds, MONITOR.foreign(start, MONITOR.snapshot())))
            fitted[key] = est
    fit_time = {}
    for key, runs in fits.items():
        quiet = [s for s, load in runs if load <= CpuMonitor.QUIET]
        fit_time[key] = (min(quiet or [s for s, _ in runs]), not quiet)
    score = {key: est.score(Xt, yt) for key, est in fitted.items()}
    row = Xt[:1].copy()
    batch = measure([Contender(key, lambda e=est: e.predict(Xt)) for key, est in fitted.items()],
                    rounds=3, samples=5, sample_s=0.2, warm_s=0.2, settle=0.3)
    single = measure([Contender(key, lambda e=est: e.predict(row)) for key, est in fitted.items()],
                     rounds=3, samples=5, sample_s=0.05, warm_s=0.1, settle=0.3)
    floor = {key: fit_floor(est, X, y) for key, est in fitted.items() if key != "sklearn"}
    return {"name": name, "kind": kind, "hidden": hidden, "dtype": np.dtype(X.dtype).name,
            "fit": fit_time, "score": score,
            "epochs": {key: est.n_iter_ for key, est in fitted.items()},
            "floor": floor, "predict": {k: c.best for k, c in batch.items()},
            "single": {k: c.best for k, c in single.items()},
            "contended": any(c.contended for c in [*batch.values(), *single.values()])
            or any(flag for _, flag in fit_time.values())}


def fit_floor(est, X, y):
    """(steps, seconds per step): the fitted fastmlp estimator's number of minibatch steps
    and the time of its compiled gradient call alone on one batch (forward + backward,
    the GEMMs; no update, no data handling).  Their product bounds any fit from below."""
    net = est.network_
    batch = min(200, X.shape[0])                   # batch_size="auto"
    steps = est.n_iter_ * -(-X.shape[0] // batch)
    Xb = np.ascontiguousarray(X[:batch], dtype=net.dtype)
    T, labels = None, None
    if net.loss_name == "cross_entropy":
        labels = np.searchsorted(est.classes_, y[:batch]).astype(np.intp)
    else:
        T = np.ascontiguousarray(np.reshape(y[:batch], (batch, -1)), dtype=net.dtype)
    res = measure([Contender("gradient", lambda: net._plan.gradient(Xb, T, labels, 0.0, None))],
                  rounds=3, samples=5, sample_s=0.05, warm_s=0.1, settle=0.3)
    return steps, res["gradient"].best


def report(results, markdown):
    headers = ["problem", "fastmlp dtype", "fit fastmlp", "fit sklearn", "ratio",
               "predict fastmlp", "predict sklearn", "ratio", "1-row ratio", "score fastmlp",
               "score sklearn"]
    rows, verdicts, floors = [], [], []
    for res in results:
        metric = "accuracy" if res["kind"] == "classifier" else "R²"
        fmt = (lambda s: f"{s:.2%}") if res["kind"] == "classifier" else (lambda s: f"{s:.4f}")
        for key in (k for k in res["fit"] if k != "sklearn"):
            dtype = res["dtype"] if key == FASTMLP else "float32"
            label = f"{dtype} (default)" if key == FASTMLP else "float32 (dtype=np.float32)"
            fit_ratio = res["fit"]["sklearn"][0] / res["fit"][key][0]
            pred_ratio = res["predict"]["sklearn"] / res["predict"][key]
            one_ratio = res["single"]["sklearn"] / res["single"][key]
            rows.append([res["name"], label, fmt_time(res["fit"][key][0]),
                         fmt_time(res["fit"]["sklearn"][0]), fmt_ratio(fit_ratio, False),
                         fmt_time(res["predict"][key]), fmt_time(res["predict"]["sklearn"]),
                         fmt_ratio(pred_ratio, False), fmt_ratio(one_ratio, False),
                         f"{fmt(res['score'][key])} {metric}", fmt(res["score"]["sklearn"])])
            gap = res["score"]["sklearn"] - res["score"][key]
            verdicts.append(
                f"{res['name']}, fastmlp {label}: fit {fmt_ratio(fit_ratio, False)} "
                f"({'met' if fit_ratio >= TARGET_FIT else 'NOT met'}, target {TARGET_FIT:g}×), "
                f"predict {fmt_ratio(pred_ratio, False)} "
                f"({'met' if pred_ratio >= TARGET_PREDICT else 'NOT met'}, target "
                f"{TARGET_PREDICT:g}×), score gap {gap * 100:+.2f} points "
                f"({'met' if gap <= TARGET_SCORE_GAP else 'NOT met'}, at most "
                f"{TARGET_SCORE_GAP * 100:g}); epochs {res['epochs'][key]} and "
                f"{res['epochs']['sklearn']}"
                + ("  [measured under load]" if res["contended"] else ""))
            steps, per_step = res["floor"][key]
            bound = res["fit"]["sklearn"][0] / (steps * per_step)
            floors.append(f"{res['name']}, fastmlp {label}: {steps:,} steps × "
                          f"{fmt_time(per_step)} = {fmt_time(steps * per_step)}; "
                          f"scikit-learn's fit / that = {fmt_ratio(bound, False)} at most")
    align = ["<", "<"] + [">"] * (len(headers) - 2)
    section("fastmlp.sklearn vs scikit-learn (same estimator settings, same data)",
            table(headers, rows, markdown, align), markdown)
    section("Targets", "\n".join(("- " if markdown else "") + v for v in verdicts), markdown)
    section("Fit floor: fastmlp's compiled gradient calls alone (forward + backward, no "
            "update), the most a fit could gain", "\n".join(("- " if markdown else "") + f
                                                            for f in floors), markdown)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--data", default=str(default_data_dir()))
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--max-wait", type=float, default=30.0)
    args = parser.parse_args()
    try:
        import fastmlp
        import sklearn
    except ImportError as exc:
        sys.exit(f"error: {exc}; install the bench extras: pip install \".[bench]\"")
    rounds = args.rounds or (1 if args.quick else 2)
    max_iter = QUICK_ITERATIONS if args.quick else ITERATIONS
    print(f"fastmlp {fastmlp.__version__}, scikit-learn {sklearn.__version__}, "
          f"numpy {np.__version__}; {rounds} round(s), max_iter={max_iter} (small tables "
          f"{QUICK_SMALL_ITERATIONS if args.quick else SMALL_ITERATIONS})")
    print(cpu_line())
    results = [run_problem(p, max_iter, rounds, args.max_wait)
               for p in problems(args.data, args.quick)]
    report(results, args.markdown)


if __name__ == "__main__":
    main()
