"""How many cores other processes keep busy: what a large GEMM may count on.

On a 2-core machine with another process running, a 2-thread OpenBLAS call waits for
its descheduled second thread at every synchronization: an MNIST epoch took 5-8 s on
2 threads against 1.4 s on one (the issue that asked for this).  fastmlp._threads
therefore asks others() before it gives a large GEMM all of the BLAS's threads.

others() is the CPU time every other process used (Linux /proc/stat: the non-idle
time of the CPUs this process may run on, steal included, less this process's own, all
its threads) per second of wall clock since the previous sample, in cores.  A sample is taken when the last
one is older than PERIOD, so a call costs a clock read, and one call in PERIOD reads
/proc/stat (about 10 µs).  After a long pause without calls the window is long too
(an average over it, not 0).  Where /proc/stat cannot be read it is always 0.0, as is
the very first call (one sample is no measurement).  FASTMLP_LOAD_AWARE=0 turns it off.
"""
import os
import threading
import time

PERIOD = 0.2           # seconds: the shortest window, and the age of a stale estimate

_lock = threading.Lock()
_last = None           # (wall clock, its CPUs' busy seconds, this process's seconds)
_others = 0.0
_enabled = os.environ.get("FASTMLP_LOAD_AWARE", "1").strip() != "0"
try:
    _TICK = 1.0 / os.sysconf("SC_CLK_TCK")
except (AttributeError, ValueError, OSError):
    _TICK = 0.01


def others():
    """Cores' worth of CPU time other processes used over the last window."""
    global _last, _others
    if not _enabled:
        return 0.0
    now = time.monotonic()
    last = _last
    if last is not None and now - last[0] < PERIOD:
        return _others
    if not _lock.acquire(blocking=False):     # another thread is sampling
        return _others
    try:
        sample = _sample(now)
        if sample is None:
            return 0.0
        if last is not None:
            wall = now - last[0]
            _others = max(0.0, ((sample[1] - last[1]) - (sample[2] - last[2])) / wall)
        _last = sample
        return _others
    finally:
        _lock.release()


def _sample(now):
    """(now, seconds the CPUs this process may run on spent busy, seconds this process
    ran), or None.  Only those CPUs count: in a container pinned to 2 of a host's 64
    CPUs, the host's other load takes nothing from this process's threads."""
    try:
        with open("/proc/stat", "rb") as f:
            lines = f.read().split(b"\n")
    except OSError:
        return None
    mine = _cpus()
    busy, seen = 0, 0
    for line in lines[1:]:
        fields = line.split()
        if not fields or not fields[0].startswith(b"cpu"):
            break                                  # the per-CPU lines come first
        if mine is not None and int(fields[0][3:]) not in mine:
            continue
        # user nice system idle iowait irq softirq steal (guest time is already in user)
        ticks = [int(v) for v in fields[1:9]]
        busy += sum(ticks) - ticks[3] - (ticks[4] if len(ticks) > 4 else 0)
        seen += 1
    if not seen:
        return None
    own = os.times()
    return now, busy * _TICK, own.user + own.system


def _cpus():
    """The CPUs this process may run on, or None when that cannot be asked."""
    try:
        return os.sched_getaffinity(0)
    except (AttributeError, OSError):
        return None
