"""The fastmlp command line: `python -m fastmlp COMMAND` or `fastmlp COMMAND`."""
import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="fastmlp", description="A compiled multilayer-perceptron engine for the CPU.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo", help="train small networks on built-in data and check their gradients",
        description="Train small networks on built-in data (xor, two spirals) with "
                    "train_step, check every gradient against central differences, and "
                    "time backprop against the numerical fallback.  No downloads.")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)

    if args.command == "demo":
        from .demo import run
        return 0 if run(seed=args.seed) else 1
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
