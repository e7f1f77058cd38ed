# ---------------------------------------------------------------------------
# Plan: a whole network in one call (included by _kernels.pyx)
# ---------------------------------------------------------------------------

cdef enum:
    MODE_GRADIENT = 0      # fill the flat gradient buffer
    MODE_SGD = 1           # fold a plain SGD step into the backward GEMMs
    MODE_INPUTS = 2        # only ∂L/∂X: no weight or bias gradients


cdef class Plan:
    """Raw pointers to a network's flat parameter and gradient buffers and to
    workspaces preallocated for the largest batch seen, so that forward, loss,
    backward and the SGD update of every layer run in one call without the GIL.

    Built by Network; holds references to every array it points into.
    """
    cdef readonly int n_layers
    cdef readonly int loss
    cdef readonly Py_ssize_t capacity
    cdef bint f64
    cdef bint fused_output   # the loss applies softmax/sigmoid/exp to the logits itself
    cdef int* sizes          # n_layers + 1 widths, input first
    cdef int* act            # activation code per layer
    cdef double* alpha       # activation parameter per layer
    cdef double* rate        # dropout rate per layer (0: none), applied only in training
    cdef Py_ssize_t* off     # offsets of W0, b0, W1, b1, ... in the flat buffers
    cdef char* params
    cdef char* grads
    cdef char** A            # per-layer output, capacity × sizes[l+1]
    cdef char** Z            # per-layer pre-activation if kept apart (GELU, ELU), else A
    cdef char** Ad           # per-layer output after dropout if its rate > 0, else A
    cdef char* delta0        # two δ buffers, capacity × widest layer, used in turn
    cdef char* delta1
    cdef char* row_sums      # ROW_PARTS rows of partial sums (_one_row_by_rows_of_w)
    cdef char* std_rows      # standardized input rows, std_capacity × sizes[0] (infer)
    cdef Py_ssize_t std_capacity
    cdef int helpers         # helper threads sharing the GEMMs of the step in progress
    cdef bint has_dropout    # some layer has a dropout rate
    cdef object _owner       # the arrays the pointers above point into
    cdef object _work
    cdef object _std_work
    cdef cnp.ndarray _pointers

    def __cinit__(self, cnp.ndarray params, cnp.ndarray grads, cnp.ndarray sizes,
                  cnp.ndarray codes, cnp.ndarray alphas, cnp.ndarray offsets,
                  int loss, cnp.ndarray rates):
        """sizes: int32 (L+1); codes: int32 (L); alphas: float64 (L);
        offsets: intp (2L), W0, b0, W1, b1, ... offsets into params and grads;
        rates: float64 (L), dropout rates in [0, 1), 0 for the output layer."""
        self.n_layers = codes.shape[0]
        self.loss = loss
        self.fused_output = loss != LOSS_MSE
        self.f64 = _is_f64(params)
        self._owner = (params, grads, sizes, codes, alphas, offsets, rates)
        self.sizes = <int*>_ptr(sizes)
        self.act = <int*>_ptr(codes)
        self.alpha = <double*>_ptr(alphas)
        self.rate = <double*>_ptr(rates)
        self.has_dropout = bool((rates > 0).any())
        self.off = <Py_ssize_t*>_ptr(offsets)
        self.params = <char*>_ptr(params)
        self.grads = <char*>_ptr(grads)
        self.capacity = 0
        self._pointers = np.zeros(3 * self.n_layers, dtype=np.intp)
        self.A = <char**>_ptr(self._pointers)
        self.Z = self.A + self.n_layers
        self.Ad = self.Z + self.n_layers

    def reserve(self, Py_ssize_t batch):
        """Make the workspaces hold `batch` rows (they only ever grow)."""
        if batch <= self.capacity:
            return
        dtype = np.float64 if self.f64 else np.float32
        widest = max(self.sizes[l + 1] for l in range(self.n_layers))
        # on cache lines: helper threads write column blocks of them (_parallel_*.pxi)
        work = [aligned_empty(batch * widest, dtype), aligned_empty(batch * widest, dtype),
                aligned_empty(ROW_PARTS * _sums_stride(widest), dtype)]
        self.delta0 = <char*>_ptr(work[0])
        self.delta1 = <char*>_ptr(work[1])
        self.row_sums = <char*>_ptr(work[2])
        for l in range(self.n_layers):
            a = aligned_empty(batch * self.sizes[l + 1], dtype)
            z = aligned_empty(a.size, dtype) if _keeps_z(self.act[l]) else a
            ad = aligned_empty(a.size, dtype) if self.rate[l] > 0 else a
            work += [a, z, ad]
            self.A[l] = <char*>_ptr(a)
            self.Z[l] = <char*>_ptr(z)
            self.Ad[l] = <char*>_ptr(ad)
        self._work = work
        self.capacity = batch

    def forward(self, cnp.ndarray X, cnp.ndarray out, bint logits=False,
                tuple dropout=None, int helpers=0):
        """out := the network's output for X: probabilities under a fused loss,
        or with `logits` the output layer's Z (what the fused losses take).
        dropout = (key, step): the training forward, with that step's masks.
        helpers > 0 (inference only): up to that many helper threads share the work
        (_parallel_forward.pxi); every BLAS call must then run on one thread."""
        self._forward(X, out, logits, dropout, helpers)

    def forward_calls_blas(self, Py_ssize_t B):
        """Whether an inference pass of B rows may give the BLAS a call that OpenBLAS
        would split over several threads (_parallel_forward.pxi); if not, its thread
        count need not be set."""
        return _forward_calls_blas(self, B)

    def step_calls_blas(self, Py_ssize_t B):
        """Whether a training step of B rows shared with helper threads may give the
        BLAS a call that OpenBLAS would split over several threads
        (_blas_calls.pxi); if not, its thread count need not be set to one."""
        return _step_calls_blas(self, B)

    def infer(self, cnp.ndarray X, int helpers=0, cnp.ndarray mean=None,
              cnp.ndarray scale=None, bint check=False, cnp.ndarray out=None,
              bint logits=False):
        """A new (B, n_out) array holding the inference output for X (probabilities
        under a fused loss; with `logits`, the output layer's Z, as forward()), or
        `out` (C-contiguous, of that shape and the plan's dtype) filled: forward() and
        the output array in one call, the common path of predict.  X: C-contiguous, sizes[0] columns, of the plan's dtype; with
        mean and scale (float64, C-contiguous, sizes[0] each), float32 or float64, and
        standardized block by block as the pass reads it (_inference_inputs.pxi).
        With a scaler or check, returns None, having computed nothing useful, when X
        or its standardized rows hold a NaN or an infinity (the caller's own checks
        then say which)."""
        cdef int dtype = cnp.NPY_DOUBLE if self.f64 else cnp.NPY_FLOAT
        cdef int x_type = cnp.PyArray_TYPE(X)
        cdef bint scaled = mean is not None or scale is not None
        cdef Py_ssize_t K = self.sizes[0]
        if (cnp.PyArray_NDIM(X) != 2 or not cnp.PyArray_IS_C_CONTIGUOUS(X)
                or X.shape[0] < 1 or X.shape[1] != K
                or not (x_type == dtype or scaled and x_type in (cnp.NPY_FLOAT,
                                                                 cnp.NPY_DOUBLE))):
            raise ValueError(f"X must be a C-contiguous "
                             f"{'float' if scaled else 'float64' if self.f64 else 'float32'} "
                             f"matrix of at least one row and {K} columns")
        if scaled:
            _check_moments(mean, scale, K)
        cdef cnp.npy_intp dims[2]
        dims[0], dims[1] = X.shape[0], self.sizes[self.n_layers]
        if out is None:
            out = cnp.PyArray_EMPTY(2, dims, dtype, 0)
        elif (cnp.PyArray_NDIM(out) != 2 or cnp.PyArray_TYPE(out) != dtype
                or not cnp.PyArray_IS_C_CONTIGUOUS(out) or not out.flags.writeable
                or out.shape[0] != dims[0] or out.shape[1] != dims[1]):
            raise ValueError(f"out must be a writeable C-contiguous "
                             f"{'float64' if self.f64 else 'float32'} matrix of shape "
                             f"({dims[0]}, {dims[1]})")
        cdef _Inputs inputs
        if not (scaled or check):
            self._forward(X, out, logits, None, helpers)
            return out
        inputs.X = <const char*>_ptr(X)
        inputs.x_f64 = x_type == cnp.NPY_DOUBLE
        inputs.K = K
        inputs.mean = <const double*>_ptr(mean) if scaled else NULL
        inputs.scale = <const double*>_ptr(scale) if scaled else NULL
        inputs.work = self._standardized_rows(X.shape[0]) if scaled else NULL
        inputs.bad = 0
        return out if self._forward(X, out, logits, None, helpers, &inputs) else None

    cdef char* _standardized_rows(self, Py_ssize_t batch) except NULL:
        """The workspace of `batch` standardized input rows (it only ever grows)."""
        if batch > self.std_capacity:
            self._std_work = aligned_empty(batch * self.sizes[0],
                                           np.float64 if self.f64 else np.float32)
            self.std_rows = <char*>_ptr(self._std_work)
            self.std_capacity = batch
        return self.std_rows

    cdef _forward(self, cnp.ndarray X, cnp.ndarray out, bint logits, tuple dropout,
                  int helpers, _Inputs* inp=NULL):
        """The pass; with inp (inference), returns whether every input row was finite
        (rows prepared here, or block by block when the batch is cut into blocks)."""
        cdef int B = X.shape[0]
        cdef bint training = dropout is not None
        cdef uint64_t key = dropout[0] if training else 0
        cdef uint64_t step = dropout[1] if training else 0
        self.reserve(B)
        cdef const void* x = _ptr(X)
        cdef void* o = _ptr(out)
        if FASTMLP_DEBUG:
            if inp == NULL:
                _expect("X", X, B, self.sizes[0], self.f64)
            _expect("out", out, B, self.sizes[self.n_layers], self.f64)
        if inp != NULL and B < 2 * ROW_BLOCK:
            # a pass not cut into blocks of rows: all of them prepared first, here
            with nogil:
                x = _prepared_rows(inp, B, self.f64, helpers)
            if x == NULL:
                return False
            inp = NULL
        if not training and (helpers > 0 or (B == 1 and not self.f64 and
                                             _rows_of_w_split())):
            if self.f64:
                with nogil:
                    _forward_shared(self, <double*>x, <double*>o, B, logits, helpers, inp)
            else:
                with nogil:
                    _forward_shared(self, <float*>x, <float*>o, B, logits, helpers, inp)
        elif not training:
            if self.f64:
                with nogil:
                    _inference_rows(self, <double*>x, <double*>o, 0, B, logits, inp)
            else:
                with nogil:
                    _inference_rows(self, <float*>x, <float*>o, 0, B, logits, inp)
        elif self.f64:
            with nogil:
                _plan_forward(self, <double*>x, <double*>o, B, logits, True, key, step)
        else:
            with nogil:
                _plan_forward(self, <float*>x, <float*>o, B, logits, True, key, step)
        return inp == NULL or not inp.bad

    def gradient(self, cnp.ndarray X, cnp.ndarray T, cnp.ndarray labels,
                 double l2, cnp.ndarray dX, bint inputs_only=False,
                 cnp.ndarray row_loss=None, cnp.ndarray row_weights=None,
                 tuple dropout=None, int helpers=0):
        """The loss; fills the flat gradient buffer, and dX := ∂L/∂X if dX is given.
        With inputs_only, only dX (the weight-gradient GEMMs are skipped).  row_loss
        (float64, length B), if given, receives each row's loss (without penalty).
        row_weights (float64, length B, summing to 1), if given, weight the rows'
        losses in place of the batch mean.  dropout = (key, step): training, with
        that step's masks.  helpers: how many helper threads share the large GEMMs
        (the BLAS must then run one thread)."""
        return self._run(X, T, labels, 0.0, l2, dX,
                         MODE_INPUTS if inputs_only else MODE_GRADIENT, row_loss,
                         row_weights, dropout, helpers)

    def vjp(self, cnp.ndarray X, cnp.ndarray G, cnp.ndarray dX, bint logits=False,
            bint after_forward=False):
        """dX := Gᵀ ∂f/∂X row by row: the vector-Jacobian product of the network's
        output f (its logits with `logits`, under a fused loss) with G (B×n_out).
        after_forward: X is the batch of the forward() just before (same logits
        flag), whose activations are reused instead of recomputed; the caller holds
        the network's lock across both calls.  Only for the logits of a fused loss:
        there the backward needs nothing of the output layer's forward."""
        cdef int B = X.shape[0]
        self.reserve(B)
        cdef void* x = _ptr(X)
        cdef void* g = _ptr(G)
        cdef void* dx = _ptr(dX)
        if after_forward and not (logits and self.fused_output):
            raise ValueError("vjp(after_forward=True) needs logits under a fused loss")
        if FASTMLP_DEBUG:
            _expect("X", X, B, self.sizes[0], self.f64)
            _expect("G", G, B, self.sizes[self.n_layers], self.f64)
            _expect("dX", dX, B, self.sizes[0], self.f64)
        if self.f64:
            with nogil:
                _plan_vjp(self, <double*>x, <double*>g, <double*>dx, B, logits,
                          after_forward)
        else:
            with nogil:
                _plan_vjp(self, <float*>x, <float*>g, <float*>dx, B, logits,
                          after_forward)

    def sgd_step(self, cnp.ndarray X, cnp.ndarray T, cnp.ndarray labels,
                 double lr, double l2, tuple dropout=None, int helpers=0):
        """The loss before the step; then params := params - lr · (∇L + l2 · W),
        unless that loss is NaN or infinite (then nothing is updated).  helpers: as
        in gradient."""
        return self._run(X, T, labels, lr, l2, None, MODE_SGD, None, None, dropout,
                         helpers)

    cdef double _run(self, cnp.ndarray X, cnp.ndarray T, cnp.ndarray labels,
                     double lr, double l2, cnp.ndarray dX, int mode, cnp.ndarray row_loss,
                     cnp.ndarray row_weights, tuple dropout, int helpers):
        cdef int B = X.shape[0]
        cdef bint training = dropout is not None
        cdef uint64_t key = dropout[0] if training else 0
        cdef uint64_t step = dropout[1] if training else 0
        self.reserve(B)
        cdef void* x = _ptr(X)
        cdef void* t = _ptr(T)
        cdef intp* lab = <intp*>_ptr(labels)
        cdef void* dx = _ptr(dX)
        cdef double* rl = <double*>_ptr(row_loss)
        cdef double* rw = <double*>_ptr(row_weights)
        cdef double value
        if FASTMLP_DEBUG:
            _expect("X", X, B, self.sizes[0], self.f64)
            _expect("T", T, B, self.sizes[self.n_layers], self.f64)
            _expect("dX", dX, B, self.sizes[0], self.f64)
            if labels is not None and cnp.PyArray_SIZE(labels) != B:
                raise AssertionError("kernel argument labels: expected length B")
            if row_loss is not None and cnp.PyArray_SIZE(row_loss) != B:
                raise AssertionError("kernel argument row_loss: expected length B")
            if row_weights is not None and cnp.PyArray_SIZE(row_weights) != B:
                raise AssertionError("kernel argument row_weights: expected length B")
        self.helpers = max(helpers, 0)
        if self.f64:
            with nogil:
                value = _plan_step(self, <double*>x, <double*>t, lab, <double*>dx,
                                   B, lr, l2, mode, rl, rw, training, key, step)
        else:
            with nogil:
                value = _plan_step(self, <float*>x, <float*>t, lab, <float*>dx,
                                   B, lr, l2, mode, rl, rw, training, key, step)
        self.helpers = 0
        return value


cdef inline Drop* _layer_drop(Plan p, int l, bint training, uint64_t key,
                              uint64_t step, Drop* d) noexcept nogil:
    """d, filled with layer l's mask for (key, step), when training and the layer
    has a dropout rate; else NULL."""
    if not training or p.rate[l] <= 0:
        return NULL
    d[0] = _drop(key, step, l, p.rate[l])
    return d


cdef void _plan_forward(Plan p, const floating* X, floating* out, int B,
                        bint logits, bint training, uint64_t key,
                        uint64_t step, Py_ssize_t row0=0,
                        bint inference=False) noexcept nogil:
    """Every layer's forward; the last one writes into `out`.

    With `logits`, a fused loss's output layer stops at Z (the loss applies
    softmax/sigmoid itself); otherwise `out` is the output activation.
    training: hidden layers with a dropout rate pass on Ad = A ⊙ m, the masks of
    (key, step).  row0: X is rows row0.. of the batch, and the workspaces are used
    from that row on (row blocks of one batch may run at once, on different threads;
    dropout masks are drawn for rows 0.., so training calls keep row0 = 0).
    inference: each layer on this thread alone, in float32 by sgemm.h where the CPU
    allows (_dense); the layers' Z and A are stored all the same.
    """
    cdef int l, act, L = p.n_layers
    cdef const floating* inp = X
    cdef floating* P = <floating*>p.params
    cdef floating* a
    cdef floating* z
    cdef Drop d
    cdef Drop* dp
    if p.helpers > 0 and not inference and not (training and p.has_dropout) and B > 1:
        # a training step shared with the helpers: the inference pass's blocks (each
        # fused with its bias and activation), which store every layer's Z and A too
        _forward_shared(p, X, out, B, logits, p.helpers)
        return
    for l in range(L):
        dp = _layer_drop(p, l, training, key, step, &d)
        act = p.act[l]
        a = <floating*>p.A[l] + row0 * p.sizes[l + 1]
        z = <floating*>p.Z[l] + row0 * p.sizes[l + 1]
        if l == L - 1:
            if logits and p.fused_output:
                act = ACT_IDENTITY
            if z == a:
                z = out
            a = out
        if inference:
            _dense(inp, p.sizes[l], P + p.off[2 * l], p.sizes[l + 1], P + p.off[2 * l + 1],
                   z, a, p.sizes[l + 1], B, p.sizes[l], p.sizes[l + 1], act,
                   <floating>p.alpha[l])
        else:
            _layer_forward(inp, P + p.off[2 * l], P + p.off[2 * l + 1], z, a,
                           B, p.sizes[l], p.sizes[l + 1], act, <floating>p.alpha[l],
                           <floating*>p.Ad[l], dp, p.helpers)
        inp = <floating*>p.Ad[l] if dp != NULL else a


cdef double _plan_step(Plan p, const floating* X, const floating* T,
                       const intp* labels, floating* dX, int B, double lr, double l2,
                       int mode, double* row_loss, const double* row_w, bint training,
                       uint64_t key, uint64_t step) noexcept nogil:
    """One training step: forward, loss, backward; then the gradient or the SGD update.
    training: with the dropout masks of (key, step), in the forward and the δ kernels."""
    cdef int l, L = p.n_layers
    cdef floating* P = <floating*>p.params
    cdef floating* out = <floating*>p.A[L - 1]
    cdef double value, penalty = 0

    # L2 penalty ½·l2·Σ‖W‖², taken before any update
    if l2 != 0:
        for l in range(L):
            penalty += _sum_squares(P + p.off[2 * l], <Py_ssize_t>p.sizes[l] * p.sizes[l + 1])
        penalty *= 0.5 * l2

    # forward, then the loss and G = ∂L/∂(output), or ∂L/∂Z for a fused loss
    _plan_forward(p, X, out, B, True, training, key, step)
    value = _loss(p.loss, out, T, labels, <floating*>p.delta0, row_loss, row_w, B,
                  p.sizes[L]) + penalty
    if mode == MODE_SGD and value - value != 0:
        return value          # a NaN/inf loss: no update (the caller raises)
    _plan_backward(p, X, dX, B, p.fused_output, mode, lr, l2, training, key, step)
    return value


cdef void _plan_vjp(Plan p, const floating* X, const floating* G_out, floating* dX, int B,
                    bint logits, bint after_forward) noexcept nogil:
    """dX := the vector-Jacobian product of the network output with G_out."""
    cdef Py_ssize_t j
    if not after_forward:   # the forward Plan.forward runs (inference), so that reusing
        _plan_forward(p, X, <floating*>p.A[p.n_layers - 1], B, logits, False, 0, 0, 0,
                      True)  # its activations (after_forward) changes no bit
    cdef floating* G = <floating*>p.delta0
    for j in range(<Py_ssize_t>B * p.sizes[p.n_layers]):
        G[j] = G_out[j]
    _plan_backward(p, X, dX, B, logits and p.fused_output, MODE_INPUTS, 0, 0, False, 0, 0)


cdef void _plan_backward(Plan p, const floating* X, floating* dX, int B,
                         bint identity_output, int mode, double lr,
                         double l2, bint training, uint64_t key,
                         uint64_t step) noexcept nogil:
    """Backward from G = p.delta0 (∂L/∂ of the last layer's output, or of its Z when
    identity_output), last layer first.  The δ below each layer goes to the other
    δ buffer, the first layer's to dX (skipped if NULL).  mode: the gradient into
    p.grads (+ l2·W), the SGD update folded into the GEMMs, or inputs only.
    training: the forward's dropout masks of (key, step), recomputed in the δ kernels."""
    cdef int l, act, L = p.n_layers
    cdef floating* P = <floating*>p.params
    cdef floating* Gr = <floating*>p.grads
    cdef floating* G = <floating*>p.delta0
    cdef floating* below
    cdef floating* W
    cdef floating* b
    cdef floating* db
    cdef floating* dW
    cdef const floating* inp
    cdef Py_ssize_t j, n_w
    cdef Drop d
    cdef Drop* dp
    for l in range(L - 1, -1, -1):
        act = ACT_IDENTITY if (l == L - 1 and identity_output) else p.act[l]
        # the layer's input: the output below after its dropout (Ad is A without one)
        if l == 0:
            inp = X
        elif training:
            inp = <const floating*>p.Ad[l - 1]
        else:
            inp = <const floating*>p.A[l - 1]
        dp = _layer_drop(p, l, training, key, step, &d)
        if l == 0:
            below = dX
        elif G == <floating*>p.delta0:
            below = <floating*>p.delta1
        else:
            below = <floating*>p.delta0
        W = P + p.off[2 * l]
        b = P + p.off[2 * l + 1]
        dW = Gr + p.off[2 * l]
        db = Gr + p.off[2 * l + 1]
        n_w = <Py_ssize_t>p.sizes[l] * p.sizes[l + 1]
        if mode == MODE_SGD:
            # δ below from the old W, then W := (1 - lr·l2) W - lr · Xᵀ δz in the GEMM
            _layer_backward(G, G, <floating*>p.A[l], <floating*>p.Z[l], inp, W, below,
                            W, db, B, p.sizes[l], p.sizes[l + 1], act,
                            <floating>p.alpha[l], <floating>(-lr),
                            <floating>(1 - lr * l2), dp, p.helpers)
            # b := b - lr · db
            for j in range(p.sizes[l + 1]):
                b[j] -= <floating>lr * db[j]
        else:
            if mode == MODE_INPUTS:          # no weight or bias gradients at all
                dW = NULL
                db = NULL
            _layer_backward(G, G, <floating*>p.A[l], <floating*>p.Z[l], inp, W, below,
                            dW, db, B, p.sizes[l], p.sizes[l + 1], act,
                            <floating>p.alpha[l], <floating>1, <floating>0, dp,
                            p.helpers)
            if l2 != 0 and dW != NULL:
                # dW += l2 · W
                for j in range(n_w):
                    dW[j] += <floating>l2 * W[j]
        G = below
