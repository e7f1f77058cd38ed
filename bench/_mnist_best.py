"""bench/mnist.py --best-of-2min: the recipe, its training run inside a worker process, and
the report the parent prints.

The best MNIST-24k test accuracy ONE fastmlp network (no ensembles) reaches within 120 s
of training wall time on this machine, with the recipe in BEST_RECIPE below (printed with
the result): 784-512-256-10 ReLU, AdamW (lr 1e-3, decoupled weight decay 0.05 on the
weights), a cosine schedule down to 0, batch 128, and every epoch a fresh copy of the
training images each shifted by a random (dx, dy) in -2..2 px, trained with
``net.fit(X_shifted, y, epochs=1, optimizer=opt)`` on the same AdamW object (its moments
and step count persist).  The wall clock covers everything done to train: the shifts and
every fit call.  Time is checked between epochs: an epoch starts only if it is expected
(the slowest of the last 3 epochs, + 5%) to end within the budget (~190 epochs fit on a
quiet machine, fewer on a busy one).  The cosine schedule runs in wall-clock time,
lr · ½(1 + cos(π · elapsed / 120 s)), so the rate reaches ~0 as the budget runs out
however many epochs fitted.  (A step-count cosine whose horizon was re-planned after
every epoch from the epoch times was tried first: one slow epoch under contention
shrank the plan and made the rate jump down and back up.)

How the recipe was chosen: on a VALIDATION split of the training images (trained on the
first 20,000, validated on the last 4,345; the test set played no part), each with a fixed
number of epochs, about what fits in 120 s at this machine's quiet speed (for
784-512-256-10 and 784-2048-2048-10 somewhat fewer: ~140 and ~15 fit), so that
contention could not change the outcome (the cosine there was over the fixed number
of updates):

    network            shift  AdamW (cosine schedule)       epochs  validation accuracy
    784-1024-1024-10   none   lr 1e-3, wd 1e-4                  33  97.15%
    784-1024-1024-10   ±1 px  lr 1e-3, wd 1e-4                  33  98.55%
    784-1024-1024-10   ±2 px  lr 1e-3, wd 1e-4                  33  98.64%
    784-1024-1024-10   ±2 px  lr 1e-3, wd 0.05                  35  98.80%
    784-2048-2048-10   ±2 px  lr 1e-3, wd 0.05                  11  98.30%
    784-1024-512-10    ±2 px  lr 1e-3, wd 1e-4                  55  98.76%
    784-512-256-10     ±2 px  lr 1e-3, wd 1e-4                 110  98.85%
    784-512-256-10     ±2 px  lr 2e-3, wd 1e-4                 110  98.83%
    784-512-256-10     ±2 px  lr 1e-3, wd 0.05                 110  98.92% (seed 1: 98.80%)
    784-512-256-10     ±3 px  lr 1e-3, wd 0.05                 110  98.96% (seed 1: 98.80%)
    784-512-256-10     ±2 px  lr 1e-3, wd 0.05, batch 64        75  98.83%
    784-512-256-10     ±2 px  lr 1e-3, wd 0.05, standardized   110  98.62%

Augmentation is what matters (+1.5 points).  Within the same time, the small net trained
for many epochs did at least as well as the wide ones trained for few, and it is the
benchmark's own architecture; weight decay 0.05 vs 1e-4, lr, batch size and ±2 vs ±3 px
differ by about the seed-to-seed spread (~0.1 point).  Of the two best (mean
98.86% for ±2 px, 98.88% for ±3 px over 2 seeds: a tie) the recipe keeps the milder ±2 px.
Standardizing the inputs hurt.  The reported run trains on all 24,345 images.
"""
import math
import os
import sys
import time

import numpy as np

from _common import section, table
from _mnist import DATASET, MONITOR, QUIET, fmt_mb, peak_rss_mb, rss_now_mb, run_worker

TARGET_BEST = 0.980         # --best-of-2min test accuracy
BUDGET = 120.0              # --best-of-2min training budget, seconds of wall clock

# The --best-of-2min recipe (see the module docstring and the printed report).
BEST_RECIPE = {
    "sizes": [784, 512, 256, 10],
    "activation": "relu",
    "batch_size": 128,
    "optimizer": "AdamW",
    "lr": 1e-3,
    "weight_decay": 0.05,
    "schedule": "cosine",          # in wall-clock time over the budget (WallClockCosine)
    "min_factor": 0.0,
    "shift": 2,                    # random shifts of -shift..+shift px in x and y, per epoch
    "standardize": False,
    "seed": 0,
}


# -- the training run, inside a worker ----------------------------------------

class Shifter:
    """Random shifts of 28x28 images: each image moved by its own (dx, dy) drawn from
    -shift..shift (zero fill), into one reused output buffer.  The zero-padded images
    are made once; a shift is then 25 (for shift 2) fancy-index copies, ~0.05 s for
    24k images."""

    def __init__(self, X, shift):
        n, s = X.shape[0], shift
        self.n, self.s = n, s
        self.padded = np.zeros((n, 28 + 2 * s, 28 + 2 * s), X.dtype)
        self.padded[:, s:s + 28, s:s + 28] = X.reshape(n, 28, 28)
        self.out = np.empty((n, 28, 28), X.dtype)
        self.out.fill(0)              # touch the pages now, not in the first timed epoch

    def __call__(self, rng):
        n, s, k = self.n, self.s, 2 * self.s + 1
        dx = rng.integers(-s, s + 1, n)
        dy = rng.integers(-s, s + 1, n)
        code = (dy + s) * k + (dx + s)
        order = np.argsort(code, kind="stable")
        bounds = np.searchsorted(code[order], np.arange(k * k + 1))
        for c in range(k * k):
            idx = order[bounds[c]:bounds[c + 1]]
            if idx.size:
                oy, ox = divmod(c, k)       # the content moves by (oy - s, ox - s)
                self.out[idx] = self.padded[idx, 2 * s - oy:2 * s - oy + 28,
                                            2 * s - ox:2 * s - ox + 28]
        return self.out.reshape(n, 784)


class WallClockCosine:
    """A learning-rate schedule in wall-clock time: the factor ½(1 + cos(π·e/budget)),
    e the seconds since start() (min_factor added below it), whatever the step count.
    So the rate reaches its floor when the time budget runs out, however many updates
    fitted (fewer on a busy machine), with no re-planning of a step horizon."""

    def __init__(self, budget, min_factor=0.0):
        self.budget, self.min_factor = float(budget), float(min_factor)
        self.t0 = None

    def start(self):
        self.t0 = time.perf_counter()

    def __call__(self, t):
        if self.t0 is None:
            return 1.0
        progress = min(1.0, (time.perf_counter() - self.t0) / self.budget)
        return self.min_factor + (1 - self.min_factor) * 0.5 * (1 + math.cos(math.pi * progress))

    def __repr__(self):
        return f"WallClockCosine(budget={self.budget}, min_factor={self.min_factor})"


def train_best(X, y, Xt, yt, recipe, budget, progress=True):
    """One network, trained epoch by epoch on freshly shifted copies of X until the
    next epoch would end past `budget` seconds of wall clock."""
    import fastmlp
    from fastmlp import optim
    rss = [rss_now_mb(), peak_rss_mb()]
    r = recipe
    rng = np.random.default_rng(r["seed"])
    net = fastmlp.Network(r["sizes"], activation=r["activation"], loss="cross_entropy",
                          seed=r["seed"])
    if r["standardize"]:
        net.scaler = fastmlp.preprocessing.Standardizer.fit(X)
    schedule = WallClockCosine(budget, r["min_factor"]) if r["schedule"] == "cosine" \
        else None
    cls = {"AdamW": optim.AdamW, "Adam": optim.Adam}[r["optimizer"]]
    opt = cls(lr=r["lr"], weight_decay=r["weight_decay"], schedule=schedule)
    shifter = Shifter(X, r["shift"]) if r["shift"] else None
    rss.append(rss_now_mb())
    log = []
    mon = MONITOR.snapshot()
    t0 = time.perf_counter()
    if schedule is not None:
        schedule.start()
    while True:
        elapsed = time.perf_counter() - t0
        if log:
            # the slowest of the last 3 epochs, + 5%, predicts the next one
            est = 1.05 * max(e["seconds"] for e in log[-3:])
            if elapsed + est > budget:
                break
        e0 = time.perf_counter()
        lr_now = opt.current_lr
        Xe = shifter(rng) if shifter else X
        t_aug = time.perf_counter() - e0
        h = net.fit(Xe, y, epochs=1, batch_size=r["batch_size"], optimizer=opt,
                    seed=int(rng.integers(2 ** 31)), standardize=False)
        e1 = time.perf_counter()
        log.append(dict(epoch=len(log) + 1, seconds=e1 - e0, aug=t_aug, lr=lr_now,
                        loss=float(h["loss"][0]), elapsed=e1 - t0))
        if progress and (len(log) % 10 == 0 or len(log) == 1):
            print(f"  epoch {len(log):3d}  {e1 - e0:5.2f} s (shift {t_aug:.3f} s)  "
                  f"lr {lr_now:.2e}  loss {log[-1]['loss']:.4f}  elapsed {e1 - t0:6.1f} s",
                  file=sys.stderr, flush=True)
    seconds = time.perf_counter() - t0
    others = MONITOR.foreign(mon, MONITOR.snapshot())
    final_lr = opt.current_lr
    acc = float((net.predict(Xt) == yt).mean())
    return dict(seconds=seconds, accuracy=acc, others=others, rss=rss,
                version=fastmlp.__version__, log=log, updates=opt.t,
                final_lr=final_lr, n_params=net.n_params, n_train=X.shape[0])


# -- the report ---------------------------------------------------------------

def describe_recipe(r, budget, n_train):
    parts = [f"{'-'.join(map(str, r['sizes']))} {r['activation']}, softmax CE, float32",
             f"{r['optimizer']} lr {r['lr']:g}"
             + (f", decoupled weight decay {r['weight_decay']:g} on the weights"
                if r["weight_decay"] else "") + ", betas 0.9/0.999, eps 1e-8",
             (f"cosine schedule in WALL-CLOCK time: lr × ½(1 + cos(π · elapsed / "
              f"{budget:.0f} s))"
              + (f", floor {r['min_factor']:g} × lr" if r["min_factor"] else "")
              + ", so the rate reaches ~0 as the budget runs out"
              if r["schedule"] == "cosine" else "constant lr"),
             f"batch {r['batch_size']}, reshuffled every epoch",
             (f"every epoch a fresh copy of the {n_train:,} training images, each shifted by a "
              f"random (dx, dy) in -{r['shift']}..{r['shift']} px (zero fill), NumPy"
              if r["shift"] else "no augmentation"),
             "inputs standardized (Standardizer)" if r["standardize"] else
             "inputs as loaded (pixel / 255)",
             f"seed {r['seed']}; one network, no ensembling, no early stopping",
             f"epochs while the next one is expected to end within {budget:.0f} s (the "
             f"slowest of the last 3 epochs + 5%): net.fit(X_shifted, y, epochs=1, "
             f"optimizer=opt) with the same {r['optimizer']} object throughout"]
    return parts


def best(args, cache, md):
    print("  training the --best-of-2min recipe (progress on stderr) ...", file=sys.stderr,
          flush=True)
    res = run_worker("best", cache, 0, BEST_RECIPE["seed"], args.max_wait,
                     budget=args.budget, recipe=args.recipe_json, stream_stderr=True)
    r = res["recipe"]
    section("Recipe", "\n".join(("- " if md else "  ") + p
                                 for p in describe_recipe(r, args.budget, res['n_train'])), md)
    log = res["log"]
    every = max(1, math.ceil(len(log) / 12))
    shown = [e for e in log if e["epoch"] == 1 or e["epoch"] % every == 0
             or e["epoch"] == len(log)]
    rows = [[str(e["epoch"]), f"{e['seconds']:.2f}", f"{e['aug']:.3f}", f"{e['lr']:.2e}",
             f"{e['loss']:.4f}", f"{e['elapsed']:.1f}"] for e in shown]
    times = sorted(e["seconds"] for e in log)
    section(f"Epochs ({'every ' + str(every) + 'th, ' if every > 1 else ''}of {len(log)}; "
            f"epoch time min {times[0]:.2f} s, median {times[len(times) // 2]:.2f} s, "
            f"max {times[-1]:.2f} s; seconds include the shift augmentation)",
            table(["epoch", "seconds", "of which shift", "lr at start", "train loss",
                   "elapsed (s)"], rows, md, [">"] * 6), md)
    met = res["accuracy"] >= TARGET_BEST
    star = "*" if res["others"] > QUIET else ""
    rows = [[f"fastmlp {'-'.join(map(str, r['sizes']))} ({res['n_params']:,} params)",
             f"{len(res['log'])}", f"{res['updates']:,}", f"{res['seconds']:.1f} s",
             f"{res['accuracy']:.2%}", "≥ 98.0%", ("yes" if met else "NO") + star,
             fmt_mb(res["rss_loaded_mb"]), fmt_mb(res["peak_rss_mb"]),
             f"{res['others']:.2f}"]]
    section(f"{DATASET}: best test accuracy of one fastmlp network within "
            f"{args.budget:.0f} s of training",
            table(["network", "epochs", "updates", "training time", "test acc", "target",
                   "met?", "RSS after imports+data", "peak RSS", "other CPU (cores)"],
                  rows, md, ["<", ">", ">", ">", ">", "<", "<", ">", ">", ">"]), md)
    print()
    notes = [f"the learning rate when training stopped: {res['final_lr']:.1e}; "
             f"thread pools {res.get('pools') or '?'}",
             "the recipe was chosen on a validation split of the training images (trained "
             "on the first 20,000, validated on the last 4,345), not on the test set"]
    if res["seconds"] > args.budget:
        notes.append(f"WARNING: training took {res['seconds']:.1f} s, over the "
                     f"{args.budget:.0f} s budget (an epoch ran slower than predicted)")
    if star:
        notes.append(f"(*) other processes used {res['others']:.2f} cores on average during "
                     f"training: fewer epochs fit in the budget; re-run on a quiet machine")
    notes.append(f"load average now {os.getloadavg()[0]:.2f}")
    for note in notes:
        print(("- " if md else "") + note)

