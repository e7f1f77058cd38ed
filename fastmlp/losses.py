"""The loss registry.  Each loss is fused with the network's output layer in the
kernels and returns the batch mean and ∂L/∂(output) in one pass over the rows.

Conventions (B rows in a batch, K outputs, a = network output, z = logits):

    mse                   L = 1/B Σ_i ½ Σ_k (a_ik - y_ik)²     (the seeds' ½Σ(d - o)², averaged
                                                              over the batch; ∂L/∂a = (a - y)/B)
    cross_entropy         L = -1/B Σ_i Σ_k y_ik log softmax(z_i)_k   (labels, one-hot or soft rows)
    binary_cross_entropy  L = -1/B Σ_i Σ_k [y log σ(z) + (1 - y) log(1 - σ(z))]   (multi-label)
    poisson               L = 1/B Σ_i Σ_k [e^z - y z + y log y - y]   (exp output a = e^z, the
                                                              mean; half the Poisson deviance,
                                                              0 at a = y; counts y >= 0)

An optional L2 penalty ½·l2·Σ_layers ‖W‖² (weights only, not biases) is added.
"""
from dataclasses import dataclass

from . import _kernels


@dataclass(frozen=True)
class Loss:
    name: str
    code: int
    output_activation: str | None   # required output activation, None = free (mse)
    classifier: bool


LOSSES = {
    "mse": Loss("mse", _kernels.LOSS_CODES["mse"], None, False),
    "cross_entropy": Loss("cross_entropy", _kernels.LOSS_CODES["cross_entropy"],
                          "softmax", True),
    "binary_cross_entropy": Loss("binary_cross_entropy",
                                 _kernels.LOSS_CODES["binary_cross_entropy"], "sigmoid", True),
    "poisson": Loss("poisson", _kernels.LOSS_CODES["poisson"], "exp", False),
}


def get_loss(name):
    if not isinstance(name, str) or name not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {name!r}")
    return LOSSES[name]
