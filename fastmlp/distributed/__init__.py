"""fastmlp on Dask: training, prediction and inversion across worker processes or
machines.  Needs the optional extra: pip install "fastmlp[dask]".

    from fastmlp import distributed
    history = distributed.fit(net, X, y, client=client)     # X, y: dask arrays
    labels = distributed.predict(net, X)                    # a lazy dask array
    results = distributed.invert_many(net, targets, client=client)

Without a client, fit and invert_many start a LocalCluster of single-threaded worker
processes (one BLAS thread each) for the call and close it afterwards.
"""
from ._cluster import import_distributed

import_distributed()          # the ImportError that names the extra, before anything else

from ._blocks import standardizer  # noqa: E402
from ._cluster import local_cluster  # noqa: E402
from ._fit import fit  # noqa: E402
from ._invert import invert_many  # noqa: E402
from ._predict import evaluate, predict, predict_proba, score  # noqa: E402

__all__ = ["fit", "predict", "predict_proba", "score", "evaluate", "invert_many",
           "standardizer", "local_cluster"]
