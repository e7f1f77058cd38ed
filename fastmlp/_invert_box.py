"""The box invert searches in: the bounds a user gives (or the training data's range),
the features held fixed, and the starting points, all checked before the compiled
search reads them without bounds checks (fastmlp.inversion).

Every point the search looks at must be one the network can take: after its input
scaler, in its dtype.  `reach` is that range in the user's units; a box that holds no
such point for some feature is refused, and starting points are kept inside it, so a
box of [-1e300, 1e300] on a float32 network searches the inputs float32 holds instead
of failing on the first cast.
"""
import numpy as np

from ._validation import as_array, check_scalar


def reach(net):
    """(lo, hi) per input, in the user's units: the inputs the network's dtype holds
    after its scaler, with a margin of 2 (half the dtype's largest value), so that the
    scaling's rounding cannot carry a point past the largest value."""
    n_in = net.sizes[0]
    big = 0.5 * float(np.finfo(net.dtype).max)
    if net.scaler is None:
        return np.full(n_in, -big), np.full(n_in, big)
    with np.errstate(over="ignore"):      # float64 nets: beyond float64, no limit
        return net.scaler.mean - net.scaler.scale * big, net.scaler.mean + net.scaler.scale * big


def search_box(net, bounds, n_in):
    """(lo, hi): float64 per feature, lo <= hi, ±inf for no bound; -0.0 made 0.0."""
    lo, hi = _requested(net, bounds, n_in)
    r_lo, r_hi = reach(net)
    outside = np.flatnonzero((lo > r_hi) | (hi < r_lo))
    if outside.size:
        i = outside[0]
        source = "bounds" if not isinstance(bounds, str) else "bounds='training'"
        raise ValueError(f"{source} for feature {i}: [{lo[i]:.6g}, {hi[i]:.6g}] holds no "
                         f"input a {net.dtype.name} network can take (within "
                         f"[{r_lo[i]:.3g}, {r_hi[i]:.3g}] after its scaler)")
    return lo + 0.0, hi + 0.0


def _requested(net, bounds, n_in):
    if isinstance(bounds, str):
        if bounds != "training":
            raise ValueError(f"bounds must be 'training', None, (lo, hi) or an (n_in, 2) "
                             f"array, got {bounds!r}")
        if "input_min" in net.training or "input_max" in net.training:
            lo = training_vector(net, "input_min", n_in)
            hi = training_vector(net, "input_max", n_in)
            bad = np.flatnonzero(~(lo <= hi))
            if bad.size:
                i = bad[0]
                raise ValueError(f"net.training: input_min[{i}] = {lo[i]} exceeds "
                                 f"input_max[{i}] = {hi[i]}")
            return lo, hi
        bounds = None
    if bounds is None:
        return np.full(n_in, -np.inf), np.full(n_in, np.inf)
    b = as_array(bounds, "bounds", np.float64)
    if b.shape == (2,):
        b = np.tile(b, (n_in, 1))
    if b.shape != (n_in, 2):
        raise ValueError(f"bounds must be a (lo, hi) pair or have shape ({n_in}, 2), "
                         f"got {b.shape}")
    if np.any(np.isnan(b)):
        raise ValueError("bounds contain NaN")
    bad = np.flatnonzero(b[:, 0] > b[:, 1])
    if bad.size:
        i = bad[0]
        raise ValueError(f"bounds for feature {i}: lo = {b[i, 0]} > hi = {b[i, 1]}")
    return b[:, 0].copy(), b[:, 1].copy()


def training_vector(net, key, n_in):
    """net.training[key] as n_in finite float64 values: a model file or a user may
    have put anything there, and the search reads these arrays without bounds checks."""
    if key not in net.training:
        raise ValueError(f"net.training has no {key!r} (input_min and input_max go "
                         "together)")
    try:
        arr = np.array(net.training[key], dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.shape != (n_in,) or not np.all(np.isfinite(arr)):
        value = net.training[key]
        got = (f"{len(value)} values" if isinstance(value, (list, tuple, np.ndarray))
               else repr(value)[:60])
        raise ValueError(f"net.training[{key!r}] must hold {n_in} finite numbers (one per "
                         f"input), got {got}")
    return arr


def fixed_features(net, fixed, x0, lo, hi, names=None):
    """(mask, values): the features held fixed and their values, inside the box and
    inside reach(net)."""
    n_in = net.sizes[0]
    mask = np.zeros(n_in, bool)
    values = np.zeros(n_in)
    if fixed is None:
        return mask, values
    if isinstance(fixed, dict):
        fixed = {_feature(i, names): v for i, v in fixed.items()}
        for i, v in fixed.items():
            if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i < n_in:
                raise ValueError(f"fixed: feature index {i!r} is not in [0, {n_in})")
            v = check_scalar(v, f"fixed[{i}]")
            mask[i], values[i] = True, v
    else:
        mask = as_array(fixed, "fixed", bool)
        if mask.shape != (n_in,):
            raise ValueError(f"fixed must be a dict or a mask of {n_in} booleans, "
                             f"got shape {mask.shape}")
        if x0 is None:
            raise ValueError("a fixed mask takes the fixed values from x0: give x0")
        values = x0.copy()
    outside = np.flatnonzero(mask & ((values < lo) | (values > hi)))
    if outside.size:
        i = outside[0]
        raise ValueError(f"fixed value {values[i]} of feature {i} lies outside its bounds "
                         f"[{lo[i]}, {hi[i]}]")
    r_lo, r_hi = reach(net)
    outside = np.flatnonzero(mask & ((values < r_lo) | (values > r_hi)))
    if outside.size:
        i = outside[0]
        raise ValueError(f"fixed value {values[i]} of feature {i} is beyond the inputs a "
                         f"{net.dtype.name} network can take ([{r_lo[i]:.3g}, "
                         f"{r_hi[i]:.3g}] after its scaler)")
    return mask, values


def _feature(key, names):
    """A feature index from an index or a feature name."""
    if isinstance(key, str):
        if not names:
            raise ValueError(f"fixed: feature {key!r} is a name, but the model knows no "
                             "feature names (fit it on a DataFrame); use the index")
        if key not in names:
            raise ValueError(f"fixed: no feature named {key!r}; the model's features are "
                             f"{names[:20]}")
        return names.index(key)
    return key


def starts(net, n_restarts, x0, given, lo, hi, rng, corners=None):
    """n_restarts starting rows: x0, the rows of `given` (invert's `starts`), the exact
    method's `corners` (fastmlp.exact.branch.bound_corners), then random points:
    uniform in the box where both bounds are finite, else around the training data;
    all inside the box and inside reach(net)."""
    n_in = net.sizes[0]
    rows = [] if x0 is None else [x0]
    if given is not None:
        S = as_array(given, "starts", np.float64)
        if S.ndim != 2 or S.shape[1] != n_in:
            raise ValueError(f"starts must have shape (k, {n_in}), got {S.shape}")
        if not np.all(np.isfinite(S)):
            raise ValueError("starts contains NaN or infinity")
        rows += list(S[: n_restarts - len(rows)])
    if corners is not None:
        rows += list(corners[: n_restarts - len(rows)])
    n_random = n_restarts - len(rows)
    if n_random > 0:
        center = (net.scaler.mean if net.scaler is not None else
                  training_vector(net, "input_mean", n_in) if "input_mean" in net.training
                  else np.zeros(n_in))
        spread = net.scaler.scale if net.scaler is not None else np.ones(n_in)
        R = center + spread * rng.standard_normal((n_random, n_in))
        finite = np.isfinite(lo) & np.isfinite(hi)
        # lo + (hi - lo) u as a weighted mean: no overflow when hi - lo exceeds the
        # float64 range (rng.uniform refuses such a range)
        u = rng.random((n_random, int(finite.sum())))
        R[:, finite] = (1 - u) * lo[finite] + u * hi[finite]
        rows += list(R)
    X = np.array(rows[:n_restarts], dtype=np.float64)
    return inside(net, X, lo, hi)


def inside(net, X, lo, hi):
    """X clipped into the box and into reach(net)."""
    r_lo, r_hi = reach(net)
    return np.clip(X, np.maximum(lo, r_lo), np.minimum(hi, r_hi))
