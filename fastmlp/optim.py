"""Optimizers over a network's ONE flat parameter vector, each update one compiled loop.

    opt = Adam(lr=1e-3)
    for X, y in batches:
        net.train_step(X, y, optimizer=opt)      # gradient (one call) + update (one call)

or by hand: ``net.gradient(X, y)`` fills ``net.grads``; ``opt.step(net.params, net.grads)``.

SGD (momentum, Nesterov), Adam and AdamW follow PyTorch's update rules exactly
(torch.optim.SGD with dampening 0, Adam, AdamW).  Every optimizer takes a learning-rate
schedule, clipping by global gradient norm, and weight decay (coupled L2 for SGD/Adam,
decoupled for AdamW) restricted, inside fit, to the weights (not the biases).
L-BFGS (full batch) runs scipy.optimize.minimize on the flat vector with the analytic
gradient.
"""
import math
import numbers
import threading
import weakref

import numpy as np
import scipy.optimize

from . import _optim
from ._validation import as_array, check_scalar, check_size

_OK, _BAD_GRAD, _BAD_PARAMS, _UNSAFE = (
    _optim.STATUS[k] for k in ("ok", "nonfinite_grad", "nonfinite_params", "unsafe"))


# -- learning-rate schedules: a factor of the base rate after t updates -------------

class Constant:
    def __call__(self, t):
        return 1.0

    def __repr__(self):
        return "Constant()"


class StepDecay:
    """Multiply the rate by gamma every step_size updates."""

    def __init__(self, step_size, gamma=0.1):
        self.step_size = _count(step_size, "step_size")
        self.gamma = check_scalar(gamma, "gamma", minimum=0.0, allow_zero=False)

    def __call__(self, t):
        return self.gamma ** (t // self.step_size)

    def __repr__(self):
        return f"StepDecay(step_size={self.step_size}, gamma={self.gamma})"


class Cosine:
    """Half a cosine from 1 down to min_factor over total_steps updates, then flat."""

    def __init__(self, total_steps, min_factor=0.0):
        self.total_steps = _count(total_steps, "total_steps")
        self.min_factor = check_scalar(min_factor, "min_factor", minimum=0.0)

    def __call__(self, t):
        progress = min(t, self.total_steps) / self.total_steps
        return self.min_factor + (1 - self.min_factor) * 0.5 * (1 + math.cos(math.pi * progress))

    def __repr__(self):
        return f"Cosine(total_steps={self.total_steps}, min_factor={self.min_factor})"


class InverseScaling:
    """scikit-learn's 'invscaling': the rate divided by (t + 1) ** power_t."""

    def __init__(self, power_t=0.5):
        self.power_t = check_scalar(power_t, "power_t", minimum=0.0)

    def __call__(self, t):
        return 1.0 / (t + 1) ** self.power_t

    def __repr__(self):
        return f"InverseScaling(power_t={self.power_t})"


def _count(value, name):
    """A whole number of updates >= 1 (an integer, or a float with no fraction)."""
    if not isinstance(value, (bool, np.bool_)) and isinstance(value, numbers.Integral):
        return check_size(value, name)
    value = check_scalar(value, name, minimum=1.0)
    if not value.is_integer():
        raise ValueError(f"{name} must be a whole number, got {value}")
    return check_size(int(value), name)


def _check_factor(schedule, t):
    """schedule(t) as a finite factor >= 0, or an error naming the schedule."""
    try:
        factor = schedule(t)
    except Exception as exc:
        raise TypeError(f"schedule({t}) failed: a schedule is called with the update "
                        f"count t and returns a factor ({type(exc).__name__}: {exc})") from None
    return check_scalar(factor, f"schedule({t})", minimum=0.0)


SCHEDULES = {"constant": Constant, "step": StepDecay, "cosine": Cosine,
             "invscaling": InverseScaling}


def make_schedule(spec, total_steps=None):
    """A schedule object from an instance, a callable, None or a name.

    By name, total_steps sets the horizon: "step" decays by 10x at a third and two
    thirds of it, "cosine" spans it.
    """
    if spec is None or spec == "constant":
        return Constant()
    if callable(spec):
        _check_factor(spec, 0)
        return spec
    if spec == "invscaling":
        return InverseScaling()
    if spec in ("step", "cosine"):
        if total_steps is None:
            raise ValueError(f"schedule {spec!r} by name needs total_steps (the number of "
                             f"updates); pass a {SCHEDULES[spec].__name__} object instead")
        total_steps = check_size(total_steps, "total_steps")
        return StepDecay(-(-total_steps // 3)) if spec == "step" else Cosine(total_steps)
    raise ValueError(f"schedule must be one of {sorted(SCHEDULES)}, a callable or None, "
                     f"got {spec!r}")


# -- first-order optimizers -----------------------------------------------------------

class Optimizer:
    """Base class: the learning rate, its schedule, clipping and weight decay.

    t counts the updates made so far; the rate used by the next one is lr · schedule(t).
    The moment buffers belong to ONE parameter vector: the first step binds the
    optimizer to it, and a step on another live vector is refused (one optimizer per
    network, or reset() first).  Steps are serialized by a lock, so threads may share
    an optimizer (and its network).
    """

    def __init__(self, lr, schedule=None, clip_norm=None, weight_decay=0.0):
        self.lr = check_scalar(lr, "lr", minimum=0.0)
        self.schedule = make_schedule(schedule)
        self.clip_norm = (None if clip_norm is None else
                          check_scalar(clip_norm, "clip_norm", minimum=0.0, allow_zero=False))
        self.weight_decay = check_scalar(weight_decay, "weight_decay", minimum=0.0)
        self.t = 0
        self._state = None
        self._ones = None
        self._bound = None        # weak reference to the parameter vector of the state
        self._lock = threading.Lock()

    @property
    def current_lr(self):
        return self.lr * self.schedule(self.t)

    def reset(self):
        """Forget the step count, the moment buffers and the parameter vector."""
        with self._lock:
            self.t = 0
            self._state = None
            self._bound = None

    # pickling and deepcopy: the state travels, the lock and the binding do not (the
    # copy binds to the vector of its first step)
    def __getstate__(self):
        with self._lock:
            state = self.__dict__.copy()
        del state["_lock"], state["_bound"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._bound = None
        self._lock = threading.Lock()

    def step(self, params, grads, decay_mask=None):
        """params -= update(grads), in place, in one compiled call.

        params and grads: 1-D C-contiguous arrays of one float dtype and length.
        decay_mask: optional bool/uint8 array, weight decay only where it is true.
        params must be finite (ValueError); a NaN or inf in grads raises
        FloatingPointError (naming grads) and updates nothing.
        """
        for name, arr in (("params", params), ("grads", grads)):
            if not isinstance(arr, np.ndarray) or arr.ndim != 1 or not arr.flags.c_contiguous \
                    or arr.dtype not in (np.float32, np.float64):
                raise TypeError(f"{name} must be a 1-D C-contiguous float32/float64 array")
        if grads.shape != params.shape or grads.dtype != params.dtype:
            raise ValueError(f"grads must match params: {params.dtype} {params.shape}, "
                             f"got {grads.dtype} {grads.shape}")
        if not params.flags.writeable:
            raise ValueError("params must be writeable")
        if not np.isfinite(params).all():
            raise ValueError("params contains NaN or infinity")
        if decay_mask is not None:
            mask = as_array(decay_mask, "decay_mask")
            if mask.dtype.kind not in "biuf":
                raise TypeError(f"decay_mask must hold booleans, got dtype {mask.dtype}")
            if mask.shape != params.shape:
                raise ValueError(f"decay_mask must have shape {params.shape}, "
                                 f"got {mask.shape}")
            if mask.dtype.kind == "f" and not np.all(np.isfinite(mask)):
                raise ValueError("decay_mask contains NaN or infinity")
            decay_mask = np.ascontiguousarray(mask != 0, dtype=np.uint8)
        self._apply(params, grads, decay_mask, grads_name="grads")

    def _apply(self, params, grads, mask, helpers=0, grads_name="the gradient"):
        """The update on arrays already known to be right (fit's hot path); helpers:
        helper threads that share it (from a training step that shares its GEMMs with
        them: while OpenBLAS's own threads hold the cores, it measured no faster);
        grads_name: what the error for a NaN/inf gradient calls it.

        The kernel writes nothing it cannot prove finite; when its bound cannot rule
        out overflow (a huge learning rate or huge weights) it answers "unsafe", and
        the update is made on a backed-up state, undone if anything overflowed.
        """
        with self._lock:
            self._bind(params)
            self._apply_locked(params, grads, mask, helpers, grads_name)

    def _check_vector(self, params):
        """Refuse `params` if the state belongs to another live vector; the bound one."""
        bound = None if self._bound is None else self._bound()
        if bound is not None and bound is not params and not _same_memory(bound, params):
            raise ValueError(
                "this optimizer's state belongs to another parameter vector (another "
                "network): use one optimizer per network, or call opt.reset() before "
                "using it on a new one")
        return bound

    def _bind(self, params):
        """Tie the state to `params`, or refuse if it belongs to another live vector."""
        if self._bound is None or self._bound() is not params:  # not on each step of a fit
            self._check_vector(params)
            self._bound = weakref.ref(params)
        if self._state is None or self._state[0].shape != params.shape \
                or self._state[0].dtype != params.dtype:
            self.t = 0
            self._state = self._new_state(params)

    def _apply_locked(self, params, grads, mask, helpers=0, grads_name="the gradient"):
        # the constant schedule (the default) needs no call and no check
        lr = self.lr if type(self.schedule) is Constant else \
            self.lr * _check_factor(self.schedule, self.t)
        if mask is None:                  # the kernels take a mask: decay everywhere
            if self._ones is None or self._ones.size != params.size:
                self._ones = np.ones(params.size, np.uint8)
            mask = self._ones
        status = self._update(params, grads, mask, lr, False, helpers)
        if status == _UNSAFE:
            backup = [params.copy()] + [s.copy() for s in self._state]
            status = self._update(params, grads, mask, lr, True, helpers)
            if status == _BAD_PARAMS:
                for target, saved in zip([params, *self._state], backup):
                    target[...] = saved
                raise FloatingPointError(f"the update would have left NaN or infinity in the "
                                         f"parameters (learning rate lr={lr:g} too large?); "
                                         "they were left as they were")
        if status == _BAD_GRAD:
            raise FloatingPointError(f"{grads_name} contains NaN or infinity; "
                                     "the parameters were not updated")
        self.t += 1

    def _clip(self):
        return 0.0 if self.clip_norm is None else self.clip_norm


def _same_memory(a, b):
    """Whether two arrays are the same vector (same first byte, dtype and shape)."""
    return (a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
            and a.dtype == b.dtype and a.shape == b.shape)


class SGD(Optimizer):
    """p -= lr · d with d = g (+ momentum buffer, optionally Nesterov), g += wd · p."""

    def __init__(self, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0,
                 schedule=None, clip_norm=None):
        super().__init__(lr, schedule, clip_norm, weight_decay)
        self.momentum = check_scalar(momentum, "momentum", minimum=0.0)
        if nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0")
        self.nesterov = bool(nesterov)

    def _new_state(self, params):
        return (np.zeros_like(params),)

    def _update(self, params, grads, mask, lr, force, helpers):
        buf = self._state[0] if self.momentum else None
        return _optim.sgd_step(params, grads, buf, mask, lr, self.momentum, self.nesterov,
                               self.weight_decay, self._clip(), self.t == 0, force, helpers)

    def __repr__(self):
        return (f"SGD(lr={self.lr}, momentum={self.momentum}, nesterov={self.nesterov}, "
                f"weight_decay={self.weight_decay})")


class Adam(Optimizer):
    """Adam with bias correction; weight_decay is coupled (added to the gradient)."""

    decoupled = False

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 schedule=None, clip_norm=None):
        super().__init__(lr, schedule, clip_norm, weight_decay)
        try:
            b1, b2 = betas
        except (TypeError, ValueError):
            raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}") from None
        for name, b in (("betas[0]", b1), ("betas[1]", b2)):
            b = check_scalar(b, name, minimum=0.0)
            if b >= 1:
                raise ValueError(f"{name} must be in [0, 1), got {b}")
        self.betas = (float(b1), float(b2))
        self.eps = check_scalar(eps, "eps", minimum=0.0, allow_zero=False)

    def _new_state(self, params):
        return (np.zeros_like(params), np.zeros_like(params))

    def _update(self, params, grads, mask, lr, force, helpers):
        m, v = self._state
        return _optim.adam_step(params, grads, m, v, mask, lr, self.betas[0], self.betas[1],
                                self._eps(self.t + 1), self.t + 1, self.weight_decay,
                                self.decoupled, self._clip(), force, helpers)

    def _eps(self, t):
        """The ε added to the bias-corrected √v at step t."""
        return self.eps

    def __repr__(self):
        return (f"{type(self).__name__}(lr={self.lr}, betas={self.betas}, eps={self.eps}, "
                f"weight_decay={self.weight_decay})")


class AdamW(Adam):
    """Adam with decoupled weight decay: p *= 1 - lr · wd before the Adam step."""

    decoupled = True

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01,
                 schedule=None, clip_norm=None):
        super().__init__(lr, betas, eps, weight_decay, schedule, clip_norm)


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW}


def optimizer_class(spec):
    """The Optimizer class named by spec, or a ValueError naming `optimizer`."""
    if not isinstance(spec, str) or spec not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS) + ['lbfgs']} or an "
                         f"Optimizer, got {spec!r}")
    return OPTIMIZERS[spec]


def make_optimizer(spec, lr=None, **options):
    """An Optimizer from an instance (returned as is) or a name in OPTIMIZERS."""
    if isinstance(spec, Optimizer):
        return spec
    cls = optimizer_class(spec)
    if lr is not None:
        options["lr"] = lr
    return cls(**options)


# -- L-BFGS, full batch -------------------------------------------------------------

def lbfgs(net, X, y, max_iter=200, tol=1e-7, max_fun=15000, callback=None):
    """Minimize net.loss(X, y) over the flat parameter vector with L-BFGS-B and the
    analytic gradient (full batch, in float64 as scipy works).  The network ends at
    the solution; returns scipy's OptimizeResult."""
    from .network import Network
    if not isinstance(net, Network):
        raise TypeError(f"net must be a fastmlp Network, got {type(net).__name__}")
    max_iter, max_fun = check_size(max_iter, "max_iter"), check_size(max_fun, "max_fun")
    tol = check_scalar(tol, "tol", minimum=0.0)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None, got {type(callback).__name__}")
    X = net._inputs(X)
    T, labels = net._targets(y, X.shape[0])
    return lbfgs_prepared(net, X, T, labels, max_iter, tol, max_fun, callback)


def lbfgs_prepared(net, X, T, labels, max_iter=200, tol=1e-7, max_fun=15000, callback=None,
                   ftol=None, l2=None, row_weights=None):
    """lbfgs() on arrays already validated (and scaled).  ftol defaults to tol; l2
    overrides the network's penalty; row_weights (float64, summing to 1) weight the
    rows in place of the mean."""
    plan, params, grads = net._plan, net.params, net.grads
    l2 = net.l2 if l2 is None else l2

    def loss_and_grad(theta):
        params[...] = theta
        with net._lock:
            value = plan.gradient(X, T, labels, l2, None, row_weights=row_weights)
        return value, grads.astype(np.float64)

    result = scipy.optimize.minimize(
        loss_and_grad, params.astype(np.float64), jac=True, method="L-BFGS-B",
        callback=callback, options={"maxiter": int(max_iter), "maxfun": int(max_fun),
                                    "gtol": float(tol),
                                    "ftol": float(tol if ftol is None else ftol)})
    params[...] = result.x
    return result
