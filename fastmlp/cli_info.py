"""`fastmlp info`: a model file summarized for people, or as JSON for programs."""
from .activations import PARAMETRIZED


def model_summary(net, path):
    """Everything `info` shows, as a JSON-ready dict."""
    return {"model": path, "sizes": net.sizes,
            "layers": [{"n_in": layer.n_in, "n_out": layer.n_out,
                        "activation": layer.activation, "alpha": layer.alpha}
                       for layer in net.layers],
            "loss": net.loss_name, "l2": net.l2, "parameters": net.n_params,
            "dtype": net.dtype.name, "standardizes_inputs": net.scaler is not None,
            "training": net.training}


def _shorten(items, limit=8):
    items = [str(v) for v in items]
    return ", ".join(items if len(items) <= limit else items[:limit - 1]
                     + [f"... ({len(items)} in all)"])


def info_lines(net, path):
    """A readable summary of a model file."""
    t = net.training
    lines = [f"model       {path}",
             f"network     {' -> '.join(map(str, net.sizes))}  ({net.n_params:,} parameters, "
             f"{net.dtype.name})"]
    for i, layer in enumerate(net.layers):
        extra = f" (alpha {layer.alpha})" if layer.activation in PARAMETRIZED else ""
        lines.append(f"  layer {i}   {layer.n_in} x {layer.n_out}  {layer.activation}{extra}")
    lines.append(f"loss        {net.loss_name}" + (f", l2 {net.l2}" if net.l2 else ""))
    if t.get("classes") is not None:
        lines.append(f"classes     {_shorten(t['classes'], 12)}")
    if t.get("target") is not None:
        lines.append(f"target      {t['target']}"
                     + ("  (standardized for training)" if t.get("standardize_target") else ""))
    if t.get("feature_names"):
        lines.append(f"features    {_shorten(t['feature_names'])}")
    lines.append(f"inputs      {'standardized' if net.scaler is not None else 'used as given'}")
    settings = [f"{k} {t[k]}" for k in ("optimizer", "lr", "batch_size", "epochs_run", "seed")
                if t.get(k) is not None]
    if settings:
        lines.append(f"training    {', '.join(settings)}")
    scores = [f"{label} {t[key]:.6g}" for key, label in (("final_loss", "final loss"),
                                                          ("test_score", "test score"))
              if isinstance(t.get(key), (int, float))]
    if scores:
        lines.append(f"results     {', '.join(scores)}")
    if t.get("data"):
        lines.append(f"data        {t['data']}")
    lines.append("(--json prints everything, including the training range of every input)")
    return lines
