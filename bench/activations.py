#!/usr/bin/env python
"""One SGD training step and one forward pass per hidden activation: fastmlp against
PyTorch, one thread each.

    python bench/activations.py              (about 90 s)
    python bench/activations.py --quick      (about 30 s)
    python bench/activations.py --markdown   the table as Markdown (for the README)

bench/step.py times ReLU networks; this script asks whether the lead holds for the
other activations, whose exponentials used to run libm's scalar functions (4-15 ns an
element here) and now run csrc/vmath.h's vector code (sigmoid, tanh, ELU, softplus,
and GELU in float32).  Both libraries run one thread (fastmlp n_threads=1,
torch.set_num_threads(1)), so the table compares the per-core work, not the threading.
The step: fastmlp ``Network.train_step(X, y, lr)``; PyTorch ``nn.Sequential`` of
``nn.Linear`` and the activation, ``CrossEntropyLoss``, zero_grad + forward + loss +
backward + ``torch.optim.SGD.step``; float32, the same batch of 128.  The forward pass:
``Network.forward`` (probabilities) against the model under ``torch.no_grad()`` with a
softmax, on 10,000 rows.  Times: min over interleaved rounds of each round's median
(bench/_common.measure), quiet blocks only.
"""
import sys

import numpy as np

from _common import Contender, fmt_ratio, fmt_time, measure, one_thread_start, section, table
from fastmlp import Network

try:
    import torch
except ImportError:         # the table then shows fastmlp alone
    torch = None

NETS = [([784, 512, 256, 10], 128), ([50, 128, 64, 2], 128)]
ACTIVATIONS = ["relu", "tanh", "sigmoid", "elu", "gelu", "softplus"]


def torch_model(sizes, activation):
    make = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid,
            "elu": torch.nn.ELU, "gelu": torch.nn.GELU, "softplus": torch.nn.Softplus}
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(n_in, n_out), make[activation]()]
    return torch.nn.Sequential(*layers[:-1])


def torch_forward(model, X):
    Xt = torch.from_numpy(X)

    def forward():
        with torch.no_grad():
            return torch.softmax(model(Xt), dim=1)
    return forward


def torch_step(model, X, y):
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    loss = torch.nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def step():
        opt.zero_grad()
        loss(model(Xt), yt).backward()
        opt.step()
    return step


def main(argv=None):
    quick, md = one_thread_start(__doc__, sys.argv[1:] if argv is None else argv, torch)
    rng = np.random.default_rng(0)
    rows, behind = [], []
    for sizes, batch in NETS:
        X = rng.standard_normal((batch, sizes[0])).astype(np.float32)
        y = rng.integers(0, sizes[-1], batch)
        Xbig = rng.standard_normal((10_000, sizes[0])).astype(np.float32)
        label = "-".join(map(str, sizes))
        for activation in ACTIVATIONS:
            net = Network(sizes, activation, "cross_entropy", dtype=np.float32, seed=0)
            cs = [Contender("step", lambda: net.train_step(X, y, lr=1e-3, n_threads=1)),
                  Contender("forward", lambda: net.forward(Xbig, n_threads=1))]
            if torch is not None:
                model = torch_model(sizes, activation)
                cs += [Contender("torch step", torch_step(model, X, y)),
                       Contender("torch forward", torch_forward(model, Xbig))]
            res = measure(cs, rounds=2 if quick else 5, samples=3 if quick else 5,
                          sample_s=0.003, warm_s=0.002, settle=0.05)
            busy = "*" if any(c.contended for c in res.values()) else ""
            row = [label, activation]
            for part in ("step", "forward"):
                f = res[part].best
                t = res["torch " + part].best if torch is not None else None
                row += [fmt_time(f), fmt_time(t) if t else "—",
                        (fmt_ratio(t / f) + busy) if t else "—"]
                if t and t < f:
                    behind.append(f"{label} {activation} {part}")
            rows.append(row)
    section("float32, one thread each: one SGD step on a batch of 128, one forward pass "
            "of 10,000 rows; PyTorch/fastmlp > 1: fastmlp faster",
            table(["network", "activation", "step fastmlp", "step PyTorch", "ratio",
                   "forward fastmlp", "forward PyTorch", "ratio"], rows, md,
                  ["<", "<", ">", ">", ">", ">", ">", ">"]), md)
    print()
    print("fastmlp behind PyTorch: " + (", ".join(behind) if behind else "nowhere"))
    print("(* = a contender had no block while other processes were quiet)")


if __name__ == "__main__":
    main()
