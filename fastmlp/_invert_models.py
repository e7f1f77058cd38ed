"""The models invert() accepts besides a Network, turned into one in the user's units.

    fastmlp Network               as it is (its classes and feature names, if it has them)
    fastmlp.sklearn estimator     its network_, with classes_ and feature_names_in_
    scikit-learn MLP              Network.from_sklearn(estimator)
    scikit-learn Pipeline         [affine scalers...] + one of the MLPs above

The scalers a Pipeline may put before the MLP are the per-feature affine ones,
x' = a·x + c with a > 0: StandardScaler, MinMaxScaler (without clip) and MaxAbsScaler.
They are composed with each other and with the network's own scaler into ONE
Standardizer on a copy of the network, so that the search, its bounds, fixed values and
answers are all in the raw units the Pipeline is given.  Any other step is refused.
scikit-learn itself is never imported here: estimators are recognised by attributes.
"""
import numpy as np

from .preprocessing import Standardizer

AFFINE = ("StandardScaler", "MinMaxScaler", "MaxAbsScaler")


def resolve(model):
    """(network, classes or None, feature names or None) for any accepted model."""
    from .network import Network
    if isinstance(model, Network):
        return model, _network_classes(model), model.training.get("feature_names")
    steps = getattr(model, "steps", None)
    if isinstance(steps, list) and steps and type(model).__name__ == "Pipeline":
        *scalers, (_, final) = steps
        net, classes, _ = _estimator(final, "the Pipeline's last step")
        a, c = np.ones(net.sizes[0]), np.zeros(net.sizes[0])
        ranges = None
        scalers = [(n, step) for n, step in scalers if step is not None and step != "passthrough"]
        for name, step in scalers:               # refuse other steps before anything else
            if type(step).__name__ not in AFFINE:
                _affine(name, step, net.sizes[0])
        for position, (name, step) in enumerate(scalers):
            a_step, c_step = _affine(name, step, net.sizes[0])
            if position == 0 and type(step).__name__ == "MinMaxScaler":
                ranges = (np.asarray(step.data_min_, float), np.asarray(step.data_max_, float))
            a, c = a * a_step, c * a_step + c_step
        names = getattr(model, "feature_names_in_", None)
        return (_in_raw_units(net, a, c, ranges), classes,
                None if names is None else [str(n) for n in names])
    return _estimator(model, "invert's model")


def _network_classes(net):
    """A softmax network's classes, or the two classes of a one-output logistic one."""
    if net.classes is not None:
        return net.classes
    classes = net.training.get("classes")
    if net.loss_name == "binary_cross_entropy" and net.sizes[-1] == 1 and \
            isinstance(classes, list) and len(classes) == 2:
        return classes
    return None


def _estimator(est, what):
    """A copy of a fitted MLP estimator's network, its classes and feature names."""
    from .network import Network
    if hasattr(est, "network_"):                           # fastmlp.sklearn
        net = est.network_.copy()
    elif hasattr(est, "coefs_") and hasattr(est, "out_activation_"):   # scikit-learn
        net = Network.from_sklearn(est)
    else:
        raise TypeError(f"{what} must be a fastmlp Network, a fitted MLPClassifier or "
                        "MLPRegressor (fastmlp.sklearn or sklearn.neural_network), or a "
                        "Pipeline of affine scalers ending in one; got "
                        f"{type(est).__name__}")
    classes = getattr(est, "classes_", None)
    classes = None if classes is None or np.ndim(classes) != 1 else np.asarray(classes).tolist()
    if classes is not None and net.loss_name == "cross_entropy":
        net.training["classes"] = classes
    names = getattr(est, "feature_names_in_", None)
    names = None if names is None else [str(n) for n in names]
    if names is not None:
        net.training["feature_names"] = names
    return net, classes if net.loss_name != "mse" else None, names


def _affine(name, step, n):
    """(a, c) with step.transform(x) = a·x + c per feature, for the affine scalers."""
    kind = type(step).__name__
    if kind == "StandardScaler":
        scale = getattr(step, "scale_", None)
        mean = getattr(step, "mean_", None)
        a = np.ones(n) if scale is None else 1 / np.asarray(scale, float)
        c = np.zeros(n) if mean is None else -np.asarray(mean, float) * a
    elif kind == "MinMaxScaler":
        if getattr(step, "clip", False):
            raise ValueError(f"Pipeline step {name!r}: MinMaxScaler(clip=True) is not affine "
                             "outside the training range; refit with clip=False to invert")
        a, c = np.asarray(step.scale_, float), np.asarray(step.min_, float)
    elif kind == "MaxAbsScaler":
        a, c = 1 / np.asarray(step.scale_, float), np.zeros(n)
    else:
        raise ValueError(f"Pipeline step {name!r} ({kind}) is not one invert() can undo: "
                         "only StandardScaler, MinMaxScaler and MaxAbsScaler may precede "
                         "the MLP (invert the MLP alone, in its own input units, otherwise)")
    if a.shape != (n,) or not np.all(np.isfinite(a) & (a > 0)) or not np.all(np.isfinite(c)):
        raise ValueError(f"Pipeline step {name!r} ({kind}) does not scale the {n} features "
                         "by positive finite factors")
    return a, c


def _in_raw_units(net, a, c, ranges):
    """net (a copy) with the Pipeline's affine map v = a·x + c folded into its scaler,
    and its training range in raw units x (else the first MinMaxScaler's data range)."""
    a_net, c_net = a, c
    if net.scaler is not None:                  # the network's own (v - m) / s after it
        m, s = net.scaler.mean, net.scaler.scale
        a_net, c_net = a / s, (c - m) / s
    net.scaler = Standardizer(-c_net / a_net, 1 / a_net)
    keys = ("input_min", "input_max", "input_mean")
    if all(k in net.training for k in keys):    # in the MLP's input units v
        for k in keys:
            net.training[k] = ((np.asarray(net.training[k], float) - c) / a).tolist()
    elif ranges is not None:
        net.training["input_min"], net.training["input_max"] = ranges[0].tolist(), \
            ranges[1].tolist()
    return net
