"""What a Network hands out about itself: the fixed description the compiled plan was
built from (widths, dtype, layers), the L2 penalty, and the flat parameter and gradient
buffers.  A mixin of Network (fastmlp/network.py), kept apart so that file reads as the
data path."""
import numpy as np

from ._validation import as_array, check_scalar


class ParametersMixin:
    # What the compiled plan was built from is read-only: the widths (a tuple), the
    # dtype, the layers (a tuple); the flat buffers are handed out as views, which no
    # reshape or dtype change can turn against the kernels.

    @property
    def sizes(self):
        """The layer widths, input first (a tuple)."""
        return self._sizes

    @sizes.setter
    def sizes(self, value):
        raise AttributeError("a Network's sizes are fixed: build a new Network")

    @property
    def dtype(self):
        return self._dtype

    @dtype.setter
    def dtype(self, value):
        raise AttributeError("a Network's dtype is fixed: net.astype(dtype) gives a copy "
                             "in another dtype")

    @property
    def layers(self):
        """The Layers, input side first (a tuple)."""
        return self._layers

    @layers.setter
    def layers(self, value):
        raise AttributeError("a Network's layers are fixed: build a new Network from "
                             "Layers")

    @property
    def l2(self):
        """The L2 penalty ½·l2·Σ‖W‖² on the weights; a finite number >= 0."""
        return self._l2

    @l2.setter
    def l2(self, value):
        self._l2 = check_scalar(value, "l2", minimum=0.0)

    @property
    def loss_name(self):
        return self._loss.name

    @property
    def n_params(self):
        return self._params.size

    @property
    def params(self):
        """The flat parameter buffer (W0, b0, W1, b1, ...), as a view: writes go live."""
        return self._params.view()

    @property
    def grads(self):
        """The flat gradient buffer, filled by gradient() (same layout as params), as a
        view."""
        return self._grads.view()

    def get_params(self):
        """A copy of the flat parameter vector W0, b0, W1, b1, ..."""
        return self._params.copy()

    def set_params(self, flat):
        """Copy a flat vector (as from get_params) into the parameters."""
        arr = as_array(flat, "flat")
        if arr.shape != self._params.shape:
            raise ValueError(f"flat must have shape {self._params.shape} (this network's "
                             f"parameter count), got {arr.shape}")
        if arr.dtype.kind != "f":
            raise TypeError(f"flat must hold float values, got dtype {arr.dtype}")
        if not np.all(np.isfinite(arr)):
            raise ValueError("flat contains NaN or infinity")
        self._params[...] = arr
