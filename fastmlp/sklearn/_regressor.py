"""MLPRegressor: squared error, one or several outputs."""
import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils.metaestimators import available_if

from ._base import _BaseMLP


class MLPRegressor(RegressorMixin, _BaseMLP):
    """scikit-learn's MLPRegressor (squared error, identity output), trained by
    fastmlp (see the module docstring).  y may have several columns."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _encode(self, y, first, classes):
        T = np.asarray(y, dtype=np.float64)
        T = T.reshape(-1, 1) if T.ndim == 1 else T
        if not first and T.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {T.shape[1]} outputs, the fitted network "
                             f"{self.n_outputs_}")
        return T, None, "mse"

    def fit(self, X, y, sample_weight=None):
        """Fit on X (n_samples, n_features) and targets y (n_samples,) or
        (n_samples, n_outputs), optionally weighted."""
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(lambda self: self._check_solver())
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), continuing from the current weights."""
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """The predicted targets: (n_samples,) for one output, else 2-D."""
        out = self._forward(X)
        return out.ravel() if self.n_outputs_ == 1 else out

    def _score_prepared(self, X, y, sample_weight):
        out = self.network_.forward(X)
        return r2_score(y, out.ravel() if self.n_outputs_ == 1 else out,
                        sample_weight=sample_weight)

