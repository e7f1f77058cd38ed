"""fastmlp.output_bounds: the certified min and max of every output over an input box.

For each output k, two MILPs (min z_k, max z_k) over the network's exact formulation.
`lower[k]` is HiGHS's proven bound on the minimum and `argmin[k]` an input where the
float64 forward pass gives `at_argmin[k]`, so the true minimum lies in
[lower[k], at_argmin[k]]; likewise for the maximum.  Under softmax the outputs bounded
are the logits.
"""
from dataclasses import dataclass, field

import numpy as np

from .model import Model, dual_bound, finite_box
from .piecewise import forward64


@dataclass
class OutputBounds:
    """lower, upper: certified bounds on every output (logits under softmax);
    argmin, argmax: (n_out, n_in) inputs where the forward pass gives at_argmin and
    at_argmax; optimal: (n_out, 2) whether each min / max was solved to optimality
    (else the time limit ran out and the bound is looser); stats: as in invert."""
    lower: np.ndarray
    upper: np.ndarray
    argmin: np.ndarray
    argmax: np.ndarray
    at_argmin: np.ndarray
    at_argmax: np.ndarray
    optimal: np.ndarray
    stats: dict = field(default_factory=dict)

    def __repr__(self):
        return (f"OutputBounds(lower={np.array2string(self.lower, precision=4)}, "
                f"upper={np.array2string(self.upper, precision=4)}, "
                f"all optimal={bool(self.optimal.all())})")


def output_bounds(net, bounds="training", fixed=None, x0=None, time_limit=60.0):
    """Certified min and max of every output of a piecewise-linear network over the box
    `bounds` (as in invert: "training", a (lo, hi) pair or an (n_in, 2) array; finite),
    with `fixed` features held ({index: value}, or a mask with values from x0).
    time_limit: seconds for all 2 · n_out programs together."""
    from .._invert_box import fixed_features, search_box
    from .._validation import check_scalar
    from ..inversion import _vector
    n_in, n_out = net.sizes[0], net.sizes[-1]
    time_limit = check_scalar(time_limit, "time_limit", minimum=0.0)
    lo, hi = search_box(net, bounds, n_in)
    x0 = None if x0 is None else _vector(x0, "x0", n_in)
    fixed_mask, fixed_values = fixed_features(net, fixed, x0, lo, hi)
    lo, hi = finite_box(lo, hi, fixed_mask, fixed_values)
    model = Model(net, lo, hi, time_limit)
    found = {"lower": [], "upper": [], "argmin": [], "argmax": [], "at_argmin": [],
             "at_argmax": [], "optimal": []}
    l_box, u_box = model.boxes[-1]
    for k in range(n_out):
        row = []
        for sign, bound, arg, at, box in ((1.0, "lower", "argmin", "at_argmin", l_box),
                                          (-1.0, "upper", "argmax", "at_argmax", u_box)):
            f, x, z = model.formulation()
            f.cost[int(z[k])] = sign
            res = model.solve(f, time_limit=max(model.remaining() / (2 * n_out - 2 * k), 1e-3))
            # proven bound: HiGHS's dual bound, else the back-substitution bound
            proven = box[k]
            dual = dual_bound(res)
            if dual is not None:
                proven = sign * dual
                proven = max(proven, box[k]) if sign > 0 else min(proven, box[k])
            x_at = (np.clip(res.x[x], lo, hi) if res.x is not None
                    else np.clip((lo + hi) / 2, lo, hi))
            value = forward64(net, x_at)[0, k]
            # the bound never claims past a point the forward pass reaches
            found[bound].append(min(proven, value) if sign > 0 else max(proven, value))
            found[arg].append(x_at)
            found[at].append(value)
            row.append(res.status == 0)
        found["optimal"].append(row)
    arrays = {key: np.array(v) for key, v in found.items()}
    return OutputBounds(**arrays, stats=dict(model.stats))
