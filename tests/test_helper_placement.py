"""A helper thread on its caller's CPU moves off it (csrc/workers.h, fm_leave_cpu).

Linux at times placed a woken helper on the CPU of the thread that woke it and left it
there, waiting for that CPU, while the other core idled: passes shared with it ran at
one-thread speed.  The helper now notices and moves itself to another of its CPUs."""
import os
import sys
import threading
import time

import numpy as np
import pytest

import fastmlp
from fastmlp import _kernels, _workers

LINUX_AFFINITY = sys.platform.startswith("linux") and hasattr(os, "sched_setaffinity")
pytestmark = pytest.mark.skipif(not LINUX_AFFINITY or not _kernels.HAVE_HELPERS,
                                reason="needs Linux CPU affinity and helper threads")


def _last_cpu(tid):
    """The CPU thread `tid` of this process last ran on (/proc, field 39)."""
    with open(f"/proc/self/task/{tid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[36])


def test_leave_cpu_moves_the_thread_and_keeps_its_cpu_set():
    mask = os.sched_getaffinity(0)
    before, after = _kernels.leave_cpu()
    assert before in mask and after in mask
    if len(mask) >= 2:
        assert after != before
    assert os.sched_getaffinity(0) == mask


def test_leave_cpu_stays_where_the_thread_may_run_on_one_cpu_only():
    mask = os.sched_getaffinity(0)
    cpu = _kernels.leave_cpu()[1]
    os.sched_setaffinity(0, {cpu})
    try:
        assert _kernels.leave_cpu() == (cpu, cpu)
        assert os.sched_getaffinity(0) == {cpu}
    finally:
        os.sched_setaffinity(0, mask)


@pytest.mark.skipif(_workers.usable_cores() < 2, reason="one core")
def test_helpers_put_on_their_callers_cpu_move_off_it_and_share_the_passes():
    """The caller pinned to one CPU, every helper moved there too (its CPU set then
    restored): passes shared with a helper soon run it elsewhere, and it takes
    chunks.  (The deadline only bounds a failure: jobs after a late helper in an
    earlier test run alone for up to a second, workers.h.)"""
    net = fastmlp.Network([784, 512, 256, 10], seed=0)
    X = np.random.default_rng(0).standard_normal((64, 784)).astype(np.float32)
    net.predict_proba(X, n_threads=2)
    helpers = [t for t in threading.enumerate() if t.name.startswith("fastmlp-helper-")]
    mask = os.sched_getaffinity(0)
    cpu = _kernels.leave_cpu()[1]
    os.sched_setaffinity(0, {cpu})
    try:
        for helper in helpers:
            os.sched_setaffinity(helper.native_id, {cpu})
            os.sched_setaffinity(helper.native_id, mask)    # (it may leave at once)
        before = _kernels.helper_counts()
        deadline = time.monotonic() + 5
        while True:
            for _ in range(10):
                net.predict_proba(X, n_threads=2)
            elsewhere = [t for t in helpers if _last_cpu(t.native_id) != cpu]
            helped = _kernels.helper_counts()["helped"] - before["helped"]
            if (elsewhere and helped > 0) or time.monotonic() > deadline:
                break
        assert elsewhere and helped > 0
    finally:
        os.sched_setaffinity(0, mask)
