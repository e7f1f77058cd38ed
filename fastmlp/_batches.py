"""Minibatches for fit and partial_fit (and fastmlp.sklearn's solvers): each batch's rows
gathered, in an epoch's shuffled order, into buffers reused from batch to batch."""
import numpy as np

from . import _kernels


class Batches:
    """The minibatches of (X, T, labels): slices in stored order, or rows gathered in a
    given order into buffers of one batch, reused from batch to batch.  Gathering per
    batch instead of shuffling the whole data set each epoch needs no second copy of it,
    and the batch is still in cache when the first GEMM reads it.  X's rows are gathered
    by _kernels.take_rows, shared with the helper threads of a shared step."""

    def __init__(self, arrays, batch_size):
        self.arrays = arrays
        self.size = batch_size = min(batch_size, arrays[0].shape[0])   # no larger than the data
        self.buffers = [None if a is None else np.empty((batch_size,) + a.shape[1:], a.dtype)
                        for a in arrays]
        # per array, what _kernels.take_rows gathers from and into (a 1-D array as a
        # column), or None: gathered by np.take (or absent)
        self._rows = [(_as_rows(a), _as_rows(b))
                      if a is not None and a.ndim <= 2 and a.flags.c_contiguous else None
                      for a, b in zip(arrays, self.buffers)]

    def __call__(self, order, helpers=0):
        """(X, T, labels) of each batch in turn; order: a permutation of the rows, or None.
        helpers: helper threads that share gathering X's rows (_kernels.take_rows)."""
        n = self.arrays[0].shape[0]
        if order is not None:
            order = np.ascontiguousarray(order, dtype=np.intp)     # what take_rows takes
        for start in range(0, n, self.size):
            stop = min(n, start + self.size)
            if order is None:
                yield tuple(None if a is None else a[start:stop] for a in self.arrays)
                continue
            rows, m = order[start:stop], stop - start
            batch = []
            for a, out, flat in zip(self.arrays, self.buffers, self._rows):
                if a is not None:
                    if m < self.size:                   # the last, shorter batch
                        out = out[:m]
                    if flat is None:
                        a = np.take(a, rows, axis=0, out=out)
                    else:       # checks every index before copying anything
                        _kernels.take_rows(flat[0], rows, flat[1][:m] if m < self.size
                                           else flat[1], helpers)
                        a = out
                batch.append(a)
            yield tuple(batch)


def _as_rows(a):
    """A 2-D array as it is, a 1-D one as a column (rows of one element each)."""
    return a.reshape(-1, 1) if a.ndim == 1 else a


class SparseBatches:
    """Minibatches of a CSR matrix X and its (T, labels, weights): each batch's rows
    are densified and scaled into one reused buffer, so the dense matrix never exists
    as a whole."""

    def __init__(self, net, X, others, batch_size):
        self.net, self.X, self.others, self.size = net, X, others, batch_size
        self.buffer = np.empty((batch_size, X.shape[1]), net.dtype)

    def __call__(self, order, helpers=0):
        n = self.X.shape[0]
        for start in range(0, n, self.size):
            stop = min(n, start + self.size)
            rows = np.arange(start, stop) if order is None else order[start:stop]
            Xb = self.buffer[:stop - start]
            Xb[...] = self.X[rows].toarray()
            if self.net.scaler is not None:
                Xb -= self.net.scaler.mean
                Xb /= self.net.scaler.scale
            yield (Xb,) + tuple(None if a is None else a[rows] for a in self.others)
