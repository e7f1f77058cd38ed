"""Names and helpers shared by bench/mnist.py and its modules: the contenders, the epoch
counts, the CPU monitor, the measurements a worker takes and the parent's run of one worker.

Not a benchmark itself; imported as ``from _mnist import ...`` (like _common.py).  It needs
only numpy and the standard library, so a worker imports no other contender's library.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from _common import CpuMonitor, wait_for_quiet

CONTENDERS = ("fastmlp", "torch", "sklearn")
LABELS = {"fastmlp": "fastmlp", "torch": "PyTorch loop", "sklearn": "scikit-learn",
          "best": "fastmlp best-of-2min"}
DATASET = "MNIST-24k"
EPOCHS = 10
QUICK_EPOCHS = 2

QUIET = CpuMonitor.QUIET    # other processes' CPU (cores) below which a run is "quiet"
# the script a worker subprocess runs (with --worker)
SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mnist.py")


# ---------------------------------------------------------------------------
# Measurements inside a worker
# ---------------------------------------------------------------------------

def rss_now_mb():
    """The current resident set size (VmRSS), MB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def peak_rss_mb():
    import resource
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform.startswith("linux") else kb / 2 ** 20   # macOS: bytes


MONITOR = CpuMonitor(children=True)    # the parent also counts its waited-for workers


def load_cached(cache):
    cache = Path(cache)
    return tuple(np.load(cache / f"{k}.npy") for k in ("X", "y", "Xt", "yt"))


def thread_info():
    """The worker's thread pools, after the measurements (threadpoolctl is optional)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return ""
    out = []
    for lib in threadpool_info():
        parent = os.path.basename(os.path.dirname(lib.get("filepath", "")))
        who = {"scipy.libs": "scipy", "numpy.libs": "numpy"}.get(parent, parent)
        out.append(f"{who} {lib.get('internal_api')} {lib.get('num_threads')}t")
    return ", ".join(out)


# ---------------------------------------------------------------------------
# The parent: one worker subprocess
# ---------------------------------------------------------------------------

def run_worker(name, cache, epochs, seed, max_wait, budget=None, recipe=None,
               stream_stderr=False):
    """Wait for a quiet machine (up to max_wait s), then run one worker subprocess."""
    waited, quiet_now = wait_for_quiet(max_wait, MONITOR, first=0.5, interval=1.0)
    cmd = [sys.executable, SCRIPT, "--worker", name, "--cache", str(cache),
           "--epochs", str(epochs), "--seed", str(seed)]
    if budget is not None:
        cmd += ["--budget", str(budget)]
    if recipe:
        cmd += ["--recipe", json.dumps(recipe)]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE,
                          stderr=None if stream_stderr else subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr or "")
        sys.exit(f"error: the {name} worker failed (exit code {proc.returncode})")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["waited"] = waited
    res["before"] = quiet_now
    return res


# -- formatting (the rest is in _common.py) -----------------------------------

def fmt_mb(m):
    return f"{m:.0f} MB"
