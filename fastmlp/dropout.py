"""Dropout: rates, keys and masks.  The kernels apply the masks (csrc/_dropout.pxd).

Inverted dropout on hidden-layer outputs, in training only:

    A_dropped = A ⊙ m,   m = keep / (1 - p),   keep ~ Bernoulli(1 - p) per unit

so forward, predict, loss and evaluate (no dropout) need no rescaling.  The mask of
a training step is a pure function of (key, step, layer, row, unit), computed by a
counter-based hash in the fused forward kernel and recomputed in the δ kernel of the
backward pass: nothing random is stored, and the same key and step give the same
mask whatever the thread count.  A Network or a Layer holds a `dropout_key` (from
its seed) and a `dropout_step` counter, the step its next training call will use.

    dropout_mask(key, step, layer, rate, shape)   the multipliers m the kernels use
"""
import math
import numbers

import numpy as np

from . import _kernels
from ._validation import check_dtype, check_size

_TAG = 0x64726F70              # "drop": keeps the dropout key apart from the init stream
_STEPS = 2**64                 # keys and steps are unsigned 64-bit integers


def check_rate(value, name="dropout"):
    """A dropout rate: a real number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number in [0, 1), got {type(value).__name__} "
                        f"{value!r}")
    value = float(value)
    if not (math.isfinite(value) and 0.0 <= value < 1.0):
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return value


def check_rates(dropout, n_hidden):
    """One rate per hidden layer, from one number or a sequence of n_hidden numbers."""
    if isinstance(dropout, (list, tuple, np.ndarray)):
        if len(dropout) != n_hidden:
            raise ValueError(f"dropout must be one rate or a list of {n_hidden} rates "
                             f"(one per hidden layer), got {len(dropout)} rates")
        return [check_rate(p, f"dropout[{i}]") for i, p in enumerate(dropout)]
    rate = check_rate(dropout)
    return [rate] * n_hidden


def check_step(value, name="dropout_step"):
    """A step counter: a whole number in [0, 2**64)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if not 0 <= value < _STEPS:
        raise ValueError(f"{name} must be in [0, 2**64), got {value}")
    return int(value)


class Counter64:
    """A validated attribute holding an unsigned 64-bit integer (dropout_key, dropout_step):
    what the kernels take as uint64, checked when it is set, with its name in the error."""

    def __set_name__(self, owner, name):
        self.name, self.slot = name, "_" + name

    def __get__(self, obj, owner=None):
        return self if obj is None else getattr(obj, self.slot)

    def __set__(self, obj, value):
        setattr(obj, self.slot, check_step(value, self.name))


def make_key(seed):
    """A 64-bit dropout key from a seed: an int (reproducible), None (fresh entropy), or
    a numpy Generator, BitGenerator or SeedSequence (a child of its seed sequence: the
    generator's own stream is left untouched)."""
    if isinstance(seed, np.random.Generator):
        seed = seed.bit_generator
    if isinstance(seed, np.random.BitGenerator):
        seed = getattr(seed, "seed_seq", None)
        if not isinstance(seed, np.random.SeedSequence):
            seed = None
    if isinstance(seed, np.random.SeedSequence):
        sequence = seed.spawn(1)[0]
    elif seed is None:
        sequence = np.random.SeedSequence()
    else:
        if isinstance(seed, (bool, np.bool_)):
            raise TypeError(f"seed must be None, a non-negative integer or a numpy "
                            f"Generator, got {seed!r}")
        try:
            sequence = np.random.SeedSequence(seed, spawn_key=(_TAG,))
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"seed must be None, a non-negative integer or a numpy "
                            f"Generator, got {type(seed).__name__} {seed!r}") from None
    return int(sequence.generate_state(1, np.uint64)[0])


def dropout_mask(key, step, layer, rate, shape, dtype=np.float64):
    """The multipliers m (0 or 1/(1 - rate)) that a training step with `key` and `step`
    applies to layer `layer`'s output, for a batch of shape (rows, units)."""
    key = check_step(key, "key")
    step = check_step(step, "step")
    layer = check_size(layer, "layer", minimum=0)
    rate = check_rate(rate, "rate")
    if not isinstance(shape, tuple) or len(shape) != 2:
        raise ValueError(f"shape must be a (rows, units) tuple, got {shape!r}")
    rows, units = (check_size(n, f"shape[{i}]") for i, n in enumerate(shape))
    out = np.empty((rows, units), check_dtype(dtype))
    if rate == 0:
        out.fill(1)
    else:
        _kernels.dropout_mask(out, key, step, layer, rate)
    return out


class DropoutMixin:
    """A Network's dropout state: the masks of a training step come from (key, step),
    and the step advances after every training call (see the module docstring)."""

    dropout_key = Counter64()
    dropout_step = Counter64()

    @property
    def dropout(self):
        """The dropout rate of each hidden layer (a list; empty without hidden layers)."""
        return [layer.dropout for layer in self.layers[:-1]]

    def _training_masks(self):
        """(key, step) for the masks of the next training call; None without dropout."""
        if not self._has_dropout:
            return None
        return (self._dropout_key, self._dropout_step)     # the validated values

    def _advance(self, masks):
        """After a training call that used `masks`: the next one draws new masks."""
        if masks is not None:
            self._dropout_step = (masks[1] + 1) & 0xFFFFFFFFFFFFFFFF

    def _fixed_masks(self, dropout_step):
        """(key, dropout_step) to evaluate with one step's masks, or None."""
        if dropout_step is None:
            return None
        return (self.dropout_key, check_step(dropout_step))
