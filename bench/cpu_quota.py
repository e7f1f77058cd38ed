#!/usr/bin/env python
"""Training steps in a cgroup limited to one CPU: fastmlp's automatic threads against one
thread and against the automatic choice blind to the quota (fastmlp._cpus).

    sudo python bench/cpu_quota.py               (about 1 minute; needs root on Linux)
    sudo python bench/cpu_quota.py --markdown    the table as Markdown (for the README)
    sudo python bench/cpu_quota.py --quota 1.5   another quota, in CPUs

A container limited to one CPU sees every core of its host.  This script makes a cgroup
(v2 with the cpu controller, else v1's cpu hierarchy) with the quota, runs each setup in
a fresh process inside it, and removes the cgroup afterwards.  Each process: 50 untimed
steps, then 1.2 s of blocks of 50 ms, the median and min of the per-step times of its
blocks; setups alternate over --rounds rounds, a setup's median is the median over its
rounds' medians.

  one thread     train_step(..., n_threads=1)
  automatic      train_step(...): the threads fastmlp chooses (the quota counted)
  quota unseen   the same with fastmlp._cpus.quota() returning None: the choice as it
                 was before the quota was read (every CPU of the machine counted)
"""
import argparse
import os
import subprocess
import sys

from _common import cpu_line, fmt_ratio, fmt_time, table

WORKLOADS = [("784-128-10", 32), ("784-512-256-10", 128)]
SETUPS = ["one thread", "automatic", "quota unseen"]


def worker(sizes, batch, setup):
    """Print the median and min step time (seconds) of one setup, in this process."""
    import time

    import numpy as np

    import fastmlp
    from fastmlp import _cpus

    if setup == "quota unseen":
        _cpus.quota = lambda root="/": None
    n_threads = 1 if setup == "one thread" else None
    sizes = [int(s) for s in sizes.split("-")]
    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], batch)
    net = fastmlp.Network(sizes, seed=0)
    for _ in range(50):
        net.train_step(X, y, lr=1e-4, n_threads=n_threads)
    blocks = []
    end = time.perf_counter() + 1.2
    while time.perf_counter() < end:
        t0, n = time.perf_counter(), 0
        while time.perf_counter() - t0 < 0.05:
            net.train_step(X, y, lr=1e-4, n_threads=n_threads)
            n += 1
        blocks.append((time.perf_counter() - t0) / n)
    print(float(np.median(blocks)), min(blocks))


def make_cgroup(quota):
    """A new cgroup with `quota` CPUs of 100 ms periods: (its cgroup.procs path, its
    directory), or exit with the reason."""
    name = f"fastmlp-bench-{os.getpid()}"
    period = 100000
    for base, v2 in (("/sys/fs/cgroup", True), ("/sys/fs/cgroup/cpu", False),
                     ("/sys/fs/cgroup/cpu,cpuacct", False)):
        if v2:
            try:
                with open(os.path.join(base, "cgroup.subtree_control")) as f:
                    if "cpu" not in f.read().split():
                        continue
            except OSError:
                continue
        elif not os.path.exists(os.path.join(base, "cpu.cfs_quota_us")):
            continue
        path = os.path.join(base, name)
        try:
            os.mkdir(path)
        except OSError:
            continue
        if v2:
            settings = {"cpu.max": f"{int(quota * period)} {period}"}
        else:
            settings = {"cpu.cfs_period_us": str(period),
                        "cpu.cfs_quota_us": str(int(quota * period))}
        try:
            for file, value in settings.items():
                with open(os.path.join(path, file), "w") as f:
                    f.write(value)
        except OSError as exc:
            os.rmdir(path)
            sys.exit(f"cannot set a quota of {quota:g} CPUs in {path}: {exc}")
        return os.path.join(path, "cgroup.procs"), path
    sys.exit("cannot make a cgroup with a CPU quota here (root on Linux, a cgroup file "
             "system with the cpu controller)")


def run_in(procs, sizes, batch, setup):
    enter = f"import os; open({procs!r}, 'w').write(str(os.getpid()))"
    code = (f"{enter}\nimport sys; sys.path.insert(0, {os.path.dirname(__file__)!r})\n"
            f"import cpu_quota; cpu_quota.worker({sizes!r}, {batch}, {setup!r})")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    median, low = out.stdout.split()
    return float(median), float(low)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--quota", type=float, default=1.0, help="CPUs (default 1)")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    print(cpu_line())
    procs, path = make_cgroup(args.quota)
    print(f"cgroup {path}: quota {args.quota:g} CPUs per 100 ms period; train_step, "
          f"float32, SGD; median over {args.rounds} fresh processes per setup of each "
          "one's median block (its fastest block in brackets)")
    rows = []
    try:
        for sizes, batch in WORKLOADS:
            got = {setup: [] for setup in SETUPS}
            for r in range(args.rounds):
                order = SETUPS[r % 3:] + SETUPS[:r % 3]
                for setup in order:
                    got[setup].append(run_in(procs, sizes, batch, setup))
            med = {s: sorted(m for m, _ in got[s])[len(got[s]) // 2] for s in SETUPS}
            low = {s: min(l for _, l in got[s]) for s in SETUPS}
            rows.append([f"{sizes} b{batch}"]
                        + [f"{fmt_time(med[s])} ({fmt_time(low[s])})" for s in SETUPS]
                        + [fmt_ratio(med["automatic"] / med["one thread"]),
                           fmt_ratio(med["quota unseen"] / med["one thread"])])
            print(f"  {rows[-1][0]}: " + ", ".join(rows[-1][1:]), flush=True)
    finally:
        os.rmdir(path)
    print()
    print(table(["workload"] + SETUPS + ["automatic / one", "unseen / one"], rows,
                args.markdown, ["<", ">", ">", ">", ">", ">"]))


if __name__ == "__main__":
    main()
