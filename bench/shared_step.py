#!/usr/bin/env python
"""A training step on OpenBLAS's threads against the same step shared with fastmlp's
helper threads (csrc/_parallel_train.pxi, csrc/_optim_shared.pxi).

    python bench/shared_step.py               (about 1.5 minutes)
    python bench/shared_step.py --rounds 1    (a quick look)
    python bench/shared_step.py --markdown    the table as Markdown (for the README)

Each time is one `train_step` (plain SGD, or Adam through an optimizer) on float32 data,
measured in a FRESH process: 300 untimed steps, then 15 blocks of 40 steps, the median
of each block, the minimum over blocks.  Fresh processes because the two setups leave
different threads behind: after OpenBLAS's 2-thread GEMMs its idle worker spins on the
second core for about 0.1 s, which a helper thread started next would have to share.
The two setups alternate over --rounds rounds (default 3); a setup's time is its minimum
over rounds.

  OpenBLAS   what fastmlp did before its shared steps: every GEMM of the step on
             OpenBLAS's own threads (the count fastmlp._threads chooses), the update on
             this thread.
  shared     what fastmlp does now (fastmlp._workers.step_threads): the BLAS on one
             thread, each large GEMM cut into one block per thread and the optimizer
             update into ranges, run on this thread and the helper threads.
"""
import argparse
import subprocess
import sys

from _common import cpu_line, fmt_time, table

WORKLOADS = [("784-128-10", 32, "sgd"), ("784-128-10", 32, "adam"),
             ("784-128-10", 128, "adam"), ("50-256-256-2", 128, "adam"),
             ("784-512-256-10", 128, "sgd"), ("784-512-256-10", 128, "adam")]


def worker(sizes, batch, optimizer, setup):
    """Print the step time (seconds) of one setup, in this fresh process."""
    import time

    import numpy as np

    import fastmlp
    from fastmlp import _threads

    if setup == "openblas":
        # the step as before: OpenBLAS's threads, no helpers
        class Blas:
            helpers = 0

            def __init__(self, mnk, n_threads):
                self._limit = _threads.limit(mnk, n_threads)

            def __enter__(self):
                self._limit.__enter__()
                return self

            def __exit__(self, *exc):
                self._limit.__exit__(*exc)

        fastmlp.Network._step_threads = (
            lambda net, rows, n_threads=None: Blas(rows * net._widest_w, n_threads))
        # every GEMM to the BLAS (not the own one-thread kernels of unshared steps)
        fastmlp._kernels.own_kernels_unshared(False)
    sizes = [int(s) for s in sizes.split("-")]
    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], batch)
    net = fastmlp.Network(sizes, seed=0)
    if optimizer == "sgd":
        def step():
            net.train_step(X, y, lr=1e-4)
    else:
        opt = fastmlp.optim.Adam(lr=1e-4)

        def step():
            net.train_step(X, y, optimizer=opt)
    for _ in range(300):
        step()
    medians = []
    for _ in range(15):
        times = []
        for _ in range(40):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        medians.append(float(np.median(times)))
    print(min(medians))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        sizes, batch, optimizer, setup = args.worker
        worker(sizes, int(batch), optimizer, setup)
        return
    print(cpu_line())
    print(f"train_step, float32; min over {args.rounds} fresh processes per setup of "
          "the min over 15 blocks of each block's median step time")
    rows = []
    for sizes, batch, optimizer in WORKLOADS:
        best = {"openblas": float("inf"), "shared": float("inf")}
        for r in range(args.rounds):
            for setup in (("openblas", "shared") if r % 2 == 0 else ("shared", "openblas")):
                out = subprocess.run([sys.executable, __file__, "--worker", sizes, str(batch),
                                      optimizer, setup], capture_output=True, text=True,
                                     check=True)
                best[setup] = min(best[setup], float(out.stdout.strip().splitlines()[-1]))
        rows.append([f"{sizes} b{batch} {'SGD' if optimizer == 'sgd' else 'Adam'}",
                     fmt_time(best["openblas"]), fmt_time(best["shared"]),
                     f"{best['openblas'] / best['shared']:.2f}×"])
        print(f"  {rows[-1][0]}: {rows[-1][1]} / {rows[-1][2]}", flush=True)
    print()
    print(table(["workload", "OpenBLAS threads", "shared step", "OpenBLAS / shared"], rows,
                args.markdown, ["<", ">", ">", ">"]))


if __name__ == "__main__":
    main()
