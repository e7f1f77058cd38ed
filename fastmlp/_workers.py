"""Helper threads for the forward pass and the training step (csrc/workers.h,
_parallel_forward.pxi, _parallel_train.pxi, _optim_shared.pxi).

forward/predict/predict_proba share their work between the calling thread and up to
`helpers(n_threads)` helper threads, every BLAS call inside running on one thread: the
batch is cut into row blocks, or (few rows) each layer's output columns, and whichever
thread is free takes the next block.  A helper that is asleep or descheduled simply
takes nothing, so a busy machine runs the pass at one-thread speed, never slower; a
helper that finds itself on its caller's CPU moves to another (csrc/workers.h).
A training step large enough for several threads (step_threads) shares each large GEMM
and the optimizer update the same way, in place of OpenBLAS's own threads.

The helpers are started on first use (one fewer than the usable cores, at most
MAX_HELPERS), live without the GIL, spin for a moment after each pass, poll with growing
sleeps, and after 20 ms without a job sleep until a pass wakes them (csrc/workers.h).
A forked child starts its own; they stop at exit.
"""
import atexit
import contextlib
import os
import threading

from . import _cpus, _kernels, _threads

MAX_HELPERS = 15
_HAVE_HELPERS = _kernels.HAVE_HELPERS

_lock = threading.Lock()
_started = 0
_cores = None       # usable_cores() once read
_cpus_max = None    # the CPUs this process may run on, once read
UNCHANGED = contextlib.nullcontext()      # a context that sets nothing (reusable)


def usable_cores():
    """The cores this process may keep busy: its CPUs, at most its cgroup's CPU quota
    (fastmlp._cpus; read once, and again in a forked child)."""
    global _cores, _cpus_max
    if _cores is None:
        _cores, _cpus_max = _cpus.usable(), _cpus.cpus()
    return _cores


def helpers(n_threads=None):
    """How many helper threads may take part in a forward pass: n_threads - 1 if
    given, else the thread count of an enclosing call that fixed one (fit(n_threads=1)
    keeps its evaluations on one thread), else the BLAS's usual count less one (a
    user's limit, OPENBLAS_NUM_THREADS=1 or threadpoolctl, as in the Dask workers,
    keeps the pass on one thread), else every usable core but this one; never more
    threads than usable cores (fastmlp._cpus: a CPU quota counts), or than CPUs for
    a count given."""
    # on every forward pass: comparisons, not min() (0.55 -> 0.36 us a call)
    cores = _cores or usable_cores()
    if n_threads is None:
        n_threads = _threads.automatic() or cores
    else:
        cores = _cpus_max
    want = (n_threads if n_threads < cores else cores) - 1
    if want <= 0 or not _HAVE_HELPERS:
        return 0
    if want > MAX_HELPERS:
        want = MAX_HELPERS
    if _started < want:
        _start(want)
    return want if want <= _started else _started


def blas_threads(plan, rows, width, helpers, n_threads=None):
    """The BLAS thread count for an inference forward pass of `rows` rows through
    `plan`, whose widest weight matrix has `width` elements (a context): nothing is
    set when OpenBLAS would run every BLAS call of the pass on one thread by itself
    (fastmlp's own GEMM serves the layers, Plan.forward_calls_blas); with helpers
    sharing the pass, each BLAS call in it runs on one thread."""
    mnk = rows * width
    if not plan.forward_calls_blas(rows):
        return UNCHANGED
    if not helpers:
        return _threads.limit(mnk, n_threads)
    if mnk <= _threads.OPENBLAS_SINGLE:
        return UNCHANGED
    return _threads.limit(mnk, 1)


class _OneThreadStep:
    """The threads of a step whose GEMMs OpenBLAS runs on one thread by itself: no
    helpers, nothing to set (stateless, shared by every such step)."""

    __slots__ = ()
    helpers = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


_ONE_THREAD_STEP = _OneThreadStep()


def step_threads(mnk, n_threads=None, plan=None, rows=0):
    """with step_threads(mnk, n_threads) as s: s.helpers, the helper threads sharing
    each training step whose largest GEMM has M·N·K = mnk (_StepThreads).  A step of
    GEMMs OpenBLAS runs on one thread anyway, its count not asked for, gets a shared
    context that sets nothing (its `with` 0.83 -> 0.26 us; 2-3-2 train_step 3.6 -> 2.2 us).
    So does such a step asked for one thread (n_threads=1) on two rows or more (a
    step of one row takes GEMVs, which OpenBLAS threads by other sizes): setting the
    count and back cost 3.3 us (8-32-2, batch 128: train_step 12.5 -> 9.8 us, the
    compiled step 7.5).  With the Plan and the steps' rows, a step shared with helpers
    whose BLAS calls OpenBLAS would all run on one thread (Plan.step_calls_blas, asked
    only then) leaves the BLAS's count alone."""
    if (mnk <= _threads.OPENBLAS_SINGLE and _threads.available()
            and (n_threads is None or n_threads == 1 and rows >= 2)):
        return _ONE_THREAD_STEP
    return _StepThreads(mnk, n_threads, plan, rows)


class _StepThreads:
    """with _StepThreads(mnk, n_threads) as s: the threads of training steps whose
    largest GEMM has M·N·K = mnk.  Where the BLAS would run several threads
    (fastmlp._threads.choose: n_threads above 1, or a step large enough while the
    BLAS's usual count is above 1; whatever the load elsewhere), s.helpers helper
    threads share each large GEMM and the optimizer update instead, the BLAS set to
    one thread (unless plan.step_calls_blas(rows) is False: no call it would split);
    else s.helpers is 0 and the BLAS runs the count choose() gives.
    OpenBLAS's idle worker spins on the second core after each GEMM, through the
    update and the Python between steps; a helper that shares the GEMMs also shares
    the update.  bench/shared_step.py times both (AMD EPYC Zen 4,
    OpenBLAS / shared: 1.16x to 1.38x on six workloads, 784-512-256-10 batch 128 with
    Adam 2.06 / 1.70 ms)."""

    __slots__ = ("helpers", "_blas")

    def __init__(self, mnk, n_threads=None, plan=None, rows=0):
        # not load-aware: a helper that other processes deschedule takes fewer blocks
        # (workers.h), where an OpenBLAS worker held up the whole GEMM
        n, _ = _threads.choose(mnk, n_threads, load_aware=False)
        if n is None:   # a user's threadpoolctl limit of 1 keeps the step on one thread
            n = _threads.automatic()
        self.helpers = helpers(n) if n is not None and n > 1 else 0
        if not self.helpers and not _threads.available():
            # the BLAS keeps threads fastmlp cannot set: unshared steps leave it the GEMMs
            _kernels.own_kernels_unshared(False)
        if (self.helpers and n_threads is None and plan is not None
                and not plan.step_calls_blas(rows)):
            # every BLAS call of the step runs on one thread anyway: setting the count
            # to 1 and back cost 2.2 us a step (784-128-10, batch 32: about 3% of it)
            self._blas = UNCHANGED
        else:
            self._blas = _threads.limit(mnk, 1 if self.helpers else n_threads)

    def __enter__(self):
        self._blas.__enter__()
        return self

    def __exit__(self, *exc):
        self._blas.__exit__(*exc)


def _start(count):
    global _started
    with _lock:
        while _started < count:
            threading.Thread(target=_kernels.helper_main, name=f"fastmlp-helper-{_started}",
                             daemon=True).start()
            _started += 1


def _after_fork_in_child():
    global _started, _lock, _cores, _cpus_max
    _lock = threading.Lock()
    _started = 0
    _cores = _cpus_max = None
    _cpus.forget()
    _kernels.reset_helpers()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_kernels.stop_helpers)
