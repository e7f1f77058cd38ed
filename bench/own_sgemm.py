#!/usr/bin/env python
"""fastmlp's own float32 GEMM (csrc/sgemm.h) against the BLAS, one layer at a time.

    python bench/own_sgemm.py                 layers of 784-512-256-10 and 50-256-256-2
    python bench/own_sgemm.py --rows 1,8,64   other batch sizes

One thread throughout (the BLAS pools limited by threadpoolctl).  For every dense layer
Z = X @ W + b of the two networks and every batch size: NumPy's X @ W (no bias), the
BLAS call fastmlp makes (scipy's sgemm or sgemv, then a bias loop) and sgemm.h
(_kernels.sgemm_bias).  Each time is the minimum over rounds of time.thread_time of a
C loop of repeated calls (about 2 ms each), so other processes on the machine cost
little; the ratio BLAS / own > 1 means the own GEMM is faster.  X, W and b start on
64-byte boundaries, as a Network's W do (fastmlp.network.aligned_empty).
"""
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from fastmlp import _kernels
from fastmlp.network import aligned_empty

NETS = [[784, 512, 256, 10], [50, 256, 256, 2]]


def best(fn, rounds=9, target=0.002):
    fn(1)
    reps = 1
    while True:                           # calls per round: about `target` seconds
        t0 = time.thread_time()
        fn(reps)
        if time.thread_time() - t0 >= target / 2 or reps >= 1 << 20:
            break
        reps *= 2
    times = []
    for _ in range(rounds):
        t0 = time.thread_time()
        fn(reps)
        times.append((time.thread_time() - t0) / reps)
    return min(times)


def aligned(a):
    out = aligned_empty(a.size, np.float32).reshape(a.shape)
    out[...] = a
    return out


def fmt(s):
    return f"{s * 1e6:8.2f} µs" if s < 1e-3 else f"{s * 1e3:8.3f} ms"


def main(argv):
    rows = [1, 8, 64, 128]
    if "--rows" in argv:
        rows = [int(r) for r in argv[argv.index("--rows") + 1].split(",")]
    own = _kernels.HAVE_OWN_SGEMM
    print(f"own GEMM: {_kernels.OWN_SGEMM_ISA or 'none on this CPU'}; one thread; "
          "min over 9 rounds of time.thread_time")
    print(f"{'layer K×N':>10} {'rows':>5} {'numpy X@W':>12} {'fastmlp BLAS':>12} "
          f"{'own':>12} {'BLAS/own':>9}")
    rng = np.random.default_rng(0)
    with threadpool_limits(1):
        for sizes in NETS:
            for K, N in zip(sizes[:-1], sizes[1:]):
                W = aligned(rng.standard_normal((K, N)))
                b = aligned(rng.standard_normal(N))
                for B in rows:
                    X = aligned(rng.standard_normal((B, K)))
                    Z = aligned(np.zeros((B, N)))

                    def numpy_mm(reps):
                        for _ in range(reps):
                            np.matmul(X, W, out=Z)
                    t_np = best(numpy_mm)
                    t_blas = best(lambda r: _kernels.sgemm_bias(X, W, b, Z, False, r))
                    t_own = best(lambda r: _kernels.sgemm_bias(X, W, b, Z, True, r)) \
                        if own else float("nan")
                    print(f"{K:>4}×{N:<5} {B:>5} {fmt(t_np):>12} {fmt(t_blas):>12} "
                          f"{fmt(t_own) if own else '—':>12} {t_blas / t_own:>8.2f}×")


if __name__ == "__main__":
    main(sys.argv[1:])
