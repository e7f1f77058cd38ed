"""MLPClassifier: binary, multiclass and multilabel targets."""
import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.utils.metaestimators import available_if
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels

from ._base import _BaseMLP, unchecked_forward


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """scikit-learn's MLPClassifier, trained by fastmlp (see the module docstring).

    Binary targets get one logistic output, several classes a softmax layer, a
    multilabel indicator matrix one logistic output per label.  Labels may be
    integers or strings; classes_ holds them sorted.

    class_weight (a fastmlp extra; None by default): "balanced" or a dict
    {label: weight}, as LogisticRegression's.  Each row's sample weight is multiplied
    by its class's weight ("balanced": n_samples / (n_classes · count of the class)),
    in training, early stopping's validation rows and validation_data.
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 n_iter_no_change=10, max_fun=15000, dtype=None, dropout=0.0, class_weight=None):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver,
            alpha=alpha, batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change,
            max_fun=max_fun, dtype=dtype, dropout=dropout)
        self.class_weight = class_weight

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
        T, labels = self._targets(y, "y")
        return T, labels, ("cross_entropy" if self._kind == "multiclass"
                           else "binary_cross_entropy")

    def _targets(self, y, name):
        """(T, labels) for the network from labels y of the fitted classes_."""
        if self._kind == "multilabel":
            if y.ndim != 2 or y.shape[1] != len(self.classes_):
                raise ValueError(f"{name} has {y.shape[1] if y.ndim == 2 else 1} labels, "
                                 f"the estimator was fitted on {len(self.classes_)}")
            return np.asarray(y, dtype=np.float64), None
        unseen = np.setdiff1d(unique_labels(y), self.classes_)
        if unseen.size:
            raise ValueError(f"{name} has classes not in `self.classes_`. `self.classes_` "
                             f"has {self.classes_}. '{name}' has {unique_labels(y)}.")
        index = np.searchsorted(self.classes_, y)
        if self._kind == "binary":
            return index.astype(np.float64).reshape(-1, 1), None
        return None, index.astype(np.intp)

    def _weigh_classes(self, y, sw, fitted=False):
        """sample weights times class_weight's weight of each row's class (the weights
        of this fit's classes, or with `fitted` those computed at its start)."""
        if self.class_weight is None:
            return sw
        if self._kind == "multilabel":
            raise ValueError("class_weight is not supported for multilabel targets; "
                             "pass sample_weight")
        if not fitted:
            self._class_weights = compute_class_weight(self.class_weight,
                                                       classes=self.classes_, y=y)
        weights = self._class_weights[np.searchsorted(self.classes_, y)]
        return weights if sw is None else sw * weights

    def fit(self, X, y, sample_weight=None, *, validation_data=None, callbacks=None):
        """Fit on X (n_samples, n_features) and labels y, optionally weighted.

        fastmlp's extras: validation_data=(X_val, y_val[, sample_weight_val]) scores
        (and, with early_stopping, stops on) these rows instead of a random split of
        X; callbacks are called after each epoch as f(self, history) and stop the
        fit by returning False (see the module docstring).
        """
        return self._fit(X, y, sample_weight, incremental=False,
                         validation_data=validation_data, callbacks=callbacks)

    @available_if(lambda self: self._check_solver())
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y).  The first call needs classes (every label that
        will ever be seen) unless y is a multilabel indicator matrix."""
        if isinstance(self.class_weight, str) and self.class_weight == "balanced":
            raise ValueError("class_weight 'balanced' is not supported for partial_fit "
                             "(one batch does not give the class frequencies); pass a "
                             "dict of weights computed on all the data")
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
        return accuracy_score(y, self._decode(unchecked_forward(self.network_, X)),
                              sample_weight=sample_weight)

