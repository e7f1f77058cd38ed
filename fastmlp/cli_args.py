"""Argument parsing for the command line: one-line errors, defaults in the help,
and option types that check their range (a bad option never reaches the library)."""
import argparse

import numpy as np

EXIT_ERROR = 2


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (exit 2), not usage + error."""

    def error(self, message):
        message = " ".join(message.split())
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Help text with each option's default, without repeating a default already
    stated and without "(default: None)"."""

    def _get_help_string(self, action):
        text = action.help or ""
        if ("default" in text or action.default is None or action.default is argparse.SUPPRESS
                or isinstance(action.default, bool)):
            return text
        return super()._get_help_string(action)


def integer(minimum, maximum=2**31 - 1):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"expected an integer from {minimum} to "
                                             f"{maximum}, got {value}")
        return value
    parse.__name__ = "integer"
    return parse


def number(minimum=-np.inf, maximum=np.inf, below=None):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not (np.isfinite(value) and minimum <= value <= maximum
                and (below is None or value < below)):
            upper = (f" below {below}" if below is not None else
                     f" to {maximum:g}" if np.isfinite(maximum) else " up")
            raise argparse.ArgumentTypeError(f"expected a finite number from {minimum:g}"
                                             f"{upper}, got {text!r}")
        return value
    parse.__name__ = "number"
    return parse


def hidden_sizes(text):
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--hidden takes comma-separated widths, "
                                         f"got {text!r}") from None
    if any(not 1 <= s < 2**31 for s in sizes):
        raise argparse.ArgumentTypeError(f"--hidden widths must be from 1 to 2147483647, "
                                         f"got {text!r}")
    return sizes
