# cython: language_level=3
"""Thin nogil bindings to the C kernels in csrc/.

Each binding checks what the C side would otherwise trust (dtype, rank, contiguity, matching sizes)
with cheap C-level tests and raises before calling in, so no call from Python can crash the
interpreter. Converting array-likes and wording errors for users is fastnn.ops's job.
"""
cimport numpy as cnp

cnp.import_array()

include "_bind_common.pxi"
include "_bind_linalg.pxi"
include "_bind_nn.pxi"
include "_bind_rnn.pxi"
include "_bind_preprocess.pxi"
include "_bind_augment.pxi"
include "_bind_conv.pxi"
include "_bind_norm.pxi"
include "_bind_relu.pxi"
include "_bind_quant.pxi"
include "_bind_chain.pxi"
