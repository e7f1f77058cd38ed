# Gathering a minibatch's rows on several threads (included by _kernels.pyx).
#
# fit gathers each batch's rows of X, in the epoch's shuffled order, into one reused
# buffer (fastmlp._batches.Batches).  The rows are scattered over the whole data set,
# so the copy waits on memory: 128 rows of 784 float32 from MNIST-24k took 58-61 us
# on one thread (AMD EPYC Zen 4), about 3% of a 784-512-256-10 step.  The helper
# threads that share the step are idle at that moment, and each takes a block of rows.

from libc.string cimport memcpy

cdef enum:
    GATHER_MIN_BYTES = 65536    # below this a batch is gathered on the caller alone


ctypedef struct _Gather:
    const char* src
    const intp* rows
    char* out
    Py_ssize_t row_bytes, count, per_block


cdef void _gather_task(void* ctx, int chunk) noexcept nogil:
    cdef _Gather* g = <_Gather*>ctx
    cdef Py_ssize_t i, lo = chunk * g.per_block
    cdef Py_ssize_t hi = min(lo + g.per_block, g.count)
    for i in range(lo, hi):
        memcpy(g.out + i * g.row_bytes, g.src + g.rows[i] * g.row_bytes, g.row_bytes)


def take_rows(cnp.ndarray src, cnp.ndarray rows, cnp.ndarray out, int helpers=0):
    """out[i] := src[rows[i]] for the C-contiguous 2-D arrays src and out (same dtype
    and row length) and the intp indices rows (each in [0, len(src))); up to `helpers`
    helper threads share the copy.  Everything is checked: a bad index raises
    IndexError before anything is copied."""
    cdef Py_ssize_t i, n, count
    cdef int blocks
    cdef _Gather g
    if (src.ndim != 2 or out.ndim != 2 or not cnp.PyArray_IS_C_CONTIGUOUS(src)
            or not cnp.PyArray_IS_C_CONTIGUOUS(out) or src.dtype != out.dtype
            or src.shape[1] != out.shape[1]):
        raise ValueError("take_rows: src and out must be C-contiguous 2-D arrays of one "
                         "dtype and row length")
    if (rows.ndim != 1 or cnp.PyArray_TYPE(rows) != cnp.NPY_INTP
            or not cnp.PyArray_IS_C_CONTIGUOUS(rows) or rows.shape[0] != out.shape[0]):
        raise ValueError("take_rows: rows must be a contiguous intp vector, one per row "
                         "of out")
    if not out.flags.writeable:
        raise ValueError("take_rows: out must be writeable")
    n, count = src.shape[0], rows.shape[0]
    g.rows = <const intp*>_ptr(rows)
    for i in range(count):
        if g.rows[i] < 0 or g.rows[i] >= n:
            raise IndexError(f"take_rows: index {g.rows[i]} outside [0, {n})")
    g.src, g.out = <const char*>_ptr(src), <char*>_ptr(out)
    g.row_bytes, g.count = src.shape[1] * cnp.PyArray_ITEMSIZE(src), count
    if count == 0 or g.row_bytes == 0:
        return
    if helpers <= 0 or count * g.row_bytes < GATHER_MIN_BYTES:
        helpers = 0
    blocks = min(4 * (helpers + 1), FM_MAX_CHUNKS)
    g.per_block = (count + blocks - 1) // blocks
    blocks = <int>((count + g.per_block - 1) // g.per_block)
    with nogil:
        fm_run(&fm_the_pool, _gather_task, &g, blocks, helpers)
