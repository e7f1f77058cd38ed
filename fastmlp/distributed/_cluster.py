"""The Dask client a distributed call runs on: the caller's, or a LocalCluster of
worker processes on this machine (one BLAS thread each) started for the call and
closed after it.
"""
import contextlib
import os

from .. import _cpus


def import_distributed():
    """dask.distributed, or an ImportError that says which extra to install."""
    try:
        import dask.array  # noqa: F401
        import distributed
    except ImportError as exc:
        raise ImportError('fastmlp.distributed needs Dask: pip install "fastmlp[dask]"') \
            from exc
    return distributed


# one BLAS thread per worker process: the workers are the parallelism
_ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                      "MKL_NUM_THREADS", "BLIS_NUM_THREADS")}


def local_cluster(n_workers=None, **options):
    """A LocalCluster of `n_workers` single-threaded worker processes (default: one per
    core this process may keep busy, fastmlp._cpus), each with one BLAS thread, and
    no dashboard."""
    distributed = import_distributed()
    n_workers = n_workers or _cpus.usable()
    options = {"threads_per_worker": 1, "processes": True, "dashboard_address": None,
               "env": dict(_ONE_THREAD), **options}
    return distributed.LocalCluster(n_workers=n_workers, **options)


@contextlib.contextmanager
def session(client=None):
    """Yield `client`, or a Client on a LocalCluster made for this block and closed
    (with its workers) when the block ends."""
    distributed = import_distributed()
    if client is not None:
        if not isinstance(client, distributed.Client):
            raise TypeError(f"client must be a dask.distributed.Client or None, "
                            f"got {type(client).__name__}")
        yield client
        return
    with local_cluster() as cluster, distributed.Client(cluster) as own:
        yield own


def worker_key():
    """Who runs this task: the worker's address, or the process id outside a worker."""
    try:
        from distributed import get_worker
        return get_worker().address
    except (ImportError, ValueError):
        return f"pid {os.getpid()}"


def _value(x):
    return x


def share(client, value):
    """A future holding `value` for the workers' tasks.  It is made by a task that
    carries the value, not scattered: a copy lost with a worker is then recomputed
    from that task (Dask's lineage), where a scattered one would be gone.  Each worker
    fetches it once, on first use."""
    return client.submit(_value, value, pure=False)
