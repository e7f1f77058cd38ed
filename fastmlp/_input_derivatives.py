"""Network's derivatives with respect to its inputs: input_gradient, jacobian, and the
vector-Jacobian product the inverse search and gradcheck use.

A mixin of fastmlp.network.Network: the methods use its plan, lock, scaler and input
validation.
"""
import numpy as np


class InputDerivativesMixin:
    def input_gradient(self, X, y):
        """∂L/∂X for a batch (L the batch-mean loss), same shape as X, in X's own
        units (through the scaler, if the network has one)."""
        X = self._inputs(X)
        T, labels = self._targets(y, X.shape[0])
        dX = np.empty_like(X)
        with self._lock:
            self._plan.gradient(X, T, labels, self.l2, dX, True)
        self._check_finite(dX, X)
        return self._to_user_units(dX)

    def jacobian(self, X, logits=False):
        """∂f/∂X for each row: an array (B, n_out, n_in), f the network's output
        (probabilities under cross-entropy; with logits=True the output layer's Z).

        One batched vector-Jacobian product of B·n_out rows, in X's own units.
        """
        X = self._inputs(X)
        B, n_out = X.shape[0], self.sizes[-1]
        stacked = np.repeat(X, n_out, axis=0)                 # row b·n_out + k: X[b]
        seeds = np.tile(np.eye(n_out, dtype=self.dtype), (B, 1))
        J = self._vjp(stacked, seeds, logits)
        self._check_finite(J, X)
        return self._to_user_units(J).reshape(B, n_out, self.sizes[0])

    def _vjp(self, X, G, logits=False):
        """Gᵀ ∂f/∂X per row, on arrays already validated (and scaled)."""
        dX = np.empty_like(X)
        with self._lock:
            self._plan.vjp(X, np.ascontiguousarray(G, dtype=self.dtype), dX, logits)
        return dX

    def _to_user_units(self, dX):
        """A gradient with respect to the scaled inputs, as one w.r.t. the raw inputs."""
        if self._scaler is not None:
            dX /= self._scaler.scale.astype(self.dtype)
        return dX
