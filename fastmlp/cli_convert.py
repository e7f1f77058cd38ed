"""`fastmlp export` and `fastmlp import`: model files to and from ONNX.

    fastmlp export model.npz --onnx model.onnx [--opset 20]
    fastmlp import model.onnx --out model.npz [--loss cross_entropy]

Both need the onnx extra (pip install "fastmlp[onnx]"); without it they stop with a
one-line message saying so, like every other bad input.
"""
import os

from .cli_args import integer
from .cli_train import CommandError


def cmd_export(args):
    from . import Network
    if not os.path.exists(args.model):
        raise CommandError(f"no such model file: {args.model}")
    net = Network.load(args.model)
    model = net.to_onnx(args.onnx, opset=args.opset)
    outputs = ", ".join(o.name for o in model.graph.output)
    print(f"wrote {args.onnx}: ONNX opset {args.opset or model.opset_import[0].version}, "
          f"input 'input' (batch, {net.sizes[0]}), outputs {outputs}")
    return 0


def cmd_import(args):
    from . import Network
    if not os.path.exists(args.onnx):
        raise CommandError(f"no such ONNX file: {args.onnx}")
    net = Network.from_onnx(args.onnx, loss=args.loss)
    net.save(args.out)
    classes = net.training.get("classes")
    extra = f", classes {classes[:10]}" if classes else ""
    print(f"wrote {args.out}: {net}{extra}")
    return 0


def add_commands(command):
    """Register the two subcommands with the parser's `command(name, ...)` helper."""
    p = command("export", help="write a model file as ONNX",
                description="Write a fastmlp model file as an ONNX model (standard "
                "operators, the input scaler included, a dynamic batch dimension).")
    p.add_argument("model", help="a model file written by `fastmlp train`")
    p.add_argument("--onnx", required=True, metavar="PATH", help="the .onnx file to write")
    p.add_argument("--opset", type=integer(13), default=None,
                   help="ONNX opset (default 20)")
    p.set_defaults(run=cmd_export)

    p = command("import", help="read an ONNX MLP into a model file",
                description="Read the ONNX model of an MLP (from torch.onnx, skl2onnx, "
                "tf2onnx or fastmlp) and save it as a fastmlp model file.")
    p.add_argument("onnx", help="an .onnx file")
    p.add_argument("--out", default="model.npz", help="model file to write")
    p.add_argument("--loss", choices=["cross_entropy", "binary_cross_entropy", "mse"],
                   help="the loss (default: from the output: softmax -> cross_entropy, "
                   "sigmoid -> binary_cross_entropy, else mse)")
    p.set_defaults(run=cmd_import)
