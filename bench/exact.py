#!/usr/bin/env python
"""Benchmark exact inversion (fastmlp.invert(method="exact")) against OMLT + HiGHS.

    python bench/exact.py               the full run (OMLT's time limits make it long)
    python bench/exact.py --quick       the two smallest nets only
    python bench/exact.py --markdown    the table as Markdown (for the README)
    python bench/exact.py --data DIR    the MNIST IDX files (default ../shared/data/mnist)

Needs the bench extra: pip install "fastmlp[bench]" (omlt, pyomo, highspy).

The problems
------------
Seeded random ReLU nets (float64, fastmlp's He initialisation, biases N(0, 0.1²)), every
input in [0, 1], and a 784-32-32-10 net trained on MNIST-24k (3 epochs of Adam, seed 0;
skipped when the data is absent).  For each net, two targets:

  regression nets (one output): "reachable": t = net(x) for a random x in the box;
      "beyond": t above the largest output found by 4096 samples and the local search,
      by half the sampled output range.  Reached when |f(x) - t| <= tol', tol' the
      tolerance fastmlp asks HiGHS for (atol 1e-4 + rtol 1e-3 · |t|, shrunk by 1e-3).
  class nets (logits): class 0 with logit margin m over every other class: "reachable":
      m = 2 (or half of the best margin the local search finds, if that is smaller);
      "beyond": m = the best margin found + 50% + 1.  Reached when
      z_0 - z_j >= m' for every j, m' the margin fastmlp asks HiGHS for.

Both contenders answer the same question, on the same network and box:
fastmlp  ``invert(net, ..., bounds=(0, 1), method="exact", time_limit=60)``: with at most
         64 inputs, input-space branch and bound; the batched local search (part of it
         started from the corners that maximize the target's linear bounds); then, if
         neither answered, ReLU-splitting branch and bound with optimized bounds
         (fastmlp.exact.relu_branch, a third of the time left); then bounds by interval
         arithmetic, back-substitution and LP tightening, and the sparse big-M MILP
         (the margin or error as its objective, the target as its bound), HiGHS via
         scipy.optimize.milp.
OMLT     OMLT's ReluBigMFormulation of the same map (the MNIST net's input standardizer
         folded into its first layer; its bounds: interval arithmetic from the input box)
         in a Pyomo model with the same target constraints and a zero objective, solved by
         HiGHS (Pyomo's appsi_highs), time limit 120 s.  Its time includes building the
         Pyomo model (as fastmlp's includes building its MILP).
One run each (single runs on a shared machine: ratios are indicative).  "unstable" is
the number of ReLUs whose pre-activation interval contains 0: by interval arithmetic (what
OMLT's big-M uses) -> after fastmlp's tightening; "-" when the local search answered
before any bounds were computed (with at most 64 inputs the branch and bound computes
them first).
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

try:
    import fastmlp
except ImportError as exc:
    sys.exit(f"cannot import fastmlp ({exc}); install it first: pip install .")

from fastmlp.exact.bounds import count_unstable, interval
from fastmlp.exact.goal import SLACK
from fastmlp.exact.piecewise import piecewise_linear

from _common import cpu_line, table

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "mnist"
RANDOM_NETS = [([8, 16, 16, 1], 0), ([20, 32, 32, 3], 1), ([50, 64, 64, 10], 2),
               ([784, 32, 32, 10], 3), ([784, 64, 64, 10], 4)]


def random_net(sizes, seed):
    loss = "mse" if sizes[-1] == 1 else "cross_entropy"
    net = fastmlp.Network(sizes, "relu", loss, dtype=np.float64, seed=seed)
    rng = np.random.default_rng(seed)
    for layer in net.layers:
        layer.b = rng.normal(0, 0.1, layer.n_out)
    return net


def mnist_net(data):
    X, y = fastmlp.datasets.load_mnist(data, "train")
    net = fastmlp.Network([784, 32, 32, 10], "relu", "cross_entropy", seed=0)
    net.fit(X, y, epochs=3, batch_size=128, lr=1e-3, seed=0)
    return net.astype(np.float64)


def targets(net, seed):
    """[(label, invert kwargs, the MILP constraint for OMLT)]."""
    rng = np.random.default_rng(seed)
    n_in = net.sizes[0]
    if net.sizes[-1] == 1:
        t_in = float(net.forward(rng.uniform(0, 1, (1, n_in)))[0, 0])
        outs = net.forward(rng.uniform(0, 1, (4096, n_in)))[:, 0]
        top = fastmlp.invert(net, [outs.max() + 1e3], bounds=(0, 1), seed=seed).output[0]
        t_out = max(outs.max(), top) + 0.5 * (outs.max() - outs.min())
        return [(f"reachable t={t:.3g}" if i == 0 else f"beyond t={t:.3g}",
                 dict(target=[t]), ("values", t, (1e-4 + 1e-3 * abs(t)) * (1 - SLACK)))
                for i, t in enumerate((t_in, t_out))]
    best = fastmlp.invert(net, class_index=0, objective="margin", margin=1e3, bounds=(0, 1),
                          seed=seed)
    z = forward_logits(net, best.x)
    found = float(z[0] - np.delete(z, 0).max())
    cases = []
    for label, m in (("reachable", min(2.0, max(found / 2, 0.0))),
                     ("beyond", found + 0.5 * abs(found) + 1.0)):
        cases.append((f"{label} margin {m:.3g}",
                      dict(class_index=0, objective="margin", margin=m),
                      ("margin", m + SLACK * (1 + abs(m)), None)))
    return cases


def forward_logits(net, x):
    from fastmlp.exact.piecewise import forward64
    return forward64(net, x[None])[0]


def run_fastmlp(net, kwargs, limit):
    t0 = time.perf_counter()
    r = fastmlp.invert(net, **kwargs, bounds=(0, 1), method="exact", time_limit=limit, seed=0)
    return r, time.perf_counter() - t0


def run_omlt(net, constraint, limit):
    import pyomo.environ as pyo
    from omlt import OmltBlock
    from omlt.neuralnet import NetworkDefinition, ReluBigMFormulation
    from omlt.neuralnet.layer import DenseLayer, InputLayer

    t0 = time.perf_counter()
    n_in = net.sizes[0]
    definition = NetworkDefinition(scaled_input_bounds={i: (0.0, 1.0) for i in range(n_in)})
    below = InputLayer([n_in])
    definition.add_layer(below)
    pl = piecewise_linear(net)            # the net's own map: its input scaler folded in
    for k, (W, b) in enumerate(zip(pl.Ws, pl.bs)):
        dense = DenseLayer(below.output_size, [W.shape[1]],
                           activation="relu" if k < len(pl.Ws) - 1 else "linear",
                           weights=W, biases=b)
        definition.add_layer(dense)
        definition.add_edge(below, dense)
        below = dense
    m = pyo.ConcreteModel()
    m.nn = OmltBlock()
    m.nn.build_formulation(ReluBigMFormulation(definition))
    kind, a, b = constraint
    out = m.nn.outputs
    if kind == "values":
        m.target = pyo.Constraint(expr=pyo.inequality(a - b, out[0], a + b))
    else:
        others = [j for j in range(net.sizes[-1]) if j != 0]
        m.target = pyo.Constraint(others, rule=lambda m, j: out[0] - out[j] >= a)
    m.obj = pyo.Objective(expr=0)
    solver = pyo.SolverFactory("appsi_highs")
    res = solver.solve(m, load_solutions=False, timelimit=limit)
    cond = str(res.solver.termination_condition).split(".")[-1]
    answer = {"optimal": "reached", "infeasible": "unreachable"}.get(cond, "unknown")
    return answer, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--limit", type=float, default=60.0)
    ap.add_argument("--omlt-limit", type=float, default=120.0)
    args = ap.parse_args()
    print(cpu_line())
    import scipy
    print(f"fastmlp {fastmlp.__version__}, scipy {scipy.__version__} (HiGHS via "
          f"scipy.optimize.milp); limits: fastmlp {args.limit:g} s, OMLT {args.omlt_limit:g} s")
    nets = [("-".join(map(str, s)), random_net(s, seed), seed) for s, seed in RANDOM_NETS]
    if args.quick:
        nets = nets[:2]
    elif (args.data / "train-images-idx3-ubyte").exists() or args.data.is_dir():
        nets.append(("MNIST 784-32-32-10", mnist_net(args.data), 5))
    rows, both = [], []
    for name, net, seed in nets:
        pl = piecewise_linear(net)
        loose = count_unstable(pl, interval(pl, np.zeros(net.sizes[0]), np.ones(net.sizes[0])))
        for label, kwargs, constraint in targets(net, seed):
            r, t_f = run_fastmlp(net, kwargs, args.limit)
            ans_o, t_o = run_omlt(net, constraint, args.omlt_limit)
            unstable = (f"{r.stats['unstable_interval']} -> {r.stats['unstable']}"
                        if "unstable" in r.stats else f"{loose} -> -")
            ratio = ""
            if r.status != "unknown" and ans_o != "unknown":
                ratio = f"{t_o / t_f:.0f}x"
                both.append(t_o / t_f)
            agree = "" if "unknown" in (r.status, ans_o) or r.status == ans_o else " (DISAGREE)"
            rows.append([name, label, r.status + agree, f"{t_f:.3g} s", unstable,
                         ans_o, f"{t_o:.3g} s", ratio])
            print("  " + " | ".join(rows[-1]), flush=True)
    print()
    print(table(["net", "target", "fastmlp", "time", "unstable ReLUs", "OMLT+HiGHS", "time",
                 "speed-up"], rows, args.markdown,
                ["<", "<", "<", ">", ">", "<", ">", ">"]))
    if both:
        print(f"\ncases both answer: {len(both)}; speed-up min {min(both):.0f}x, "
              f"geometric mean {np.exp(np.mean(np.log(both))):.0f}x")


if __name__ == "__main__":
    main()
