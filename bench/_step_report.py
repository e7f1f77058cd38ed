"""What bench/step.py prints: the header (machine, libraries, thread pools, how the times
are taken), the main table with its targets, and the secondary tables (BLAS threads, Python
overhead, every contender's spread).
"""
import os
import platform
import statistics
import time

import numpy as np
import scipy
import scipy.linalg.blas as scipy_blas
import torch

import fastmlp

from _common import CpuMonitor, cpu_line, fmt_ratio, fmt_time, table
from _step_timing import one_blas_thread, threadpool_info


# ---------------------------------------------------------------------------
# The main table
# ---------------------------------------------------------------------------

class Report:
    """The main table: one row per (workload, ratio); times on a workload's first row."""

    HEADERS = ["workload", "fastmlp", "PyTorch", "NumPy", "GEMM floor", "ratio",
               "target", "met?"]
    ALIGN = ["<", ">", ">", ">", ">", "<", "<", "<"]

    def __init__(self):
        self.rows = []
        self.unmet = []
        self.any_contended = False

    def add(self, workload, times, checks, contended=False):
        """times: (fastmlp, torch, numpy, floor), any None or a str; checks: rows of
        (label, ratio, op, target[, "number"]) with op '>=' or '<=' and target None for
        information only (a ratio prints as 1.23×, a "number" as 1.2e-07), or a str."""
        first = True
        for chk in checks:
            cells = [workload, *(fmt_time(t) if not isinstance(t, str) else t for t in times)] \
                if first else [""] * 5
            if isinstance(chk, str):
                cells += [chk, "", ""]
            else:
                label, ratio, op, target, *kind = chk
                fmt = fmt_ratio if not kind else (lambda v: f"{v:.2g}")
                text = f"{label} = {fmt(ratio)}"
                if target is None:
                    cells += [text, "(info)", ""]
                else:
                    met = ratio >= target if op == ">=" else ratio <= target
                    goal = f"{'≥' if op == '>=' else '≤'} " + \
                        (f"{target:g}×" if not kind else fmt(target))
                    mark = "*" if contended else ""
                    cells += [text, goal, ("yes" if met else "NO") + mark]
                    if not met:
                        self.unmet.append(f"{workload}: {text} (target {goal}){mark}")
            self.rows.append(cells)
            first = False
        self.any_contended |= contended

    def render(self, markdown):
        out = table(self.HEADERS, self.rows, markdown, self.ALIGN)
        if self.any_contended:
            out += ("\n\n" if markdown else "\n") + (
                "(*) some contender had no block during which other processes were quiet "
                f"(≤ {CpuMonitor.QUIET} cores busy elsewhere): rerun on a quiet machine")
        return out


# ---------------------------------------------------------------------------
# Header
# ---------------------------------------------------------------------------

def blas_libraries():
    """threadpoolctl's view, each library tagged with who uses it."""
    if threadpool_info is None:
        return []
    out = []
    for lib in threadpool_info():
        path = lib.get("filepath", "")
        parent = os.path.basename(os.path.dirname(path))
        who = {"scipy.libs": "scipy → fastmlp", "numpy.libs": "numpy"}.get(parent, parent)
        if "torch" in path:
            who = "torch"
        out.append((who, lib.get("internal_api"), lib.get("version"),
                    lib.get("num_threads"), lib.get("architecture", ""),
                    os.path.basename(path)))
    return out


def f2py_call_overhead(cfg):
    a = np.ones((1, 1), np.float32, order="F")
    gemm = scipy_blas.sgemm
    best = float("inf")
    for _ in range(5):
        n = 20000 if not cfg.quick else 5000
        t0 = time.perf_counter()
        for _ in range(n):
            gemm(1.0, a, a, 0.0, a, 0, 0, 1)
        best = min(best, (time.perf_counter() - t0) / n)
    return best


def header(cfg, markdown):
    lines = []
    lines.append(f"fastmlp step benchmark{' (--quick)' if cfg.quick else ''}   "
                 f"{time.strftime('%Y-%m-%d %H:%M:%S')}")
    lines.append(cpu_line())
    lines.append(f"Python {platform.python_version()}; numpy {np.__version__}; scipy "
                 f"{scipy.__version__}; torch {torch.__version__}; fastmlp "
                 f"{fastmlp.__version__} ({os.path.dirname(fastmlp.__file__)})")
    lines.append(f"torch.get_num_threads() = {torch.get_num_threads()} (MKL "
                 f"{'yes' if torch.backends.mkl.is_available() else 'no'}, "
                 f"CPU capability {torch.backends.cpu.get_cpu_capability()})")
    libs = blas_libraries()
    if libs:
        lines.append("thread pools (threadpoolctl):")
        for who, api, ver, nthr, arch, fname in libs:
            lines.append(f"    {who:<16} {api:<9} {str(ver):<14} threads={nthr}  "
                         f"{('core=' + arch) if arch else '':<14} {fname}")
        with one_blas_thread():
            limited = [(l.get("internal_api"), l.get("num_threads"),
                        os.path.basename(os.path.dirname(l.get("filepath", ""))))
                       for l in threadpool_info() if l.get("user_api") == "blas"]
        lines.append("    under threadpool_limits(1, user_api='blas'): " +
                     ", ".join(f"{d} {api} threads={n}" for api, n, d in limited))
    else:
        lines.append("threadpoolctl not installed: no BLAS thread information, "
                     "no 1-thread measurements")
    lines.append(f"GEMM floor: scipy.linalg.blas.[sd]gemm (scipy's OpenBLAS, as fastmlp); f2py "
                 f"call overhead (1×1×1 sgemm) = {fmt_time(f2py_call_overhead(cfg))} per call")
    if cfg.quick:
        lines.append("--quick: a smoke run; one round per contender, ratios only indicative")
    lines.append("Times: min over interleaved rounds of each round's median per-call time "
                 f"({cfg.rounds} rounds small, {cfg.big_rounds} large). "
                 "Ratios: same run.")
    if markdown:
        return "\n".join(["```"] + lines + ["```"])
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Secondary tables
# ---------------------------------------------------------------------------

def threads_table(extras, markdown):
    rows = []
    for label, res, (k2, k1), t_torch in extras["threads"]:
        if k1 not in res:
            continue
        two, one = res[k2].best, res[k1].best
        r = max(one, two) / min(one, two)
        faster = "same (< 3%)" if r < 1.03 else \
            f"{'1 thread' if one < two else 'automatic'} by {fmt_ratio(r)}"
        rows.append([label, fmt_time(two), fmt_time(one), faster,
                     fmt_ratio(t_torch / two), fmt_ratio(t_torch / one)])
    if not rows:
        return ""
    return table(["workload", "fastmlp, automatic threads", "1 BLAS thread", "faster?",
                  "PyTorch/fastmlp automatic", "PyTorch/fastmlp 1 thread"],
                 rows, markdown, ["<", ">", ">", "<", ">", ">"])


def overhead_table(extras, markdown):
    rows = []
    for label, pub_name, pub, direct_name, direct in extras["overhead"]:
        extra = pub - direct
        rows.append([label, f"{pub_name} {fmt_time(pub)}", f"{direct_name} {fmt_time(direct)}",
                     fmt_time(extra) if extra > 0 else "below noise",
                     f"{100 * extra / pub:.0f}%" if extra > 0 else "—"])
    return table(["workload", "public call", "compiled call alone", "Python overhead",
                  "share of public call"], rows, markdown, ["<", "<", "<", ">", ">"])


def details_table(extras, markdown):
    rows = []
    for label, res in extras["details"]:
        for key, c in res.items():
            rows.append([label, key, fmt_time(c.best), fmt_time(c.median),
                         f"{max(c.blocks) / min(c.blocks):.2f}",
                         f"{len(c.quiet_blocks)}/{len(c.blocks)}",
                         f"{statistics.median(c.loads):.2f}", str(c.n_inner)])
    return table(["workload", "contender", "min (quiet)", "median", "max/min", "quiet rounds",
                  "other CPU", "calls/sample"],
                 rows, markdown, ["<", "<", ">", ">", ">", ">", ">", ">"])
