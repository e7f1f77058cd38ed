#!/usr/bin/env python
"""Where a second BLAS thread starts to pay: 1 thread against all, per GEMM size.

    python bench/threads.py            (about 30 s)
    python bench/threads.py --quick    (about 10 s)

fastmlp (fastmlp._threads) runs a call on ONE BLAS thread when its largest GEMM has
M·N·K < fastmlp._threads.small_gemm() (set by CPU vendor from this script's crossover
on each machine), and on the BLAS's usual count otherwise.  This script times
single-precision GEMMs of the shapes a training step issues (batch B × n_in × n_out, the
forward Y = X @ W) through scipy's BLAS, the one fastmlp's kernels call, with 1 thread
and with all of the pool's threads, interleaved in the same run, and prints the ratio per
size and the smallest M·N·K from which every larger size ran faster on all threads
(the crossover to compare with small_gemm()).  It is wall-clock: a second thread only
helps the wall clock, so run it on a quiet machine (the header says how busy it was).
"""
import sys

import numpy as np
from scipy.linalg.blas import sgemm

from _common import (CpuMonitor, Contender, cpu_line, fmt_ratio, fmt_time, measure, table,
                     usage_if_asked)
from fastmlp import _threads

SHAPES = [(32, 64, 64), (32, 256, 128), (32, 784, 128), (64, 784, 128), (128, 784, 128),
          (128, 784, 512), (128, 512, 256), (256, 784, 512), (256, 1024, 1024),
          (256, 4096, 1024), (256, 4096, 4096)]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    usage_if_asked(__doc__, argv)
    quick = "--quick" in argv
    if not _threads.available():
        print("scipy's BLAS exposes no openblas_set_num_threads: nothing to calibrate")
        return
    pool = _threads._api[2]
    print(cpu_line())
    print(f"scipy BLAS: {_threads._api[0].__name__} found; pool of {pool} threads; "
          f"small_gemm() = {_threads.small_gemm():,}")
    if pool < 2:
        print("the pool has one thread: nothing to compare")
        return
    rng = np.random.default_rng(0)
    rows, crossover = [], None
    for B, k, n in SHAPES:
        # row-major Y(B×n) = X(B×k) @ W(k×n), as the kernels call it (column-major Yᵀ = Wᵀ Xᵀ)
        X = rng.standard_normal((B, k)).astype(np.float32)
        W = rng.standard_normal((k, n)).astype(np.float32)
        Y = np.empty((B, n), np.float32)

        def gemm():
            sgemm(1.0, W.T, X.T, 0.0, Y.T, overwrite_c=1)

        def run(count):
            return lambda: _threads.limit(0, count)

        big = B * k * n > 2e8
        res = measure([Contender("1", gemm, run(1)), Contender("all", gemm, run(pool))],
                      rounds=2 if quick else (3 if big else 5), samples=3 if quick else 5,
                      sample_s=0.002, warm_s=0.002, settle=0.12)
        t1, tn = res["1"].best, res["all"].best
        mnk = B * k * n
        rows.append([f"{B}×{k}×{n}", f"{mnk:,}", fmt_time(t1), fmt_time(tn),
                     fmt_ratio(t1 / tn), "*" if res["1"].contended or res["all"].contended
                     else ""])
        if tn < t1 / 1.05:
            crossover = crossover or mnk
        else:
            crossover = None
    print()
    print(table(["B×n_in×n_out", "M·N·K", "1 thread", f"{pool} threads",
                 "1 / all", "busy"], rows, False, ["<", ">", ">", ">", ">", "<"]))
    print()
    print("crossover (from here on all threads were >= 5% faster): "
          + (f"M·N·K = {crossover:,}" if crossover else "none among these sizes"))
    print(f"(* = no block ran while other processes used <= {CpuMonitor.QUIET} cores)")


if __name__ == "__main__":
    main()
