"""`fastmlp train`: defaults chosen from the table, progress, and a model in the data's units.

    task        classification or regression, chosen from the target (and said why)
    splits      a held-out test part (--test-fraction) and a validation part (10% when
                that is 30 rows or more), stratified by class for classification
    schedule    batch min(200, n) as scikit-learn's MLP; up to max(200, 2000 steps' worth)
                epochs, stopped by the validation loss (or, without validation, by the
                training loss) not improving by 1e-4 for --patience epochs (default:
                10, or 100 steps' worth)
    target      regression targets are standardized for training, and the affine map is
                then folded into the output layer, so the saved model predicts raw units
    progress    one line rewritten in place on a terminal, a few plain lines otherwise
    memory      a network too large for the available memory is refused before it is built
"""
import math
import os
import shutil
import sys
import time

import numpy as np

TOL = 1e-4               # improvement of a loss that counts as progress (scikit-learn's tol)
MIN_STEPS = 2000         # tiny tables get at least this many optimizer steps before the limit,
                         # and at least MIN_STEPS / 20 steps of patience
VALIDATION = 0.1         # the default validation split, used when it has
MIN_VALIDATION = 30      # at least this many rows


class CommandError(Exception):
    """A user-facing error: printed as one line, no traceback."""


# -- task -------------------------------------------------------------------------

def choose_task(y, forced, n_rows):
    """("classify" | "regress", the reason in words) for target values y."""
    n_values = np.unique(y, axis=0).shape[0]
    if n_values < 2:
        raise CommandError(f"the target holds a single value ({y[0]}): nothing to learn")
    if y.dtype.kind in "US":
        if forced == "regress":
            raise CommandError("the target holds text labels (e.g. "
                               f"{str(y[0])!r}); regression needs numbers")
        return "classify", f"text labels with {n_values} values"
    if y.ndim == 2:
        if forced == "classify":
            raise CommandError("several target columns are fitted by regression only; "
                               "for classification give one --target column")
        return "regress", f"{y.shape[1]} target columns"
    if forced:
        return forced, f"--task {forced}"
    if not np.all(y == np.round(y)):
        return "regress", "real-valued target; use --task classify to override"
    if n_values == 2 or (n_values <= 100 and n_rows >= 5 * n_values):
        return "classify", (f"integer target with {n_values} values; "
                            "use --task regress to override")
    return "regress", (f"integer target with {n_values} values in {n_rows} rows (fewer "
                       "than 5 rows per value); use --task classify to override")


def class_labels(classes):
    """The classes as JSON scalars for the model file: str, int when integral, else float."""
    if classes.dtype.kind in "US":
        return [str(c) for c in classes]
    if np.all(classes == np.round(classes)):
        return [int(c) for c in classes]
    return [float(c) for c in classes]


# -- splits -----------------------------------------------------------------------

def split_rows(n, fraction, rng, codes=None):
    """(kept, held) row indices: a `fraction` of the rows held out, per class if codes."""
    if fraction <= 0:
        return np.arange(n), np.arange(0)
    groups = [np.arange(n)] if codes is None else [np.flatnonzero(codes == c)
                                                   for c in np.unique(codes)]
    held = []
    for rows in groups:
        rows = rng.permutation(rows)
        held.append(rows[:int(round(fraction * rows.size))])
    held = np.concatenate(held)
    if held.size == 0:                      # a tiny table: hold out at least one row
        held = rng.permutation(n)[:1]
    if held.size >= n:
        raise CommandError(f"a fraction {fraction} of {n} rows leaves no rows to train on")
    kept = np.setdiff1d(np.arange(n), held)
    return kept, np.sort(held)


# -- the target of a regression -----------------------------------------------------

class TargetScaling:
    """y' = (y - mean) / scale per target column, for training; fold() makes the
    network's output layer produce y itself (W·scale, b·scale + mean)."""

    def __init__(self, Y):
        self.mean = Y.mean(axis=0)
        scale = Y.std(axis=0)
        self.scale = np.where(scale > 0, scale, 1.0)

    def transform(self, Y):
        return (Y - self.mean) / self.scale

    def fold(self, net):
        """Rescale the last layer in place (an identity output layer is assumed)."""
        last = net.layers[-1]
        n_w, n_out = last.n_in * last.n_out, last.n_out
        params = net.get_params().astype(np.float64)
        W = params[-(n_w + n_out):-n_out].reshape(last.n_in, n_out)
        b = params[-n_out:]
        W *= self.scale                     # each output column by its own scale
        b *= self.scale
        b += self.mean
        net.set_params(params.astype(net.dtype))


# -- progress -----------------------------------------------------------------------

class Progress:
    """A fit callback printing one progress line: rewritten in place on a terminal
    (at most 10 times a second), else printed at epoch 1, every `every` epochs or
    5 seconds, and at the end.  Samples/s counts every training row of every epoch
    since the start, so it does not jump with one short epoch."""

    def __init__(self, max_epochs, n_train, metric, stream=None, quiet=False):
        self.max_epochs, self.n_train, self.metric = max_epochs, n_train, metric
        self.stream = stream or sys.stdout
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.quiet = quiet
        self.every = max(1, max_epochs // 10)
        self.start = time.perf_counter()
        self.last_print = -math.inf
        self.line = None
        self.pending = False

    def text(self, record):
        e, width = record["epoch"], len(str(self.max_epochs))
        elapsed = time.perf_counter() - self.start
        parts = [f"epoch {e:>{width}}/{self.max_epochs}", f"loss {record['loss']:.4f}"]
        if "val_loss" in record:
            parts.append(f"val_loss {record['val_loss']:.4f}")
            value = record[f"val_{self.metric}"]
            parts.append(f"val_acc {value:.2%}" if self.metric == "accuracy"
                         else f"val_r2 {value:.4f}")
        rate = e * self.n_train / elapsed if elapsed > 0 else 0.0
        parts += [f"{rate:,.0f} samples/s", f"{elapsed:.1f}s"]
        return "  ".join(parts)

    def __call__(self, net, record):
        if self.quiet:
            return False
        self.line = self.text(record)
        now = time.perf_counter()
        if self.tty:
            if now - self.last_print >= 0.1:
                self._write(self._in_place())
                self.last_print, self.pending = now, False
            else:
                self.pending = True
        elif (record["epoch"] == 1 or record["epoch"] % self.every == 0
              or now - self.last_print >= 5.0):
            self._write(self.line + "\n")
            self.last_print, self.pending = now, False
        else:
            self.pending = True
        return False

    def finish(self):
        """End the progress output: the last epoch's line, then a newline on a terminal."""
        if self.quiet or self.line is None:
            return
        if self.tty:
            self._write(self._in_place() + "\n")
        elif self.pending:
            self._write(self.line + "\n")

    def _in_place(self):
        """The line over the previous one, cut to the terminal's width (a longer line
        would wrap, and the carriage return would then no longer reach its start)."""
        width = shutil.get_terminal_size().columns - 1
        return "\r" + self.line[:width].ljust(width)

    def _write(self, text):
        self.stream.write(text)
        self.stream.flush()


class Plateau:
    """A fit callback that stops after `patience` epochs in a row that each improved
    the best training loss by less than TOL (scikit-learn's n_iter_no_change and tol;
    used when there is no validation split)."""

    def __init__(self, patience):
        self.patience, self.best, self.wait, self.stopped = patience, math.inf, 0, False

    def __call__(self, net, record):
        loss = record["loss"]
        self.wait = self.wait + 1 if loss > self.best - TOL else 0
        self.best = min(self.best, loss)
        self.stopped = self.wait >= self.patience
        return self.stopped


# -- memory ---------------------------------------------------------------------

def available_memory():
    """Bytes of memory available to a new allocation (MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def require_memory(nbytes, what):
    """Raise MemoryError, before allocating, when `what` needs more than is available."""
    free = available_memory()
    if free is not None and nbytes > free:
        raise MemoryError(f"{what} needs about {nbytes / 2**30:,.1f} GiB of memory; "
                          f"{free / 2**30:,.1f} GiB is available")


def training_bytes(sizes, batch_size, n_rows, itemsize):
    """About the memory a fit needs: parameters with gradients, Adam's moments and the
    best-epoch copy, and the activations of a batch and of a whole-table evaluation."""
    n_params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
    return itemsize * (6 * n_params + 3 * (batch_size + n_rows) * sum(sizes))


# -- the command --------------------------------------------------------------------

def _say(args, text):
    if not args.quiet:
        print(text, flush=True)


def _warn(text):
    print(f"fastmlp train: warning: {text}", file=sys.stderr, flush=True)


def train(args, X, y, names, notes=()):
    """Train on (X, y) as the parsed `args` say; save the model; 0 on success."""
    from . import Network

    forced = args.task or {"cross_entropy": "classify", "mse": "regress"}.get(args.loss)
    task, why = choose_task(y, forced, X.shape[0])
    _say(args, f"{'classification' if task == 'classify' else 'regression'}: {why}")
    for note in notes:
        _say(args, f"note: {note}")
    plot = _plot_module(args.plot)                      # fail before training if missing
    for path in (args.out, args.plot):                  # and if a file cannot be written
        folder = os.path.dirname(os.path.abspath(path)) if path else None
        if folder and not os.path.isdir(folder):
            raise CommandError(f"cannot write {path}: no such directory {folder}")

    rng = np.random.default_rng(args.seed)
    if task == "classify":
        classes, codes = np.unique(y, return_inverse=True)
        Y, n_out, loss = codes.astype(np.intp), classes.size, "cross_entropy"
    else:
        Y = y.astype(np.float64).reshape(y.shape[0], -1)
        codes, n_out, loss = None, Y.shape[1], "mse"
    lbfgs = args.optimizer == "lbfgs"
    train_rows, val, test = _splits(args, X.shape[0], codes, rng, lbfgs)

    scaling = None
    if task == "regress" and args.standardize_target:
        scaling = TargetScaling(Y[train_rows])
    fit_Y = Y if scaling is None else scaling.transform(Y)

    dtype = np.float64 if args.dtype == "float64" else np.float32
    sizes = [X.shape[1]] + args.hidden + [n_out]
    n_train = train_rows.size
    batch_size = args.batch_size or min(200, n_train)
    steps = math.ceil(n_train / batch_size)
    epochs = args.epochs or (200 if lbfgs else max(200, math.ceil(MIN_STEPS / steps)))
    patience = args.patience or max(10, math.ceil(MIN_STEPS / 20 / steps))
    require_memory(training_bytes(sizes, min(batch_size, n_train), X.shape[0],
                                  np.dtype(dtype).itemsize), f"a {sizes} network")
    net = Network(sizes, activation=args.activation, loss=loss, dtype=dtype,
                  seed=args.seed, l2=args.l2)
    stopping = (f"early stopping on {val.size} validation rows (patience {patience})"
                if val.size else f"stopping when the training loss stalls (patience "
                f"{patience})")
    _say(args, f"training {' -> '.join(map(str, sizes))} ({args.activation}, {loss}, "
         f"{np.dtype(dtype).name}, {net.n_params:,} parameters) on {n_train} rows of "
         f"{args.data}"
         + (f" ({test.size} held out for testing)" if test.size else ""))
    _say(args, f"up to {epochs} {'iterations' if lbfgs else 'epochs'}"
         + ("" if lbfgs else f" of {steps} step{'s' * (steps > 1)} (batch {batch_size})")
         + ("" if lbfgs else f", {stopping}")
         + (", target standardized" if scaling is not None else ""))

    metric = "accuracy" if task == "classify" else "r2"
    progress = Progress(epochs, n_train, metric, quiet=args.quiet)
    plateau = None if val.size or lbfgs else Plateau(patience)
    validation = (X[val], fit_Y[val]) if val.size else None
    history = net.fit(X[train_rows], fit_Y[train_rows], epochs=epochs,
                      batch_size=batch_size, optimizer=args.optimizer, lr=args.lr,
                      seed=args.seed, validation_data=validation,
                      early_stopping=bool(val.size) and not lbfgs, patience=patience,
                      min_delta=TOL, standardize=args.standardize,
                      callbacks=[c for c in (progress, plateau) if c is not None])
    progress.finish()
    if scaling is not None:
        scaling.fold(net)
    _report_stop(args, history, epochs, patience, plateau, lbfgs)

    # scored on the class indices Y, before the network learns its labels (after that,
    # Network speaks in the labels themselves)
    scores = [("train", train_rows, net.evaluate(X[train_rows], Y[train_rows]))]
    if val.size:
        scores.append(("validation", val, net.evaluate(X[val], Y[val])))
    if test.size:
        scores.append(("test", test, net.evaluate(X[test], Y[test])))
    net.training.update({
        "data": os.path.abspath(args.data), "target": args.target,
        "feature_names": list(names), "task": task,
        "classes": class_labels(classes) if task == "classify" else None,
        "standardize_target": scaling is not None,
        "epochs_run": len(history), "final_loss": history["loss"][-1]})
    if test.size:
        net.training["test_score"] = scores[-1][2][metric]
    if history.interrupted:
        _say(args, "interrupted: saving the weights reached so far")
    net.save(args.out)
    if plot is not None:
        plot.save_curves(history, args.plot, metric, title=os.path.basename(args.data))
    for part, rows, result in scores:
        print(f"{part + ':':<11} {metric_text(result)}  ({rows.size} rows)")
    print(f"saved {args.out}" + (f" and {args.plot}" if plot is not None else ""))
    return 0


def _splits(args, n, codes, rng, lbfgs):
    """(train, validation, test) row indices, stratified by class `codes` if given."""
    fit_rows, test = split_rows(n, args.test_fraction, rng, codes)
    fraction = args.validation_fraction
    if fraction is None and lbfgs:           # L-BFGS runs full batch, without early stopping
        fraction = 0
    if fraction is None:                     # default: 10%, if that is 30 rows or more
        fraction = VALIDATION if round(VALIDATION * fit_rows.size) >= MIN_VALIDATION else 0
        if not fraction:
            _say(args, f"note: {fit_rows.size} rows are too few for a validation split of "
                 f"{MIN_VALIDATION} rows; training stops when the training loss stalls "
                 "(--validation-fraction sets one)")
    train_rows, val = split_rows(fit_rows.size, fraction, rng,
                                 None if codes is None else codes[fit_rows])
    return fit_rows[train_rows], fit_rows[val], test


def _report_stop(args, history, epochs, patience, plateau, lbfgs):
    """Say why training stopped; warn when it stopped before converging."""
    if history.interrupted:
        return
    if history.stopped_early:
        _say(args, f"stopped at epoch {len(history)}: the validation loss has not improved "
             f"for {patience} epochs; kept epoch {history.best_epoch}'s weights")
    elif plateau is not None and plateau.stopped:
        _say(args, f"converged at epoch {len(history)}: the training loss improved by less "
             f"than {TOL:g} in each of the last {patience} epochs")
    elif lbfgs and len(history) < epochs:
        _say(args, f"L-BFGS converged after {len(history)} iterations")
    else:
        _warn(f"stopped at the limit of {epochs} {'iterations' if lbfgs else 'epochs'} "
              "before converging; raise --epochs (or --lr) to train longer")


def metric_text(scores):
    return "  ".join(f"{k} {v:.2%}" if k == "accuracy" else f"{k} {v:.4f}"
                     for k, v in scores.items())


def _plot_module(path):
    """fastmlp.plot when --plot is given (its matplotlib import checked now), else None."""
    if path is None:
        return None
    from . import plot
    plot.require_matplotlib()
    return plot
