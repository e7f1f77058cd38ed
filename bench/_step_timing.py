"""How often bench/step.py times a contender: the repeat counts and pauses of a full or
--quick run, one interleaved measurement of the small workloads, and the 1-BLAS-thread limit.

Not a benchmark itself; imported by bench/step.py and its _step_* modules.
"""
try:
    from threadpoolctl import threadpool_info, threadpool_limits
except ImportError:            # optional: without it, no 1-thread measurements
    threadpool_info = threadpool_limits = None

from _common import measure


# ---------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------

class Config:
    def __init__(self, quick):
        self.quick = quick
        # small workloads: interleaved rounds of blocks
        self.rounds = 1 if quick else 9
        self.samples = 3 if quick else 5
        self.sample_s = 0.002 if quick else 0.004
        self.warm_s = 0.004
        # pause before every block: longer than OpenBLAS's idle-worker spin (~0.1 s), so
        # no other library's pool is still busy-waiting on the second core (see measure)
        self.settle = 0.1 if quick else 0.12
        # the large workload
        self.big_rounds = 1 if quick else 5
        self.big_settle = 0.15
        self.big_numpy = not quick
        # gradients
        self.numgrad_reps = 1 if quick else 3
        self.naive_params = 50 if quick else 200


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------

def run_small(cfg, contenders):
    return measure(contenders, cfg.rounds, cfg.samples, cfg.sample_s, cfg.warm_s, cfg.settle)


def one_blas_thread():
    return threadpool_limits(limits=1, user_api="blas")
