"""The solvers of the estimators, as scikit-learn runs them: minibatch "sgd" and
"adam" epochs with scikit-learn's stopping rule, early stopping and learning-rate
schedules, and full-batch "lbfgs" (scipy's L-BFGS-B on the flat parameters)."""
import math
import warnings

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from .. import optim
from .._batches import Batches


NON_FINITE = ("Solver produced non-finite parameter weights. The input data may contain "
              "large values and need to be preprocessed.")


def _step_or_diverge(net, X, T, labels, opt, weights, l2, helpers):
    """(loss, diverged): Network._optimizer_step, except that where it would refuse a
    non-finite loss or update, the weights become NaN, as scikit-learn's do (its
    early stopping then scores the epoch nan and restores the best weights)."""
    with net._lock:
        masks = net._training_masks()                     # dropout, if the network has it
        value = net._plan.gradient(X, T, labels, l2, None, row_weights=weights,
                                   dropout=masks, helpers=helpers)
        net._advance(masks)
        try:
            if not math.isfinite(value):
                raise FloatingPointError(value)
            opt._apply(net._params, net._grads, net._weight_mask, helpers)
        except FloatingPointError:
            net._params[...] = np.nan
            return value, True
    return value, False


class _SolverMixin:
    """The fitting loops of _BaseMLP (on the network and encoded targets)."""

    def _make_optimizer(self):
        if self.solver == "adam":
            return _SklearnAdam(lr=self.learning_rate_init, betas=(self.beta_1, self.beta_2),
                                eps=self.epsilon)
        return optim.SGD(lr=self.learning_rate_init, momentum=self.momentum,
                         nesterov=self.nesterovs_momentum and self.momentum > 0)

    @staticmethod
    def _set_rate(opt, lr):
        """A new SGD rate.  scikit-learn's momentum accumulates rate-scaled steps,
        fastmlp's (PyTorch's) raw gradients; rescaling the buffer by old/new rate
        makes the next step exactly scikit-learn's."""
        if opt._state is not None and opt.momentum:
            buffer = opt._state[0]
            buffer *= opt.lr / lr
        opt.lr = lr

    def _fit_stochastic(self, data, val, incremental, rs, hooks):
        """Epochs of minibatch steps on `data` (Rows: the training rows),
        scored on `val` (validation_data) or on early stopping's random split."""
        net = self.network_
        if not incremental or self._optimizer is None:
            self._optimizer = self._make_optimizer()
        opt = self._optimizer
        if self.early_stopping and val is None:
            # scikit-learn stratifies single-output (binary) classification only; on
            # the labels themselves, which its error messages then name
            stratify = (data.y if isinstance(self, ClassifierMixin) and self.n_outputs_ == 1
                        else None)
            train, held = train_test_split(np.arange(data.X.shape[0]), random_state=rs,
                                           test_size=self.validation_fraction,
                                           stratify=stratify)
            if held.size < 2:
                raise ValueError("The validation set is too small. Increase "
                                 "'validation_fraction' or the size of your dataset.")
            val, data = data.take(held), data.take(train)
        if val is not None and self.validation_scores_ is None:    # validation_data
            self.validation_scores_, self.validation_loss_curve_ = [], []
        X, T, labels, sw = data.X, data.T, data.labels, data.sw
        n = X.shape[0]
        if self.batch_size == "auto":
            batch = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. "
                              "It is going to be clipped")
            batch = min(self.batch_size, n)
        # scikit-learn's order: each epoch shuffles the previous epoch's order; each
        # batch's rows are gathered into one reused buffer (as Network.fit does)
        order = np.arange(n)
        batches = Batches((X, T, labels, sw), batch)
        diverged = False
        try:
            self.n_iter_ = 0
            for _ in range(self.max_iter):
                if self.shuffle:
                    # sklearn.utils.shuffle(order, random_state=rs), without its
                    # argument checks (about 0.3 ms an epoch): the same draws of rs
                    # permute `order` in place, as they would permute np.arange(n)
                    rs.shuffle(order)
                total = 0.0
                # the steps share their GEMMs and update with the helper threads
                with net._step_threads(batch) as step:
                    for Xb, Tb, Lb, Wb in batches(order if self.shuffle else None,
                                                  step.helpers):
                        rows, weights = Xb.shape[0], None
                        l2 = self.alpha / rows
                        if Wb is not None:
                            w_sum = Wb.sum()
                            if w_sum == 0:
                                continue          # all-zero weights: nothing to learn
                            weights = Wb / w_sum
                            l2 = self.alpha / w_sum
                        weights_sq = self._weights_sq()          # before the step
                        if diverged:
                            value = np.nan
                        elif self.early_stopping:
                            # as scikit-learn: a diverged fit goes on with NaN weights,
                            # scoring nan, and the best finite weights come back at the end
                            value, diverged = _step_or_diverge(
                                net, Xb, Tb, Lb, opt, weights, l2, step.helpers)
                        else:
                            try:
                                value = net._optimizer_step(Xb, Tb, Lb, opt, weights, l2,
                                                            step.helpers)
                            except FloatingPointError:
                                # stop at once, the last finite weights kept
                                raise ValueError(NON_FINITE) from None
                        total += self._sklearn_loss(value, l2, weights_sq) * rows
                self.n_iter_ += 1
                self.loss_ = total / n
                self.t_ += n
                self.loss_curve_.append(self.loss_)
                if self.verbose and not hooks.progress:
                    print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
                self._track_progress(val, quiet=hooks.progress)
                if self.solver == "sgd" and self.learning_rate == "invscaling":
                    self._set_rate(opt, self.learning_rate_init / (self.t_ + 1) ** self.power_t)
                if self._no_improvement_count > self.n_iter_no_change:
                    if self._stalled(opt, hooks):
                        break
                if hooks(self, self.n_iter_, self.max_iter) or incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                                  "reached and the optimization hasn't converged yet.",
                                  ConvergenceWarning)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")
        if self.early_stopping:
            net.params[...] = self._best_flat

    def _track_progress(self, val, quiet=False):
        """scikit-learn's no-improvement count: on the validation score with early
        stopping (keeping the best weights), else on the training loss.  Validation
        rows, if any, are scored (and their loss taken) either way."""
        if val is not None:
            score = val.score(self)
            self.validation_scores_.append(score)
            self.validation_loss_curve_.append(val.loss(self))
            if self.verbose and not quiet:
                print(f"Validation score: {score:f}")
        if self.early_stopping:
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:             # never nan
                self.best_validation_score_ = score
                self._best_flat = self.network_.get_params()
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            self.best_loss_ = min(self.best_loss_, self.loss_curve_[-1])

    def _stalled(self, opt, hooks):
        """No improvement for n_iter_no_change epochs: stop (True), or for "sgd" with
        the "adaptive" rate divide the rate by 5 and go on until it falls below 1e-6."""
        what = "Validation score" if self.early_stopping else "Training loss"
        message = (f"{what} did not improve more than tol={self.tol:f} for "
                   f"{self.n_iter_no_change} consecutive epochs.")
        if self.solver == "sgd" and self.learning_rate == "adaptive" and opt.lr > 1e-6:
            self._set_rate(opt, opt.lr / 5.0)
            self._no_improvement_count = 0
            if self.verbose and not hooks.progress:
                print(f"{message} Setting learning rate to {opt.lr:f}")
            return False
        if self.verbose and not hooks.progress:
            print(f"{message} Stopping.")
        return True

    def _fit_lbfgs(self, X, T, labels, sw, hooks):
        """Full-batch L-BFGS-B (scipy) on the flat parameters, the analytic gradient
        from one compiled call per evaluation."""
        net = self.network_
        if sw is None:
            weights, w_sum = None, X.shape[0]
        else:
            w_sum = sw.sum()
            if w_sum == 0:
                raise ValueError("sample_weight sums to zero: there is nothing to fit")
            weights = sw / w_sum
        l2 = self.alpha / w_sum
        curve = []

        def record(intermediate_result):
            curve.append(self._sklearn_loss(intermediate_result.fun, l2,
                                            self._weights_sq(intermediate_result.x)))
            self.loss_curve_ = curve
            if hooks(self, len(curve), self.max_iter):
                raise StopIteration           # scipy ends the minimization there

        # scikit-learn sets gtol only, and keeps scipy's default ftol
        result = optim.lbfgs_prepared(net, X, T, labels, self.max_iter, self.tol,
                                      self.max_fun, record, ftol=1e7 * np.finfo(float).eps,
                                      l2=l2, row_weights=weights)
        if result.status == 1:
            warnings.warn(f"lbfgs failed to converge after {result.nit} iterations "
                          f"({result.message}); increase max_iter or scale the data",
                          ConvergenceWarning)
        self.n_iter_ = int(result.nit)
        self.loss_ = self._sklearn_loss(float(result.fun), l2, self._weights_sq(result.x))
        self.loss_curve_ = curve
        self.best_loss_ = min(self.loss_curve_, default=self.loss_)

    def _check_solver(self):
        if self.solver not in ("sgd", "adam"):
            raise AttributeError(f"partial_fit is only available for the stochastic "
                                 f"solvers 'sgd' and 'adam', not {self.solver!r}")
        return True


class _SklearnAdam(optim.Adam):
    """Adam with scikit-learn's placement of epsilon: it adds eps to √v before the
    bias correction, fastmlp (as PyTorch) after it; the ε added after the correction
    at step t is therefore eps / √(1 - β₂ᵗ)."""

    def _eps(self, t):
        return self.eps / np.sqrt(1.0 - self.betas[1] ** t)
