#!/usr/bin/env python
"""Benchmark input inversion to a class (fastmlp.invert) against the same search in PyTorch.

    python bench/invert.py              full run (about 1-2 minutes once the model is cached)
    python bench/invert.py --quick      smoke run (one round, one timed call per contender)
    python bench/invert.py --markdown   the tables as Markdown (for the README)
    python bench/invert.py --data DIR   the MNIST IDX files (default ../shared/data/mnist
                                        from the repository root)
    python bench/invert.py --max-wait S before each class, wait up to S seconds (default 30)
                                        for other processes to use ≤ 0.25 cores

The machine is shared and noisy, so only RATIOS measured in the same run mean anything.

The workload
------------
A 784-512-256-10 ReLU network, softmax cross-entropy, float32, trained on MNIST-24k (the
first 24,345 official MNIST training images; see the README next to the data) with
``fit(epochs=3, batch_size=128, optimizer="adam", lr=1e-3, seed=0)`` from
``Network(..., seed=0)``.  The trained model is cached in the temp directory under a name
keyed by those settings, the fastmlp version and the data files' sizes and times, so reruns
skip the training (delete the file, or change a setting, to retrain).

For each class c = 0..9: 64 restarts, all searched at once, to find inputs x in [0, 1]^784
with softmax(net(x))_c ≥ 0.99.  The 64 starting points are drawn once per class
(``default_rng(1000 + c).uniform(0, 1, (64, 784))``, rounded to float32) and handed to every
contender, so all start from the very same points.  Stopping rule, for every contender: stop
as soon as all 64 restarts have p_c ≥ 0.99 (checked after every iteration), or after 500
iterations.  Success rate: the fraction of the 64 restarts that end with p_c ≥ 0.99.

fastmlp   ``fastmlp.invert(net, class_index=c, min_prob=0.99, bounds=(0, 1), starts=S,
          n_restarts=64, max_iter=500)``: per restart, the cross-entropy -log p_c, minimized
          by fastmlp's compiled batched L-BFGS inside the box (projected L-BFGS, 10
          correction pairs, backtracking Armijo search along the projected path; every
          restart has its own history and step, and leaves the batch once p_c ≥ 0.99).
          Its steps are "aimed": lengthened to where log(-log p_c), extrapolated along the
          direction, reaches the goal (see fastmlp/inversion.py).  Each evaluation is one
          compiled forward pass of all remaining restarts, and one backward pass to the
          inputs unless every one of them has reached the goal.  The public call,
          including its validation and the sorting/deduplication of the solutions.
          Its success rate counts the returned distinct solutions that reach p ≥ 0.99 (the
          result holds DISTINCT solutions only; the number is printed when restarts merged).
PyTorch   (primary) the same search written with torch: x (64×784, float32) a leaf tensor,
L-BFGS    the network as ``nn.Sequential(Linear, ReLU, Linear, ReLU, Linear)`` holding
          fastmlp's weights (fastmlp's W is (n_in, n_out), ``Linear.weight`` is its
          transpose), ``F.cross_entropy(model(x), c, reduction="sum")``,
          ``torch.optim.LBFGS([x], lr=1, max_iter=1, history_size=10,
          line_search_fn="strong_wolfe")`` and ``x.clamp_(0, 1)`` after every step (projection
          onto the box).  Why L-BFGS: it is the algorithm fastmlp runs (also with 10
          correction pairs).  fastmlp's aimed steps are its own addition to it, and part
          of what is compared.  max_iter=1 makes each ``step()`` one L-BFGS iteration, so
          the box projection and the stopping check happen after every iteration, as in
          fastmlp (torch's L-BFGS has no bounds of its own; clamping is the usual
          projection, cruder than fastmlp's, which freezes coordinates held at a bound,
          but the problem is easy enough).
PyTorch   (information) the usual PyTorch recipe for activation maximization: ``torch.optim.Adam
Adam      ([x], lr=0.1)`` on the same summed cross-entropy, ``x.clamp_(0, 1)`` after every
          step, the same stopping rule.
Torch runs with its default intra-op threads; fastmlp with scipy's OpenBLAS's default.

How the timing works (as bench/step.py)
---------------------------------------
For each class the contenders are timed in interleaved rounds (order rotated from round
to round).  A visit is one block: a 0.12 s pause (idle OpenBLAS workers spin for ~0.1 s
and would steal the second core), one untimed warm-up call, then `samples` timed calls;
the block's value is their median.  A contender's time for the class is the MIN over rounds
of its block values; the overall time is the sum over classes of those minima, and a ratio
is a quotient of such times.  The garbage collector is off inside blocks.  Each block also
records how much CPU OTHER processes used meanwhile (/proc/stat minus this process's own
time, in cores); the min is taken over "quiet" blocks (others ≤ 0.25 cores) and a class
with no quiet block for some contender is starred: its times mean nothing (on 2 cores a
busy neighbour makes every 2-thread BLAS call wait for its descheduled second thread).
Before each class's rounds the script waits (up to --max-wait seconds, as bench/mnist.py)
until other processes use ≤ 0.25 cores; the total wait is printed.

Target (docs/performance.md): fastmlp ≥ 3× faster than PyTorch (time_torch / time_fastmlp
≥ 3, overall) at an equal or better success rate.  Judged against each PyTorch contender.

Also printed: where the time goes.  One evaluation of all 64 restarts (objective and
input gradient) in fastmlp's kernels and in torch (forward + autograd backward), timed
as above, and fastmlp's forward pass alone; the mean number of evaluations per class.
No search can do with less than one evaluation (the gradient at the start) and one
forward pass (to see that the goal is reached); that sum is printed as fastmlp's floor.
"""
import argparse
import gc
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

try:
    import fastmlp
except ImportError as exc:     # e.g. run from inside the source tree with no build
    sys.exit(f"cannot import fastmlp ({exc}); install it first: pip install .")

import scipy
import torch
from torch import nn

try:
    from threadpoolctl import threadpool_info
except ImportError:
    threadpool_info = None

from _common import (Contender, CpuMonitor, contended, cpu_line, fmt_ratio, fmt_time,
                     measure, section, table, wait_for_quiet)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "mnist"

SIZES = [784, 512, 256, 10]
TRAIN = dict(epochs=3, batch_size=128, optimizer="adam", lr=1e-3, seed=0, standardize=False)
N_RESTARTS = 64
MIN_PROB = 0.99
MAX_ITER = 500
BOUNDS = (0.0, 1.0)
ADAM_LR = 0.1
TARGET = 3.0


class Config:
    def __init__(self, quick):
        self.quick = quick
        self.rounds = 1 if quick else 5
        self.samples = 1 if quick else 3
        self.warm = not quick
        self.settle = 0.12


# ---------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------

def cache_path(data_dir):
    files = sorted(p for p in Path(data_dir).iterdir() if p.name.startswith("train-"))
    stamp = [(p.name, p.stat().st_size, int(p.stat().st_mtime)) for p in files]
    key = json.dumps({"sizes": SIZES, "activation": "relu", "loss": "cross_entropy",
                      "dtype": "float32", "train": TRAIN, "fastmlp": fastmlp.__version__,
                      "data": stamp}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"fastmlp-bench-invert-{digest}.npz"


def trained_model(data_dir):
    """(net, note): the cached model, or a freshly trained one (then cached)."""
    path = cache_path(data_dir)
    if path.exists():
        try:
            return fastmlp.Network.load(path), f"loaded from cache {path}"
        except Exception as exc:            # a stale or broken file: retrain
            print(f"(cache {path} unreadable: {exc}; retraining)")
    X, y = fastmlp.datasets.load_mnist(data_dir, "train")
    net = fastmlp.Network(SIZES, activation="relu", loss="cross_entropy", seed=0)
    t0 = time.perf_counter()
    net.fit(X, y, **TRAIN)
    took = time.perf_counter() - t0
    net.save(path)
    return net, f"trained in {took:.1f} s, cached as {path}"


def torch_model(net):
    """nn.Sequential with fastmlp's weights (W is (n_in, n_out); Linear.weight its transpose)."""
    mods = []
    for i, layer in enumerate(net.layers):
        lin = torch.nn.utils.skip_init(nn.Linear, layer.n_in, layer.n_out, dtype=torch.float32)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(layer.W.T)))
            lin.bias.copy_(torch.from_numpy(layer.b.copy()))
        lin.requires_grad_(False)
        mods.append(lin)
        if i < len(net.layers) - 1:
            mods.append(nn.ReLU())
    return nn.Sequential(*mods)


# ---------------------------------------------------------------------------
# The contenders: each returns (final X as float64 array, iterations)
# ---------------------------------------------------------------------------

def run_fastmlp(net, S, c):
    r = fastmlp.invert(net, class_index=c, min_prob=MIN_PROB, bounds=BOUNDS, starts=S,
                       n_restarts=N_RESTARTS, max_iter=MAX_ITER)
    return r


def run_torch_lbfgs(model, S32, c):
    x = torch.tensor(S32, requires_grad=True)
    target = torch.full((S32.shape[0],), c, dtype=torch.long)
    opt = torch.optim.LBFGS([x], lr=1, max_iter=1, history_size=10,
                            line_search_fn="strong_wolfe", tolerance_grad=1e-10,
                            tolerance_change=1e-15)

    def closure():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), target, reduction="sum")
        loss.backward()
        return loss

    it = 0
    while it < MAX_ITER:
        with torch.no_grad():
            if bool((torch.softmax(model(x), dim=1)[:, c] >= MIN_PROB).all()):
                break
        before = x.detach().clone()
        opt.step(closure)
        it += 1
        with torch.no_grad():
            x.clamp_(*BOUNDS)
            if torch.equal(x, before):            # converged / stuck: nothing moves any more
                break
    return x.detach().numpy().astype(np.float64), it


def run_torch_adam(model, S32, c):
    x = torch.tensor(S32, requires_grad=True)
    target = torch.full((S32.shape[0],), c, dtype=torch.long)
    opt = torch.optim.Adam([x], lr=ADAM_LR)
    it = 0
    while it < MAX_ITER:
        z = model(x)
        with torch.no_grad():
            if bool((torch.softmax(z, dim=1)[:, c] >= MIN_PROB).all()):
                break
        loss = nn.functional.cross_entropy(z, target, reduction="sum")
        opt.zero_grad()
        loss.backward()
        opt.step()
        it += 1
        with torch.no_grad():
            x.clamp_(*BOUNDS)
    return x.detach().numpy().astype(np.float64), it


def success_rate(net, X, c):
    """Fraction of rows with p_c ≥ MIN_PROB (fastmlp's forward; rows inside the box)."""
    inside = bool(np.all((X >= BOUNDS[0]) & (X <= BOUNDS[1])))
    p = net.forward(X)[:, c].astype(np.float64)
    return float(np.mean(p >= MIN_PROB)), inside, p


# ---------------------------------------------------------------------------
# Diagnostics
# ---------------------------------------------------------------------------

def eval_contenders(net, model, S, c):
    """One evaluation of every row of S: fastmlp's as invert runs it (forward to the
    logits, then the backward pass to the inputs reusing the forward's activations),
    fastmlp's forward alone (its last evaluation when every row has reached the goal),
    and torch's (forward + autograd backward)."""
    Xs = net._inputs(S)
    B = Xs.shape[0]
    z, dX = np.empty((B, net.sizes[-1]), net.dtype), np.empty_like(Xs)
    G = np.full_like(z, 0.1)
    x = torch.tensor(Xs, requires_grad=True)
    target = torch.full((B,), c, dtype=torch.long)

    def full():
        net._plan.forward(Xs, z, True)
        net._plan.vjp(Xs, G, dX, True, True)

    def forward():
        net._plan.forward(Xs, z, True)

    def torch_eval():
        x.grad = None
        nn.functional.cross_entropy(model(x), target, reduction="sum").backward()

    return [Contender("fastmlp eval", full), Contender("fastmlp forward", forward),
            Contender("torch eval", torch_eval)]


# ---------------------------------------------------------------------------
# Header
# ---------------------------------------------------------------------------

def header(cfg, markdown, model_note, accuracy, agree):
    lines = [f"fastmlp inversion benchmark{' (--quick)' if cfg.quick else ''}   "
             f"{time.strftime('%Y-%m-%d %H:%M:%S')}",
             cpu_line(simd=False),
             f"Python {platform.python_version()}; numpy {np.__version__}; scipy "
             f"{scipy.__version__}; torch {torch.__version__} "
             f"(threads {torch.get_num_threads()}); fastmlp {fastmlp.__version__}"]
    if threadpool_info is not None:
        pools = [f"{os.path.basename(os.path.dirname(l.get('filepath', '')))} "
                 f"{l.get('internal_api')} threads={l.get('num_threads')}"
                 for l in threadpool_info()]
        lines.append("thread pools: " + "; ".join(pools))
    lines.append(f"model: {'-'.join(map(str, SIZES))} ReLU CE float32 on MNIST-24k, "
                 f"{TRAIN['epochs']} epochs Adam lr {TRAIN['lr']} batch {TRAIN['batch_size']} "
                 f"seed {TRAIN['seed']}; {model_note}")
    lines.append(f"model test accuracy (MNIST test set, 10k): {accuracy:.4f}; torch copy's "
                 f"logits agree with fastmlp's to {agree:.1e} (max abs)")
    lines.append(f"per class: {N_RESTARTS} restarts, p ≥ {MIN_PROB}, box [0, 1], ≤ {MAX_ITER} "
                 f"iterations; {cfg.rounds} round(s) × {cfg.samples} timed call(s) per "
                 "contender and class; time = min over rounds of the per-round median")
    if cfg.quick:
        lines.append("--quick: a smoke run; one round, ratios only indicative")
    if markdown:
        return "\n".join(["```"] + lines + ["```"])
    return "\n".join(lines)


# ---------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fast smoke run")
    ap.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="MNIST IDX directory")
    ap.add_argument("--max-wait", type=float, default=30.0,
                    help="before each class, wait up to this many seconds for other "
                         "processes to use ≤ 0.25 cores (default 30)")
    args = ap.parse_args(argv)
    cfg = Config(args.quick)
    md = args.markdown
    t_start = time.perf_counter()
    if not Path(args.data).is_dir():
        sys.exit(f"MNIST-24k not found at {args.data} (use --data DIR)")

    net, note = trained_model(args.data)
    Xt, yt = fastmlp.datasets.load_mnist(args.data, "test")
    accuracy = net.score(Xt, yt)
    model = torch_model(net)
    with torch.no_grad():
        zt = model(torch.from_numpy(Xt[:256])).numpy()
    zf = np.empty((256, 10), np.float32)
    net._plan.forward(np.ascontiguousarray(Xt[:256]), zf, True)
    agree = float(np.abs(zt - zf).max())

    gc.collect()
    gc.freeze()                      # torch's import leaves ~10^6 objects: keep gc cheap
    print(header(cfg, md, note, accuracy, agree), flush=True)

    rows, totals = [], {"fastmlp": 0.0, "lbfgs": 0.0, "adam": 0.0}
    succ = {"fastmlp": [], "lbfgs": [], "adam": []}
    any_contended, notes = False, []
    evaluations, waited = 0, 0.0
    for c in range(10):
        S32 = np.random.default_rng(1000 + c).uniform(0, 1, (N_RESTARTS, 784)).astype(np.float32)
        S = S32.astype(np.float64)

        # one untimed run each: the answers (deterministic) and the warm-up
        r = run_fastmlp(net, S, c)
        Xf = np.array([x for x, _, _ in r.solutions])
        n_ok = sum(out[c] >= MIN_PROB for _, out, _ in r.solutions)
        s_f = n_ok / N_RESTARTS
        inside_f = bool(np.all((Xf >= 0) & (Xf <= 1)))
        with torch.no_grad():        # fastmlp's answers, checked by the torch copy too
            p_check = torch.softmax(model(torch.from_numpy(Xf.astype(np.float32))), 1)[:, c]
        if int((p_check.numpy() >= MIN_PROB - 1e-6).sum()) != n_ok:
            notes.append(f"class {c}: torch's forward disagrees with fastmlp on how many "
                         "fastmlp solutions reach p ≥ 0.99")
        if len(r.solutions) < N_RESTARTS:
            notes.append(f"class {c}: fastmlp returned {len(r.solutions)} distinct solutions "
                         f"for {N_RESTARTS} restarts (success counted over {N_RESTARTS})")
        evaluations += r.n_evaluations
        Xl, it_l = run_torch_lbfgs(model, S32, c)
        s_l, inside_l, _ = success_rate(net, Xl, c)
        Xa, it_a = run_torch_adam(model, S32, c)
        s_a, inside_a, _ = success_rate(net, Xa, c)
        for name, ok in (("fastmlp", inside_f), ("torch L-BFGS", inside_l),
                         ("torch Adam", inside_a)):
            if not ok:
                notes.append(f"class {c}: {name} left the box [0, 1]")

        waited += wait_for_quiet(args.max_wait)[0]
        res = measure([Contender("fastmlp", lambda: run_fastmlp(net, S, c)),
                       Contender("lbfgs", lambda: run_torch_lbfgs(model, S32, c)),
                       Contender("adam", lambda: run_torch_adam(model, S32, c))],
                      cfg.rounds, cfg.samples, 0.0, 0.0, cfg.settle,
                      warm_calls=1 if cfg.warm else 0, calibrate=False)
        tf, tl, ta = res["fastmlp"].best, res["lbfgs"].best, res["adam"].best
        cont = contended(res)
        any_contended |= cont
        star = "*" if cont else ""
        totals["fastmlp"] += tf
        totals["lbfgs"] += tl
        totals["adam"] += ta
        succ["fastmlp"].append(s_f)
        succ["lbfgs"].append(s_l)
        succ["adam"].append(s_a)
        met = tl / tf >= TARGET and s_f >= s_l
        rows.append([str(c), fmt_time(tf) + star, f"{r.n_iter}/{r.n_evaluations}",
                     f"{s_f:.0%}", fmt_time(tl), str(it_l), f"{s_l:.0%}",
                     fmt_ratio(tl / tf), ("yes" if met else "NO") + star,
                     fmt_time(ta), str(it_a), f"{s_a:.0%}", fmt_ratio(ta / tf)])

    sf, sl, sa = (float(np.mean(succ[k])) for k in ("fastmlp", "lbfgs", "adam"))
    tf, tl, ta = totals["fastmlp"], totals["lbfgs"], totals["adam"]
    star = "*" if any_contended else ""
    met_l = tl / tf >= TARGET and sf >= sl
    met_a = ta / tf >= TARGET and sf >= sa
    rows.append(["all", fmt_time(tf) + star, "", f"{sf:.1%}", fmt_time(tl), "", f"{sl:.1%}",
                 fmt_ratio(tl / tf), ("yes" if met_l else "NO") + star, fmt_time(ta), "",
                 f"{sa:.1%}", fmt_ratio(ta / tf)])
    headers = ["class", "fastmlp", "iter/eval", "success", "torch L-BFGS", "iter", "success",
               "L-BFGS/fastmlp", f"≥ {TARGET:g}× met?", "torch Adam", "iter", "success",
               "Adam/fastmlp"]
    align = ["<", ">", ">", ">", ">", ">", ">", ">", "<", ">", ">", ">", ">"]

    section(f"Inversion to each class, {N_RESTARTS} restarts (time per call; ratio > 1 "
            "means fastmlp is faster)", table(headers, rows, md, align), md)
    if any_contended:
        print(("\n" if md else "") + "(*) some contender had no block during which other "
              f"processes were quiet (≤ {CpuMonitor.QUIET} cores busy elsewhere): "
              "these times mean nothing, rerun on a quiet machine")

    # where fastmlp's time goes
    waited += wait_for_quiet(args.max_wait)[0]
    res = measure(eval_contenders(net, model, np.random.default_rng(1000).uniform(
        0, 1, (N_RESTARTS, 784)).astype(np.float32), 0), cfg.rounds, 5, 0.02, 0.0, cfg.settle)
    t_eval, t_fwd, t_torch = (res[k].best for k in ("fastmlp eval", "fastmlp forward",
                                                     "torch eval"))
    mean_evals = evaluations / 10
    section("Where the time goes (per class, mean over the 10 classes)", "\n".join([
        f"one evaluation of {N_RESTARTS} restarts (objective + input gradient): fastmlp "
        f"{fmt_time(t_eval)} (compiled; its forward pass alone {fmt_time(t_fwd)}), torch "
        f"{fmt_time(t_torch)} (forward + autograd backward)",
        f"fastmlp: {mean_evals:.1f} evaluations per class, {fmt_time(tf / 10)}; its "
        f"minimum, one evaluation and one forward pass, would be "
        f"{fmt_time(t_eval + t_fwd)}"]), md)
    if contended(res):
        print("(the evaluation times above had no quiet block: rerun on a quiet machine)")

    print()
    for label, t, s, met in (("PyTorch L-BFGS + clamp", tl, sl, met_l),
                             ("PyTorch Adam + clamp", ta, sa, met_a)):
        print(f"{'- ' if md else ''}Target vs {label}: {label.split()[1]}/fastmlp = "
              f"{fmt_ratio(t / tf)} (≥ {TARGET:g}×) at success {sf:.1%} vs {s:.1%} "
              f"(equal or better): {'met' if met else 'NOT met'}{star}")
    for n_ in notes:
        print(("- " if md else "note: ") + n_)
    print(f"(total {time.perf_counter() - t_start:.0f} s, of which {waited:.0f} s waiting for "
          f"a quiet machine; load average now {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
