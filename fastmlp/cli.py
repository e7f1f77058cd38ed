"""The fastmlp command line: `fastmlp COMMAND ...` or `python -m fastmlp COMMAND ...`.

    demo        train small networks on built-in data, check gradients (no downloads)
    train       train on a CSV file or an MNIST (IDX) directory, save a model file
    predict     predictions of a saved model for a CSV file or IDX directory
    evaluate    loss and accuracy / R² of a saved model on labelled data
    gradcheck   backprop against central differences for a saved model on data
    invert      inputs that make a saved model give a desired output or class
    info        architecture, parameter count, dtype and training settings of a model

Data: a path ending in .csv (header row; --target names the label column) or a
directory with MNIST IDX files (train-*/t10k-*, optionally .gz; --split picks which).
Bad input ends with a one-line message on stderr and exit status 2.
"""
import argparse
import json
import math
import os
import sys

import numpy as np

EXIT_ERROR = 2


class CommandError(Exception):
    """A user-facing error: printed as one line, no traceback."""


# -- data -------------------------------------------------------------------------

def load_data(path, target=None, split="train", need_target=True):
    """(X, y, feature_names) from a .csv file or an MNIST IDX directory."""
    from . import datasets
    if os.path.isdir(path):
        X, y = datasets.load_mnist(path, split=split)
        return X, y, [f"pixel{i}" for i in range(X.shape[1])]
    if not os.path.exists(path):
        raise CommandError(f"no such file or directory: {path}")
    if not path.lower().endswith(".csv"):
        raise CommandError(f"{path}: expected a .csv file or an MNIST IDX directory")
    if need_target and target is None:
        raise CommandError("--target COLUMN is required for CSV data")
    X, y, names = datasets.load_csv(path, target=target)
    return X, y, names


def _is_classification(y, loss):
    if loss is not None:
        return loss != "mse"
    return bool(np.all(y == np.round(y)) and np.unique(y).size <= 100)


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


def _check_labels(net, y):
    """The data's labels, checked against the model's stored classes (Network maps
    them to outputs itself)."""
    classes = net.training.get("classes")
    if classes is None:
        return y
    known = set(classes)
    for v in y.tolist():
        if v not in known:
            raise CommandError(f"label {v} was not among the training classes "
                               f"{classes[:10]}")
    return y


def _decode_predictions(net, pred):
    classes = net.training.get("classes")
    return np.asarray(classes)[pred] if classes is not None else pred


# -- commands ---------------------------------------------------------------------

def cmd_demo(args):
    from .demo import run
    return 0 if run(seed=args.seed) else 1


def cmd_train(args):
    from . import Network
    X, y, names = load_data(args.data, args.target, split="train")
    classify = _is_classification(y, args.loss)
    if classify:
        classes, y = np.unique(y, return_inverse=True)
        loss, n_out = "cross_entropy", classes.size
        if n_out < 2:
            raise CommandError(f"{args.data}: the target has a single class")
    else:
        loss, n_out = "mse", 1
    sizes = [X.shape[1]] + args.hidden + [n_out]
    net = Network(sizes, activation=args.activation, loss=loss,
                  dtype=np.float64 if args.dtype == "float64" else np.float32,
                  seed=args.seed, l2=args.l2)
    print(f"training {net} on {X.shape[0]} rows of {args.data}")
    history = net.fit(X, y, epochs=args.epochs, batch_size=args.batch_size,
                      optimizer=args.optimizer, lr=args.lr, seed=args.seed,
                      validation_fraction=args.validation_fraction,
                      early_stopping=args.early_stopping, standardize=args.standardize,
                      verbose=1)
    if classify and np.all(classes == np.round(classes)):
        classes = classes.astype(np.int64)
    net.training.update({"data": os.path.abspath(args.data), "target": args.target,
                         "feature_names": list(names),
                         "classes": classes.tolist() if classify else None,
                         "epochs_run": len(history), "final_loss": history["loss"][-1]})
    if history.interrupted:
        print("interrupted: saving the weights reached so far")
    net.save(args.out)
    labels = classes[y] if classify else y             # the model now speaks in labels
    print(f"train {_metric_text(net.evaluate(X, labels))}; saved {args.out}")
    return 0


def _metric_text(scores):
    return "  ".join(f"{k} {v:.2%}" if k == "accuracy" else f"{k} {v:.4f}"
                     for k, v in scores.items())


def _load_model(path):
    from . import Network
    if not os.path.exists(path):
        raise CommandError(f"no such model file: {path}")
    return Network.load(path)


def cmd_predict(args):
    net = _load_model(args.model)
    X, _, names = load_data(args.data, args.target, split=args.split, need_target=False)
    X = _features_for(net, X, names, args.data)
    out = net.forward(X)
    if net.loss_name == "cross_entropy":
        pred = _decode_predictions(net, out.argmax(axis=1))
        rows = [[p] + [f"{q:.6g}" for q in probs] for p, probs in zip(pred.tolist(), out)]
        header = ["prediction"] + [f"p_{c}" for c in (net.training.get("classes")
                                                       or range(out.shape[1]))]
    else:
        rows = [[f"{v:.6g}" for v in r] for r in out]
        header = [f"output{k}" for k in range(out.shape[1])]
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


def _model_and_labelled_data(args):
    """The model, and the data's features (in the model's order) and encoded labels."""
    net = _load_model(args.model)
    X, y, names = load_data(args.data, args.target or net.training.get("target"),
                            split=args.split)
    return net, _features_for(net, X, names, args.data), _check_labels(net, y)


def cmd_evaluate(args):
    net, X, y = _model_and_labelled_data(args)
    print(f"{args.data}: {X.shape[0]} rows  {_metric_text(net.evaluate(X, y))}")
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


def _parse_values(text, option):
    try:
        return [float(v) if v.strip() not in ("", "nan", "NaN") else float("nan")
                for v in text.split(",")]
    except ValueError:
        raise CommandError(f"{option} takes comma-separated numbers (nan = free), "
                           f"got {text!r}") from None


def _feature_index(net, key):
    names = net.training.get("feature_names") or []
    if key in names:
        return names.index(key)
    try:
        return int(key)
    except ValueError:
        raise CommandError(f"--fix: {key!r} is neither a feature index nor a feature "
                           "name of the model") from None


def _bounds_from(net, args):
    if args.bounds is not None:
        lo, hi = (_parse_values(args.bounds, "--bounds") + [None, None])[:2]
        if hi is None:
            raise CommandError(f"--bounds takes lo,hi, got {args.bounds!r}")
        return (lo, hi)
    if args.bounds_file is not None:
        from . import datasets
        table, _, names = datasets.load_csv(args.bounds_file)
        if names[:2] != ["lo", "hi"] or table.shape[1] != 2 or table.shape[0] != net.sizes[0]:
            raise CommandError(f"{args.bounds_file}: expected columns lo,hi and one row per "
                               f"feature ({net.sizes[0]} rows)")
        return table
    return "training"


def cmd_invert(args):
    from .inversion import invert
    net = _load_model(args.model)
    options = dict(n_restarts=args.restarts, seed=args.seed, reg=args.reg,
                   bounds=_bounds_from(net, args), max_iter=args.max_iter)
    fixed = {}
    for item in args.fix or []:
        key, _, value = item.partition("=")
        if not value:
            raise CommandError(f"--fix takes FEATURE=VALUE, got {item!r}")
        fixed[_feature_index(net, key.strip())] = _parse_values(value, "--fix")[0]
    if fixed:
        options["fixed"] = fixed
    if (args.target is None) == (args.class_label is None):
        raise CommandError("give exactly one of --target VALUES or --class LABEL")
    if args.class_label is not None:
        classes = [str(c) for c in (net.training.get("classes") or range(net.sizes[-1]))]
        if args.class_label not in classes:
            raise CommandError(f"--class {args.class_label}: the model's classes are "
                               f"{', '.join(classes[:20])}")
        result = invert(net, class_index=classes.index(args.class_label),
                        min_prob=args.min_prob, **options)
    else:
        result = invert(net, _parse_values(args.target, "--target"), **options)
    names = net.training.get("feature_names") or [f"x{i}" for i in range(net.sizes[0])]
    outputs = [f"p_{c}" for c in (net.training.get("classes") or range(net.sizes[-1]))] \
        if net.loss_name == "cross_entropy" else [f"output{k}" for k in range(net.sizes[-1])]
    header = ["solution", "residual"] + list(names) + outputs
    rows = [[str(i + 1), f"{res:.3g}"] + [f"{v:.6g}" for v in x] + [f"{v:.6g}" for v in out]
            for i, (x, out, res) in enumerate(result.solutions)]
    print(result.message)
    shown = header if len(names) <= 12 else header[:2] + names[:8] + ["..."] + outputs
    print("  ".join(shown))
    for row in rows[:args.show]:
        cells = row if len(names) <= 12 else row[:10] + ["..."] + row[2 + len(names):]
        print("  ".join(cells))
    if len(rows) > args.show:
        print(f"... ({len(rows)} distinct solutions; --out FILE writes them all)")
    if args.out:
        with open(args.out, "w") as f:
            f.write(",".join(header) + "\n")
            f.writelines(",".join(r) + "\n" for r in rows)
        print(f"{len(rows)} solutions written to {args.out}")
    return 0 if result.success else 1


def cmd_info(args):
    from .activations import PARAMETRIZED
    net = _load_model(args.model)
    print(f"model      {args.model}")
    print(f"layers     {' -> '.join(map(str, net.sizes))}")
    for i, layer in enumerate(net.layers):
        extra = f" (alpha {layer.alpha})" if layer.activation in PARAMETRIZED else ""
        print(f"  layer {i}  {layer.n_in} x {layer.n_out}  {layer.activation}{extra}")
    print(f"loss       {net.loss_name}" + (f", l2 {net.l2}" if net.l2 else ""))
    print(f"parameters {net.n_params:,}")
    print(f"dtype      {net.dtype.name}")
    print(f"scaler     {'standardizes inputs' if net.scaler is not None else 'none'}")
    settings = {k: v for k, v in net.training.items() if k not in ("feature_names",)}
    if settings:
        print("training   " + json.dumps(settings, default=str))
    return 0


# -- parser -----------------------------------------------------------------------

def _hidden(text):
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--hidden takes comma-separated widths, got {text!r}")
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"--hidden widths must be positive, got {text!r}")
    return sizes


def build_parser():
    parser = argparse.ArgumentParser(
        prog="fastmlp", description="A compiled multilayer-perceptron engine for the CPU.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("demo", help="train small networks on built-in data and check "
                       "their gradients (no downloads)",
                       description="Train small networks on built-in data (xor, two "
                       "spirals) with train_step, check every gradient against central "
                       "differences, and time backprop against the numerical fallback.")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(run=cmd_demo)

    p = sub.add_parser("train", help="train a network on a CSV file or MNIST directory",
                       description="Train a network and save it as a model file. "
                       "Classification (softmax cross-entropy) when the target holds "
                       "integers (<= 100 classes), regression (mse) otherwise.")
    p.add_argument("data", help="a .csv file (with --target) or an MNIST IDX directory")
    p.add_argument("--target", help="the label column of a CSV file")
    p.add_argument("--hidden", type=_hidden, default=[128],
                   help="hidden layer widths, e.g. 512,256 (default 128)")
    p.add_argument("--activation", default="relu", help="hidden activation (default relu)")
    p.add_argument("--loss", choices=["cross_entropy", "mse"],
                   help="force classification or regression")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--optimizer", default="adam", choices=["sgd", "adam", "adamw", "lbfgs"])
    p.add_argument("--l2", type=float, default=0.0, help="L2 penalty on the weights")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--validation-fraction", type=float, default=0.0)
    p.add_argument("--early-stopping", action="store_true")
    p.add_argument("--no-standardize", dest="standardize", action="store_false",
                   help="do not standardize the inputs (they are by default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="model.npz", help="model file (default model.npz)")
    p.set_defaults(run=cmd_train)

    for name, func, text in (("predict", cmd_predict, "predictions of a saved model"),
                             ("evaluate", cmd_evaluate, "loss and accuracy or R² of a model"),
                             ("gradcheck", cmd_gradcheck, "check a model's gradients")):
        p = sub.add_parser(name, help=text, description=text + ".")
        p.add_argument("model", help="a model file written by `fastmlp train`")
        p.add_argument("data", help="a .csv file or an MNIST IDX directory")
        p.add_argument("--target", help="label column (default: the one trained on)")
        p.add_argument("--split", default="test", choices=["train", "test"],
                       help="which MNIST split of an IDX directory (default test)")
        if name == "predict":
            p.add_argument("--out", help="write all predictions to this CSV file")
            p.add_argument("--show", type=int, default=10, help="rows to print (default 10)")
        if name == "gradcheck":
            p.add_argument("--rows", type=int, default=32, help="rows to use (default 32)")
            p.add_argument("--coords", type=int, metavar="K",
                           help="check K random coordinates of each W and b (default: "
                           f"every one up to {GRADCHECK_SAMPLE_ABOVE:,} parameters, "
                           f"{GRADCHECK_COORDS} above)")
            p.add_argument("--all", action="store_true",
                           help="check every coordinate, however large the network")
            p.add_argument("--seed", type=int, default=0,
                           help="seed of the sampled coordinates (default 0)")
        p.set_defaults(run=func)

    p = sub.add_parser("invert", help="find inputs that give a desired output",
                       description="Find inputs x for which the model gives the target "
                       "output (or class), within bounds (default: the training data's "
                       "range) and with some features fixed.  Prints the distinct "
                       "solutions found, best first.  Exit status 1 if unreachable.")
    p.add_argument("model", help="a model file written by `fastmlp train`")
    p.add_argument("--target", help="output values, comma-separated (nan = free)")
    p.add_argument("--class", dest="class_label", help="a class label to reach")
    p.add_argument("--min-prob", type=float, default=0.99,
                   help="class probability to reach (default 0.99)")
    p.add_argument("--fix", action="append", metavar="FEATURE=VALUE",
                   help="hold a feature (index or name) at a value; repeatable")
    p.add_argument("--bounds", metavar="LO,HI", help="the same bounds for every feature")
    p.add_argument("--bounds-file", metavar="CSV",
                   help="a CSV with columns lo,hi and one row per feature")
    p.add_argument("--reg", type=float, default=0.0,
                   help="pull toward the training mean (default 0)")
    p.add_argument("--restarts", type=int, default=16, help="starting points (default 16)")
    p.add_argument("--max-iter", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--show", type=int, default=10, help="solutions to print (default 10)")
    p.add_argument("--out", help="write every solution to this CSV file")
    p.set_defaults(run=cmd_invert)

    p = sub.add_parser("info", help="describe a model file", description="Architecture, "
                       "parameter count, dtype and training settings of a model file.")
    p.add_argument("model")
    p.set_defaults(run=cmd_info)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return EXIT_ERROR
    try:
        return args.run(args)
    except (CommandError, ValueError, TypeError, OSError, KeyError) as exc:
        message = str(exc) or type(exc).__name__
        print(f"fastmlp {args.command}: error: {message}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"fastmlp {args.command}: interrupted", file=sys.stderr)
        return 130
