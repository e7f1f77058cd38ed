"""BLAS threads chosen per call: one for small GEMMs, the usual count for large ones.

fastmlp's kernels call scipy.linalg.cython_blas, i.e. scipy's own BLAS (on wheels, the
OpenBLAS bundled in scipy.libs; numpy's `@` uses a different copy).  On a 2-core
machine a second BLAS thread makes small GEMMs SLOWER (the hand-off costs more than
it saves, and with the other core busy a 2-thread GEMM waits for its descheduled
worker), while large GEMMs need every core.  So each compiled call runs with

    n_threads given by the caller, else
    1 thread when its largest GEMM has M·N·K < small_gemm(), the crossover from which
      all threads pay, by CPU vendor (bench/threads.py measures it on the running
      machine; FASTMLP_SMALL_GEMM sets it), else
    fewer threads when other processes keep some of the cores busy (fastmlp._load:
      on 2 cores, one thread once they use 0.4 cores or more), else
    the count the BLAS had before fastmlp's outermost call (all cores unless the
      user or OPENBLAS_NUM_THREADS said otherwise), at most the cores its CPU
      quota gives (fastmlp._cpus: a container limited to one CPU runs one thread).

Training steps use the same choice without the load part (fastmlp._workers.step_threads):
where it gives several threads, the BLAS runs one and fastmlp's helper threads share the
step.  The count is set only when it differs, and put back when the outermost fastmlp call
returns: the user's own scipy calls see their own setting afterwards.  Inside a call
with an explicit n_threads (e.g. fit(n_threads=2)), nested calls keep that count.
While a fastmlp call runs, other threads' scipy BLAS calls share its count (the
setting is process-wide in OpenBLAS).

The OpenBLAS symbols are found on first use with ctypes (the discovery threadpoolctl
does, reduced to the one library fastmlp uses); without them (another BLAS, another
platform) everything here does nothing.
"""
import ctypes
import glob
import math
import os
import threading

from . import _cpus, _load
from ._validation import check_size

# below small_gemm()'s M·N·K (the largest GEMM of a call), one thread.  The crossover
# bench/threads.py measures (1 thread against all, quiet machine): 2**20 on a 2-core AMD
# EPYC (Zen 3; 32x256x128 already 1.69x faster on 2 threads), 2**24 on a 2-core Intel
# Xeon (Sapphire Rapids).  Measuring it in every process was tried and dropped: on
# these virtual machines the result swung from 2**20 to 2**24 between processes.
SMALL_GEMM_BY_VENDOR = {"AuthenticAMD": 1 << 20}
DEFAULT_SMALL_GEMM = 1 << 24
SMALL_GEMM = None    # small_gemm()'s value once known
# at or below this, OpenBLAS itself runs one thread (interface/gemm.c): nothing to set
OPENBLAS_SINGLE = 65536 * 4

_lock = threading.Lock()
_api = None          # (get, set, pool size) once found; False when not found
_depth = 0           # fastmlp calls in progress (all threads)
_pinned = 0          # of which with an explicit n_threads
_outer = None        # the count before the outermost of them


def _loaded_libraries():
    """Paths of the shared libraries mapped into this process (Linux), else []."""
    try:
        with open("/proc/self/maps") as f:
            return sorted({line.split(None, 5)[5].strip() for line in f
                           if len(line.split(None, 5)) == 6 and ".so" in line})
    except OSError:
        return []


def _candidates():
    """OpenBLAS libraries that may be scipy's, scipy's own directories first."""
    import scipy.linalg.cython_blas  # noqa: F401  (loads scipy's BLAS)
    import scipy
    root = os.path.dirname(os.path.dirname(os.path.abspath(scipy.__file__)))
    bundled = (glob.glob(os.path.join(root, "scipy.libs", "*openblas*"))
               + glob.glob(os.path.join(root, "scipy", ".dylibs", "*openblas*")))
    loaded = [p for p in _loaded_libraries() if "openblas" in os.path.basename(p).lower()
              and os.path.realpath(p) not in {os.path.realpath(b) for b in bundled}]
    # a system scipy links a system OpenBLAS: the only one loaded besides numpy's
    loaded = [p for p in loaded if "numpy.libs" not in p and ".dylibs" not in p]
    return bundled + loaded


def _find():
    """(get, set, pool size) of scipy's OpenBLAS, or False."""
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("", "64_"):
                get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                put = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                if get is None or put is None:
                    continue
                get.restype, get.argtypes = ctypes.c_int, []
                put.restype, put.argtypes = None, [ctypes.c_int]
                n = get()
                if n >= 1:
                    return get, put, _pool_size(n)
    return False


def _pool_size(n_now):
    """The threads OpenBLAS started (a limit set before, e.g. by threadpoolctl, only
    lowers the count in use): its environment variable, else the usable cores.
    fastmlp never asks for more, so the pool never grows under a running call."""
    for var in ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if value.isdigit() and int(value) > 0:
            return max(n_now, int(value))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(n_now, cores or 1)


def available():
    """True when fastmlp can set the number of threads of the BLAS it uses."""
    global _api
    if _api is None:
        with _lock:
            if _api is None:
                _api = _find()
    return bool(_api)


def current():
    """The BLAS's thread count now, or None when it cannot be read."""
    return _api[0]() if available() else None


def usual():
    """The BLAS's thread count outside fastmlp's calls (the user's or the environment's
    setting, e.g. a threadpoolctl limit), or None when it cannot be read."""
    if not available():
        return None
    return _outer if _depth > 0 else _api[0]()


def automatic():
    """The count a call without n_threads starts from: an enclosing call's explicit
    count (the CLI's --threads, fit(n_threads=1)), else the BLAS's usual count (a
    user's limit, threadpoolctl or OPENBLAS_NUM_THREADS, holds); None when neither can
    be read."""
    # on every forward pass and training step: one ctypes call, no further Python
    # calls (current() and usual() spelled out: helpers() 0.33 -> 0.25 us)
    if not _api and not available():
        return None
    return _api[0]() if _pinned > 0 or _depth == 0 else _outer


def check_threads(n_threads, name="n_threads"):
    """None (automatic) or a whole number >= 1."""
    return None if n_threads is None else check_size(n_threads, name)


def choose(mnk, n_threads=None, load_aware=True):
    """The thread count for a call whose largest GEMM has M·N·K = mnk: n_threads if
    given, else 1 below small_gemm(), else None (the count before fastmlp's calls)
    unless other processes keep cores busy (then fewer; not with load_aware=False);
    and whether that choice was explicit."""
    if n_threads is not None:
        return n_threads, True
    if mnk <= OPENBLAS_SINGLE or mnk < small_gemm():
        return 1, False
    return _unshared(load_aware), False


def _unshared(load_aware=True):
    """None (the usual count) unless that is more threads than this process may keep
    busy (its CPU quota: fastmlp._cpus) or, load_aware, than other processes leave
    free of the BLAS's cores (fastmlp._load): then the threads left, at least 1."""
    if not available():
        return None
    usual_count = usual()
    want = min(usual_count, _cpus.usable())
    if load_aware:
        busy = _load.others()
        if busy >= 0.4:
            want = min(want, max(1, math.ceil(_api[2] - busy - 0.5)))
    return want if want < usual_count else None


def small_gemm():
    """The M·N·K from which a GEMM runs on all threads: FASTMLP_SMALL_GEMM if set, else
    the value for this CPU's vendor in SMALL_GEMM_BY_VENDOR (DEFAULT_SMALL_GEMM for
    others); read once."""
    global SMALL_GEMM
    if SMALL_GEMM is None:
        value = os.environ.get("FASTMLP_SMALL_GEMM", "").strip()
        SMALL_GEMM = (int(value) if value.isdigit() else
                      SMALL_GEMM_BY_VENDOR.get(_vendor(), DEFAULT_SMALL_GEMM))
    return SMALL_GEMM


def _vendor():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def enter(n, explicit=False):
    """Set the count for a call (n None: the count before fastmlp's calls); returns
    the token for leave().  Nested in an explicit call, an automatic one changes
    nothing."""
    global _depth, _pinned, _outer
    if not available():
        return None
    get, put, pool = _api
    with _lock:
        before = get()
        if _depth == 0:
            _outer = before
        _depth += 1
        _pinned += explicit
        if explicit or _pinned == 0:
            want = min(_outer if n is None else n, pool)
            if want != before:
                put(want)
        return before, explicit


def leave(token):
    """Undo enter(): the count before it, or before the outermost call when this was it."""
    global _depth, _pinned
    if token is None:
        return
    get, put, _ = _api
    before, explicit = token
    with _lock:
        _depth -= 1
        _pinned -= explicit
        want = _outer if _depth == 0 else before
        if get() != want:
            put(want)


class limit:
    """with limit(mnk, n_threads): the block runs with choose(mnk, n_threads)'s count.
    Calls whose GEMMs OpenBLAS runs on one thread anyway touch nothing."""

    __slots__ = ("n", "explicit", "token")

    def __init__(self, mnk, n_threads=None):
        self.n, self.explicit = choose(mnk, n_threads)
        self.token = None
        if not self.explicit and mnk <= OPENBLAS_SINGLE:
            self.n = False

    def __enter__(self):
        # an automatic call that keeps the count, with no fastmlp call around it (that
        # could have changed the count): nothing to set or restore
        if self.n is not False and not (self.n is None and _depth == 0):
            self.token = enter(self.n, self.explicit)
        return self

    def __exit__(self, *exc):
        leave(self.token)
        self.token = None
