"""The shared optimizer problem for the fastmlp.optim tests: a starting vector with a fixed
gradient sequence, the runners that apply it with fastmlp.optim and with torch.optim, and
the table of optimizer configurations both are run with."""
import numpy as np

from fastmlp.optim import SGD, Adam, AdamW

N_PARAMS = 300
N_STEPS = 50


def _problem(rng, dtype, n=N_PARAMS, steps=N_STEPS, varying_scale=False):
    """A starting vector and a fixed sequence of random gradients."""
    p0 = rng.standard_normal(n).astype(dtype)
    grads = rng.standard_normal((steps, n))
    if varying_scale:                       # norms from ~2 to ~50 (sqrt(300) ~ 17)
        grads *= rng.uniform(0.1, 3.0, size=(steps, 1))
    return p0, grads.astype(dtype)


def _run_fastmlp(opt, p0, grads, mask=None):
    p = p0.copy()
    for g in grads:
        opt.step(p, np.ascontiguousarray(g), mask)
    return p


def _run_torch(torch, kind, p0, grads, *, mask=None, wd=0.0, clip=None, factor=None, **kw):
    """The same updates with torch.optim: weight decay on the entries where mask is
    true (all when mask is None) via two param groups, clipping by the global norm of
    both groups with clip_grad_norm_, the schedule with LambdaLR stepped per update."""
    dtype = {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32}[p0.dtype]
    mask = np.ones(p0.shape, bool) if mask is None else np.asarray(mask, bool)
    idx = [np.flatnonzero(mask), np.flatnonzero(~mask)]
    tensors = [torch.tensor(p0[i], dtype=dtype, requires_grad=True) for i in idx]
    groups = [{"params": [t], "weight_decay": w}
              for t, w, i in zip(tensors, (wd, 0.0), idx) if i.size]
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[kind]
    opt = cls(groups, **kw)
    sched = None if factor is None else torch.optim.lr_scheduler.LambdaLR(opt, factor)
    for g in grads:
        for t, i in zip(tensors, idx):
            t.grad = torch.tensor(g[i], dtype=dtype)
        if clip is not None:
            torch.nn.utils.clip_grad_norm_([t for t in tensors if t.numel()], clip)
        opt.step()
        if sched is not None:
            sched.step()
    out = np.empty_like(p0)
    for t, i in zip(tensors, idx):
        out[i] = t.detach().numpy()
    return out


# (id, fastmlp class, torch kind, shared keyword arguments, weight decay)
CONFIGS = [
    ("sgd", SGD, "sgd", dict(lr=0.05), 0.0),
    ("sgd-momentum", SGD, "sgd", dict(lr=0.05, momentum=0.9), 0.0),
    ("sgd-nesterov", SGD, "sgd", dict(lr=0.05, momentum=0.9, nesterov=True), 0.0),
    ("sgd-wd", SGD, "sgd", dict(lr=0.05), 0.1),
    ("sgd-momentum-wd", SGD, "sgd", dict(lr=0.05, momentum=0.8), 0.05),
    ("sgd-nesterov-wd", SGD, "sgd", dict(lr=0.02, momentum=0.95, nesterov=True), 0.01),
    ("adam", Adam, "adam", dict(lr=0.01), 0.0),
    ("adam-wd", Adam, "adam", dict(lr=0.01), 0.1),
    ("adam-betas-eps", Adam, "adam", dict(lr=0.03, betas=(0.8, 0.95), eps=1e-4), 0.02),
    ("adamw", AdamW, "adamw", dict(lr=0.01), 0.1),
    ("adamw-betas", AdamW, "adamw", dict(lr=0.05, betas=(0.5, 0.9), eps=1e-6), 0.3),
]


def _fastmlp_opt(cls, kw, wd, **extra):
    return cls(**kw, weight_decay=wd, **extra)
