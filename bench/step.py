#!/usr/bin/env python
"""Benchmark one SGD training step of fastmlp against PyTorch, plain NumPy and the GEMM floor.

    python bench/step.py              full run (1-2 minutes; under 3)
    python bench/step.py --quick      smoke run (under 30 s; fewer, shorter repeats)
    python bench/step.py --markdown   the tables as Markdown (for the README)
    python bench/step.py --details    also every contender's min / median / spread
    python bench/step.py --dropout    only the cost of dropout (train_step with p = 0.2
                                      and 0.5 against p = 0; under a minute)

The machine is shared and noisy, so only RATIOS measured in the same run mean anything.

How the timing works
--------------------
Each workload's contenders are timed in interleaved rounds: every round visits every
contender (in an order rotated from round to round, so no contender always follows the
same neighbour).  A visit is one "block": a 0.12 s pause, untimed warm-up calls (4 ms),
then several timed samples of n back-to-back calls, n chosen so a sample lasts a few ms;
the block's value is the median per-call time of its samples.  A contender's time is the
MIN over rounds of its block values, and a ratio is the quotient of two such minima.  The
garbage collector is off inside blocks.  The pause matters: three thread pools share the
2 cores (scipy's OpenBLAS used by fastmlp, numpy's own OpenBLAS, torch's libgomp), and an
OpenBLAS pool keeps its idle worker spinning for ~0.1 s after a call.  Measured here: in
the 0.1 s after numpy's 2-thread `@`, fastmlp's 784-128-10 step (2 BLAS threads) took
20-45 ms per call instead of ~0.2 ms.  The warm-up calls then wake the sleeping pools.
The large workload (~0.2-0.4 s a step) uses 1 call per block, 5 rounds (1 with --quick)
and a 0.15 s pause, no warm-up calls (one untimed call per contender at the start).

Other processes on the machine: each block also records how much CPU OTHER processes
used meanwhile (/proc/stat minus this process's own time, in cores).  The min is taken
over the "quiet" blocks (others ≤ 0.25 cores); a result with no quiet block is starred.
This matters a lot on 2 cores: with one core busy elsewhere, every 2-thread BLAS call
(fastmlp's OpenBLAS and torch's MKL alike) waits for its descheduled second thread, and
the 784-128-10 / 784-512-256-10 steps were measured at 40 ms / 88 ms instead of ~0.1 /
~2.2 ms, while the 1-thread variants barely moved.

Contenders
----------
The contenders' classes (NumpyMLP, TorchMLP, JaxMLP, GemmFloor) are in bench/_step_contenders.py.
fastmlp   ``Network(sizes, activation, loss, dtype, seed=0).train_step(X, y, lr)``: the public
          call, validation included, BLAS threads chosen per call (fastmlp._threads).
          Also timed: the same with 1 OpenBLAS thread (via threadpoolctl), and
          ``net._plan.sgd_step(...)`` (the compiled step alone, arrays pre-validated, with
          the same helper threads and BLAS threads as the public call) to show the
          Python-side overhead.
PyTorch   ``nn.Sequential`` of ``nn.Linear`` + activations, ``nn.CrossEntropyLoss`` (on logits)
          or ``nn.MSELoss``, ``torch.optim.SGD`` (defaults); one step = zero_grad + forward +
          loss + backward + step.  Torch's default intra-op threads (its MKL + libgomp;
          threadpoolctl's "blas" limit does not reach them).  ``nn.MSELoss`` averages over
          B·K elements where fastmlp's MSE is ½Σ/B: a constant factor, the same work.
JAX jit   ``JaxMLP``: the same step written in jax.numpy (value_and_grad, SGD update)
          as ONE ``jax.jit`` function, float32, XLA's own threads; its own table.
NumPy     ``NumpyMLP``: the textbook vectorized step (Z = A @ W + b, δ formulas, W -= lr·dW)
          in the network's dtype.  Note numpy's ``@`` uses numpy's OWN bundled OpenBLAS
          (numpy.libs, 64-bit integers), not the one fastmlp uses.
GEMM floor
          ``GemmFloor``: exactly the GEMM calls fastmlp's compiled SGD step issues (same
          order, shapes, transpose flags, alpha/beta, with the SGD update folded into the dW
          GEMM as alpha = -lr, beta = 1 on W), and nothing else, through the same library.
          fastmlp's kernels call ``scipy.linalg.cython_blas`` sgemm/dgemm, which is scipy's
          bundled OpenBLAS (scipy.libs/libscipy_openblas*.so).  numpy's ``@`` would be a
          different OpenBLAS build (different version, different threading), so it cannot
          be the floor.  ``scipy.linalg.blas.sgemm/dgemm`` (f2py) link that same scipy
          OpenBLAS; they are called on the row-major buffers' transposed views, which are
          Fortran-ordered, so nothing is copied (``overwrite_c=1`` writes in place) and the
          call into BLAS is the very one fastmlp makes (row-major C = A @ B computed as
          column-major Cᵀ = Bᵀ @ Aᵀ).  The f2py wrapper adds ~0.5 µs per call (measured and
          printed in the header: a 1×1×1 sgemm), negligible beyond the small nets; a network
          with trivial elementwise work was rejected as the floor because fastmlp's loss,
          bias and activation passes would still be in it.
          The floor is shown for the 784-128-10, 784-512-256-10 and 1024-4096-4096-1024
          workloads; for the 2-3-2 net it would only measure the wrapper's call overhead.

Workloads and targets (docs/performance.md)
-------------------------------------------
1. 2-3-2, batch 2, sigmoid hidden + sigmoid output, MSE, f32: ≥ 20× PyTorch, ≥ 5× NumPy
2. 784-128-10, batch 32, ReLU, softmax-CE, f32:             ≥ 4× PyTorch,  ≥ 2× NumPy
3. 784-512-256-10, batch 128, ReLU, CE, f32:                 ≥ 1.2× PyTorch
4. 1024-4096-4096-1024, batch 256, ReLU, MSE, f32 and f64:   fastmlp ≤ 1.05× GEMM floor;
                                                             f64: at least as fast as PyTorch f64
5. single-sample predict, 784-128-10, x (1, 784) f32:        net.predict ≥ 10× PyTorch no_grad
6. backprop vs numerical gradient, 784-128-10, batch 8, f64, tanh, CE: times of
   net.gradient and fastmlp.numerical_gradient, their agreement (max relative error as in
   check_gradients, floor 1e-5), and an ESTIMATE of a naive Python loop over all parameters
   with two NumPy forward passes each (timed on a sample of parameters, extrapolated).

Also reported: fastmlp with 1 vs 2 OpenBLAS threads on the small workloads, and the
Python overhead of train_step / predict over the compiled call.

Code: this script (command line, main); bench/_step_timing.py (repeat counts, pauses),
_step_contenders.py, _step_workloads.py (workloads 1-6, --dropout) and _step_report.py
(header and tables), next to it.
"""
import argparse
import gc
import os
import sys
import time

try:
    from fastmlp import _threads
except ImportError as exc:     # e.g. run from inside the source tree with no build
    sys.exit(f"cannot import fastmlp ({exc}); install it first: pip install .")

from _common import CpuMonitor, fmt_ratio, fmt_time, section, table
from _step_report import Report, details_table, header, overhead_table, threads_table
from _step_timing import Config
from _step_workloads import (SANITY, bench_big, bench_dropout, bench_gradient, bench_predict,
                             bench_small)


# ---------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fast smoke run (< 30 s)")
    ap.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    ap.add_argument("--details", action="store_true",
                    help="also print every contender's min / median / spread")
    ap.add_argument("--dropout", action="store_true",
                    help="only the cost of dropout: train_step with p = 0.2, 0.5 vs p = 0")
    args = ap.parse_args(argv)
    cfg = Config(args.quick)
    md = args.markdown
    t_start = time.perf_counter()

    # torch's import leaves ~10^6 objects: a full gc.collect() then takes ~0.1 s, so
    # move them out of the collector's sight once (collections are off inside blocks)
    gc.collect()
    gc.freeze()
    print(header(cfg, md), flush=True)
    if args.dropout:
        bench_dropout(cfg, md)
        print(f"(total {time.perf_counter() - t_start:.0f} s; load average now "
              f"{os.getloadavg()[0]:.2f})")
        return
    report = Report()
    extras = {"threads": [], "overhead": [], "details": [], "gradient": None, "jax": []}
    spent = []
    for name, fn in (("small", bench_small), ("large", bench_big),
                     ("predict", bench_predict), ("gradients", bench_gradient)):
        t0 = time.perf_counter()
        fn(cfg, report, extras)
        spent.append(f"{name} {time.perf_counter() - t0:.0f} s")

    section("One SGD step (forward, loss, backward, update); ratio > 1 on X/fastmlp means "
            "fastmlp is faster", report.render(md), md)
    section("fastmlp with its automatic BLAS threads (fastmlp._threads: 1 below "
            f"M·N·K = {_threads.small_gemm():,} on this CPU's vendor, else the pool) vs "
            "1 thread, same run",
            threads_table(extras, md), md)
    if extras["jax"]:
        section("JAX jit (one jitted SGD step, float32, its own XLA threads), same run",
                table(["workload", "fastmlp", "JAX jit", "JAX/fastmlp"],
                      [[l, fmt_time(f), fmt_time(j) + ("*" if c else ""), fmt_ratio(j / f)]
                       for l, f, j, c in extras["jax"]], md, ["<", ">", ">", ">"]), md)
    section("Python-side cost of the public calls over the compiled Plan call alone",
            overhead_table(extras, md), md)
    if SANITY:
        print()
        print(f"Check: on workloads 1-3 fastmlp, NumPy and PyTorch start from the same "
              f"parameters; their initial losses agree to {max(SANITY):.1e} (relative).")
    g = extras["gradient"]
    if g:
        print(f"Gradients ({g['n_params']:,} params): backprop {fmt_time(g['t_grad'])}, "
              f"numerical_gradient {fmt_time(g['t_num'])}, max rel err {g['err']:.2e}; "
              f"naive loop ≈ {fmt_time(g['t_naive'])} (estimated from {g['n_sampled']} "
              f"params; its own max rel err vs backprop {g['naive_err']:.1e}, h = 1e-6)")
    if args.details:
        section("Every contender: min and median over rounds, spread (max/min)",
                details_table(extras, md), md)
    print()
    if report.unmet:
        print("Targets NOT met:")
        for u in report.unmet:
            print(("- " if md else "   ") + u)
    else:
        print("All targets met.")
    blocks = [(b, l) for _, res in extras["details"] for c in res.values()
              for b, l in zip(c.blocks, c.loads)]
    quiet = sum(l <= CpuMonitor.QUIET for _, l in blocks)
    print(f"(total {time.perf_counter() - t_start:.0f} s: {', '.join(spent)}; "
          f"{quiet}/{len(blocks)} timed blocks ran while other processes used ≤ "
          f"{CpuMonitor.QUIET} cores; load average now {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
