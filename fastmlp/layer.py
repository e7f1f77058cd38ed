"""Layer: one fully connected layer, A = act(X @ W + b), in the seeds' vocabulary.

    layer.forward(X)      -> A          keeps X and A (and Z for GELU) for backward
    layer.backward(G)     -> δ below    G = ∂L/∂A; sets layer.delta = ∂L/∂Z, dW, db

With Layer(..., dropout=p), forward(X, training=True) returns A ⊙ m (inverted
dropout, fastmlp.dropout) and the following backward applies the same mask.

Both run the compiled kernels (one GEMM and one fused elementwise pass each way).
"""
import numpy as np

from . import _kernels
from ._validation import check_allocation, check_dtype, check_matrix, check_size
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
        check_allocation(self.n_in * self.n_out * (2 * self.dtype.itemsize + 16),
                         f"Layer({self.n_in}, {self.n_out})")
        self._W = np.empty((self.n_in, self.n_out), self.dtype)
        self._b = np.zeros(self.n_out, self.dtype)
        self._dW = np.zeros_like(self._W)
        self._db = np.zeros_like(self._b)
        init_weights(self._W, act.init, np.random.default_rng(seed))
        self.dropout_key = make_key(seed)
        self.dropout_step = 0
        self.X = self.A = self.Z = self.delta = None
        self._act = self._mask = None   # A before dropout, and its mask, for backward
        self._network = None       # the Network whose buffers W and b live in

    def _describe(self, n_in, n_out, activation, dtype, alpha):
        self.n_in = check_size(n_in, "n_in")
        self.n_out = check_size(n_out, "n_out")
        self.dtype = check_dtype(dtype)
        act, self.alpha = get_activation(activation, alpha)
        self.activation = act.name
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
        layer.X = layer.A = layer.Z = layer.delta = None
        layer._act = layer._mask = None
        layer._network = None
        return layer

    # W and b are fixed buffers (in a Network, views into its flat parameter
    # vector): assigning copies into them, so the network never loses track.
    @property
    def W(self):
        return self._W

    @W.setter
    def W(self, value):
        self._W[...] = self._checked(value, "W", self._W.shape)

    @property
    def b(self):
        return self._b

    @b.setter
    def b(self, value):
        self._b[...] = self._checked(value, "b", self._b.shape)

    @property
    def dropout(self):
        """The dropout rate (fixed at construction: a Network's kernels are built on it)."""
        return self._dropout

    @property
    def dW(self):
        return self._dW

    @property
    def db(self):
        return self._db

    def _checked(self, value, name, shape):
        arr = np.asarray(value)
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
        X = check_matrix(X, "X", self.dtype, self.n_in)
        A = np.empty((X.shape[0], self.n_out), self.dtype)
        Z = np.empty_like(A) if self._keeps_z else A
        if training and self._dropout > 0:
            out = np.empty_like(A)
            mask = (self.dropout_key, self.dropout_step, 0, self._dropout)
            _kernels.layer_forward(X, self._W, self._b, Z, A, self._code, self.alpha,
                                   out, mask)
            self.dropout_step = (self.dropout_step + 1) % 2**64
        else:
            out, mask = A, None
            _kernels.layer_forward(X, self._W, self._b, Z, A, self._code, self.alpha)
        self.X, self.A, self.Z = X, out, Z
        self._act, self._mask = A, mask
        return out

    def backward(self, delta, need_below=True):
        """From delta = ∂L/∂A, set self.delta = ∂L/∂Z, dW, db; return ∂L/∂X.

        The gradients are sums over the rows of the batch (average in the loss if
        you want a mean).  need_below=False skips ∂L/∂X (returns None).
        """
        if self.A is None:
            raise RuntimeError("backward() needs a forward() first")
        G = check_matrix(delta, "delta", self.dtype, self.n_out)
        if G.shape[0] != self.A.shape[0]:
            raise ValueError(f"delta must have {self.A.shape[0]} rows to match the last "
                             f"forward batch, got shape {G.shape}")
        dZ = np.empty_like(G)
        D = np.empty_like(self.X) if need_below else None
        _kernels.layer_backward(G, dZ, self._act, self.Z, self.X, self._W, D,
                                self._dW, self._db, self._code, self.alpha, self._mask)
        self.delta = dZ
        return D

    def __repr__(self):
        extra = f", alpha={self.alpha}" if self.activation in PARAMETRIZED else ""
        extra += f", dropout={self._dropout}" if self._dropout else ""
        return (f"Layer({self.n_in}, {self.n_out}, activation={self.activation!r}"
                f"{extra}, dtype=np.{self.dtype.name})")
