"""`fastmlp invert`: inputs that make a saved model give a desired output or class.

The options are parsed here into fastmlp.invert's arguments (bounds, fixed features by
index or name, a target or a class label); the distinct solutions are printed as a
table, best first, and optionally written to a CSV file.
"""
from .cli_train import CommandError, require_memory


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
    from .cli import _load_model
    from .inversion import invert
    net = _load_model(args.model)
    # every restart is a row of one batch through the network, with L-BFGS history
    require_memory(args.restarts * (4 * sum(net.sizes) + 40 * net.sizes[0]) * 8,
                   f"--restarts {args.restarts}")
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
