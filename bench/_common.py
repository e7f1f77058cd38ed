"""Helpers shared by the benchmark scripts bench/step.py (and its _step_*.py modules),
bench/invert.py and bench/mnist.py (and its _mnist*.py modules).

Not a benchmark itself.  The scripts run as ``python bench/X.py``, so this directory is
``sys.path[0]`` and they import it as ``from _common import ...``.  It needs only the
standard library (bench/mnist.py's workers import it without numpy's heavier friends).
"""
import gc
import os
import platform
import statistics
import sys
import time
from contextlib import nullcontext


# ---------------------------------------------------------------------------
# Other processes' CPU use
# ---------------------------------------------------------------------------

class CpuMonitor:
    """CPU time used by OTHER processes (and the hypervisor's steal), in cores, from
    /proc/stat minus this process's own CPU time (with ``children=True`` also minus that
    of its waited-for children).  Resolution: one clock tick (10 ms)."""

    QUIET = 0.25          # "quiet": others used at most this many cores

    def __init__(self, children=False):
        self.children = children
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.ok = os.path.exists("/proc/stat")

    def snapshot(self):
        t = os.times()
        busy = 0.0
        if self.ok:
            with open("/proc/stat") as f:
                v = [int(x) for x in f.readline().split()[1:9]]
            busy = (sum(v) - v[3] - v[4]) / self.tick      # all but idle and iowait
        own = t.user + t.system
        if self.children:
            own += t.children_user + t.children_system
        return time.perf_counter(), busy, own

    @staticmethod
    def foreign(a, b):
        wall = b[0] - a[0]
        return max(0.0, (b[1] - a[1]) - (b[2] - a[2])) / wall if wall > 0 else 0.0

    def sample(self, seconds=0.5):
        a = self.snapshot()
        time.sleep(seconds)
        return self.foreign(a, self.snapshot())


MONITOR = CpuMonitor()


def one_thread_start(doc, argv, torch):
    """The start of the one-thread scripts: usage if asked; PyTorch (if there is one)
    on one thread; the CPU line and PyTorch's version printed.  (quick, markdown)."""
    usage_if_asked(doc, argv)
    if torch is not None:
        torch.set_num_threads(1)
    print(cpu_line())
    if torch is not None:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} thread")
    return "--quick" in argv, "--markdown" in argv


def usage_if_asked(doc, argv=None):
    """For the scripts that read their few options by hand: with -h or --help, print
    the script's docstring and exit instead of running the benchmark."""
    argv = sys.argv[1:] if argv is None else argv
    if "-h" in argv or "--help" in argv:
        print(doc.strip())
        raise SystemExit(0)


def wait_for_quiet(max_wait, monitor=None, first=0.5, interval=0.5):
    """Sleep until other processes use ≤ QUIET cores (sampled over `first` s, then every
    `interval` s), for at most about max_wait s.  Returns (seconds waited, last sample)."""
    monitor = monitor or MONITOR
    t0 = time.perf_counter()
    load = monitor.sample(first)
    while load > monitor.QUIET and time.perf_counter() - t0 < max_wait:
        load = monitor.sample(interval)
    return time.perf_counter() - t0, load


# ---------------------------------------------------------------------------
# Timing: interleaved rounds of blocks
# ---------------------------------------------------------------------------

class Contender:
    """A callable to time; `ctx`, if given, makes the context manager a block runs in."""

    def __init__(self, key, fn, ctx=None):
        self.key, self.fn, self.ctx = key, fn, ctx
        self.n_inner = 1
        self.blocks = []          # seconds per call, one per round
        self.loads = []           # other processes' CPU use (cores) during each block

    def context(self):
        return self.ctx() if self.ctx is not None else nullcontext()

    @property
    def quiet_blocks(self):
        return [b for b, l in zip(self.blocks, self.loads) if l <= CpuMonitor.QUIET]

    @property
    def contended(self):
        """No block ran while the other processes were quiet."""
        return not self.quiet_blocks

    @property
    def best(self):
        """Min over the quiet blocks (over all blocks if none was quiet)."""
        return min(self.quiet_blocks or self.blocks)

    @property
    def median(self):
        return statistics.median(self.blocks)


def contended(res):
    """Some contender of a measure() result had no quiet block."""
    return any(c.contended for c in res.values())


def _calls_for(fn, seconds, at_least=1):
    """Call fn repeatedly for about `seconds` (and at least `at_least` times)."""
    n, t0 = 0, time.perf_counter()
    while n < at_least or time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    return n, time.perf_counter() - t0


def measure(contenders, rounds, samples, sample_s, warm_s, settle, warm_calls=0,
            calibrate=True):
    """Interleaved rounds of blocks; fills each contender's .blocks (seconds per call)
    and .loads (other processes' CPU use, cores).  Returns {key: contender}.

    Every round visits every contender, the order rotated from round to round.  A block:
    `settle` s of sleep, then (gc off, inside the contender's context) warm-up calls for
    `warm_s` s (at least 2) if warm_s, `warm_calls` more untimed calls, then `samples`
    timed samples of n_inner back-to-back calls; the block's value is the median per-call
    time.  With `calibrate`, each contender first gets one untimed call (after a settle;
    plus warm_s of calls if warm_s) that sets n_inner so a sample lasts about `sample_s`
    (at least 1 call); without, n_inner stays 1.

    The settle matters: without it, the first ~0.1 s of a block can be wrecked by the
    PREVIOUS contender's thread pool: e.g. right after numpy's own OpenBLAS ran a 2-thread
    GEMM, its idle worker keeps spinning on the second core and each fastmlp 784-128-10
    step (scipy's OpenBLAS, 2 threads) took ~20-45 ms instead of ~0.2 ms (measured here).
    """
    if calibrate:
        for c in contenders:                               # warm up and calibrate
            time.sleep(settle)
            with c.context():
                t0 = time.perf_counter()
                c.fn()
                n, dt = 1, time.perf_counter() - t0
                if warm_s:
                    n, dt = _calls_for(c.fn, max(warm_s, 2 * sample_s))
            c.n_inner = max(1, int(round(sample_s / (dt / n))))
    gc_was = gc.isenabled()
    try:
        for r in range(rounds):
            order = contenders[r % len(contenders):] + contenders[:r % len(contenders)]
            for c in order:
                start = MONITOR.snapshot()
                if settle:
                    time.sleep(settle)
                gc.disable()
                fn, n_inner = c.fn, c.n_inner
                per_call = []
                with c.context():
                    if warm_s:
                        _calls_for(fn, warm_s, at_least=2)
                    for _ in range(warm_calls):
                        fn()
                    for _ in range(samples):
                        t0 = time.perf_counter()
                        for _ in range(n_inner):
                            fn()
                        per_call.append((time.perf_counter() - t0) / n_inner)
                gc.enable()
                c.blocks.append(statistics.median(per_call))
                c.loads.append(MONITOR.foreign(start, MONITOR.snapshot()))
    finally:
        if gc_was:
            gc.enable()
    return {c.key: c for c in contenders}


# ---------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------

def fmt_time(t):
    if t is None:
        return "—"
    if t < 1e-3:
        return f"{t * 1e6:.3g} µs"
    if t < 1.0:
        return f"{t * 1e3:.3g} ms"
    return f"{t:.3g} s"


def fmt_s(t):
    """Seconds with 2 decimals (none from 100 s on)."""
    return f"{t:.2f} s" if t < 100 else f"{t:.0f} s"


def fmt_ratio(r, fine=True):
    """1.053×, 4.21×, 12.3×, 1,234×; fine=False: always 2 decimals below 10 (1.05×),
    1 from 10 on, no thousands format."""
    if fine:
        if r >= 100:
            return f"{r:,.0f}×"
        if r < 2:
            return f"{r:.3f}×"          # enough digits to see 1.053 > 1.05
    return f"{r:.2f}×" if r < 10 else f"{r:.1f}×"


def table(headers, rows, markdown, align=None):
    """rows: lists of strings.  align: per column '<' or '>'."""
    align = align or ["<"] * len(headers)
    if markdown:
        out = ["| " + " | ".join(headers) + " |",
               "|" + "|".join("---:" if a == ">" else "---" for a in align) + "|"]
        out += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(out)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells):
        return "  ".join(f"{c:{a}{w}}" for c, a, w in zip(cells, align, widths)).rstrip()
    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), sep] + [line(r) for r in rows])


def section(title, body, markdown):
    """Print a titled block (bold title and a blank line in Markdown)."""
    print()
    print(f"**{title}**" if markdown else title)
    if markdown:
        print()
    print(body)


# ---------------------------------------------------------------------------
# The machine
# ---------------------------------------------------------------------------

def cpu_model(simd=True):
    """The CPU's model name; with `simd`, followed by its AVX2 / FMA / AVX-512F flags."""
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
    except OSError:
        return platform.processor() or "unknown"
    model = next((l.split(":", 1)[1].strip() for l in info.splitlines()
                  if l.startswith("model name")), "unknown")
    if not simd:
        return model
    flags = next((l.split(":", 1)[1].split() for l in info.splitlines()
                  if l.startswith("flags")), [])
    found = [f for f in ("avx2", "fma", "avx512f") if f in flags]
    return f"{model} ({', '.join(found) or 'no AVX2'})"


def cpu_line(monitor=None, simd=True, blas=True):
    """The header's "CPU: ..." line: model, core counts, load, other processes' use now;
    with `blas`, a second line: blas_line()."""
    monitor = monitor or MONITOR
    from fastmlp import _cpus
    aff = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    quota = _cpus.quota()
    usable = f"usable = {aff}" + ("" if quota is None else
                                  f", CPU quota {quota:g} (fastmlp uses {_cpus.usable()})")
    line = (f"CPU: {cpu_model(simd)}; os.cpu_count() = {os.cpu_count()}, {usable}"
            f"{smt_note()}; load average {os.getloadavg()[0]:.2f}; other processes now "
            f"use {monitor.sample():.2f} cores")
    return f"{line}\n{blas_line()}" if blas else line


def smt_note():
    """", N physical cores (SMT siblings)" when some of this process's CPUs are hardware
    threads of one core, as the kernel reports them (a VM whose vCPUs are hyperthreads
    of one core runs two compute-bound threads little faster than one); else ""."""
    if not hasattr(os, "sched_getaffinity"):
        return ""
    cores = set()
    mask = os.sched_getaffinity(0)
    for cpu in mask:
        try:
            with open(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list") as f:
                cores.add(f.read().strip())
        except OSError:
            return ""
    k = len(cores)
    return f", {k} physical core{'s' if k > 1 else ''} (SMT siblings)" if k < len(mask) else ""


def blas_line():
    """fastmlp's BLAS (scipy's OpenBLAS): the core type it picked, its thread pool, and
    fastmlp's rule for one thread (imports fastmlp and threadpoolctl only when called)."""
    try:
        from fastmlp import _kernels, _threads
        pool = _threads._api[2] if _threads.available() else "?"
        rule = f"one thread below M·N·K = {_threads.small_gemm():,} (fastmlp._threads)"
        isa = _kernels.own_isa()
        own = (f"fastmlp's own float32 GEMMs: {isa or 'none on this CPU'}"
               + (f" (FASTMLP_ISA={isa})" if os.environ.get("FASTMLP_ISA") else ""))
    except ImportError:
        pool, rule, own = "?", "fastmlp not importable", ""
    try:
        from threadpoolctl import threadpool_info
        libs = [lib for lib in threadpool_info() if "scipy" in lib.get("filepath", "")]
    except ImportError:
        libs = []
    core = libs[0].get("architecture", "?") if libs else "? (threadpoolctl not installed)"
    return (f"BLAS: scipy's OpenBLAS, core {core}, pool of {pool} threads, {rule}; "
            f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}"
            + (f"\n{own}" if own else ""))
