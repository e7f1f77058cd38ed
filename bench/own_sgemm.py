#!/usr/bin/env python
"""fastmlp's own float32 GEMMs (csrc/sgemm.h, sgemm_tn.h) against the BLAS, one layer
at a time.

    python bench/own_sgemm.py                 layers of 784-512-256-10 and 50-256-256-2
    python bench/own_sgemm.py --rows 1,8,64   other batch sizes (forward table)
    FASTMLP_ISA=avx2 OPENBLAS_CORETYPE=Haswell python bench/own_sgemm.py
                                              the AVX2 codes against OpenBLAS's AVX2
                                              kernels, on an AVX-512 CPU: what a CPU
                                              without AVX-512 runs (a Zen 4 core runs
                                              256-bit FMAs at Zen 3's rate, 2 a cycle)

One thread throughout (the BLAS pools limited by threadpoolctl).  For every dense layer
Z = X @ W + b of the two networks and every batch size: NumPy's X @ W (no bias), the
BLAS call fastmlp makes (scipy's sgemm or sgemv, then a bias loop) and sgemm.h
(_kernels.sgemm_bias).  Each time is the minimum over rounds of time.thread_time of a
C loop of repeated calls (about 2 ms each), so other processes on the machine cost
little.  Thread time still varied here by up to 30% from one minute to the next (the
same kernel, 256×256 from 128 rows: 76 to 108 GFLOPS), so the contenders of a row
alternate within every round and a slow spell falls on all of them.  The ratio
BLAS / own > 1 means the own GEMM is faster.  X, W and b start on
64-byte boundaries, as a Network's W do (fastmlp._aligned.aligned_empty).

Then the read floor of one row: the time one core takes to read a 200 KB block of
weights (a helper's half of 784-128-10's first layer) against the own GEMM's one row
through that half.  A second table times a training step's weight-gradient GEMM of every layer with the
SGD update folded in, W := -lr · Xᵀ @ δ + W, at batches of 32, 128 and 256: the BLAS
call fastmlp makes without its own code and the path it takes on this CPU
(_kernels.sgemm_tn: sgemm_tn.h for whole 64-column panels on AVX-512, the BLAS for
the rest; sgemm_tn_avx2.h from 8 columns on AVX2).
"""
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from fastmlp import _kernels
from fastmlp._aligned import aligned_empty

from _common import blas_line, cpu_model, usage_if_asked

NETS = [[784, 512, 256, 10], [50, 256, 256, 2]]


def calls_per_round(fn, target=0.002):
    """Calls that take about `target` seconds of this thread's time."""
    fn(1)
    reps = 1
    while True:
        t0 = time.thread_time()
        fn(reps)
        if time.thread_time() - t0 >= target / 2 or reps >= 1 << 20:
            return reps
        reps *= 2


def best(*fns, rounds=9):
    """The min over rounds of each fn's time per call.  The fns alternate within every
    round (each in turn first), so that a spell in which the core runs slower falls on
    all of them, not on whichever was timed then."""
    reps = [calls_per_round(fn) for fn in fns]
    times = [[] for _ in fns]
    for r in range(rounds):
        for i in range(len(fns)):
            j = (i + r) % len(fns)
            t0 = time.thread_time()
            fns[j](reps[j])
            times[j].append((time.thread_time() - t0) / reps[j])
    return [min(t) for t in times]


def aligned(a):
    out = aligned_empty(a.size, np.float32).reshape(a.shape)
    out[...] = a
    return out


def fmt(s):
    return f"{s * 1e6:8.2f} µs" if s < 1e-3 else f"{s * 1e3:8.3f} ms"


def main(argv):
    usage_if_asked(__doc__, argv)
    rows = [1, 8, 64, 128]
    if "--rows" in argv:
        rows = [int(r) for r in argv[argv.index("--rows") + 1].split(",")]
    own = _kernels.HAVE_OWN_SGEMM
    print(f"CPU: {cpu_model()}\n{blas_line()}")
    print("one thread; min over 9 rounds of time.thread_time, the contenders of a row "
          "alternating within each round")
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
                    fns = [numpy_mm, lambda r: _kernels.sgemm_bias(X, W, b, Z, False, r)]
                    if own:
                        fns.append(lambda r: _kernels.sgemm_bias(X, W, b, Z, True, r))
                    t_np, t_blas, t_own = (best(*fns) + [float("nan")])[:3]
                    print(f"{K:>4}×{N:<5} {B:>5} {fmt(t_np):>12} {fmt(t_blas):>12} "
                          f"{fmt(t_own) if own else '—':>12} {t_blas / t_own:>8.2f}×")
    read_floor(rng)
    weight_gradients(rng)


def read_floor(rng):
    """What one row through a layer cannot beat: reading its weights.  With a helper,
    each core takes half of 784-128-10's first layer (784 × 64 floats, 200 KB, kept in
    its L2 from call to call); the time for one core to read such a block (OpenBLAS's
    sasum, one pass) against the own GEMM's one row through it."""
    from scipy.linalg.blas import sasum
    W = aligned(rng.standard_normal((784, 128)))
    half, flat = W[:, :64], aligned(rng.standard_normal(784 * 64))
    x, b, z = aligned(rng.standard_normal((1, 784))), aligned(np.zeros(64)), \
        aligned(np.zeros((1, 64)))

    def read(reps):
        for _ in range(reps):
            sasum(flat)
    own = _kernels.HAVE_OWN_SGEMM
    with threadpool_limits(1):
        t_read, t_row = (best(read, lambda r: _kernels.sgemm_bias(x, half, b, z, True, r))
                         if own else (best(read)[0], None))
    print()
    print(f"read floor: one core reads 200 KB (784 × 64 floats) in {fmt(t_read).strip()} "
          f"({flat.nbytes / t_read / 1e9:.0f} GB/s, sasum)" + (
              f"; one row through 784 × 64 of 784 × 128 (a helper's half) "
              f"{fmt(t_row).strip()} ({half.size * 4 / t_row / 1e9:.0f} GB/s of W)"
              if own else ""))


def weight_gradients(rng):
    own = _kernels.HAVE_OWN_SGEMM
    print()
    print("weight gradients W := -lr·Xᵀ@δ + W")
    print(f"{'layer K×N':>10} {'batch':>5} {'BLAS':>12} {'own':>12} {'BLAS/own':>9}")
    with threadpool_limits(1):
        for sizes in NETS:
            for K, N in zip(sizes[:-1], sizes[1:]):
                W = aligned(rng.standard_normal((K, N)))
                for B in (32, 128, 256):
                    X = aligned(rng.standard_normal((B, K)))
                    D = aligned(rng.standard_normal((B, N)) * 1e-3)
                    fns = [lambda r: _kernels.sgemm_tn(X, D, W, -1e-6, 1.0, False, r)]
                    if own:
                        fns.append(lambda r: _kernels.sgemm_tn(X, D, W, -1e-6, 1.0, True, r))
                    t_blas, t_own = (best(*fns) + [float("nan")])[:2]
                    print(f"{K:>4}×{N:<5} {B:>5} {fmt(t_blas):>12} "
                          f"{fmt(t_own) if own else '—':>12} {t_blas / t_own:>8.2f}×")


if __name__ == "__main__":
    main(sys.argv[1:])
