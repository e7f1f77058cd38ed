#!/usr/bin/env python
"""predict_proba of fastmlp against ONNX Runtime, PyTorch no_grad and JAX jit.

    python bench/predict.py              (about 1-2 minutes)
    python bench/predict.py --quick      (smoke run)
    python bench/predict.py --markdown   the table as Markdown

Networks (float32, ReLU hidden layers, softmax output): 784-512-256-10 (MNIST-sized) and
50-256-256-2 (a tabular classifier), at batches of 1, 64 and 10,000 rows; and the tabular
one with an input scaler, as fit(standardize=True) leaves it, given rows in raw units
(PyTorch and JAX: no row, to_torch does not take a scaler).  Contenders, each given the
same float32 batch and returning probabilities:

fastmlp    net.predict_proba(X): the public call (validation, threads chosen per call)
ONNX RT    an InferenceSession of fastmlp's own net.to_onnx() export (default options:
           its own intra-op thread pool; the scaler as its Sub and Div in float64),
           session.run(None, {input: X})
PyTorch    net.to_torch() under torch.no_grad(), with the softmax (torch's threads)
JAX jit    jax.jit of the same forward written in jax.numpy, block_until_ready

Timing as bench/step.py (bench/_common.measure): interleaved rounds of blocks, a pause
before each block, min over the quiet blocks; ratios are contender / fastmlp from the
same run (> 1: fastmlp faster).  Results are checked against each other first.
"""
import sys
import time

import numpy as np

import fastmlp
from _common import (Contender, contended, cpu_line, fmt_ratio, fmt_time, measure,
                     section, table, usage_if_asked)
from fastmlp.preprocessing import Standardizer

NETS = [([784, 512, 256, 10], False), ([50, 256, 256, 2], False), ([50, 256, 256, 2], True)]
BATCHES = [1, 64, 10000]


def scaler_of(n_features, rng):
    """A scaler of features in raw units (means 0-100, spreads 0.5-20)."""
    return Standardizer(rng.uniform(0, 100, n_features), rng.uniform(0.5, 20, n_features))


def contenders(net, X):
    """{key: (callable returning probabilities, setup note)} for the installed libraries."""
    out = {"fastmlp": lambda: net.predict_proba(X)}
    try:
        import onnxruntime as ort
        session = ort.InferenceSession(net.to_onnx().SerializeToString(),
                                       providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        out["ONNX RT"] = lambda: session.run(None, {name: X})[0]
    except ImportError:
        pass
    if net.scaler is not None:
        return out
    try:
        import torch
        model = net.to_torch().eval()
        Xt = torch.from_numpy(X)

        def torch_predict():
            with torch.no_grad():
                return model(Xt).numpy()
        out["PyTorch"] = torch_predict
    except ImportError:
        pass
    try:
        import jax
        import jax.numpy as jnp
        params = [(jnp.asarray(l.W), jnp.asarray(l.b)) for l in net.layers]

        @jax.jit
        def forward(params, x):
            for W, b in params[:-1]:
                x = jax.nn.relu(x @ W + b)
            W, b = params[-1]
            return jax.nn.softmax(x @ W + b, axis=-1)
        Xj = jnp.asarray(X)
        out["JAX jit"] = lambda: forward(params, Xj).block_until_ready()
    except ImportError:
        pass
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    usage_if_asked(__doc__, argv)
    quick, markdown = "--quick" in argv, "--markdown" in argv
    print(f"fastmlp predict benchmark{' (--quick)' if quick else ''}   "
          f"{time.strftime('%Y-%m-%d %H:%M:%S')}")
    print(cpu_line())
    versions = []
    for mod in ("onnxruntime", "torch", "jax"):
        try:
            versions.append(f"{mod} {__import__(mod).__version__}")
        except ImportError:
            versions.append(f"{mod} not installed")
    print(f"fastmlp {fastmlp.__version__}; numpy {np.__version__}; " + "; ".join(versions))
    try:
        import torch
        print(f"torch.get_num_threads() = {torch.get_num_threads()}")
    except ImportError:
        pass
    rng = np.random.default_rng(0)
    keys = ["fastmlp", "ONNX RT", "PyTorch", "JAX jit"]
    rows, busy = [], False
    for sizes, scaled in NETS:
        net = fastmlp.Network(sizes, seed=0)
        if scaled:
            net.scaler = scaler_of(sizes[0], rng)
        for batch in BATCHES:
            X = rng.standard_normal((batch, sizes[0])).astype(np.float32)
            if scaled:
                X = (X * net.scaler.scale + net.scaler.mean).astype(np.float32)
            fns = contenders(net, X)
            ref = net.predict_proba(X)
            for key, fn in fns.items():
                got = np.asarray(fn())
                if not np.allclose(got, ref, atol=1e-4):
                    print(f"WARNING: {key} differs from fastmlp on {sizes} b{batch} by "
                          f"{np.abs(got - ref).max():.2e}")
            big = batch * sizes[0] * sizes[1] > 1e8
            res = measure([Contender(k, f) for k, f in fns.items()],
                          rounds=(1 if quick else (3 if big else 7)),
                          samples=3 if quick else 5, sample_s=0.004,
                          warm_s=0.004, settle=0.12)
            busy |= contended(res)
            f = res["fastmlp"].best
            row = ["-".join(map(str, sizes)) + (" + scaler" if scaled else ""), f"{batch:,}"]
            for k in keys:
                row.append(fmt_time(res[k].best) + ("*" if res[k].contended else "")
                           if k in res else "—")
            row += [fmt_ratio(res[k].best / f) if k in res else "—" for k in keys[1:]]
            rows.append(row)
    headers = ["net", "rows", *keys, "ONNX RT / fastmlp", "PyTorch / fastmlp",
               "JAX / fastmlp"]
    section("predict_proba, float32 (min over quiet blocks; ratio > 1: fastmlp faster)",
            table(headers, rows, markdown, ["<", ">"] + [">"] * 7), markdown)
    if busy:
        print("* no block of this contender ran while other processes were quiet "
              "(<= 0.25 cores): the machine was busy, the numbers are not the CPU's")


if __name__ == "__main__":
    main()
