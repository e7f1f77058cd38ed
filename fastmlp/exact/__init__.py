"""Exact answers for piecewise-linear networks (relu, leaky_relu, identity hidden
layers): mixed-integer linear programs solved by HiGHS through scipy.optimize.milp.

    piecewise       the network as float64 affine maps and slopes (scaler folded in)
    bounds          certified pre-activation bounds: interval arithmetic, then
                    back-substitution; stable neurons need no binary
    formulation     the MILP as sparse matrices (big-M with the bounds above)
    goal            targets, class margins and their float64 checks
    model           bounds + formulation + HiGHS with a time budget
    solve           invert(..., method="exact"): witness, proof or bound
    output_bounds   certified min and max of every output over a box

Used through fastmlp.invert(..., method="exact") and fastmlp.output_bounds.
"""
