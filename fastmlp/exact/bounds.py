"""Certified bounds on every pre-activation over an input box.

    interval(pl, lo, hi)    interval arithmetic, layer by layer
    tighten(pl, lo, hi)     back-substitution (CROWN / DeepPoly): each neuron's z is
                            written as a linear function of x through the layers below,
                            every activation replaced by a linear lower or upper bound
                            valid on its interval, and that function bounded on the box

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
        Wp, Wn = np.maximum(W, 0), np.minimum(W, 0)
        l = a_lo @ Wp + a_hi @ Wn + b
        u = a_hi @ Wp + a_lo @ Wn + b
        out.append((l, u))
        if k < len(pl.alphas):
            a_lo, a_hi = _activate(l, pl.alphas[k]), _activate(u, pl.alphas[k])
    return out


def _activate(z, alpha):
    return np.where(z >= 0, z, alpha * z)


def relaxation(l, u, alpha):
    """Slopes and intercepts of the linear bounds λl z + μl <= σ(z) <= λu z + μu."""
    lam_l = np.where(u <= 0, alpha, 1.0)
    lam_u = lam_l.copy()
    mu_l, mu_u = np.zeros_like(l), np.zeros_like(l)
    unstable = (l < 0) & (u > 0)
    if unstable.any():
        lu, uu = l[unstable], u[unstable]
        s = (uu - alpha * lu) / (uu - lu)
        lam_u[unstable] = s
        mu_u[unstable] = alpha * lu - s * lu
        lam_l[unstable] = np.where(uu >= -lu, 1.0, alpha)
    return lam_l, mu_l, lam_u, mu_u


def tighten(pl, lo, hi):
    """Back-substitution bounds, intersected with interval arithmetic, layer by layer
    (each layer's relaxation uses the tightened bounds of the layers below)."""
    boxes = interval(pl, lo, hi)
    relax = []
    for k in range(len(pl.Ws)):
        if k > 0:
            l, u = _back_substitute(pl, k, relax, lo, hi)
            il, iu = boxes[k]
            boxes[k] = (np.maximum(l, il), np.minimum(u, iu))
        boxes[k] = _padded(*boxes[k])
        if k < len(pl.alphas):
            relax.append(relaxation(*boxes[k], pl.alphas[k]))
    return boxes


def _padded(l, u):
    """Widened by far more than float64 rounding in computing them (1e-9 relative), so
    that no neuron is called stable, and no output bound drawn, by a rounding error."""
    pad = 1e-9 * (1 + np.maximum(np.abs(l), np.abs(u)))
    return l - pad, u + pad


def _back_substitute(pl, k, relax, lo, hi):
    """Lower and upper bounds on z_k = a_{k-1} W_k + b_k over the box."""
    bounds = []
    for upper in (False, True):
        C = pl.Ws[k]                     # z_k = a_{j} C + const, j = k-1 down to 0
        const = pl.bs[k].copy()
        for j in range(k - 1, -1, -1):
            lam_l, mu_l, lam_u, mu_u = relax[j]
            Cp, Cn = np.maximum(C, 0), np.minimum(C, 0)
            if upper:                    # a positive coefficient takes a's upper bound
                const = const + mu_u @ Cp + mu_l @ Cn
                C = lam_u[:, None] * Cp + lam_l[:, None] * Cn
            else:
                const = const + mu_l @ Cp + mu_u @ Cn
                C = lam_l[:, None] * Cp + lam_u[:, None] * Cn
            const = const + pl.bs[j] @ C     # z_j = a_{j-1} W_j + b_j
            C = pl.Ws[j] @ C
        Cp, Cn = np.maximum(C, 0), np.minimum(C, 0)
        if upper:
            bounds.append(const + hi @ Cp + lo @ Cn)
        else:
            bounds.append(const + lo @ Cp + hi @ Cn)
    return bounds


def count_unstable(pl, boxes):
    """How many hidden relu/leaky_relu neurons have l < 0 < u."""
    return int(sum(np.count_nonzero((l < 0) & (u > 0))
                   for (l, u), alpha in zip(boxes, pl.alphas) if alpha != 1.0))
