"""A Network's copies, pickles and other formats: the conveniences that delegate to
fastmlp.formats (npz model files, scikit-learn, PyTorch, ONNX), astype/copy, and
pickling (the compiled Plan and the lock are rebuilt, not pickled).  A mixin of
Network (fastmlp/network.py)."""
import functools

from . import formats
from ._validation import check_dtype
from .activations import PARAMETRIZED
from .layer import Layer


class ConversionsMixin:
    def save(self, path):
        """Write a model file: architecture, parameters, scaler, training settings
        (a versioned .npz described in fastmlp.io), atomically."""
        with self._lock:             # no training step can land mid-snapshot
            formats.writer("npz")(self, path)

    @classmethod
    def load(cls, path):
        """Read a model file written by save()."""
        return formats.reader("npz")(path)

    @classmethod
    def from_sklearn(cls, estimator):
        """A Network with the weights of a fitted scikit-learn MLPClassifier/Regressor."""
        return formats.reader("sklearn")(estimator)

    def to_sklearn(self):
        """A fitted scikit-learn MLPClassifier/MLPRegressor predicting as this network."""
        return formats.writer("sklearn")(self)

    @classmethod
    def from_torch(cls, model, loss=None):
        """A Network from a torch nn.Sequential of Linear layers and activations."""
        return formats.reader("torch")(model, loss)

    def to_torch(self):
        """A torch nn.Sequential computing this network's output."""
        return formats.writer("torch")(self)

    @classmethod
    def from_onnx(cls, model, loss=None):
        """A Network from an ONNX MLP: a path, bytes or onnx.ModelProto (fastmlp.onnx)."""
        return formats.reader("onnx")(model, loss=loss)

    def to_onnx(self, path=None, opset=None):
        """This network (scaler included) as an ONNX model; written to `path` if given,
        returned as an onnx.ModelProto either way (fastmlp.onnx)."""
        return formats.writer("onnx")(self, path, opset=opset)

    # -- copies --------------------------------------------------------------

    def _architecture(self):
        """(n_in, n_out, activation, alpha, dropout) per layer: what layers_from rebuilds."""
        return [(l.n_in, l.n_out, l.activation, l.alpha, l.dropout) for l in self.layers]

    def astype(self, dtype):
        """A new Network of the same architecture in `dtype` (parameters cast; the
        dropout key and step carried over)."""
        net = type(self)(layers_from(self._architecture(), check_dtype(dtype)),
                      loss=self._loss.name, l2=self.l2)
        net._params[...] = self._params
        net.scaler = self._scaler
        net.training = dict(self.training)
        net.dropout_key, net.dropout_step = self.dropout_key, self.dropout_step
        return net

    def copy(self):
        return self.astype(self.dtype)

    # -- pickling: the compiled Plan and the lock are rebuilt, not pickled --------

    def __getstate__(self):
        with self._lock:
            return {"architecture": self._architecture(), "loss": self._loss.name,
                    "l2": self.l2, "dtype": self.dtype.name, "params": self._params.copy(),
                    "scaler": self._scaler, "training": self.training,
                    "optimizer": self._optimizer,
                    "dropout_key": self.dropout_key, "dropout_step": self.dropout_step}

    def __setstate__(self, state):
        type(self).__init__(self, layers_from(state["architecture"], check_dtype(state["dtype"])),
                         loss=state["loss"], l2=state["l2"])
        self.set_params(state["params"])
        self.scaler = state["scaler"]
        self.training = state["training"]
        self._optimizer = state["optimizer"]
        self.dropout_key = state.get("dropout_key", self.dropout_key)
        self.dropout_step = state.get("dropout_step", 0)


def layers_from(architecture, dtype, empty=False):
    """New Layers for (n_in, n_out, activation, alpha[, dropout]) tuples, their weights
    to be overwritten; alpha is passed on only to the activations that take one.  With
    empty, the Layers get no buffers of their own: a Network made of them has its
    parameters uninitialized, for the caller to fill."""
    make = Layer._unallocated if empty else functools.partial(Layer, seed=0)
    return [make(n_in, n_out, act, dtype, alpha=alpha if act in PARAMETRIZED else None,
                 dropout=rest[0] if rest else 0.0)
            for n_in, n_out, act, alpha, *rest in architecture]
