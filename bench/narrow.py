#!/usr/bin/env python
"""Narrow networks (a 2-class or 1-unit output, hidden layers of 8-32): one SGD step
and one forward pass, fastmlp against PyTorch, one thread each.

    python bench/narrow.py              (about 40 s)
    python bench/narrow.py --quick      (about 15 s)
    python bench/narrow.py --markdown   the table as Markdown (for the README)

The small tables people start from train networks like these, where each row of a layer
holds fewer values than two vectors and the per-row work around the GEMMs decides the
time (the activations, the fused softmax or sigmoid loss).  The step: fastmlp
``Network.train_step(X, y, lr)``; PyTorch ``nn.Sequential`` of ``nn.Linear`` and the
activation, ``CrossEntropyLoss`` or ``BCEWithLogitsLoss``, zero_grad + forward + loss +
backward + ``torch.optim.SGD.step``; float32, the same batch.  The forward pass:
``Network.forward`` (probabilities) against the model under ``torch.no_grad()`` with
its softmax or sigmoid, on 10,000 rows.  Times: min over interleaved rounds of each
round's median (bench/_common.measure), quiet blocks only.
"""
import sys

import numpy as np

from _common import Contender, fmt_ratio, fmt_time, measure, one_thread_start, section, table
from fastmlp import Network

try:
    import torch
except ImportError:         # the table then shows fastmlp alone
    torch = None

# (sizes, hidden activation, loss, batch)
NETS = [([8, 32, 2], "relu", "cross_entropy", 32),
        ([8, 32, 2], "relu", "cross_entropy", 128),
        ([8, 32, 1], "relu", "binary_cross_entropy", 128),
        ([8, 16, 16, 1], "tanh", "binary_cross_entropy", 128),
        ([20, 8, 8, 3], "elu", "cross_entropy", 128)]


def torch_model(sizes, activation):
    make = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "elu": torch.nn.ELU}
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(n_in, n_out), make[activation]()]
    return torch.nn.Sequential(*layers[:-1])


def torch_contenders(sizes, activation, loss, X, y, Xbig):
    model = torch_model(sizes, activation)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    binary = loss == "binary_cross_entropy"
    loss_fn = torch.nn.BCEWithLogitsLoss() if binary else torch.nn.CrossEntropyLoss()
    Xt, Xb = torch.from_numpy(X), torch.from_numpy(Xbig)
    yt = torch.from_numpy(y.astype(np.float32) if binary else y)
    out = torch.sigmoid if binary else (lambda z: torch.softmax(z, dim=1))

    def step():
        opt.zero_grad()
        loss_fn(model(Xt), yt).backward()
        opt.step()

    def forward():
        with torch.no_grad():
            return out(model(Xb))
    return [Contender("torch step", step), Contender("torch forward", forward)]


def main(argv=None):
    quick, md = one_thread_start(__doc__, sys.argv[1:] if argv is None else argv, torch)
    rng = np.random.default_rng(0)
    rows = []
    for sizes, activation, loss, batch in NETS:
        X = rng.standard_normal((batch, sizes[0])).astype(np.float32)
        Xbig = rng.standard_normal((10_000, sizes[0])).astype(np.float32)
        if loss == "cross_entropy":
            y = rng.integers(0, sizes[-1], batch)
        else:
            y = rng.integers(0, 2, (batch, sizes[-1])).astype(np.float64)
        net = Network(sizes, activation, loss, dtype=np.float32, seed=0)
        cs = [Contender("step", lambda: net.train_step(X, y, lr=1e-3, n_threads=1)),
              Contender("forward", lambda: net.forward(Xbig, n_threads=1))]
        if torch is not None:
            cs += torch_contenders(sizes, activation, loss, X, y, Xbig)
        res = measure(cs, rounds=2 if quick else 5, samples=3 if quick else 5,
                      sample_s=0.003, warm_s=0.002, settle=0.05)
        busy = "*" if any(c.contended for c in res.values()) else ""
        row = ["-".join(map(str, sizes)), activation, loss, str(batch)]
        for part in ("step", "forward"):
            f = res[part].best
            t = res["torch " + part].best if torch is not None else None
            row += [fmt_time(f), fmt_time(t) if t else "—",
                    (fmt_ratio(t / f) + busy) if t else "—"]
        rows.append(row)
    section("float32, one thread each: one SGD step on the batch, one forward pass of "
            "10,000 rows; PyTorch/fastmlp > 1: fastmlp faster",
            table(["network", "hidden", "loss", "batch", "step fastmlp", "step PyTorch",
                   "ratio", "forward fastmlp", "forward PyTorch", "ratio"], rows, md,
                  ["<", "<", "<", ">"] + [">"] * 6), md)
    print("(* = a contender had no block while other processes were quiet)")


if __name__ == "__main__":
    main()
