"""The activation registry: name -> kernel code, NumPy reference, derivative, init.

Derivatives are written in terms of the layer's OUTPUT a = f(z), the way the seed
articles write sigmoid' = a(1 - a) and tanh' = 1 - a², so a layer need not keep z.
Two exceptions keep z: GELU (its derivative is not a function of its output) and
ELU (a + α cancels for z << 0, while α·e^z is exact).  The NumPy functions here document the math and serve users; the
kernels in csrc/_activations.pxd compute the same things in one fused pass.
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.special import erfc, expit, log_expit

from . import _kernels


@dataclass(frozen=True)
class Activation:
    name: str
    code: int              # the kernel's ACT_* code
    forward: Callable      # f(z, alpha) -> a
    derivative: Callable   # f'(a, z, alpha), from the output a (from z if keeps_z)
    init: str              # "he" for the ReLU family, "glorot" otherwise
    alpha: float = 0.0     # default parameter (leaky_relu slope, elu scale)
    keeps_z: bool = False


def _softmax(z, alpha=None):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _gelu(z, alpha=None):
    return 0.5 * z * erfc(-z / np.sqrt(2))


def _gelu_prime(a, z, alpha=None):
    return 0.5 * erfc(-z / np.sqrt(2)) + z * np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)


def _softplus(z, alpha=None):
    return -log_expit(-z)


def _entry(name, forward, derivative, init, alpha=0.0, keeps_z=False):
    return Activation(name, _kernels.ACTIVATION_CODES[name], forward, derivative, init,
                      alpha, keeps_z)


ACTIVATIONS = {a.name: a for a in [
    _entry("identity", lambda z, al=None: z, lambda a, z, al=None: np.ones_like(a), "glorot"),
    _entry("sigmoid", lambda z, al=None: expit(z), lambda a, z, al=None: a * (1 - a), "glorot"),
    _entry("tanh", lambda z, al=None: np.tanh(z), lambda a, z, al=None: 1 - a * a, "glorot"),
    _entry("relu", lambda z, al=None: np.maximum(z, 0),
           lambda a, z, al=None: (a > 0).astype(a.dtype), "he"),
    _entry("leaky_relu", lambda z, al=0.01: np.where(z > 0, z, al * z),
           lambda a, z, al=0.01: np.where(a > 0, 1, al).astype(a.dtype), "he", alpha=0.01),
    _entry("elu", lambda z, al=1.0: np.where(z > 0, z, al * np.expm1(np.minimum(z, 0))),
           lambda a, z, al=1.0: np.where(z > 0, 1, al * np.exp(np.minimum(z, 0))).astype(a.dtype),
           "he", alpha=1.0, keeps_z=True),
    _entry("softplus", _softplus, lambda a, z, al=None: -np.expm1(-a), "glorot"),
    _entry("gelu", _gelu, _gelu_prime, "he", keeps_z=True),
    # softmax's derivative is a Jacobian, applied row-wise as a_j (g_j - Σ_k g_k a_k)
    _entry("softmax", _softmax, None, "glorot"),
    # exp is the Poisson loss's output (a = the mean); exp' = a
    _entry("exp", lambda z, al=None: np.exp(z), lambda a, z, al=None: a, "glorot"),
]}


OUTPUT_ONLY = ("softmax", "exp")            # the activations of output layers only


PARAMETRIZED = ("leaky_relu", "elu")        # the activations that take an alpha


def get_activation(name, alpha=None):
    """The registry entry for `name` and its parameter (validated)."""
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    act = ACTIVATIONS[name]
    if alpha is None:
        return act, act.alpha
    if name not in PARAMETRIZED:
        raise ValueError(f"activation {name!r} takes no alpha parameter, got alpha={alpha!r}")
    alpha = float(alpha)
    # the derivative is read off the output: that needs sign(a) == sign(z)
    if not np.isfinite(alpha) or alpha < 0 or (name == "elu" and alpha == 0):
        raise ValueError(f"alpha for {name} must be {'> 0' if name == 'elu' else '>= 0'} "
                         f"and finite, got {alpha}")
    return act, alpha
