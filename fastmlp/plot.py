"""Training curves as a PNG: loss per epoch (training and validation) and the
validation accuracy or R², with the epoch whose weights were kept (early stopping)
marked.  Needs matplotlib (`pip install "fastmlp[plot]"`),
imported only when a plot is asked for; the figure is drawn without pyplot, so no
global matplotlib state (backend, open figures) changes.
"""


def require_matplotlib():
    """Import matplotlib, or raise ImportError saying how to install it."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError('plotting needs matplotlib: pip install "fastmlp[plot]"') from None


def save_curves(history, path, metric="accuracy", title=None):
    """Write the curves of a fit's History to `path` (PNG).

    metric: "accuracy" or "r2", the validation score drawn on the right-hand panel
    when the history has one.
    """
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    def column(key):           # (epochs, values) of the records that have `key`
        pairs = [(r["epoch"], r[key]) for r in history.records if r.get(key) is not None]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    score = column(f"val_{metric}")
    fig = Figure(figsize=(9 if score[0] else 5, 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2 if score[0] else 1, squeeze=False)[0]
    axes[0].plot(*column("loss"), label="training")
    if column("val_loss")[0]:
        axes[0].plot(*column("val_loss"), label="validation")
    if getattr(history, "best_epoch", None):
        for ax in axes:
            ax.axvline(history.best_epoch, color="grey", linestyle=":", label="kept")
    axes[0].set(xlabel="epoch", ylabel="loss", title="loss")
    axes[0].legend()
    if score[0]:
        axes[1].plot(*score, color="C1")
        label = "accuracy" if metric == "accuracy" else "R²"
        axes[1].set(xlabel="epoch", ylabel=label, title=f"validation {label}")
    if title:
        fig.suptitle(title)
    fig.savefig(path, format="png", dpi=100)
