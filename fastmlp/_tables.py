"""What users hand to fit and predict, turned into what the kernels take.

    pandas / polars DataFrame   its values, and its column names as feature names
    pandas / polars Series      its values
    integer or boolean arrays   cast to float (as scikit-learn does)
    scipy.sparse matrices       kept sparse (CSR); fit densifies one batch at a time

Neither pandas nor polars is imported: a frame is recognised by its module and read
through its own to_numpy().
"""
import numpy as np
import scipy.sparse

from . import _validation


def is_frame(obj):
    """A pandas or polars DataFrame (or Series), recognised without importing either."""
    module = type(obj).__module__.split(".")[0]
    return module in ("pandas", "polars") and hasattr(obj, "to_numpy")


def feature_names(X):
    """The column names of a DataFrame as strings, else None."""
    if is_frame(X) and hasattr(X, "columns"):
        return [str(c) for c in X.columns]
    return None


def as_array(X, name="X"):
    """X as a NumPy array (frames read out, integers and booleans cast to float64) or
    a CSR matrix (sparse input); anything else is left to the validation."""
    if scipy.sparse.issparse(X):
        X = scipy.sparse.csr_matrix(X)
        if X.dtype.kind in "iub":
            X = X.astype(np.float64)
        return X
    if is_frame(X):
        names = feature_names(X)
        X = X.to_numpy()
        if X.dtype == object and names is not None:
            bad = [n for n, col in zip(names, X.T)
                   if not all(isinstance(v, (int, float, np.number)) for v in col)]
            if bad:
                raise TypeError(f"{name}: the DataFrame's column(s) {bad[:5]} hold text or missing "
                                "values; encode or fill them, or drop them first")
            X = X.astype(np.float64)
    arr = X if isinstance(X, np.ndarray) else _validation.as_array(X, name)
    if arr.dtype.kind in "iub":
        arr = arr.astype(np.float64)
    return arr


def as_targets(y):
    """y read out of a pandas/polars Series or DataFrame; other values unchanged."""
    return y.to_numpy() if is_frame(y) else y


def check_names(expected, given, name="X"):
    """A DataFrame's columns must be the ones the network was fitted on, in order."""
    if expected is None or given is None or list(given) == list(expected):
        return
    missing = [c for c in expected if c not in given]
    extra = [c for c in given if c not in expected]
    if missing or extra:
        detail = (f"missing {missing[:5]}" if missing else "") + \
                 (", " if missing and extra else "") + (f"unexpected {extra[:5]}" if extra else "")
        raise ValueError(f"{name} has columns that differ from the feature names the network "
                         f"was fitted on: {detail}")
    raise ValueError(f"{name} has the fitted feature columns in another order; reorder them "
                     f"as {list(expected)[:8]}{'...' if len(expected) > 8 else ''}")
