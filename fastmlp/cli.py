"""The fastmlp command line: `fastmlp COMMAND ...` or `python -m fastmlp COMMAND ...`.

    demo        train small networks on built-in data, check gradients (no downloads)
    train       train on a CSV file or an MNIST (IDX) directory, save a model file
    predict     predictions of a saved model for a CSV file or IDX directory
    evaluate    loss and accuracy / R² of a saved model on labelled data
    gradcheck   backprop against central differences for a saved model on data
    invert      inputs that make a saved model give a desired output or class
    info        architecture, parameter count, dtype and training settings of a model
    export      a model file as ONNX;  import: an ONNX MLP as a model file

Data: a .csv or .tsv file (header row; --target names the label column or columns)
or a directory with MNIST IDX files (train-*/t10k-*, optionally .gz; --split picks
which).  Bad input ends with a one-line message on stderr and exit status 2.
"""
import argparse
import csv
import json
import math
import os
import sys
import warnings

import numpy as np

from . import _threads
from .activations import ACTIVATIONS
from .cli_args import EXIT_ERROR, Formatter, Parser, hidden_sizes, integer, number
from .cli_convert import add_commands as add_convert_commands
from .cli_invert import cmd_invert
from .cli_info import info_lines, model_summary
from .cli_train import CommandError, metric_text


# -- data -------------------------------------------------------------------------

TABLE_SUFFIXES = (".csv", ".tsv", ".tab", ".txt")


def load_data(path, target=None, split="train", need_target=True, delimiter=None,
              drop_missing=False, notes=None):
    """(X, y, feature_names) from a CSV/TSV file or an MNIST IDX directory.

    target: a column name, or several as "a,b" (or a list).  What load_csv warns
    about (an index column left out, rows with missing values dropped) is appended
    to `notes` when given."""
    from . import datasets
    if os.path.isdir(path):
        X, y = datasets.load_mnist(path, split=split)
        return X, y, [f"pixel{i}" for i in range(X.shape[1])]
    if not os.path.exists(path):
        raise CommandError(f"no such file or directory: {path}")
    if not path.lower().endswith(TABLE_SUFFIXES):
        raise CommandError(f"{path}: expected a .csv or .tsv file or an MNIST IDX directory")
    if need_target and not target:
        raise CommandError("--target COLUMN is required for CSV data")
    if isinstance(target, str) and "," in target:
        target = [t.strip() for t in target.split(",")]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        X, y, names = datasets.load_csv(path, target=target or None, delimiter=delimiter,
                                        missing="drop" if drop_missing else "error")
    for w in caught:
        message = str(w.message).replace(f"{path}: ", "")
        if notes is not None:
            notes.append(message)
        else:
            print(f"note: {message}")
    return X, y, names


def _features_for(net, X, names, path):
    """Check the data's columns against the model's, reordering CSV columns by name."""
    expected = net.training.get("feature_names")
    if expected and names and list(names) != list(expected):
        missing = [c for c in expected if c not in names]
        if missing:
            raise CommandError(f"{path}: missing feature column(s) {missing[:5]} "
                               "that the model was trained on")
        X = X[:, [list(names).index(c) for c in expected]]
    if X.shape[1] != net.sizes[0]:
        raise CommandError(f"{path}: {X.shape[1]} feature columns, the model takes "
                           f"{net.sizes[0]}")
    return X


def _binary(net):
    """A classifier with one logistic output for two classes (as scikit-learn's)."""
    return (net.loss_name == "binary_cross_entropy" and net.sizes[-1] == 1
            and net.training.get("classes") is not None)


def _encode_targets(net, y):
    """The data's labels, checked against the model's stored classes: 0/1 for one
    logistic output; under cross-entropy the stored labels themselves (3, 3.0 and "3"
    read as the same label), which Network maps to its outputs."""
    classes = net.training.get("classes")
    if classes is None or not (net.loss_name == "cross_entropy" or _binary(net)):
        return y
    lookup = {_label_key(c): i for i, c in enumerate(classes)}
    try:
        codes = np.array([lookup[_label_key(v)] for v in y.tolist()], dtype=np.intp)
        return codes.astype(np.float64) if _binary(net) else np.asarray(classes)[codes]
    except KeyError as exc:
        raise CommandError(f"label {exc.args[0]!r} was not among the training classes "
                           f"{classes[:10]}") from None
    except TypeError:
        raise CommandError("a labelled table for a classifier needs one target column") from None


def _label_key(value):
    """A class label as a lookup key: 3, 3.0 and "3" are the same label."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _decode_predictions(net, pred):
    classes = net.training.get("classes")
    return np.asarray(classes)[pred] if classes is not None else pred


# -- commands ---------------------------------------------------------------------

def cmd_demo(args):
    from .demo import run
    return 0 if run(seed=args.seed) else 1


def cmd_train(args):
    from .cli_train import train
    notes = []
    X, y, names = load_data(args.data, args.target, split="train", delimiter=args.delimiter,
                            drop_missing=args.drop_missing, notes=notes)
    return train(args, X, y, names, notes)


def _load_model(path):
    """A model file, with the training fields the commands use checked against it."""
    from . import Network
    if not os.path.exists(path):
        raise CommandError(f"no such model file: {path}")
    net = Network.load(path)
    n_in, n_out, training = net.sizes[0], net.sizes[-1], net.training
    expected = {"feature_names": n_in, "input_min": n_in, "input_max": n_in,
                "input_mean": n_in,
                "classes": 2 if net.loss_name == "binary_cross_entropy" and n_out == 1
                else n_out}
    for key, length in expected.items():
        value = training.get(key)
        if value is not None and (not isinstance(value, list) or len(value) != length):
            size = len(value) if isinstance(value, list) else type(value).__name__
            raise CommandError(f"{path}: not a usable model: training[{key!r}] has {size} "
                               f"entries for a network with {n_in} inputs and {n_out} "
                               f"outputs (expected {length})")
    return net


def cmd_predict(args):
    net = _load_model(args.model)
    target = args.target or _trained_target_in(net, args.data, args.delimiter)
    X, _, names = load_data(args.data, target, split=args.split, need_target=False,
                            delimiter=args.delimiter, drop_missing=args.drop_missing)
    X = _features_for(net, X, names, args.data)
    out = net.forward(X)
    if net.loss_name == "cross_entropy":
        pred = _decode_predictions(net, out.argmax(axis=1))
        rows = [[p] + [f"{q:.6g}" for q in probs] for p, probs in zip(pred.tolist(), out)]
        header = ["prediction"] + [f"p_{c}" for c in (net.training.get("classes")
                                                       or range(out.shape[1]))]
    elif _binary(net):            # one logistic output: P(second class)
        classes = net.training["classes"]
        rows = [[classes[int(p > 0.5)], f"{p:.6g}"] for p in out[:, 0].tolist()]
        header = ["prediction", f"p_{classes[1]}"]
    else:
        rows = [[f"{v:.6g}" for v in r] for r in out]
        header = _output_names(net)
    lines = [",".join(map(str, header))] + [",".join(map(str, r)) for r in rows]
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")
        print(f"{len(rows)} predictions written to {args.out}")
    else:
        print("\n".join(lines[:args.show + 1]))
        if len(rows) > args.show:
            print(f"... ({len(rows)} rows; --out FILE writes them all)")
    return 0


def _trained_target_in(net, path, delimiter):
    """The model's target column(s) when the table at `path` has them (they are then
    not features), else None."""
    target = net.training.get("target")
    if not target or os.path.isdir(path) or not os.path.isfile(path):
        return None
    wanted = target if isinstance(target, list) else str(target).split(",")
    if delimiter is None:
        delimiter = "\t" if path.lower().endswith((".tsv", ".tab")) else ","
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
        header = next((row for row in csv.reader(f, delimiter=delimiter) if row), [])
    header = [col.strip() for col in header]
    return target if all(str(t).strip() in header for t in wanted) else None


def _output_names(net):
    """The regression outputs' names: the target column(s) trained on, else output0, ..."""
    target = net.training.get("target")
    names = str(target).split(",") if isinstance(target, str) else target
    if isinstance(names, list) and len(names) == net.sizes[-1]:
        return [f"predicted_{str(n).strip()}" for n in names]
    return [f"output{k}" for k in range(net.sizes[-1])]


def _model_and_labelled_data(args):
    """The model, and the data's features (in the model's order) and encoded labels."""
    net = _load_model(args.model)
    X, y, names = load_data(args.data, args.target or net.training.get("target"),
                            split=args.split, delimiter=args.delimiter,
                            drop_missing=args.drop_missing)
    return net, _features_for(net, X, names, args.data), _encode_targets(net, y)


def cmd_evaluate(args):
    net, X, y = _model_and_labelled_data(args)
    print(f"{args.data}: {X.shape[0]} rows  {metric_text(net.evaluate(X, y))}")
    return 0


GRADCHECK_SAMPLE_ABOVE = 50_000     # parameters; larger networks are sampled by default
GRADCHECK_COORDS = 200              # default sample per W and b


def cmd_gradcheck(args):
    from .gradcheck import check_gradients
    net, X, y = _model_and_labelled_data(args)
    rows = min(args.rows, X.shape[0])
    if args.coords is not None and args.coords < 1:
        raise CommandError(f"--coords must be a positive count, got {args.coords}")
    n_coords = args.coords
    if n_coords is None and not args.all and net.n_params > GRADCHECK_SAMPLE_ABOVE:
        n_coords = GRADCHECK_COORDS
        print(f"{net.n_params:,} parameters: checking {n_coords} random coordinates of each "
              "W and b (--coords K for more, --all for every one)", file=sys.stderr)
    report = check_gradients(net, X[:rows], y[:rows], n_coords=n_coords, seed=args.seed,
                             progress=_StderrProgress())
    print(f"{rows} rows of {args.data}\n{report}")
    return 0 if report.ok else 1


class _StderrProgress:
    """The gradient check's progress on stderr: one line redrawn in place on a
    terminal, else a plain line every 10 s; silent for checks under a second."""

    def __init__(self):
        self.tty = sys.stderr.isatty()
        self.last = -math.inf

    def __call__(self, done, total, seconds):
        from .gradcheck import progress_line
        final = done == total
        if seconds < 1 or (not final and seconds - self.last < (0.2 if self.tty else 10)):
            return
        self.last = seconds
        line = progress_line(done, total, seconds)
        if self.tty:
            sys.stderr.write("\r" + line + ("\n" if final else ""))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def cmd_info(args):
    net = _load_model(args.model)
    if args.json:
        print(json.dumps(model_summary(net, args.model), default=str))
    else:
        print("\n".join(info_lines(net, args.model)))
    return 0


# -- parser -----------------------------------------------------------------------

def _data_options(p):
    p.add_argument("--delimiter", help="field separator of a table (default: tab for "
                   ".tsv/.tab files, else comma)")
    p.add_argument("--drop-missing", action="store_true",
                   help="leave out rows with missing cells (empty, NA, NaN, ...) instead "
                   "of stopping at the first one")


def build_parser():
    parser = Parser(prog="fastmlp", formatter_class=Formatter,
                     description="A compiled multilayer-perceptron engine for the CPU.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name, **kwargs):
        return sub.add_parser(name, formatter_class=Formatter, **kwargs)

    p = command("demo", help="train small networks on built-in data and check "
                "their gradients (no downloads)",
                description="Train small networks on built-in data (xor, two "
                "spirals) with train_step, check every gradient against central "
                "differences, and time backprop against the numerical fallback.")
    p.add_argument("--seed", type=integer(0), default=0, help="random seed")
    p.set_defaults(run=cmd_demo)

    p = command("train", help="train a network on a CSV/TSV file or MNIST directory",
                description="Train a network and save it as a model file.  The task is "
                "chosen from the target and said on the first line: text labels, or "
                "integers with at least 5 rows per value (or two values), mean "
                "classification (softmax cross-entropy); otherwise regression (mse, "
                "the target standardized for training).  Training stops when the "
                "validation loss has not improved for --patience epochs (the best "
                "epoch's weights are kept), or at the epoch limit with a warning.")
    p.add_argument("data", help="a .csv/.tsv file (with --target) or an MNIST IDX directory")
    p.add_argument("--target", metavar="COLUMN[,COLUMN...]",
                   help="the label column of a table; several columns (a,b) for "
                   "multi-output regression")
    p.add_argument("--task", choices=["classify", "regress"],
                   help="force classification or regression (default: chosen from the "
                   "target)")
    p.add_argument("--loss", choices=["cross_entropy", "mse"], help=argparse.SUPPRESS)
    p.add_argument("--hidden", type=hidden_sizes, default=[100], metavar="W[,W...]",
                   help="hidden layer widths, e.g. 512,256 (default 100)")
    p.add_argument("--activation", default="relu", help="hidden activation",
                   choices=[a for a in ACTIVATIONS if a != "softmax"])
    p.add_argument("--epochs", type=integer(1), default=None,
                   help="the most epochs (default: 200, or more for small tables so that "
                   "there are at least 2000 steps; L-BFGS: 200 iterations)")
    p.add_argument("--batch-size", type=integer(1), default=None,
                   help="rows per step (default: min(200, training rows))")
    p.add_argument("--lr", type=number(0, 1e6), default=1e-3, help="learning rate")
    p.add_argument("--optimizer", default="adam", choices=["sgd", "adam", "adamw", "lbfgs"],
                   help="optimizer")
    p.add_argument("--l2", type=number(0, 1e6), default=0.0, help="L2 penalty on the weights")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"],
                   help="floating-point type of the network")
    p.add_argument("--validation-fraction", type=number(0, below=1), default=None,
                   help="part of the training rows held out to stop training early "
                   "(default: 0.1 if that is at least 30 rows; 0: stop when the training "
                   "loss stalls)")
    p.add_argument("--patience", type=integer(1), default=None,
                   help="epochs without improvement (by 1e-4) before stopping (default: "
                   "10, or more for small tables so that there are at least 100 steps)")
    p.add_argument("--test-fraction", type=number(0, below=1), default=0.0,
                   help="part of the rows held out for a test score after training")
    p.add_argument("--early-stopping", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--no-standardize", dest="standardize", action="store_false",
                   help="do not standardize the inputs (they are by default)")
    p.add_argument("--no-standardize-target", dest="standardize_target",
                   action="store_false", help="train a regression on the raw target "
                   "(it is standardized by default, and the model still predicts raw "
                   "units)")
    p.add_argument("--plot", metavar="PNG", help="write the loss and accuracy curves to "
                   'this PNG file (needs matplotlib: pip install "fastmlp[plot]")')
    p.add_argument("--quiet", action="store_true",
                   help="print only the final scores (and warnings)")
    p.add_argument("--seed", type=integer(0), default=0, help="random seed")
    p.add_argument("--out", default="model.npz", help="model file to write")
    _data_options(p)
    p.set_defaults(run=cmd_train)

    for name, func, text in (("predict", cmd_predict, "predictions of a saved model"),
                             ("evaluate", cmd_evaluate, "loss and accuracy or R² of a model"),
                             ("gradcheck", cmd_gradcheck, "check a model's gradients")):
        p = command(name, help=text, description=text + ".")
        p.add_argument("model", help="a model file written by `fastmlp train`")
        p.add_argument("data", help="a .csv/.tsv file or an MNIST IDX directory")
        p.add_argument("--target", help="label column (default: the one trained on)")
        p.add_argument("--split", default="test", choices=["train", "test"],
                       help="which MNIST split of an IDX directory")
        _data_options(p)
        if name == "predict":
            p.add_argument("--out", help="write all predictions to this CSV file")
            p.add_argument("--show", type=integer(0), default=10, help="rows to print")
        if name == "gradcheck":
            p.add_argument("--rows", type=integer(1), default=32, help="rows to use")
            p.add_argument("--coords", type=integer(1), metavar="K",
                           help="check K random coordinates of each W and b (default: "
                           f"every one up to {GRADCHECK_SAMPLE_ABOVE:,} parameters, "
                           f"{GRADCHECK_COORDS} above)")
            p.add_argument("--all", action="store_true",
                           help="check every coordinate, however large the network")
            p.add_argument("--seed", type=integer(0), default=0,
                           help="seed of the sampled coordinates")
        p.set_defaults(run=func)

    p = command("invert", help="find inputs that give a desired output",
                description="Find inputs x for which the model gives the target "
                "output (or class), within bounds (default: the training data's "
                "range) and with some features fixed.  Prints the distinct "
                "solutions found, best first.  Exit status 1 if unreachable.")
    p.add_argument("model", help="a model file written by `fastmlp train`")
    p.add_argument("--target", help="output values, comma-separated (nan = free)")
    p.add_argument("--class", dest="class_label", help="a class label to reach")
    p.add_argument("--min-prob", type=number(0, 1), default=0.99,
                   help="class probability to reach")
    p.add_argument("--fix", action="append", metavar="FEATURE=VALUE",
                   help="hold a feature (index or name) at a value; repeatable")
    p.add_argument("--bounds", metavar="LO,HI", help="the same bounds for every feature "
                   "(default: the training data's range)")
    p.add_argument("--bounds-file", metavar="CSV",
                   help="a CSV with columns lo,hi and one row per feature")
    p.add_argument("--reg", type=number(0), default=0.0,
                   help="pull toward the training mean")
    p.add_argument("--restarts", type=integer(1), default=16, help="starting points")
    p.add_argument("--max-iter", type=integer(1), default=500,
                   help="L-BFGS iterations per start")
    p.add_argument("--seed", type=integer(0), default=0, help="random seed")
    p.add_argument("--show", type=integer(0), default=10, help="solutions to print")
    p.add_argument("--out", help="write every solution to this CSV file")
    p.set_defaults(run=cmd_invert)

    p = command("info", help="describe a model file", description="Architecture, "
                "parameter count, dtype, loss, classes, features and training settings "
                "of a model file.")
    p.add_argument("model", help="a model file")
    p.add_argument("--json", action="store_true",
                   help="print everything as one JSON object (for programs)")
    p.set_defaults(run=cmd_info)
    add_convert_commands(command)
    for p in sub.choices.values():
        p.add_argument("--threads", type=integer(1), default=None, metavar="N",
                       help="threads (default: 1 for small layers and batches, all "
                       "cores for large ones: the BLAS's, or in training fastmlp's "
                       "helper threads)")
    return parser


# errors that bad input (arguments, data, model files, sizes) can raise
USER_ERRORS = (CommandError, ValueError, TypeError, OSError, KeyError, IndexError,
               MemoryError, FloatingPointError, OverflowError, ImportError, RuntimeError)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        print("fastmlp: error: a COMMAND is required", file=sys.stderr)
        return EXIT_ERROR
    try:
        with _threads.limit(0, args.threads):
            return args.run(args)
    except BrokenPipeError:              # `fastmlp ... | head`: the reader left; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except USER_ERRORS as exc:
        if os.environ.get("FASTMLP_TRACEBACK"):
            raise
        print(f"fastmlp {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"fastmlp {args.command}: interrupted", file=sys.stderr)
        return 130


def _one_line(exc):
    """The exception as one line of text, with a hint for the usual causes."""
    from .training import DivergenceError
    message = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, DivergenceError):
        message = f"training diverged: {message}; try a smaller --lr"
    elif isinstance(exc, MemoryError):
        message = f"out of memory: {message}"
    elif isinstance(exc, KeyError):
        message = f"missing entry {message}"
    return message
