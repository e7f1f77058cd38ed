"""bench/step.py's workloads 1-6 (one SGD step on four networks, single-sample predict,
backprop against the numerical gradient) and the --dropout comparison: each builds its
contenders, times them and adds its rows to the report (--dropout prints its own table).
"""
import gc
import time

import numpy as np
import torch

import fastmlp
from fastmlp.gradcheck import relative_error

from _common import (Contender, CpuMonitor, contended, fmt_ratio, fmt_time, measure, section,
                     table)
from _step_contenders import (GemmFloor, JaxMLP, NumpyMLP, TorchMLP, labels_and_targets,
                              make_data, make_net)
from _step_timing import one_blas_thread, run_small, threadpool_limits


# ---------------------------------------------------------------------------
# Workloads
# ---------------------------------------------------------------------------

SMALL = [
    # key, label, sizes, batch, hidden, out_act, loss, floor?, targets vs torch, vs numpy
    ("seed", "1. 2-3-2 b2 sigmoid MSE f32", [2, 3, 2], 2, "sigmoid", "sigmoid", "mse",
     False, 20.0, 5.0),
    ("mnist", "2. 784-128-10 b32 ReLU CE f32", [784, 128, 10], 32, "relu", None,
     "cross_entropy", True, 4.0, 2.0),
    ("deep", "3. 784-512-256-10 b128 ReLU CE f32", [784, 512, 256, 10], 128, "relu", None,
     "cross_entropy", True, 1.2, None),
]
LR = 0.01


def bench_small(cfg, report, extras):
    for _key, label, sizes, B, hidden, out_act, loss, with_floor, t_torch, t_numpy in SMALL:
        dtype = np.float32
        net = make_net(sizes, hidden, out_act, loss, dtype)
        flat0 = net.get_params()
        X, y = make_data(sizes, B, loss, dtype)
        T, labels = labels_and_targets(loss, y)
        ref = NumpyMLP(sizes, hidden, out_act, loss, flat0)
        tm = TorchMLP(sizes, hidden, out_act, loss, flat0, X, y, LR)
        sanity(label, net, ref, tm, X, y, loss)

        plan = net._plan
        helpers = net._step_threads(B).helpers      # the public call's thread choice
        cs = [Contender("fastmlp", lambda: net.train_step(X, y, LR)),
              Contender("direct", lambda: plan.sgd_step(X, T, labels, LR, 0.0, None, helpers),
                        lambda: net._step_threads(B)),
              Contender("torch", tm.step),
              Contender("numpy", lambda: ref.step(X, y, LR))]
        if threadpool_limits is not None:
            cs.insert(1, Contender("fastmlp_1t", lambda: net.train_step(X, y, LR),
                                   one_blas_thread))
        floor = None
        if with_floor:
            floor = GemmFloor(sizes, B, dtype, flat0, LR)
            cs.append(Contender("floor", floor.step))
        jm = JaxMLP(sizes, hidden, out_act, loss, flat0, X, y, LR)
        if jm is not None:
            cs.append(Contender("jax", jm.step))
        res = run_small(cfg, cs)
        f, t, n = res["fastmlp"].best, res["torch"].best, res["numpy"].best
        fl = res["floor"].best if floor else None
        checks = [("PyTorch/fastmlp", t / f, ">=", t_torch)]
        checks.append(("NumPy/fastmlp", n / f, ">=", t_numpy))
        if floor:
            checks.append(("fastmlp/floor", f / fl, "<=", None))
        report.add(label, (f, t, n, fl), checks, contended(res))
        extras["threads"].append((label, res, ("fastmlp", "fastmlp_1t"), t))
        extras["overhead"].append((label, "train_step", res["fastmlp"].best,
                                   "_plan.sgd_step", res["direct"].best))
        if "jax" in res:
            extras["jax"].append((label, f, res["jax"].best, contended(res)))
        extras["details"].append((label, res))
        if not np.isfinite(net.loss(X, y)):
            print(f"WARNING: {label}: fastmlp loss is not finite after the benchmark")


SANITY = []


def sanity(label, net, ref, tm, X, y, loss):
    """The three contenders start from the same parameters and compute the same loss."""
    lf = net.loss(X, y)
    ln = float(ref.loss(X, y))
    lt = tm.loss()
    if loss == "mse":
        lt *= 0.5 * y.shape[1]          # nn.MSELoss's mean over B·K -> ½Σ/B
    for name, v in (("NumPy", ln), ("PyTorch", lt)):
        diff = abs(v - lf) / max(1.0, abs(lf))
        SANITY.append(diff)
        if diff > 1e-4:
            print(f"WARNING: {label}: initial loss fastmlp {lf:.6g} vs {name} {v:.6g}")


def bench_predict(cfg, report, extras):
    label = "5. predict 1×784 → 784-128-10 f32"
    sizes = [784, 128, 10]
    net = make_net(sizes, "relu", None, "cross_entropy", np.float32)
    flat0 = net.get_params()
    X, y = make_data(sizes, 32, "cross_entropy", np.float32)
    x = np.ascontiguousarray(X[:1])
    tm = TorchMLP(sizes, "relu", None, "cross_entropy", flat0, X, y, LR)
    model, xt = tm.model, torch.from_numpy(x)
    ref = NumpyMLP(sizes, "relu", None, "cross_entropy", flat0)
    out = np.empty((1, 10), np.float32)
    plan = net._plan
    helpers = fastmlp._workers.helpers(None)     # the public call's thread choice

    def torch_predict():
        with torch.no_grad():
            return model(xt)

    with torch.no_grad():
        agree = int(model(xt).argmax()) == int(net.predict(x)[0]) == \
            int(ref._forward(x)[-1].argmax())
    if not agree:
        print(f"WARNING: {label}: the predicted classes differ")
    cs = [Contender("predict", lambda: net.predict(x)),
          Contender("forward", lambda: net.forward(x)),
          Contender("direct", lambda: plan.forward(x, out, helpers=helpers)),
          Contender("torch", torch_predict),
          Contender("numpy", lambda: ref._forward(x)[-1].argmax(axis=1))]
    if threadpool_limits is not None:
        cs.insert(1, Contender("predict_1t", lambda: net.predict(x), one_blas_thread))
    res = run_small(cfg, cs)
    p, fw, t, n = (res[k].best for k in ("predict", "forward", "torch", "numpy"))
    report.add(label, (p, t, n, None),
               [("PyTorch/predict", t / p, ">=", 10.0),
                ("PyTorch/forward", t / fw, ">=", None),
                ("NumPy/predict", n / p, ">=", None)], contended(res))
    extras["threads"].append((label, res, ("predict", "predict_1t"), t))
    extras["overhead"].append((label, "predict", p, "_plan.forward", res["direct"].best))
    extras["overhead"].append((label, "forward", fw, "_plan.forward", res["direct"].best))
    extras["details"].append((label, res))


def bench_big(cfg, report, extras):
    for dtype, tag in ((np.float32, "f32"), (np.float64, "f64")):
        _bench_big_one(cfg, report, extras, dtype, tag)
        gc.collect()        # the networks and buffers of one dtype go before the next


def _bench_big_one(cfg, report, extras, dtype, tag):
    sizes, B, loss = [1024, 4096, 4096, 1024], 256, "mse"
    lr = 1e-4
    label = f"4. 1024-4096-4096-1024 b256 ReLU MSE {tag}"
    net = make_net(sizes, "relu", None, loss, dtype)
    flat0 = net.get_params()
    X, y = make_data(sizes, B, loss, dtype)
    tm = TorchMLP(sizes, "relu", None, loss, flat0, X, y, lr)
    floor = GemmFloor(sizes, B, dtype, flat0, lr)
    cs = [Contender("fastmlp", lambda: net.train_step(X, y, lr)),
          Contender("floor", floor.step),
          Contender("torch", tm.step)]
    ref = None
    if cfg.big_numpy:
        ref = NumpyMLP(sizes, "relu", None, loss, flat0)
        cs.append(Contender("numpy", lambda: ref.step(X, y, lr)))
    res = measure(cs, cfg.big_rounds, 1, 0.0, 0.0, settle=cfg.big_settle)
    f, fl, t = res["fastmlp"].best, res["floor"].best, res["torch"].best
    n = res["numpy"].best if ref is not None else None
    checks = [("fastmlp/floor", f / fl, "<=", 1.05)]
    if dtype == np.float64:
        checks.append(("PyTorch/fastmlp", t / f, ">=", 1.0))
    else:
        checks.append(("PyTorch/fastmlp", t / f, ">=", None))
    report.add(label, (f, t, n, fl), checks, contended(res))
    for c in res.values():      # keep the timings, not the networks the callables hold
        c.fn = c.ctx = None
    extras["details"].append((label, res))
    if not np.isfinite(net.loss(X, y)):
        print(f"WARNING: {label}: fastmlp loss is not finite after the benchmark")


def bench_gradient(cfg, report, extras):
    label = "6. ∇ 784-128-10 b8 f64 tanh CE"
    sizes, B = [784, 128, 10], 8
    net = make_net(sizes, "tanh", None, "cross_entropy", np.float64)
    X, y = make_data(sizes, B, "cross_entropy", np.float64)
    res = run_small(cfg, [Contender("gradient", lambda: net.gradient(X, y))])
    t_grad = res["gradient"].best
    _, g = net.gradient(X, y)

    t_num, ng = float("inf"), None
    for _ in range(cfg.numgrad_reps):
        time.sleep(cfg.settle)
        t0 = time.perf_counter()
        ng = fastmlp.numerical_gradient(net, X, y)
        t_num = min(t_num, time.perf_counter() - t0)
    err = float(relative_error(g, ng, 1e-5).max())

    # naive: a Python loop over parameters, two NumPy forward passes each
    ref = NumpyMLP(sizes, "tanh", None, "cross_entropy", net.get_params())
    flat = ref.flat
    rng = np.random.default_rng(3)
    idx = rng.choice(flat.size, cfg.naive_params, replace=False)
    h = 1e-6
    naive = np.empty(idx.size)
    per_param = float("inf")
    for chunk in np.array_split(np.arange(idx.size), 5):     # min over 5 timed chunks
        time.sleep(cfg.settle)
        ref.loss(X, y)
        t0 = time.perf_counter()
        for m in chunk:
            k = idx[m]
            old = flat[k]
            flat[k] = old + h
            up = ref.loss(X, y)
            flat[k] = old - h
            down = ref.loss(X, y)
            flat[k] = old
            naive[m] = (up - down) / (2 * h)
        per_param = min(per_param, (time.perf_counter() - t0) / chunk.size)
    t_naive = per_param * flat.size
    naive_err = float(relative_error(g[idx], naive, 1e-5).max())

    report.add(label, (t_grad, "—", f"≈{fmt_time(t_naive)} est.", "—"),
               [f"numerical_gradient {fmt_time(t_num)} = {fmt_ratio(t_num / t_grad)} backprop",
                ("max rel err backprop vs numerical", err, "<=", 1e-6, "number"),
                f"naive loop est. = {fmt_ratio(t_naive / t_num)} numerical_gradient "
                f"({idx.size} params timed, ×{flat.size / idx.size:.0f})"], contended(res))
    extras["details"].append((label, res))
    extras["gradient"] = dict(t_grad=t_grad, t_num=t_num, err=err, t_naive=t_naive,
                              naive_err=naive_err, n_params=flat.size, n_sampled=idx.size)


# ---------------------------------------------------------------------------
# Dropout (--dropout)
# ---------------------------------------------------------------------------

DROPOUT = [("784-128-10 b32 ReLU CE f32", [784, 128, 10], 32),
           ("784-512-256-10 b128 ReLU CE f32", [784, 512, 256, 10], 128)]


def bench_dropout(cfg, markdown):
    """train_step with dropout against the same network without it, interleaved; and
    the mask hashing alone (what storing the forward's mask would save the backward)."""
    rows = []
    for label, sizes, B in DROPOUT:
        X, y = make_data(sizes, B, "cross_entropy", np.float32)
        nets = {p: fastmlp.Network(sizes, "relu", "cross_entropy", np.float32, seed=0,
                                   dropout=p) for p in (0.0, 0.2, 0.5)}
        hidden = [(l, n) for l, n in enumerate(sizes[1:-1])]
        masks = [np.empty((B, n), np.float32) for _, n in hidden]

        def hash_masks():
            for (l, _), m in zip(hidden, masks):
                fastmlp._kernels.dropout_mask(m, 1, 2, l, 0.2)

        cs = [Contender(f"p={p}", lambda net=net: net.train_step(X, y, LR))
              for p, net in nets.items()]
        if threadpool_limits is not None:
            cs += [Contender(f"p={p} 1t", lambda net=nets[p]: net.train_step(X, y, LR),
                             one_blas_thread) for p in (0.0, 0.2)]
        cs.append(Contender("hash", hash_masks))
        res = run_small(cfg, cs)
        base = res["p=0.0"].best
        star = "*" if contended(res) else ""
        one = (fmt_ratio(res["p=0.2 1t"].best / res["p=0.0 1t"].best) + star
               if "p=0.2 1t" in res else "—")
        rows.append([label, fmt_time(base), fmt_time(res["p=0.2"].best),
                     fmt_ratio(res["p=0.2"].best / base) + star,
                     fmt_ratio(res["p=0.5"].best / base) + star, one,
                     f"{fmt_time(res['hash'].best)} ({100 * res['hash'].best / base:.0f}%)"])
    section("Dropout: one train_step (SGD) with dropout p on every hidden layer, against "
            "p = 0, same run",
            table(["workload", "p = 0", "p = 0.2", "p=0.2 / p=0", "p=0.5 / p=0",
                   "p=0.2 / p=0, 1 BLAS thread", "mask hashing, one pass (share of p = 0)"],
                  rows, markdown, ["<", ">", ">", ">", ">", ">", ">"]), markdown)
    if any("*" in r[3] for r in rows):
        print(f"(*) no block ran while other processes used ≤ {CpuMonitor.QUIET} cores: "
              "rerun on a quiet machine")
