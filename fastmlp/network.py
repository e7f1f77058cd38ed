"""Network: a stack of Layers whose parameters live in ONE flat buffer.

    params = [W0.ravel(), b0, W1.ravel(), b1, ...]     (each layer's W, b are views)
    grads  = the same layout for dW, db

A training step (forward, loss, backward, SGD update) is a single compiled call
(_kernels.Plan) that loops over the layers in C with preallocated workspaces.
"""
import math
import threading

import numpy as np
import scipy.sparse

from . import _kernels, _threads, _workers, optim, training
from ._aligned import aligned_empty
from ._conversions import ConversionsMixin, layers_from  # noqa: F401  (layers_from: io)
from ._input_derivatives import InputDerivativesMixin
from ._inputs import InputsMixin
from ._parameters import ParametersMixin
from ._validation import check_allocation, check_dtype, check_scalar, check_size, make_rng
from .activations import ACTIVATIONS, OUTPUT_ONLY, get_activation
from .dropout import DropoutMixin, check_rates, make_key
from .layer import Layer
from .losses import get_loss

# train_step folds plain SGD into the backward GEMMs when lr is at most this; a larger
# rate takes the checked path (gradient, then an update made only if it is finite)
_FUSED_LR_MAX = 1.0
# an inference pass over more rows than fill this many bytes of the plan's workspaces
# goes in slices (Network._slice_rows): predict on a batch of millions of rows held
# workspaces the size of every layer's output for all of them, after the call too
SLICE_BYTES = 1 << 28
MIN_SLICE_ROWS = 1024


class Network(ParametersMixin, InputsMixin, InputDerivativesMixin, ConversionsMixin,
              DropoutMixin):
    """A multilayer perceptron.

    Parameters
    ----------
    sizes : list of int, or list of Layer
        Layer widths, input first (e.g. [784, 128, 10]), or ready-made Layers whose
        parameters are then copied into the network's flat buffer (the Layers
        become views of it).
    activation : str
        Hidden-layer activation (see fastmlp.activations.ACTIVATIONS).
    loss : "cross_entropy" (softmax output), "binary_cross_entropy" (sigmoid
        output, multi-label), "mse" (identity output unless output_activation) or
        "poisson" (exp output: the mean of counts y >= 0).
    dtype : np.float32 (default, fast) or np.float64 (the reference).
    seed : int or None; the same seed gives bit-identical initial weights.
    output_activation : str, optional; only with loss="mse".
    alpha : float, optional; parameter of a leaky_relu / elu hidden activation.
    l2 : float; L2 penalty ½·l2·Σ‖W‖² on the weights (not biases).
    dropout : float, or one float per hidden layer, in [0, 1); inverted dropout on the
        hidden layers' outputs in training only (train_step, fit, partial_fit,
        gradient(training=True)), its masks keyed by `seed` (fastmlp.dropout).  With
        Layers, leave it None: their own `dropout` rates are used.
    """

    def __init__(self, sizes, activation="relu", loss="cross_entropy", dtype=np.float32,
                 seed=None, *, output_activation=None, alpha=None, l2=0.0, dropout=None):
        self._loss = get_loss(loss)
        self.l2 = l2
        key = make_key(seed)
        if isinstance(sizes, (list, tuple)) and sizes and all(isinstance(s, Layer) for s in sizes):
            if dropout is not None:
                raise TypeError("dropout is set on each Layer (Layer(..., dropout=p)) when "
                                "the network is built from Layers")
            layers = list(sizes)
        else:
            layers = self._make_layers(sizes, activation, output_activation, alpha,
                                       check_dtype(dtype), seed, dropout)
        self._dtype = layers[0].dtype
        self._check_layers(layers)
        self._layers = tuple(layers)
        self._build_buffers()
        self._scaler = None
        self.training = {}     # how the network was trained (saved with the model)
        self.dropout_key, self.dropout_step = key, 0

    # -- construction --------------------------------------------------------

    def _make_layers(self, sizes, activation, output_activation, alpha, dtype, seed,
                     dropout):
        if not isinstance(sizes, (list, tuple)) or len(sizes) < 2:
            raise ValueError("sizes must be a list of at least two layer widths "
                             f"(input first) or a list of Layers, got {sizes!r}")
        sizes = [check_size(s, f"sizes[{i}]") for i, s in enumerate(sizes)]
        rates = check_rates(0.0 if dropout is None else dropout, len(sizes) - 2) + [0.0]
        out_act = self._loss.output_activation
        if output_activation is not None and (not isinstance(output_activation, str) or
                                              output_activation not in ACTIVATIONS):
            raise ValueError(f"output_activation must be one of {sorted(ACTIVATIONS)}, "
                             f"got {output_activation!r}")
        if output_activation is not None:
            if out_act is not None and output_activation != out_act:
                raise ValueError(f"loss {self._loss.name!r} needs a {out_act} output layer, "
                                 f"got output_activation={output_activation!r}")
            out_act = output_activation
        out_act = out_act or "identity"
        alpha = None if alpha is None else check_scalar(alpha, "alpha")
        get_activation(activation, alpha)          # validate before building anything
        if activation == "softmax" and len(sizes) > 2:
            raise ValueError("activation='softmax' is only supported on the output layer "
                             "(loss='cross_entropy' gives one)")
        # each Layer's W, b, dW, db, then the network's params, grads and weight mask,
        # and the float64 draws that initialize the largest W
        n_params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
        check_allocation(n_params * (4 * dtype.itemsize + 1)
                         + 16 * max(a * b for a, b in zip(sizes[:-1], sizes[1:])),
                         f"Network({sizes}) ({n_params:,} parameters)")
        rng = make_rng(seed)
        layers = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            last = i == len(sizes) - 2
            layer = Layer(n_in, n_out, out_act if last else activation, dtype,
                          seed=rng, alpha=None if last else alpha, dropout=rates[i])
            layers.append(layer)
        return layers

    def _check_layers(self, layers):
        if len({id(layer) for layer in layers}) != len(layers):
            raise ValueError("the same Layer object appears twice in layers")
        for i, layer in enumerate(layers):
            if layer._network is not None:
                raise ValueError(f"layers[{i}] already belongs to a Network (its W and b "
                                 "live in that network's buffer); use network.copy() or "
                                 "new Layers")
            if layer.dtype != self.dtype:
                raise TypeError(f"layers[{i}] has dtype {layer.dtype}, but layers[0] has "
                                f"{self.dtype}: all layers must share one dtype")
            if i and layer.n_in != layers[i - 1].n_out:
                raise ValueError(f"layers[{i}] takes {layer.n_in} inputs but layers[{i - 1}] "
                                 f"gives {layers[i - 1].n_out} outputs")
            if i < len(layers) - 1 and layer.activation in OUTPUT_ONLY:
                raise ValueError(f"layers[{i}]: {layer.activation} is only supported on the "
                                 "output layer")
        if layers[-1].dropout:
            raise ValueError("the output layer cannot have dropout (it applies to the "
                             f"hidden layers), got layers[-1].dropout={layers[-1].dropout}")
        need = self._loss.output_activation
        if need is not None and layers[-1].activation != need:
            raise ValueError(f"loss {self._loss.name!r} needs a {need} output layer, "
                             f"got {layers[-1].activation!r}")

    def _build_buffers(self):
        offsets, total = [], 0
        for layer in self.layers:
            offsets += [total, total + layer.n_in * layer.n_out]
            total += (layer.n_in + 1) * layer.n_out
        check_allocation(total * (2 * self._dtype.itemsize + 1),
                         f"a Network of {total:,} parameters")
        self._params = aligned_empty(total, self._dtype)
        self._grads = np.zeros(total, self._dtype)
        for layer, w_off in zip(self.layers, offsets[::2]):
            n_w = layer.n_in * layer.n_out
            layer._bind(self, self._params[w_off:w_off + n_w].reshape(layer.n_in, layer.n_out),
                        self._params[w_off + n_w:w_off + n_w + layer.n_out],
                        self._grads[w_off:w_off + n_w].reshape(layer.n_in, layer.n_out),
                        self._grads[w_off + n_w:w_off + n_w + layer.n_out])
        self._sizes = (self.layers[0].n_in,) + tuple(layer.n_out for layer in self.layers)
        self._widest_w = max(l.n_in * l.n_out for l in self.layers)   # for _threads
        self._plan = _kernels.Plan(
            self._params, self._grads,
            np.array(self._sizes, dtype=np.int32),
            np.array([layer._code for layer in self.layers], dtype=np.int32),
            np.array([layer.alpha for layer in self.layers], dtype=np.float64),
            np.array(offsets, dtype=np.intp),
            self._loss.code,
            np.array([layer.dropout for layer in self.layers], dtype=np.float64))
        self._has_dropout = any(layer.dropout for layer in self.layers)
        # weight decay applies to weights, not biases
        self._weight_mask = np.zeros(total, np.uint8)
        for layer, w_off in zip(self.layers, offsets[::2]):
            self._weight_mask[w_off:w_off + layer.n_in * layer.n_out] = 1
        # the workspaces are shared: one compiled call at a time per network
        self._lock = threading.Lock()
        self._optimizer = None          # kept by fit / partial_fit between calls

    def _workspace_bytes(self, batch):
        """The bytes of the compiled plan's workspaces for batches of `batch` rows."""
        widest = max(self.sizes[1:])
        per_row = 2 * widest + sum(l.n_out * (2 if l._keeps_z else 1) for l in self.layers)
        return batch * per_row * self.dtype.itemsize

    # -- forward -------------------------------------------------------------

    def forward(self, X, n_threads=None):
        """The output layer's activations for X (probabilities under cross-entropy).
        n_threads: BLAS threads for this call (None: chosen from the GEMM sizes,
        see fastmlp._threads)."""
        n_threads = _threads.check_threads(n_threads)
        if type(X) is not np.ndarray and scipy.sparse.issparse(X):
            X = scipy.sparse.csr_matrix(X)
            return np.concatenate([self._forward_prepared(self._inputs(X[i:i + 4096]),
                                                          n_threads)
                                   for i in range(0, max(X.shape[0], 1), 4096)])
        given = self._inputs_as_given(X)
        if given is not None:
            # the pass standardizes or checks X's rows itself, block by block; where
            # some are not finite, or the output is not, the full path below says why
            out = self._infer(X, n_threads, *given, check=True)
            if out is not None and _kernels.all_finite(out):
                return out
        return self._forward_prepared(self._inputs(X), n_threads)

    def _forward_prepared(self, X, n_threads=None, name="X", check=True):
        """forward() on an array already validated (and scaled).  check=False returns
        a non-finite output instead of raising (scikit-learn's early stopping scores a
        diverged epoch from it)."""
        out = self._infer(X, n_threads)
        if check:
            self._check_finite(out, X, name)
        return out

    def _infer(self, X, n_threads=None, mean=None, scale=None, check=False, logits=False):
        """Plan.infer (its arguments after X) on the helper and BLAS threads of a call
        with n_threads; a batch of more rows than _slice_rows() in slices of those, so
        that the plan's workspaces stay that size (the output is the batch's)."""
        # every slice has at least MIN_SLICE_ROWS rows: a smaller batch skips the sum
        if X.shape[0] <= MIN_SLICE_ROWS or X.shape[0] <= (rows := self._slice_rows()):
            return self._infer_slice(X, n_threads, mean, scale, check, None, logits)
        out = np.empty((X.shape[0], self.sizes[-1]), self.dtype)
        for i in range(0, X.shape[0], rows):
            if self._infer_slice(X[i:i + rows], n_threads, mean, scale, check,
                                 out[i:i + rows], logits) is None:
                return None
        return out

    def _infer_slice(self, X, n_threads=None, mean=None, scale=None, check=False,
                     out=None, logits=False):
        helpers = _workers.helpers(n_threads)
        blas = _workers.blas_threads(self._plan, X.shape[0], self._widest_w, helpers,
                                     n_threads)
        with self._lock:
            if blas is _workers.UNCHANGED:      # fastmlp's own GEMM serves every layer
                return self._plan.infer(X, helpers, mean, scale, check, out, logits)
            with blas:
                return self._plan.infer(X, helpers, mean, scale, check, out, logits)

    def _slice_rows(self):
        """The rows an inference pass takes at once: its workspaces (every layer's
        output, the two δ buffers, standardized inputs) up to SLICE_BYTES, and at
        least 1024 rows."""
        per_row = self._workspace_bytes(1) + self.sizes[0] * self.dtype.itemsize
        return max(MIN_SLICE_ROWS, SLICE_BYTES // per_row)

    def _check_finite(self, result, X, name="X"):
        """A NaN/inf result from finite inputs and weights is an overflow: raise."""
        if not _kernels.all_finite(result):
            raise FloatingPointError(
                f"{name} overflows {self.dtype.name} inside the network: the result is NaN "
                f"or infinite (largest |{name}| = {float(np.abs(X).max()):.3g}, largest "
                f"|weight| = {float(np.abs(self._params).max()):.3g}); scale {name} (e.g. "
                "fit with standardize=True) or use float64")

    def _blas_threads(self, batch, n_threads=None):
        """The BLAS thread count for a compiled call on `batch` rows (a context)."""
        return _threads.limit(batch * self._widest_w, n_threads)

    def _step_threads(self, batch, n_threads=None):
        """The threads of training steps on `batch` rows (a context whose value's
        .helpers is the count of helper threads sharing each step; fastmlp._workers)."""
        return _workers.step_threads(batch * self._widest_w, n_threads, self._plan, batch)

    def predict(self, X, n_threads=None):
        """Class labels under cross_entropy (the network's `classes` if it carries them,
        else output indices), 0/1 labels per output under binary_cross_entropy, the
        outputs themselves under mse.  n_threads: as in forward."""
        out = self.forward(X, n_threads)
        if self._loss.name == "cross_entropy":
            index = out.argmax(axis=1)
            return index if self.classes is None else np.asarray(self.classes)[index]
        if self._loss.name == "binary_cross_entropy":
            return (out > 0.5).astype(np.intp)
        return out

    def predict_proba(self, X, n_threads=None):
        """Class probabilities (softmax) or per-label probabilities (sigmoid);
        n_threads: as in forward."""
        if not self._loss.classifier:
            raise AttributeError("predict_proba needs a classification loss "
                                 f"(cross_entropy or binary_cross_entropy), not {self._loss.name!r}")
        return self.forward(X, n_threads)

    # -- loss and gradients --------------------------------------------------

    def loss(self, X, y, dropout_step=None):
        """The batch-mean loss (plus the L2 penalty) at the current parameters; with
        dropout_step, under the dropout masks of that training step."""
        X = self._inputs(X)
        T, labels = self._targets(y, X.shape[0])
        value = self._loss_and_output(X, T, labels, self._fixed_masks(dropout_step))[0]
        if not math.isfinite(value):
            raise FloatingPointError(f"the loss is {value}: X or y overflows "
                                     f"{self.dtype.name} inside the network (or the weights "
                                     "are too large)")
        return value

    def _loss_and_output(self, X, T, labels, masks=None, n_threads=None, row_weights=None,
                         penalty=True):
        """(loss, output activations) on arrays already validated (and scaled); without
        dropout masks, the forward pass is predict's, shared with the helper threads (in
        float32 on the own GEMM, the same bits on any number of threads).  row_weights
        (float64, summing to 1) weight the rows' losses in place of the mean; penalty:
        with the L2 penalty."""
        if masks is None:           # predict's pass, the logits under a fused loss
            out = self._infer(X, n_threads, logits=True)
        else:
            out = np.empty((X.shape[0], self.sizes[-1]), self.dtype)
            with self._lock:
                self._plan.forward(X, out, True, masks)
        # the fused losses replace the logits in `out` by the output activations
        value = _kernels.loss_forward(self._loss.code, out, T, labels, None, None,
                                      row_weights)
        return (value + self._penalty() if penalty else value), out

    def _penalty(self):
        if self.l2 == 0:
            return 0.0
        return 0.5 * self.l2 * sum(float(np.dot(l.W.ravel(), l.W.ravel())) for l in self.layers)

    def gradient(self, X, y, training=False, dropout_step=None):
        """(loss, grad): grad is one flat vector ordered like params (W0, b0, W1, ...).

        The layers' dW and db views are filled too.  Without dropout, or by default,
        the gradient of loss(X, y).  training=True: of a training step, with the next
        dropout masks (dropout_step advances).  dropout_step=k: with the masks of step
        k, the gradient of loss(X, y, dropout_step=k) (repeatable; nothing advances).
        """
        X = self._inputs(X)
        T, labels = self._targets(y, X.shape[0])
        masks = self._fixed_masks(dropout_step)
        with self._lock:
            if training and masks is None:
                masks = self._training_masks()
                self._advance(masks)
            value = self._plan.gradient(X, T, labels, self.l2, None, dropout=masks)
            grads = self._grads.copy()
        if not (math.isfinite(value) and _kernels.all_finite(grads)):
            raise FloatingPointError(f"the loss is {value} and the gradient is not finite: "
                                     f"X or y overflows {self.dtype.name} inside the "
                                     "network (or the weights are too large)")
        return value, grads

    def train_step(self, X, y, lr=None, optimizer=None, n_threads=None):
        """One training step on the batch (X, y); returns the loss before it.

        With lr: plain SGD, params -= lr · ∇L, in ONE compiled call (the update is
        folded into the backward GEMMs, so the gradient buffer is left partly stale:
        call gradient() for gradients).  With optimizer (a fastmlp.optim.Optimizer):
        the gradient (one call), then the optimizer's update (one fused loop), with
        its weight decay on the weights only.  n_threads: as in fit.

        A NaN/inf loss raises FloatingPointError with the parameters as they were.
        With lr > 1 the SGD step is checked as a whole: the gradient, then the update,
        made only if every new parameter is finite.  (The fused step with lr <= 1
        checks the loss; an update that overflows from a finite loss, which needs
        weights or activations near the dtype's largest value, is not undone.)
        """
        if (lr is None) == (optimizer is None):
            raise TypeError("train_step needs exactly one of lr (plain SGD) or optimizer")
        n_threads = _threads.check_threads(n_threads)
        X = self._inputs(X)
        T, labels = self._targets(y, X.shape[0])
        if optimizer is None:
            lr = check_scalar(lr, "lr", minimum=0.0)
            with self._lock, self._step_threads(X.shape[0], n_threads) as step:
                masks = self._training_masks() if self._has_dropout else None
                if lr > _FUSED_LR_MAX:
                    value = self._checked_sgd_step(X, T, labels, lr, masks, step.helpers)
                else:
                    value = self._plan.sgd_step(X, T, labels, lr, self.l2, masks,
                                                step.helpers)
                if masks is not None and math.isfinite(value):
                    self._advance(masks)
            if not math.isfinite(value):
                raise FloatingPointError(f"the loss is {value} (X, y or the weights too "
                                         f"large for {self.dtype.name}); the parameters "
                                         "were not updated")
            return value
        if not isinstance(optimizer, optim.Optimizer):
            raise TypeError(f"optimizer must be a fastmlp.optim.Optimizer, "
                            f"got {type(optimizer).__name__}")
        with self._step_threads(X.shape[0], n_threads) as step:
            return self._optimizer_step(X, T, labels, optimizer, helpers=step.helpers)

    def _checked_sgd_step(self, X, T, labels, lr, masks=None, helpers=0):
        """params -= lr · (∇L + l2 · W), made only if the result is finite; the loss.
        masks: the step's dropout masks, or None; helpers: helper threads sharing the
        gradient's GEMMs.  The caller holds the lock."""
        value = self._plan.gradient(X, T, labels, self.l2, None, dropout=masks,
                                    helpers=helpers)
        if not math.isfinite(value):
            return value
        with np.errstate(over="ignore", invalid="ignore"):
            new = self._params - lr * self._grads
        if not _kernels.all_finite(new):
            raise FloatingPointError(f"the update with lr={lr} would have left NaN or "
                                     "infinity in the parameters (learning rate too "
                                     "large?); they were left as they were")
        self._params[...] = new
        return value

    def _optimizer_step(self, X, T, labels, optimizer, row_weights=None, l2=None,
                        helpers=0):
        """The gradient, then the optimizer's update, on arrays already validated (and
        scaled); the loss before it.  row_weights (float64, summing to 1) weight the
        rows in place of the batch mean; l2 overrides the network's penalty for this
        step; helpers: helper threads sharing both (the BLAS on one thread: see
        _step_threads).  A NaN/inf loss or gradient raises FloatingPointError with the
        parameters left as they were.  A training step: with dropout masks."""
        with self._lock:
            masks = self._training_masks()
            value = self._plan.gradient(X, T, labels, self.l2 if l2 is None else l2, None,
                                        row_weights=row_weights, dropout=masks,
                                        helpers=helpers)
            if not math.isfinite(value):
                raise FloatingPointError(f"the loss is {value} (X, y or the weights too "
                                         f"large for {self.dtype.name}); the parameters "
                                         "were not updated")
            optimizer._apply(self._params, self._grads, self._weight_mask, helpers)
            self._advance(masks)
        return value

    # -- training (fastmlp.training) ------------------------------------------

    def fit(self, X, y, epochs=10, batch_size=128, optimizer="adam", lr=1e-3, shuffle=True,
            seed=None, validation_data=None, validation_fraction=0.0, early_stopping=False,
            patience=5, min_delta=1e-4, callbacks=None, verbose=0, sample_weight=None,
            standardize=True, n_threads=None, **options):
        """Train on (X, y); returns a History (per epoch: loss, accuracy or r2 on the
        training rows, val_loss, val metric, lr, seconds).

        X: a float, integer or boolean array, a pandas or polars DataFrame (its column
        names are kept in training["feature_names"] and checked when a DataFrame is
        given to predict), or a scipy.sparse matrix (densified one batch at a time; the
        validation rows, and the up to 2,048 rows the training metric is scored on, once;
        not with "lbfgs").  y: labels, target rows, or an (n, 1) column.
        sample_weight: one non-negative weight per row; each batch's loss is the
        weighted mean.  standardize (default True): fit a Standardizer on the training
        rows and keep it with the network, so that later calls take raw units (the
        network's existing scaler, if it has one, is kept).

        optimizer: "sgd", "adam", "adamw", "lbfgs" (full batch; epochs = iterations)
        or an Optimizer object (its own lr and settings are used).  Further options:
        schedule ("constant", "step", "cosine", "invscaling" or a schedule object),
        clip_norm, weight_decay.  early_stopping watches val_loss and restores
        the best epoch's weights.  callbacks: callables f(net, record); True stops.
        A NaN/inf loss or gradient raises training.DivergenceError (epoch, step);
        Ctrl-C returns the history so far with history.interrupted set.
        n_threads: threads for the whole fit (None: chosen from batch_size and the
        layer sizes; a step large enough for several threads shares its GEMMs and
        its update with fastmlp's helper threads, the BLAS on one: see
        fastmlp._workers.step_threads; "lbfgs" and evaluations by their batches,
        fastmlp._threads).
        """
        n_threads = _threads.check_threads(n_threads)
        batch = batch_size if isinstance(batch_size, int) and optimizer != "lbfgs" else 0
        with self._blas_threads(batch, n_threads):
            return training.fit(self, X, y, epochs=epochs, batch_size=batch_size,
                                optimizer=optimizer, lr=lr, shuffle=shuffle, seed=seed,
                                validation_data=validation_data,
                                validation_fraction=validation_fraction,
                                early_stopping=early_stopping, patience=patience,
                                min_delta=min_delta, callbacks=callbacks, verbose=verbose,
                                sample_weight=sample_weight, standardize=standardize,
                                threads=lambda: self._step_threads(batch, n_threads),
                                **options)

    def partial_fit(self, X, y, batch_size=128, optimizer=None, lr=None, shuffle=True,
                    seed=None):
        """One epoch over (X, y), continuing with the network's optimizer state."""
        return training.partial_fit(self, X, y, batch_size=batch_size, optimizer=optimizer,
                                    lr=lr, shuffle=shuffle, seed=seed)

    def evaluate(self, X, y):
        """{"loss": ..., "accuracy" (classification) or "r2" (regression): ...}."""
        return training.evaluate(self, X, y)

    def score(self, X, y):
        """Accuracy for classification, R² for regression."""
        return training.score(self, X, y)

    def __repr__(self):
        acts = ", ".join(l.activation for l in self.layers)
        drop = f", dropout={self.dropout}" if any(self.dropout) else ""
        return (f"Network({list(self.sizes)}, activations=[{acts}], loss={self._loss.name!r}, "
                f"dtype=np.{self.dtype.name}{drop}, n_params={self.n_params})")
