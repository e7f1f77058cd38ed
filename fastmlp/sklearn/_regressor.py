"""MLPRegressor: squared error (identity output) or Poisson deviance (exponential
output), one or several outputs."""
import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils.metaestimators import available_if

from ._base import _BaseMLP, unchecked_forward

_NETWORK_LOSS = {"squared_error": "mse", "poisson": "poisson"}


class MLPRegressor(RegressorMixin, _BaseMLP):
    """scikit-learn's MLPRegressor, trained by fastmlp (see the module docstring).

    loss="squared_error" (identity output) or "poisson" (exponential output, for
    counts or rates y >= 0; the loss is half the Poisson deviance, as
    scikit-learn's).  y may have several columns.
    """

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 n_iter_no_change=10, max_fun=15000, dtype=None, dropout=0.0):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver,
            alpha=alpha, batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change,
            max_fun=max_fun, dtype=dtype, dropout=dropout)
        self.loss = loss

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _encode(self, y, first, classes):
        loss = _NETWORK_LOSS[self.loss]
        if not first and self.network_.loss_name != loss:
            raise ValueError(f"loss={self.loss!r} differs from the fitted network's; "
                             "refit without warm_start")
        T, _ = self._targets(y, "y", n_outputs=None if first else self.n_outputs_)
        return T, None, loss

    def _targets(self, y, name, n_outputs=-1):
        """(T, None) for the network from targets y (n_outputs: the number of
        columns required; -1, the fitted network's; None, any)."""
        T = np.asarray(y, dtype=np.float64)
        T = T.reshape(-1, 1) if T.ndim == 1 else T
        n_outputs = self.n_outputs_ if n_outputs == -1 else n_outputs
        if n_outputs is not None and T.shape[1] != n_outputs:
            raise ValueError(f"{name} has {T.shape[1]} outputs, the fitted network "
                             f"{n_outputs}")
        if _NETWORK_LOSS[self.loss] == "poisson" and T.size and T.min() < 0:
            raise ValueError(f"loss='poisson' needs {name} >= 0 (counts or rates), got a "
                             f"minimum of {T.min()!r}")
        return T, None

    def fit(self, X, y, sample_weight=None, *, validation_data=None, callbacks=None):
        """Fit on X (n_samples, n_features) and targets y (n_samples,) or
        (n_samples, n_outputs), optionally weighted.  validation_data and callbacks:
        as MLPClassifier.fit's."""
        return self._fit(X, y, sample_weight, incremental=False,
                         validation_data=validation_data, callbacks=callbacks)

    @available_if(lambda self: self._check_solver())
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), continuing from the current weights."""
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """The predicted targets: (n_samples,) for one output, else 2-D."""
        out = self._forward(X)
        return out.ravel() if self.n_outputs_ == 1 else out

    def _score_prepared(self, X, y, sample_weight):
        """R² on an X already validated (early stopping's held-out rows); nan where
        the network's output is not finite (a diverged fit), as scikit-learn."""
        out = unchecked_forward(self.network_, X)
        if not np.all(np.isfinite(out)):
            return np.nan
        return r2_score(y, out.ravel() if self.n_outputs_ == 1 else out,
                        sample_weight=sample_weight)
