"""The comparison that bench/mnist.py runs by default: the contenders in interleaved rounds
of fresh worker processes, then the table of times, accuracies and memory, the targets
and the notes.
"""
import os
import sys
import time

import numpy as np

from _common import fmt_ratio, fmt_s, section, table
from _mnist import DATASET, EPOCHS, LABELS, QUICK_EPOCHS, QUIET, fmt_mb, run_worker

# targets (docs/performance.md)
TARGET_ACC = 0.973          # fastmlp test accuracy, 10 epochs
TARGET_TORCH = 2.0          # PyTorch time / fastmlp time
TARGET_SKLEARN = 3.0        # scikit-learn time / fastmlp time


def compare(args, cache, md):
    names = args.only
    rounds = 1 if args.quick else args.rounds
    epochs = QUICK_EPOCHS if args.quick else EPOCHS
    runs = {k: [] for k in names}
    t_start = time.perf_counter()
    def quiet(name):
        return [x for x in runs[name] if x["others"] <= QUIET]

    def run(name, seed, tag):
        res = run_worker(name, cache, epochs, seed=seed, max_wait=args.max_wait)
        runs[name].append(res)
        print(f"  {tag}  {LABELS[name]:<13} {res['seconds']:7.2f} s  "
              f"acc {res['accuracy']:.2%}  peak {res['peak_rss_mb']:.0f} MB  "
              f"others {res['others']:.2f} cores"
              + (f"  (waited {res['waited']:.0f} s for quiet)" if res["waited"] > 2
                 else ""), file=sys.stderr, flush=True)

    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            run(name, r, f"round {r + 1}/{rounds}")
    # a contender none of whose runs was quiet gets up to --retries more (same seeds)
    for attempt in range(args.retries):
        for name in names:
            if not quiet(name):
                run(name, attempt % rounds, f"retry {attempt + 1}/{args.retries}")

    summary = {}
    for name in names:
        q = quiet(name)
        pool = q or runs[name]
        summary[name] = dict(
            time=min(x["seconds"] for x in pool),
            times=[x["seconds"] for x in runs[name]],
            # the mean accuracy over the R rounds (retries repeat a round's seed)
            acc=float(np.mean([x["accuracy"] for x in runs[name][:rounds]])),
            accs=[x["accuracy"] for x in runs[name][:rounds]],
            loaded=max(x["rss_loaded_mb"] for x in runs[name]),
            start=max(x["rss_start_mb"] for x in runs[name]),
            peak=max(x["peak_rss_mb"] for x in runs[name]),
            others=[x["others"] for x in runs[name]],
            contended=not q, last=runs[name][-1])

    rows = []
    for name in names:
        s = summary[name]
        star = "*" if s["contended"] else ""
        rows.append([LABELS[name], fmt_s(s["time"]) + star,
                     ", ".join(f"{t:.2f}" for t in s["times"]),
                     f"{s['acc']:.2%}", ", ".join(f"{a:.2%}" for a in s["accs"]),
                     fmt_mb(s["loaded"]), fmt_mb(s["start"]), fmt_mb(s["peak"]),
                     fmt_mb(s["peak"] - s["loaded"]),
                     ", ".join(f"{o:.2f}" for o in s["others"])])
    title = (f"{DATASET}, 784-512-256-10 ReLU, softmax CE, Adam lr 1e-3, batch 128, "
             f"{epochs} epochs, float32 ({rounds} interleaved round{'s' * (rounds > 1)}; "
             f"each run in a fresh process)")
    section(title, table(
        ["contender", "train time (min)", "per run (s)", "test acc (mean)", "per round",
         "RSS: imports+data", "+ model", "peak RSS", "peak − imports+data",
         "other CPU (cores)"],
        rows, md, ["<", ">", ">", ">", ">", ">", ">", ">", ">", ">"]), md)

    # targets
    checks, unmet = [], []
    f = summary.get("fastmlp")

    def check(label, value, goal, met, star=False):
        mark = "" if met is None else ("yes" if met else "NO") + ("*" if star else "")
        checks.append([label, value, goal, mark])
        if met is False:
            unmet.append(f"{label}: {value} (target {goal}){'*' if star else ''}")

    if f:
        if args.quick:
            check("fastmlp test accuracy", f"{f['acc']:.2%}", "≥ 97.3% (10 epochs)",
                  None)
        else:
            check("fastmlp test accuracy", f"{f['acc']:.2%}", "≥ 97.3%",
                  f["acc"] >= TARGET_ACC)
        for other, target in (("torch", TARGET_TORCH), ("sklearn", TARGET_SKLEARN)):
            if other in summary:
                o = summary[other]
                ratio = o["time"] / f["time"]
                check(f"{LABELS[other]} time / fastmlp time", fmt_ratio(ratio, fine=False),
                      f"≥ {target:g}×", ratio >= target, o["contended"] or f["contended"])
        if "torch" in summary:
            t = summary["torch"]
            check("peak RSS, fastmlp vs PyTorch",
                  f"{fmt_mb(f['peak'])} vs {fmt_mb(t['peak'])} "
                  f"({f['peak'] / t['peak']:.2f}×)", "lower than PyTorch",
                  f["peak"] < t["peak"])
    if "torch" in summary and "sklearn" in summary:
        check("scikit-learn time / PyTorch time",
              fmt_ratio(summary["sklearn"]["time"] / summary["torch"]["time"], fine=False),
              "", None)
    if checks:
        section("Targets (ratio > 1 means fastmlp is faster; times are the min over quiet "
                "rounds)", table(["check", "value", "target", "met?"], checks, md), md)

    # notes
    print()
    notes = []
    for name in names:
        last = summary[name]["last"]
        extra = ""
        if name == "torch":
            extra = f"torch.get_num_threads() = {last.get('threads')}; "
        if name == "sklearn":
            extra = (f"ran {last.get('epochs_run')} epochs, weights "
                     f"{last.get('dtype')}, alpha = 0 (its default is 1e-4); ")
        notes.append(f"{LABELS[name]} {last.get('version')}: {extra}"
                     f"thread pools {last.get('pools') or '?'}")
    if any(s["contended"] for s in summary.values()):
        notes.append("(*) no run of this contender was quiet (other processes used more "
                     f"than {QUIET} cores on average during its training): re-run on a "
                     "quiet machine")
    if args.quick:
        notes.append(f"--quick: 1 round of {epochs} epochs; the accuracy target needs "
                     f"10 epochs, ratios are only indicative")
    n_runs = sum(len(v) for v in runs.values())
    n_quiet = sum(len(quiet(k)) for k in names)
    notes.append(f"total {time.perf_counter() - t_start:.0f} s; {n_quiet}/{n_runs} runs "
                 f"quiet (other processes ≤ {QUIET} cores during training); load average "
                 f"now {os.getloadavg()[0]:.2f}")
    for note in notes:
        print(("- " if md else "") + note)
    print()
    if checks and not args.quick:
        if unmet:
            print("Targets NOT met:")
            for u in unmet:
                print(("- " if md else "   ") + u)
        else:
            print("All targets met.")
