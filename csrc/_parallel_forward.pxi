# The inference forward pass on several cores (included by _kernels.pyx).
#
# fastmlp's helper threads (workers.h) share each call's work with the calling thread,
# every BLAS call inside running on one thread:
#
#   many rows   the batch is cut into row blocks; each block runs the whole network
#               (all layers, bias and activation while its rows are in cache), in
#               float32 as blocks of rows that sgemm.h takes (as on one thread)
#   few rows    each layer's output columns are cut into blocks: a thread computes
#               X @ W[:, block] + b[block] and the activation for every row, reading
#               only its share of W (the one-row case is memory-bound on W)
#   one row     (float32 on AVX-512) a layer of ROW_SPLIT_W weights or more is cut
#               into ROW_PARTS blocks of W's rows, read whole; the threads sum
#               x[block] @ W[block, :] and the caller adds the sums
#               (_one_row_by_rows_of_w)
#
# A job that no helper joins in time runs on the calling thread alone (workers.h), so
# a busy machine costs nothing beyond the one-thread time.

import os

from cpython.pycapsule cimport PyCapsule_New
from libc.string cimport memset

cdef extern from "sgemm.h" nogil:
    int fm_sgemm_ok()
    int fm_sgemm_isa()
    int fm_sgemm_use_isa(int isa)
    void fm_sgemm_bias(int M, int N, int K, const float* A, int lda, const float* W,
                       int ldw, const float* b, float* C, int ldc, int relu)
    void fm_gemv_rows(int K, int N, const float* x, const float* W, int ldw,
                      const float* b, float* y)
    void fm_add_rows(int n, int N, const float* Y, int ldy, float* z)

cdef extern from "workers.h" nogil:
    ctypedef void (*fm_task)(void* ctx, int chunk) noexcept nogil
    ctypedef struct fm_pool:
        int stop
        int running
        int busy
        int sleepers
        int dozing
        int backoff, ontime
        int64_t solo_ns
        int64_t n_posted, n_chunks, n_helped, n_alone, waited_ns, n_late
    fm_pool fm_the_pool
    void fm_run(fm_pool* p, fm_task fn, void* ctx, int n, int max_helpers)
    void fm_helper_loop(fm_pool* p)
    void fm_wake(fm_pool* p)
    int64_t fm_judge(fm_pool* p, int64_t own_ns, int64_t wait_ns, int helped)
    int fm_cpu()
    void fm_leave_cpu(int cpu)
    int FM_HAVE_WORKERS
    int FM_MAX_CHUNKS

cdef enum:
    ROW_BLOCK = 128         # rows per block when the batch is cut into rows
    COLUMN_ALIGN = 64       # column blocks are whole panels of sgemm.h
    # a layer is shared by output columns only from this much work (below it, waking
    # a helper costs more than it saves; AMD EPYC Zen 3, one forward pass with 1
    # helper vs none: 8 rows through 50-128-2 0.65x, through 784-512-10 1.7x).  One
    # row reads each weight once: with each thread claiming the same columns call
    # after call (workers.h), its share of W stays in its core's L2 (Zen 4, compiled
    # forward with 1 helper / none: 784-128-10 2.80 / 4.31 us, 784-512-10 9.8 / 20.2)
    MIN_SPLIT_WORK_ROW = 65536      # one row: K·N (the weights it reads)
    MIN_SPLIT_WORK = 524288         # more rows: B·K·N
    # up to this M·N·K OpenBLAS runs a GEMM on one thread whatever its count
    # (interface/gemm.c; its GEMV from larger sizes still): fastmlp._threads.OPENBLAS_SINGLE
    OPENBLAS_ONE_THREAD = 262144
    # sgemm.h takes a layer's rows up to this many at a time: a larger batch goes
    # through the network in blocks of this many rows (_inference_rows)
    OWN_SGEMM_ROWS = 128    # AVX-512
    OWN_SGEMM_ROWS_AVX2 = 320   # the same for sgemm_avx2.h (Zen 3, one thread, own /
                                # BLAS time per layer: 0.49-0.99 at 313 rows, the
                                # 784x512 layer 1.04 at 512 rows)
    # sgemm_avx2.h takes a layer (or a block of its columns) whose weights are fewer
    # than this many floats: OpenBLAS runs larger ones faster (Zen 3, one thread, 256
    # rows, BLAS / own: 1024x4096 0.93, 4096x4096 0.90; 784x512 from 128 rows 1.14)
    OWN_AVX2_MAX_W = 1048576
    # a one-row float32 pass on AVX-512 (_one_row_by_rows_of_w) cuts the W of each
    # layer of ROW_SPLIT_W weights or more (over the L2 share of one core) into
    # ROW_PARTS blocks of rows, whatever the thread count: its sums, added in one
    # order, are then the same bits on any number of threads.  Cut into column
    # blocks, each thread read its rows of W in pieces of 128 or 256 columns, at 70%
    # of the rate (Emerald Rapids, public predict_proba of one row, 5th percentile /
    # median, column blocks -> rows of W, one helper: 784-512-256-10 20.2 / 25.6 ->
    # 14.9 / 19.2 us, 784-1024-10 54.4 / 58.2 -> 24.2 / 33.5, 784-512-10 13.4 / 14.9
    # -> 11.1 / 11.9; one thread: 38.7 / 41.2 -> 35.9 / 38.7, 95.3 / 101.4 -> 75.2 /
    # 82.6).  Smaller layers gained nothing with a helper (784-256-10: 7.5 / 9.7 ->
    # 7.4 / 9.4 us) and lost 5-10% on one thread.
    ROW_SPLIT_W = 262144
    ROW_PARTS = 4


ctypedef struct _Columns:   # one layer, its output columns cut into blocks
    const char* X
    const char* W
    const char* b
    char* Z
    char* A
    int B, K, N, width, act
    double alpha


ctypedef struct _RowParts:  # one row through one layer, W cut into blocks of rows
    const float* x
    const float* W
    const float* b
    float* sums             # a row of partial sums per block, lds floats apart
    int K, N, lds, rows     # rows: of W per block


ctypedef struct _Rows:      # the whole network, the batch cut into row blocks
    void* plan              # the Plan (borrowed: the caller holds it)
    const char* X
    _Inputs* inputs         # or NULL: X is ready (_inference_inputs.pxi)
    char* out
    int B, rows
    bint logits, f64


cdef int _affine(const floating* X, int ldx, const floating* W, int ldw,
                 const floating* b, floating* Z, int ldz, int B, int K, int n,
                 bint own, bint relu=False) noexcept nogil:
    """Z[:, :n] := X @ W[:, :n] + b[:n] by sgemm.h (own: float32, fm_sgemm_ok()) or
    the BLAS (one thread; rows of X, W, Z are ldx, ldw, ldz apart); returns how many
    leading columns of Z also had the ReLU applied (relu: sgemm.h's, as it stores
    them; the caller's for the rest).  sgemm.h's AVX-512 code works on whole 64-column
    panels, so the columns past the last whole panel go to the BLAS (one thread, 64
    rows, K = 784: N = 10 took 64.5 us on sgemm.h against 14.7 us on the BLAS, N = 64
    65.6 us against 79.1 us)."""
    cdef Py_ssize_t i, j
    cdef floating* z
    cdef int head, done = 0
    if floating is float and own and (_own_panel or <Py_ssize_t>K * n < OWN_AVX2_MAX_W):
        head = n - n % _own_panel if _own_panel else n
        if head > 0:
            fm_sgemm_bias(B, head, K, X, ldx, W, ldw, b, Z, ldz, relu)
            done = head if relu else 0
        if head == n:
            return done
        W, b, Z, n = W + head, b + head, Z + head, n - head
    if B == 1:
        _gemv_rowvec_ld(K, n, <floating>1, X, W, ldw, <floating>0, Z)
    else:
        _gemm(c'n', c'n', B, n, K, <floating>1, X, ldx, W, ldw, <floating>0, Z, ldz)
    for i in range(B):
        z = Z + i * ldz
        for j in range(n):
            z[j] += b[j]
    return done


cdef void _dense(const floating* X, int ldx, const floating* W, int ldw,
                 const floating* b, floating* Z, floating* A, int ldz, int B, int K,
                 int n, int act, floating alpha) noexcept nogil:
    """Z[:, :n] := X @ W[:, :n] + b[:n] ;  A[:, :n] := act(Z[:, :n])  (one thread;
    rows of X, W, Z/A are ldx, ldw, ldz apart).  float32 on an AVX-512 or AVX2 CPU, up
    to _own_sgemm_rows rows: sgemm.h (faster than OpenBLAS there; not on larger
    blocks), a ReLU that writes Z in place applied as its sums are stored."""
    cdef Py_ssize_t i
    cdef int done = _affine(X, ldx, W, ldw, b, Z, ldz, B, K, n,
                            _own_sgemm and B <= _own_sgemm_rows,
                            act == ACT_RELU and A == Z)
    if (act == ACT_IDENTITY and A == Z) or done == n:
        return
    if done == 0 and ldz == n:      # whole rows that touch: a group at a time
        _act_block(Z, A, B, n, act, alpha)
    else:
        for i in range(B):
            _act_row(Z + i * ldz + done, A + i * ldz + done, n - done, act, alpha)


cdef void _columns_task(void* ctx, int chunk) noexcept nogil:
    cdef _Columns* c = <_Columns*>ctx
    cdef int j0 = chunk * c.width
    cdef int j1 = min(j0 + c.width, c.N)
    if c.act < 0:           # float64 (the activation code is stored negated)
        _dense(<const double*>c.X, c.K, <const double*>c.W + j0, c.N,
               <const double*>c.b + j0, <double*>c.Z + j0, <double*>c.A + j0, c.N, c.B,
               c.K, j1 - j0, -c.act - 1, <double>c.alpha)
    else:
        _dense(<const float*>c.X, c.K, <const float*>c.W + j0, c.N,
               <const float*>c.b + j0, <float*>c.Z + j0, <float*>c.A + j0, c.N, c.B,
               c.K, j1 - j0, c.act, <float>c.alpha)


cdef void _inference_rows(Plan p, const floating* X, floating* out, Py_ssize_t i0,
                          Py_ssize_t n, bint logits, _Inputs* inputs=NULL) noexcept nogil:
    """_plan_forward (inference, this thread) of the batch's rows i0 .. i0 + n - 1 (X
    and out point at row 0), in blocks of up to _own_sgemm_rows rows when sgemm.h
    serves them (float32 on an AVX-512 or AVX2 CPU: each block through the whole
    network on the own GEMM; Zen 4, one thread, 10,000 rows through 784-512-256-10
    110 -> 100 ms, on two threads 60 -> 51 ms), else all at once.  inputs (not NULL):
    each block's rows are standardized or checked first (_input_rows; X unused), and
    a block with a NaN or an infinity is skipped."""
    cdef Py_ssize_t i = i0, end = i0 + n, block = n
    cdef const floating* x
    cdef int m
    if floating is float and _own_sgemm:
        block = _own_sgemm_rows
    while i < end:
        m = <int>min(block, end - i)
        x = X + i * p.sizes[0] if inputs == NULL else \
            <const floating*>_input_rows(inputs, i, m, floating is double)
        if x != NULL:
            _plan_forward(p, x, out + i * p.sizes[p.n_layers], m, logits, False, 0, 0, i,
                          True)
        i += block


cdef void _rows_task(void* ctx, int chunk) noexcept nogil:
    cdef _Rows* r = <_Rows*>ctx
    cdef Py_ssize_t i0 = <Py_ssize_t>chunk * r.rows
    cdef Py_ssize_t n = min(<Py_ssize_t>r.rows, r.B - i0)
    if r.f64:
        _inference_rows(<Plan>r.plan, <const double*>r.X, <double*>r.out, i0, n, r.logits,
                        r.inputs)
    else:
        _inference_rows(<Plan>r.plan, <const float*>r.X, <float*>r.out, i0, n, r.logits,
                        r.inputs)


cdef void _forward_shared(Plan p, const floating* X, floating* out, int B, bint logits,
                          int helpers, _Inputs* inputs=NULL) noexcept nogil:
    """_plan_forward (inference) with up to `helpers` helper threads taking part (or
    none: a one-row pass through a layer of ROW_SPLIT_W weights or more sums W's
    blocks of rows in the same order on any number of threads, _plan.pxi).  inputs:
    as in _inference_rows, for a batch cut into row blocks (B >= 2 ROW_BLOCK) only."""
    cdef _Rows rows
    cdef _Columns cols
    cdef int l, L = p.n_layers, K, N, act, n_chunks
    cdef const floating* inp = X
    cdef floating* P = <floating*>p.params
    cdef floating* a
    cdef floating* z
    if B >= 2 * ROW_BLOCK:
        rows.plan = <void*>p
        rows.X = <const char*>X
        rows.inputs = inputs
        rows.out = <char*>out
        rows.B = B
        rows.logits = logits
        rows.f64 = floating is double
        rows.rows = max(<int>ROW_BLOCK, (B + FM_MAX_CHUNKS - 1) // FM_MAX_CHUNKS)
        fm_run(&fm_the_pool, _rows_task, &rows, (B + rows.rows - 1) // rows.rows, helpers)
        return
    for l in range(L):
        K, N, act = p.sizes[l], p.sizes[l + 1], p.act[l]
        a = <floating*>p.A[l]
        z = <floating*>p.Z[l]
        if l == L - 1:
            if logits and p.fused_output:
                act = ACT_IDENTITY
            if z == a:
                z = out
            a = out
        # a few blocks per thread (one row: fewer, so each reads long runs of W's
        # rows), whole 64-column panels of sgemm.h
        n_chunks = min(FM_MAX_CHUNKS, (2 if B == 1 else 4) * (helpers + 1))
        cols.width = (N + n_chunks - 1) // n_chunks
        cols.width = (cols.width + COLUMN_ALIGN - 1) // COLUMN_ALIGN * COLUMN_ALIGN
        if (floating is float and B == 1 and <Py_ssize_t>K * N >= ROW_SPLIT_W
                and _rows_of_w_split()):
            _one_row_by_rows_of_w(inp, P + p.off[2 * l], P + p.off[2 * l + 1],
                                  <float*>p.row_sums, z, a, K, N, act, <float>p.alpha[l],
                                  helpers)
        elif (act == ACT_SOFTMAX or helpers == 0 or cols.width >= N
                or <Py_ssize_t>B * K * N < (MIN_SPLIT_WORK_ROW if B == 1 else MIN_SPLIT_WORK)):
            _dense(inp, K, P + p.off[2 * l], N, P + p.off[2 * l + 1], z, a, N, B, K, N,
                   act, <floating>p.alpha[l])
        else:
            cols.X, cols.W = <const char*>inp, <const char*>(P + p.off[2 * l])
            cols.b, cols.Z, cols.A = <const char*>(P + p.off[2 * l + 1]), <char*>z, <char*>a
            cols.B, cols.K, cols.N, cols.alpha = B, K, N, p.alpha[l]
            cols.act = -act - 1 if floating is double else act
            fm_run(&fm_the_pool, _columns_task, &cols, (N + cols.width - 1) // cols.width,
                   helpers)
        inp = a


cdef inline int _sums_stride(int n) noexcept nogil:
    """floats between two rows of Plan.row_sums: whole cache lines, so that the
    threads writing two of them never share a line"""
    return (n + 15) // 16 * 16


cdef bint _rows_of_w_split() noexcept nogil:
    """whether one-row float32 passes cut large layers by W's rows (the own AVX-512
    code, _one_row_by_rows_of_w)"""
    return _own_sgemm and fm_sgemm_isa() == 512


cdef void _row_parts_task(void* ctx, int chunk) noexcept nogil:
    cdef _RowParts* r = <_RowParts*>ctx
    cdef int k0 = chunk * r.rows
    fm_gemv_rows(min(r.rows, r.K - k0), r.N, r.x + k0, r.W + <Py_ssize_t>k0 * r.N, r.N,
                 r.b if chunk == 0 else NULL, r.sums + <Py_ssize_t>chunk * r.lds)


cdef void _one_row_by_rows_of_w(const float* x, const float* W, const float* b,
                                float* sums, float* z, float* a, int K, int N, int act,
                                float alpha, int helpers) noexcept nogil:
    """z := x @ W + b ; a := act(z), one row, W's rows cut into ROW_PARTS blocks (sums:
    ROW_PARTS rows of _sums_stride(N) floats).  The threads compute b + x[block 0] @
    W[block 0, :] and x[block i] @ W[block i, :], reading each row of W whole
    (fm_gemv_rows); this thread then adds the sums in block order."""
    cdef _RowParts r
    cdef int c, n
    r.x, r.W, r.b, r.sums = x, W, b, sums
    r.K, r.N, r.lds = K, N, _sums_stride(N)
    r.rows = (K + ROW_PARTS - 1) // ROW_PARTS
    n = (K + r.rows - 1) // r.rows
    if helpers > 0:
        fm_run(&fm_the_pool, _row_parts_task, &r, n, helpers)
    else:               # a one-thread pass leaves the pool (and its counts) alone
        for c in range(n):
            _row_parts_task(&r, c)
    fm_add_rows(n, N, sums, r.lds, z)
    if act != ACT_IDENTITY or a != z:
        _act_row(z, a, N, act, alpha)


def helper_main():
    """A helper thread's body: share forward passes until stop_helpers()."""
    with nogil:
        fm_helper_loop(&fm_the_pool)


def leave_cpu():
    """Move the calling thread off its CPU as a helper leaves its caller's
    (workers.h, fm_leave_cpu): (the CPU before, the CPU after); the same CPU where
    the thread may run on no other, (-1, -1) where the CPU cannot be known."""
    cdef int before, after
    with nogil:
        before = fm_cpu()
        fm_leave_cpu(before)
        after = fm_cpu()
    return before, after


def helpers_running():
    """How many helper threads are in their loop (0 where workers.h has no atomics)."""
    return fm_the_pool.running


def helper_counts():
    """What the helper threads have done since the process started (for benchmarks):
    posted (jobs shared with them), chunks (of those jobs), helped (chunks a helper
    ran), alone (jobs run on the calling thread without posting: one chunk, no
    helper allowed or running, another job in progress, or after a late helper),
    waited (seconds callers spent waiting for helpers after their own chunks) and late
    (jobs whose helper was late: the next ones ran alone, workers.h)."""
    return {"posted": fm_the_pool.n_posted, "chunks": fm_the_pool.n_chunks,
            "helped": fm_the_pool.n_helped, "alone": fm_the_pool.n_alone,
            "waited": fm_the_pool.waited_ns * 1e-9, "late": fm_the_pool.n_late}


def judge_helpers(events):
    """The time the jobs after each of `events` would run alone (ns; 0: the helpers
    were on time), by workers.h's account of late helpers applied to a new pool.  An
    event is (own_ns, wait_ns, helped): the caller ran its chunks in own_ns, then
    waited wait_ns for the helpers' chunks, of which they ran some if helped.  For
    tests of the rule; no thread is involved."""
    cdef fm_pool pool
    memset(&pool, 0, sizeof(pool))
    return [fm_judge(&pool, own, wait, helped) for own, wait, helped in events]


def fake_late_helper(int64_t wait_ns):
    """As if the last job's helper had been wait_ns late, on a pool with no late helper
    before: the next jobs run alone for the time workers.h's account gives (returned,
    ns).  For tests."""
    fm_the_pool.backoff = fm_the_pool.ontime = 0
    fm_the_pool.solo_ns = fm_judge(&fm_the_pool, 0, wait_ns, 1)
    return fm_the_pool.solo_ns


def helpers_asleep():
    """How many helper threads sleep until a job wakes them."""
    return fm_the_pool.sleepers


def stop_helpers():
    """Ask every helper thread to leave its loop (and wake those asleep)."""
    fm_the_pool.stop = 1
    fm_wake(&fm_the_pool)


def reset_helpers():
    """After fork(): the child has none of the parent's threads."""
    fm_the_pool.running = 0
    fm_the_pool.busy = 0
    fm_the_pool.stop = 0
    fm_the_pool.sleepers = 0
    fm_the_pool.dozing = 0


HAVE_HELPERS = bool(FM_HAVE_WORKERS)
# the one pool, for the other compiled modules that share work (_optim's updates)
HELPER_POOL = PyCapsule_New(&fm_the_pool, "fastmlp.helper_pool", NULL)
HAVE_OWN_SGEMM = bool(fm_sgemm_ok())
_ISA_CODES = {"avx512": 512, "avx2": 2}
_ISA_NAMES = {code: name for name, code in _ISA_CODES.items()}
OWN_SGEMM_ISA = _ISA_NAMES.get(fm_sgemm_isa(), "")     # the CPU's
# the codes the own GEMMs can run here (an AVX-512 CPU also runs the AVX2 one)
OWN_SGEMM_ISAS = {"avx512": ("avx512", "avx2"), "avx2": ("avx2",)}.get(OWN_SGEMM_ISA, ())
cdef bint _own_sgemm = HAVE_OWN_SGEMM
cdef int _own_sgemm_rows = OWN_SGEMM_ROWS
cdef int _own_panel = 0


cdef void _isa_chosen():
    """the settings that follow from the code the own GEMMs run"""
    global _own_sgemm_rows, _own_panel
    _own_sgemm_rows = OWN_SGEMM_ROWS_AVX2 if fm_sgemm_isa() == 2 else OWN_SGEMM_ROWS
    _own_panel = 64 if fm_sgemm_isa() == 512 else 0    # sgemm.h's AVX-512 panels


_isa_chosen()


def own_isa():
    """The code fastmlp's own float32 GEMMs run now: "avx512", "avx2" or "" (none)."""
    return _ISA_NAMES.get(fm_sgemm_isa(), "")


def use_isa(str isa):
    """Runs fastmlp's own float32 GEMMs on `isa`, one of OWN_SGEMM_ISAS ("avx2" on an
    AVX-512 CPU runs the code that CPUs without AVX-512 run); returns the previous
    one.  For tests and benchmarks, not while another thread computes."""
    before = own_isa()
    if isa not in OWN_SGEMM_ISAS or not fm_sgemm_use_isa(_ISA_CODES[isa]):
        raise ValueError(f"isa must be one of {OWN_SGEMM_ISAS} on this CPU, got {isa!r}")
    _isa_chosen()
    return before


# FASTMLP_ISA=avx2 on an AVX-512 CPU runs what CPUs without AVX-512 run (benchmarks of
# the AVX2 code, with OPENBLAS_CORETYPE=Haswell for the BLAS's AVX2 kernels).  A code
# this CPU cannot run is refused with a warning, not an error: a setting copied to
# another machine must not stop every program that imports fastmlp there.
if os.environ.get("FASTMLP_ISA"):
    if os.environ["FASTMLP_ISA"] in OWN_SGEMM_ISAS:
        use_isa(os.environ["FASTMLP_ISA"])
    else:
        import warnings
        warnings.warn(f"FASTMLP_ISA must be one of {OWN_SGEMM_ISAS} on this CPU, got "
                      f"{os.environ['FASTMLP_ISA']!r}; fastmlp runs "
                      f"{OWN_SGEMM_ISA or 'the BLAS'} instead", RuntimeWarning)


def use_own_sgemm(bint on):
    """Float32 forward passes (inference and one-thread training steps) use sgemm.h
    (on = True, where the CPU has AVX-512, or AVX2 and FMA), and training steps'
    weight gradients sgemm_tn.h, or the BLAS for both; returns the previous setting.
    For tests and benchmarks."""
    global _own_sgemm
    before = _own_sgemm
    _own_sgemm = on and HAVE_OWN_SGEMM
    return before


cdef int _leading(float[:, :] a):
    """The row stride of `a` in floats (its leading dimension), or -1 unless its
    columns are contiguous and its rows whole floats apart, forward (what the GEMMs'
    test entry points take)."""
    if (a.strides[1] != sizeof(float) or a.strides[0] < 0
            or a.strides[0] % sizeof(float)):
        return -1
    return <int>(a.strides[0] // sizeof(float))


_ROWS_ERROR = "columns must be contiguous, rows whole floats apart, forward"


def sgemm_bias(float[:, :] X, float[:, :] W, float[:] b, float[:, :] Z, bint own,
               int repeat=1, bint relu=False):
    """Z := X @ W + b, `repeat` times, by sgemm.h (own) or the BLAS and a bias loop,
    then with relu Z := max(Z, 0) (NaN to 0, as the activation); rows may be strided,
    columns must be contiguous.  For tests and benchmarks."""
    cdef int B = <int>X.shape[0], K = <int>X.shape[1], N = <int>W.shape[1], t, i, done = 0
    if W.shape[0] != K or Z.shape[0] != B or Z.shape[1] != N or b.shape[0] != N:
        raise ValueError("shapes do not match")
    if B < 1 or K < 1 or N < 1:
        raise ValueError("empty")
    cdef int ldx = _leading(X), ldw = _leading(W), ldz = _leading(Z)
    if ldx < 0 or ldw < 0 or ldz < 0 or b.strides[0] != sizeof(float):
        raise ValueError(_ROWS_ERROR)
    if own and not HAVE_OWN_SGEMM:
        raise RuntimeError("this CPU has neither AVX-512 nor AVX2 with FMA")
    with nogil:
        for t in range(repeat):
            done = _affine(&X[0, 0], ldx, &W[0, 0], ldw, &b[0], &Z[0, 0], ldz, B, K, N,
                           own, relu)
        if relu and done < N:
            for i in range(B):
                _act_row(&Z[i, done], &Z[i, done], N - done, ACT_RELU, 0)
