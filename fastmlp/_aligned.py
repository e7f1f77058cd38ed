"""Arrays that start on a cache line."""
import numpy as np


def aligned_empty(n, dtype, align=64):
    """An uninitialised 1-D array of n elements starting on an `align`-byte boundary.
    The layers' W start on cache lines (numpy's own allocation is 16 bytes off one as
    often as not), so the vector loads of csrc/sgemm*.h do not straddle two (Zen 3,
    one row through a 784x512 float32 layer: 29.8 -> 23.9 us); so do the compiled
    Plan's workspaces, so that the column blocks helper threads write into one row
    (multiples of 64 floats) never share a cache line."""
    dtype = np.dtype(dtype)
    raw = np.empty(n * dtype.itemsize + align, np.uint8)
    start = -raw.ctypes.data % align
    return raw[start:start + n * dtype.itemsize].view(dtype)
