#!/usr/bin/env python
"""fastmlp's automatic BLAS threads against 1 thread and all threads, quiet and busy.

    python bench/busy.py              (about 2 minutes)
    python bench/busy.py --quick      (about 20 s)
    python bench/busy.py --markdown   the table as Markdown (for the README)
    python bench/busy.py --fit-pair 6 only the busy one-epoch fit, automatic against all
                                      threads, 6 of each in alternating order (about
                                      15 s): how far apart two runs of the same steps
                                      fall next to the spinning process

Target (issue 16): on bench/step.py's training workloads, fastmlp with its automatic
thread choice is never slower than the better of 1 thread and all threads by more than
5%, on a quiet machine and with another process keeping one core busy.

Each workload is one train_step (SGD) on float32 data, timed three ways in interleaved
rounds (bench/_common.measure): n_threads=None (automatic: fastmlp._threads, which
looks at the other processes' CPU use through fastmlp._load), n_threads=1 and
n_threads=all of the pool's threads.  Quiet: this script alone; a contender's time is
the min over the blocks during which other processes used <= 0.25 cores.  Busy: the
script starts a process that spins on one core for the whole phase; every block is
contended, so a contender's time is the MEDIAN over its blocks (the min would pick the
moments when the spinner happened to be descheduled).  A fit of one epoch on MNIST-24k
(when ../shared/data/mnist is there) is timed the same way, one call per block.
"""
import argparse
import contextlib
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import fastmlp
from _common import Contender, cpu_line, fmt_ratio, fmt_time, measure, table
from fastmlp import _kernels, _threads

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
STEPS = [("784-128-10 b32", [784, 128, 10], 32), ("784-512-256-10 b128", [784, 512, 256, 10], 128)]


class Tally:
    """The helper threads' share of the chunks of the jobs posted to them, over a
    contender's blocks (its context): about 1/2 on two cores when the helper keeps
    up; near 0 when its core is taken, though nothing waited for it."""

    def __init__(self):
        self.helped = self.chunks = 0

    @contextlib.contextmanager
    def block(self):
        before = _kernels.helper_counts()
        yield
        after = _kernels.helper_counts()
        self.helped += after["helped"] - before["helped"]
        self.chunks += after["chunks"] - before["chunks"]

    def share(self):
        return f"{self.helped / self.chunks:.0%}" if self.chunks else "—"


def three_ways(make):
    """auto, 1 and all threads, from make(n_threads) -> callable, each with a Tally."""
    out = []
    for key, n in (("auto", None), ("1", 1), ("all", "pool")):
        tally = Tally()
        c = Contender(key, make(n), tally.block)
        c.tally = tally
        out.append(c)
    return out


def step_contenders(sizes, batch, pool):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], batch)
    net = fastmlp.Network(sizes, seed=0)

    def step(n):
        n = pool if n == "pool" else n
        return lambda: net.train_step(X, y, lr=1e-4, n_threads=n)
    return three_ways(step)


def fit_contenders(pool):
    if not DATA.is_dir():
        return None
    X, y = fastmlp.datasets.load_mnist(DATA, "train")

    def fit(n):
        n = pool if n == "pool" else n

        def run():
            fastmlp.Network([784, 512, 256, 10], seed=0).fit(
                X, y, epochs=1, batch_size=128, seed=0, n_threads=n)
        return run
    return three_ways(fit)


def run_phase(busy, quick, pool):
    """[(workload, {key: seconds})] for the phase."""
    spinner = (subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy
               else None)
    try:
        time.sleep(0.5 if busy else 0.0)
        out = []
        for label, sizes, batch in STEPS:
            res = measure(step_contenders(sizes, batch, pool), rounds=3 if quick else 7,
                          samples=5, sample_s=0.005, warm_s=0.005, settle=0.12)
            out.append((f"train_step {label}", res))
        contenders = fit_contenders(pool)
        if contenders is not None:
            res = measure(contenders, rounds=1 if quick else 9, samples=1, sample_s=0,
                          warm_s=0, settle=0.3, calibrate=False)
            out.append(("fit 1 epoch, MNIST-24k 784-512-256-10 b128", res))
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    return out


def ratio_interval(res, draws=2000, seed=0):
    """The 5th and 95th percentiles of automatic / better of the medians, over
    bootstrap resamples of each contender's blocks (busy rows): how far the verdict
    could move with other draws of the same noise."""
    rng = np.random.default_rng(seed)
    med = {k: np.median(rng.choice(np.asarray(c.blocks), (draws, len(c.blocks))), axis=1)
           for k, c in res.items()}
    ratios = med["auto"] / np.minimum(med["1"], med["all"])
    return np.percentile(ratios, 5), np.percentile(ratios, 95)


def fit_pair(rounds, pool):
    """The busy fit row's two contenders that run the same steps (automatic and all
    threads), one fit each per round, the order flipped every round."""
    contenders = fit_contenders(pool)
    if contenders is None:
        print(f"no MNIST at {DATA}")
        return
    pair = [c for c in contenders if c.key in ("auto", "all")]
    times = {c.key: [] for c in pair}
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        for r in range(rounds):
            for c in (pair if r % 2 == 0 else pair[::-1]):
                t0 = time.perf_counter()
                c.fn()
                times[c.key].append(time.perf_counter() - t0)
    finally:
        spinner.kill()
        spinner.wait()
    for key, name in (("auto", "automatic"), ("all", f"{pool} threads")):
        ts = times[key]
        print(f"{name:>12}: median {fmt_time(statistics.median(ts))}; each: "
              + ", ".join(fmt_time(t) for t in ts))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--fit-pair", type=int, metavar="N", default=0)
    args = ap.parse_args(argv)
    if not _threads.available():
        print("scipy's BLAS exposes no thread control: nothing to compare")
        return
    pool = _threads._api[2]
    print(cpu_line())
    print(f"pool of {pool} BLAS threads; busy = one process spinning on a core")
    if args.fit_pair:
        fit_pair(args.fit_pair, pool)
        return
    rows, met = [], []
    for phase in ("quiet", "busy"):
        for label, res in run_phase(phase == "busy", args.quick, pool):
            t = {k: c.median if phase == "busy" else c.best for k, c in res.items()}
            ratio = t["auto"] / min(t["1"], t["all"])
            met.append(ratio <= 1.05)
            spread = ("%.3f-%.3f" % ratio_interval(res) if phase == "busy"
                      and len(res["auto"].blocks) > 2 else "—")
            rows.append([label, phase, fmt_time(t["auto"]), fmt_time(t["1"]),
                         fmt_time(t["all"]), fmt_ratio(ratio), spread,
                         "yes" if ratio <= 1.05 else "NO",
                         f"{res['auto'].tally.share()} / {res['all'].tally.share()}"])
    print()
    print(table(["workload", "machine", "automatic", "1 thread", f"{pool} threads",
                 "automatic / better", "90% bootstrap", "≤ 1.05?",
                 "helper's share: auto / all"], rows, args.markdown,
                ["<", "<", ">", ">", ">", ">", ">", "<", ">"]))
    print()
    print(f"target met on {sum(met)} of {len(met)} rows (quiet: min over quiet blocks; "
          "busy: median over blocks, and the 5th-95th percentiles of the ratio over\n"
          "bootstrap resamples of the blocks: a busy row whose interval spans 1.05 could "
          "fall either way in another run)")
    print("helper's share: of the chunks of the jobs the steps posted to fastmlp's helper "
          "thread, the share it ran (all blocks);\n1/2 when it keeps up on two cores, "
          "lower when its core was taken (the caller then ran its chunks)")


if __name__ == "__main__":
    main()
