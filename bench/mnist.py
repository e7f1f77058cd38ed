#!/usr/bin/env python
"""Benchmark training on MNIST-24k: fastmlp against a plain PyTorch loop and scikit-learn.

    python bench/mnist.py                  full run (5 interleaved rounds of 10 epochs; ~3 min)
    python bench/mnist.py --quick          smoke run (1 round of 2 epochs)
    python bench/mnist.py --markdown       the tables as Markdown (for the README)
    python bench/mnist.py --only fastmlp,torch
    python bench/mnist.py --best-of-2min   fastmlp's best recipe within 120 s of training
    python bench/mnist.py --data DIR       the MNIST IDX files (default ../shared/data/mnist
                                           from the repository root)
    also: --rounds R (default 5), --retries N (re-runs of a contender with no quiet run,
    default 2), --max-wait S (wait up to S s for a quiet machine before each run, default 30)

The data set: "MNIST-24k" is the first 24,345 official MNIST training images (all that
could be had offline) and the full official 10,000-image test set; see the README next to
the files.  Results on it are NOT comparable with results on the 60k training set.

The workload (the same for the three contenders)
------------------------------------------------
784-512-256-10, ReLU hidden layers, softmax cross-entropy, Adam (lr 1e-3, betas 0.9/0.999,
eps 1e-8), batch 128, 10 epochs, float32, reshuffled every epoch, no early stopping, no L2.

fastmlp   ``Network([784, 512, 256, 10], activation="relu", loss="cross_entropy", seed=s)
          .fit(X, y, epochs=10, batch_size=128, optimizer="adam", lr=1e-3, seed=s,
          standardize=False)``.
PyTorch   ``nn.Sequential(Linear, ReLU, Linear, ReLU, Linear)`` (torch's default init),
          ``nn.CrossEntropyLoss``, ``torch.optim.Adam`` (its defaults, which are the settings
          above); each epoch ``torch.randperm(n)`` and batches ``X[perm[i:i+128]]`` sliced
          from tensors made once (``torch.from_numpy``, no copy) before the clock starts;
          zero_grad, forward, loss, backward, step.  Torch's default intra-op threads.
sklearn   ``MLPClassifier(hidden_layer_sizes=(512, 256), activation="relu", solver="adam",
          alpha=0.0, batch_size=128, learning_rate_init=1e-3, beta_1=0.9, beta_2=0.999,
          epsilon=1e-8, max_iter=10, shuffle=True, early_stopping=False, tol=0.0,
          n_iter_no_change=10**6, random_state=s)`` on float32 input (scikit-learn keeps
          float32).  NOTE alpha=0.0: MLPClassifier's DEFAULT is alpha=1e-4 (an L2 penalty);
          it is switched off here so that all three train the same objective.  tol=0 and a
          huge n_iter_no_change make it run all 10 epochs; the ConvergenceWarning it then
          raises ("maximum iterations reached") is expected and silenced.
The seed s is the round number (round 1: s = 0, round 2: s = 1, ...), so the mean accuracy
is over different initializations and shuffles.  Each library uses its own default weight
initialization.

How it is measured
------------------
Every contender runs in a FRESH subprocess (this script with the hidden ``--worker NAME``
flag) that imports only its own library and numpy, loads the data, trains, evaluates on the
10k test images and prints one JSON line: the training time, the test accuracy, its
resident set size just after imports + data loading, and its PEAK resident set size
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``, KB on Linux) at the end.  So the memory
column is what a process doing only that contender's work needs.  The data are read ONCE
by the parent with ``fastmlp.datasets.load_mnist`` and handed to the workers as float32
.npy files (np.load), so every worker loads them the same way, and the PyTorch and
scikit-learn workers do not import fastmlp (which brings in scipy, ~40 MB of RSS).

"Training time" is the wall time of the training call alone (fastmlp ``fit``, sklearn
``fit``, the PyTorch epoch loop): imports, data loading and the test evaluation are
outside it.  The contenders run in R interleaved rounds (default 5; --quick: 1 round of 2
epochs), the order rotated from round to round.  A contender's time is the MIN over its
quiet runs, its accuracy the MEAN over the rounds, its memory the MAX (memory barely
varies between runs).  The memory columns: RSS after imports + data loading, RSS once the
model (and optimizer) is built, and the peak; note that constructing the first
``torch.optim.Adam`` lazily imports torch._dynamo and sympy (~70 MB).

Other processes: the machine has 2 cores and is shared.  With one core busy elsewhere,
every 2-thread BLAS call waits for its descheduled second thread and a training run can
take several times longer (measured here: fastmlp 2 epochs 1.3 s quiet, 6.6 s with 0.9
cores busy elsewhere; scikit-learn 10 epochs 12-16 s quiet, 87 s; see bench/step.py).
So, before every run, the parent waits (up to --max-wait seconds) until other processes
use ≤ 0.25 cores, and each worker records how much CPU OTHER processes used during its
training (/proc/stat minus its own CPU time, in cores).  The min time is taken
over the "quiet" runs (others ≤ 0.25 cores on average); a contender with no quiet run is
run again, up to --retries times (default 2), and if still none is quiet its numbers are
starred: re-measure them on a quiet machine.  The header names the fastmlp build (install
time and the repository's HEAD): the benchmark runs the INSTALLED package.

--best-of-2min
--------------
The best MNIST-24k test accuracy one fastmlp network reaches within 120 s of training;
the recipe, and how it was chosen, are described in bench/_mnist_best.py.

The code: this script reads the data, prints the header and runs the comparison
(bench/_mnist_compare.py) or --best-of-2min (bench/_mnist_best.py); a worker runs one
contender (bench/_mnist_contenders.py).  Shared names and helpers: bench/_mnist.py.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from _common import cpu_line
from _mnist import (CONTENDERS, DATASET, EPOCHS, MONITOR, QUICK_EPOCHS, load_cached,
                    peak_rss_mb, thread_info)
from _mnist_best import BEST_RECIPE, BUDGET, best, train_best
from _mnist_compare import compare
from _mnist_contenders import TRAINERS


def default_data_dir():
    return Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


# ---------------------------------------------------------------------------
# The worker: one contender in a fresh process (the hidden --worker flag)
# ---------------------------------------------------------------------------

def worker(args):
    """Run one contender; print one JSON line on stdout."""
    X, y, Xt, yt = load_cached(args.cache)
    if args.worker == "best":
        recipe = dict(BEST_RECIPE, **json.loads(args.recipe)) if args.recipe else BEST_RECIPE
        res = train_best(X, y, Xt, yt, recipe, args.budget)
        res["recipe"] = recipe
    else:
        res = TRAINERS[args.worker](X, y, Xt, yt, args.epochs, args.seed)
    rss_loaded, peak_loaded, rss_start = res.pop("rss")
    res.update(name=args.worker, seed=args.seed, rss_loaded_mb=rss_loaded,
               peak_loaded_mb=peak_loaded, rss_start_mb=rss_start, peak_rss_mb=peak_rss_mb(),
               pools=thread_info())                 # after the peak: imports threadpoolctl
    print(json.dumps(res), flush=True)


# ---------------------------------------------------------------------------
# The parent: data and header
# ---------------------------------------------------------------------------

def load_data(directory, cache):
    """Read MNIST-24k once with fastmlp.datasets.load_mnist into .npy files for workers."""
    directory = Path(directory)
    if not directory.is_dir():
        sys.exit(f"error: MNIST data directory not found: {directory}\n"
                 f"(expected the IDX files train-images-idx3-ubyte.gz, "
                 f"train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
                 f"t10k-labels-idx1-ubyte.gz; pass --data DIR)")
    try:
        from fastmlp.datasets import load_mnist
    except ImportError as exc:
        sys.exit(f"error: cannot import fastmlp.datasets.load_mnist ({exc}); install "
                 f"fastmlp first: pip install .")
    try:
        t0 = time.perf_counter()
        X, y = load_mnist(directory, "train", dtype=np.float32)
        Xt, yt = load_mnist(directory, "test", dtype=np.float32)
        seconds = time.perf_counter() - t0
    except (OSError, ValueError) as exc:
        sys.exit(f"error: cannot read MNIST from {directory}: {exc}")
    for k, v in (("X", X), ("y", y), ("Xt", Xt), ("yt", yt)):
        np.save(Path(cache) / f"{k}.npy", v)
    return X.shape, Xt.shape, seconds


def version(dist):
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def fastmlp_build():
    """Where the imported fastmlp lives, when it was installed, and the repository's
    HEAD (the installed build need not match it: re-run `pip install .`)."""
    import fastmlp
    where = os.path.dirname(fastmlp.__file__)
    try:
        kernels = next(p for p in Path(where).iterdir() if p.name.startswith("_kernels"))
        installed = time.strftime("%Y-%m-%d %H:%M", time.localtime(kernels.stat().st_mtime))
    except (OSError, StopIteration):
        installed = "?"
    try:
        head = subprocess.run(["git", "-C", str(Path(__file__).resolve().parents[1]),
                               "log", "-1", "--format=%h %cd", "--date=format:%Y-%m-%d %H:%M"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        head = ""
    return (f"fastmlp {fastmlp.__version__} ({where}, built {installed}"
            + (f"; repository HEAD {head}" if head else "") + ")")


def header(title, data_dir, shapes, load_s, markdown):
    lines = [f"{title}   {time.strftime('%Y-%m-%d %H:%M:%S')}",
             cpu_line(MONITOR),
             f"Python {platform.python_version()}; numpy {np.__version__}; scipy "
             f"{version('scipy')}; torch {version('torch')}; scikit-learn "
             f"{version('scikit-learn')}; {fastmlp_build()}",
             f"Data: {DATASET} = the first {shapes[0][0]:,} official MNIST training images "
             f"+ the {shapes[1][0]:,} official test images, float32 in [0, 1] "
             f"(fastmlp.datasets.load_mnist, {load_s:.2f} s; not timed) from {data_dir}"]
    return "\n".join(["```"] + lines + ["```"]) if markdown else "\n".join(lines)


# ---------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=None,
                    help=f"directory of the MNIST IDX files (default {default_data_dir()})")
    ap.add_argument("--quick", action="store_true", help=f"1 round of {QUICK_EPOCHS} epochs")
    ap.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    ap.add_argument("--only", default=",".join(CONTENDERS),
                    help="comma-separated subset of fastmlp,torch,sklearn")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    ap.add_argument("--best-of-2min", action="store_true",
                    help="fastmlp's best MNIST-24k test accuracy within 120 s of training")
    ap.add_argument("--retries", type=int, default=2,
                    help="extra runs for a contender none of whose runs was quiet "
                         "(default 2)")
    ap.add_argument("--max-wait", type=float, default=30.0,
                    help="before each run, wait up to this many seconds for other "
                         "processes to use ≤ 0.25 cores (default 30)")
    # hidden: the worker subprocesses
    ap.add_argument("--worker", choices=CONTENDERS + ("best",), help=argparse.SUPPRESS)
    ap.add_argument("--cache", help=argparse.SUPPRESS)
    ap.add_argument("--epochs", type=int, default=EPOCHS, help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--budget", type=float, default=BUDGET, help=argparse.SUPPRESS)
    ap.add_argument("--recipe", default=None, help=argparse.SUPPRESS)   # JSON overrides
    args = ap.parse_args(argv)

    if args.worker:
        return worker(args)

    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = [s for s in args.only if s not in CONTENDERS]
    if bad or not args.only:
        ap.error(f"--only takes a comma-separated subset of {','.join(CONTENDERS)}, "
                 f"got {bad or 'nothing'}")
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    args.recipe_json = json.loads(args.recipe) if args.recipe else None
    data_dir = (args.data or default_data_dir()).resolve()
    md = args.markdown
    with tempfile.TemporaryDirectory(prefix="fastmlp-mnist-") as cache:
        shapes = load_data(data_dir, cache)
        title = ("fastmlp MNIST-24k best-of-2min" if args.best_of_2min else
                 f"fastmlp MNIST-24k training benchmark{' (--quick)' if args.quick else ''}")
        print(header(title, data_dir, shapes[:2], shapes[2], md), flush=True)
        if args.best_of_2min:
            best(args, cache, md)
        else:
            compare(args, cache, md)


if __name__ == "__main__":
    main()
