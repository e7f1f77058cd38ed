"""Certified bounds on every pre-activation over an input box, or over many boxes at once.

    interval(pl, lo, hi)        interval arithmetic, layer by layer
    tighten(pl, lo, hi)         back-substitution (CROWN / DeepPoly): each neuron's z is
                                written as a linear function of x through the layers below,
                                every activation replaced by a linear lower or upper bound
                                valid on its interval, and that function bounded on the box
    tighten_and_relax(...)      the same, with the relaxations it gives
    relaxations(pl, lo, hi)     the same for a batch of boxes (lo, hi: (B, n_in)): every
                                hidden layer's relaxation, for spec_bounds
    spec_bounds(pl, relax, lo, hi, S, s0)   upper bounds on z_L @ S + s0 over each box,
                                and the linear functions of x that give them

A neuron whose interval does not contain 0 is stable: it is linear on the whole box and
needs no binary variable; for the others the interval gives the big-M constants, so the
tighter the bounds, the fewer binaries and the smaller the constants.

The relaxation of an unstable a = σ(z), σ(z) = z (z ≥ 0) or α z (z < 0), l < 0 < u:

    upper:  the chord      a <= α l + s (z - l),   s = (u - α l) / (u - l)
    lower:  a line through 0,  a >= λ z,  λ = 1 if u >= -l else α   (the smaller area)
"""
import numpy as np


def interval(pl, lo, hi):
    """[(l_k, u_k)] for every layer's z (hidden layers, then the output)."""
    out = []
    a_lo, a_hi = lo, hi
    for k, (W, b) in enumerate(zip(pl.Ws, pl.bs)):
        l, u = _affine_box(W, b, a_lo, a_hi)
        out.append((l, u))
        if k < len(pl.alphas):
            a_lo, a_hi = _activate(l, pl.alphas[k]), _activate(u, pl.alphas[k])
    return out


def _affine_box(W, b, lo, hi):
    Wp, Wn = np.maximum(W, 0), np.minimum(W, 0)
    return lo @ Wp + hi @ Wn + b, hi @ Wp + lo @ Wn + b


def _activate(z, alpha):
    return np.where(z >= 0, z, alpha * z)


def relaxation(l, u, alpha):
    """Slopes and intercepts of the linear bounds λl z <= σ(z) <= λu z + μu (any shape)."""
    unstable = (l < 0) & (u > 0)
    stable_slope = np.where(u <= 0, alpha, 1.0)
    width = np.where(unstable, u - l, 1.0)
    chord = (u - alpha * l) / width
    lam_u = np.where(unstable, chord, stable_slope)
    mu_u = np.where(unstable, alpha * l - chord * l, 0.0)
    lam_l = np.where(unstable, np.where(u >= -l, 1.0, alpha), stable_slope)
    return lam_l, lam_u, mu_u


def tighten(pl, lo, hi):
    """Back-substitution bounds on one box, intersected with interval arithmetic."""
    return tighten_and_relax(pl, lo, hi)[0]


def tighten_and_relax(pl, lo, hi):
    """tighten()'s bounds, and the relaxations they give (a batch of one box, as
    spec_bounds takes them)."""
    boxes, relax = _layer_bounds(pl, lo[None], hi[None])
    return [(l[0], u[0]) for l, u in boxes], relax


def relaxations(pl, lo, hi):
    """Every hidden layer's relaxation over each box of a batch (lo, hi: (B, n_in))."""
    return _layer_bounds(pl, lo, hi)[1]


def _layer_bounds(pl, lo, hi, clamp=None):
    """([(l_k, u_k)] for every layer, [relaxation of every hidden layer]), (B, n_k) each;
    each layer's bounds use the relaxations of the layers below.  clamp(k, l, u): given,
    it narrows each hidden layer's bounds before the layers above use them (the
    ReLU-splitting search fixes neurons' signs with it), and the output layer, which
    that search does not need, is left out."""
    boxes, relax = [], []
    a_lo, a_hi = lo, hi
    for k in range(len(pl.Ws) if clamp is None else len(pl.alphas)):
        W, b = pl.Ws[k], pl.bs[k]
        l, u = _affine_box(W, b, a_lo, a_hi)            # interval arithmetic
        if k > 0:
            up, _ = _back_substitute(pl, relax, lo, hi, W, b)
            low, _ = _back_substitute(pl, relax, lo, hi, -W, -b)
            l, u = np.maximum(l, -low), np.minimum(u, up)
        l, u = _padded(l, u)
        if clamp is not None:
            l, u = clamp(k, l, u)
        boxes.append((l, u))
        if k < len(pl.alphas):
            relax.append(relaxation(l, u, pl.alphas[k]))
            a_lo, a_hi = _activate(l, pl.alphas[k]), _activate(u, pl.alphas[k])
    return boxes, relax


def _padded(l, u):
    """Widened by far more than float64 rounding in computing them (1e-9 relative), so
    that no neuron is called stable, and no output bound drawn, by a rounding error."""
    pad = 1e-9 * (1 + np.maximum(np.abs(l), np.abs(u)))
    return l - pad, u + pad


def spec_bounds(pl, relax, lo, hi, S, s0):
    """Upper bounds on z_L @ S + s0 (S: (n_out, m)) over each box: (upper (B, m) padded
    like every bound here, C (B, n_in, m)): x @ C[b] + const is the linear upper bound
    of each column on box b."""
    up, C = _back_substitute(pl, relax, lo, hi, pl.Ws[-1] @ S, pl.bs[-1] @ S + s0)
    return _padded(up, up)[1], C


def _back_substitute(pl, relax, lo, hi, C, const):
    """Upper bounds on a_{k-1} @ C + const over each box (k = len(relax) + 1, C (n_k, m)
    for every box or (B, n_k, m)), and the final coefficients on x.  A lower bound is
    minus the upper bound of -C, -const."""
    B = lo.shape[0]
    const = np.broadcast_to(const, (B, np.shape(C)[-1])).copy()
    for j in range(len(relax) - 1, -1, -1):
        lam_l, lam_u, mu_u = relax[j]
        Cp, Cn = np.maximum(C, 0), np.minimum(C, 0)      # + takes a's upper bound
        const += np.einsum("bn,bnm->bm", mu_u, np.broadcast_to(Cp, (B,) + Cp.shape[-2:]))
        C = lam_u[:, :, None] * Cp + lam_l[:, :, None] * Cn
        const += np.einsum("n,bnm->bm", pl.bs[j], C)     # a_{j} = σ(a_{j-1} W_j + b_j)
        C = np.matmul(pl.Ws[j], C)
    C = np.broadcast_to(C, (B,) + np.shape(C)[-2:])
    Cp, Cn = np.maximum(C, 0), np.minimum(C, 0)
    bound = (const + np.einsum("bi,bim->bm", hi, Cp) + np.einsum("bi,bim->bm", lo, Cn))
    return bound, C


def count_unstable(pl, boxes):
    """How many hidden relu/leaky_relu neurons have l < 0 < u."""
    return int(sum(np.count_nonzero((l < 0) & (u > 0))
                   for (l, u), alpha in zip(boxes, pl.alphas) if alpha != 1.0))
