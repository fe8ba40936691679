# Bindings for the recurrent layers (csrc/nn/rnn.c) and the embedding (csrc/nn/embed.c).
#
# A recurrent forward run for training records its configuration in a header at the start of the
# workspace; the backward reads the configuration from there, refuses a workspace that no training
# forward filled (or that a backward already consumed) and checks its arrays against it.

from libc.stdint cimport int64_t, uint8_t
from libc.string cimport memcpy

import numpy as np

cdef extern from "fastnn.h" nogil:
    enum:
        FNN_RNN_SIMPLE
        FNN_RNN_LSTM
        FNN_RNN_GRU
        FNN_RNN_GRU_RESET_BEFORE
    ctypedef struct fnn_rnn_desc:
        int cell
        idx_t batch, steps, units
        idx_t in_size "in"
        int act, recurrent_act
        float alpha, recurrent_alpha
        int return_sequences, go_backwards, zero_output_for_mask, recurrent_dropout
    idx_t fnn_rnn_workspace_floats(const fnn_rnn_desc *d, int training)
    int fnn_rnn_forward(const fnn_rnn_desc *d, const float *x, const float *kernel, const float *recurrent,
                        const float *bias, const uint8_t *mask, const float *recurrent_mask, const float *h0,
                        const float *c0, float *y, idx_t y_batch, idx_t y_step, float *h_out, float *c_out,
                        float *workspace, int training)
    int fnn_rnn_backward(const fnn_rnn_desc *d, const float *x, const float *kernel, const float *recurrent,
                         const uint8_t *mask, const float *recurrent_mask, const float *c0, const float *dy,
                         idx_t dy_batch, idx_t dy_step, const float *dh_out, const float *dc_out, float *workspace,
                         float *dx, float *dkernel, float *drecurrent, float *dbias, float *dh0, float *dc0)
    void fnn_embedding_gather(idx_t n, idx_t dim, const int64_t *ids, const float *table, float *out)
    idx_t fnn_embedding_backward(idx_t n, idx_t dim, const int64_t *ids, const float *dy, int64_t *scratch,
                                 int64_t *rows_out, float *grads_out)

RNN_CELLS = {"simple_rnn": FNN_RNN_SIMPLE, "lstm": FNN_RNN_LSTM, "gru": FNN_RNN_GRU,
             "gru_reset_before": FNN_RNN_GRU_RESET_BEFORE}
cdef tuple CELL_NAMES = ("simple_rnn", "lstm", "gru", "gru")

# The workspace header: 32 floats (128 bytes) holding a copy of the descriptor and its state, RECORDED
# after a training forward until a backward consumes it.
cdef enum:
    HEADER_FLOATS = 32
    # far above any real layer's units, and low enough that sizes computed from a forged record
    # cannot overflow before they are compared with the arrays'
    MAX_RECORDED_UNITS = 1 << 20
    RECORDED = 0x524e4e31
    CONSUMED = 0x524e4e30

cdef struct header:
    int state
    fnn_rnn_desc desc


cdef inline idx_t gate_count(int cell):
    return 4 if cell == FNN_RNN_LSTM else 1 if cell == FNN_RNN_SIMPLE else 3


def rnn_workspace_floats(int cell, idx_t batch, idx_t steps, idx_t n_in, idx_t units, bint training, int act=7,
                         int recurrent_act=6, bint recurrent_dropout=False, str what="rnn_workspace_floats"):
    """Floats of the workspace a forward (training: and its backward) needs, header included."""
    if not 0 <= cell < 4:
        raise ValueError(f"{what}: unknown cell code {cell}")
    check_epilogue(act, what)
    check_epilogue(recurrent_act, what)
    if batch < 0 or steps < 1 or n_in < 0 or units < 1:
        raise ValueError(f"{what}: needs batch >= 0, steps >= 1, input_dim >= 0 and units >= 1, got batch {batch}, "
                         f"steps {steps}, input_dim {n_in}, units {units}")
    # Each buffer holds at most steps * batch * (input_dim or a few gates * units) floats, or the packed
    # (units + 64, 4 * units) kernel; bounding their sum in Python's integers keeps the C's sum from overflowing.
    if 32 * ((<object>steps + 1) * (<object>batch + 1) * (<object>n_in + 20 * <object>units)
             + (<object>units + 64) * 4 * <object>units) >= 2 ** 62:
        raise ValueError(f"{what}: batch {batch}, steps {steps}, input_dim {n_in} and units {units} need a workspace "
                         f"beyond any memory")
    cdef fnn_rnn_desc d
    d.cell, d.batch, d.steps, d.in_size, d.units = cell, batch, steps, n_in, units
    d.act, d.recurrent_act, d.recurrent_dropout = act, recurrent_act, recurrent_dropout
    return fnn_rnn_workspace_floats(&d, training) + HEADER_FLOATS


cdef int check_shape(cnp.ndarray a, tuple shape, str what, str name) except -1:
    if (<object>a).shape != shape:
        raise ValueError(f"{what}: {name} must have shape {shape}, got {(<object>a).shape}")
    return 0


cdef const float *optional_f32(cnp.ndarray a, tuple shape, str what, str name) except? NULL:
    if a is None:
        return NULL
    check_f32(a, f"{what} {name}")
    check_shape(a, shape, what, name)
    return f32_ptr(a)


cdef cnp.ndarray new_or_checked(cnp.ndarray a, tuple shape, str what, str name):
    """A fresh C-contiguous float32 array of shape, or the caller's after checking it."""
    if a is None:
        return np.empty(shape, np.float32)
    check_writeable(a, f"{what} {name}")
    check_shape(a, shape, what, name)
    return a


cdef inline float *data_or_null(cnp.ndarray a):
    return NULL if a is None else f32_ptr(a)


cdef const uint8_t *mask_ptr(cnp.ndarray mask, idx_t batch, idx_t steps, str what) except? NULL:
    if mask is None:
        return NULL
    if cnp.PyArray_TYPE(mask) not in (cnp.NPY_BOOL, cnp.NPY_UINT8) or not cnp.PyArray_IS_C_CONTIGUOUS(mask):
        raise TypeError(f"{what}: mask must be a C-contiguous bool or uint8 array, got dtype {mask.dtype}")
    check_shape(mask, (batch, steps), what, "mask")
    return <const uint8_t *>cnp.PyArray_DATA(mask)


cdef int sequence_view(cnp.ndarray a, tuple shape, bint writeable, str what, str name,
                       idx_t *batch_stride, idx_t *step_stride) except -1:
    """a is float32 of shape (batch, steps, units) or (batch, units), strided in whole floats, its last
    axis contiguous; the strides are returned in floats (either sign)."""
    if cnp.PyArray_TYPE(a) != cnp.NPY_FLOAT32 or not cnp.PyArray_ISALIGNED(a):
        raise TypeError(f"{what}: {name} must be an aligned float32 array, got dtype {a.dtype}")
    if writeable and not cnp.PyArray_ISWRITEABLE(a):
        raise ValueError(f"{what}: the output array {name} is read-only")
    check_shape(a, shape, what, name)
    cdef int ndim = cnp.PyArray_NDIM(a), k
    for k in range(ndim):
        if cnp.PyArray_STRIDE(a, k) % 4 != 0 or (k == ndim - 1 and cnp.PyArray_STRIDE(a, k) != 4
                                                   and cnp.PyArray_DIM(a, k) > 1):
            raise ValueError(f"{what}: {name} must be strided in whole floats with its last axis contiguous, "
                             f"got strides {(<object>a).strides}")
    batch_stride[0] = cnp.PyArray_STRIDE(a, 0) // 4
    step_stride[0] = cnp.PyArray_STRIDE(a, 1) // 4 if ndim == 3 else 0
    return 0


cdef int check_weights(const fnn_rnn_desc *d, cnp.ndarray x, cnp.ndarray kernel, cnp.ndarray recurrent,
                       str what) except -1:
    check_f32(x, f"{what} x")
    check_f32(kernel, f"{what} kernel")
    check_f32(recurrent, f"{what} recurrent_kernel")
    check_shape(x, (d.batch, d.steps, d.in_size), what, "x")
    check_shape(kernel, (d.in_size, gate_count(d.cell) * d.units), what, "kernel")
    check_shape(recurrent, (d.units, gate_count(d.cell) * d.units), what, "recurrent_kernel")
    return 0


cdef tuple bias_shape(int cell, idx_t units):
    if cell == FNN_RNN_GRU:
        return (2, 3 * units)
    return (gate_count(cell) * units,)


cdef float *workspace_ptr(cnp.ndarray workspace, const fnn_rnn_desc *d, bint training, str what) except NULL:
    check_writeable(workspace, f"{what} workspace")
    cdef idx_t needed = fnn_rnn_workspace_floats(d, training) + HEADER_FLOATS
    if cnp.PyArray_NDIM(workspace) != 1 or cnp.PyArray_DIM(workspace, 0) < needed:
        raise ValueError(f"{what}: workspace must be a 1-D float32 array of at least {needed} floats, got shape "
                         f"{(<object>workspace).shape}")
    return f32_ptr(workspace)


def rnn_forward(int cell, cnp.ndarray x not None, cnp.ndarray kernel not None, cnp.ndarray recurrent not None,
                cnp.ndarray bias, cnp.ndarray mask, cnp.ndarray recurrent_mask, cnp.ndarray h0, cnp.ndarray c0,
                cnp.ndarray y,
                cnp.ndarray h_out, cnp.ndarray c_out, cnp.ndarray workspace, bint training, int act, float alpha,
                int recurrent_act, float recurrent_alpha, bint return_sequences, bint go_backwards,
                bint zero_output_for_mask):
    """Runs a recurrent layer over x (batch, steps, in); returns (y, h, c) (c None but for LSTM).
    y is (batch, steps, units) with return_sequences (any whole-float strides, last axis contiguous:
    a view such as out[:, ::-1, u:] works), else (batch, units). None outputs are made; None
    workspace is made for inference. training records what rnn_backward reads in the workspace.
    recurrent_mask (batch, units) float32, or None, is the recurrent dropout mask."""
    what = CELL_NAMES[cell] if 0 <= cell < 4 else "rnn_forward"
    if not 0 <= cell < 4:
        raise ValueError(f"rnn_forward: unknown cell code {cell}")
    check_epilogue(act, what)
    check_epilogue(recurrent_act, what)
    if cnp.PyArray_NDIM(x) != 3 or cnp.PyArray_NDIM(recurrent) != 2:
        raise ValueError(f"{what}: x must be (batch, steps, features) and recurrent_kernel 2-D, got shapes "
                         f"{(<object>x).shape} and {(<object>recurrent).shape}")
    cdef fnn_rnn_desc d
    d.cell, d.batch, d.steps, d.in_size, d.units = cell, x.shape[0], x.shape[1], x.shape[2], recurrent.shape[0]
    d.act, d.recurrent_act, d.alpha, d.recurrent_alpha = act, recurrent_act, alpha, recurrent_alpha
    d.return_sequences, d.go_backwards, d.zero_output_for_mask = return_sequences, go_backwards, zero_output_for_mask
    d.recurrent_dropout = recurrent_mask is not None
    if d.steps < 1:
        raise ValueError(f"{what}: x must have at least one timestep, got shape {(<object>x).shape}")
    check_weights(&d, x, kernel, recurrent, what)
    cdef tuple state_shape = (d.batch, d.units)
    cdef const float *bias_p = optional_f32(bias, bias_shape(cell, d.units), what, "bias")
    cdef const uint8_t *mask_p = mask_ptr(mask, d.batch, d.steps, what)
    cdef const float *keep_p = optional_f32(recurrent_mask, state_shape, what, "recurrent_mask")
    cdef const float *h0_p = optional_f32(h0, state_shape, what, "h0")
    if c0 is not None and cell != FNN_RNN_LSTM:
        raise ValueError(f"{what}: only an LSTM has a cell state c0")
    cdef const float *c0_p = optional_f32(c0, state_shape, what, "c0")
    if workspace is None:
        if training:
            raise ValueError(f"{what}: training needs a workspace (see rnn_workspace_floats)")
        workspace = np.empty(fnn_rnn_workspace_floats(&d, 0) + HEADER_FLOATS, np.float32)
    cdef float *ws = workspace_ptr(workspace, &d, training, what)
    cdef idx_t y_batch = 0, y_step = 0
    if y is None:
        y = np.empty((d.batch, d.steps, d.units) if return_sequences else state_shape, np.float32)
    sequence_view(y, (d.batch, d.steps, d.units) if return_sequences else state_shape, True, what, "out",
                  &y_batch, &y_step)
    h_out = new_or_checked(h_out, state_shape, what, "h_out")
    c_out = new_or_checked(c_out, state_shape, what, "c_out") if cell == FNN_RNN_LSTM else None
    cdef float *h_p = f32_ptr(h_out)
    cdef float *c_p = data_or_null(c_out)
    check_disjoint(what, [("out", y), ("h_out", h_out), ("c_out", c_out), ("workspace", workspace)],
                   [("x", x), ("kernel", kernel), ("recurrent_kernel", recurrent), ("bias", bias), ("mask", mask),
                    ("recurrent_mask", recurrent_mask), ("h0", h0), ("c0", c0)])
    cdef const float *x_p = f32_ptr(x)
    cdef const float *k_p = f32_ptr(kernel)
    cdef const float *r_p = f32_ptr(recurrent)
    cdef float *y_p = <float *>cnp.PyArray_DATA(y)
    cdef int status
    cdef header hdr
    hdr.state = CONSUMED
    hdr.desc = d
    memcpy(ws, &hdr, sizeof(header))  # a forward that fails leaves no record
    with nogil:
        status = fnn_rnn_forward(&d, x_p, k_p, r_p, bias_p, mask_p, keep_p, h0_p, c0_p, y_p, y_batch, y_step, h_p,
                                 c_p, ws + HEADER_FLOATS, training)
    if status != 0:
        raise MemoryError(f"{what}: could not allocate GEMM packing buffers")
    if training:
        hdr.state = RECORDED
        memcpy(ws, &hdr, sizeof(header))
    return y, h_out, c_out


cdef int check_record(const fnn_rnn_desc *d) except -1:
    """The workspace is the caller's array, so its record may have been overwritten: every field the
    backward's C trusts must be one a forward could have written (the sizes are then checked against x)."""
    if not (0 <= d.cell < 4 and 0 <= d.act < FNN_ACTIVATION_SOFTMAX and 0 <= d.recurrent_act < FNN_ACTIVATION_SOFTMAX
            and d.batch >= 1 and d.steps >= 1 and 1 <= d.units <= MAX_RECORDED_UNITS and d.in_size >= 1
            and all(0 <= flag <= 1 for flag in (d.return_sequences, d.go_backwards, d.zero_output_for_mask,
                                                 d.recurrent_dropout))):
        raise ValueError("rnn_backward: the workspace's record of its forward is corrupt (was the workspace "
                         "changed after the training forward?)")
    return 0


def rnn_backward(cnp.ndarray workspace not None, cnp.ndarray x not None, cnp.ndarray kernel not None,
                 cnp.ndarray recurrent not None, cnp.ndarray mask, cnp.ndarray recurrent_mask, cnp.ndarray c0,
                 cnp.ndarray dy,
                 cnp.ndarray dh_out, cnp.ndarray dc_out, bint need_dx, bint use_bias, tuple out=None):
    """Gradients (dx, dkernel, drecurrent_kernel, dbias, dh0, dc0) of the training forward recorded in
    workspace (which this consumes), given the output gradient dy (laid out as that forward's y, or
    None) and the final states' gradients dh_out, dc_out (or None). x, the weights, masks and c0 are
    the forward's. dx is None unless need_dx, dbias unless use_bias, dc0 but for LSTM. out may hold
    arrays (or None) to write the six gradients into."""
    check_writeable(workspace, "rnn_backward workspace")
    cdef header hdr
    if cnp.PyArray_NDIM(workspace) != 1 or cnp.PyArray_DIM(workspace, 0) < HEADER_FLOATS:
        raise ValueError("rnn_backward: workspace is not one a training forward filled")
    memcpy(&hdr, cnp.PyArray_DATA(workspace), sizeof(header))
    if hdr.state != RECORDED:
        raise ValueError("rnn_backward: the workspace holds no training forward's record (run the forward "
                         "with training=True; each record serves one backward)")
    cdef fnn_rnn_desc d = hdr.desc
    check_record(&d)
    what = CELL_NAMES[d.cell] + "_backward"
    check_weights(&d, x, kernel, recurrent, what)
    cdef float *ws = workspace_ptr(workspace, &d, True, what)
    cdef tuple state_shape = (d.batch, d.units)
    cdef const uint8_t *mask_p = mask_ptr(mask, d.batch, d.steps, what)
    if (recurrent_mask is not None) != bool(d.recurrent_dropout):
        raise ValueError(f"{what}: pass the recurrent_mask the forward had" if d.recurrent_dropout else
                         f"{what}: the forward had no recurrent_mask")
    cdef const float *keep_p = optional_f32(recurrent_mask, state_shape, what, "recurrent_mask")
    cdef const float *c0_p = optional_f32(c0, state_shape, what, "c0")
    cdef const float *dh_p = optional_f32(dh_out, state_shape, what, "dh")
    cdef const float *dc_p = optional_f32(dc_out, state_shape, what, "dc")
    cdef idx_t dy_batch = 0, dy_step = 0
    cdef const float *dy_p = NULL
    if dy is not None:
        sequence_view(dy, (d.batch, d.steps, d.units) if d.return_sequences else state_shape, False, what, "dy",
                      &dy_batch, &dy_step)
        dy_p = <const float *>cnp.PyArray_DATA(dy)
    outs = list(out) if out is not None else [None] * 6
    if len(outs) != 6:
        raise ValueError(f"{what}: out must hold 6 arrays or None, got {len(outs)}")
    cdef cnp.ndarray dx = outs[0], dkernel = outs[1], drec = outs[2], dbias = outs[3], dh0 = outs[4], dc0 = outs[5]
    cdef idx_t gu = gate_count(d.cell) * d.units
    dx = new_or_checked(dx, (d.batch, d.steps, d.in_size), what, "dx") if need_dx else None
    dkernel = new_or_checked(dkernel, (d.in_size, gu), what, "dkernel")
    drec = new_or_checked(drec, (d.units, gu), what, "drecurrent_kernel")
    dbias = new_or_checked(dbias, bias_shape(d.cell, d.units), what, "dbias") if use_bias else None
    dh0 = new_or_checked(dh0, state_shape, what, "dh0")
    dc0 = new_or_checked(dc0, state_shape, what, "dc0") if d.cell == FNN_RNN_LSTM else None
    cdef float *dx_p = data_or_null(dx)
    cdef float *dk_p = f32_ptr(dkernel)
    cdef float *dr_p = f32_ptr(drec)
    cdef float *db_p = data_or_null(dbias)
    cdef float *dh0_p = f32_ptr(dh0)
    cdef float *dc0_p = data_or_null(dc0)
    check_disjoint(what, [("dx", dx), ("dkernel", dkernel), ("drecurrent_kernel", drec), ("dbias", dbias),
                          ("dh0", dh0), ("dc0", dc0), ("workspace", workspace)],
                   [("x", x), ("kernel", kernel), ("recurrent_kernel", recurrent), ("mask", mask),
                    ("recurrent_mask", recurrent_mask), ("c0", c0), ("dy", dy), ("dh", dh_out), ("dc", dc_out)])
    cdef const float *x_p = f32_ptr(x)
    cdef const float *k_p = f32_ptr(kernel)
    cdef const float *r_p = f32_ptr(recurrent)
    cdef int status
    hdr.state = CONSUMED
    memcpy(ws, &hdr, sizeof(header))
    with nogil:
        status = fnn_rnn_backward(&d, x_p, k_p, r_p, mask_p, keep_p, c0_p, dy_p, dy_batch, dy_step, dh_p, dc_p,
                                  ws + HEADER_FLOATS, dx_p, dk_p, dr_p, db_p, dh0_p, dc0_p)
    if status != 0:
        raise MemoryError(f"{what}: could not allocate GEMM packing buffers")
    return dx, dkernel, drec, dbias, dh0, dc0


cdef int check_ids(cnp.ndarray ids, idx_t input_dim, str what) except -1:
    """ids must be C-contiguous int64, every one in [0, input_dim); names the first one that is not."""
    if not is_kernel_array(ids, cnp.NPY_INT64):
        raise TypeError(f"{what}: ids must be a C-contiguous, aligned int64 array, got dtype {ids.dtype}")
    cdef const int64_t *p = <const int64_t *>cnp.PyArray_DATA(ids)
    cdef idx_t n = cnp.PyArray_SIZE(ids), i, bad = -1
    with nogil:
        for i in range(n):
            if p[i] < 0 or p[i] >= input_dim:
                bad = i
                break
    if bad >= 0:
        position = np.unravel_index(bad, (<object>ids).shape)
        raise ValueError(f"{what}: id {p[bad]} at position {tuple(int(k) for k in position)} is out of range "
                         f"[0, {input_dim})")
    return 0


def embedding_gather(cnp.ndarray ids not None, cnp.ndarray table not None, cnp.ndarray out=None):
    """out (ids.shape + (dim,)) = table[ids]; table is (input_dim, dim) float32."""
    check_f32(table, "embedding_lookup table")
    if cnp.PyArray_NDIM(table) != 2:
        raise ValueError(f"embedding_lookup: table must be (input_dim, output_dim), got shape {(<object>table).shape}")
    check_ids(ids, table.shape[0], "embedding_lookup")
    cdef idx_t dim = table.shape[1], n = cnp.PyArray_SIZE(ids)
    out = new_or_checked(out, (<object>ids).shape + (dim,), "embedding_lookup", "out")
    cdef float *out_p = f32_ptr(out)
    check_disjoint("embedding_lookup", [("out", out)], [("ids", ids), ("table", table)])
    cdef const int64_t *ids_p = <const int64_t *>cnp.PyArray_DATA(ids)
    cdef const float *table_p = f32_ptr(table)
    with nogil:
        fnn_embedding_gather(n, dim, ids_p, table_p, out_p)
    return out


def embedding_backward(cnp.ndarray ids not None, cnp.ndarray dy not None, idx_t input_dim):
    """(rows, row_grads): the distinct ids in increasing order (int64) and, for each, the sum of dy's
    rows at its positions (float32, (len(rows), dim)), added in position order."""
    check_ids(ids, input_dim, "embedding_backward")
    check_f32(dy, "embedding_backward dy")
    cdef idx_t n = cnp.PyArray_SIZE(ids)
    if cnp.PyArray_NDIM(dy) != cnp.PyArray_NDIM(ids) + 1 or (<object>dy).shape[:cnp.PyArray_NDIM(dy) - 1] != (<object>ids).shape:
        raise ValueError(f"embedding_backward: dy must have shape ids.shape + (output_dim,) = "
                         f"{(<object>ids).shape} + (d,), got {(<object>dy).shape}")
    cdef idx_t dim = last_dim(dy)
    cdef cnp.ndarray scratch = np.empty(3 * n + 1, np.int64)
    cdef cnp.ndarray rows = np.empty(n, np.int64)
    cdef cnp.ndarray grads = np.empty((n, dim), np.float32)
    cdef const int64_t *ids_p = <const int64_t *>cnp.PyArray_DATA(ids)
    cdef const float *dy_p = f32_ptr(dy)
    cdef int64_t *scratch_p = <int64_t *>cnp.PyArray_DATA(scratch)
    cdef int64_t *rows_p = <int64_t *>cnp.PyArray_DATA(rows)
    cdef float *grads_p = f32_ptr(grads)
    cdef idx_t distinct
    with nogil:
        distinct = fnn_embedding_backward(n, dim, ids_p, dy_p, scratch_p, rows_p, grads_p)
    return rows[:distinct], grads[:distinct]
