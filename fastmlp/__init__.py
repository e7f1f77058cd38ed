"""fastmlp: a compiled multilayer-perceptron engine for the CPU.

    Layer          one layer, forward / backward in the seed articles' vocabulary
    Network        a whole MLP; one compiled call per training step; fit / evaluate
    optim          SGD, Adam, AdamW (compiled updates), schedules, L-BFGS
    gradcheck      central-difference gradients to verify every analytic one
    invert         which inputs make a trained network give a desired output
    exact          exact answers for ReLU networks: proofs, closest outputs, output_bounds
    datasets       built-in data (xor, two spirals, regression), IDX and CSV loaders
"""
try:
    from . import _kernels  # noqa: F401  (fails here, clearly, without the build)
except ImportError as exc:       # the source tree, not an installed build
    raise ImportError(
        f"fastmlp's compiled kernels are missing from {__path__[0]}: this is the source "
        "checkout, not an installed build.  Run `pip install .` and import fastmlp from "
        "outside the checkout (or use the `fastmlp` command).") from exc

from . import (activations, datasets, gradcheck, inversion, io, losses, optim, preprocessing,
               training)
from .activations import ACTIVATIONS
from .gradcheck import check_gradients, numerical_gradient
from .exact.output_bounds import OutputBounds, output_bounds
from .inversion import InversionResult, invert
from .layer import Layer
from .losses import LOSSES
from .network import Network
from .optim import SGD, Adam, AdamW
from .preprocessing import Standardizer
from .training import DivergenceError, History

__version__ = "0.1.0"

__all__ = ["Layer", "Network", "invert", "InversionResult", "output_bounds", "OutputBounds",
           "ACTIVATIONS", "LOSSES", "SGD", "Adam", "AdamW", "Standardizer", "History",
           "DivergenceError", "activations", "losses", "optim", "training", "preprocessing",
           "io", "gradcheck", "check_gradients", "numerical_gradient", "datasets", "inversion",
           "__version__"]
