"""MLPClassifier: binary, multiclass and multilabel targets."""
import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels

from ._base import _BaseMLP


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """scikit-learn's MLPClassifier, trained by fastmlp (see the module docstring).

    Binary targets get one logistic output, several classes a softmax layer, a
    multilabel indicator matrix one logistic output per label.  Labels may be
    integers or strings; classes_ holds them sorted.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    def _encode(self, y, first, classes):
        """(T, labels, loss) for the network from y; classes_ set (first fit, from
        `classes` if given) or checked against y as scikit-learn checks them."""
        check_classification_targets(y)
        multilabel = type_of_target(y).startswith("multilabel")
        if first:
            self._kind = "multilabel" if multilabel else None
            self.classes_ = (np.arange(y.shape[1]) if multilabel else
                             unique_labels(y if classes is None else classes))
            if not multilabel:
                # one class, as scikit-learn: one logistic output trained towards 0,
                # and predict gives that class
                self._kind = "multiclass" if len(self.classes_) > 2 else "binary"
        elif multilabel != (self._kind == "multilabel"):
            raise ValueError(f"y is {type_of_target(y)} but the estimator was fitted on "
                             f"{self._kind} targets")
        else:
            seen = unique_labels(y)
            if self.warm_start:
                if set(seen) != set(self.classes_):
                    raise ValueError("warm_start can only be used where `y` has the same "
                                     "classes as in the previous call to fit. Previously "
                                     f"got {self.classes_}, `y` has {seen}")
            elif len(np.setdiff1d(seen, self.classes_, assume_unique=True)):
                raise ValueError("`y` has classes not in `self.classes_`. "
                                 f"`self.classes_` has {self.classes_}. 'y' has {seen}.")
        if multilabel:
            if y.shape[1] != len(self.classes_):
                raise ValueError(f"y has {y.shape[1]} labels, the estimator was fitted on "
                                 f"{len(self.classes_)}")
            return np.asarray(y, dtype=np.float64), None, "binary_cross_entropy"
        index = np.searchsorted(self.classes_, y)
        if self._kind == "binary":
            return index.astype(np.float64).reshape(-1, 1), None, "binary_cross_entropy"
        return None, index.astype(np.intp), "cross_entropy"

    def fit(self, X, y, sample_weight=None):
        """Fit on X (n_samples, n_features) and labels y, optionally weighted."""
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(lambda self: self._check_solver())
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y).  The first call needs classes (every label that
        will ever be seen) unless y is a multilabel indicator matrix."""
        if not hasattr(self, "network_"):
            if classes is None and not type_of_target(y).startswith("multilabel"):
                raise ValueError("classes must be passed on the first call to partial_fit.")
        elif classes is not None and not np.array_equal(unique_labels(classes),
                                                        self.classes_):
            raise ValueError(f"`classes={classes!r}` is not the same as on last call to "
                             f"partial_fit, was: {self.classes_!r}")
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def predict(self, X):
        """The most probable class per row (a 0/1 indicator row for multilabel)."""
        return self._decode(self._forward(X))

    def _decode(self, P):
        """Labels from the network's output probabilities P."""
        if self._kind == "multilabel":
            return (P > 0.5).astype(np.intp)
        if self._kind == "binary":
            if len(self.classes_) == 1:
                return np.repeat(self.classes_, P.shape[0])
            return self.classes_[(P[:, 0] > 0.5).astype(np.intp)]
        return self.classes_[P.argmax(axis=1)]

    def predict_proba(self, X):
        """Class probabilities, columns ordered as classes_ (per-label
        probabilities for multilabel)."""
        P = self._forward(X)
        if self._kind == "binary":
            return np.hstack([1 - P, P])
        return P

    def predict_log_proba(self, X):
        """log(predict_proba(X))."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def _score_prepared(self, X, y, sample_weight):
        """Accuracy on an X already validated (early stopping's held-out rows)."""
        return accuracy_score(y, self._decode(self.network_.forward(X)),
                              sample_weight=sample_weight)

