"""Layer: one fully connected layer, A = act(X @ W + b), in the seeds' vocabulary.

    layer.forward(X)      -> A          keeps X and A (and Z for GELU) for backward
    layer.backward(G)     -> δ below    G = ∂L/∂A; sets layer.delta = ∂L/∂Z, dW, db

With Layer(..., dropout=p), forward(X, training=True) returns A ⊙ m (inverted
dropout, fastmlp.dropout) and the following backward applies the same mask.

Both run the compiled kernels (one GEMM and one fused elementwise pass each way).
"""
import numpy as np

from . import _kernels
from ._validation import (as_array, check_allocation, check_dtype, check_matrix, check_scalar,
                          check_size, make_rng)
from .activations import PARAMETRIZED, get_activation
from .dropout import Counter64, check_rate, make_key


def init_weights(W, init, rng):
    """Fill W (n_in × n_out) in place: Glorot-uniform or He-normal."""
    n_in, n_out = W.shape
    if init == "he":
        W[...] = rng.standard_normal(W.shape) * np.sqrt(2.0 / n_in)
    else:
        limit = np.sqrt(6.0 / (n_in + n_out))
        W[...] = rng.uniform(-limit, limit, W.shape)


class Layer:
    """A = act(X @ W + b), with W of shape (n_in, n_out) in C order.

    Parameters
    ----------
    n_in, n_out : int
    activation : str
        identity, sigmoid, tanh, relu, leaky_relu, elu, softplus, gelu or softmax.
    dtype : np.float32 (default) or np.float64
    seed : int or None
        Seeds the initialization (Glorot for sigmoid/tanh/identity/softmax/softplus,
        He for the ReLU family); the same seed gives bit-identical weights.
    alpha : float, optional
        The slope of leaky_relu (default 0.01) or the scale of elu (default 1).
    dropout : float in [0, 1)
        Inverted dropout on the output in training (forward(X, training=True)): each
        unit is zeroed with probability `dropout`, the others scaled by 1/(1 - dropout).
        The mask of each training forward is drawn from `dropout_key` (made from seed)
        and the step counter `dropout_step`, which then advances.
    """

    dropout_key = Counter64()
    dropout_step = Counter64()

    def __init__(self, n_in, n_out, activation="relu", dtype=np.float32, seed=None,
                 alpha=None, dropout=0.0):
        act = self._describe(n_in, n_out, activation, dtype, alpha)
        self._dropout = check_rate(dropout)
        # W and dW, and the float64 draws that initialize W
        check_allocation(self._n_in * self._n_out * (2 * self._dtype.itemsize + 16),
                         f"Layer({self._n_in}, {self._n_out})")
        self._W = np.empty((self._n_in, self._n_out), self._dtype)
        self._b = np.zeros(self._n_out, self._dtype)
        self._dW = np.zeros_like(self._W)
        self._db = np.zeros_like(self._b)
        init_weights(self._W, act.init, make_rng(seed))
        self.dropout_key = make_key(seed)
        self.dropout_step = 0
        self._X = self._A = self._Z = self._delta = None    # the last forward / backward
        self._act = self._mask = None   # A before dropout, and its mask, for backward
        self._network = None       # the Network whose buffers W and b live in

    def _describe(self, n_in, n_out, activation, dtype, alpha):
        self._n_in = check_size(n_in, "n_in")
        self._n_out = check_size(n_out, "n_out")
        self._dtype = check_dtype(dtype)
        alpha = None if alpha is None else check_scalar(alpha, "alpha")
        act, self._alpha = get_activation(activation, alpha)
        self._activation = act.name
        self._code = act.code
        self._keeps_z = act.keeps_z
        return act

    @classmethod
    def _unallocated(cls, n_in, n_out, activation, dtype, alpha=None, dropout=0.0):
        """A Layer without W, b, dW, db of its own, to be bound to a Network's buffers
        whose values the caller sets (a loaded model: no weights drawn, no copies)."""
        layer = cls.__new__(cls)
        layer._describe(n_in, n_out, activation, dtype, alpha)
        layer._dropout = check_rate(dropout)
        layer._W = layer._b = layer._dW = layer._db = None
        layer.dropout_key = make_key(0)
        layer.dropout_step = 0
        layer._X = layer._A = layer._Z = layer._delta = None
        layer._act = layer._mask = None
        layer._network = None
        return layer

    # What the kernels depend on is fixed at construction: read-only properties.
    # Every array handed out is a fresh view, so no reshape or dtype change of it can
    # reach the arrays the kernels are given.
    @property
    def n_in(self):
        return self._n_in

    @property
    def n_out(self):
        return self._n_out

    @property
    def dtype(self):
        return self._dtype

    @property
    def activation(self):
        return self._activation

    @property
    def alpha(self):
        return self._alpha

    # W and b are fixed buffers (in a Network, views into its flat parameter
    # vector): assigning copies into them, so the network never loses track.
    @property
    def W(self):
        return self._W.view()

    @W.setter
    def W(self, value):
        self._W[...] = self._checked(value, "W", self._W.shape)

    @property
    def b(self):
        return self._b.view()

    @b.setter
    def b(self, value):
        self._b[...] = self._checked(value, "b", self._b.shape)

    @property
    def dropout(self):
        """The dropout rate (fixed at construction: a Network's kernels are built on it)."""
        return self._dropout

    @property
    def dW(self):
        return self._dW.view()

    @property
    def db(self):
        return self._db.view()

    # the last forward's input X, output A and pre-activation Z (A itself unless the
    # activation keeps Z apart), and the last backward's delta = ∂L/∂Z: read-only
    @property
    def X(self):
        return _read_only(self._X)

    @property
    def A(self):
        return _read_only(self._A)

    @property
    def Z(self):
        return _read_only(self._Z)

    @property
    def delta(self):
        return _read_only(self._delta)

    def _checked(self, value, name, shape):
        arr = as_array(value, name)
        if arr.shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
        if arr.dtype.kind != "f":
            raise TypeError(f"{name} must hold float values, got dtype {arr.dtype}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or infinity")
        return arr

    def _bind(self, network, W, b, dW, db):
        """Adopt views into a network's flat buffers (values copied in first)."""
        self._network = network
        if self._W is not None:
            W[...] = self._W
            b[...] = self._b
        self._W, self._b, self._dW, self._db = W, b, dW, db

    def forward(self, X, training=False):
        """A = act(X @ W + b) for a batch X of shape (B, n_in); in training, with a
        dropout rate, A ⊙ m with the mask of step `dropout_step` (which advances)."""
        X = check_matrix(X, "X", self._dtype, self._n_in)
        A = np.empty((X.shape[0], self._n_out), self._dtype)
        Z = np.empty_like(A) if self._keeps_z else A
        if training and self._dropout > 0:
            out = np.empty_like(A)
            mask = (self.dropout_key, self.dropout_step, 0, self._dropout)
            _kernels.layer_forward(X, self._W, self._b, Z, A, self._code, self._alpha,
                                   out, mask)
            self.dropout_step = (self.dropout_step + 1) % 2**64
        else:
            out, mask = A, None
            _kernels.layer_forward(X, self._W, self._b, Z, A, self._code, self._alpha)
        _check_finite(A, "X", self._dtype)
        # kept for backward as private views: the caller's arrays may be reshaped
        self._X, self._A = X.view(), out.view()
        self._Z = A if Z is A else Z
        self._act, self._mask = A, mask
        return out

    def backward(self, delta, need_below=True):
        """From delta = ∂L/∂A, set self.delta = ∂L/∂Z, dW, db; return ∂L/∂X.

        The gradients are sums over the rows of the batch (average in the loss if
        you want a mean).  need_below=False skips ∂L/∂X (returns None).
        """
        if self._A is None:
            raise RuntimeError("backward() needs the activations of a forward pass: "
                               "call layer.forward(X) first")
        G = check_matrix(delta, "delta", self._dtype, self._n_out)
        if G.shape[0] != self._A.shape[0]:
            raise ValueError(f"delta must have {self._A.shape[0]} rows to match the last "
                             f"forward batch, got shape {G.shape}")
        dZ = np.empty_like(G)
        D = np.empty_like(self._X) if need_below else None
        _kernels.layer_backward(G, dZ, self._act, self._Z, self._X, self._W, D,
                                self._dW, self._db, self._code, self._alpha, self._mask)
        for result in (dZ, self._dW, self._db) + (() if D is None else (D,)):
            _check_finite(result, "delta", self._dtype)
        self._delta = dZ
        return D

    def __repr__(self):
        extra = f", alpha={self.alpha}" if self.activation in PARAMETRIZED else ""
        extra += f", dropout={self._dropout}" if self._dropout else ""
        return (f"Layer({self.n_in}, {self.n_out}, activation={self.activation!r}"
                f"{extra}, dtype=np.{self.dtype.name})")


def _check_finite(result, name, dtype):
    if not _kernels.all_finite(result):
        raise FloatingPointError(f"{name} overflows {dtype.name} in this layer: the result "
                                 f"is NaN or infinite; scale {name} or use float64")


def _read_only(arr):
    """A read-only view of arr (None stays None)."""
    if arr is None:
        return None
    view = arr.view()
    view.flags.writeable = False
    return view
