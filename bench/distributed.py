#!/usr/bin/env python
"""Full-batch L-BFGS on Dask workers against one process, on a HIGGS-shaped problem.

    python bench/distributed.py                 1,000,000 rows, 2 L-BFGS iterations
    python bench/distributed.py --rows 200000   smaller (a smoke run: --rows 20000)
    python bench/distributed.py --markdown      the table as Markdown (for the README)

The workload: 28 standard-normal features, a binary label from a fixed random "teacher"
(sign of a small tanh network plus noise), both generated ON the workers block by block
(dask.array.random; the client holds no rows), a 28-300-300-300-1 tanh network with a
sigmoid output and binary cross-entropy (the shape of OpenNN's HIGGS benchmark),
float32, the same initial weights everywhere.

Contenders, each running the same number of L-BFGS iterations from the same start:
  1 process, 1 BLAS thread     fastmlp.optim.lbfgs on the rows gathered into this process
  1 process, 2 BLAS threads    the same with two BLAS threads
  1 worker, 2 workers          fastmlp.distributed.fit on a LocalCluster of that many
                               single-threaded worker processes (4 row blocks in all)

Seconds per iteration are the run's wall time over its iterations (the data's generation
and persisting are not in it).  compute = the busiest worker's time inside the compiled
loss-and-gradient calls; comm + scheduling = the rest of the iteration (broadcast of θ,
task scheduling, the tree reduction, the gather, the client's L-BFGS step).  The machine
is shared: only ratios measured in the same run mean anything.
"""
import argparse
import math
import os
import sys
import time

# this script's name shadows the `distributed` package: look in its folder last
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != HERE] + [HERE]

import numpy as np                                # noqa: E402

from _common import MONITOR, cpu_line             # noqa: E402

import fastmlp                                    # noqa: E402
from fastmlp import distributed as fd             # noqa: E402

N_FEATURES, HIDDEN = 28, [300, 300, 300]
BLOCKS = 4          # row blocks, for every run: the random data depend on the chunking


def make_data(rows, blocks, seed=0):
    """X, y as dask arrays whose blocks are generated where they are computed."""
    import dask.array as da
    X = da.random.default_rng(seed).standard_normal((rows, N_FEATURES),
                                                     chunks=(math.ceil(rows / blocks),
                                                             N_FEATURES), dtype=np.float32)
    teacher = np.random.default_rng(seed + 1)
    W1 = teacher.standard_normal((N_FEATURES, 16)) / np.sqrt(N_FEATURES)
    w2 = teacher.standard_normal(16)

    def label(block):
        score = np.tanh(block @ W1) @ w2 + 0.3 * np.sin(7 * block[:, 0])
        return (score > 0).astype(np.float32)

    y = X.map_blocks(label, drop_axis=1, dtype=np.float32)
    return X, y


def network(dtype):
    return fastmlp.Network([N_FEATURES, *HIDDEN, 1], "tanh", "binary_cross_entropy",
                           dtype=dtype, seed=0)


def local_scores(net, X, y):
    """Loss and accuracy in this process, 250,000 rows at a time (bounded memory)."""
    import dask.array as da
    return fd.evaluate(net, da.from_array(X, chunks=(250_000, N_FEATURES)),
                       da.from_array(y, chunks=250_000), client=None)


def single_process(X, y, iters, threads):
    from threadpoolctl import threadpool_limits
    net = network(np.float32)
    with threadpool_limits(threads, user_api="blas"):
        t0 = time.perf_counter()
        result = fastmlp.optim.lbfgs(net, X, y, max_iter=iters)
        wall = time.perf_counter() - t0
    # a copy keeps the weights but not the full-batch workspaces (about 6 GB here)
    return net.copy(), {"seconds": wall / result.nit, "iterations": result.nit,
                 "evaluations": result.nfev, "compute": None}


def on_workers(n_workers, rows, iters):
    from distributed import Client
    with fd.local_cluster(n_workers) as cluster, Client(cluster) as client:
        X, y = make_data(rows, BLOCKS)
        net = network(np.float32)
        history = fd.fit(net, X, y, client=client, epochs=iters,
                         standardize=False)          # as the single-process runs
        wall = sum(history["seconds"])
        stats = {"seconds": wall / len(history), "iterations": len(history),
                 "evaluations": sum(history["evaluations"]),
                 "compute": sum(history["compute_seconds"]) / len(history)}
        stats["scores"] = fd.evaluate(net, X, y, client=client)
    return net.copy(), stats


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--iters", type=int, default=2)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    from threadpoolctl import threadpool_info
    blas = [f"{i['internal_api']} {i.get('version')} ({i.get('architecture')})"
            for i in threadpool_info() if i["user_api"] == "blas"]
    print(cpu_line())
    print(f"BLAS: {', '.join(blas)}; workers run 1 thread and 1 BLAS thread each")
    print(f"workload: {args.rows:,} rows x {N_FEATURES} features, "
          f"{N_FEATURES}-{'-'.join(map(str, HIDDEN))}-1 tanh, binary cross-entropy, float32, "
          f"{args.iters} L-BFGS iterations")

    X, y = make_data(args.rows, BLOCKS)
    X_local, y_local = X.compute(scheduler="sync"), y.compute(scheduler="sync")
    runs = {}
    for threads in (1, 2):
        name = f"1 process, {threads} BLAS thread{'s' * (threads > 1)}"
        runs[name] = single_process(X_local, y_local, args.iters, threads)
        print(f"  {name}: {runs[name][1]['seconds']:.2f} s / iteration", flush=True)
    reference = runs["1 process, 1 BLAS thread"][0]
    ref_scores = local_scores(reference, X_local, y_local)
    for n in (1, 2):
        name = f"{n} worker{'s' * (n > 1)}"
        runs[name] = on_workers(n, args.rows, args.iters)
        print(f"  {name}: {runs[name][1]['seconds']:.2f} s / iteration", flush=True)

    base = runs["1 worker"][1]["seconds"]
    header = ["run", "s / iteration", "vs 1 worker", "comm + scheduling", "final loss",
              "accuracy", "max rel. param diff"]
    rows = []
    for name, (net, s) in runs.items():
        scores = s.get("scores") or local_scores(net, X_local, y_local)
        diff = np.abs(net.params - reference.params).max() / np.abs(reference.params).max()
        share = "" if s["compute"] is None else f"{1 - s['compute'] / s['seconds']:.1%}"
        rows.append([name, f"{s['seconds']:.2f}", f"{base / s['seconds']:.2f}x", share,
                     f"{scores['loss']:.6f}", f"{scores['accuracy']:.4f}", f"{diff:.1e}"])
    if args.markdown:
        print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
        for r in rows:
            print("| " + " | ".join(r) + " |")
    else:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        for r in [header] + rows:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    print(f"single-process reference: loss {ref_scores['loss']:.6f}, accuracy "
          f"{ref_scores['accuracy']:.4f}")

    # The Spark-MLlib-shaped model: T(N) = C / N + b + r · log2 N, with C the compute of
    # one iteration on one worker, b the per-iteration overhead with one worker
    # (broadcast, scheduling, the client's step), r the extra overhead of one more
    # level of the reduction tree (from the 2-worker run)
    one, two = runs["1 worker"][1], runs["2 workers"][1]
    C, b = one["compute"], one["seconds"] - one["compute"]
    r = max(0.0, (two["seconds"] - two["compute"]) - b)
    print(f"model T(N) = C/N + b + r*log2(N): C = {C:.2f} s, b = {b:.3f} s, r = {r:.3f} s")
    print("  N:    " + "  ".join(f"{n:>7}" for n in (1, 2, 4, 8, 16, 64)))
    print("  T(N): " + "  ".join(f"{C / n + b + r * math.log2(n):7.2f}"
                                  for n in (1, 2, 4, 8, 16, 64)))
    print(f"  measured: 1 worker {one['seconds']:.2f} s, 2 workers {two['seconds']:.2f} s "
          f"(the busiest of 2 workers computed {two['compute']:.2f} s per iteration, "
          f"C/2 = {C / 2:.2f} s: the rest of the gap is the cores' other load)")
    print(f"other processes now use {MONITOR.sample():.2f} cores")


if __name__ == "__main__":
    main()
